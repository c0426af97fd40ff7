"""The gateway's own tables: users, the audit log, dispatchers' plan decisions, and the
EDXL-RM exchange with partners (need threads, messages sent)."""

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

edxl_threads = Table(
    "gateway_edxl_threads",
    metadata,
    Column("need_id", String(128), primary_key=True),
    Column(
        "originating_message_id",
        String(256),
        nullable=False,
        doc="MessageID of the first message of the exchange.",
    ),
    Column(
        "last_message_id",
        String(256),
        nullable=False,
        doc="The latest message in the thread: the next one's PrecedingMessageID.",
    ),
    Column(
        "resource_info_element_id",
        String(256),
        nullable=False,
        doc="The requester's ResourceInfoElementID for this need.",
    ),
    Column("incident_id", String(256), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
"""EDXL-RM need threads (``services.standards.threads.NeedThread``), one row per need."""

edxl_outbound = Table(
    "gateway_edxl_outbound",
    metadata,
    Column("message_id", String(256), primary_key=True),
    Column("event_id", String(128), nullable=False, index=True, doc="The bus event rendered."),
    Column("seq", Integer, nullable=False, doc="Order among the messages of one event."),
    Column("message_type", String(64), nullable=False),
    Column("classification", String(16), nullable=False, doc="The event's classification."),
    Column("xml", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
"""EDXL-RM messages rendered from bus events, each rendered once: every subscriber gets the
same message, and the threads advance once (a second rendering would cite itself)."""
