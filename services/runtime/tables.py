"""Outbox and inbox tables, created per service in its own metadata (and so its own names)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData, String, Table, Text


def outbox_table(metadata: MetaData, prefix: str) -> Table:
    """Events written in the same transaction as the state change, relayed to Redis later."""
    return Table(
        f"{prefix}_outbox",
        metadata,
        Column(
            "seq",
            BigInteger().with_variant(Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        Column("event_id", String(128), nullable=False, unique=True),
        Column("stream", String(200), nullable=False),
        Column("body", Text, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("sent_at", DateTime(timezone=True), nullable=True, index=True),
    )


def inbox_table(metadata: MetaData, prefix: str) -> Table:
    """Ids of events already applied: the idempotency guard, written with the state change."""
    return Table(
        f"{prefix}_inbox",
        metadata,
        Column("event_id", String(128), primary_key=True),
        Column("stream", String(200), nullable=False),
        Column("event_type", String(200), nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False),
    )
