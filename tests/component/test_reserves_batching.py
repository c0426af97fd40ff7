"""Reserves applying a whole read with set-based statements: prefetch, deferred writes, fallback.

The EntryProcessor is wired as the runtime wires it (with the reserves TransactionHooks) over a
fake Redis and a SQLite file; the statements it sends are recorded, so that "one write per
read" is checked, not assumed. The tests marked integration run the same on PostgreSQL, with
two readers at once.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fakeredis.aioredis import FakeRedis
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from contracts import streams
from contracts.catalogue import Event
from contracts.dispatch import (
    ReleaseRequested,
    ReleaseRequestedV1,
    ReservationRequested,
    ReservationRequestedV1,
)
from contracts.envelope import Envelope
from contracts.incidents import (
    DisruptionReported,
    DisruptionReportedV1,
    DisruptionWithdrawn,
    DisruptionWithdrawnV1,
)
from contracts.reserves import (
    DepotRegistered,
    DepotRegisteredV1,
    StockLevelReported,
    StockLevelReportedV1,
)
from services.reserves.adapters import tables
from services.reserves.bootstrap import SPEC
from services.runtime import db, migrate
from services.runtime.consumer import EntryProcessor, Handler, TransactionHooks
from services.runtime.transaction import Transaction
from services.runtime.wire import EVENT_FIELD, encode

T0 = "2026-05-12T06:00:00+00:00"
INGRESS, DISPATCH = streams.INGRESS, streams.DISPATCH


def _meta(event_id: str, time: str = T0) -> dict[str, Any]:
    return {"id": event_id, "source": "/test", "time": time, "correlationid": "batching"}


def depot(depot_id: str, node_id: str = "N-1") -> DepotRegisteredV1:
    return DepotRegisteredV1(
        **_meta(f"depot-{depot_id}"),
        data=DepotRegistered(
            depot_id=depot_id, name=depot_id, node_id=node_id, tier="county", owner="civil"
        ),
    )


def report(
    event_id: str, depot_id: str, tonnes: float, commodity: str = "water", time: str = T0
) -> Envelope:
    return StockLevelReportedV1(
        **_meta(event_id, time),
        data=StockLevelReported(depot_id=depot_id, commodity=commodity, quantity=tonnes, unit="t"),
    )


def request(reservation_id: str, depot_id: str, kg: int) -> Envelope:
    return ReservationRequestedV1(
        **_meta(f"request-{reservation_id}"),
        data=ReservationRequested(
            reservation_id=reservation_id,
            plan_id="P-1",
            depot_id=depot_id,
            need_id="NEED-1",
            commodity="water",
            quantity_kg=kg,
        ),
    )


@dataclass
class World:
    redis: FakeRedis
    engine: AsyncEngine
    sessions: async_sessionmaker[Any]
    statements: list[str] = field(default_factory=list)

    def processor(
        self, hooks: TransactionHooks | None = SPEC.hooks, handler: Handler = SPEC.handler
    ) -> EntryProcessor:
        return EntryProcessor(
            service=SPEC.name,
            group=SPEC.name,
            redis=self.redis,
            sessions=self.sessions,
            inbox=SPEC.inbox,
            outbox_table=SPEC.outbox,
            out_stream=SPEC.output,
            handler=handler,
            handled_types=SPEC.handled_types,
            mode="live",
            max_deliveries=3,
            hooks=hooks,
        )

    async def read(self, stream: str, *events: Envelope) -> list[tuple[str, dict[bytes, bytes]]]:
        """XADD the events and take them in one XREADGROUP, as the runtime's reader does."""
        for e in events:
            await self.redis.xadd(stream, {EVENT_FIELD: encode(e)})
        batch: Any = await self.redis.xreadgroup(SPEC.name, "c1", {stream: ">"}, count=len(events))
        [(_, rows)] = batch
        return [(eid.decode(), data) for eid, data in rows]

    async def apply(
        self, stream: str, *events: Envelope, processor: EntryProcessor | None = None
    ) -> list[str]:
        """One read through the processor; the outcome kinds."""
        rows = await self.read(stream, *events)
        outcomes = await (processor or self.processor()).process_batch(stream, rows)
        return [o.kind for o in outcomes]

    def recorded(self) -> list[str]:
        """The statements sent since the last call (or the start)."""
        statements, self.statements = self.statements, []
        return statements

    async def lines(self) -> dict[tuple[str, str], Any]:
        async with self.sessions() as session:
            rows = (await session.execute(select(tables.stock))).all()
        return {(r.depot_id, r.commodity): r for r in rows}

    async def depot_rows(self) -> dict[str, Any]:
        async with self.sessions() as session:
            rows = (await session.execute(select(tables.depots))).all()
        return {r.depot_id: r for r in rows}

    async def outbox(self) -> list[dict[str, Any]]:
        async with self.sessions() as session:
            bodies = await session.scalars(select(tables.outbox.c.body).order_by("seq"))
            return [json.loads(b) for b in bodies]

    async def count(self, table: Any) -> int:
        async with self.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(table)) or 0)


