"""A tiny two-plan world with a civil and a military side, shared by the gateway tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.dispatch import (
    NeedPlan,
    NeedSource,
    PlanKpisV2,
    PlannedRoute,
    PlannedStop,
    PlanPublished,
    PlanPublishedPayloadV2,
)
from services.dispatch.adapters import tables as t

T0 = datetime(2026, 5, 12, 6, 0, tzinfo=UTC)


def stop(
    node: str,
    action: str,
    commodity: str,
    kg: int,
    *,
    depot: str | None = None,
    need: str | None = None,
    via: list[str] | None = None,
    at_h: float = 1,
) -> PlannedStop:
    return PlannedStop(
        node_id=node,
        action=action,
        depot_id=depot,
        need_id=need,
        commodity=commodity,
        quantity_kg=kg,
        eta=T0 + timedelta(hours=at_h),
        etd=T0 + timedelta(hours=at_h + 0.5),
        via_links=via or [],
    )


def plan(version: int, *, cut: bool | None = None) -> PlanPublishedPayloadV2:
    """Version 1: the civil truck goes a->b; version 2 (after a cut): it goes round via c.

    Both versions carry the military need NM from the military depot on the military truck,
    and the civil truck also carries dual-use fuel from the military depot for the civil
    need N-FUEL.
    """
    cut = version > 1 if cut is None else cut
    civil_route = PlannedRoute(
        vehicle_id="V-CIV",
        distance_km=300 if cut else 100,
        stops=[
            stop("N-a", "load", "medical", 10_000, depot="D-CIV", need="N-MED", at_h=0),
            stop("N-a", "load", "fuel", 5_000, depot="D-MIL", need="N-FUEL", at_h=0.5),
            stop(
                "N-b",
                "unload",
                "medical",
                10_000,
                need="N-MED",
                via=["L-ac", "L-cb"] if cut else ["L-ab"],
            ),
            stop("N-b", "unload", "fuel", 5_000, need="N-FUEL", at_h=2),
        ],
    )
    military_route = PlannedRoute(
        vehicle_id="V-MIL",
        distance_km=50,
        stops=[
            stop("N-a", "load", "fuel", 8_000, depot="D-MIL", need="NM-FUEL", at_h=0),
            stop("N-c", "unload", "fuel", 8_000, need="NM-FUEL", via=["L-ac"]),
        ],
    )
    needs = [
        NeedPlan(
            need_id="N-MED",
            requested_kg=10_000,
            served_kg=10_000,
            status="served",
            sources=[NeedSource(depot_id="D-CIV", vehicle_id="V-CIV", quantity_kg=10_000, eta=T0)],
        ),
        NeedPlan(
            need_id="N-FUEL",
            requested_kg=5_000,
            served_kg=5_000,
            status="served",
            sources=[NeedSource(depot_id="D-MIL", vehicle_id="V-CIV", quantity_kg=5_000, eta=T0)],
        ),
        NeedPlan(
            need_id="NM-FUEL",
            requested_kg=8_000,
            served_kg=8_000,
            status="served",
            sources=[NeedSource(depot_id="D-MIL", vehicle_id="V-MIL", quantity_kg=8_000, eta=T0)],
        ),
        NeedPlan(
            need_id="N-TENTS",
            requested_kg=20_000,
            served_kg=0,
            status="unserved",
            reason="cut_off" if cut else "no_stock",
            detail="no open route from any depot holding tents" if cut else "no tents in stock",
        ),
    ]
    return PlanPublishedPayloadV2(
        plan_id=f"P{version:04d}",
        version=version,
        supersedes=f"P{version - 1:04d}" if version > 1 else None,
        request_id=f"R{version}",
        routes=[civil_route, military_route],
        needs=needs,
        objective=1000 * version,
        solve_time_ms=5,
        kpis=PlanKpisV2(
            fill_rate=23_000 / 43_000,
            priority_weighted_fill=0.5,
            vehicles_used=2,
            distance_km=civil_route.distance_km + military_route.distance_km,
            served_kg_by_priority={"life_saving": 18_000, "sustaining": 5_000},
            requested_kg_by_priority={"life_saving": 18_000, "sustaining": 25_000},
            weighted_bound_kg=2_000_000,
            served_fraction_of_bound=(100 * 18_000 + 10 * 5_000) / 2_000_000,
        ),
        plan_hash=f"hash{version}",
    )


def plan_v1(version: int, *, cut: bool | None = None) -> PlanPublished:
    """``plan`` as dispatch published it before v2 (no physical limit in the KPIs)."""
    return PlanPublished.model_validate(plan(version, cut=cut).model_dump())


NEEDS: list[dict[str, Any]] = [
    {
        "need_id": "N-MED",
        "priority": "life_saving",
        "classification": "public",
        "commodity": "medical",
    },
    {
        "need_id": "N-FUEL",
        "priority": "sustaining",
        "classification": "public",
        "commodity": "fuel",
    },
    {
        "need_id": "NM-FUEL",
        "priority": "life_saving",
        "classification": "military",
        "commodity": "fuel",
    },
    {
        "need_id": "N-TENTS",
        "priority": "sustaining",
        "classification": "public",
        "commodity": "tents",
    },
]


async def seed_world(session: AsyncSession, versions: int = 2) -> None:
    """Dispatch's read model as the services would have left it, written directly."""
    await session.execute(
        insert(t.nodes),
        [
            {
                "node_id": "N-a",
                "name": "Alpha",
                "lat": 30.6,
                "lon": 104.0,
                "region": "S",
                "status": "open",
            },
            {
                "node_id": "N-b",
                "name": "Bravo",
                "lat": 30.0,
                "lon": 103.0,
                "region": "S",
                "status": "open",
            },
            {
                "node_id": "N-c",
                "name": "Charlie",
                "lat": 30.4,
                "lon": 103.4,
                "region": "S",
                "status": "open",
            },
        ],
    )
    await session.execute(
        insert(t.links),
        [
            {
                "link_id": "L-ab",
                "a": "N-a",
                "b": "N-b",
                "mode": "road",
                "length_km": 100,
                "status": "closed" if versions > 1 else "open",
                "factor": 1.0,
            },
            {
                "link_id": "L-ac",
                "a": "N-a",
                "b": "N-c",
                "mode": "road",
                "length_km": 60,
                "status": "open",
                "factor": 1.0,
            },
            {
                "link_id": "L-cb",
                "a": "N-c",
                "b": "N-b",
                "mode": "road",
                "length_km": 80,
                "status": "degraded",
                "factor": 0.5,
            },
        ],
    )
    await session.execute(
        insert(t.depots),
        [
            {
                "depot_id": "D-CIV",
                "name": "Civil depot",
                "node_id": "N-a",
                "owner": "civil",
                "status": "operational",
            },
            {
                "depot_id": "D-MIL",
                "name": "Military depot",
                "node_id": "N-a",
                "owner": "military",
                "status": "operational",
            },
        ],
    )
    await session.execute(
        insert(t.stock),
        [
            {"depot_id": "D-CIV", "commodity": "medical", "available_kg": 30_000},
            {"depot_id": "D-MIL", "commodity": "fuel", "available_kg": 90_000},
        ],
    )
    await session.execute(
        insert(t.assets),
        [
            {
                "asset_id": "V-CIV",
                "mode": "road",
                "capacity_kg": 20_000,
                "speed_kmh": 60,
                "owner": "civil",
                "status": "available",
                "node_id": "N-a",
                "busy_until": None,
            },
            {
                "asset_id": "V-MIL",
                "mode": "road",
                "capacity_kg": 20_000,
                "speed_kmh": 50,
                "owner": "military",
                "status": "available",
                "node_id": "N-a",
                "busy_until": None,
            },
        ],
    )
    await session.execute(
        insert(t.needs),
        [
            {
                **n,
                "node_id": "N-b" if n["need_id"] != "NM-FUEL" else "N-c",
                "quantity_kg": 10_000,
                "deadline": T0 + timedelta(hours=12),
                "precedence": 0,
                "raised_at": T0,
                "committed_kg": 0,
                "first_eta": None,
                "reason": None,
                "detail": "",
            }
            for n in NEEDS
        ],
    )
    for v in range(1, versions + 1):
        await add_plan(session, v)


async def add_plan(session: AsyncSession, version: int) -> None:
    p = plan(version, cut=version > 1)
    await session.execute(
        insert(t.plans).values(
            plan_id=p.plan_id,
            version=version,
            created_at=T0 + timedelta(hours=version),
            body=p.model_dump_json(),
        )
    )
