"""Loading and saving depots and reservations with SQLAlchemy Core."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.reserves.adapters import tables as t
from services.reserves.domain.model import Depot, StockLine
from services.runtime.sql import upsert


async def load_depot(session: AsyncSession, depot_id: str) -> Depot | None:
    """The depot and its stock, its row locked until commit.

    Two readers (ingress and dispatch.events) change the same stock lines; without the lock
    the later commit would write back what it read before the earlier one (a lost update).
    SQLite has no row locks: there its single writer serialises the transactions.
    """
    query = select(t.depots).where(t.depots.c.depot_id == depot_id).with_for_update()
    row = (await session.execute(query)).first()
    if row is None:
        return None
    lines = (await session.execute(select(t.stock).where(t.stock.c.depot_id == depot_id))).all()
    return Depot(
        depot_id=row.depot_id,
        name=row.name,
        node_id=row.node_id,
        tier=row.tier,
        owner=row.owner,
        status=row.status,
        classification=row.classification,
        lost_by=row.lost_by,
        stock={
            r.commodity: StockLine(
                r.commodity,
                r.on_hand_kg,
                r.reserved_kg,
                r.in_transit_kg,
                r.delivered_kg,
                r.adjusted_in_kg,
                r.adjusted_out_kg,
            )
            for r in lines
        },
    )


async def depots_lost_by(session: AsyncSession, cause: str) -> list[str]:
    rows = await session.execute(
        select(t.depots.c.depot_id).where(t.depots.c.lost_by == cause).order_by(t.depots.c.depot_id)
    )
    return [r.depot_id for r in rows]


async def depots_at(session: AsyncSession, node_ids: list[str]) -> list[str]:
    rows = await session.execute(
        select(t.depots.c.depot_id).where(t.depots.c.node_id.in_(node_ids))
    )
    return [r.depot_id for r in rows]


async def save_depot(session: AsyncSession, depot: Depot) -> None:
    """Write the depot's own row (registration, status); stock lines go through save_line."""
    await upsert(
        session,
        t.depots,
        {"depot_id": depot.depot_id},
        {
            "name": depot.name,
            "node_id": depot.node_id,
            "tier": depot.tier,
            "owner": depot.owner,
            "status": depot.status,
            "classification": depot.classification,
            "lost_by": depot.lost_by,
        },
    )


async def save_line(session: AsyncSession, depot: Depot, commodity: str) -> None:
    """Write one stock line: every stock change touches exactly one commodity."""
    line = depot.line(commodity)
    await upsert(
        session,
        t.stock,
        {"depot_id": depot.depot_id, "commodity": commodity},
        {
            "on_hand_kg": line.on_hand_kg,
            "reserved_kg": line.reserved_kg,
            "in_transit_kg": line.in_transit_kg,
            "delivered_kg": line.delivered_kg,
            "adjusted_in_kg": line.adjusted_in_kg,
            "adjusted_out_kg": line.adjusted_out_kg,
        },
    )


async def reservation(session: AsyncSession, reservation_id: str) -> Row[Any] | None:
    return (
        await session.execute(
            select(t.reservations).where(t.reservations.c.reservation_id == reservation_id)
        )
    ).first()


async def order_reservations(
    session: AsyncSession, order_id: str, depot_id: str | None = None, need_id: str | None = None
) -> list[Row[Any]]:
    query = select(t.reservations).where(t.reservations.c.order_id == order_id)
    if depot_id is not None:
        query = query.where(t.reservations.c.depot_id == depot_id)
    if need_id is not None:
        query = query.where(t.reservations.c.need_id == need_id)
    return list((await session.execute(query.order_by(t.reservations.c.reservation_id))).all())


async def set_reservation_status(session: AsyncSession, reservation_id: str, status: str) -> None:
    await upsert(session, t.reservations, {"reservation_id": reservation_id}, {"status": status})


async def upsert_reservation(session: AsyncSession, reservation_id: str, **values: Any) -> None:
    await upsert(session, t.reservations, {"reservation_id": reservation_id}, values)
