"""Transport use cases: keep the network and fleet, apply disruptions, track assignments."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select

from contracts import dispatch as d
from contracts import execution as ex
from contracts import incidents as i
from contracts import transport as tr
from contracts.catalogue import Event, type_name
from services.runtime.consumer import Unprocessable
from services.runtime.sql import upsert
from services.runtime.transaction import Transaction
from services.transport.adapters import tables as t
from services.transport.domain.model import (
    Disruption,
    Effect,
    LinkStateRow,
    LinkTarget,
    NodeState,
    apply_disruption,
    intended_effects,
    merge_effects,
    withdraw_disruption,
)


async def register_node(evt: tr.NodeRegisteredV1, tx: Transaction) -> None:
    n = evt.data
    await upsert(
        tx.session,
        t.nodes,
        {"node_id": n.node_id},
        {
            "name": n.name,
            "kind": n.kind,
            "lat": n.lat,
            "lon": n.lon,
            "region": n.region,
            "status": "open",
            "manual_status": "open",
        },
    )
    tx.emit(tr.NodeRegisteredV1, n, subject=n.node_id)


async def _require_nodes(tx: Transaction, *node_ids: str) -> None:
    rows = await tx.session.execute(
        select(t.nodes.c.node_id).where(t.nodes.c.node_id.in_(node_ids))
    )
    missing = sorted(set(node_ids) - {r.node_id for r in rows})
    if missing:
        raise Unprocessable(f"unknown node(s) {missing}: register them first")


async def register_link(evt: tr.LinkRegisteredV1, tx: Transaction) -> None:
    link = evt.data
    await _require_nodes(tx, link.a, link.b)
    await upsert(
        tx.session,
        t.links,
        {"link_id": link.link_id},
        {
            "a": link.a,
            "b": link.b,
            "mode": link.mode,
            "length_km": link.length_km,
            "capacity_t_per_day": link.capacity_t_per_day,
            "name": link.name,
            "status": "open",
            "factor": 1.0,
            "manual_status": "open",
            "manual_factor": 1.0,
        },
    )
    tx.emit(tr.LinkRegisteredV1, link, subject=link.link_id)


async def register_asset(evt: tr.AssetRegisteredV1, tx: Transaction) -> None:
    a = evt.data
    await _require_nodes(tx, a.home_node_id)
    await upsert(
        tx.session,
        t.assets,
        {"asset_id": a.asset_id},
        {
            "name": a.name,
            "mode": a.mode,
            "capacity_t": a.capacity_t,
            "speed_kmh": a.speed_kmh,
            "home_node_id": a.home_node_id,
            "owner": a.owner,
            "available": a.available,
            "status": "available" if a.available else "maintenance",
            "node_id": a.home_node_id,
            "order_id": None,
            "busy_until": None,
            "classification": evt.classification,
        },
    )
    tx.emit(tr.AssetRegisteredV1, a, subject=a.asset_id)


async def _asset_classification(tx: Transaction, asset_id: str) -> Any:
    value = await tx.session.scalar(
        select(t.assets.c.classification).where(t.assets.c.asset_id == asset_id)
    )
    if value is None:
        raise Unprocessable(f"unknown asset {asset_id!r}: register it first")
    return value


async def asset_status(evt: tr.AssetStatusChangedV1, tx: Transaction) -> None:
    a = evt.data
    classification = await _asset_classification(tx, a.asset_id)
    values: dict[str, Any] = {"status": a.status, "order_id": a.order_id, "busy_until": None}
    if a.node_id is not None:
        values["node_id"] = a.node_id
    await upsert(tx.session, t.assets, {"asset_id": a.asset_id}, values)
    tx.emit(tr.AssetStatusChangedV1, a, subject=a.asset_id, classification=classification)


async def link_status(evt: tr.LinkStatusChangedV1, tx: Transaction) -> None:
    """An operator or integrated system sets a link's state; it is also the baseline a
    withdrawn disruption gives the link back to."""
    link = evt.data
    found = await tx.session.scalar(
        select(t.links.c.link_id).where(t.links.c.link_id == link.link_id)
    )
    if found is None:
        raise Unprocessable(f"unknown link {link.link_id!r}")
    await upsert(
        tx.session,
        t.links,
        {"link_id": link.link_id},
        {
            "status": link.status,
            "factor": link.capacity_factor,
            "manual_status": link.status,
            "manual_factor": link.capacity_factor,
        },
    )
    tx.emit(tr.LinkStatusChangedV1, link, subject=link.link_id)


async def node_status(evt: tr.NodeStatusChangedV1, tx: Transaction) -> None:
    await _require_nodes(tx, evt.data.node_id)
    status = evt.data.status
    await upsert(
        tx.session,
        t.nodes,
        {"node_id": evt.data.node_id},
        {"status": status, "manual_status": status},
    )
    tx.emit(tr.NodeStatusChangedV1, evt.data, subject=evt.data.node_id)


async def _network(tx: Transaction) -> tuple[dict[str, NodeState], list[LinkStateRow]]:
    nodes = {
        r.node_id: NodeState(r.node_id, r.lat, r.lon, r.status)
        for r in await tx.session.execute(select(t.nodes))
    }
    links = [
        LinkStateRow(r.link_id, r.a, r.b, r.mode, r.status, r.factor)
        for r in await tx.session.execute(select(t.links))
    ]
    return nodes, links


def _rule_input(data: i.DisruptionReported) -> Disruption:
    area = data.area
    return Disruption(
        disruption_id=data.disruption_id,
        kind=data.kind,
        severity=data.severity,
        links=data.links,
        nodes=data.nodes,
        circle=(area.lat, area.lon, area.radius_km) if area and area.shape == "circle" else None,
        polygon=area.points if area and area.shape == "polygon" else None,
        degrade_factor=data.degrade_factor,
    )


async def _recorded_effects(tx: Transaction, disruption_id: str) -> list[Effect]:
    rows = await tx.session.execute(
        select(t.disruption_effects).where(t.disruption_effects.c.disruption_id == disruption_id)
    )
    return [Effect(r.target, r.target_id, r.status, r.factor) for r in rows]


async def _record_effects(tx: Transaction, disruption_id: str, effects: list[Effect]) -> None:
    await tx.session.execute(
        delete(t.disruption_effects).where(t.disruption_effects.c.disruption_id == disruption_id)
    )
    if effects:
        await tx.session.execute(
            insert(t.disruption_effects),
            [
                {
                    "disruption_id": disruption_id,
                    "target": e.target,
                    "target_id": e.target_id,
                    "status": e.status,
                    "factor": e.factor,
                }
                for e in effects
            ],
        )


async def disruption(evt: i.DisruptionReportedV1, tx: Transaction) -> None:
    data = evt.data
    before = (
        await tx.session.execute(
            select(t.disruptions.c.withdrawn_at).where(
                t.disruptions.c.disruption_id == data.disruption_id
            )
        )
    ).first()
    await upsert(
        tx.session,
        t.disruptions,
        {"disruption_id": data.disruption_id},
        {"kind": data.kind, "body": data.model_dump_json(), "withdrawn_at": None},
    )
    nodes, links = await _network(tx)
    rule_input = _rule_input(data)
    # What it holds down, for a later withdrawal: a re-report never gives anything back,
    # a report after a withdrawal starts afresh.
    earlier = (
        await _recorded_effects(tx, data.disruption_id)
        if before is not None and before.withdrawn_at is None
        else []
    )
    await _record_effects(
        tx, data.disruption_id, merge_effects(earlier, intended_effects(rule_input, nodes, links))
    )
    changes, lost = apply_disruption(rule_input, nodes, links)
    for node_id in lost:
        await upsert(tx.session, t.nodes, {"node_id": node_id}, {"status": "lost"})
        tx.emit(
            tr.NodeStatusChangedV1,
            tr.NodeStatusChanged(node_id=node_id, status="lost", cause=data.disruption_id),
            subject=node_id,
        )
    for c in changes:
        await upsert(
            tx.session, t.links, {"link_id": c.link_id}, {"status": c.status, "factor": c.factor}
        )
        tx.emit(
            tr.LinkStatusChangedV1,
            tr.LinkStatusChanged(
                link_id=c.link_id,
                status=c.status,
                capacity_factor=c.factor,
                cause=data.disruption_id,
            ),
            subject=c.link_id,
        )
    # Dispatch plans on this summary, which follows every change above on the same stream.
    tx.emit(
        tr.DisruptionAppliedV1,
        tr.DisruptionApplied(
            disruption_id=data.disruption_id,
            closed_links=[c.link_id for c in changes if c.status == "closed"],
            degraded_links=[c.link_id for c in changes if c.status == "degraded"],
            lost_nodes=lost,
        ),
        subject=data.disruption_id,
    )


async def _effects_in_force(
    tx: Transaction,
    except_id: str,
    nodes: dict[str, NodeState],
    links: list[LinkStateRow],
) -> list[Effect]:
    """The effects of every disruption still in force but ``except_id``. Disruptions applied
    before effects were recorded get theirs computed from their report, on today's network."""
    rows = await tx.session.execute(
        select(t.disruptions.c.disruption_id, t.disruptions.c.body).where(
            t.disruptions.c.withdrawn_at.is_(None), t.disruptions.c.disruption_id != except_id
        )
    )
    active = {r.disruption_id: r.body for r in rows}
    if not active:
        return []
    recorded = await tx.session.execute(
        select(t.disruption_effects).where(t.disruption_effects.c.disruption_id.in_(active))
    )
    effects: list[Effect] = []
    seen: set[str] = set()
    for r in recorded:
        seen.add(r.disruption_id)
        effects.append(Effect(r.target, r.target_id, r.status, r.factor))
    for disruption_id in sorted(active.keys() - seen):
        report = i.DisruptionReported.model_validate_json(active[disruption_id])
        effects.extend(intended_effects(_rule_input(report), nodes, links))
    return effects


