"""Dispatch re-plans against the legs of earlier plans that are not yet orders."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert

from services.dispatch.adapters import tables as t
from services.dispatch.app.planner import load_snapshot
from services.dispatch.bootstrap import SPEC
from services.dispatch.domain.planning import build_problem
from services.dispatch.routing import PreviousLeg
from services.runtime import db, migrate

NOW = datetime(2026, 5, 12, 6, 0, tzinfo=UTC)


async def test_requested_and_reserved_legs_are_the_previous_plan(tmp_path: Path) -> None:
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'dispatch.sqlite'}")
    try:
        await migrate.upgrade(engine, SPEC.name, SPEC.migrations)
        sessions = db.session_factory(engine)
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
    finally:
        await engine.dispose()
