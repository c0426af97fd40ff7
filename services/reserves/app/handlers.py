"""Reserves use cases: one function per event type, run inside the runtime's transaction."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from contracts import dispatch as d
from contracts import execution as ex
from contracts import incidents as i
from contracts import reserves as r
from contracts.catalogue import Event, type_name
from contracts.common import to_kg
from services.reserves.adapters import sql
from services.reserves.adapters.unit_of_work import UnitOfWork
from services.reserves.domain.model import Depot, Rejected
from services.runtime.consumer import TransactionHooks, Unprocessable
from services.runtime.transaction import Transaction

log = logging.getLogger(__name__)


def _uow(tx: Transaction) -> UnitOfWork:
    return UnitOfWork.of(tx.session)


async def _depot(tx: Transaction, depot_id: str) -> Depot:
    depot = await _uow(tx).depot(depot_id)
    if depot is None:
        raise Unprocessable(f"unknown depot {depot_id!r}: register it first")
    return depot


async def _publish_level(tx: Transaction, depot: Depot, commodity: str) -> None:
    line = depot.line(commodity)
    tx.emit(
        r.StockLevelReportedV1,
        r.StockLevelReported(
            depot_id=depot.depot_id,
            commodity=commodity,
            quantity=line.on_hand_kg,
            unit="kg",
            available_kg=line.available_kg,
        ),
        subject=depot.depot_id,
        classification=depot.classification,
    )


async def register_depot(evt: r.DepotRegisteredV1, tx: Transaction) -> None:
    data = evt.data
    depot = await _uow(tx).depot(data.depot_id) or Depot(
        data.depot_id, data.name, data.node_id, data.tier, data.owner
    )
    depot.name, depot.node_id, depot.tier, depot.owner = (
        data.name,
        data.node_id,
        data.tier,
        data.owner,
    )
    depot.classification = evt.classification
    _uow(tx).depot_changed(depot)
    tx.emit(r.DepotRegisteredV1, data, subject=data.depot_id)


async def report_level(evt: r.StockLevelReportedV1, tx: Transaction) -> None:
    data = evt.data
    depot = await _depot(tx, data.depot_id)
    if depot.report_level(data.commodity, to_kg(data.quantity, data.unit), evt.time) is None:
        log.info(
            "stock report %s for %s %s is stale (counted %s, the count in force %s): ignored",
            evt.id,
            data.depot_id,
            data.commodity,
            evt.time.isoformat(),
            depot.line(data.commodity).counted_at,
        )
        return
    _uow(tx).line_changed(depot, data.commodity)
    await _publish_level(tx, depot, data.commodity)


async def reserve(evt: d.ReservationRequestedV1, tx: Transaction) -> None:
    data = evt.data
    if await sql.reservation(tx.session, data.reservation_id) is not None:
        return  # one answer per reservation id, however often it is asked
    depot = await _uow(tx).depot(data.depot_id)
    outcome = (
        depot.reserve(data.commodity, data.quantity_kg)
        if depot is not None
        else Rejected("unknown_depot", 0, f"no depot {data.depot_id!r} is registered")
    )
    await sql.upsert_reservation(
        tx.session,
        data.reservation_id,
        plan_id=data.plan_id,
        need_id=data.need_id,
        depot_id=data.depot_id,
        commodity=data.commodity,
        quantity_kg=data.quantity_kg,
        status="rejected" if isinstance(outcome, Rejected) else "reserved",
    )
    if isinstance(outcome, Rejected):
        tx.emit(
            r.ReservationRejectedV1,
            r.ReservationRejected(
                reservation_id=data.reservation_id,
                plan_id=data.plan_id,
                depot_id=data.depot_id,
                need_id=data.need_id,
                commodity=data.commodity,
                requested_kg=data.quantity_kg,
                available_kg=outcome.available_kg,
                reason=outcome.reason,
                detail=outcome.detail,
            ),
            subject=data.reservation_id,
        )
        return
    assert depot is not None
    _uow(tx).line_changed(depot, data.commodity)
    tx.emit(
        r.StockReservedV1,
        r.StockReserved(
            reservation_id=data.reservation_id,
            plan_id=data.plan_id,
            depot_id=data.depot_id,
            need_id=data.need_id,
            commodity=data.commodity,
            quantity_kg=data.quantity_kg,
        ),
        subject=data.reservation_id,
    )
    await _publish_level(tx, depot, data.commodity)


async def release(evt: d.ReleaseRequestedV1, tx: Transaction) -> None:
    row = await sql.reservation(tx.session, evt.data.reservation_id)
    if row is None or row.status != "reserved":
        return  # nothing held: releasing is idempotent
    depot = await _depot(tx, row.depot_id)
    depot.release(row.commodity, row.quantity_kg)
    _uow(tx).line_changed(depot, row.commodity)
    await sql.set_reservation_status(tx.session, row.reservation_id, "released")
    tx.emit(
        r.StockReleasedV1,
        r.StockReleased(
            reservation_id=row.reservation_id,
            depot_id=row.depot_id,
            commodity=row.commodity,
            quantity_kg=row.quantity_kg,
        ),
        subject=row.reservation_id,
    )
    await _publish_level(tx, depot, row.commodity)


async def dispatch_order(evt: d.DispatchOrderIssuedV1, tx: Transaction) -> None:
    """The reservation now belongs to an order; the stock stays reserved until it is loaded."""
    for reservation_id in evt.data.reservation_ids:
        row = await sql.reservation(tx.session, reservation_id)
        if row is None or row.status != "reserved":
            continue
        await sql.upsert_reservation(
            tx.session, reservation_id, status="dispatched", order_id=evt.data.order_id
        )
        tx.emit(
            r.StockDispatchedV1,
            r.StockDispatched(
                reservation_id=reservation_id,
                order_id=evt.data.order_id,
                depot_id=row.depot_id,
                commodity=row.commodity,
                quantity_kg=row.quantity_kg,
            ),
            subject=reservation_id,
        )


class NotYetAboard(Exception):
    """More unloaded than loaded so far: the load's report may still be on its way."""


