"""Redis connections from a URL, including the in-process bus of embedded runs.

``memory://<name>`` is an in-process Redis (fakeredis) shared by every connection of the process
that names it: the embedded exercise runs the three services' real subscribers, consumer
groups and outboxes on it without a server, a socket or a thread. Any other URL is a real Redis.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from redis.asyncio import Redis

MEMORY: Final = "memory://"


def connection_options(url: str) -> tuple[str, dict[str, Any]]:
    """The redis:// URL and extra connection options for ``url``."""
    if not url.startswith(MEMORY):
        return url, {}
    from fakeredis.aioredis import FakeAsyncRedisConnection  # only embedded runs need it

    name = url.removeprefix(MEMORY).strip("/") or "default"
    return f"redis://{name}:6379/0", {"connection_class": FakeAsyncRedisConnection}


def redis_client(url: str) -> Redis:
    real, options = connection_options(url)
    return Redis.from_url(real, **options)


async def groups_caught_up(
    redis: Redis, streams: Sequence[str], only: Sequence[str] | None = None
) -> bool:
    """True if every consumer group of each stream (or the one named in ``only``, pairwise)
    has read everything and holds nothing pending. One pipelined round trip for all."""
    async with redis.pipeline(transaction=False) as pipe:
        for stream in streams:
            pipe.xinfo_stream(stream)
            pipe.xinfo_groups(stream)
        replies = await pipe.execute(raise_on_error=False)
    for k in range(len(streams)):
        info, groups = replies[2 * k], replies[2 * k + 1]
        if isinstance(info, Exception):  # no such stream yet: nothing to read
            continue
        wanted = [g for g in groups if only is None or g["name"].decode() == only[k]]
        if only is not None and not wanted:
            return False
        last = info["last-generated-id"]
        if any(g["pending"] or g["last-delivered-id"] != last for g in wanted):
            return False
    return True


def entry_key(entry_id: str | bytes) -> tuple[int, int]:
    """A stream entry id as a comparable (milliseconds, sequence) pair."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


async def stream_marks(redis: Redis, streams: Sequence[str]) -> dict[str, tuple[int, int]]:
    """The last entry id of each stream now ((0, 0) for a stream that does not exist yet)."""
    async with redis.pipeline(transaction=False) as pipe:
        for stream in streams:
            pipe.xinfo_stream(stream)
        replies = await pipe.execute(raise_on_error=False)
    return {
        stream: (0, 0) if isinstance(info, Exception) else entry_key(info["last-generated-id"])
        for stream, info in zip(streams, replies, strict=True)
    }


def errors_key(group: str, stream: str) -> str:
    """The hash of a group's last error per entry of a stream (set when an entry fails, removed
    when it is finally acknowledged): an entry in it waits for a retry."""
    return f"{group}:errors:{stream}"


async def groups_reached(redis: Redis, marks: dict[str, tuple[int, int]]) -> bool:
    """True if every group of each stream has read and acknowledged every entry up to its mark,
    or failed it and waits to retry it (``errors_key``).

    Unlike ``groups_caught_up`` this ignores entries added after the marks were taken, so
    under a steady stream of events it answers yes as soon as the earlier ones are applied.
    An entry that failed (say, a vehicle's report of an order not known yet) is retried only
    after the reclaim idle time, up to ``max_deliveries`` times: waiting for it held plans back
    by seconds while everything else had long been applied.
    """
    streams = [s for s, mark in marks.items() if mark > (0, 0)]
    async with redis.pipeline(transaction=False) as pipe:
        for stream in streams:
            pipe.xinfo_groups(stream)
        replies = await pipe.execute()
    busy: list[tuple[str, str]] = []
    for stream, groups in zip(streams, replies, strict=True):
        for g in groups:
            if entry_key(g["last-delivered-id"]) < marks[stream]:
                return False
            if g["pending"]:
                busy.append((stream, g["name"].decode()))
    if not busy:
        return True
    async with redis.pipeline(transaction=False) as pipe:
        for stream, group in busy:
            ms, seq = marks[stream]
            pipe.xpending_range(stream, group, min="-", max=f"{ms}-{seq}", count=_PENDING_PAGE)
        pages = await pipe.execute()
    waiting = [
        (stream, group, [e["message_id"] for e in page])
        for (stream, group), page in zip(busy, pages, strict=True)
        if page
    ]
    if not waiting:
        return True
    if any(len(ids) == _PENDING_PAGE for _s, _g, ids in waiting):
        return False  # a long backlog up to the mark: not reached, whatever failed in it
    async with redis.pipeline(transaction=False) as pipe:
        for stream, group, ids in waiting:
            pipe.hmget(errors_key(group, stream), ids)
        errors = await pipe.execute()
    return all(e is not None for found in errors for e in found)


_PENDING_PAGE = 1000
