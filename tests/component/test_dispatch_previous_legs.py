"""Dispatch re-plans against earlier plans: legs not yet ordered, orders issued meanwhile,
triggers queued behind a plan."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from contracts.reserves import StockLevelReported, StockLevelReportedV1
from contracts.transport import DisruptionApplied, DisruptionAppliedV1
from services.dispatch.adapters import tables as t
from services.dispatch.app.handlers import HOLD_MAX
from services.dispatch.app.planner import BusSettled, Planner, _overtaken, load_snapshot
from services.dispatch.bootstrap import SPEC
from services.dispatch.domain.planning import build_problem
from services.dispatch.routing import (
    Depot,
    LogisticsProblem,
    Need,
    PreviousLeg,
    SolverParams,
    plan_deliveries,
)
from services.runtime import db, migrate
from tests.reliability.test_found_bugs import _apply, _reserve_all, _smoke_world_planner
from tests.unit.routing.test_routing_planner import DAY, line, truck

NOW = datetime(2026, 5, 12, 6, 0, tzinfo=UTC)


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[async_sessionmaker[Any]]:
    """Dispatch's tables, migrated, on a SQLite file of the test's own."""
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'dispatch.sqlite'}")
    await migrate.upgrade(engine, SPEC.name, SPEC.migrations)
    yield db.session_factory(engine)
    await engine.dispose()


def _disruption_elsewhere() -> DisruptionAppliedV1:
    """A trigger that changes nothing the smoke world's plan uses."""
    return DisruptionAppliedV1(
        id="applied-1",
        source="/test",
        time=datetime(2026, 5, 12, 6, 10, tzinfo=UTC),
        correlationid="c",
        data=DisruptionApplied(disruption_id="DIS-ELSEWHERE"),
    )


async def _planned_once(
    sessions: async_sessionmaker[Any], churn_cost_per_t: float = 20.0
) -> tuple[Planner, str, list[Any]]:
    """The smoke world planned once: the planner, the plan's id, its reservation rows."""
    planner = await _smoke_world_planner(sessions)
    planner.churn_cost_per_t = churn_cost_per_t
    plan_id = await planner.plan_once()
    assert plan_id is not None
    async with sessions() as session:
        first = list((await session.execute(select(t.reservations))).all())
    return planner, plan_id, first


async def trigger(sessions: async_sessionmaker[Any], event_id: str) -> None:
    async with sessions() as session, session.begin():
        await session.execute(
            insert(t.triggers).values(
                event_id=event_id, reason="test", time=NOW, correlationid="c", mode="live"
            )
        )


async def test_requested_and_reserved_legs_are_the_previous_plan(
    sessions: async_sessionmaker[Any],
) -> None:
    rows = [
        ("R-1", "V-2", "N-1", "D-1", 3_000, "requested"),
        ("R-2", "V-1", "N-2", "D-1", 1_000, "reserved"),
        ("R-3", "V-3", "N-1", "D-2", 2_000, "dispatched"),  # an order now: not re-planned
        ("R-4", "V-3", "N-3", "D-2", 2_000, "superseded"),
        ("R-5", "V-4", "N-3", "D-2", 2_000, "rejected"),
    ]
    async with sessions() as session, session.begin():
        await session.execute(
            insert(t.reservations),
            [
                {
                    "reservation_id": rid,
                    "plan_id": "P0001",
                    "vehicle_id": vehicle,
                    "need_id": need,
                    "depot_id": depot,
                    "commodity": "water",
                    "quantity_kg": kg,
                    "eta": NOW,
                    "status": status,
                }
                for rid, vehicle, need, depot, kg, status in rows
            ],
        )
    async with sessions() as session:
        snapshot = await load_snapshot(session, NOW)
    assert list(snapshot.previous) == [
        PreviousLeg("V-2", "N-1", "D-1", 3_000),
        PreviousLeg("V-1", "N-2", "D-1", 1_000),
    ]
    problem, _ = build_problem(snapshot, churn_cost_per_t=20.0)
    assert problem.previous == tuple(snapshot.previous)
    assert problem.churn_cost_per_t == 20.0


