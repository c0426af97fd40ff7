"""Bugs the reliability suite found in the services, each shown by a test that fails today.

Both were first seen as ledger violations in seeded fault runs
(``python -m simulations.reliability --seed 1``); these tests pin them down without faults.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fakeredis.aioredis import FakeRedis
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from contracts import streams
from contracts.catalogue import Event
from contracts.dispatch import DispatchOrderIssued, ReservationRequested, ReservationRequestedV1
from contracts.envelope import Envelope
from contracts.execution import Cargo, OrderProgressReported, OrderProgressReportedV1
from contracts.reserves import (
    DepotRegistered,
    DepotRegisteredV1,
    StockLevelReported,
    StockLevelReportedV1,
    StockReserved,
    StockReservedV1,
)
from contracts.transport import DisruptionApplied, DisruptionAppliedV1
from services.dispatch.adapters import tables as dispatch_tables
from services.dispatch.app import handlers as dispatch_handlers
from services.dispatch.app import planner as planner_module
from services.dispatch.app.planner import Planner
from services.dispatch.bootstrap import SPEC as DISPATCH
from services.dispatch.routing import SolverParams
from services.reserves.adapters import tables as reserves_tables
from services.reserves.bootstrap import SPEC as RESERVES
from services.runtime import db, migrate
from services.runtime.consumer import EntryProcessor
from services.runtime.transaction import Cause, Transaction
from services.runtime.wire import EVENT_FIELD, encode
from simulations.scenario import load_scenario

T0 = "2026-05-12T06:00:00+00:00"


def _meta(event_id: str) -> dict[str, Any]:
    return {"id": event_id, "source": "/test", "time": T0, "correlationid": "bugs"}


# --- reserves: two readers, one stock line, a lost update -------------------------------------


@dataclass
class Reserves:
    redis: FakeRedis
    engine: AsyncEngine
    sessions: async_sessionmaker[Any]

    def processor(self, handler: Any, lock_key: int | None = None) -> EntryProcessor:
        return EntryProcessor(
            service="reserves",
            group="reserves",
            redis=self.redis,
            sessions=self.sessions,
            inbox=RESERVES.inbox,
            outbox_table=RESERVES.outbox,
            out_stream=RESERVES.output,
            handler=handler,
            handled_types=RESERVES.handled_types,
            mode="live",
            max_deliveries=5,
            lock_key=lock_key,
        )

    async def deliver(self, stream: str, event: Envelope) -> tuple[str, dict[bytes, bytes]]:
        await self.redis.xadd(stream, {EVENT_FIELD: encode(event)})
        batch: Any = await self.redis.xreadgroup("reserves", "c1", {stream: ">"}, count=1)
        [(_, [(entry_id, data)])] = batch
        return entry_id.decode(), data

    async def line(self) -> Any:
        async with self.sessions() as session:
            return (await session.execute(select(reserves_tables.stock))).one()


@pytest.fixture
async def reserves(service_database: str) -> AsyncIterator[Reserves]:
    engine = db.create_engine(service_database)
    await migrate.upgrade(engine, RESERVES.name, RESERVES.migrations)
    redis = FakeRedis()
    for stream in (streams.INGRESS, streams.DISPATCH):
        await redis.xgroup_create(stream, "reserves", id="0", mkstream=True)
    yield Reserves(redis, engine, db.session_factory(engine))
    await redis.aclose()
    await engine.dispose()


@pytest.mark.integration
async def test_a_stock_report_and_a_reservation_applied_at_once_both_take_effect(
    reserves: Reserves,
) -> None:
    """Reserves reads ingress.events and dispatch.events with two concurrent readers (and a
    reclaimer each). Both load the stock line, change it in Python and write every column
    back, without a row lock: under PostgreSQL's READ COMMITTED the second writer silently
    overwrites the first (a lost update). Here the report's commit is merely a little late,
    as on a busy machine; the reservation then writes back the count from before the report.
    """

    async def slow_commit(event: Event, tx: Transaction) -> None:
        await RESERVES.handler(event, tx)
        if isinstance(event, StockLevelReportedV1) and event.id == "level-2":
            await asyncio.sleep(0.5)  # the report's transaction commits a little later

    processor = reserves.processor(slow_commit)
    depot = DepotRegisteredV1(
        **_meta("depot-1"),
        data=DepotRegistered(
            depot_id="D-1", name="Depot one", node_id="N-1", tier="county", owner="civil"
        ),
    )
    first = StockLevelReportedV1(
        **_meta("level-1"),
        data=StockLevelReported(depot_id="D-1", commodity="water", quantity=100, unit="t"),
    )
    for event in (depot, first):
        await processor.process(streams.INGRESS, *await reserves.deliver(streams.INGRESS, event))

    report = StockLevelReportedV1(
        **_meta("level-2"),
        data=StockLevelReported(depot_id="D-1", commodity="water", quantity=150, unit="t"),
    )
    request = ReservationRequestedV1(
        **_meta("request-1"),
        data=ReservationRequested(
            reservation_id="R-1",
            plan_id="P-1",
            depot_id="D-1",
            need_id="NEED-1",
            commodity="water",
            quantity_kg=20_000,
        ),
    )
    report_entry = await reserves.deliver(streams.INGRESS, report)
    request_entry = await reserves.deliver(streams.DISPATCH, request)
    reporting = asyncio.create_task(processor.process(streams.INGRESS, *report_entry))
    await asyncio.sleep(0.1)  # the ingress reader is inside its transaction
    reserving = asyncio.create_task(processor.process(streams.DISPATCH, *request_entry))
    outcomes = await asyncio.gather(reporting, reserving)
    assert [o.kind for o in outcomes] == ["applied", "applied"]

    line = await reserves.line()
    # Both took effect: the newest count, and the reservation on top of it.
    assert (line.on_hand_kg, line.reserved_kg) == (150_000, 20_000), (
        f"on hand {line.on_hand_kg}, reserved {line.reserved_kg}: one update was lost"
    )
    assert line.adjusted_in_kg - line.adjusted_out_kg == (
        line.on_hand_kg + line.in_transit_kg + line.delivered_kg
    )


# --- dispatch: a new plan re-plans needs the previous plan is still reserving for -----------


async def _apply(sessions: async_sessionmaker[Any], event: Envelope) -> None:
    async with sessions() as session, session.begin():
        tx = Transaction(session, Cause.of(event), "/test")
        await dispatch_handlers.handle(event, tx)  # type: ignore[arg-type]


async def _reserve_all(sessions: async_sessionmaker[Any], reservations: Sequence[Any]) -> None:
    """Reserves' answer to each reservation row: all granted (their orders then go out)."""
    for k, r in enumerate(reservations):
        await _apply(
            sessions,
            StockReservedV1(
                **_meta(f"reserved-{k}"),
                data=StockReserved(
                    reservation_id=r.reservation_id,
                    plan_id=r.plan_id,
                    depot_id=r.depot_id,
                    need_id=r.need_id,
                    commodity=r.commodity,
                    quantity_kg=r.quantity_kg,
                ),
            ),
        )


