"""Reclaiming what another reader left pending, a read's worth at a time.

FastStream's reclaiming subscriber (``StreamSub(min_idle_time=...)``) claims one entry per
XAUTOCLAIM and hands it over alone: what a killed process had read (up to ``max_records``
entries) came back one entry and one transaction at a time, which made recovery after a kill
grow with the read size (21-25 s at 200 entries per read in the fault run). It also loops
without pausing while the pending list holds entries not yet idle, as it does under load
whenever a long read is in flight. This loop claims up to ``max_records`` idle entries per
call and applies them as one read through the same ``EntryProcessor``, and pauses whenever a
pass over the pending list found nothing to claim.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from services.runtime.consumer import EntryProcessor, Outcome

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Reclaimer:
    redis: Redis
    processor: EntryProcessor
    stream: str
    consumer: str
    min_idle_ms: int
    count: int
    pause_s: float
    """Between passes over the pending list that claimed nothing, and after a Redis error."""

    async def claim_once(self, cursor: str = "0-0") -> tuple[str, list[Outcome]]:
        """One XAUTOCLAIM from ``cursor`` and the claimed entries applied as one read.

        Returns the cursor to continue from ("0-0": the pending list was scanned to its end)
        and the outcome of each entry claimed.
        """
        group = self.processor.group
        reply = await self.redis.xautoclaim(
            self.stream,
            group,
            self.consumer,
            min_idle_time=self.min_idle_ms,
            start_id=cursor,
            count=self.count,
        )
        next_id, messages = reply[0], reply[1]
        deleted = reply[2] if len(reply) > 2 else []
        if deleted:
            # Redis drops from the pending list entries that were trimmed from the stream
            # before anyone acknowledged them; nothing can be applied, so say so loudly.
            log.error(
                "%s: %d pending entries of %s were deleted from the stream before being "
                "applied: %s",
                group,
                len(deleted),
                self.stream,
                [_text(d) for d in deleted],
            )
        entries = [(_text(entry_id), data) for entry_id, data in messages if entry_id is not None]
        outcomes = await self.processor.process_batch(self.stream, entries) if entries else []
        return _text(next_id), outcomes

    async def run(self) -> None:
        cursor = "0-0"
        while True:
            try:
                cursor, outcomes = await self.claim_once(cursor)
            except Exception as exc:  # never let the loop die: what it missed stays pending
                if isinstance(exc, _REDIS_AWAY):  # restarting, or the group not there yet
                    log.warning(
                        "%s: reclaiming %s failed: %r", self.processor.group, self.stream, exc
                    )
                else:
                    log.exception("%s: reclaiming %s failed", self.processor.group, self.stream)
                cursor = "0-0"
                await asyncio.sleep(self.pause_s)
                continue
            if cursor == "0-0" and not outcomes:
                await asyncio.sleep(self.pause_s)


_REDIS_AWAY = (RedisConnectionError, RedisTimeoutError, OSError, ResponseError)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
