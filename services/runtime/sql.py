"""Small dialect-neutral SQL helpers shared by the services' repositories."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, overload

from sqlalchemy import Result, Table, and_, insert, text, update
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession


async def upsert(
    session: AsyncSession, table: Table, key: Mapping[str, Any], values: Mapping[str, Any]
) -> None:
    """Update the row with ``key`` or insert it (works the same on SQLite and PostgreSQL)."""
    cond = and_(*(table.c[k] == v for k, v in key.items()))
    result = await session.execute(update(table).where(cond).values(**values))
    if getattr(result, "rowcount", 0) == 0:
        await session.execute(insert(table).values(**key, **values))


def is_postgresql(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def table_name(session: AsyncSession, table: Table) -> str:
    """``table``'s name, quoted as the session's dialect needs it, for a text() statement."""
    return session.get_bind().dialect.identifier_preparer.format_table(table)


async def insert_from_arrays(
    session: AsyncSession,
    table: Table,
    arrays: Mapping[str, Sequence[str]],
    constants: Mapping[str, Any],
    tail: str = "",
) -> Result[Any]:
    """INSERT a row per position of the text ``arrays`` (column -> values, one length), in
    their order, each with ``constants`` (column -> value) too. PostgreSQL only.

    One statement with one parameter per column, however many rows: an executemany binds
    every row in SQLAlchemy's Python, about 20 µs a row (docs/reliability.md, session 8).
    ``tail`` follows the SELECT (ON CONFLICT, RETURNING).
    """
    cells = [f"a{i}" for i in range(len(arrays))]
    sources = ", ".join(f"CAST(:{column} AS TEXT[])" for column in arrays)
    values = ", ".join([*cells, *(f":{column}" for column in constants)])
    statement = text(
        f"INSERT INTO {table_name(session, table)} ({', '.join([*arrays, *constants])}) "
        f"SELECT {values} FROM unnest({sources}) WITH ORDINALITY AS u({', '.join(cells)}, k) "
        f"ORDER BY k {tail}"
    )
    return await session.execute(statement, {**arrays, **constants})


async def advisory_lock(session: AsyncSession, key: int) -> None:
    """Take PostgreSQL's transaction-scoped advisory lock ``key`` (held until commit or
    rollback; taking it again in the same transaction is free). SQLite has one writer and
    BEGIN IMMEDIATE already, so there it does nothing."""
    if is_postgresql(session):
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def dialect_insert(session: AsyncSession, table: Table) -> PgInsert | SqliteInsert:
    """INSERT with the dialect's ON CONFLICT clauses (PostgreSQL, or SQLite 3.24+)."""
    if is_postgresql(session):
        return pg_insert(table)
    return sqlite_insert(table)


async def upsert_many(session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert the rows, or update those whose primary key exists: one executemany statement."""
    if not rows:
        return
    key = [c.name for c in table.primary_key.columns]
    values = [c.name for c in table.columns if c.name not in key]
    stmt = dialect_insert(session, table)
    upsert_stmt = stmt.on_conflict_do_update(
        index_elements=key, set_={name: stmt.excluded[name] for name in values}
    )
    await session.execute(upsert_stmt, list(rows))


@overload
def aware(value: datetime) -> datetime: ...
@overload
def aware(value: datetime | None) -> datetime | None: ...
def aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything stored is UTC. None (a NULL column) stays."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)