async def _over_reserved(sessions: async_sessionmaker[Any]) -> dict[str, str]:
    """Needs whose live reservations (asked, held or ordered) exceed what they need."""
    async with sessions() as session:
        needs = {
            n.need_id: int(n.quantity_kg)
            for n in await session.execute(select(dispatch_tables.needs))
        }
        requested: dict[str, int] = {}
        live = ("requested", "reserved", "dispatched")  # not superseded, released, rejected
        for r in await session.execute(
            select(dispatch_tables.reservations).where(
                dispatch_tables.reservations.c.status.in_(live)
            )
        ):
            requested[r.need_id] = requested.get(r.need_id, 0) + int(r.quantity_kg)
    return {
        need: f"{kg} kg requested for {needs[need]} kg needed"
        for need, kg in requested.items()
        if kg > needs[need]
    }


async def _smoke_world_planner(sessions: async_sessionmaker[Any]) -> Planner:
    """Dispatch's read model of the smoke world, and a planner that plans at once."""
    for timed in load_scenario("smoke").events("bugs", mode="live"):
        if timed.event.type in dispatch_handlers.HANDLED:
            await _apply(sessions, timed.event)

    class Now:
        async def settled(self, debounce: bool = True) -> None:
            return None

    return Planner(
        sessions,
        dispatch_tables.outbox,
        streams.DISPATCH,
        Now(),
        SolverParams(solution_limit=10, time_limit_s=20),
        lambda: None,
    )


