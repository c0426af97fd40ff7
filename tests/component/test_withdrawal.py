"""A withdrawn disruption gives back what it closed, unless something else still holds it.

The rule (``services.transport.domain.model.withdraw_disruption``) is tested directly; then
transport and dispatch run on the embedded Redis-protocol server and an SQLite file, as in
``test_service_routers.py``: a cut link is withdrawn, transport reopens it, dispatch re-plans.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from contracts import dispatch as d
from contracts import incidents as i
from contracts import streams
from contracts import transport as tr
from contracts.catalogue import parse_event
from contracts.envelope import Envelope
from services.dispatch.adapters import tables as dt
from services.dispatch.bootstrap import create_runtime as dispatch_runtime
from services.dispatch.settings import DispatchSettings
from services.runtime.settings import ServiceSettings
from services.transport.adapters import tables as tt
from services.transport.bootstrap import create_runtime as transport_runtime
from services.transport.domain.model import (
    Disruption,
    Effect,
    LinkChange,
    LinkStateRow,
    NodeState,
    intended_effects,
    merge_effects,
    withdraw_disruption,
)
from simulations.harness import embedded_redis
from tests.component.test_service_routers import T0, drained, event, publish, settings, world

# --- the rule -------------------------------------------------------------------------------

NODES = {
    "a": NodeState("a", 30.0, 103.0, "open"),
    "b": NodeState("b", 30.0, 103.5, "open"),
}


def links(status: str = "closed", factor: float = 1.0) -> dict[str, LinkStateRow]:
    return {"ab": LinkStateRow("ab", "a", "b", "road", status, factor)}  # type: ignore[arg-type]


CUT = [Effect("link", "ab", "closed")]
SLOWED = [Effect("link", "ab", "degraded", 0.5)]


def withdraw(
    withdrawn: list[Effect],
    in_force: list[Effect],
    current: dict[str, LinkStateRow],
    nodes: dict[str, NodeState] = NODES,
    baseline: tuple[Any, float] = ("open", 1.0),
) -> Any:
    return withdraw_disruption(withdrawn, in_force, nodes, current, {"ab": baseline}, {})


def test_a_withdrawn_cut_reopens_the_link_when_nothing_else_holds_it() -> None:
    restored = withdraw(CUT, [], links())
    assert restored.links == [LinkChange("ab", "open", 1.0)]


def test_a_link_another_disruption_still_closes_stays_closed() -> None:
    assert withdraw(CUT, CUT, links()).links == []


def test_a_link_another_disruption_degrades_goes_back_to_that_degradation() -> None:
    assert withdraw(CUT, SLOWED, links()).links == [LinkChange("ab", "degraded", 0.5)]


def test_a_link_an_operator_closed_before_the_disruption_stays_closed() -> None:
    assert withdraw(CUT, [], links(), baseline=("closed", 1.0)).links == []


def test_a_link_an_operator_reopened_since_is_left_alone_and_named() -> None:
    restored = withdraw(CUT, SLOWED, links("open"))
    assert restored.links == []
    assert restored.left == ["link ab is open, set by hand since"]


def test_a_lost_node_reopens_with_the_links_its_loss_closed() -> None:
    quake = Disruption("Q", "earthquake", 5, links=[], nodes=["b"])
    effects = intended_effects(quake, NODES, list(links("open").values()))
    assert effects == [Effect("node", "b", "lost"), Effect("link", "ab", "closed")]
    lost = {**NODES, "b": NodeState("b", 30.0, 103.5, "lost")}
    restored = withdraw(effects, [], links(), nodes=lost)
    assert restored.nodes == ["b"]
    assert restored.links == [LinkChange("ab", "open", 1.0)]


def test_what_a_disruption_holds_is_recorded_on_a_pristine_network_and_only_grows() -> None:
    # the link is already closed, so applying the cut changes nothing; its intent is recorded
    cut = Disruption("Q", "link_cut", 4, links=["ab"], nodes=[])
    assert intended_effects(cut, NODES, list(links("closed").values())) == CUT
    assert merge_effects(CUT, SLOWED) == CUT  # an Update never gives anything back
    assert merge_effects(SLOWED, [Effect("link", "ab", "degraded", 0.7)]) == SLOWED


# --- transport and dispatch on the embedded bus ---------------------------------------------


@pytest.fixture
def redis_url() -> Iterator[str]:
    with embedded_redis() as url:
        yield url


@pytest.fixture
async def bus(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


def cut(disruption_id: str, n: int, degrade: float | None = None) -> Envelope:
    data = i.DisruptionReported(
        disruption_id=disruption_id,
        kind="link_cut",
        severity=4,
        observed_at=T0,
        links=["L-ab"],
        degrade_factor=degrade,
    )
    return event(i.DisruptionReportedV1, data, n, subject=disruption_id)


def withdrawn(disruption_id: str, n: int) -> Envelope:
    data = i.DisruptionWithdrawn(
        disruption_id=disruption_id, reason="bridge inspected", withdrawn_at=T0
    )
    return event(i.DisruptionWithdrawnV1, data, n, subject=disruption_id)


async def entries(bus: Redis, stream: str, type_: str) -> list[Any]:
    found: Any = await bus.xrange(stream)
    events = [parse_event(data[b"event"]) for _, data in found]
    return [e for e in events if e.type == type_]


async def wait_until(bus: Redis, stream: str, type_: str, count: int) -> list[Any]:
    for _ in range(750):
        found = await entries(bus, stream, type_)
        if len(found) >= count:
            return found
        await asyncio.sleep(0.02)
    raise AssertionError(f"fewer than {count} {type_} on {stream}")


LINK_CHANGED = "hinterland.transport.link_status_changed.v1"
PLAN = "hinterland.dispatch.plan_published.v2"


async def test_transport_reopens_only_what_no_disruption_in_force_still_holds(
    bus: Redis, redis_url: str, tmp_path: Path
) -> None:
    rt = transport_runtime(ServiceSettings(**settings(redis_url, tmp_path)))
    await rt.start()
    try:
        await publish(bus, streams.INGRESS, *world()[:4])
        await publish(bus, streams.INGRESS, cut("Q-1", 20), cut("Q-2", 21, degrade=0.5))
        await publish(bus, streams.INGRESS, withdrawn("Q-1", 22))
        await publish(bus, streams.INGRESS, withdrawn("Q-1", 23))  # again: nothing more
        await publish(bus, streams.INGRESS, withdrawn("Q-2", 24))
        await publish(bus, streams.INGRESS, withdrawn("Q-unknown", 25))
        await drained(bus, streams.INGRESS, "transport")
        changes = await wait_until(bus, streams.TRANSPORT, LINK_CHANGED, 3)
        async with rt.sessions() as session:
            link = (await session.execute(select(tt.links))).one()
            rows = await session.execute(select(tt.disruptions))
            withdrawals = {row.disruption_id: row.withdrawn_at for row in rows}
    finally:
        await rt.stop()
    assert [(c.data.status, c.data.capacity_factor, c.data.cause) for c in changes] == [
        ("closed", 1.0, "Q-1"),
        # Q-1 withdrawn: Q-2 still degrades the road (it could not while Q-1 had it closed)
        ("degraded", 0.5, "Q-1 withdrawn"),
        ("open", 1.0, "Q-2 withdrawn"),
    ]
    assert (link.status, link.factor) == ("open", 1.0)
    assert all(at is not None for at in withdrawals.values())
    dead: Any = await bus.xrange(streams.dead_letter(streams.INGRESS))
    [(_, letter)] = dead
    assert b"unknown disruption 'Q-unknown': nothing to withdraw" in letter[b"error"]


async def test_a_withdrawn_cut_reopens_the_link_and_dispatch_replans_to_serve_the_need(
    bus: Redis, redis_url: str, tmp_path: Path
) -> None:
    transport = transport_runtime(ServiceSettings(**settings(redis_url, tmp_path)))
    s = DispatchSettings(**settings(redis_url, tmp_path), debounce_s=0.05, solution_limit=10)
    dispatch, _planner = dispatch_runtime(s)
    await transport.start()
    await dispatch.start()
    try:
        w = world()
        await publish(bus, streams.INGRESS, *w[:4])  # transport re-publishes them to dispatch
        await publish(bus, streams.RESERVES, *w[4:])  # as reserves would
        await drained(bus, streams.INGRESS, "transport")
        await drained(bus, streams.TRANSPORT, "dispatch")
        await drained(bus, streams.RESERVES, "dispatch")
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
        await wait_until(bus, streams.DISPATCH, PLAN, 1)
        await publish(bus, streams.INGRESS, cut("Q-1", 13))
        await wait_until(bus, streams.DISPATCH, PLAN, 2)
        await publish(bus, streams.INGRESS, withdrawn("Q-1", 14))
        plans = await wait_until(bus, streams.DISPATCH, PLAN, 3)
        async with dispatch.sessions() as session:
            road = (
                await session.execute(select(dt.links).where(dt.links.c.link_id == "L-ab"))
            ).one()
    finally:
        await dispatch.stop()
        await transport.stop()
    outcomes = [(p.data.version, p.data.needs[0].status) for p in plans]
    assert outcomes == [(1, "served"), (2, "unserved"), (3, "served")]
    assert plans[1].data.needs[0].reason == "cut_off"
    [*_, reopened] = await entries(bus, streams.TRANSPORT, LINK_CHANGED)
    assert isinstance(reopened, tr.LinkStatusChangedV1)
    assert (reopened.data.link_id, reopened.data.status) == ("L-ab", "open")
    assert (road.status, road.factor) == ("open", 1.0)  # dispatch's read model follows
    # the re-plan names the reopened link among its triggers
    requests = await entries(bus, streams.DISPATCH, "hinterland.dispatch.plan_requested.v1")
    assert isinstance(requests[-1], d.PlanRequestedV1)
    assert "link L-ab open" in requests[-1].data.reason