async def _world(url: str) -> World:
    engine = db.create_engine(url)
    await migrate.upgrade(engine, SPEC.name, SPEC.migrations)
    redis = FakeRedis()
    for stream in (INGRESS, DISPATCH):
        await redis.xgroup_create(stream, SPEC.name, id="0", mkstream=True)
    world = World(redis, engine, db.session_factory(engine))

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        world.statements.append(statement)

    return world


@pytest.fixture(params=["aiosqlite", "inline"])
async def world(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[World]:
    """On SQLite through both drivers the project uses (inline: the embedded exercise)."""
    w = await _world(f"sqlite+{request.param}:///{tmp_path / 'reserves.sqlite'}")
    yield w
    await w.redis.aclose()
    await w.engine.dispose()


def sent(statements: list[str], verb: str, table: Any) -> int:
    """How many of ``statements`` start with ``verb`` and name ``table``."""
    return sum(
        1 for s in statements if s.lstrip().upper().startswith(verb) and f" {table.name}" in s
    )


def balanced(line: Any) -> bool:
    return bool(
        line.adjusted_in_kg - line.adjusted_out_kg
        == line.on_hand_kg + line.in_transit_kg + line.delivered_kg
    )


async def test_many_reports_for_one_line_apply_in_order_with_one_read_and_one_write(
    world: World,
) -> None:
    assert await world.apply(INGRESS, depot("D-1")) == ["applied"]
    tonnes = [5, 9, 2, 2, 7, 0, 11, 3]
    world.recorded()
    kinds = await world.apply(
        INGRESS, *(report(f"level-{i}", "D-1", t) for i, t in enumerate(tonnes))
    )
    assert kinds == ["applied"] * len(tonnes)
    during = world.recorded()
    [line] = (await world.lines()).values()
    assert line.on_hand_kg == 3_000  # the last count wins
    # Every count was booked, in order: up 5, up 4, down 7, -, up 5, down 7, up 11, down 8.
    assert (line.adjusted_in_kg, line.adjusted_out_kg) == (25_000, 22_000)
    assert balanced(line)
    # Each event still answers with the level it made, in the order they came.
    levels = [e["data"]["quantity"] for e in (await world.outbox())[1:]]
    assert levels == [t * 1000 for t in tonnes]
    assert sent(during, "SELECT", tables.depots) == 1
    assert sent(during, "SELECT", tables.stock) == 1
    assert sent(during, "INSERT", tables.stock) == 1  # the upsert, once for the read
    assert sent(during, "UPDATE", tables.stock) == 0
    assert sent(during, "INSERT", tables.inbox) == 1
    assert sent(during, "INSERT", tables.outbox) == 1


async def test_a_count_taken_before_the_count_in_force_changes_nothing(world: World) -> None:
    """A report that arrives late (redelivered after a crash, reclaimed after newer ones were
    applied) must not overwrite a later count: counts apply in the order they were taken."""
    assert await world.apply(INGRESS, depot("D-1")) == ["applied"]
    at = "2026-05-12T06:{:02d}:00+00:00".format
    # In one read: the 06:05 count, then one taken at 06:03 that arrived after it.
    kinds = await world.apply(
        INGRESS, report("r-5", "D-1", 5, time=at(5)), report("r-3", "D-1", 3, time=at(3))
    )
    assert kinds == ["applied", "applied"]  # both taken off the bus, exactly once
    [line] = (await world.lines()).values()
    assert line.on_hand_kg == 5_000
    # In a later read: another stale one, then a count taken at the same minute as the one in
    # force (the later arrival wins a tie) and a newer one.
    await world.apply(INGRESS, report("r-4", "D-1", 4, time=at(4)))
    assert (await world.lines())[("D-1", "water")].on_hand_kg == 5_000
    await world.apply(INGRESS, report("r-5b", "D-1", 6, time=at(5)))
    assert (await world.lines())[("D-1", "water")].on_hand_kg == 6_000
    await world.apply(INGRESS, report("r-7", "D-1", 7, time=at(7)))
    line = (await world.lines())[("D-1", "water")]
    assert line.on_hand_kg == 7_000
    assert (line.adjusted_in_kg, line.adjusted_out_kg) == (7_000, 0)
    assert balanced(line)
    # A level is published for each count that took effect, none for the stale ones.
    levels = [e["data"]["quantity"] for e in (await world.outbox())[1:]]
    assert levels == [5_000, 6_000, 7_000]


async def test_a_read_over_several_depots_loads_them_in_one_statement_and_writes_each_line(
    world: World,
) -> None:
    assert await world.apply(INGRESS, depot("D-2"), depot("D-1")) == ["applied", "applied"]
    world.recorded()
    kinds = await world.apply(
        INGRESS,
        report("a", "D-2", 4),
        report("b", "D-1", 6, "tents"),
        report("c", "D-1", 1),
        report("d", "D-2", 8),
        report("e", "D-1", 2, "tents"),
    )
    assert kinds == ["applied"] * 5
    during = world.recorded()
    lines = await world.lines()
    assert {k: v.on_hand_kg for k, v in lines.items()} == {
        ("D-1", "tents"): 2_000,
        ("D-1", "water"): 1_000,
        ("D-2", "water"): 8_000,
    }
    assert all(balanced(line) for line in lines.values())
    assert sent(during, "SELECT", tables.depots) == 1
    assert sent(during, "SELECT", tables.stock) == 1
    assert sent(during, "INSERT", tables.stock) == 1


async def test_a_depot_registered_in_the_same_read_takes_its_reports(world: World) -> None:
    kinds = await world.apply(INGRESS, depot("D-1"), report("a", "D-1", 4), report("b", "D-1", 6))
    assert kinds == ["applied"] * 3
    assert list(await world.depot_rows()) == ["D-1"]
    [line] = (await world.lines()).values()
    assert (line.on_hand_kg, line.adjusted_in_kg) == (6_000, 6_000)


async def test_a_repeated_and_an_already_applied_event_in_a_read_apply_once(
    world: World,
) -> None:
    assert await world.apply(INGRESS, depot("D-1"), report("a", "D-1", 4)) == ["applied"] * 2
    kinds = await world.apply(
        INGRESS,
        report("a", "D-1", 4),  # applied in the read before
        report("b", "D-1", 10),
        report("b", "D-1", 10),  # twice in this read
        report("c", "D-1", 7),
    )
    assert kinds == ["duplicate", "applied", "duplicate", "applied"]
    [line] = (await world.lines()).values()
    assert (line.on_hand_kg, line.adjusted_in_kg, line.adjusted_out_kg) == (7_000, 10_000, 3_000)
    assert await world.count(tables.inbox) == 4
    assert await world.count(tables.outbox) == 4


async def test_an_unprocessable_event_falls_back_and_the_others_apply_exactly_once(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="services.runtime.consumer")
    assert await world.apply(INGRESS, depot("D-1")) == ["applied"]
    kinds = await world.apply(
        INGRESS,
        report("a", "D-1", 4),
        report("b", "D-1", 9),
        report("c", "D-NOWHERE", 1),  # unknown depot
        report("d", "D-1", 6),
    )
    assert kinds == ["applied", "applied", "dead", "applied"]
    assert "one by one" in caplog.text
    [line] = (await world.lines()).values()
    # The read's transaction was rolled back whole: each change is there once, not twice.
    assert (line.on_hand_kg, line.adjusted_in_kg, line.adjusted_out_kg) == (6_000, 9_000, 3_000)
    assert await world.count(tables.inbox) == 4
    assert [e["data"]["quantity"] for e in (await world.outbox())[1:]] == [4000, 9000, 6000]


async def test_the_one_by_one_path_writes_what_each_event_changed(world: World) -> None:
    processor = world.processor()
    for e in (depot("D-1"), report("a", "D-1", 4), report("b", "D-1", 9)):
        [(entry_id, data)] = await world.read(INGRESS, e)
        assert (await processor.process(INGRESS, entry_id, data)).kind == "applied"
    [line] = (await world.lines()).values()
    assert (line.on_hand_kg, line.adjusted_in_kg) == (9_000, 9_000)


async def test_without_the_hooks_the_handler_writes_after_each_event(world: World) -> None:
    """A processor wired by hand without SPEC.hooks still loses nothing."""
    processor = world.processor(hooks=None)
    kinds = await world.apply(
        INGRESS, depot("D-1"), report("a", "D-1", 4), report("b", "D-1", 9), processor=processor
    )
    assert kinds == ["applied"] * 3
    assert sent(world.recorded(), "INSERT", tables.stock) == 2
    [line] = (await world.lines()).values()
    assert (line.on_hand_kg, line.adjusted_in_kg) == (9_000, 9_000)


async def test_reservations_and_a_release_in_one_read_see_each_others_stock(
    world: World,
) -> None:
    assert await world.apply(INGRESS, depot("D-1"), report("a", "D-1", 10)) == ["applied"] * 2
    kinds = await world.apply(
        DISPATCH,
        request("R-1", "D-1", 6_000),
        request("R-2", "D-1", 5_000),  # only 4 t free after R-1: rejected
        request("R-3", "D-1", 3_000),
        ReleaseRequestedV1(
            **_meta("release-1"), data=ReleaseRequested(reservation_id="R-1", plan_id="P-1")
        ),
        request("R-4", "D-1", 7_000),  # fits again after the release
    )
    assert kinds == ["applied"] * 5
    [line] = (await world.lines()).values()
    assert (line.on_hand_kg, line.reserved_kg) == (10_000, 10_000)
    async with world.sessions() as session:
        rows = (await session.execute(select(tables.reservations))).all()
    assert {r.reservation_id: r.status for r in rows} == {
        "R-1": "released",
        "R-2": "rejected",
        "R-3": "reserved",
        "R-4": "reserved",
    }
    types = [e["type"].rsplit(".", 2)[-2] for e in (await world.outbox())[2:]]
    assert types == [
        "stock_reserved",
        "stock_level_reported",
        "reservation_rejected",
        "stock_reserved",
        "stock_level_reported",
        "stock_released",
        "stock_level_reported",
        "stock_reserved",
        "stock_level_reported",
    ]


async def test_queries_over_depot_rows_see_the_reads_own_changes(world: World) -> None:
    """Depot rows changed earlier in the read are written before a query that reads them."""
    now = "2026-05-12T07:00:00+00:00"
    lost = DisruptionReportedV1(
        **_meta("disruption-1"),
        data=DisruptionReported(
            disruption_id="X-1", kind="flood", severity=4, observed_at=now, nodes=["N-9"]
        ),
    )
    withdrawn = DisruptionWithdrawnV1(
        **_meta("withdrawn-1"), data=DisruptionWithdrawn(disruption_id="X-1", withdrawn_at=now)
    )
    # Registered in this read, so only in memory when the disruption asks who is at N-9.
    assert await world.apply(INGRESS, depot("D-9", node_id="N-9"), lost) == ["applied"] * 2
    assert (await world.depot_rows())["D-9"].status == "lost"
    # Lost in this read, so only in memory when the withdrawal asks who X-1 had lost.
    again = DisruptionReportedV1(
        **_meta("disruption-2"),
        data=DisruptionReported(
            disruption_id="X-2", kind="flood", severity=4, observed_at=now, depots=["D-1"]
        ),
    )
    withdrawn_2 = DisruptionWithdrawnV1(
        **_meta("withdrawn-2"), data=DisruptionWithdrawn(disruption_id="X-2", withdrawn_at=now)
    )
    kinds = await world.apply(INGRESS, depot("D-1"), again, withdrawn_2, withdrawn)
    assert kinds == ["applied"] * 4
    rows = await world.depot_rows()
    assert (rows["D-1"].status, rows["D-1"].lost_by) == ("operational", None)
    assert (rows["D-9"].status, rows["D-9"].lost_by) == ("operational", None)
    statuses = [
        (e["subject"], e["data"]["status"])
        for e in await world.outbox()
        if e["type"].endswith("depot_status_changed.v1")
    ]
    assert statuses == [
        ("D-9", "lost"),
        ("D-1", "lost"),
        ("D-1", "operational"),
        ("D-9", "operational"),
    ]


# --- the runtime's side: when the hooks run -------------------------------------------------


@dataclass
class Recorder:
    calls: list[tuple[str, list[str]]] = field(default_factory=list)

    async def prefetch(self, session: AsyncSession, events: Sequence[Event]) -> None:
        self.calls.append(("prefetch", [e.id for e in events]))

    async def before_commit(self, session: AsyncSession) -> None:
        self.calls.append(("before_commit", []))

    async def handler(self, evt: Event, tx: Transaction) -> None:
        if evt.id == "bad":
            raise RuntimeError("bad event")
        self.calls.append(("handle", [evt.id]))

    def hooks(self) -> TransactionHooks:
        return TransactionHooks(prefetch=self.prefetch, before_commit=self.before_commit)


async def test_the_hooks_run_around_the_handlers_of_a_read_with_only_the_new_events(
    world: World,
) -> None:
    rec = Recorder()
    processor = world.processor(hooks=rec.hooks(), handler=rec.handler)
    assert await world.apply(INGRESS, report("a", "D-1", 1), processor=processor) == ["applied"]
    rec.calls.clear()
    kinds = await world.apply(
        INGRESS,
        report("a", "D-1", 1),
        report("b", "D-1", 2),
        report("b", "D-1", 2),
        report("c", "D-1", 3),
        processor=processor,
    )
    assert kinds == ["duplicate", "applied", "duplicate", "applied"]
    assert rec.calls == [
        ("prefetch", ["b", "c"]),
        ("handle", ["b"]),
        ("handle", ["c"]),
        ("before_commit", []),
    ]


async def test_the_hooks_run_in_each_transaction_of_the_one_by_one_fallback(
    world: World,
) -> None:
    rec = Recorder()
    processor = world.processor(hooks=rec.hooks(), handler=rec.handler)
    kinds = await world.apply(
        INGRESS, report("a", "D-1", 1), report("bad", "D-1", 2), processor=processor
    )
    assert kinds == ["applied", "failed"]
    assert rec.calls == [
        ("prefetch", ["a", "bad"]),
        ("handle", ["a"]),  # the read's transaction: fails at "bad", rolled back
        ("prefetch", ["a"]),
        ("handle", ["a"]),
        ("before_commit", []),
        ("prefetch", ["bad"]),
    ]


async def test_a_read_of_duplicates_only_runs_no_hooks(world: World) -> None:
    rec = Recorder()
    processor = world.processor(hooks=rec.hooks(), handler=rec.handler)
    await world.apply(INGRESS, report("a", "D-1", 1), report("b", "D-1", 1), processor=processor)
    rec.calls.clear()
    kinds = await world.apply(
        INGRESS, report("a", "D-1", 1), report("b", "D-1", 1), processor=processor
    )
    assert kinds == ["duplicate", "duplicate"]
    assert rec.calls == []


# --- PostgreSQL: row locks, two readers --------------------------------------------------------


@pytest.fixture
async def pg_world(service_database: str) -> AsyncIterator[World]:
    w = await _world(service_database)
    yield w
    await w.redis.aclose()
    await w.engine.dispose()


@pytest.mark.integration
async def test_on_postgresql_a_read_writes_each_line_once_and_upserts_new_ones(
    pg_world: World,
) -> None:
    world = pg_world
    assert await world.apply(INGRESS, depot("D-1"), depot("D-2")) == ["applied"] * 2
    world.recorded()
    kinds = await world.apply(
        INGRESS,
        report("a", "D-2", 4),
        report("b", "D-1", 6),
        report("c", "D-1", 1),
        report("d", "D-2", 8, "tents"),
    )
    assert kinds == ["applied"] * 4
    during = world.recorded()
    assert {k: v.on_hand_kg for k, v in (await world.lines()).items()} == {
        ("D-1", "water"): 1_000,
        ("D-2", "tents"): 8_000,
        ("D-2", "water"): 4_000,
    }
    [locking] = [s for s in during if "FOR UPDATE" in s]
    assert "ORDER BY" in locking
    assert sent(during, "INSERT", tables.stock) == 1
    kinds = await world.apply(INGRESS, report("e", "D-1", 3), report("f", "D-2", 2))
    assert kinds == ["applied"] * 2
    lines = await world.lines()
    assert (lines["D-1", "water"].on_hand_kg, lines["D-2", "water"].on_hand_kg) == (3_000, 2_000)
    assert all(balanced(line) for line in lines.values())


@pytest.mark.integration
async def test_on_postgresql_two_readers_changing_the_same_lines_lose_no_update(
    pg_world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """Ingress reports and dispatch reservations on the same two depots, in opposite orders,
    each read held open a while: the row locks queue them (no lost update), and taking the
    locks in depot order keeps them from deadlocking."""
    caplog.set_level("INFO", logger="services.runtime.consumer")
    world = pg_world
    kinds = await world.apply(
        INGRESS, depot("D-1"), depot("D-2"), report("a", "D-1", 100), report("b", "D-2", 100)
    )
    assert kinds == ["applied"] * 4

    async def slow(evt: Event, tx: Transaction) -> None:
        await SPEC.handler(evt, tx)
        await asyncio.sleep(0.2)  # both transactions hold their locks a while

    ingress_rows = await world.read(INGRESS, report("c", "D-2", 150), report("d", "D-1", 150))
    dispatch_rows = await world.read(
        DISPATCH, request("R-1", "D-1", 20_000), request("R-2", "D-2", 30_000)
    )
    first, second = world.processor(handler=slow), world.processor(handler=slow)
    outcomes = await asyncio.gather(
        first.process_batch(INGRESS, ingress_rows),
        second.process_batch(DISPATCH, dispatch_rows),
    )
    assert [[o.kind for o in read] for read in outcomes] == [["applied"] * 2] * 2
    assert "one by one" not in caplog.text  # no deadlock broke either read's transaction
    lines = await world.lines()
    assert (lines["D-1", "water"].on_hand_kg, lines["D-1", "water"].reserved_kg) == (
        150_000,
        20_000,
    )
    assert (lines["D-2", "water"].on_hand_kg, lines["D-2", "water"].reserved_kg) == (
        150_000,
        30_000,
    )
    assert all(balanced(line) for line in lines.values())
