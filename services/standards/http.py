"""HTTP entry for partner XML: ``POST /cap`` and ``POST /edxl-rm`` publish contract events.

The host app mounts ``standards_router(...)`` and passes how to publish (XADD on the ingress
stream), where the network snapshot comes from, and the EDXL-RM thread store. A document is
translated completely before anything is published: a bad one gets 400 (not safe,
well-formed XML of the standard) or 422 (an element breaks a rule) naming the element and the
rule, and publishes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from contracts.envelope import Envelope, Mode
from services.standards.cap import Withdrawal
from services.standards.errors import StandardsError
from services.standards.network import Network
from services.standards.threads import ThreadStore
from services.standards.translate import Translation, translate
from services.standards.xmltree import MAX_DOCUMENT_BYTES

Publish = Callable[[Envelope], Awaitable[object]]
NetworkProvider = Callable[[], Awaitable[Network]]
WithdrawalSink = Callable[[Withdrawal], Awaitable[str]]
"""Forwards a CAP Cancel's withdrawal and returns the id of the event it published."""


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
    413: {"model": Refused, "description": "Document too large"},
    422: {"model": Refused, "description": "An element breaks a rule of the standard"},
    503: {"description": "Event bus unavailable; retry (event ids are stable)"},
}


def _refuse(exc: StandardsError, status: int | None = None) -> JSONResponse:
    return JSONResponse(status_code=status or _STATUS[exc.problem], content=exc.as_dict())


def standards_router(
    publish: Publish,
    network_provider: NetworkProvider,
    thread_store: ThreadStore,
    *,
    mode: Mode = "live",
    withdraw: WithdrawalSink | None = None,
) -> APIRouter:
    """Routes ``POST /cap`` and ``POST /edxl-rm`` (body: the XML document).

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
    withdraw
        Forwards CAP Cancel withdrawals; without it a Cancel answers 501 and changes nothing.
    """
    router = APIRouter(tags=["standards"])

    async def body_of(request: Request) -> bytes | JSONResponse:
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > MAX_DOCUMENT_BYTES:
            return _refuse(
                StandardsError(
                    "body", f"more than {MAX_DOCUMENT_BYTES} bytes", problem="malformed"
                ),
                413,
            )
        return await request.body()

    async def publish_all(t: Translation) -> JSONResponse:
        done: list[str] = []
        try:
            for envelope in t.envelopes:
                await publish(envelope)
                done.append(envelope.id)
            if t.threads:
                await thread_store.save(t.threads)
        except Exception as exc:  # the bus or the store is away: say so; a retry is safe
            return JSONResponse(
                status_code=503,
                content={"detail": f"event bus unavailable: {exc}", "published": done},
            )
        result = Published(
            event_ids=[e.id for e in t.envelopes],
            types=[e.type for e in t.envelopes],
            subjects=[e.subject for e in t.envelopes],
        )
        return JSONResponse(status_code=202, content=result.model_dump())

    async def handle(kind: str, request: Request) -> JSONResponse:
        body = await body_of(request)
        if isinstance(body, JSONResponse):
            return body
        try:
            network = await network_provider()
        except Exception as exc:  # the network snapshot comes from a store that is away
            return JSONResponse(status_code=503, content={"detail": f"network unavailable: {exc}"})
        try:
            t = translate(kind, body, network=network, mode=mode)
        except StandardsError as exc:
            return _refuse(exc)
        if t.withdrawals:
            if withdraw is None:
                w = t.withdrawals[0]
                return _refuse(
                    StandardsError(
                        "alert/msgType",
                        f"Cancel withdraws disruption {w.disruption_id}, but this Hinterland "
                        "cannot forward withdrawals yet; nothing was changed",
                        problem="unsupported",
                    ),
                    501,
                )
            try:
                ids = [await withdraw(w) for w in t.withdrawals]
            except Exception as exc:
                return JSONResponse(status_code=503, content={"detail": f"unavailable: {exc}"})
            return JSONResponse(
                status_code=202,
                content=Published(
                    event_ids=ids,
                    types=["withdrawal"] * len(ids),
                    subjects=[w.disruption_id for w in t.withdrawals],
                ).model_dump(),
            )
        return await publish_all(t)

    @router.post(
        "/cap",
        status_code=202,
        response_model=Published,
        responses={**_RESPONSES, 501: {"model": Refused, "description": "Cancel not forwarded"}},
        openapi_extra=_xml_body("application/cap+xml"),
        summary="Publish a CAP 1.2 alert as a disruption (Update re-reports, Cancel withdraws)",
    )
    async def post_cap(request: Request) -> JSONResponse:
        return await handle("cap", request)

    @router.post(
        "/edxl-rm",
        status_code=202,
        response_model=Published,
        responses=_RESPONSES,
        openapi_extra=_xml_body("application/xml"),
        summary="Publish an EDXL-RM 1.0 RequestResource or RequisitionResource as needs",
    )
    async def post_edxl_rm(request: Request) -> JSONResponse:
        return await handle("edxl-rm", request)

    return router
