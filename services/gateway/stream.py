"""The live feed behind ``GET /stream``: one poller per process, many listeners.

Source: a cheap fingerprint query on the read model (row count and last time of dispatch's
inbox, last outbox sequence, last plan decision), every ``poll_s`` while anyone listens. We
poll the database rather than tail the Redis streams because what the console shows is the
read model *after* dispatch applied an event; an event on a stream says nothing about
whether it has been applied yet, and the database is the one source both reads and the feed
agree on. At 4 polls a second the cost is three indexed aggregate queries, shared by every
listener.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

log = logging.getLogger(__name__)


class ChangeFeed:
    def __init__(self, probe: Callable[[], Awaitable[str]], poll_s: float) -> None:
        self._probe = probe
        self._poll_s = poll_s
        self._changed = asyncio.Condition()
        self._listeners = 0
        self._task: asyncio.Task[None] | None = None
        self.stamp = ""

    async def _run(self) -> None:
        while True:
            try:
                stamp = await self._probe()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database is away: keep trying, listeners keep waiting
                log.exception("live feed probe failed")
                stamp = self.stamp
            if stamp != self.stamp:
                self.stamp = stamp
                async with self._changed:
                    self._changed.notify_all()
            await asyncio.sleep(self._poll_s)

    @contextlib.asynccontextmanager
    async def listening(self) -> AsyncIterator[None]:
        """While inside, the poller runs; it stops when the last listener leaves."""
        self._listeners += 1
        if self._task is None or self._task.done():
            self.stamp = await self._probe()
            self._task = asyncio.create_task(self._run(), name="gateway-live-feed")
        try:
            yield
        finally:
            self._listeners -= 1
            if self._listeners == 0 and self._task is not None:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
                self._task = None

    async def changed(self, seen: str, wait_s: float) -> str:
        """The stamp once it differs from ``seen`` (or ``seen`` after ``wait_s``)."""
        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait_for(lambda: self.stamp != seen), wait_s)
        return self.stamp

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
