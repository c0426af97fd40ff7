"""Malformed entries through a real service's EntryProcessor: dead-lettered, never half-applied.

Entries for the reserves service (fakeredis, SQLite file, the real handler) are spoilt the way
the contract fuzzing does it, plus entries without the ``event`` field, exercise events and
events about depots nobody registered. Each is delivered as the runtime would, redelivered
while it fails, and then must have been: applied (the spoiling left it valid), ignored (a type
reserves does not handle), or dead-lettered with a reason; nothing stays pending, and unless it
was applied no table changed at all.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fakeredis.aioredis import FakeRedis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from contracts import streams
from contracts.dispatch import ReservationRequested, ReservationRequestedV1
from contracts.envelope import Envelope
from contracts.reserves import (
    DepotRegistered,
    DepotRegisteredV1,
    StockLevelReported,
    StockLevelReportedV1,
)
from services.reserves.adapters import tables
from services.reserves.bootstrap import SPEC
from services.runtime import db, migrate
from services.runtime.consumer import EntryProcessor
from services.runtime.wire import EVENT_FIELD, encode
from tests.property.documents import paths, set_at

MAX_DELIVERIES = 3
T0 = "2026-05-12T06:00:00+00:00"
TABLES = (tables.depots, tables.stock, tables.reservations, tables.inbox, tables.outbox)


def _meta(event_id: str, **extra: Any) -> dict[str, Any]:
    return {"id": event_id, "source": "/fuzz", "time": T0, "correlationid": "fuzz", **extra}


BASES: list[tuple[str, Envelope]] = [
    (
        streams.INGRESS,
        StockLevelReportedV1(
            **_meta("level"),
            data=StockLevelReported(depot_id="D-1", commodity="water", quantity=12.5, unit="t"),
        ),
    ),
    (
        streams.DISPATCH,
        ReservationRequestedV1(
            **_meta("request"),
            data=ReservationRequested(
                reservation_id="R-1",
                plan_id="P-1",
                depot_id="D-1",
                need_id="NEED-1",
                commodity="water",
                quantity_kg=1000,
            ),
        ),
    ),
    (
        streams.INGRESS,
        DepotRegisteredV1(
            **_meta("depot-2"),
            data=DepotRegistered(
                depot_id="D-2", name="Depot two", node_id="N-2", tier="city", owner="military"
            ),
        ),
    ),
]

JUNK: Any = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**30), 10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=2),
)


@st.composite
def spoilt_entry(draw: st.DrawFn) -> tuple[str, dict[str, str | bytes]]:
    stream, base = draw(st.sampled_from(BASES))
    doc = json.loads(encode(base))
    doc["id"] = f"fuzz-{draw(st.integers(0, 10**9))}"
    how = draw(
        st.sampled_from(
            ["drop", "junk", "extra", "cut", "no event field", "exercise", "unknown depot"]
        )
    )
    if how in ("drop", "junk"):
        path = draw(st.sampled_from(paths(doc)))
        if how == "drop":
            set_at(doc, path, None, delete=True)
        else:
            set_at(doc, path, draw(JUNK))
    elif how == "extra":
        doc["data"][draw(st.text(min_size=1, max_size=8))] = draw(JUNK)
    elif how == "exercise":
        doc["mode"] = "exercise"
    elif how == "unknown depot":
        doc["data"]["depot_id"] = draw(st.text(min_size=1, max_size=10).map(lambda t: f"D-x{t}"))
    text = json.dumps(doc)
    if how == "cut":
        text = text[: draw(st.integers(0, len(text) - 1))]
    if how == "no event field":
        return stream, {"payload": text}
    return stream, {EVENT_FIELD: text}


class World:
    def __init__(self, path: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.engine = db.create_engine(f"sqlite+aiosqlite:///{path}")
        self.sessions = db.session_factory(self.engine)
        self.redis = FakeRedis()
        self.processor = EntryProcessor(
            service=SPEC.name,
            group=SPEC.name,
            redis=self.redis,
            sessions=self.sessions,
            inbox=SPEC.inbox,
            outbox_table=SPEC.outbox,
            out_stream=SPEC.output,
            handler=SPEC.handler,
            handled_types=SPEC.handled_types,
            mode="live",
            max_deliveries=MAX_DELIVERIES,
        )
        self.run(self._setup())

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    async def _setup(self) -> None:
        await migrate.upgrade(self.engine, SPEC.name, SPEC.migrations)
        for stream in (streams.INGRESS, streams.DISPATCH):
            await self.redis.xgroup_create(stream, SPEC.name, id="0", mkstream=True)
        depot = DepotRegisteredV1(
            **_meta("depot-1"),
            data=DepotRegistered(
                depot_id="D-1", name="Depot one", node_id="N-1", tier="county", owner="civil"
            ),
        )
        level = StockLevelReportedV1(
            **_meta("level-0"),
            data=StockLevelReported(depot_id="D-1", commodity="water", quantity=100, unit="t"),
        )
        for event in (depot, level):
            await self.deliver_until_done(streams.INGRESS, {EVENT_FIELD: encode(event)})

    async def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        async with self.sessions() as session:
            return {
                t.name: sorted(tuple(r) for r in await session.execute(select(t))) for t in TABLES
            }

    async def deliver_until_done(self, stream: str, fields: dict[str, str | bytes]) -> list[str]:
        """XADD, read through the group, and redeliver (as the reclaimer would) while it fails."""
        await self.redis.xadd(stream, fields)  # type: ignore[arg-type]
        batch: Any = await self.redis.xreadgroup(SPEC.name, "c1", {stream: ">"}, count=1)
        [(_, [(entry_id, data)])] = batch
        kinds = []
        for _ in range(MAX_DELIVERIES + 1):
            outcome = await self.processor.process(stream, entry_id.decode(), data)
            kinds.append(outcome.kind)
            if outcome.kind != "failed":
                break
        return kinds

    def close(self) -> None:
        self.run(self.redis.aclose())
        self.run(self.engine.dispose())
        self.loop.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = World(tmp_path_factory.mktemp("fuzz") / "reserves.sqlite")
    yield w
    w.close()


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(entry=spoilt_entry())
def test_a_malformed_entry_is_dead_lettered_with_a_reason_and_nothing_is_half_applied(
    world: World, entry: tuple[str, dict[str, str | bytes]]
) -> None:
    stream, fields = entry
    before = world.run(world.snapshot())
    letters_before = len(world.run(world.redis.xrange(streams.dead_letter(stream))))
    kinds = world.run(world.deliver_until_done(stream, fields))
    after = world.run(world.snapshot())
    final = kinds[-1]
    assert final in ("applied", "duplicate", "ignored", "dead"), kinds
    pending: Any = world.run(world.redis.xpending(stream, SPEC.name))
    assert pending["pending"] == 0, f"entry left pending after {kinds}"
    if final == "dead":
        letters: Any = world.run(world.redis.xrange(streams.dead_letter(stream)))
        assert len(letters) == letters_before + 1
        assert letters[-1][1][b"error"], "a dead letter says why"
    if final != "applied":
        assert after == before, f"{kinds}: tables changed although nothing was applied"
    else:
        assert len(after["reserves_inbox"]) == len(before["reserves_inbox"]) + 1
