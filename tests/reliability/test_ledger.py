"""The ledger checker on a small real state, then on that state with one thing broken.

The state is made by the services' own code: their EntryProcessors and outbox relays over an
in-process Redis-protocol server and one SQLite file (what ``make demo`` runs on), pumped by
hand. A clean state must check clean; each corruption must be reported by its rule, with the
precise text an operator would need.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import text

from contracts import streams
from contracts.envelope import Envelope
from contracts.incidents import NeedRaised, NeedRaisedV1
from contracts.reserves import (
    DepotRegistered,
    DepotRegisteredV1,
    StockLevelReported,
    StockLevelReportedV1,
    StockReserved,
    StockReservedV1,
)
from services.runtime import db, migrate
from services.runtime.consumer import EntryProcessor
from services.runtime.outbox import OutboxRelay
from services.runtime.service import ServiceSpec
from services.runtime.wire import EVENT_FIELD, encode
from simulations.harness import embedded_redis
from simulations.reliability.ledger import SPECS, LedgerReport, Sources, check_ledger

T0 = "2026-05-12T06:00:00+00:00"


def _meta(event_id: str) -> dict[str, Any]:
    return {"id": event_id, "source": "/test", "time": T0, "correlationid": "ledger"}


@dataclass
class State:
    redis_url: str
    database_url: str
    redis: Redis
    engine: Any

    async def check(self) -> LedgerReport:
        return await check_ledger(Sources.one_database(self.redis_url, self.database_url))

    async def sql(self, statement: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(text(statement))


async def _pump(redis: Redis, sessions: Any, specs: tuple[ServiceSpec, ...]) -> None:
    """Deliver every entry to every group and relay every outbox, until nothing moves."""
    processors = {
        s.name: EntryProcessor(
            service=s.name,
            group=s.name,
            redis=redis,
            sessions=sessions,
            inbox=s.inbox,
            outbox_table=s.outbox,
            out_stream=s.output,
            handler=s.handler,
            handled_types=s.handled_types,
            mode="live",
            max_deliveries=3,
        )
        for s in specs
    }
    relays = [OutboxRelay(sessions, s.outbox, redis, 0.1) for s in specs]
    moved = True
    while moved:
        moved = False
        for spec in specs:
            for stream in spec.inputs:
                batch: Any = await redis.xreadgroup(spec.name, "c1", {stream: ">"}, count=50)
                for _, entries in batch or []:
                    moved = True
                    pairs = [(eid.decode(), data) for eid, data in entries]
                    await processors[spec.name].process_batch(stream, pairs)
        for relay in relays:
            moved = bool(await relay.relay_once()) or moved


@pytest.fixture
def redis_url() -> Iterator[str]:
    with embedded_redis() as url:
        yield url


@pytest.fixture
async def state(tmp_path: Path, redis_url: str) -> AsyncIterator[State]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'all.sqlite'}"
    engine = db.create_engine(url)
    for spec in SPECS:
        await migrate.upgrade(engine, spec.name, spec.migrations)
    redis = Redis.from_url(redis_url)
    for spec in SPECS:
        for stream in spec.inputs:
            await redis.xgroup_create(stream, spec.name, id="0", mkstream=True)
    world: list[Envelope] = [
        DepotRegisteredV1(
            **_meta("depot-1"),
            data=DepotRegistered(
                depot_id="D-1", name="Depot one", node_id="N-1", tier="county", owner="civil"
            ),
        ),
        StockLevelReportedV1(
            **_meta("level-1"),
            data=StockLevelReported(depot_id="D-1", commodity="water", quantity=100, unit="t"),
        ),
        NeedRaisedV1(
            **_meta("need-1"),
            data=NeedRaised(
                need_id="NEED-1",
                node_id="N-1",
                commodity="water",
                quantity=5,
                priority="life_saving",
                deadline="2026-05-13T06:00:00+00:00",
            ),
        ),
    ]
    for event in world:
        await redis.xadd(streams.INGRESS, {EVENT_FIELD: encode(event)})
    await _pump(redis, db.session_factory(engine), SPECS)
    yield State(redis_url, url, redis, engine)
    await redis.aclose()
    await engine.dispose()


async def test_a_clean_state_checks_clean(state: State) -> None:
    report = await state.check()
    assert report.ok, report.summary()
    assert report.not_checkable == []
    assert report.counts["applied by reserves"] == 2
    assert report.counts["needs open (not yet planned)"] == 1


async def test_reserved_stock_without_a_reservation_is_reported(state: State) -> None:
    await state.sql("UPDATE reserves_stock SET reserved_kg = 7000")
    report = await state.check()
    assert report.by_rule()["stock"] >= 1
    assert any(
        "depot D-1 water: reserved_kg is 7000 but the reservations held sum to 0 kg" in v.text
        for v in report.violations
    ), report.summary()


async def test_stock_that_appears_from_nowhere_breaks_conservation(state: State) -> None:
    await state.sql("UPDATE reserves_stock SET on_hand_kg = on_hand_kg + 500")
    report = await state.check()
    texts = [v.text for v in report.violations if v.rule == "stock"]
    assert any("stock not conserved" in t and "100500" in t for t in texts), report.summary()


async def test_an_event_missing_from_the_inbox_is_lost(state: State) -> None:
    await state.sql("DELETE FROM reserves_inbox WHERE event_id = 'level-1'")
    report = await state.check()
    assert report.lost == 1, report.summary()
    [lost] = [v.text for v in report.violations if v.rule == "lost"]
    assert "hinterland.reserves.stock_level_reported.v1 level-1" in lost
    assert "never applied by reserves" in lost


async def test_an_unacknowledged_entry_is_reported_pending(state: State) -> None:
    await state.redis.xadd(
        streams.INGRESS,
        {
            EVENT_FIELD: encode(
                StockLevelReportedV1(
                    **_meta("level-2"),
                    data=StockLevelReported(
                        depot_id="D-1", commodity="water", quantity=90, unit="t"
                    ),
                )
            )
        },
    )
    await state.redis.xreadgroup("reserves", "crashed-consumer", {streams.INGRESS: ">"})
    report = await state.check()
    pending = [v.text for v in report.violations if v.rule == "pending"]
    assert any("never acknowledged" in t and "crashed-consumer" in t for t in pending), pending
    assert any("not yet read" in t for t in pending), pending  # transport and dispatch


async def test_one_reservation_answered_twice_is_applied_twice(state: State) -> None:
    for event_id in ("answer-a", "answer-b"):
        answer = StockReservedV1(
            **{**_meta(event_id), "causationid": "request-1"},
            subject="R-1",
            data=StockReserved(
                reservation_id="R-1",
                plan_id="P-1",
                depot_id="D-1",
                need_id="NEED-1",
                commodity="water",
                quantity_kg=1000,
            ),
        )
        await state.redis.xadd(streams.RESERVES, {EVENT_FIELD: encode(answer)})
    await state.redis.xreadgroup("dispatch", "c1", {streams.RESERVES: ">"})
    report = await state.check()
    twice = [v.text for v in report.violations if v.rule == "applied_twice"]
    assert any("reservation_id R-1 emitted 2 times" in t for t in twice), report.summary()
    assert report.applied_twice == 2  # one per cause and subject, one per reservation id


async def test_a_need_served_beyond_its_quantity_is_reported(state: State) -> None:
    await state.sql("UPDATE dispatch_needs SET committed_kg = 9000")
    report = await state.check()
    texts = [v.text for v in report.violations if v.rule == "need"]
    assert any("NEED-1 (9000 of 5000 kg committed): served beyond" in t for t in texts), texts


async def test_an_outbox_row_never_relayed_is_lost(state: State) -> None:
    await state.sql("UPDATE reserves_outbox SET sent_at = NULL WHERE seq = 1")
    report = await state.check()
    assert any("never relayed" in v.text for v in report.violations), report.summary()


async def test_a_schema_without_the_ledger_columns_is_not_checkable(state: State) -> None:
    for column in ("in_transit_kg", "delivered_kg", "adjusted_in_kg", "adjusted_out_kg"):
        await state.sql(f"ALTER TABLE reserves_stock DROP COLUMN {column}")
    report = await state.check()
    assert any("stock conservation" in n and "in_transit_kg" in n for n in report.not_checkable)
    assert report.ok, report.summary()
