"""Reads of dispatch's read model (and the gateway's decisions), filtered for a clearance.

Every function takes the caller's ``Hidden`` set, so nothing above their clearance leaves
this module; the console and the live stream are built from these same functions.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.dispatch import DispatchOrderIssued, PlanPublished
from contracts.envelope import Classification, Mode
from contracts.incidents import DisruptionReported
from services.dispatch.adapters import tables as t
from services.gateway import tables as g
from services.gateway.changes import plan_changes
from services.gateway.models import (
    AssetView,
    DecisionView,
    DepotView,
    DisruptionView,
    ExerciseStatus,
    LinkView,
    NeedView,
    Network,
    NodeView,
    OrderView,
    PlanSummary,
    PlanView,
    Snapshot,
    StockLine,
)
from services.gateway.redaction import Hidden, hidden_for, redact_plan, redact_reason
from services.runtime.ids import derived_id
from services.runtime.sql import aware

DISPATCH_SOURCE = "/hinterland/dispatch"


async def hidden(session: AsyncSession, clearance: Classification) -> Hidden:
    if clearance == "military":
        return Hidden()
    needs = await session.execute(
        select(t.needs.c.need_id, t.needs.c.classification, t.needs.c.priority)
    )
    vehicles = await session.execute(select(t.assets.c.asset_id, t.assets.c.owner))
    depots = await session.execute(select(t.depots.c.depot_id, t.depots.c.owner))
    return hidden_for(
        clearance,
        [(n, c, p) for n, c, p in needs],
        [(a, o) for a, o in vehicles],
        [(d, o) for d, o in depots],
    )


async def stamp(session: AsyncSession) -> str:
    """Cheap fingerprint of everything the console shows: changes when any of it changes."""
    inbox = (await session.execute(select(func.count(), func.max(t.inbox.c.processed_at)))).one()
    seq = await session.scalar(select(func.max(t.outbox.c.seq)))
    decision = await session.scalar(select(func.max(g.decisions.c.id)))
    return f"{inbox[0]}:{inbox[1]}:{seq}:{decision}"


async def network(session: AsyncSession) -> Network:
    nodes = await session.execute(select(t.nodes).order_by(t.nodes.c.node_id))
    links = await session.execute(select(t.links).order_by(t.links.c.link_id))
    return Network(
        nodes=[
            NodeView(
                node_id=n.node_id,
                name=n.name,
                lat=n.lat,
                lon=n.lon,
                region=n.region,
                status=n.status,
            )
            for n in nodes
        ],
        links=[
            LinkView(
                link_id=x.link_id,
                a=x.a,
                b=x.b,
                mode=x.mode,
                length_km=x.length_km,
                status=x.status,
                factor=x.factor,
            )
            for x in links
        ],
    )


async def stock(session: AsyncSession, h: Hidden) -> list[StockLine]:
    rows = await session.execute(select(t.stock).order_by(t.stock.c.depot_id, t.stock.c.commodity))
    return [
        StockLine(depot_id=s.depot_id, commodity=s.commodity, available_kg=int(s.available_kg))
        for s in rows
        if s.depot_id not in h.depots
    ]


async def depots(session: AsyncSession, h: Hidden) -> list[DepotView]:
    lines: dict[str, dict[str, int]] = {}
    for s in await stock(session, h):
        lines.setdefault(s.depot_id, {})[s.commodity] = s.available_kg
    rows = await session.execute(select(t.depots).order_by(t.depots.c.depot_id))
    return [
        DepotView(
            depot_id=d.depot_id,
            name=d.name,
            node_id=d.node_id,
            owner=d.owner,
            status=d.status,
            stock_kg=lines.get(d.depot_id, {}),
        )
        for d in rows
        if d.depot_id not in h.depots
    ]


async def assets(session: AsyncSession, h: Hidden) -> list[AssetView]:
    rows = await session.execute(select(t.assets).order_by(t.assets.c.asset_id))
    return [
        AssetView(
            asset_id=a.asset_id,
            mode=a.mode,
            capacity_kg=int(a.capacity_kg),
            speed_kmh=a.speed_kmh,
            owner=a.owner,
            status=a.status,
            node_id=a.node_id,
            busy_until=aware(a.busy_until),
        )
        for a in rows
        if a.asset_id not in h.vehicles
    ]


async def needs(session: AsyncSession, h: Hidden) -> list[NeedView]:
    rows = await session.execute(select(t.needs).order_by(t.needs.c.need_id))
    return [
        NeedView(
            need_id=n.need_id,
            node_id=n.node_id,
            commodity=n.commodity,
            quantity_kg=int(n.quantity_kg),
            committed_kg=int(n.committed_kg),
            priority=n.priority,
            deadline=aware(n.deadline),
            precedence=n.precedence,
            classification=n.classification,
            raised_at=aware(n.raised_at),
            reason=n.reason,
            detail=n.detail,
        )
        for n in rows
        if n.need_id not in h.needs
    ]


async def disruptions(session: AsyncSession, h: Hidden) -> list[DisruptionView]:
    rows = await session.execute(select(t.disruptions).order_by(t.disruptions.c.observed_at))
    out = []
    for r in rows:
        report = DisruptionReported.model_validate_json(r.body)
        if any(d in h.depots for d in report.depots):
            shown = [d for d in report.depots if d not in h.depots]
            if not (shown or report.links or report.nodes or report.area):
                continue  # it concerned nothing but depots the caller may not see
            report = report.model_copy(update={"depots": shown})
        out.append(
            DisruptionView(
                disruption_id=r.disruption_id,
                kind=r.kind,
                observed_at=aware(r.observed_at),
                report=report,
            )
        )
    return out


async def orders(session: AsyncSession, h: Hidden) -> list[OrderView]:
    rows = await session.execute(select(t.orders).order_by(t.orders.c.order_id))
    out = []
    for r in rows:
        if r.vehicle_id in h.vehicles:
            continue
        order = DispatchOrderIssued.model_validate_json(r.body)
        need_ids = sorted({s.need_id for s in order.stops if s.need_id} - h.needs.keys())
        if not need_ids:
            continue
        out.append(
            OrderView(
                order_id=order.order_id,
                plan_id=order.plan_id,
                vehicle_id=order.vehicle_id,
                need_ids=need_ids,
                release_at=order.release_at,
            )
        )
    return out


async def _decisions(session: AsyncSession, plan_ids: list[str]) -> dict[str, DecisionView]:
    """The latest decision on each plan."""
    rows = await session.execute(
        select(g.decisions).where(g.decisions.c.plan_id.in_(plan_ids)).order_by(g.decisions.c.id)
    )
    return {
        r.plan_id: DecisionView(
            plan_id=r.plan_id,
            version=r.version,
            decision=r.decision,
            note=r.note,
            username=r.username,
            at=aware(r.at),
        )
        for r in rows
    }


async def _reason(session: AsyncSession, request_id: str) -> str:
    # Dispatch's plan_requested event is the first it emits for a request (see its planner),
    # so its id is derived from the request id; its reason names the triggers.
    body = await session.scalar(
        select(t.outbox.c.body).where(
            t.outbox.c.event_id == derived_id(request_id, DISPATCH_SOURCE, 0)
        )
    )
    if body is None:
        return ""
    reason = json.loads(body).get("data", {}).get("reason", "")
    return str(reason)


async def latest_version(session: AsyncSession) -> int | None:
    version = await session.scalar(select(func.max(t.plans.c.version)))
    return int(version) if version is not None else None


async def plan_row(session: AsyncSession, plan_id: str | None = None) -> Any:
    """The plan row with ``plan_id``, or the current (latest) one."""
    query = select(t.plans)
    if plan_id is None:
        query = query.order_by(t.plans.c.version.desc()).limit(1)
    else:
        query = query.where(t.plans.c.plan_id == plan_id)
    return (await session.execute(query)).first()


async def plan(session: AsyncSession, h: Hidden, plan_id: str | None = None) -> PlanView | None:
    row = await plan_row(session, plan_id)
    if row is None:
        return None
    current = redact_plan(PlanPublished.model_validate_json(row.body), h)
    previous_body = await session.scalar(
        select(t.plans.c.body).where(t.plans.c.version == row.version - 1)
    )
    changes = (
        plan_changes(redact_plan(PlanPublished.model_validate_json(previous_body), h), current)
        if previous_body is not None
        else None
    )
    decision = (await _decisions(session, [row.plan_id])).get(row.plan_id)
    return PlanView(
        plan=current,
        created_at=aware(row.created_at),
        reason=redact_reason(await _reason(session, current.request_id), h),
        current=row.version == await latest_version(session),
        changes=changes,
        decision=decision,
    )


async def plans(session: AsyncSession, h: Hidden, limit: int = 50) -> list[PlanSummary]:
    rows = (
        await session.execute(select(t.plans).order_by(t.plans.c.version.desc()).limit(limit))
    ).all()
    decided = await _decisions(session, [r.plan_id for r in rows])
    out = []
    for r in rows:
        p = redact_plan(PlanPublished.model_validate_json(r.body), h)
        out.append(
            PlanSummary(
                plan_id=p.plan_id,
                version=p.version,
                created_at=aware(r.created_at),
                fill_rate=p.kpis.fill_rate,
                routes=len(p.routes),
                unserved=sum(1 for n in p.needs if n.status != "served"),
                decision=decided.get(p.plan_id),
            )
        )
    return out


async def snapshot(
    session: AsyncSession,
    clearance: Classification,
    mode: Mode,
    exercise: ExerciseStatus | None,
) -> Snapshot:
    h = await hidden(session, clearance)
    return Snapshot(
        mode=mode,
        stamp=await stamp(session),
        network=await network(session),
        depots=await depots(session, h),
        assets=await assets(session, h),
        needs=await needs(session, h),
        disruptions=await disruptions(session, h),
        plan=await plan(session, h),
        exercise=exercise,
    )