async def test_a_plan_is_redone_only_if_an_order_since_its_snapshot_touches_it(
    sessions: async_sessionmaker[Any],
) -> None:
    nodes, links = line("ABC")
    plan = plan_deliveries(
        LogisticsProblem(
            nodes,
            links,
            (Depot("D-1", "A", "civil", {"water": 10_000}),),
            (Need("N-1", "C", "water", 2_000, "life_saving", DAY),),
            (truck("V-1", "A"),),
        ),
        SolverParams(solution_limit=10),
    )
    assert {r.vehicle_id for r in plan.routes} == {"V-1"}

    async def order(order_id: str, vehicle: str, need: str) -> None:
        async with sessions() as session, session.begin():
            await session.execute(
                insert(t.orders).values(
                    order_id=order_id, plan_id=f"P-{order_id}", vehicle_id=vehicle, body="{}"
                )
            )
            await session.execute(
                insert(t.reservations).values(
                    reservation_id=f"R-{order_id}",
                    plan_id=f"P-{order_id}",
                    vehicle_id=vehicle,
                    need_id=need,
                    depot_id="D-1",
                    commodity="water",
                    quantity_kg=1_000,
                    eta=NOW,
                    status="dispatched",
                )
            )

    async def overtaken(before: set[str]) -> bool:
        async with sessions() as session:
            return await _overtaken(session, before, plan)

    await order("O-1", "V-1", "N-9")  # known when the plan was made
    assert not await overtaken({"O-1"})
    await order("O-2", "V-7", "N-8")  # another vehicle, another need
    assert not await overtaken({"O-1"})
    await order("O-3", "V-8", "N-1")  # a need this plan serves
    assert await overtaken({"O-1", "O-2"})
    assert not await overtaken({"O-1", "O-2", "O-3"})
    await order("O-4", "V-1", "N-7")  # a vehicle this plan uses
    assert await overtaken({"O-1", "O-2", "O-3"})


async def test_triggers_that_arrived_during_a_plan_are_planned_without_a_debounce(
    sessions: async_sessionmaker[Any],
) -> None:
    """A debounce lets a burst's consequences arrive; triggers queued behind a plan in progress
    have waited that long already, so only the first plan of a quiet spell waits for it."""

    calls: list[bool] = []
    planned = asyncio.Event()

    class Recording:
        async def settled(self, debounce: bool = True) -> None:
            calls.append(debounce)

    class Stub(Planner):
        async def plan_once(self) -> str | None:
            async with self._sessions() as session, session.begin():
                await session.execute(delete(t.triggers))
            if len(calls) == 1:
                await trigger(sessions, "E-2")  # arrives while the first plan is being made
            else:
                planned.set()
            return None

    planner = Stub(sessions, t.outbox, "dispatch", Recording(), SolverParams(), lambda: None)
    await trigger(sessions, "E-1")
    task = asyncio.create_task(planner.run())
    await asyncio.wait_for(planned.wait(), 10)
    await trigger(sessions, "E-3")  # a quiet spell, then a new trigger
    planner.wake()
    for _ in range(200):
        if len(calls) == 3:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert calls == [True, False, True]


