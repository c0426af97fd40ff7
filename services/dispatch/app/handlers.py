"""Dispatch use cases on incoming events: keep the read model, record triggers, issue orders."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import dispatch as d
from contracts import execution as ex
from contracts import incidents as i
from contracts import reserves as r
from contracts import transport as tr
from contracts.catalogue import Event, type_name
from contracts.common import to_kg
from services.dispatch.adapters import tables as t
from services.runtime.sql import advisory_lock, aware, upsert
from services.runtime.transaction import Transaction


async def add_trigger(tx: Transaction, event: Event, reason: str) -> None:
    await tx.session.execute(
        insert(t.triggers).values(
            event_id=event.id,
            reason=reason,
            time=event.time,
            correlationid=event.correlationid,
            mode=event.mode,
        )
    )


async def node_registered(evt: tr.NodeRegisteredV1, tx: Transaction) -> None:
    n = evt.data
    await upsert(
        tx.session,
        t.nodes,
        {"node_id": n.node_id},
        {"name": n.name, "lat": n.lat, "lon": n.lon, "region": n.region, "status": "open"},
    )


async def link_registered(evt: tr.LinkRegisteredV1, tx: Transaction) -> None:
    link = evt.data
    await upsert(
        tx.session,
        t.links,
        {"link_id": link.link_id},
        {
            "a": link.a,
            "b": link.b,
            "mode": link.mode,
            "length_km": link.length_km,
            "status": "open",
            "factor": 1.0,
        },
    )


async def link_status(evt: tr.LinkStatusChangedV1, tx: Transaction) -> None:
    link = evt.data
    await upsert(
        tx.session,
        t.links,
        {"link_id": link.link_id},
        {"status": link.status, "factor": link.capacity_factor},
    )
    await add_trigger(tx, evt, f"link {link.link_id} {link.status}")


async def node_status(evt: tr.NodeStatusChangedV1, tx: Transaction) -> None:
    await upsert(tx.session, t.nodes, {"node_id": evt.data.node_id}, {"status": evt.data.status})
    await add_trigger(tx, evt, f"node {evt.data.node_id} {evt.data.status}")


async def asset_registered(evt: tr.AssetRegisteredV1, tx: Transaction) -> None:
    a = evt.data
    await upsert(
        tx.session,
        t.assets,
        {"asset_id": a.asset_id},
        {
            "mode": a.mode,
            "capacity_kg": to_kg(a.capacity_t, "t"),
            "speed_kmh": a.speed_kmh,
            "owner": a.owner,
            "status": "available" if a.available else "maintenance",
            "node_id": a.home_node_id,
            "busy_until": None,
        },
    )


async def asset_status(evt: tr.AssetStatusChangedV1, tx: Transaction) -> None:
    a = evt.data
    before = (
        await tx.session.execute(select(t.assets).where(t.assets.c.asset_id == a.asset_id))
    ).first()
    # A vehicle freed where and when the plan expected it changes nothing worth a re-plan.
    expected = (
        a.status == "available"
        and before is not None
        and before.status == "assigned"
        and before.busy_until is not None
        and aware(before.busy_until) <= evt.time
        and a.node_id in (None, before.node_id)
    )
    values: dict[str, Any] = {"status": a.status}
    if a.node_id:
        values["node_id"] = a.node_id
    values["busy_until"] = datetime.fromisoformat(a.until) if a.until else None
    await upsert(tx.session, t.assets, {"asset_id": a.asset_id}, values)
    if a.status != "assigned" and not expected:  # assignments are our own orders echoed back
        await add_trigger(tx, evt, f"asset {a.asset_id} {a.status}")


async def disruption_applied(evt: tr.DisruptionAppliedV1, tx: Transaction) -> None:
    await add_trigger(tx, evt, f"disruption {evt.data.disruption_id} applied")


async def depot_registered(evt: r.DepotRegisteredV1, tx: Transaction) -> None:
    dep = evt.data
    await upsert(
        tx.session,
        t.depots,
        {"depot_id": dep.depot_id},
        {"name": dep.name, "node_id": dep.node_id, "owner": dep.owner, "status": "operational"},
    )


async def stock_level(evt: r.StockLevelReportedV1, tx: Transaction) -> None:
    s = evt.data
    available = s.available_kg if s.available_kg is not None else to_kg(s.quantity, s.unit)
    await upsert(
        tx.session,
        t.stock,
        {"depot_id": s.depot_id, "commodity": s.commodity},
        {"available_kg": available},
    )


async def depot_status(evt: r.DepotStatusChangedV1, tx: Transaction) -> None:
    await upsert(tx.session, t.depots, {"depot_id": evt.data.depot_id}, {"status": evt.data.status})
    await add_trigger(tx, evt, f"depot {evt.data.depot_id} {evt.data.status}")


async def need_raised(evt: i.NeedRaisedV1, tx: Transaction) -> None:
    n = evt.data
    exists = await tx.session.scalar(
        select(t.needs.c.need_id).where(t.needs.c.need_id == n.need_id)
    )
    if exists is not None:
        return  # a need id is raised once; a second report with a new event id changes nothing
    await tx.session.execute(
        insert(t.needs).values(
            need_id=n.need_id,
            node_id=n.node_id,
            commodity=n.commodity,
            quantity_kg=to_kg(n.quantity, n.unit),
            priority=n.priority,
            deadline=n.deadline,
            precedence=n.precedence,
            classification=evt.classification,
            raised_at=evt.time,
            committed_kg=0,
            first_eta=None,
            reason=None,
            detail="",
        )
    )
    await add_trigger(tx, evt, f"need {n.need_id} raised")


async def disruption_reported(evt: i.DisruptionReportedV1, tx: Transaction) -> None:
    data = evt.data
    await upsert(
        tx.session,
        t.disruptions,
        {"disruption_id": data.disruption_id},
        {"kind": data.kind, "observed_at": data.observed_at, "body": data.model_dump_json()},
    )


async def disruption_withdrawn(evt: i.DisruptionWithdrawnV1, tx: Transaction) -> None:
    # Transport and reserves publish what reopens; here the disruption only leaves the list.
    await tx.session.execute(
        delete(t.disruptions).where(t.disruptions.c.disruption_id == evt.data.disruption_id)
    )


async def reservation_answered(
    evt: r.StockReservedV1 | r.ReservationRejectedV1, tx: Transaction
) -> None:
    rid = evt.data.reservation_id
    status = await tx.session.scalar(
        select(t.reservations.c.status).where(t.reservations.c.reservation_id == rid)
    )
    if status == "superseded":
        return  # a later plan replaced it (and asked reserves to release what it held)
    if isinstance(evt, r.ReservationRejectedV1):
        rej = evt.data
        await tx.session.execute(
            update(t.reservations)
            .where(t.reservations.c.reservation_id == rid)
            .values(status="rejected")
        )
        # Believe the depot: correct the read model so the re-plan does not ask again.
        if rej.reason == "depot_unavailable":
            await upsert(tx.session, t.depots, {"depot_id": rej.depot_id}, {"status": "lost"})
        else:
            await upsert(
                tx.session,
                t.stock,
                {"depot_id": rej.depot_id, "commodity": rej.commodity},
                {"available_kg": rej.available_kg},
            )
        await add_trigger(tx, evt, f"reservation {rid} rejected: {rej.reason}")
    else:
        await tx.session.execute(
            update(t.reservations)
            .where(t.reservations.c.reservation_id == rid, t.reservations.c.status == "requested")
            .values(status="reserved")
        )
    row = (
        await tx.session.execute(
            select(t.reservations).where(t.reservations.c.reservation_id == rid)
        )
    ).first()
    if row is not None:
        await issue_order_when_answered(tx, row.plan_id, row.vehicle_id)


ORDERS_LOCK = 0x48494E54  # "HINT": one key for "orders and plans change one at a time"


async def lock_orders(session: AsyncSession) -> None:
    """Serialise issuing orders with publishing plans. Taken before anything is read, so
    that what is read after it includes the other side's commit: a plan never counts a need
    open that an order committed meanwhile, and an order never goes out for a plan's
    superseded reservations. Dispatch's readers take it first in every transaction too
    (``SPEC.lock_key``); taking it here again is free."""
    await advisory_lock(session, ORDERS_LOCK)


HOLD_MAX = timedelta(seconds=120)
"""A hold older than this is ignored: a planner gone for good must not keep orders back."""


async def orders_held(session: AsyncSession) -> bool:
    """True while the planner makes a plan (``Planner._hold_orders``); the caller holds the
    orders lock, so the answer is good until it commits."""
    since = await session.scalar(select(t.order_hold.c.since))
    return since is not None and datetime.now(UTC) - aware(since) < HOLD_MAX


async def issue_order_when_answered(tx: Transaction, plan_id: str, vehicle_id: str) -> None:
    """Once every reservation of a vehicle's route is answered, send it with what was reserved.

    While a plan is being made the order waits for it: that plan may keep the reservations
    (then its publication sends the order) or give the legs to others (then it releases
    them). Sent meanwhile, the order made the plan, made on a snapshot without it, start over.
    """
    await lock_orders(tx.session)
    if await orders_held(tx.session):
        return
    rows = (
        await tx.session.execute(
            select(t.reservations).where(
                t.reservations.c.plan_id == plan_id, t.reservations.c.vehicle_id == vehicle_id
            )
        )
    ).all()
    if any(x.status in ("requested", "superseded") for x in rows):
        return
    held = [x for x in rows if x.status == "reserved"]
    order_id = f"{plan_id}/{vehicle_id}"
    if not held or await tx.session.scalar(
        select(t.orders.c.order_id).where(t.orders.c.order_id == order_id)
    ):
        return
    body = json.loads(
        str(await tx.session.scalar(select(t.plans.c.body).where(t.plans.c.plan_id == plan_id)))
    )
    route = next(x for x in body["routes"] if x["vehicle_id"] == vehicle_id)
    pairs = {(x.depot_id, x.need_id) for x in held}
    need_ids = {x.need_id for x in held}
    stops = [
        d.PlannedStop.model_validate(s)
        for s in route["stops"]
        if (s["action"] == "load" and (s["depot_id"], s["need_id"]) in pairs)
        or (s["action"] == "unload" and s["need_id"] in need_ids)
    ]
    release_at = stops[-1].etd
    order = d.DispatchOrderIssued(
        order_id=order_id,
        plan_id=plan_id,
        vehicle_id=vehicle_id,
        reservation_ids=[x.reservation_id for x in held],
        stops=stops,
        release_at=release_at,
    )
    await tx.session.execute(
        insert(t.orders).values(
            order_id=order_id, plan_id=plan_id, vehicle_id=vehicle_id, body=order.model_dump_json()
        )
    )
    await tx.session.execute(
        update(t.reservations)
        .where(t.reservations.c.reservation_id.in_([x.reservation_id for x in held]))
        .values(status="dispatched")
    )
    for x in held:
        need = (
            await tx.session.execute(select(t.needs).where(t.needs.c.need_id == x.need_id))
        ).one()
        first = min(filter(None, [need.first_eta, x.eta]))
        await tx.session.execute(
            update(t.needs)
            .where(t.needs.c.need_id == x.need_id)
            .values(committed_kg=need.committed_kg + x.quantity_kg, first_eta=first)
        )
    # Our own read model knows the vehicle is busy before transport echoes it back.
    await upsert(
        tx.session,
        t.assets,
        {"asset_id": vehicle_id},
        {"status": "assigned", "busy_until": release_at, "node_id": stops[-1].node_id},
    )
    need_classes = await tx.session.execute(
        select(t.needs.c.classification).where(t.needs.c.need_id.in_(need_ids))
    )
    classification = "military" if any(c[0] == "military" for c in need_classes) else "public"
    tx.emit(d.DispatchOrderIssuedV1, order, subject=vehicle_id, classification=classification)  # type: ignore[arg-type]


async def order_progress(evt: ex.OrderProgressReportedV1, tx: Transaction) -> None:
    """Count what was handed over; give back to planning what a broken-down vehicle still owed."""
    p = evt.data
    if p.stage in ("unloaded", "broken_down"):
        # These change needs' rows, as a plan's store and an order's issue do, and those take
        # the orders lock first. Taking it here too orders every writer of needs behind it:
        # without it a read that applied deliveries, then an answer that issued an order
        # (waiting on the lock) deadlocked with a plan that held the lock and updated the
        # same needs (the load run, session 5: two plans and three reads lost 1 s each).
        await lock_orders(tx.session)
    order = (
        await tx.session.execute(select(t.orders).where(t.orders.c.order_id == p.order_id))
    ).first()
    if order is None:
        raise OrderNotYetKnown(f"progress on order {p.order_id!r}, which dispatch has not issued")
    if p.stage == "unloaded":
        for cargo in p.cargo:
            await tx.session.execute(
                insert(t.deliveries).values(
                    order_id=p.order_id,
                    stop_index=p.stop_index or 0,
                    need_id=cargo.need_id,
                    depot_id=cargo.depot_id,
                    quantity_kg=cargo.quantity_kg,
                    at=evt.time,
                )
            )
            await tx.session.execute(
                update(t.needs)
                .where(t.needs.c.need_id == cargo.need_id)
                .values(delivered_kg=t.needs.c.delivered_kg + cargo.quantity_kg)
            )
    elif p.stage == "completed":
        await tx.session.execute(
            update(t.orders).where(t.orders.c.order_id == p.order_id).values(status="completed")
        )
    elif p.stage == "broken_down" and order.status == "issued":
        held: dict[str, int] = defaultdict(int)
        for row in await tx.session.execute(
            select(t.reservations).where(
                t.reservations.c.plan_id == order.plan_id,
                t.reservations.c.vehicle_id == order.vehicle_id,
                t.reservations.c.status == "dispatched",
            )
        ):
            held[row.need_id] += row.quantity_kg
        for row in await tx.session.execute(
            select(t.deliveries).where(t.deliveries.c.order_id == p.order_id)
        ):
            held[row.need_id] -= row.quantity_kg
        for need_id, owed in sorted(held.items()):
            if owed > 0:
                await tx.session.execute(
                    update(t.needs)
                    .where(t.needs.c.need_id == need_id)
                    .values(committed_kg=t.needs.c.committed_kg - owed)
                )
        await tx.session.execute(
            update(t.orders).where(t.orders.c.order_id == p.order_id).values(status="broken_down")
        )
        await add_trigger(tx, evt, f"vehicle {p.vehicle_id} broke down at {p.node_id}")


class OrderNotYetKnown(Exception):
    """Progress on an order we have not issued yet (or not yet seen): retry, then dead-letter."""


_HANDLERS: dict[str, Callable[[Any, Transaction], Awaitable[None]]] = {
    type_name(tr.NodeRegisteredV1): node_registered,
    type_name(tr.LinkRegisteredV1): link_registered,
    type_name(tr.LinkStatusChangedV1): link_status,
    type_name(tr.NodeStatusChangedV1): node_status,
    type_name(tr.AssetRegisteredV1): asset_registered,
    type_name(tr.AssetStatusChangedV1): asset_status,
    type_name(tr.DisruptionAppliedV1): disruption_applied,
    type_name(r.DepotRegisteredV1): depot_registered,
    type_name(r.StockLevelReportedV1): stock_level,
    type_name(r.DepotStatusChangedV1): depot_status,
    type_name(r.StockReservedV1): reservation_answered,
    type_name(r.ReservationRejectedV1): reservation_answered,
    type_name(i.NeedRaisedV1): need_raised,
    type_name(i.DisruptionReportedV1): disruption_reported,
    type_name(ex.OrderProgressReportedV1): order_progress,
    type_name(i.DisruptionWithdrawnV1): disruption_withdrawn,
}
HANDLED = frozenset(_HANDLERS)

# Dispatch reads transport's and reserves' view of the world, but needs and alerts straight
# from ingress; the registrations on ingress are for the owning services, not for us.
INGRESS_TYPES = frozenset(
    {
        type_name(i.NeedRaisedV1),
        type_name(i.DisruptionReportedV1),
        type_name(i.DisruptionWithdrawnV1),
        type_name(ex.OrderProgressReportedV1),
    }
)


async def handle(event: Event, tx: Transaction) -> None:
    await _HANDLERS[event.type](event, tx)
