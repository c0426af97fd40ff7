"""Transactional outbox: rows written with the state change, relayed to Redis in order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import Table, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contracts.envelope import Envelope
from services.runtime.wire import encode, fields

log = logging.getLogger(__name__)


async def store(
    session: AsyncSession, outbox: Table, stream: str, events: Sequence[Envelope]
) -> None:
    if not events:
        return
    now = datetime.now(UTC)
    await session.execute(
        insert(outbox),
        [
            {"event_id": e.id, "stream": stream, "body": encode(e), "created_at": now}
            for e in events
        ],
    )


class OutboxRelay:
    """Publishes unsent outbox rows with XADD, then marks them sent.

    A crash between XADD and the mark publishes the row again after restart; consumers
    drop the duplicate through their inbox, so the effect stays exactly once.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[Any],
        outbox: Table,
        redis: Redis,
        poll_s: float,
        batch: int = 200,
    ) -> None:
        self._sessions = sessions
        self._outbox = outbox
        self._redis = redis
        self._poll_s = poll_s
        self._batch = batch
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def pending(self) -> int:
        async with self._sessions() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(self._outbox)
                .where(self._outbox.c.sent_at.is_(None))
            )
        return int(count or 0)

    async def relay_once(self) -> int:
        """Relay one batch; returns how many rows were published."""
        o = self._outbox
        async with self._sessions() as session:
            rows = (
                await session.execute(
                    select(o.c.seq, o.c.stream, o.c.body)
                    .where(o.c.sent_at.is_(None))
                    .order_by(o.c.seq)
                    .limit(self._batch)
                )
            ).all()
        if not rows:
            return 0
        async with self._redis.pipeline(transaction=False) as pipe:
            for row in rows:
                pipe.xadd(row.stream, fields(row.body))  # type: ignore[arg-type]
            await pipe.execute()
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(o)
                .where(o.c.seq.in_([r.seq for r in rows]))
                .values(sent_at=datetime.now(UTC))
            )
        return len(rows)

    async def run(self) -> None:
        while True:
            try:
                while await self.relay_once():
                    pass
            except asyncio.CancelledError:
                raise
            except Exception:
                # Redis or the database is away: keep the rows, try again after the poll.
                log.exception("outbox relay failed; retrying")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll_s)