async def test_answers_during_a_plan_wait_for_it_and_its_publication_sends_their_orders(
    sessions: async_sessionmaker[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reserves answers the first plan while the second is being made. Sent then, the orders
    would make the second plan (made on a snapshot without them) start over; under load that
    was every other plan. They wait for the second plan, which keeps those legs, and go out
    with it, as its orders."""
    planner, _first_id, first = await _planned_once(sessions)
    await _apply(sessions, _disruption_elsewhere())
    solve = planner._solve
    during: list[int] = []

    async def answered_meanwhile(problem: Any, params: Any) -> Any:
        await _reserve_all(sessions, first)
        async with sessions() as session:
            during.append(len((await session.execute(select(t.orders))).all()))
        return await solve(problem, params)

    monkeypatch.setattr(planner, "_solve", answered_meanwhile)
    second_id = await planner.plan_once()
    assert during == [0], "orders went out during the search"
    assert second_id is not None, "the plan was not redone"
    async with sessions() as session:
        orders = (await session.execute(select(t.orders))).all()
        hold = (await session.execute(select(t.order_hold))).all()
    assert {o.plan_id for o in orders} == {second_id}
    assert {o.vehicle_id for o in orders} == {r.vehicle_id for r in first}
    assert hold == []


async def test_a_plan_that_fails_still_sends_the_orders_it_held_back(
    sessions: async_sessionmaker[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    planner, _, first = await _planned_once(sessions, churn_cost_per_t=0.0)
    await _apply(sessions, _disruption_elsewhere())

    async def broken(problem: Any, params: Any) -> Any:
        await _reserve_all(sessions, first)
        raise RuntimeError("solver process died")

    monkeypatch.setattr(planner, "_solve", broken)
    with pytest.raises(RuntimeError):
        await planner.plan_once()
    async with sessions() as session:
        orders = (await session.execute(select(t.orders))).all()
        hold = (await session.execute(select(t.order_hold))).all()
        triggers = (await session.execute(select(t.triggers))).all()
    assert {o.vehicle_id for o in orders} == {r.vehicle_id for r in first}
    assert hold == []
    assert triggers, "the failed plan's triggers are kept for the retry"


async def test_a_hold_left_by_a_planner_long_gone_does_not_keep_orders_back(
    sessions: async_sessionmaker[Any],
) -> None:
    _planner, _, first = await _planned_once(sessions, churn_cost_per_t=0.0)
    async with sessions() as session, session.begin():
        await session.execute(
            insert(t.order_hold).values(
                holder="planner", since=datetime.now(UTC) - HOLD_MAX - timedelta(seconds=1)
            )
        )
    await _reserve_all(sessions, first)
    async with sessions() as session:
        orders = (await session.execute(select(t.orders))).all()
    assert {o.vehicle_id for o in orders} == {r.vehicle_id for r in first}


async def test_a_plan_overtaken_by_orders_is_redone_at_once_without_waiting_again(
    sessions: async_sessionmaker[Any],
) -> None:
    await trigger(sessions, "E-1")
    waits: list[bool] = []
    rounds: list[str] = []
    done = asyncio.Event()

    class Recording:
        async def settled(self, debounce: bool = True) -> None:
            waits.append(debounce)

    class Stub(Planner):
        async def plan_once(self) -> str | None:
            if not rounds:  # as plan_once does when an order overtook the search
                rounds.append("overtaken")
                self._overtaken_by_orders = True
                self._wake.set()
                return None
            rounds.append("planned")
            async with self._sessions() as session, session.begin():
                await session.execute(delete(t.triggers))
            done.set()
            return None

    planner = Stub(sessions, t.outbox, "dispatch", Recording(), SolverParams(), lambda: None)
    task = asyncio.create_task(planner.run())
    await asyncio.wait_for(done.wait(), 10)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert rounds == ["overtaken", "planned"]
    assert waits == [True]  # the redo did not wait for the bus again


async def test_a_plan_keeps_pending_reservations_it_asks_again_and_their_answers_issue_its_orders(
    sessions: async_sessionmaker[Any],
) -> None:
    """Each plan used to release every pending reservation and ask for it again: under load
    that doubled reserves' work per plan and kept the answers, and the orders, behind the
    next plan. Now an unchanged leg keeps its reservation, which passes to the new plan."""
    planner, first_id, first = await _planned_once(sessions)
    assert first
    assert {r.status for r in first} == {"requested"}
    await _apply(sessions, _disruption_elsewhere())
    async with sessions() as session:
        before = set(await session.scalars(select(t.outbox.c.event_id)))
    second_id = await planner.plan_once()
    assert second_id is not None
    assert second_id != first_id
    async with sessions() as session:
        rows = {r.reservation_id: r for r in await session.execute(select(t.reservations))}
        emitted = [
            json.loads(body)
            for event_id, body in await session.execute(
                select(t.outbox.c.event_id, t.outbox.c.body)
            )
            if event_id not in before
        ]
    types = Counter(e["type"].split(".")[-2] for e in emitted)
    # Nothing else changed, so the second plan asks for exactly what the first did: every
    # reservation is kept (same id, now the second plan's), none released, none asked again.
    assert set(rows) == {r.reservation_id for r in first}
    assert {r.plan_id for r in rows.values()} == {second_id}
    assert {r.status for r in rows.values()} == {"requested"}
    assert types == {"plan_requested": 1, "plan_published": 1}

    await _reserve_all(sessions, first)
    async with sessions() as session:
        orders = (await session.execute(select(t.orders))).all()
        statuses = set(await session.scalars(select(t.reservations.c.status)))
    assert orders
    assert {o.plan_id for o in orders} == {second_id}
    assert {o.vehicle_id for o in orders} == {r.vehicle_id for r in first}
    assert statuses == {"dispatched"}


async def test_live_triggers_queued_behind_a_plan_do_not_wait_for_the_bus(redis_url: str) -> None:
    """Live, the settle waits (boundedly) for every group to apply what is on the inputs; under
    load it never settled within the bound, a fixed delay per plan. Triggers queued behind a
    plan waited through it and are planned at once; a first trigger still waits."""

    class Untouchable:
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"the bus was consulted ({name})")

    queued = BusSettled(Untouchable(), ["s"], debounce_s=10.0, max_wait_s=10.0)  # type: ignore[arg-type]
    await asyncio.wait_for(queued.settled(debounce=False), 1.0)

    redis = Redis.from_url(redis_url)
    stream = f"test-unsettled-{uuid.uuid4()}"
    try:
        await redis.xadd(stream, {"event": "{}"})
        await redis.xgroup_create(stream, "asleep", id="0")  # a group that never reads
        settler = BusSettled(redis, [stream], debounce_s=0.01, max_wait_s=0.2)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await settler.settled(debounce=True)
        waited = loop.time() - started
    finally:
        await redis.delete(stream)
        await redis.aclose()
    assert waited >= 0.2  # the bound, as the group never caught up


async def test_a_plan_counts_the_stock_held_for_pending_legs_and_keeps_them(
    sessions: async_sessionmaker[Any],
) -> None:
    """Reserves has answered the first plan's legs and published what is left at each depot:
    nothing. A second plan, made before those answers became orders, used to see that stock
    as gone: it moved or dropped the legs and released them. It keeps them now."""
    planner, _first_id, first = await _planned_once(sessions)
    async with sessions() as session, session.begin():
        await session.execute(
            insert(t.order_hold).values(holder="planner", since=datetime.now(UTC))
        )
    await _reserve_all(sessions, first)  # held: the answers wait, as during a plan
    for k, (depot, commodity) in enumerate(sorted({(r.depot_id, r.commodity) for r in first})):
        level = StockLevelReported(
            depot_id=depot, commodity=commodity, quantity=0, unit="kg", available_kg=0
        )
        await _apply(
            sessions,
            StockLevelReportedV1(
                id=f"level-{k}", source="/test", time=NOW, correlationid="c", data=level
            ),
        )
    async with sessions() as session, session.begin():
        await session.execute(delete(t.order_hold))
        assert set(await session.scalars(select(t.reservations.c.status))) == {"reserved"}
        before = set(await session.scalars(select(t.outbox.c.event_id)))
    await _apply(sessions, _disruption_elsewhere())
    second_id = await planner.plan_once()
    assert second_id is not None
    async with sessions() as session:
        rows = (await session.execute(select(t.reservations))).all()
        orders = (await session.execute(select(t.orders))).all()
        emitted = [
            json.loads(body)["type"].split(".")[-2]
            for event_id, body in await session.execute(
                select(t.outbox.c.event_id, t.outbox.c.body)
            )
            if event_id not in before
        ]
    assert "release_requested" not in emitted
    assert {r.reservation_id for r in rows} == {r.reservation_id for r in first}
    assert {r.status for r in rows} == {"dispatched"}
    assert {o.plan_id for o in orders} == {second_id}
    assert {o.vehicle_id for o in orders} == {r.vehicle_id for r in first}


async def test_a_plan_overtaken_by_orders_is_dropped_and_the_relay_is_woken(
    sessions: async_sessionmaker[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A search that outlives its hold: answers meanwhile send their orders, for vehicles the
    plan uses. The plan is dropped and redone; its commit (the hold's end) wakes the relay."""
    planner, _, first = await _planned_once(sessions, churn_cost_per_t=0.0)
    await _apply(sessions, _disruption_elsewhere())
    commits: list[int] = []
    planner._on_committed = lambda: commits.append(1)
    solve = planner._solve

    async def outlived_its_hold(problem: Any, params: Any) -> Any:
        async with sessions() as session, session.begin():
            stale = datetime.now(UTC) - HOLD_MAX - timedelta(seconds=1)
            await session.execute(update(t.order_hold).values(since=stale))
        await _reserve_all(sessions, first)  # the orders go out
        commits.clear()
        return await solve(problem, params)

    monkeypatch.setattr(planner, "_solve", outlived_its_hold)
    assert await planner.plan_once() is None
    async with sessions() as session:
        triggers = (await session.execute(select(t.triggers))).all()
        hold = (await session.execute(select(t.order_hold))).all()
        plans = (await session.execute(select(t.plans))).all()
    assert planner._overtaken_by_orders
    assert triggers, "the triggers are kept for the plan redone"
    assert hold == []
    assert len(plans) == 1, "the overtaken plan was not published"
    assert commits == [1]
