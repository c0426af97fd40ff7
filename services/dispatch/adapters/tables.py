"""The dispatch service's own tables: its read model of the others, needs, plans, orders."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Float, Integer, MetaData, String, Table, Text

from services.runtime.tables import inbox_table, outbox_table

metadata = MetaData()

nodes = Table(
    "dispatch_nodes",
    metadata,
    Column("node_id", String(128), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("lat", Float, nullable=False),
    Column("lon", Float, nullable=False),
    Column("region", String(100), nullable=False),
    Column("status", String(16), nullable=False),
)

links = Table(
    "dispatch_links",
    metadata,
    Column("link_id", String(128), primary_key=True),
    Column("a", String(128), nullable=False),
    Column("b", String(128), nullable=False),
    Column("mode", String(8), nullable=False),
    Column("length_km", Float, nullable=False),
    Column("status", String(16), nullable=False),
    Column("factor", Float, nullable=False),
)

depots = Table(
    "dispatch_depots",
    metadata,
    Column("depot_id", String(128), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("node_id", String(128), nullable=False),
    Column("owner", String(16), nullable=False),
    Column("status", String(16), nullable=False),
)

stock = Table(
    "dispatch_stock",
    metadata,
    Column("depot_id", String(128), primary_key=True),
    Column("commodity", String(64), primary_key=True),
    Column("available_kg", BigInteger, nullable=False),
)

assets = Table(
    "dispatch_assets",
    metadata,
    Column("asset_id", String(128), primary_key=True),
    Column("mode", String(8), nullable=False),
    Column("capacity_kg", BigInteger, nullable=False),
    Column("speed_kmh", Float, nullable=False),
    Column("owner", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("node_id", String(128), nullable=False),
    Column("busy_until", DateTime(timezone=True), nullable=True),
)

needs = Table(
    "dispatch_needs",
    metadata,
    Column("need_id", String(128), primary_key=True),
    Column("node_id", String(128), nullable=False),
    Column("commodity", String(64), nullable=False),
    Column("quantity_kg", BigInteger, nullable=False),
    Column("priority", String(16), nullable=False),
    Column("deadline", DateTime(timezone=True), nullable=False),
    Column("precedence", Integer, nullable=False),
    Column("classification", String(16), nullable=False),
    Column("raised_at", DateTime(timezone=True), nullable=False),
    Column("committed_kg", BigInteger, nullable=False),
    Column("delivered_kg", BigInteger, nullable=False, server_default="0"),
    Column("first_eta", DateTime(timezone=True), nullable=True),
    Column("reason", String(40), nullable=True),
    Column("detail", Text, nullable=False),
)

plans = Table(
    "dispatch_plans",
    metadata,
    Column("plan_id", String(128), primary_key=True),
    Column("version", Integer, nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("body", Text, nullable=False),
)

reservations = Table(
    "dispatch_reservations",
    metadata,
    Column("reservation_id", String(128), primary_key=True),
    Column("plan_id", String(128), nullable=False, index=True),
    Column("vehicle_id", String(128), nullable=False),
    Column("need_id", String(128), nullable=False),
    Column("depot_id", String(128), nullable=False),
    Column("commodity", String(64), nullable=False),
    Column("quantity_kg", BigInteger, nullable=False),
    Column("eta", DateTime(timezone=True), nullable=False),
    Column("status", String(16), nullable=False),
)

orders = Table(
    "dispatch_orders",
    metadata,
    Column("order_id", String(128), primary_key=True),
    Column("plan_id", String(128), nullable=False),
    Column("vehicle_id", String(128), nullable=False),
    Column("body", Text, nullable=False),
    Column("status", String(16), nullable=False, server_default="issued"),
)

deliveries = Table(
    "dispatch_deliveries",
    metadata,
    Column("order_id", String(128), primary_key=True),
    Column("stop_index", Integer, primary_key=True),
    Column("need_id", String(128), primary_key=True),
    Column("depot_id", String(128), primary_key=True),
    Column("quantity_kg", BigInteger, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)

triggers = Table(
    "dispatch_triggers",
    metadata,
    Column("event_id", String(128), primary_key=True),
    Column("reason", String(300), nullable=False),
    Column("time", DateTime(timezone=True), nullable=False),
    Column("correlationid", String(128), nullable=False),
    Column("mode", String(16), nullable=False),
)

disruptions = Table(
    "dispatch_disruptions",
    metadata,
    Column("disruption_id", String(128), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("observed_at", DateTime(timezone=True), nullable=False),
    Column("body", Text, nullable=False),
)

order_hold = Table(
    "dispatch_order_hold",
    metadata,
    Column("holder", String(32), primary_key=True),
    Column("since", DateTime(timezone=True), nullable=False),
)
"""A row while a plan is being made: answers that complete a vehicle then wait for it."""

outbox = outbox_table(metadata, "dispatch")
inbox = inbox_table(metadata, "dispatch")
