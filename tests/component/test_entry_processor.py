"""EntryProcessor over a fake Redis and a real SQLite file, wired like the reserves service."""

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fakeredis.aioredis import FakeRedis
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from contracts import streams
from contracts.catalogue import Event
from contracts.envelope import Envelope, Mode
from contracts.incidents import NeedRaised, NeedRaisedV1
from contracts.reserves import (
    DepotRegistered,
    DepotRegisteredV1,
    StockLevelReported,
    StockLevelReportedV1,
)
from services.reserves.adapters import tables
from services.reserves.bootstrap import SPEC
from services.runtime import db, migrate
from services.runtime.consumer import EntryProcessor, Handler, Outcome, unavailable
from services.runtime.transaction import Transaction
from services.runtime.wire import EVENT_FIELD, encode

STREAM = streams.INGRESS
GROUP = SPEC.name
MAX_DELIVERIES = 3


@dataclass
class World:
    redis: FakeRedis
    engine: AsyncEngine
    sessions: async_sessionmaker[Any]

    def processor(self, mode: Mode = "live", handler: Handler = SPEC.handler) -> EntryProcessor:
        return EntryProcessor(
            service=SPEC.name,
            group=GROUP,
            redis=self.redis,
            sessions=self.sessions,
            inbox=SPEC.inbox,
            outbox_table=SPEC.outbox,
            out_stream=SPEC.output,
            handler=handler,
            handled_types=SPEC.handled_types,
            mode=mode,
            max_deliveries=MAX_DELIVERIES,
        )

    async def deliver(self, fields: Mapping[str, str | bytes]) -> tuple[str, dict[bytes, bytes]]:
        """XADD an entry and read it through the group, as the runtime's reader would."""
        await self.redis.xadd(STREAM, dict(fields))  # type: ignore[arg-type]
        batch: Any = await self.redis.xreadgroup(GROUP, "c1", {STREAM: ">"}, count=1)
        [(_, [(entry_id, data)])] = batch
        return str(entry_id.decode()), data

    async def pending(self) -> int:
        info = await self.redis.xpending(STREAM, GROUP)
        return int(info["pending"])

    async def dead_letters(self) -> list[dict[bytes, bytes]]:
        entries: Any = await self.redis.xrange(streams.dead_letter(STREAM))
        return [data for _, data in entries]

    async def count(self, table: Any) -> int:
        async with self.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(table)) or 0)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'reserves.sqlite'}")
    await migrate.upgrade(engine, SPEC.name, SPEC.migrations)
    redis = FakeRedis()
    await redis.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    yield World(redis, engine, db.session_factory(engine))
    await redis.aclose()
    await engine.dispose()


def depot_registered(event_id: str = "evt-depot-1", mode: Mode = "live") -> DepotRegisteredV1:
    return DepotRegisteredV1(
        id=event_id,
        source="/test",
        time="2026-05-12T06:00:00+00:00",
        correlationid="test-run",
        mode=mode,
        data=DepotRegistered(
            depot_id="D-1", name="Depot one", node_id="N-1", tier="county", owner="civil"
        ),
    )


def entry(event: Envelope) -> dict[str, str | bytes]:
    return {EVENT_FIELD: encode(event)}


async def test_an_event_is_applied_once_and_its_redelivery_is_a_duplicate(world: World) -> None:
    processor = world.processor()
    event = depot_registered()
    entry_id, data = await world.deliver(entry(event))
    assert await processor.process(STREAM, entry_id, data) == Outcome("applied", event.type)
    assert await world.count(tables.depots) == 1
    assert await world.count(tables.inbox) == 1
    assert await world.count(tables.outbox) == 1
    assert await world.pending() == 0

    again_id, again = await world.deliver(entry(event))  # same event id, new entry
    assert await processor.process(STREAM, again_id, again) == Outcome("duplicate", event.type)
    assert await world.count(tables.inbox) == 1
    assert await world.count(tables.outbox) == 1
    assert await world.pending() == 0


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({EVENT_FIELD: "{not json"}, "invalid event"),
        ({EVENT_FIELD: '{"specversion": "1.0", "type": "hinterland.nope.v1"}'}, "type"),
        ({"payload": "{}"}, "no 'event' field"),
    ],
    ids=["malformed json", "unknown type", "missing event field"],
)
async def test_an_undecodable_entry_is_dead_lettered_with_the_problem_named(
    world: World, fields: dict[str, str], words: str
) -> None:
    entry_id, data = await world.deliver(fields)
    outcome = await world.processor().process(STREAM, entry_id, data)
    assert outcome.kind == "dead"
    assert words in outcome.detail
    [letter] = await world.dead_letters()
    assert words in letter[b"error"].decode()
    assert letter[b"entry_id"].decode() == entry_id
    assert letter[b"stream"].decode() == STREAM
    assert letter[b"group"].decode() == GROUP
    assert await world.pending() == 0
    assert await world.count(tables.inbox) == 0


