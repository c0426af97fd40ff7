"""Async engine and session factory: PostgreSQL (asyncpg) for real runs, SQLite for embedded."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine


def create_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        # One shared file written by three services in one process: WAL plus a busy timeout
        # keeps concurrent transactions from failing with "database is locked". Connections
        # are pooled: opening one costs a thread and three pragmas, paid per transaction
        # otherwise.
        engine = create_async_engine(url, pool_size=4, max_overflow=8, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_async_engine(url, pool_size=5, max_overflow=5)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[Any]:
    return async_sessionmaker(engine, expire_on_commit=False)