async def disruption_withdrawn(evt: i.DisruptionWithdrawnV1, tx: Transaction) -> None:
    """Give back what a withdrawn disruption closed, degraded or lost, where no disruption
    still in force (and no operator) holds it; dispatch re-plans on the changes."""
    w = evt.data
    row = (
        await tx.session.execute(
            select(t.disruptions).where(t.disruptions.c.disruption_id == w.disruption_id)
        )
    ).first()
    if row is None:
        raise Unprocessable(f"unknown disruption {w.disruption_id!r}: nothing to withdraw")
    if row.withdrawn_at is not None:
        return  # withdrawn already (another withdrawal event): nothing left to give back
    await upsert(
        tx.session,
        t.disruptions,
        {"disruption_id": w.disruption_id},
        {"withdrawn_at": w.withdrawn_at},
    )
    nodes, links = await _network(tx)
    withdrawn = await _recorded_effects(tx, w.disruption_id)
    if not withdrawn:  # applied before effects were recorded
        report = i.DisruptionReported.model_validate_json(row.body)
        withdrawn = intended_effects(_rule_input(report), nodes, links)
    baselines: dict[str, LinkTarget] = {
        r.link_id: (r.manual_status, r.manual_factor)
        for r in await tx.session.execute(
            select(t.links.c.link_id, t.links.c.manual_status, t.links.c.manual_factor)
        )
    }
    node_baselines = {
        r.node_id: r.manual_status
        for r in await tx.session.execute(select(t.nodes.c.node_id, t.nodes.c.manual_status))
    }
    restored = withdraw_disruption(
        withdrawn,
        await _effects_in_force(tx, w.disruption_id, nodes, links),
        nodes,
        {x.link_id: x for x in links},
        baselines,
        node_baselines,
    )
    cause = f"{w.disruption_id} withdrawn"
    for node_id in restored.nodes:
        await upsert(tx.session, t.nodes, {"node_id": node_id}, {"status": "open"})
        tx.emit(
            tr.NodeStatusChangedV1,
            tr.NodeStatusChanged(node_id=node_id, status="open", cause=cause),
            subject=node_id,
        )
    for c in restored.links:
        await upsert(
            tx.session, t.links, {"link_id": c.link_id}, {"status": c.status, "factor": c.factor}
        )
        tx.emit(
            tr.LinkStatusChangedV1,
            tr.LinkStatusChanged(
                link_id=c.link_id, status=c.status, capacity_factor=c.factor, cause=cause
            ),
            subject=c.link_id,
        )


