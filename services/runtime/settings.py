"""Settings shared by every service; each service subclasses with its own env prefix."""

from __future__ import annotations

import os
import socket
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_consumer() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class ServiceSettings(BaseSettings):
    """Read once in ``create_app`` and passed down; never a module-level singleton."""

    model_config = SettingsConfigDict(env_prefix="HINTERLAND_", extra="ignore")

    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis holding the streams.")
    database_url: str = Field(
        "postgresql+asyncpg://postgres@127.0.0.1:5432/test",
        description="SQLAlchemy async URL; each service owns its own tables in it.",
    )
    consumer_name: str = Field(default_factory=_default_consumer)
    namespace: str = Field("", description="Prefix for stream names (exercise runs on live infra).")
    db_schema: str = Field(
        "",
        pattern=r"^([a-z][a-z0-9_]{0,62})?$",
        description="PostgreSQL schema for the service's tables; '' is the default search path. "
        "Exercise runs on live infrastructure use their own, beside their stream namespace.",
    )
    mode: Literal["live", "exercise"] = "live"
    max_records: int = Field(
        200,
        ge=1,
        description="Entries read per XREADGROUP call (and reclaimed per XAUTOCLAIM call), "
        "applied in one transaction; a read that fails is retried one entry at a time. 200: "
        "reserves applies 3-4x as many events per second as at 20 (docs/benchmarks.md), and "
        "a killed reader's read is reclaimed whole (services/runtime/reclaim.py).",
    )
    polling_ms: int = Field(100, ge=1, description="Blocking read timeout.")
    reclaim_idle_ms: int = Field(
        5000, ge=10, description="Pending entries idle this long are reclaimed by another reader."
    )
    max_deliveries: int = Field(
        5, ge=1, description="Deliveries of one entry before it is dead-lettered."
    )
    outbox_poll_ms: int = Field(200, ge=1)