Planned = tuple[async_sessionmaker[Any], Planner, Sequence[Any]]


@pytest.fixture
async def planned(service_database: str) -> AsyncIterator[Planned]:
    """Dispatch on PostgreSQL with the smoke world planned once: sessions, the planner, and
    the first plan's reservation rows (not answered yet)."""
    engine = db.create_engine(service_database)
    await migrate.upgrade(engine, DISPATCH.name, DISPATCH.migrations)
    sessions = db.session_factory(engine)
    planner = await _smoke_world_planner(sessions)
    assert await planner.plan_once() is not None
    async with sessions() as session:
        first = (await session.execute(select(dispatch_tables.reservations))).all()
    yield sessions, planner, first
    await engine.dispose()


async def test_a_second_plan_does_not_serve_again_what_the_first_is_still_reserving(
    tmp_path: Path,
) -> None:
    """Dispatch adds a need's quantity to ``committed_kg`` only when the order is issued, i.e.
    after reserves answered every reservation of the vehicle, and marks the vehicle busy only
    then. Any trigger in between (a disruption, a rejection, a vehicle report, another need)
    starts a plan that sees the need still fully open and the vehicle still free: the same
    need is planned and reserved again. In fault runs needs ended up served 2 to 7 times over.
    """
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'dispatch.sqlite'}")
    await migrate.upgrade(engine, DISPATCH.name, DISPATCH.migrations)
    sessions = db.session_factory(engine)
    try:
        planner = await _smoke_world_planner(sessions)
        assert await planner.plan_once() is not None
        # Before reserves has answered, transport reports a disruption elsewhere.
        await _apply(
            sessions,
            DisruptionAppliedV1(
                **{**_meta("applied-1"), "time": "2026-05-12T06:10:00+00:00"},
                data=DisruptionApplied(disruption_id="DIS-ELSEWHERE"),
            ),
        )
        await planner.plan_once()  # with every need spoken for, there may be nothing to plan

        over = await _over_reserved(sessions)
        assert not over, f"needs reserved beyond their quantity by two plans: {over}"
    finally:
        await engine.dispose()


