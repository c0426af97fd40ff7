"""The service runtime in-process, against the real Redis and PostgreSQL (the reserves service)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest
from redis.asyncio import Redis
from sqlalchemy import text

from services.reserves.bootstrap import create_runtime
from services.runtime.service import ServiceRuntime
from services.runtime.settings import ServiceSettings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

DEPOT = "D-TEST-01"
T = TypeVar("T")


def envelope(event_type: str, subject: str, data: dict[str, Any], **extra: Any) -> dict[str, Any]:
    eid = str(uuid.uuid4())
    return {
        "specversion": "1.0",
        "id": eid,
        "source": "urn:test:reserves-feed",
        "type": event_type,
        "time": datetime.now(UTC).isoformat(),
        "subject": subject,
        "correlationid": eid,
        "mode": "live",
        "classification": "public",
        "data": data,
        **extra,
    }


def depot_registered(depot_id: str = DEPOT) -> dict[str, Any]:
    return envelope(
        "hinterland.reserves.depot_registered.v1",
        depot_id,
        {
            "depot_id": depot_id,
            "name": "Test depot",
            "node_id": "N-test",
            "tier": "county",
            "owner": "civil",
        },
    )


def stock_level(depot_id: str, quantity: float, commodity: str = "water") -> dict[str, Any]:
    return envelope(
        "hinterland.reserves.stock_level_reported.v1",
        depot_id,
        {"depot_id": depot_id, "commodity": commodity, "quantity": quantity, "unit": "t"},
    )


async def until(probe: Callable[[], Awaitable[T]], what: str, within: float = 15.0) -> T:
    deadline = time.monotonic() + within
    last: T | None = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(0.05)
    pytest.fail(f"{what} did not happen within {within:.0f} s (last: {last!r})")


class Harness:
    def __init__(self, redis_url: str, database_url: str, ns: str) -> None:
        self.ns = ns
        self.redis = Redis.from_url(redis_url)
        self.runtime: ServiceRuntime = create_runtime(
            ServiceSettings(
                redis_url=redis_url,
                database_url=database_url,
                namespace=ns,
                consumer_name="reserves-test",
                reclaim_idle_ms=500,
                max_records=20,
                polling_ms=50,
                outbox_poll_ms=50,
            )
        )

    def stream(self, name: str) -> str:
        return f"{self.ns}:{name}"

    async def publish(self, event: dict[str, Any] | str) -> str:
        body = event if isinstance(event, str) else json.dumps(event)
        entry = await self.redis.xadd(self.stream("ingress.events"), {"event": body})
        return entry.decode()

    async def scalar(self, sql: str, **params: Any) -> Any:
        async with self.runtime.sessions() as session:
            return await session.scalar(text(sql), params)

    async def out_events(self) -> list[dict[str, Any]]:
        entries = await self.redis.xrange(self.stream("reserves.events"))
        return [json.loads(fields[b"event"]) for _, fields in entries]

    async def dead(self) -> list[dict[str, str]]:
        entries = await self.redis.xrange(self.stream("ingress.events.dead"))
        return [{k.decode(): v.decode() for k, v in f.items()} for _, f in entries]

    async def pending(self) -> int:
        info = await self.redis.xpending(self.stream("ingress.events"), "reserves")
        return int(info["pending"])

    async def idle(self) -> bool:
        """Every ingress entry read and acked, and the outbox empty."""
        groups = await self.redis.xinfo_groups(self.stream("ingress.events"))
        group = next(g for g in groups if g["name"] in (b"reserves", "reserves"))
        unsent = await self.scalar("SELECT count(*) FROM reserves_outbox WHERE sent_at IS NULL")
        return group["pending"] == 0 and group["lag"] == 0 and unsent == 0


@pytest.fixture
async def harness(redis_url: str, service_database: str, namespace: str) -> AsyncIterator[Harness]:
    h = Harness(redis_url, service_database, namespace)
    try:
        yield h
    finally:
        await h.redis.aclose()


@pytest.fixture
async def started(harness: Harness) -> AsyncIterator[Harness]:
    await harness.runtime.start()
    try:
        yield harness
    finally:
        await harness.runtime.stop()


async def test_events_published_before_the_service_starts_are_consumed(harness: Harness) -> None:
    await harness.publish(depot_registered())
    await harness.publish(stock_level(DEPOT, 12.5))

    await harness.runtime.start()
    try:
        on_hand = await until(
            lambda: harness.scalar(
                "SELECT on_hand_kg FROM reserves_stock WHERE depot_id = :d AND commodity = 'water'",
                d=DEPOT,
            ),
            "stock reported before start applied",
        )
        assert on_hand == 12_500
        await until(harness.idle, "ingress drained and outbox relayed")
        types = [e["type"] for e in await harness.out_events()]
        assert types == [
            "hinterland.reserves.depot_registered.v1",
            "hinterland.reserves.stock_level_reported.v1",
        ]
    finally:
        await harness.runtime.stop()


async def test_the_same_event_published_twice_is_applied_once(started: Harness) -> None:
    h = started
    register = depot_registered()
    level = stock_level(DEPOT, 7)
    await h.publish(register)
    first = await h.publish(level)
    second = await h.publish(level)  # same id: a producer retrying after a lost reply
    assert first != second
    await h.publish(register)
    await until(h.idle, "ingress drained and outbox relayed")

    assert await h.scalar("SELECT count(*) FROM reserves_inbox") == 2
    assert await h.scalar("SELECT count(*) FROM reserves_inbox WHERE event_id = :i", i=level["id"])
    out = await h.out_events()
    caused_by_level = [e for e in out if e["causationid"] == level["id"]]
    caused_by_register = [e for e in out if e["causationid"] == register["id"]]
    assert len(caused_by_level) == 1, caused_by_level
    assert len(caused_by_register) == 1, caused_by_register
    assert caused_by_level[0]["data"]["available_kg"] == 7_000
    assert await h.dead() == []


async def test_stock_for_an_unknown_depot_goes_straight_to_the_dead_letter_stream(
    started: Harness,
) -> None:
    h = started
    orphan = stock_level("D-NOWHERE", 3)
    entry = await h.publish(orphan)

    letters = await until(h.dead, "a dead letter for the unknown depot")
    assert len(letters) == 1
    letter = letters[0]
    assert letter["entry_id"] == entry
    assert letter["group"] == "reserves"
    assert letter["stream"] == h.stream("ingress.events")
    assert "unknown depot 'D-NOWHERE'" in letter["error"]
    assert orphan["id"] in letter["error"]
    assert json.loads(letter["event"])["id"] == orphan["id"]

    # Straight there: one delivery, no retries left behind, nothing applied.
    await until(h.idle, "ingress acked")
    assert await h.redis.hlen(f"reserves:attempts:{h.stream('ingress.events')}") == 0
    assert await h.scalar("SELECT count(*) FROM reserves_stock") == 0
    assert await h.scalar("SELECT count(*) FROM reserves_inbox") == 0
    assert await h.out_events() == []

    # The service goes on: registering the depot and re-reporting works.
    await h.publish(depot_registered("D-NOWHERE"))
    await h.publish(stock_level("D-NOWHERE", 3))
    await until(
        lambda: h.scalar("SELECT on_hand_kg FROM reserves_stock WHERE depot_id = 'D-NOWHERE'"),
        "stock applied once the depot exists",
    )


async def test_an_exercise_event_never_reaches_live_state(started: Harness) -> None:
    h = started
    drill = depot_registered("D-DRILL")
    drill["mode"] = "exercise"
    await h.publish(drill)

    letters = await until(h.dead, "a dead letter for the exercise event")
    assert "exercise event" in letters[0]["error"]
    assert "live reserves service" in letters[0]["error"]
    await until(h.idle, "ingress acked")
    assert await h.scalar("SELECT count(*) FROM reserves_depots") == 0


async def _left_pending_by_a_dead_reader(h: Harness, events: list[dict[str, Any]]) -> None:
    """Publish ``events`` and read them as another consumer that then dies (never acks)."""
    stream = h.stream("ingress.events")
    await h.runtime.prepare()
    for event in events:
        await h.publish(event)
    read = await h.redis.xreadgroup("reserves", "dead-reader", {stream: ">"}, count=len(events))
    assert len(read[0][1]) == len(events)


async def test_a_dead_readers_whole_read_is_reclaimed_in_one_claim(harness: Harness) -> None:
    h = harness
    levels = [stock_level(f"D-R{k:02d}", k + 1) for k in range(30)]
    await _left_pending_by_a_dead_reader(
        h, [depot_registered(f"D-R{k:02d}") for k in range(30)] + levels
    )
    [reclaimer] = [r for r in h.runtime.reclaimers() if r.stream == h.stream("ingress.events")]
    assert reclaimer.count == h.runtime.settings.max_records == 20

    cursor, outcomes = await reclaimer.claim_once()
    assert outcomes == [], "nothing is idle yet: a live reader may still be applying it"
    await asyncio.sleep(0.6)  # past reclaim_idle_ms=500
    cursor, outcomes = await reclaimer.claim_once()
    assert [o.kind for o in outcomes] == ["applied"] * 20  # one claim, one read's worth
    cursor, outcomes = await reclaimer.claim_once(cursor)
    assert [o.kind for o in outcomes] == ["applied"] * 20
    cursor, outcomes = await reclaimer.claim_once(cursor)
    assert [o.kind for o in outcomes] == ["applied"] * 20
    assert cursor == "0-0"
    assert await h.pending() == 0
    assert await h.redis.hlen(f"reserves:attempts:{h.stream('ingress.events')}") == 0
    total = await h.scalar("SELECT sum(on_hand_kg) FROM reserves_stock")
    assert total == sum(range(1, 31)) * 1000


async def test_a_running_service_recovers_what_a_dead_reader_left(harness: Harness) -> None:
    h = harness
    await _left_pending_by_a_dead_reader(
        h, [depot_registered(), *(stock_level(DEPOT, q) for q in (1, 2, 3))]
    )
    await h.runtime.start()
    try:
        await until(h.idle, "the dead reader's entries reclaimed, applied and relayed", 10)
        on_hand = await h.scalar(
            "SELECT on_hand_kg FROM reserves_stock WHERE depot_id = :d", d=DEPOT
        )
        assert on_hand == 3_000  # the last count, each applied once
        assert await h.scalar("SELECT count(*) FROM reserves_inbox") == 4
    finally:
        await h.runtime.stop()


async def test_a_pending_entry_deleted_from_the_stream_is_reported_not_passed_over(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """An operator's XDEL or XTRIM can remove an entry nobody acknowledged yet; Redis then
    drops it from the pending list on the next claim. It cannot be applied: it is logged."""
    h = harness
    await _left_pending_by_a_dead_reader(h, [depot_registered("D-GONE")])
    [entry_id, *_] = [e[0] for e in await h.redis.xrange(h.stream("ingress.events"))]
    await h.redis.xdel(h.stream("ingress.events"), entry_id)
    [reclaimer] = [r for r in h.runtime.reclaimers() if r.stream == h.stream("ingress.events")]
    await asyncio.sleep(0.6)
    with caplog.at_level("ERROR", logger="services.runtime.reclaim"):
        cursor, outcomes = await reclaimer.claim_once()
    assert (cursor, outcomes) == ("0-0", [])
    assert await h.pending() == 0
    assert entry_id.decode() in caplog.text
    assert "deleted from the stream before being applied" in caplog.text
