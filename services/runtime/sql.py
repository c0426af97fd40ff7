"""Small dialect-neutral SQL helpers shared by the services' repositories."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Table, and_, insert, update
from sqlalchemy.ext.asyncio import AsyncSession


async def upsert(
    session: AsyncSession, table: Table, key: Mapping[str, Any], values: Mapping[str, Any]
) -> None:
    """Update the row with ``key`` or insert it (works the same on SQLite and PostgreSQL)."""
    cond = and_(*(table.c[k] == v for k, v in key.items()))
    result = await session.execute(update(table).where(cond).values(**values))
    if getattr(result, "rowcount", 0) == 0:
        await session.execute(insert(table).values(**key, **values))
