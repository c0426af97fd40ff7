"""The authenticated HTTP API and the console it serves.

Writes publish a contract event on ``ingress.events`` (as any integrated system would) and
answer 202 with its id; partners' CAP and EDXL-RM documents (``POST /cap``, ``/edxl-rm``)
are translated by ``services.standards`` and published the same way; reads come from
dispatch's read model, filtered for the caller's clearance; plan decisions are the gateway's
own (``gateway_plan_decisions``); ``GET /events/stream`` forwards the bus itself to
integrators, filtered the same way. Every route is in the access table of ``access.py``; the
app-wide ``authorize`` dependency enforces it.
"""

import asyncio
import json
import logging
import secrets
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Final

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.responses import FileResponse, StreamingResponse
from fastapi.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm
from fastapi.staticfiles import StaticFiles
from redis.asyncio import Redis
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

import contracts
from contracts import incidents as i
from contracts import streams
from contracts.envelope import Classification, Envelope
from services.gateway import reads
from services.gateway import tables as g
from services.gateway.access import PUBLIC, allowed
from services.gateway.exercise import ExerciseControl
from services.gateway.feed import (
    STREAM_ORDER,
    BusTail,
    CursorError,
    FeedFormat,
    format_cursor,
    parse_cursor,
    subscriber_feed,
)
from services.gateway.models import (
    Accepted,
    AssetView,
    AuditEntry,
    DecisionIn,
    DecisionView,
    DepotView,
    DisruptionView,
    ExerciseStart,
    ExerciseStatus,
    Me,
    NeedView,
    Network,
    NewUser,
    OrderView,
    PlanSummary,
    PlanView,
    Snapshot,
    StockLine,
    Token,
    UserView,
)
from services.gateway.partners import OutboundRenderer, SqlThreadStore, network_snapshot
from services.gateway.redaction import Hidden
from services.gateway.security import (
    IssuedToken,
    Principal,
    TokenError,
    clears,
    issue_token,
    read_token,
    verify_password,
)
from services.gateway.settings import GatewaySettings
from services.gateway.stream import ChangeFeed
from services.gateway.users import UserExists, create_user, load_user, migrate_gateway
from services.runtime import db
from services.runtime.sql import aware
from services.runtime.wire import encode, fields
from services.standards.http import Outcome, add_standards_routes
from services.standards.network import Network as PartnerNetwork
from services.standards.translate import Translation

log = logging.getLogger(__name__)

CONSOLE = Path(__file__).parent / "console"
SOURCE = "/hinterland/gateway"
HEARTBEAT_S = 15.0
NO_SECRET = (
    "HINTERLAND_TOKEN_SECRET is not set: no token can be issued or trusted in live mode "
    "(set at least 32 random characters and restart)"
)

oauth2 = OAuth2PasswordBearer(tokenUrl="/login/token", auto_error=False)


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})


async def audit(
    session: AsyncSession,
    username: str,
    action: str,
    target: str,
    outcome: str,
    status_code: int,
    event_ids: Sequence[str] = (),
    detail: str = "",
) -> None:
    """One audit row: who did what, when, with which outcome and the event ids it caused."""
    await session.execute(
        insert(g.audit).values(
            at=datetime.now(UTC),
            username=username,
            action=action,
            target=target[:200],
            outcome=outcome,
            status_code=status_code,
            event_ids=json.dumps(list(event_ids)),
            detail=detail[:4000],
        )
    )


def _audit_outcome(status: int) -> str:
    if status < 300:
        return "ok"
    if status == 403:
        return "denied"
    return "refused" if status < 500 else "failed"


ASYNCAPI: Final[dict[str, Any]] = json.loads(
    (Path(contracts.__file__).parent / "asyncapi.json").read_text(encoding="utf-8")
)


