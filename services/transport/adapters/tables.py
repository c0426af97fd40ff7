"""The transport service's own tables."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

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
    Column(
        "manual_status",
        String(16),
        nullable=False,
        server_default="open",
        doc="What an operator last set (NodeStatusChanged on ingress): a withdrawn "
        "disruption gives a node back to this, not blindly to open.",
    ),
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
    Column(
        "manual_status",
        String(16),
        nullable=False,
        server_default="open",
        doc="What an operator last set (LinkStatusChanged on ingress): the baseline a "
        "withdrawn disruption gives the link back to.",
    ),
    Column("manual_factor", Float, nullable=False, server_default="1.0"),
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
    Column("withdrawn_at", DateTime(timezone=True), nullable=True),
)

disruption_effects = Table(
    "transport_disruption_effects",
    metadata,
    Column("disruption_id", String(128), nullable=False),
    Column("target", String(8), nullable=False, doc="link or node"),
    Column("target_id", String(128), nullable=False),
    Column("status", String(16), nullable=False, doc="closed, degraded (links) or lost (nodes)"),
    Column("factor", Float, nullable=False),
    PrimaryKeyConstraint("disruption_id", "target", "target_id"),
)
"""What each disruption imposes on each link and node (on a pristine network), recorded when
it is applied: a withdrawal recomputes its targets from the disruptions still in force."""

outbox = outbox_table(metadata, "transport")
inbox = inbox_table(metadata, "transport")