async def test_an_exercise_event_reaching_a_live_service_is_dead_lettered(world: World) -> None:
    event = depot_registered(mode="exercise")
    entry_id, data = await world.deliver(entry(event))
    outcome = await world.processor(mode="live").process(STREAM, entry_id, data)
    assert outcome.kind == "dead"
    [letter] = await world.dead_letters()
    error = letter[b"error"].decode()
    assert "exercise event evt-depot-1 reached a live reserves service" in error
    assert letter[b"event"] == encode(event).encode()
    assert await world.count(tables.depots) == 0
    assert await world.pending() == 0


async def test_an_event_type_the_service_does_not_handle_is_acked_and_ignored(
    world: World,
) -> None:
    need = NeedRaisedV1(
        id="evt-need-1",
        source="/test",
        time="2026-05-12T06:00:00+00:00",
        correlationid="test-run",
        data=NeedRaised(
            need_id="NEED-1",
            node_id="N-1",
            commodity="water",
            quantity=5,
            priority="routine",
            deadline="2026-05-12T12:00:00+00:00",
        ),
    )
    entry_id, data = await world.deliver(entry(need))
    outcome = await world.processor().process(STREAM, entry_id, data)
    assert outcome == Outcome("ignored", need.type)
    assert await world.pending() == 0
    assert await world.dead_letters() == []
    assert await world.count(tables.inbox) == 0


async def test_an_event_the_service_can_never_apply_is_dead_lettered_at_once(
    world: World,
) -> None:
    level = StockLevelReportedV1(
        id="evt-level-1",
        source="/test",
        time="2026-05-12T06:00:00+00:00",
        correlationid="test-run",
        data=StockLevelReported(depot_id="D-unknown", commodity="water", quantity=5, unit="t"),
    )
    entry_id, data = await world.deliver(entry(level))
    outcome = await world.processor().process(STREAM, entry_id, data)
    assert outcome.kind == "dead"
    assert "unknown depot 'D-unknown'" in outcome.detail
    assert len(await world.dead_letters()) == 1
    assert await world.count(tables.inbox) == 0


async def test_a_failing_handler_leaves_the_entry_pending_then_dead_letters_it(
    world: World,
) -> None:
    calls = 0

    async def broken(event: Event, tx: Transaction) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError(f"database hiccup {calls}")

    processor = world.processor(handler=broken)
    entry_id, data = await world.deliver(entry(depot_registered()))
    for attempt in range(1, MAX_DELIVERIES + 1):
        outcome = await processor.process(STREAM, entry_id, data)
        assert outcome.kind == "failed"
        assert f"database hiccup {attempt}" in outcome.detail
        assert await world.pending() == 1
        assert await world.dead_letters() == []
    outcome = await processor.process(STREAM, entry_id, data)
    assert outcome.kind == "dead"
    assert calls == MAX_DELIVERIES
    assert f"handler failed {MAX_DELIVERIES} times" in outcome.detail
    assert f"database hiccup {MAX_DELIVERIES}" in outcome.detail
    [letter] = await world.dead_letters()
    assert "handler failed" in letter[b"error"].decode()
    assert await world.pending() == 0
    assert await world.count(tables.inbox) == 0
    assert await world.count(tables.outbox) == 0
    assert await world.redis.hlen(f"{GROUP}:attempts:{STREAM}") == 0
    assert await world.redis.hlen(f"{GROUP}:errors:{STREAM}") == 0


async def test_a_handler_that_recovers_applies_the_entry_on_a_later_delivery(
    world: World,
) -> None:
    failures = [RuntimeError("transient")]

    async def flaky(event: Event, tx: Transaction) -> None:
        if failures:
            raise failures.pop()
        await SPEC.handler(event, tx)

    processor = world.processor(handler=flaky)
    entry_id, data = await world.deliver(entry(depot_registered()))
    assert (await processor.process(STREAM, entry_id, data)).kind == "failed"
    assert await world.count(tables.depots) == 0
    assert (await processor.process(STREAM, entry_id, data)).kind == "applied"
    assert await world.count(tables.depots) == 1
    assert await world.pending() == 0


async def deliver_read(world: World, *events: Envelope) -> list[tuple[str, dict[bytes, bytes]]]:
    """XADD several entries and read them in one XREADGROUP, as the batch reader does."""
    for e in events:
        await world.redis.xadd(STREAM, entry(e))  # type: ignore[arg-type]
    batch: Any = await world.redis.xreadgroup(GROUP, "c1", {STREAM: ">"}, count=len(events))
    [(_, rows)] = batch
    return [(eid.decode(), data) for eid, data in rows]


