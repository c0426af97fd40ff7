"""The reserves service's own tables."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, MetaData, String, Table

from services.runtime.tables import inbox_table, outbox_table

metadata = MetaData()

depots = Table(
    "reserves_depots",
    metadata,
    Column("depot_id", String(128), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("node_id", String(128), nullable=False, index=True),
    Column("tier", String(32), nullable=False),
    Column("owner", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("classification", String(16), nullable=False),
    Column("lost_by", String(128), nullable=True),
)

stock = Table(
    "reserves_stock",
    metadata,
    Column("depot_id", String(128), primary_key=True),
    Column("commodity", String(64), primary_key=True),
    Column("on_hand_kg", BigInteger, nullable=False),
    Column("reserved_kg", BigInteger, nullable=False),
    Column("in_transit_kg", BigInteger, nullable=False, server_default="0"),
    Column("delivered_kg", BigInteger, nullable=False, server_default="0"),
    Column("adjusted_in_kg", BigInteger, nullable=False, server_default="0"),
    Column("adjusted_out_kg", BigInteger, nullable=False, server_default="0"),
    Column("counted_at", DateTime(timezone=True), nullable=True),
)

reservations = Table(
    "reserves_reservations",
    metadata,
    Column("reservation_id", String(128), primary_key=True),
    Column("plan_id", String(128), nullable=False),
    Column("need_id", String(128), nullable=False),
    Column("depot_id", String(128), nullable=False),
    Column("commodity", String(64), nullable=False),
    Column("quantity_kg", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("order_id", String(256), nullable=True, index=True),
    Column("loaded_kg", BigInteger, nullable=False, server_default="0"),
    Column("delivered_kg", BigInteger, nullable=False, server_default="0"),
)

outbox = outbox_table(metadata, "reserves")
inbox = inbox_table(metadata, "reserves")
