"""SQLite on the event loop's own thread: an aiosqlite look-alike for SQLAlchemy's async engine.

aiosqlite runs every call in a thread of its own and hands each result back through the
event loop: about ten thread switches per statement. With spare cores that costs little;
with every core busy (a Monte Carlo of exercises, one per core) each switch waits for the
scheduler, and the embedded exercise spent half its wall time waiting. SQLite calls take
microseconds, so here they simply run where they are awaited.

Several connections (one per session) share the loop's thread, so SQLite's own busy handler,
which sleeps, would block the very transaction it waits for. Connections are opened with
``busy_timeout=0`` and a statement refused with "database is locked" is retried after an
``asyncio.sleep``, letting the holder finish. Use it with ``sqlite+inline:///FILE``.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from collections.abc import Callable, Generator, Iterable, Sequence
from types import SimpleNamespace
from typing import Any

from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_dbapi, SQLiteDialect_aiosqlite

DRIVER = "inline"
__version__ = sqlite3.sqlite_version
_RETRY_S = 0.001
_MAX_WAIT_S = 30.0

# What SQLAlchemy's adapter copies from the driver module.
DatabaseError = sqlite3.DatabaseError
Error = sqlite3.Error
IntegrityError = sqlite3.IntegrityError
NotSupportedError = sqlite3.NotSupportedError
OperationalError = sqlite3.OperationalError
ProgrammingError = sqlite3.ProgrammingError
sqlite_version = sqlite3.sqlite_version
sqlite_version_info = sqlite3.sqlite_version_info


async def _retrying(call: Callable[[], Any]) -> Any:
    """Run ``call``; while SQLite says the database is locked, yield to the loop and retry."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _MAX_WAIT_S
    wait = _RETRY_S
    while True:
        try:
            return call()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or loop.time() > deadline:
                raise
        await asyncio.sleep(wait)
        wait = min(wait * 2, 0.05)


class Cursor:
    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    async def __aenter__(self) -> Cursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self._cursor.close()

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Cursor:
        await _retrying(lambda: self._cursor.execute(sql, parameters))
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> Cursor:
        rows = list(parameters)
        await _retrying(lambda: self._cursor.executemany(sql, rows))
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


class _Immediate:
    """Stands in for aiosqlite's request queue, which SQLAlchemy uses to set isolation_level."""

    def put_nowait(self, item: tuple[asyncio.Future[Any], Callable[[], Any]]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as exc:
            future.set_exception(exc)


class Connection:
    def __init__(self, database: str, **kwargs: Any) -> None:
        self._database = database
        self._kwargs = kwargs
        self._conn: sqlite3.Connection | None = None
        self._tx = _Immediate()
        self._thread = SimpleNamespace(daemon=True)  # SQLAlchemy marks aiosqlite's thread daemon

    def __await__(self) -> Generator[Any, None, Connection]:
        # Awaiting a connection opens it, as with aiosqlite (without suspending).
        yield from ()
        self._conn = sqlite3.connect(self._database, check_same_thread=False, **self._kwargs)
        self._conn.execute("PRAGMA busy_timeout=0")
        return self

    @property
    def _connection(self) -> sqlite3.Connection | None:
        return self._conn

    def _open(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ValueError("no active connection")
        return self._conn

    def cursor(self) -> Cursor:
        return Cursor(self._open().cursor())

    async def commit(self) -> None:
        conn = self._open()
        await _retrying(conn.commit)

    async def rollback(self) -> None:
        self._open().rollback()

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def stop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._open().create_function(*args, **kwargs)

    @property
    def isolation_level(self) -> str | None:
        return self._open().isolation_level


def connect(database: str, **kwargs: Any) -> Connection:
    kwargs.pop("timeout", None)  # SQLite's busy handler is replaced by _retrying
    kwargs.pop("check_same_thread", None)
    return Connection(database, **kwargs)


class InlineSQLiteDialect(SQLiteDialect_aiosqlite):
    driver = DRIVER
    supports_statement_cache = True

    @classmethod
    def import_dbapi(cls) -> AsyncAdapt_aiosqlite_dbapi:
        return AsyncAdapt_aiosqlite_dbapi(sys.modules[__name__], sqlite3)


registry.register(f"sqlite.{DRIVER}", __name__, "InlineSQLiteDialect")
