"""The gateway's own tables: users, the audit log, dispatchers' plan decisions."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

users = Table(
    "gateway_users",
    metadata,
    Column("username", String(64), primary_key=True),
    Column("password_hash", String(300), nullable=False),
    Column("roles", String(200), nullable=False, doc="Comma-separated role names."),
    Column("clearance", String(16), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

audit = Table(
    "gateway_audit",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("username", String(64), nullable=False),
    Column("action", String(200), nullable=False, doc="METHOD /route/template"),
    Column("target", String(200), nullable=False),
    Column("outcome", String(16), nullable=False, doc="ok, denied or refused"),
    Column("status_code", Integer, nullable=False),
    Column("event_ids", Text, nullable=False, doc="JSON list of the event ids it caused."),
    Column("detail", Text, nullable=False),
)

decisions = Table(
    "gateway_plan_decisions",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("plan_id", String(128), nullable=False, index=True),
    Column("version", Integer, nullable=False),
    Column("decision", String(16), nullable=False, doc="approved or overridden"),
    Column("note", Text, nullable=False),
    Column("username", String(64), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)
