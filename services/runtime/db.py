"""Async engine and session factory: PostgreSQL (asyncpg) for real runs, SQLite for embedded."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from services.runtime import sqlite_inline


def create_engine(url: str, schema: str = "") -> AsyncEngine:
    if url.startswith("sqlite"):
        if schema:
            raise ValueError(
                "db_schema needs PostgreSQL; with SQLite use a database file of its own"
            )
        # One shared file written by three services in one process: WAL plus a busy timeout
        # keeps concurrent transactions from failing with "database is locked". Connections
        # are pooled: opening one costs a thread and three pragmas, paid per transaction
        # otherwise.
        in_memory = url.endswith("://") or ":memory:" in url
        pool: dict[str, Any] = {} if in_memory else {"pool_size": 4, "max_overflow": 8}
        engine = create_async_engine(url, connect_args={"timeout": 30}, **pool)
        # sqlite+inline retries a locked database itself, yielding to the loop meanwhile.
        busy_ms = 0 if url.startswith(f"sqlite+{sqlite_inline.DRIVER}") else 30_000

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute(f"PRAGMA busy_timeout={busy_ms}")
            cur.close()
            # The driver would BEGIN only before the first write, leaving the reads of a
            # read-modify-write outside the transaction; we BEGIN ourselves (below).
            dbapi_conn.isolation_level = None

        @event.listens_for(engine.sync_engine, "begin")
        def _begin(conn: Any) -> None:
            # IMMEDIATE takes SQLite's one write lock at once: transactions run one after the
            # other, as row locks make them on PostgreSQL, and none reads stale stock.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    # A schema of its own keeps an exercise's tables apart from live ones in the same database.
    connect_args = {"server_settings": {"search_path": schema}} if schema else {}
    return create_async_engine(url, pool_size=5, max_overflow=5, connect_args=connect_args)


async def ensure_schema(engine: AsyncEngine, schema: str) -> None:
    """Create ``schema`` if missing (several services may race to do it: that is fine)."""
    if not schema:
        return
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    except DBAPIError:
        async with engine.connect() as conn:
            found = await conn.scalar(
                text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": schema}
            )
        if not found:
            raise


def session_factory(engine: AsyncEngine) -> async_sessionmaker[Any]:
    return async_sessionmaker(engine, expire_on_commit=False)
