"""Contract in, contract out, through each service's real FastStream subscribers.

FastStream's ``TestRedisBroker`` delivers stream messages without entry ids, and our readers
acknowledge by id after the commit, so this tier runs the real broker against the embedded
Redis-protocol server (fakeredis) and an SQLite file instead: the same path as production.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from contracts import dispatch as d
from contracts import incidents as i
from contracts import reserves as r
from contracts import streams
from contracts import transport as tr
from contracts.catalogue import Event, parse_event
from contracts.envelope import Envelope, Payload
from services.dispatch.bootstrap import create_runtime as dispatch_runtime
from services.dispatch.routing.planner import PRIORITY_WEIGHT
from services.dispatch.settings import DispatchSettings
from services.reserves.bootstrap import create_runtime as reserves_runtime
from services.runtime.service import ServiceRuntime
from services.runtime.settings import ServiceSettings
from services.runtime.wire import encode, fields
from services.transport.bootstrap import create_runtime as transport_runtime
from simulations.harness import embedded_redis

T0 = datetime(2026, 5, 12, 6, 0, tzinfo=UTC)


@pytest.fixture
def redis_url() -> Iterator[str]:
    with embedded_redis() as url:
        yield url


def settings(redis_url: str, tmp_path: Path) -> dict[str, Any]:
    return {
        "redis_url": redis_url,
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}",
        "consumer_name": "component",
        "polling_ms": 20,
        "outbox_poll_ms": 20,
    }


@pytest.fixture
async def bus(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


def event(cls: type[Envelope], data: Payload, n: int, subject: str = "") -> Envelope:
    return cls(
        id=f"test-{n}",
        source="urn:test",
        time=T0,
        subject=subject,
        correlationid="c",
        data=data,
    )


async def publish(bus: Redis, stream: str, *events: Envelope) -> None:
    for e in events:
        await bus.xadd(stream, fields(encode(e)))  # type: ignore[arg-type]


async def wait_for(bus: Redis, stream: str, type_: str, count: int = 1) -> list[Event]:
    for _ in range(500):
        found = [
            parse_event(data[b"event"])
            for _, data in await bus.xrange(stream)  # type: ignore[union-attr]
        ]
        found = [e for e in found if e.type == type_]
        if len(found) >= count:
            return found
        await asyncio.sleep(0.02)
    raise AssertionError(f"no {type_} on {stream}")


async def drained(bus: Redis, stream: str, group: str) -> None:
    """Wait until ``group`` has read and acknowledged everything on ``stream``."""
    for _ in range(500):
        last = (await bus.xinfo_stream(stream))["last-generated-id"]
        info = {g["name"].decode(): g for g in await bus.xinfo_groups(stream)}.get(group)
        if info and not info["pending"] and info["last-delivered-id"] == last:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{group} did not drain {stream}")


async def running(rt: ServiceRuntime) -> ServiceRuntime:
    await rt.start()
    return rt


def world() -> list[Envelope]:
    return [
        event(
            tr.NodeRegisteredV1,
            tr.NodeRegistered(node_id="N-a", name="A", kind="city", lat=30.0, lon=104.0),
            1,
        ),
        event(
            tr.NodeRegisteredV1,
            tr.NodeRegistered(node_id="N-b", name="B", kind="county", lat=30.0, lon=103.0),
            2,
        ),
        event(
            tr.LinkRegisteredV1,
            tr.LinkRegistered(
                link_id="L-ab",
                a="N-a",
                b="N-b",
                mode="road",
                length_km=100,
                capacity_t_per_day=5000,
            ),
            3,
        ),
        event(
            tr.AssetRegisteredV1,
            tr.AssetRegistered(
                asset_id="T-1",
                mode="road",
                capacity_t=20,
                speed_kmh=60,
                home_node_id="N-a",
                owner="civil",
            ),
            4,
        ),
        event(
            r.DepotRegisteredV1,
            r.DepotRegistered(
                depot_id="D-a", name="Depot A", node_id="N-a", tier="city", owner="civil"
            ),
            5,
        ),
        event(
            r.StockLevelReportedV1,
            r.StockLevelReported(depot_id="D-a", commodity="water", quantity=50, unit="t"),
            6,
        ),
    ]


async def test_reserves_answers_a_reservation_request_with_stock_reserved(
    bus: Redis, redis_url: str, tmp_path: Path
) -> None:
    rt = await running(reserves_runtime(ServiceSettings(**settings(redis_url, tmp_path))))
    try:
        await publish(bus, streams.INGRESS, *world()[4:])
        await drained(bus, streams.INGRESS, "reserves")
        request = d.ReservationRequested(
            reservation_id="R-1",
            plan_id="P-1",
            depot_id="D-a",
            need_id="N-1",
            commodity="water",
            quantity_kg=20_000,
        )
        await publish(bus, streams.DISPATCH, event(d.ReservationRequestedV1, request, 10))
        [reserved] = await wait_for(bus, streams.RESERVES, "hinterland.reserves.stock_reserved.v1")
        assert isinstance(reserved, r.StockReservedV1)
        assert reserved.data.quantity_kg == 20_000
        assert reserved.causationid == "test-10"
        levels = await wait_for(
            bus, streams.RESERVES, "hinterland.reserves.stock_level_reported.v1", 2
        )
        assert levels[-1].data.available_kg == 30_000  # type: ignore[union-attr]
    finally:
        await rt.stop()


async def test_transport_turns_a_cut_report_into_a_closed_link_and_a_summary(
    bus: Redis, redis_url: str, tmp_path: Path
) -> None:
    rt = await running(transport_runtime(ServiceSettings(**settings(redis_url, tmp_path))))
    try:
        await publish(bus, streams.INGRESS, *world()[:4])
        cut = i.DisruptionReported(
            disruption_id="Q-1", kind="link_cut", severity=4, observed_at=T0, links=["L-ab"]
        )
        await publish(bus, streams.INGRESS, event(i.DisruptionReportedV1, cut, 11))
        [change] = await wait_for(
            bus, streams.TRANSPORT, "hinterland.transport.link_status_changed.v1"
        )
        assert isinstance(change, tr.LinkStatusChangedV1)
        assert (change.data.link_id, change.data.status) == ("L-ab", "closed")
        [applied] = await wait_for(
            bus, streams.TRANSPORT, "hinterland.transport.disruption_applied.v1"
        )
        assert applied.data.closed_links == ["L-ab"]  # type: ignore[union-attr]
    finally:
        await rt.stop()


@contextlib.asynccontextmanager
async def dispatch_seeing_the_world(
    bus: Redis, redis_url: str, tmp_path: Path
) -> AsyncIterator[ServiceRuntime]:
    """Dispatch running, having read the world as the owning services re-publish it."""
    s = DispatchSettings(**settings(redis_url, tmp_path), debounce_s=0.05, solution_limit=10)
    rt, _planner = dispatch_runtime(s)
    await rt.start()
    try:
        w = world()
        await publish(bus, streams.TRANSPORT, *w[:4])
        await publish(bus, streams.RESERVES, *w[4:])
        await drained(bus, streams.TRANSPORT, "dispatch")
        await drained(bus, streams.RESERVES, "dispatch")
        yield rt
    finally:
        await rt.stop()


async def test_dispatch_plans_a_raised_need_and_asks_for_the_stock(
    bus: Redis, redis_url: str, tmp_path: Path
) -> None:
    async with dispatch_seeing_the_world(bus, redis_url, tmp_path):
        need = i.NeedRaised(
            need_id="N-1",
            node_id="N-b",
            commodity="water",
            quantity=10,
            unit="t",
            priority="life_saving",
            deadline=T0 + timedelta(hours=12),
        )
        await publish(bus, streams.INGRESS, event(i.NeedRaisedV1, need, 12))
        [plan] = await wait_for(bus, streams.DISPATCH, "hinterland.dispatch.plan_published.v2")
        assert isinstance(plan, d.PlanPublishedV2)
        [outcome] = plan.data.needs
        assert (outcome.need_id, outcome.status, outcome.served_kg) == ("N-1", "served", 10_000)
        [request] = await wait_for(
            bus, streams.DISPATCH, "hinterland.dispatch.reservation_requested.v1"
        )
        assert request.data.depot_id == "D-a"  # type: ignore[union-attr]
        assert request.data.quantity_kg == 10_000  # type: ignore[union-attr]


async def test_a_published_plan_carries_its_share_of_the_physical_limit(
    bus: Redis, redis_url: str, tmp_path: Path
) -> None:
    async with dispatch_seeing_the_world(bus, redis_url, tmp_path):
        # 10 t life-saving and 60 t sustaining water against 50 t in stock: not all can go.
        needs = [
            i.NeedRaised(
                need_id=need_id,
                node_id="N-b",
                commodity="water",
                quantity=tonnes,
                unit="t",
                priority=priority,
                deadline=T0 + timedelta(hours=12),
            )
            for need_id, tonnes, priority in [
                ("N-1", 10, "life_saving"),
                ("N-2", 60, "sustaining"),
            ]
        ]
        await publish(
            bus, streams.INGRESS, *(event(i.NeedRaisedV1, n, 20 + k) for k, n in enumerate(needs))
        )
        [plan, *_] = await wait_for(bus, streams.DISPATCH, "hinterland.dispatch.plan_published.v2")
    assert isinstance(plan, d.PlanPublishedV2)
    k = plan.data.kpis
    assert k.weighted_bound_kg is not None
    assert k.served_fraction_of_bound is not None
    weighted_served = sum(PRIORITY_WEIGHT[p] * kg for p, kg in k.served_kg_by_priority.items())
    # The limit bounds what any plan delivers: at most the weighted demand, at least this plan.
    weighted_requested = sum(
        PRIORITY_WEIGHT[p] * kg for p, kg in k.requested_kg_by_priority.items()
    )
    assert 0 < weighted_served <= k.weighted_bound_kg <= weighted_requested
    assert 0 < k.served_fraction_of_bound <= 1
    assert k.served_fraction_of_bound == pytest.approx(weighted_served / k.weighted_bound_kg)