async def dispatch_order(evt: d.DispatchOrderIssuedV1, tx: Transaction) -> None:
    o = evt.data
    classification = await _asset_classification(tx, o.vehicle_id)
    last_node = o.stops[-1].node_id if o.stops else None
    until: datetime = o.release_at
    values: dict[str, Any] = {"status": "assigned", "order_id": o.order_id, "busy_until": until}
    if last_node:
        values["node_id"] = last_node
    await upsert(tx.session, t.assets, {"asset_id": o.vehicle_id}, values)
    tx.emit(
        tr.AssetStatusChangedV1,
        tr.AssetStatusChanged(
            asset_id=o.vehicle_id,
            status="assigned",
            node_id=last_node,
            order_id=o.order_id,
            until=until.isoformat(),
        ),
        subject=o.vehicle_id,
        classification=classification,
    )


async def order_progress(evt: ex.OrderProgressReportedV1, tx: Transaction) -> None:
    """A vehicle finished its order (free where it is) or broke down (out of service)."""
    p = evt.data
    if p.stage not in ("completed", "broken_down"):
        return
    classification = await _asset_classification(tx, p.vehicle_id)
    current = await tx.session.scalar(
        select(t.assets.c.order_id).where(t.assets.c.asset_id == p.vehicle_id)
    )
    if p.stage == "completed" and current not in (None, p.order_id):
        return  # a later order already holds the vehicle: this report is stale
    status: tr.AssetStatus = "available" if p.stage == "completed" else "maintenance"
    await upsert(
        tx.session,
        t.assets,
        {"asset_id": p.vehicle_id},
        {"status": status, "order_id": None, "busy_until": None, "node_id": p.node_id},
    )
    tx.emit(
        tr.AssetStatusChangedV1,
        tr.AssetStatusChanged(asset_id=p.vehicle_id, status=status, node_id=p.node_id),
        subject=p.vehicle_id,
        classification=classification,
    )


_HANDLERS: dict[str, Callable[[Any, Transaction], Awaitable[None]]] = {
    type_name(tr.NodeRegisteredV1): register_node,
    type_name(tr.LinkRegisteredV1): register_link,
    type_name(tr.AssetRegisteredV1): register_asset,
    type_name(tr.AssetStatusChangedV1): asset_status,
    type_name(tr.LinkStatusChangedV1): link_status,
    type_name(tr.NodeStatusChangedV1): node_status,
    type_name(i.DisruptionReportedV1): disruption,
    type_name(i.DisruptionWithdrawnV1): disruption_withdrawn,
    type_name(d.DispatchOrderIssuedV1): dispatch_order,
    type_name(ex.OrderProgressReportedV1): order_progress,
}
HANDLED = frozenset(_HANDLERS)


async def handle(event: Event, tx: Transaction) -> None:
    await _HANDLERS[event.type](event, tx)