class OrderNotYetKnown(Exception):
    """A vehicle reported progress on an order we have not seen yet: retry, then dead-letter."""


async def _cargo_rows(tx: Transaction, order_id: str, cargo: ex.Cargo) -> list[Any]:
    rows = await sql.order_reservations(tx.session, order_id, cargo.depot_id, cargo.need_id)
    if not rows:
        raise OrderNotYetKnown(
            f"no reservation of order {order_id!r} for {cargo.need_id} from {cargo.depot_id}"
        )
    return rows


async def _move(tx: Transaction, order_id: str, cargo: ex.Cargo, loading: bool) -> None:
    """Loaded: reserved -> in transit; unloaded: in transit -> delivered. Each reservation of
    the order for that (depot, need) takes its share; more than it holds is refused."""
    rows = await _cargo_rows(tx, order_id, cargo)
    done, upto = ("loaded_kg", "quantity_kg") if loading else ("delivered_kg", "loaded_kg")
    room = sum(getattr(row, upto) - getattr(row, done) for row in rows)
    if cargo.quantity_kg > room:
        what = "reserved for it" if loading else "aboard"
        problem = (
            f"order {order_id} {'loaded' if loading else 'unloaded'} {cargo.quantity_kg} kg of "
            f"{cargo.commodity} for {cargo.need_id} at {cargo.depot_id}; only {room} kg were "
            f"{what}"
        )
        # An unload can overtake its load when the load's report is being retried (its order
        # was not known yet): retry it too; it is dead-lettered only if it stays impossible.
        raise NotYetAboard(problem) if not loading else Unprocessable(problem)
    depot = await _depot(tx, cargo.depot_id)
    if loading:
        found = depot.load(cargo.commodity, cargo.quantity_kg)
        if found:
            log.warning(
                "order %s loaded %d kg of %s at %s, %d kg more than the count on hand: "
                "booked as found",
                order_id,
                cargo.quantity_kg,
                cargo.commodity,
                cargo.depot_id,
                found,
            )
    else:
        depot.deliver(cargo.commodity, cargo.quantity_kg)
    _uow(tx).line_changed(depot, cargo.commodity)
    left = cargo.quantity_kg
    for row in rows:
        take = min(left, getattr(row, upto) - getattr(row, done))
        if take:
            await sql.upsert_reservation(
                tx.session, row.reservation_id, **{done: getattr(row, done) + take}
            )
            left -= take
    if loading:  # on hand went down (what is free did not)
        await _publish_level(tx, depot, cargo.commodity)


