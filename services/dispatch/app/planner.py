"""The planner: when triggers are pending and the inputs have settled, plan and publish."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contracts import dispatch as d
from contracts.envelope import Envelope
from services.dispatch.adapters import tables as t
from services.dispatch.app.handlers import issue_order_when_answered, lock_orders
from services.dispatch.domain.planning import (
    AssetRow,
    DepotRow,
    HeldStock,
    LinkRow,
    NeedRow,
    NodeRow,
    PendingReservation,
    ReservationLine,
    Snapshot,
    build_problem,
    carry_over,
    plan_hash,
    reservation_lines,
)
from services.dispatch.routing import (
    LogisticsPlan,
    LogisticsProblem,
    PreviousLeg,
    SolverParams,
    plan_deliveries,
)
from services.runtime import outbox
from services.runtime.bus import groups_reached, stream_marks
from services.runtime.ids import derived_id
from services.runtime.sql import aware, upsert
from services.runtime.transaction import Cause, Transaction

log = logging.getLogger(__name__)


_POOL: ProcessPoolExecutor | None = None


def solver_pool() -> ProcessPoolExecutor:
    """One solver process per dispatch instance.

    OR-Tools holds the GIL while it searches; solving in-process would stall the event loop
    (and, embedded, the in-process Redis), so consumers would miss heartbeats and entries would
    be reclaimed mid-processing. A separate process keeps the service responsive.
    """
    global _POOL
    if _POOL is None:
        _POOL = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    return _POOL


def shutdown_solver_pool() -> None:
    """Stop the solver process (a worker running many exercises calls this between runs)."""
    global _POOL
    if _POOL is not None:
        _POOL.shutdown(wait=True, cancel_futures=True)
        _POOL = None


async def solve(problem: LogisticsProblem, params: SolverParams) -> LogisticsPlan:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(solver_pool(), plan_deliveries, problem, params)


async def solve_inline(problem: LogisticsProblem, params: SolverParams) -> LogisticsPlan:
    """Solve on the event loop's thread, blocking it for the search.

    Only for the embedded exercise, whose clock waits for every plan anyway: there a solver
    process buys nothing and costs its start and the hand-over of every problem and plan.
    """
    return plan_deliveries(problem, params)


class Settler(Protocol):
    """Waits until the inputs a plan reads have settled (debounce live, bus-quiet in exercises).

    ``debounce`` False: the triggers arrived while the previous plan was being made, so they
    have waited longer than a debounce already.
    """

    async def settled(self, debounce: bool = True) -> None: ...


class BusSettled:
    """Live: after a short debounce, wait until every group has applied what was on the bus.

    A disruption arrives with a burst of consequences (links closed, depots lost, stock
    recounted); planning on the first of them wastes a solve and plans on half the news.
    The wait is for the entries present when the debounce ends, not for a quiet bus: under a
    steady stream of unrelated events (stock counts every second) the bus is never quiet, and
    waiting for it delayed plans to ``max_wait_s``.
    """

    def __init__(
        self,
        redis: Redis,
        streams: Sequence[str],
        debounce_s: float,
        max_wait_s: float = 10.0,
        poll_s: float = 0.02,
    ) -> None:
        self.redis = redis
        self.streams = list(streams)
        self.debounce_s = debounce_s
        self.max_wait_s = max_wait_s
        self.poll_s = poll_s

    async def settled(self, debounce: bool = True) -> None:
        if not debounce:
            # Queued behind a plan, these triggers have waited through it: what came with
            # them has been applied meanwhile, or it triggers a plan of its own. Under load the
            # bus never settled within the bound, so this wait was a fixed delay per plan.
            return
        await asyncio.sleep(self.debounce_s)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait_s
        try:
            marks = await stream_marks(self.redis, self.streams)
            while not await groups_reached(self.redis, marks):
                if loop.time() > deadline:
                    return
                await asyncio.sleep(self.poll_s)
        except RedisError:
            return  # cannot look: plan on what we have rather than not at all


async def load_snapshot(session: AsyncSession, now: datetime) -> Snapshot:
    stock: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for s in await session.execute(
        select(t.stock).order_by(t.stock.c.depot_id, t.stock.c.commodity)
    ):
        stock[s.depot_id].append((s.commodity, int(s.available_kg)))
    needs = [
        NeedRow(
            n.need_id,
            n.node_id,
            n.commodity,
            int(n.quantity_kg - n.committed_kg),
            n.priority,
            aware(n.deadline),
            n.precedence,
            n.classification,
        )
        for n in await session.execute(
            select(t.needs)
            .where(t.needs.c.committed_kg < t.needs.c.quantity_kg)
            .order_by(t.needs.c.need_id)
        )
    ]
    pending = (
        await session.execute(
            select(t.reservations)
            .where(t.reservations.c.status.in_(("requested", "reserved")))
            .order_by(t.reservations.c.reservation_id)
        )
    ).all()
    return Snapshot(
        now=now,
        previous=[
            PreviousLeg(r.vehicle_id, r.need_id, r.depot_id, int(r.quantity_kg)) for r in pending
        ],
        held=[
            HeldStock(r.depot_id, r.commodity, int(r.quantity_kg))
            for r in pending
            if r.status == "reserved"
        ],
        nodes=[
            NodeRow(n.node_id, n.name, n.lat, n.lon, n.status)
            for n in await session.execute(select(t.nodes).order_by(t.nodes.c.node_id))
        ],
        links=[
            LinkRow(x.link_id, x.a, x.b, x.mode, x.length_km, x.status, x.factor)
            for x in await session.execute(select(t.links).order_by(t.links.c.link_id))
        ],
        depots=[
            DepotRow(x.depot_id, x.node_id, x.owner, x.status, tuple(stock.get(x.depot_id, ())))
            for x in await session.execute(select(t.depots).order_by(t.depots.c.depot_id))
        ],
        assets=[
            AssetRow(
                a.asset_id,
                a.mode,
                int(a.capacity_kg),
                a.speed_kmh,
                a.owner,
                a.status,
                a.node_id,
                aware(a.busy_until),
            )
            for a in await session.execute(select(t.assets).order_by(t.assets.c.asset_id))
        ],
        needs=needs,
    )


async def _overtaken(session: AsyncSession, orders_before: set[str], plan: LogisticsPlan) -> bool:
    """True if an order issued since ``orders_before`` was read is for a vehicle or a need
    that ``plan`` uses (the caller holds the orders lock, so no more can come)."""
    rows = (
        await session.execute(
            select(t.orders.c.order_id, t.orders.c.plan_id, t.orders.c.vehicle_id)
        )
    ).all()
    new = [r for r in rows if r.order_id not in orders_before]
    if not new:
        return False
    vehicles = {r.vehicle_id for r in new}
    if vehicles & {route.vehicle_id for route in plan.routes}:
        return True
    needs = set(
        await session.scalars(
            select(t.reservations.c.need_id).where(
                t.reservations.c.plan_id.in_({r.plan_id for r in new}),
                t.reservations.c.vehicle_id.in_(vehicles),
            )
        )
    )
    return bool(needs & {a.need_id for a in plan.allocations})


async def _reserve(tx: Transaction, plan_id: str, lines: Sequence[ReservationLine]) -> None:
    """Ask reserves for what the new plan takes; keep, or release, what earlier plans asked.

    A new plan replaces what earlier plans asked for but never turned into orders. Without
    this, a plan made while an earlier one's reservations are still being answered (on any
    other trigger) would serve the same needs again with the same vehicles. A pending
    reservation the new plan asks for unchanged is kept and now belongs to the new plan
    (``carry_over``), so its answer issues the new plan's order; the rest are superseded and
    reserves releases what it held (the release queues behind the request on the same stream).
    """
    session = tx.session
    rs = t.reservations.c
    pending = [
        PendingReservation(
            r.reservation_id,
            r.plan_id,
            r.vehicle_id,
            r.need_id,
            r.depot_id,
            r.commodity,
            int(r.quantity_kg),
        )
        for r in await session.execute(
            select(t.reservations)
            .where(rs.status.in_(("requested", "reserved")))
            .order_by(rs.reservation_id)
        )
    ]
    change = carry_over(pending, lines)
    if change.superseded:
        await session.execute(
            update(t.reservations)
            .where(rs.reservation_id.in_([p.reservation_id for p in change.superseded]))
            .values(status="superseded")
        )
    for p in change.superseded:
        tx.emit(
            d.ReleaseRequestedV1,
            d.ReleaseRequested(
                reservation_id=p.reservation_id,
                plan_id=p.plan_id,
                reason=f"superseded by plan {plan_id}",
            ),
            subject=p.reservation_id,
        )
    if change.kept:
        await session.execute(
            update(t.reservations)
            .where(rs.reservation_id == bindparam("b_id"))
            .values(plan_id=plan_id, eta=bindparam("b_eta")),
            [{"b_id": rid, "b_eta": line.eta} for rid, line in change.kept],
        )
    if change.new:
        await session.execute(
            insert(t.reservations),
            [
                {
                    "reservation_id": line.reservation_id,
                    "plan_id": plan_id,
                    "vehicle_id": line.vehicle_id,
                    "need_id": line.need_id,
                    "depot_id": line.depot_id,
                    "commodity": line.commodity,
                    "quantity_kg": line.quantity_kg,
                    "eta": line.eta,
                    "status": "requested",
                }
                for line in change.new
            ],
        )
    for line in change.new:
        tx.emit(
            d.ReservationRequestedV1,
            d.ReservationRequested(
                reservation_id=line.reservation_id,
                plan_id=plan_id,
                depot_id=line.depot_id,
                need_id=line.need_id,
                commodity=line.commodity,
                quantity_kg=line.quantity_kg,
            ),
            subject=line.reservation_id,
        )


async def _end_hold(session: AsyncSession, cause: Cause) -> list[Envelope]:
    """Take the hold away (the caller holds the orders lock) and issue the orders of every
    vehicle whose reservations were all answered meanwhile. A plan that superseded such a
    reservation released it instead; one it kept now belongs to it, and so does the order."""
    await session.execute(delete(t.order_hold))
    rs = t.reservations.c
    answered = (
        await session.execute(
            select(rs.plan_id, rs.vehicle_id)
            .where(rs.status == "reserved")
            .distinct()
            .order_by(rs.plan_id, rs.vehicle_id)
        )
    ).all()
    tx = Transaction(
        session,
        Cause(derived_id(cause.id, "held orders"), cause.time, cause.correlationid, cause.mode),
        "/hinterland/dispatch",
    )
    for plan_id, vehicle_id in answered:
        await issue_order_when_answered(tx, plan_id, vehicle_id)
    return tx.emitted


class Planner:
    def __init__(
        self,
        sessions: async_sessionmaker[Any],
        outbox_table: Any,
        out_stream: str,
        settler: Settler,
        params: SolverParams,
        on_committed: Any,
        solver: Callable[[LogisticsProblem, SolverParams], Awaitable[LogisticsPlan]] = solve,
        churn_cost_per_t: float = 0.0,
    ) -> None:
        self._sessions = sessions
        self._solve = solver
        self.churn_cost_per_t = churn_cost_per_t
        self._outbox = outbox_table
        self._out_stream = out_stream
        self.settler = settler
        self.params = params
        self._on_committed = on_committed
        self._wake = asyncio.Event()
        self.busy = False
        self.settle_s = 0.0  # the last wait for settled inputs (logged with the plan)
        self.waits = ""  # what the wait was, when it was not the settle (logged too)
        self._overtaken_by_orders = False

    def wake(self) -> None:
        self._wake.set()

    async def pending_triggers(self) -> int:
        async with self._sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(t.triggers)) or 0)

    async def run(self) -> None:
        self._wake.set()  # triggers left by a crash are planned on start
        queued = False  # triggers arrived while the last plan was being made
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                if await self.pending_triggers():
                    self.busy = True
                    started = time.perf_counter()
                    if self._overtaken_by_orders:
                        # A plan just overtaken by orders: its inputs were settled a moment
                        # ago; read them again at once rather than wait a second time.
                        self._overtaken_by_orders = False
                        self.waits = " (redone at once)"
                    else:
                        await self.settler.settled(debounce=not queued)
                        self.waits = ""
                    self.settle_s = time.perf_counter() - started
                    await self.plan_once()
                    queued = bool(await self.pending_triggers())
                    if queued:
                        self._wake.set()
                else:
                    queued = False
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("planning failed; triggers kept, retrying")
                await asyncio.sleep(1)
                self._wake.set()
            finally:
                self.busy = False

    async def plan_once(self) -> str | None:
        """Plan for every pending trigger; returns the plan id (None if nothing to plan)."""
        read_at = time.perf_counter()
        async with self._sessions() as session:
            trig = (await session.execute(select(t.triggers).order_by(t.triggers.c.event_id))).all()
        if not trig:
            return None
        now = max(aware(x.time) for x in trig)
        request_id = derived_id("plan-request", *sorted(x.event_id for x in trig))
        cause = Cause(request_id, now, trig[-1].correlationid, trig[-1].mode)
        orders_before = await self._hold_orders()
        try:
            return await self._plan_held(trig, cause, orders_before, read_at)
        except BaseException:
            # Whatever stopped this plan, the answers it held back still owe their orders.
            with contextlib.suppress(Exception):
                await self._release_orders(cause)
            raise

    async def _hold_orders(self) -> set[str]:
        """Hold orders back until this plan is published; the orders issued so far.

        Taken under the orders lock, which every reader of dispatch takes first: an answer
        applied before it is in the snapshot read next, one applied after it finds the hold
        and leaves its order to the plan (``issue_order_when_answered``). Without the hold an
        order sent during the search, for a vehicle or a need the search used, made the plan
        start again (``_overtaken``): every other plan under load.
        """
        async with self._sessions() as session, session.begin():
            await lock_orders(session)
            await upsert(session, t.order_hold, {"holder": "planner"}, {"since": datetime.now(UTC)})
            return set(await session.scalars(select(t.orders.c.order_id)))

    async def _release_orders(self, cause: Cause) -> None:
        async with self._sessions() as session, session.begin():
            await lock_orders(session)
            held = await _end_hold(session, cause)
            await outbox.store(session, self._outbox, self._out_stream, held)
        self._on_committed()

    async def _plan_held(
        self, trig: Sequence[Any], cause: Cause, orders_before: set[str], read_at: float
    ) -> str | None:
        now, request_id = cause.time, cause.id
        async with self._sessions() as session:
            snapshot = await load_snapshot(session, now)
            last_version = await session.scalar(select(func.max(t.plans.c.version))) or 0
            previous = await session.scalar(
                select(t.plans.c.plan_id).where(t.plans.c.version == last_version)
            )
        problem, expired = build_problem(snapshot, churn_cost_per_t=self.churn_cost_per_t)
        started = time.perf_counter()
        read_s = started - read_at
        plan = await self._solve(problem, self.params) if problem.needs else None
        solve_ms = int((time.perf_counter() - started) * 1000)
        limit = self.params.time_limit_s
        if plan is not None and limit is not None and solve_ms >= 0.95 * limit * 1000:
            # Live searches end on their time budget by design; an exercise's should end on
            # its solution limit, or its replay may differ.
            log.log(
                logging.WARNING if cause.mode == "exercise" else logging.DEBUG,
                "search for request %s ended on the %.1f s time limit, not the solution limit: "
                "a replay may not reproduce this plan",
                request_id,
                limit,
            )
        version = last_version + 1
        plan_id = f"P{version:04d}-{request_id[:8]}"

        async with self._sessions() as session, session.begin():
            await lock_orders(session)
            overtaken = plan is not None and await _overtaken(session, orders_before, plan)
            if overtaken:
                # An order went out while we solved, for a vehicle or a need this plan uses:
                # our snapshot counted that need as open and that vehicle as free. Plan again
                # on the new state. The hold keeps answers from sending orders meanwhile, so
                # this is left for a search that outlived it (``HOLD_MAX``). (Orders for other
                # vehicles and needs leave the plan valid.)
                log.info("request %s: orders issued while solving; planning again", request_id)
                emitted: list[Envelope] = []
            else:
                tx = Transaction(session, cause, "/hinterland/dispatch")
                tx.emit(
                    d.PlanRequestedV1,
                    d.PlanRequested(
                        request_id=request_id,
                        reason="; ".join(sorted({x.reason for x in trig}))[:2000],
                        triggers=[x.event_id for x in trig],
                    ),
                    subject=request_id,
                )
                for n in expired:
                    await session.execute(
                        update(t.needs)
                        .where(t.needs.c.need_id == n.need_id)
                        .values(
                            reason="deadline_unreachable",
                            detail="deadline passed before it could be served",
                        )
                    )
                if plan is not None:
                    await self._publish(
                        tx, plan, plan_id, version, previous, request_id, snapshot, solve_ms
                    )
                await session.execute(
                    delete(t.triggers).where(t.triggers.c.event_id.in_([x.event_id for x in trig]))
                )
                emitted = tx.emitted
            held = await _end_hold(session, cause)
            await outbox.store(session, self._outbox, self._out_stream, emitted + held)
        self._on_committed()  # the held orders go out either way
        if overtaken:
            self._overtaken_by_orders = True
            self._wake.set()
            return None
        log.info(
            "request %s (%d triggers): settled %.2f s%s, read %.2f s, solved %.2f s, stored %.2f s",
            request_id,
            len(trig),
            self.settle_s,
            self.waits,
            read_s,
            solve_ms / 1000,
            time.perf_counter() - started - solve_ms / 1000,
        )
        return plan_id if plan is not None else None

    async def _publish(
        self,
        tx: Transaction,
        plan: LogisticsPlan,
        plan_id: str,
        version: int,
        previous: str | None,
        request_id: str,
        snapshot: Snapshot,
        solve_ms: int,
    ) -> None:
        now = snapshot.now
        needs = {n.need_id: n for n in snapshot.needs}

        def at(seconds: int) -> datetime:
            return now + timedelta(seconds=seconds)

        routes = [
            d.PlannedRoute(
                vehicle_id=r.vehicle_id,
                distance_km=round(r.distance_m / 1000, 3),
                stops=[
                    d.PlannedStop(
                        node_id=s.node_id,
                        action=s.action,
                        depot_id=s.depot_id,
                        need_id=s.need_id,
                        commodity=s.commodity,
                        quantity_kg=s.quantity_kg,
                        eta=at(s.arrival_s),
                        etd=at(s.departure_s),
                        via_links=list(s.via_links),
                    )
                    for s in r.stops
                ],
            )
            for r in plan.routes
            if r.stops
        ]
        sources: dict[str, list[d.NeedSource]] = defaultdict(list)
        for a in plan.allocations:
            sources[a.need_id].append(
                d.NeedSource(
                    depot_id=a.depot_id,
                    vehicle_id=a.vehicle_id,
                    quantity_kg=a.quantity_kg,
                    eta=at(a.eta_s),
                )
            )
        need_plans = [
            d.NeedPlan(
                need_id=o.need_id,
                requested_kg=o.requested_kg,
                served_kg=o.served_kg,
                status=o.status,
                reason=o.reason,
                detail=o.detail,
                sources=sources[o.need_id],
            )
            for o in plan.outcomes
        ]
        k = plan.kpis
        of_bound = k.served_fraction_of_bound
        if of_bound is not None and of_bound > 1:
            # Serving more than the physical limit means the limit is wrong. Say so, but publish
            # the plan: a KPI must not stop it (the contract caps the fraction at 1).
            log.warning("plan %s serves %.4f of its physical limit", plan_id, of_bound)
            of_bound = 1.0
        kpis = d.PlanKpisV2(
            fill_rate=k.fill_rate,
            priority_weighted_fill=k.priority_weighted_fill,
            vehicles_used=k.vehicles_used,
            distance_km=round(k.distance_m / 1000, 3),
            served_kg_by_priority=dict(k.served_kg_by_priority),
            requested_kg_by_priority=dict(k.requested_kg_by_priority),
            weighted_bound_kg=k.weighted_bound_kg,
            served_fraction_of_bound=of_bound,
        )
        content = {
            "routes": [r.model_dump(mode="json") for r in routes],
            "needs": [n.model_dump(mode="json") for n in need_plans],
            "objective": k.objective,
        }
        published = d.PlanPublishedPayloadV2(
            plan_id=plan_id,
            version=version,
            supersedes=previous,
            request_id=request_id,
            routes=routes,
            needs=need_plans,
            objective=k.objective,
            solve_time_ms=solve_ms,
            kpis=kpis,
            plan_hash=plan_hash(content),
        )
        session = tx.session
        await session.execute(
            insert(t.plans).values(
                plan_id=plan_id, version=version, created_at=now, body=published.model_dump_json()
            )
        )
        if plan.outcomes:
            await session.execute(
                update(t.needs)
                .where(t.needs.c.need_id == bindparam("b_need_id"))
                .values(reason=bindparam("b_reason"), detail=bindparam("b_detail")),
                [
                    {"b_need_id": o.need_id, "b_reason": o.reason, "b_detail": o.detail}
                    for o in plan.outcomes
                ],
            )
        military = any(n.classification == "military" for n in snapshot.needs)
        tx.emit(
            d.PlanPublishedV2,
            published,
            subject=plan_id,
            classification="military" if military else "public",
        )
        await _reserve(tx, plan_id, reservation_lines(plan, plan_id, now, needs))
