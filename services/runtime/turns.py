"""One transaction at a time in a service process, with turns for who must not wait long."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class Turns:
    """An in-process lock whose urgent waiters go before the others.

    A service's readers already apply one transaction at a time (its advisory ``lock_key``);
    they queue in PostgreSQL, first come first served. Dispatch's planner takes the same
    lock to hold orders and to publish, and under load it queued behind every read waiting
    there: up to a second per plan (load runs, session 6). Taking a turn here first, before
    any connection waits in PostgreSQL, lets the planner go next. The advisory lock stays:
    it also covers other processes.
    """

    def __init__(self) -> None:
        self._busy = False
        self._urgent = 0
        self._changed = asyncio.Condition()

    @asynccontextmanager
    async def turn(self, urgent: bool = False) -> AsyncIterator[None]:
        async with self._changed:
            self._urgent += urgent
            try:
                await self._changed.wait_for(
                    lambda: not self._busy and (urgent or not self._urgent)
                )
            finally:
                self._urgent -= urgent
                if urgent:
                    self._changed.notify_all()  # cancelled while waiting: the others may go
            self._busy = True
        try:
            yield
        finally:
            async with self._changed:
                self._busy = False
                self._changed.notify_all()