def build_api(
    engine: AsyncEngine,
    redis: Redis,
    settings: GatewaySettings,
    ingress: str = streams.INGRESS,
    exercise: ExerciseControl | None = None,
) -> FastAPI:
    """The gateway app. ``exercise`` is optional: without it the exercise routes answer 503."""
    sessions = db.session_factory(engine)
    mode = settings.mode
    secret = settings.token_secret
    if secret is None and mode == "exercise":  # a random one per process (see settings)
        secret = secrets.token_urlsafe(48)
    if secret is None:
        log.error("%s: logins and every authenticated route answer 503", NO_SECRET)
    ttl = timedelta(seconds=settings.token_ttl_s)

    async def probe() -> str:
        async with sessions() as session:
            stamp = await reads.stamp(session)
        if exercise is not None:
            status = await exercise.status()
            stamp += f":{status.state}:{status.sim_time}"
        return stamp

    feed = ChangeFeed(probe, settings.sse_poll_s)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await migrate_gateway(engine)
        yield
        await feed.close()

    async def authorize(
        request: Request, token: Annotated[str | None, Depends(oauth2)]
    ) -> Principal | None:
        """Deny by default: the route must be PUBLIC or in ACCESS, and the caller hold a role."""
        route = request.scope.get("route")
        template = getattr(route, "path", request.url.path)
        endpoint = (request.method, template)
        if endpoint in PUBLIC:
            return None
        if secret is None:
            raise HTTPException(503, NO_SECRET)
        if not token:
            raise _unauthorized(
                f"not authenticated: {request.method} {template} needs a bearer token "
                "(Authorization: Bearer <token> from POST /login/token)"
            )
        try:
            username = read_token(token, secret)
        except TokenError as exc:
            raise _unauthorized(str(exc)) from exc
        async with sessions() as session:
            found = await load_user(session, username)
        if found is None:
            raise _unauthorized(f"user {username!r} is unknown or disabled")
        principal = found[0]
        request.state.principal = principal  # for routes that audit without a Caller argument
        roles = allowed(endpoint)
        if roles is None:
            raise HTTPException(
                403, f"{request.method} {template} is not in the access table: nobody may call it"
            )
        if not principal.roles & roles:
            message = (
                f"{request.method} {template} needs role {' or '.join(sorted(roles))}; "
                f"{principal.username} has {', '.join(sorted(principal.roles)) or 'no role'}"
            )
            async with sessions() as session, session.begin():
                await audit(
                    session,
                    principal.username,
                    f"{request.method} {template}",
                    request.url.path,
                    "denied",
                    403,
                    detail=message,
                )
            raise HTTPException(403, message)
        return principal

    async def caller(p: Annotated[Principal | None, Depends(authorize)]) -> Principal:
        if p is None:  # a public route asked for a caller: a programming error
            raise HTTPException(500, "route declared public but needs a caller")
        return p

    Caller = Annotated[Principal, Depends(caller)]

    api = FastAPI(
        title="Hinterland",
        version="1",
        description=(
            "Dispatcher and integrator API. Log in with POST /login/token (OAuth2 password "
            "flow), then send `Authorization: Bearer <token>`. Writes publish contract events "
            "on ingress.events and answer 202; reads are filtered by the caller's clearance."
        ),
        dependencies=[Depends(authorize)],
        lifespan=lifespan,
    )
    api.state.feed = feed

    async def xadd(event: Envelope) -> None:
        await redis.xadd(ingress, fields(encode(event)))  # type: ignore[arg-type]

    async def publish(event: Envelope) -> Accepted:
        try:
            await xadd(event)
        except Exception as exc:  # the bus is away: say so, publish nothing
            raise HTTPException(503, f"event bus unavailable: {exc}") from exc
        return Accepted(event_id=event.id, type=event.type)

    def envelope(subject: str, classification: Classification, who: Principal) -> dict[str, Any]:
        eid = str(uuid.uuid4())
        return {
            "id": eid,
            "source": f"{SOURCE}/{who.username}",
            "time": datetime.now(UTC),
            "subject": subject,
            "correlationid": eid,
            "mode": mode,
            "classification": classification,
        }

    def may_classify(who: Principal, classification: Classification, what: str) -> None:
        if not clears(who.clearance, classification):
            raise HTTPException(
                403,
                f"cannot report a {classification} {what}: {who.username} is cleared to "
                f"{who.clearance} only",
            )

    async def audited_publish(
        who: Principal, action: str, target: str, event: Envelope
    ) -> Accepted:
        accepted = await publish(event)
        async with sessions() as session, session.begin():
            await audit(session, who.username, action, target, "ok", 202, [accepted.event_id])
        return accepted

    # --- public ---------------------------------------------------------------------------

    @api.get("/asyncapi.json", tags=["public"])
    async def asyncapi() -> dict[str, Any]:
        """The event contracts (AsyncAPI 3.0), as committed beside them in ``contracts/``."""
        return ASYNCAPI

    @api.get("/health", tags=["public"])
    async def health() -> dict[str, str]:
        """Redis and the database answer."""
        try:
            await redis.ping()
            async with sessions() as session:
                await session.execute(text("SELECT 1"))
        except Exception as exc:
            raise HTTPException(503, f"unhealthy: {exc}") from exc
        return {"status": "ok", "mode": mode}

    @api.post("/login/token", response_model=Token, tags=["public"])
    async def login(form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> Token:
        """OAuth2 password flow: a signed bearer token that expires after one shift."""
        if secret is None:
            raise HTTPException(503, NO_SECRET)
        async with sessions() as session:
            found = await load_user(session, form.username)
        ok = found is not None and await asyncio.to_thread(verify_password, form.password, found[1])
        if found is None or not ok:
            raise _unauthorized("incorrect username or password")
        who = found[0]
        issued: IssuedToken = issue_token(who.username, secret, ttl)
        async with sessions() as session, session.begin():
            await audit(session, who.username, "POST /login/token", who.username, "ok", 200)
        return Token(
            access_token=issued.token,
            expires_in=int(ttl.total_seconds()),
            username=who.username,
            roles=sorted(who.roles),
            clearance=who.clearance,
        )

    @api.get("/", include_in_schema=False)
    async def console_shell() -> FileResponse:
        return FileResponse(CONSOLE / "index.html")

    # --- reads ----------------------------------------------------------------------------

    @api.get("/me", response_model=Me, tags=["session"])
    async def me(who: Caller) -> Me:
        return Me(
            username=who.username, roles=sorted(who.roles), clearance=who.clearance, mode=mode
        )

    @api.get("/network", response_model=Network, tags=["read"])
    async def network(who: Caller) -> Network:
        """Nodes (with lat/lon) and links with their status: open, degraded or closed."""
        async with sessions() as session:
            return await reads.network(session)

    @api.get("/depots", response_model=list[DepotView], tags=["read"])
    async def depots(who: Caller) -> list[DepotView]:
        async with sessions() as session:
            return await reads.depots(session, await reads.hidden(session, who.clearance))

    @api.get("/stock", response_model=list[StockLine], tags=["read"])
    async def stock(who: Caller) -> list[StockLine]:
        async with sessions() as session:
            return await reads.stock(session, await reads.hidden(session, who.clearance))

    @api.get("/assets", response_model=list[AssetView], tags=["read"])
    async def assets(who: Caller) -> list[AssetView]:
        async with sessions() as session:
            return await reads.assets(session, await reads.hidden(session, who.clearance))

    @api.get("/needs", response_model=list[NeedView], tags=["read"])
    async def needs(who: Caller) -> list[NeedView]:
        async with sessions() as session:
            return await reads.needs(session, await reads.hidden(session, who.clearance))

    @api.get("/disruptions", response_model=list[DisruptionView], tags=["read"])
    async def disruptions(who: Caller) -> list[DisruptionView]:
        async with sessions() as session:
            return await reads.disruptions(session, await reads.hidden(session, who.clearance))

    @api.get("/orders", response_model=list[OrderView], tags=["read"])
    async def orders(who: Caller) -> list[OrderView]:
        """Dispatch orders issued (movements), without those the caller may not see."""
        async with sessions() as session:
            return await reads.orders(session, await reads.hidden(session, who.clearance))

    @api.get("/plan", response_model=PlanView, tags=["plans"])
    async def current_plan(who: Caller) -> PlanView:
        """The current plan, what changed since the previous one, and its decision if any."""
        async with sessions() as session:
            view = await reads.plan(session, await reads.hidden(session, who.clearance))
        if view is None:
            raise HTTPException(404, "no plan has been published yet")
        return view

    @api.get("/plans", response_model=list[PlanSummary], tags=["plans"])
    async def plan_history(
        who: Caller, limit: Annotated[int, Query(ge=1, le=500)] = 50
    ) -> list[PlanSummary]:
        """Plan history, newest first."""
        async with sessions() as session:
            return await reads.plans(session, await reads.hidden(session, who.clearance), limit)

    @api.get("/plans/{plan_id}", response_model=PlanView, tags=["plans"])
    async def one_plan(plan_id: str, who: Caller) -> PlanView:
        async with sessions() as session:
            view = await reads.plan(session, await reads.hidden(session, who.clearance), plan_id)
        if view is None:
            raise HTTPException(404, f"no plan {plan_id!r}")
        return view

    async def snapshot_for(who: Principal) -> Snapshot:
        status = await exercise.status() if exercise is not None else None
        async with sessions() as session:
            return await reads.snapshot(session, who.clearance, mode, status)

    @api.get("/snapshot", response_model=Snapshot, tags=["read"])
    async def snapshot(who: Caller) -> Snapshot:
        """Everything the console draws, in one read (what /stream sends on every change)."""
        return await snapshot_for(who)

    @api.get(
        "/stream",
        tags=["read"],
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}},
    )
    async def stream(who: Caller) -> StreamingResponse:
        """Server-sent events: ``snapshot`` (a Snapshot, filtered for the caller) at once and
        within a second of every change, ``:`` comments as heartbeats."""

        async def events() -> AsyncIterator[str]:
            async with feed.listening():
                seen = feed.stamp
                body = (await snapshot_for(who)).model_dump_json()
                yield f"event: snapshot\ndata: {body}\n\n"
                while True:
                    stamp = await feed.changed(seen, HEARTBEAT_S)
                    if stamp == seen:
                        yield ": heartbeat\n\n"
                        continue
                    seen = stamp
                    body = (await snapshot_for(who)).model_dump_json()
                    yield f"event: snapshot\ndata: {body}\n\n"

        return StreamingResponse(
            events(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    # --- writes ---------------------------------------------------------------------------

    @api.post("/needs", status_code=202, response_model=Accepted, tags=["report"])
    async def raise_need(
        need: i.NeedRaised, who: Caller, classification: Classification = "public"
    ) -> Accepted:
        """Publish ``need_raised``; dispatch plans for it once applied."""
        may_classify(who, classification, "need")
        event = i.NeedRaisedV1(**envelope(need.need_id, classification, who), data=need)
        return await audited_publish(who, "POST /needs", need.need_id, event)

    @api.post("/disruptions", status_code=202, response_model=Accepted, tags=["report"])
    async def report_disruption(
        disruption: i.DisruptionReported, who: Caller, classification: Classification = "public"
    ) -> Accepted:
        """Publish ``disruption_reported``; transport applies it, dispatch re-plans."""
        may_classify(who, classification, "disruption")
        event = i.DisruptionReportedV1(
            **envelope(disruption.disruption_id, classification, who), data=disruption
        )
        return await audited_publish(who, "POST /disruptions", disruption.disruption_id, event)

    @api.post(
        "/plans/{plan_id}/decision", status_code=201, response_model=DecisionView, tags=["plans"]
    )
    async def decide(plan_id: str, body: DecisionIn, who: Caller) -> DecisionView:
        """Approve or override the current plan. Recorded here; nothing is published."""
        async with sessions() as session, session.begin():
            row = await reads.plan_row(session, plan_id)
            if row is None:
                raise HTTPException(404, f"no plan {plan_id!r}")
            latest = await reads.latest_version(session)
            if row.version != latest:
                raise HTTPException(
                    409,
                    f"plan {plan_id} (version {row.version}) is superseded by version {latest}: "
                    "decide on the current plan",
                )
            at = datetime.now(UTC)
            decision = "approved" if body.decision == "approve" else "overridden"
            await session.execute(
                insert(g.decisions).values(
                    plan_id=plan_id,
                    version=row.version,
                    decision=decision,
                    note=body.note,
                    username=who.username,
                    at=at,
                )
            )
            await audit(
                session,
                who.username,
                "POST /plans/{plan_id}/decision",
                plan_id,
                "ok",
                201,
                detail=f"{decision}: {body.note}",
            )
        return DecisionView(
            plan_id=plan_id,
            version=row.version,
            decision=decision,
            note=body.note,
            username=who.username,
            at=at,
        )

    # --- partners: CAP 1.2 and EDXL-RM 1.0 in, the event feed out -------------------------

    async def partner_network() -> PartnerNetwork:
        async with sessions() as session:
            return await network_snapshot(session)

    def principal_of(request: Request) -> Principal:
        who = getattr(request.state, "principal", None)
        if not isinstance(who, Principal):  # authorize sets it on every non-public route
            raise HTTPException(500, "no authenticated caller on a partner route")
        return who

    async def admit(request: Request, translation: Translation) -> str | None:
        """The same clearance rule as POST /needs and /disruptions: nobody publishes above
        their own clearance (a CAP Restricted scope is ``restricted``)."""
        who = principal_of(request)
        for e in translation.envelopes:
            if not clears(who.clearance, e.classification):
                what = e.type.split(".")[2].replace("_", " ")
                return (
                    f"cannot publish a {e.classification} {what} ({e.subject}): "
                    f"{who.username} is cleared to {who.clearance} only"
                )
        return None

    async def record(request: Request, outcome: Outcome) -> None:
        """Audit every partner document: published (with its event ids), refused, failed."""
        who = principal_of(request)
        async with sessions() as session, session.begin():
            await audit(
                session,
                who.username,
                f"POST /{outcome.kind}",
                ",".join(outcome.subjects) or outcome.kind,
                _audit_outcome(outcome.status),
                outcome.status,
                outcome.event_ids,
                detail=outcome.detail,
            )

    # On the app's own router, so that the app-wide ``authorize`` guards them like every route.
    add_standards_routes(
        api.router,
        xadd,
        partner_network,
        SqlThreadStore(sessions),
        mode=mode,
        admit=admit,
        record=record,
    )

    tail = BusTail(
        redis,
        [ingress, *(streams.namespaced(s, settings.namespace) for s in STREAM_ORDER[1:])],
    )
    renderer = OutboundRenderer(sessions)

    @api.get(
        "/events/stream",
        tags=["integration"],
        response_class=StreamingResponse,
        responses={
            200: {"content": {"text/event-stream": {}}},
            422: {"description": "last_id is not a cursor"},
            503: {"description": "The bus or the database is away (nothing streamed yet)"},
        },
    )
    async def event_feed(
        who: Caller,
        fmt: Annotated[
            FeedFormat,
            Query(
                alias="format",
                description="json: the CloudEvents envelopes; edxl: EDXL-RM 1.0 messages "
                "(CommitResource for dispatch orders, ReportResourceDeploymentStatus for "
                "delivery progress) for needs that came in over EDXL-RM.",
            ),
        ] = "json",
        last_id: Annotated[
            str | None,
            Query(
                description="Resume after this cursor (the `id` of the last message "
                "received): one entry id per stream (ingress, reserves, transport, "
                "dispatch), comma-separated, or one for all; `$` (default) = from now on."
            ),
        ] = None,
        last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    ) -> StreamingResponse:
        """Server-sent events: the bus (ingress, reserves, transport and dispatch events) as
        it happens, filtered for the caller's clearance: an event classified above it, and
        any event naming a need, vehicle or depot the caller may not see, never arrives.
        First a ``ready`` event with the cursor, then one message per event, ``:``
        heartbeats in silence."""
        try:
            cursor = parse_cursor(last_id if last_id is not None else last_event_id)
        except CursorError as exc:
            raise HTTPException(422, str(exc)) from exc

        async def load_hidden() -> Hidden:
            async with sessions() as session:
                return await reads.hidden(session, who.clearance)

        try:  # before answering 200: a subscriber learns at once if the bus or database is away
            at = await tail.resolve(cursor)
            hidden = await load_hidden()
        except Exception as exc:
            raise HTTPException(503, f"event feed unavailable: {exc}") from exc
        async with sessions() as session, session.begin():
            await audit(
                session,
                who.username,
                "GET /events/stream",
                fmt,
                "ok",
                200,
                detail=f"from {format_cursor(at)}, clearance {who.clearance}",
            )
        return StreamingResponse(
            subscriber_feed(
                tail,
                at,
                who.clearance,
                hidden,
                load_hidden,
                renderer,
                fmt,
                heartbeat_s=HEARTBEAT_S,
            ),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    # --- exercises ------------------------------------------------------------------------

    def controller() -> ExerciseControl:
        if exercise is None:
            raise HTTPException(503, "no exercise controller: this API runs without one")
        return exercise

    @api.get("/exercise", response_model=ExerciseStatus, tags=["exercise"])
    async def exercise_status(who: Caller) -> ExerciseStatus:
        return await controller().status()

    async def control(who: Principal, action: str, run: Any) -> ExerciseStatus:
        status: ExerciseStatus = await run
        async with sessions() as session, session.begin():
            await audit(session, who.username, action, status.scenario or "", "ok", 200)
        return status

    @api.post("/exercise/start", response_model=ExerciseStatus, tags=["exercise"])
    async def exercise_start(body: ExerciseStart, who: Caller) -> ExerciseStatus:
        return await control(who, "POST /exercise/start", controller().start(body.scenario))

    @api.post("/exercise/pause", response_model=ExerciseStatus, tags=["exercise"])
    async def exercise_pause(who: Caller) -> ExerciseStatus:
        return await control(who, "POST /exercise/pause", controller().pause())

    @api.post("/exercise/step", response_model=ExerciseStatus, tags=["exercise"])
    async def exercise_step(who: Caller) -> ExerciseStatus:
        return await control(who, "POST /exercise/step", controller().step())

    @api.post("/exercise/stop", response_model=ExerciseStatus, tags=["exercise"])
    async def exercise_stop(who: Caller) -> ExerciseStatus:
        return await control(who, "POST /exercise/stop", controller().stop())

    # --- administration -------------------------------------------------------------------

    @api.get("/audit", response_model=list[AuditEntry], tags=["admin"])
    async def audit_log(
        who: Caller, limit: Annotated[int, Query(ge=1, le=1000)] = 200
    ) -> list[AuditEntry]:
        """Who did what and when, with the event ids it caused; newest first."""
        async with sessions() as session:
            rows = await session.execute(select(g.audit).order_by(g.audit.c.id.desc()).limit(limit))
            return [
                AuditEntry(
                    id=r.id,
                    at=aware(r.at),
                    username=r.username,
                    action=r.action,
                    target=r.target,
                    outcome=r.outcome,
                    status_code=r.status_code,
                    event_ids=json.loads(r.event_ids),
                    detail=r.detail,
                )
                for r in rows
            ]

    @api.post("/users", status_code=201, response_model=UserView, tags=["admin"])
    async def add_user(body: NewUser, who: Caller) -> UserView:
        try:
            user = await create_user(
                sessions, body.username, body.password, body.roles, body.clearance
            )
        except UserExists as exc:
            raise HTTPException(409, str(exc)) from exc
        async with sessions() as session, session.begin():
            await audit(
                session,
                who.username,
                "POST /users",
                user.username,
                "ok",
                201,
                detail=f"roles {sorted(user.roles)}, clearance {user.clearance}",
            )
        return UserView(username=user.username, roles=sorted(user.roles), clearance=user.clearance)

    api.mount("/console", StaticFiles(directory=CONSOLE), name="console")
    return api
