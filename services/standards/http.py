"""HTTP entry for partner XML: ``POST /cap`` and ``POST /edxl-rm`` publish contract events.

The host app mounts ``standards_router(...)`` and passes how to publish (XADD on the ingress
stream), where the network snapshot comes from, and the EDXL-RM thread store; optionally who
may publish what (``admit``) and where each outcome is recorded (``record``, e.g. an audit
log). A document is translated completely before anything is published: a bad one gets 400
(not safe, well-formed XML of the standard) or 422 (an element breaks a rule) naming the
element and the rule, and publishes nothing. A CAP Cancel publishes a
``disruption_withdrawn``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from contracts.envelope import Envelope, Mode
from services.standards.errors import StandardsError
from services.standards.network import Network
from services.standards.threads import ThreadStore
from services.standards.translate import Translation, translate
from services.standards.xmltree import MAX_DOCUMENT_BYTES

Publish = Callable[[Envelope], Awaitable[object]]
NetworkProvider = Callable[[], Awaitable[Network]]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one POST did: its answer's status and the events it published (if any)."""

    kind: str
    """``cap`` or ``edxl-rm``."""
    status: int
    event_ids: tuple[str, ...] = ()
    subjects: tuple[str, ...] = ()
    detail: str = ""


Admit = Callable[[Request, Translation], Awaitable[str | None]]
"""Why the caller may not publish what the document means (answered 403), or None."""
Record = Callable[[Request, Outcome], Awaitable[None]]
"""Called once per POST with its outcome, refusals included (the host's audit log)."""


class Published(BaseModel):
    event_ids: list[str]
    types: list[str]
    subjects: list[str]


class Refused(BaseModel):
    detail: str
    element: str
    rule: str
    problem: str
    line: int | None = None


_STATUS = {"malformed": 400, "invalid": 422, "unsupported": 422}


def _xml_body(media_type: str) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {media_type: {"schema": {"type": "string"}}},
        }
    }


_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": Refused, "description": "Not safe, well-formed XML of the standard"},
    403: {"description": "The caller may not publish what the document means (host rule)"},
    413: {"model": Refused, "description": "Document too large"},
    422: {"model": Refused, "description": "An element breaks a rule of the standard"},
    503: {"description": "Event bus unavailable; retry (event ids are stable)"},
}


def standards_router(
    publish: Publish,
    network_provider: NetworkProvider,
    thread_store: ThreadStore,
    *,
    mode: Mode = "live",
    admit: Admit | None = None,
    record: Record | None = None,
) -> APIRouter:
    """A router with ``POST /cap`` and ``POST /edxl-rm``; see :func:`add_standards_routes`."""
    router = APIRouter()
    add_standards_routes(
        router, publish, network_provider, thread_store, mode=mode, admit=admit, record=record
    )
    return router


def add_standards_routes(
    router: APIRouter,
    publish: Publish,
    network_provider: NetworkProvider,
    thread_store: ThreadStore,
    *,
    mode: Mode = "live",
    admit: Admit | None = None,
    record: Record | None = None,
) -> None:
    """Add ``POST /cap`` and ``POST /edxl-rm`` (body: the XML document) to ``router``.

    A host whose app-wide dependencies must guard these routes adds them to its own router
    (``app.router``): they are then built with those dependencies, like its other routes.

    Parameters
    ----------
    publish
        Publishes one envelope on the ingress stream; raising means the bus is away (503).
    network_provider
        Returns the current network snapshot the areas and locations are matched against.
    thread_store
        Where EDXL-RM need threads are remembered for the CommitResource sent later.
    mode
        ``live`` or ``exercise``: a CAP alert of the other mode is refused (422).
    admit
        Looks at the translation before anything is published; a message refuses it (403).
    record
        Told every outcome (status, event ids, subjects, the refusal's detail).
    """

    async def body_of(request: Request) -> bytes | StandardsError:
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > MAX_DOCUMENT_BYTES:
            return StandardsError(
                "body", f"more than {MAX_DOCUMENT_BYTES} bytes", problem="malformed"
            )
        return await request.body()

    async def publish_all(kind: str, t: Translation) -> tuple[JSONResponse, Outcome]:
        done: list[str] = []
        try:
            for envelope in t.envelopes:
                await publish(envelope)
                done.append(envelope.id)
            if t.threads:
                await thread_store.save(t.threads)
        except Exception as exc:  # the bus or the store is away: say so; a retry is safe
            detail = f"event bus unavailable: {exc}"
            return (
                JSONResponse(status_code=503, content={"detail": detail, "published": done}),
                Outcome(kind, 503, tuple(done), detail=detail),
            )
        result = Published(
            event_ids=[e.id for e in t.envelopes],
            types=[e.type for e in t.envelopes],
            subjects=[e.subject for e in t.envelopes],
        )
        return (
            JSONResponse(status_code=202, content=result.model_dump()),
            Outcome(kind, 202, tuple(result.event_ids), tuple(result.subjects)),
        )

    def refused(kind: str, exc: StandardsError, status: int) -> tuple[JSONResponse, Outcome]:
        return (
            JSONResponse(status_code=status, content=exc.as_dict()),
            Outcome(kind, status, detail=str(exc)),
        )

    async def translated(kind: str, request: Request) -> tuple[JSONResponse, Outcome]:
        body = await body_of(request)
        if isinstance(body, StandardsError):
            return refused(kind, body, 413)
        try:
            network = await network_provider()
        except Exception as exc:  # the network snapshot comes from a store that is away
            detail = f"network unavailable: {exc}"
            return (
                JSONResponse(status_code=503, content={"detail": detail}),
                Outcome(kind, 503, detail=detail),
            )
        try:
            t = translate(kind, body, network=network, mode=mode)
        except StandardsError as exc:
            return refused(kind, exc, _STATUS[exc.problem])
        if admit is not None:
            why = await admit(request, t)
            if why is not None:
                return (
                    JSONResponse(status_code=403, content={"detail": why}),
                    Outcome(kind, 403, subjects=tuple(e.subject for e in t.envelopes), detail=why),
                )
        return await publish_all(kind, t)

    async def handle(kind: str, request: Request) -> JSONResponse:
        response, outcome = await translated(kind, request)
        if record is not None:
            await record(request, outcome)
        return response

    @router.post(
        "/cap",
        tags=["standards"],
        status_code=202,
        response_model=Published,
        responses=_RESPONSES,
        openapi_extra=_xml_body("application/cap+xml"),
        summary="Publish a CAP 1.2 alert as a disruption (Update re-reports, Cancel withdraws)",
    )
    async def post_cap(request: Request) -> JSONResponse:
        return await handle("cap", request)

    @router.post(
        "/edxl-rm",
        tags=["standards"],
        status_code=202,
        response_model=Published,
        responses=_RESPONSES,
        openapi_extra=_xml_body("application/xml"),
        summary="Publish an EDXL-RM 1.0 RequestResource or RequisitionResource as needs",
    )
    async def post_edxl_rm(request: Request) -> JSONResponse:
        return await handle("edxl-rm", request)
