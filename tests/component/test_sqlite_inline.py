"""sqlite+inline: SQLite on the loop's thread, with a locked database waited for, not raised."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

from services.runtime import db


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite+inline:///{tmp_path / 'inline.sqlite'}"


async def test_round_trip_and_rollback(url: str) -> None:
    engine = db.create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)"))
            await conn.execute(
                text("INSERT INTO t VALUES (:k, :v)"), [{"k": 1, "v": "a"}, {"k": 2, "v": "b"}]
            )

        async def abandoned() -> None:
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO t VALUES (3, 'c')"))
                raise RuntimeError("abandon")

        with pytest.raises(RuntimeError):
            await abandoned()
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT k, v FROM t ORDER BY k"))).all()
        assert [tuple(r) for r in rows] == [(1, "a"), (2, "b")]
    finally:
        await engine.dispose()


async def test_a_second_writer_waits_for_the_first_on_the_same_thread(url: str) -> None:
    """Both transactions live in one thread: a sleeping busy handler would deadlock here."""
    engine = db.create_engine(url)
    order: list[str] = []
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE counter (n INTEGER)"))
            await conn.execute(text("INSERT INTO counter VALUES (0)"))
        first_holds_lock = asyncio.Event()

        async def first() -> None:
            async with engine.begin() as conn:  # BEGIN IMMEDIATE: the write lock
                await conn.execute(text("UPDATE counter SET n = n + 1"))
                first_holds_lock.set()
                await asyncio.sleep(0.2)  # holds the lock while the loop runs the second
                order.append("first commits")

        async def second() -> None:
            await first_holds_lock.wait()
            async with engine.begin() as conn:
                order.append("second begins")
                n = await conn.scalar(text("SELECT n FROM counter"))
                await conn.execute(text("UPDATE counter SET n = :n"), {"n": n + 10})

        await asyncio.wait_for(asyncio.gather(first(), second()), timeout=10)
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT n FROM counter")) == 11
        assert order == ["first commits", "second begins"]
    finally:
        await engine.dispose()
