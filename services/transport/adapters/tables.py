"""The transport service's own tables."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, Float, MetaData, String, Table, Text

from services.runtime.tables import inbox_table, outbox_table

metadata = MetaData()

nodes = Table(
    "transport_nodes",
    metadata,
    Column("node_id", String(128), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("lat", Float, nullable=False),
    Column("lon", Float, nullable=False),
    Column("region", String(100), nullable=False),
    Column("status", String(16), nullable=False),
)

links = Table(
    "transport_links",
    metadata,
    Column("link_id", String(128), primary_key=True),
    Column("a", String(128), nullable=False),
    Column("b", String(128), nullable=False),
    Column("mode", String(8), nullable=False),
    Column("length_km", Float, nullable=False),
    Column("capacity_t_per_day", Float, nullable=False),
    Column("name", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    Column("factor", Float, nullable=False),
)

assets = Table(
    "transport_assets",
    metadata,
    Column("asset_id", String(128), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("mode", String(8), nullable=False),
    Column("capacity_t", Float, nullable=False),
    Column("speed_kmh", Float, nullable=False),
    Column("home_node_id", String(128), nullable=False),
    Column("owner", String(16), nullable=False),
    Column("available", Boolean, nullable=False),
    Column("status", String(16), nullable=False),
    Column("node_id", String(128), nullable=True),
    Column("order_id", String(128), nullable=True),
    Column("busy_until", DateTime(timezone=True), nullable=True),
    Column("classification", String(16), nullable=False),
)

disruptions = Table(
    "transport_disruptions",
    metadata,
    Column("disruption_id", String(128), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("body", Text, nullable=False),
)

outbox = outbox_table(metadata, "transport")
inbox = inbox_table(metadata, "transport")