@pytest.mark.integration
async def test_orders_committed_while_the_next_plan_reads_its_snapshot_are_not_served_again(
    planned: Planned, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Session 4, fault run seed 1: eight needs committed twice. The planner read its snapshot
    (needs, vehicles) and then, in another statement, the orders issued so far; on PostgreSQL
    (read committed) an order committed between the two was in neither the snapshot's
    committed quantities nor among the orders "issued since": the plan re-served its need.
    (SQLite reads a snapshot per transaction; the race needs PostgreSQL.)
    """
    sessions, planner, first = planned
    await _apply(
        sessions,
        DisruptionAppliedV1(
            **{**_meta("applied-1"), "time": "2026-05-12T06:10:00+00:00"},
            data=DisruptionApplied(disruption_id="DIS-ELSEWHERE"),
        ),
    )
    read = planner_module.load_snapshot

    async def answered_meanwhile(session: Any, now: Any) -> Any:
        snapshot = await read(session, now)
        # Reserves answers the first plan now: the orders commit in another transaction.
        await _reserve_all(sessions, first)
        return snapshot

    monkeypatch.setattr(planner_module, "load_snapshot", answered_meanwhile)
    second = await planner.plan_once()
    async with sessions() as session:
        orders = (await session.execute(select(dispatch_tables.orders))).all()
    # Since session 6 the planner holds orders back while it plans (taken under the orders
    # lock before the snapshot), and its publication sends those it kept, as its own: the
    # answers no longer make the plan start over, and nothing is served twice.
    assert second is not None
    assert {o.plan_id for o in orders} == {second}, "the answered legs went out with the plan"
    assert {o.vehicle_id for o in orders} == {r.vehicle_id for r in first}
    over = await _over_reserved(sessions)
    assert not over, f"needs served twice: {over}"


# --- a database outage turns good events into dead letters ----------------------------------


async def test_an_event_read_during_a_database_outage_is_applied_once_the_database_is_back(
    tmp_path: Path,
) -> None:
    """While PostgreSQL refuses connections, every entry a reader takes fails and stays
    pending; the reclaimer redelivers it every reclaim-idle period and each delivery counts
    towards ``max_deliveries``. An outage longer than max_deliveries x reclaim_idle (25 s with
    the defaults) dead-letters every event read during it, although nothing is wrong with
    them: they are lost to the services. (In fault runs, a 2-5 s outage stays under that.)
    """
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'reserves.sqlite'}")
    await migrate.upgrade(engine, RESERVES.name, RESERVES.migrations)
    working = db.session_factory(engine)
    outage = {"on": True}

    def sessions() -> Any:
        if outage["on"]:
            raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")
        return working()

    redis = FakeRedis()
    await redis.xgroup_create(streams.INGRESS, "reserves", id="0", mkstream=True)
    processor = EntryProcessor(
        service="reserves",
        group="reserves",
        redis=redis,
        sessions=sessions,  # type: ignore[arg-type]
        inbox=RESERVES.inbox,
        outbox_table=RESERVES.outbox,
        out_stream=RESERVES.output,
        handler=RESERVES.handler,
        handled_types=RESERVES.handled_types,
        mode="live",
        max_deliveries=5,
    )
    depot = DepotRegisteredV1(
        **_meta("depot-during-outage"),
        data=DepotRegistered(
            depot_id="D-1", name="Depot one", node_id="N-1", tier="county", owner="civil"
        ),
    )
    await redis.xadd(streams.INGRESS, {EVENT_FIELD: encode(depot)})
    batch: Any = await redis.xreadgroup("reserves", "c1", {streams.INGRESS: ">"}, count=1)
    [(_, [(entry_id, data)])] = batch
    kinds = []
    for _delivery in range(5):  # the reader's delivery, then the reclaimer's every idle period
        kinds.append((await processor.process(streams.INGRESS, entry_id.decode(), data)).kind)
    outage["on"] = False  # PostgreSQL is back
    kinds.append((await processor.process(streams.INGRESS, entry_id.decode(), data)).kind)
    letters: Any = await redis.xrange("ingress.events.dead")
    try:
        assert kinds[-1] == "applied", (
            f"outcomes per delivery: {kinds}; dead letters: "
            f"{[f[b'error'].decode() for _, f in letters]}"
        )
    finally:
        await redis.aclose()
        await engine.dispose()


# --- dispatch: deliveries and plans deadlocked on needs' rows --------------------------------


@pytest.mark.integration
async def test_a_delivery_takes_the_orders_lock_before_it_changes_a_need(
    planned: Planned,
) -> None:
    """Session 5, load run: PostgreSQL reported deadlocks between dispatch's readers and its
    planner. A read applied a delivery (a need's row updated), then an answer that issues an
    order, which waits for the orders lock; the planner held that lock and updated the same
    need. Every writer of needs now takes the orders lock before its first write, so the
    second of two waits for the first to commit instead of each holding what the other needs.
    """
    sessions, _planner, first = planned
    await _reserve_all(sessions, first)
    async with sessions() as session:
        order = (await session.execute(select(dispatch_tables.orders))).first()
    assert order is not None, "the plan's orders were issued"
    body = DispatchOrderIssued.model_validate_json(order.body)
    [(index, stop)] = [(k, s) for k, s in enumerate(body.stops) if s.action == "unload"][:1]
    assert stop.need_id is not None
    assert stop.depot_id is not None
    unloaded = OrderProgressReportedV1(
        **_meta("unloaded-1"),
        data=OrderProgressReported(
            order_id=order.order_id,
            vehicle_id=order.vehicle_id,
            stage="unloaded",
            node_id=stop.node_id,
            stop_index=index,
            cargo=[
                Cargo(
                    depot_id=stop.depot_id,
                    need_id=stop.need_id,
                    commodity=stop.commodity,
                    quantity_kg=stop.quantity_kg,
                )
            ],
        ),
    )
    async with sessions() as reader, reader.begin():
        await dispatch_handlers.handle(
            unloaded,
            Transaction(reader, Cause.of(unloaded), "/test"),
        )
        # The reader's transaction is still open: a plan's store cannot start meanwhile.
        async with sessions() as other, other.begin():
            free = await other.scalar(
                text("SELECT pg_try_advisory_xact_lock(:key)"),
                {"key": dispatch_handlers.ORDERS_LOCK},
            )
        assert free is False, "a delivery changed a need without holding the orders lock"


# --- one service's readers deadlocked on each other's rows -----------------------------------


@pytest.mark.integration
@pytest.mark.parametrize("lock_key", [None, RESERVES.lock_key], ids=["side-by-side", "serialised"])
async def test_two_reads_of_one_service_that_lock_rows_in_crossing_orders_queue_with_its_lock(
    reserves: Reserves, lock_key: int | None
) -> None:
    """Load runs, sessions 4-6: PostgreSQL reported deadlocks between one service's own
    readers (dispatch's readers of two streams, reserves', transport's): each read locks rows
    in the order of its events. PostgreSQL fails one after its 1 s deadlock timeout and the
    read is retried entry by entry: nothing lost, a second gone each time. With the service's
    ``lock_key`` every reader transaction takes one advisory lock first, and they queue.
    """
    register = reserves.processor(RESERVES.handler)
    for depot_id in ("D-1", "D-2"):
        event = DepotRegisteredV1(
            **_meta(f"register-{depot_id}"),
            data=DepotRegistered(
                depot_id=depot_id, name=depot_id, node_id="N-1", tier="county", owner="civil"
            ),
        )
        await register.process(streams.INGRESS, *await reserves.deliver(streams.INGRESS, event))

    async def crossing(event: Event, tx: Transaction) -> None:
        order = ("D-1", "D-2") if event.id == "cross-1" else ("D-2", "D-1")
        for k, depot_id in enumerate(order):
            await tx.session.execute(
                text("UPDATE reserves_depots SET name = :name WHERE depot_id = :id"),
                {"name": event.id, "id": depot_id},
            )
            if k == 0:
                await asyncio.sleep(0.3)  # both now hold their first row

    processor = reserves.processor(crossing, lock_key)
    entries = []
    for event_id in ("cross-1", "cross-2"):
        event = DepotRegisteredV1(
            **_meta(event_id),
            data=DepotRegistered(
                depot_id="D-1", name="x", node_id="N-1", tier="county", owner="civil"
            ),
        )
        entries.append(await reserves.deliver(streams.INGRESS, event))
    outcomes = await asyncio.gather(
        *(processor.process(streams.INGRESS, *entry) for entry in entries)
    )
    failed = [o.detail for o in outcomes if o.kind == "failed"]
    if lock_key is None:
        assert any("deadlock" in f for f in failed), [o.kind for o in outcomes]
    else:
        assert [o.kind for o in outcomes] == ["applied", "applied"], failed