async def order_progress(evt: ex.OrderProgressReportedV1, tx: Transaction) -> None:
    p = evt.data
    if p.stage in ("loaded", "unloaded"):
        for cargo in p.cargo:
            await _move(tx, p.order_id, cargo, loading=p.stage == "loaded")
    elif p.stage == "broken_down":
        # What was loaded stays in transit with the vehicle; what was not loaded is freed.
        rows = await sql.order_reservations(tx.session, p.order_id)
        await _uow(tx).load({row.depot_id for row in rows})
        for row in rows:
            if row.status != "dispatched" or row.quantity_kg == row.loaded_kg:
                continue
            not_loaded = row.quantity_kg - row.loaded_kg
            depot = await _depot(tx, row.depot_id)
            depot.release(row.commodity, not_loaded)
            _uow(tx).line_changed(depot, row.commodity)
            await sql.upsert_reservation(
                tx.session,
                row.reservation_id,
                quantity_kg=row.loaded_kg,
                status="dispatched" if row.loaded_kg else "released",
            )
            tx.emit(
                r.StockReleasedV1,
                r.StockReleased(
                    reservation_id=row.reservation_id,
                    depot_id=row.depot_id,
                    commodity=row.commodity,
                    quantity_kg=not_loaded,
                ),
                subject=row.reservation_id,
            )
            await _publish_level(tx, depot, row.commodity)


async def disruption(evt: i.DisruptionReportedV1, tx: Transaction) -> None:
    data = evt.data
    hit = sorted(set(data.depots) | set(await _uow(tx).depots_at(list(data.nodes))))
    await _uow(tx).load(hit)
    for depot_id in hit:
        depot = await _uow(tx).depot(depot_id)
        if depot is None or not depot.lose(data.disruption_id):
            continue
        _uow(tx).depot_changed(depot)
        tx.emit(
            r.DepotStatusChangedV1,
            r.DepotStatusChanged(depot_id=depot_id, status="lost", cause=data.disruption_id),
            subject=depot_id,
            classification=depot.classification,
        )


async def disruption_withdrawn(evt: i.DisruptionWithdrawnV1, tx: Transaction) -> None:
    cause = evt.data.disruption_id
    lost = await _uow(tx).depots_lost_by(cause)
    await _uow(tx).load(lost)
    for depot_id in lost:
        depot = await _depot(tx, depot_id)
        if depot.restore(cause):
            _uow(tx).depot_changed(depot)
            tx.emit(
                r.DepotStatusChangedV1,
                r.DepotStatusChanged(
                    depot_id=depot_id, status="operational", cause=f"{cause} withdrawn"
                ),
                subject=depot_id,
                classification=depot.classification,
            )


_HANDLERS: dict[str, Callable[[Any, Transaction], Awaitable[None]]] = {
    type_name(r.DepotRegisteredV1): register_depot,
    type_name(r.StockLevelReportedV1): report_level,
    type_name(d.ReservationRequestedV1): reserve,
    type_name(d.ReleaseRequestedV1): release,
    type_name(d.DispatchOrderIssuedV1): dispatch_order,
    type_name(i.DisruptionReportedV1): disruption,
    type_name(ex.OrderProgressReportedV1): order_progress,
    type_name(i.DisruptionWithdrawnV1): disruption_withdrawn,
}
HANDLED = frozenset(_HANDLERS)


async def handle(event: Event, tx: Transaction) -> None:
    uow = _uow(tx)
    await _HANDLERS[event.type](event, tx)
    if not uow.deferred:  # no before_commit will come (a processor without HOOKS)
        await uow.flush()


def _depots_named(event: Event) -> Iterator[str]:
    """The depots an event names (others, found through reservations, load as they come)."""
    data = event.data
    if isinstance(data, r.StockLevelReported | r.DepotRegistered | d.ReservationRequested):
        yield data.depot_id
    elif isinstance(data, ex.OrderProgressReported) and data.stage in ("loaded", "unloaded"):
        yield from (cargo.depot_id for cargo in data.cargo)
    elif isinstance(data, i.DisruptionReported):
        yield from data.depots


async def prefetch(session: AsyncSession, events: Sequence[Event]) -> None:
    """Lock and load every depot the events name, in one ordered statement (and one for stock);
    their changes are then written once, by before_commit."""
    uow = UnitOfWork.of(session)
    uow.deferred = True
    await uow.load({depot_id for event in events for depot_id in _depots_named(event)})


async def before_commit(session: AsyncSession) -> None:
    uow = UnitOfWork.take(session)
    if uow is not None:
        await uow.flush()


HOOKS = TransactionHooks(prefetch=prefetch, before_commit=before_commit)