def stock_report(event_id: str, depot_id: str, tonnes: float) -> StockLevelReportedV1:
    return StockLevelReportedV1(
        id=event_id,
        source="/test",
        time="2026-05-12T06:00:00+00:00",
        correlationid="test-run",
        data=StockLevelReported(depot_id=depot_id, commodity="water", quantity=tonnes, unit="t"),
    )


async def test_one_read_is_applied_together_and_a_repeated_event_in_it_only_once(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="services.runtime.consumer")
    depot = depot_registered()
    rows = await deliver_read(
        world, depot, stock_report("s-1", "D-1", 5), depot, stock_report("s-2", "D-1", 7)
    )
    outcomes = await world.processor().process_batch(STREAM, rows)
    assert [o.kind for o in outcomes] == ["applied", "applied", "duplicate", "applied"]
    assert await world.count(tables.inbox) == 3
    assert await world.count(tables.outbox) == 3
    assert await world.pending() == 0
    async with world.sessions() as session:
        on_hand = await session.scalar(select(tables.stock.c.on_hand_kg))
    assert on_hand == 7_000  # applied in order: the later count wins
    assert "one by one" not in caplog.text  # one transaction, no fallback


async def test_a_bad_entry_in_a_read_holds_back_only_itself(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="services.runtime.consumer")
    rows = await deliver_read(
        world,
        depot_registered(),
        stock_report("s-1", "D-NOWHERE", 5),  # unknown depot: unprocessable
        stock_report("s-2", "D-1", 7),
    )
    outcomes = await world.processor().process_batch(STREAM, rows)
    assert [o.kind for o in outcomes] == ["applied", "dead", "applied"]
    assert "unknown depot 'D-NOWHERE'" in outcomes[1].detail
    assert await world.count(tables.inbox) == 2
    [letter] = await world.dead_letters()
    assert letter[b"entry_id"].decode() == rows[1][0]
    assert await world.pending() == 0
    assert "one by one" in caplog.text  # the read's transaction failed and was retried singly


@pytest.mark.parametrize(
    ("exc", "infra"),
    [
        (ConnectionRefusedError(111, "Connect call failed"), True),
        (TimeoutError(), True),
        (OperationalError("COMMIT", {}, Exception("database is locked")), True),
        (OperationalError("SELECT", {}, Exception("no such table: reserves_stock")), False),
        (IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed")), False),
        (ValueError("bad quantity"), False),
    ],
)
def test_only_an_unreachable_database_is_kept_from_counting_towards_dead_letters(
    exc: BaseException, infra: bool
) -> None:
    assert unavailable(exc) is infra


async def test_a_first_delivery_that_succeeds_leaves_no_count_behind(world: World) -> None:
    rows = await deliver_read(world, depot_registered(), stock_report("s-1", "D-1", 5))
    outcomes = await world.processor().process_batch(STREAM, rows, first_delivery=True)
    assert [o.kind for o in outcomes] == ["applied", "applied"]
    assert await world.pending() == 0
    assert not await world.redis.exists(f"{GROUP}:attempts:{STREAM}")


async def test_a_failed_first_delivery_counts_towards_dead_lettering(world: World) -> None:
    calls = 0

    async def broken(event: Event, tx: Transaction) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError(f"bug {calls}")

    processor = world.processor(handler=broken)
    [(entry_id, data)] = await deliver_read(world, depot_registered())
    [first] = await processor.process_batch(STREAM, [(entry_id, data)], first_delivery=True)
    assert first.kind == "failed"
    assert await world.redis.hget(f"{GROUP}:attempts:{STREAM}", entry_id) == b"1"
    for _redelivery in range(2, MAX_DELIVERIES + 1):  # the reclaimer's deliveries
        assert (await processor.process(STREAM, entry_id, data)).kind == "failed"
    outcome = await processor.process(STREAM, entry_id, data)
    assert outcome.kind == "dead"
    assert calls == MAX_DELIVERIES
    assert f"handler failed {MAX_DELIVERIES} times" in outcome.detail
    assert await world.redis.hlen(f"{GROUP}:attempts:{STREAM}") == 0


async def test_a_first_delivery_failed_by_an_outage_is_not_counted(world: World) -> None:
    async def unreachable(event: Event, tx: Transaction) -> None:
        raise ConnectionRefusedError(111, "Connect call failed")

    [(entry_id, data)] = await deliver_read(world, depot_registered())
    [first] = await world.processor(handler=unreachable).process_batch(
        STREAM, [(entry_id, data)], first_delivery=True
    )
    assert first.kind == "failed"
    assert await world.pending() == 1
    assert await world.redis.hget(f"{GROUP}:attempts:{STREAM}", entry_id) is None
    assert (await world.processor().process(STREAM, entry_id, data)).kind == "applied"
