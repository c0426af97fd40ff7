"""The planner's settle check on a real Redis: applied up to a mark, whatever came after."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from services.runtime.bus import errors_key, groups_reached, stream_marks

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def test_reached_means_read_and_acked_up_to_the_mark(redis: Redis, namespace: str) -> None:
    a, b = f"{namespace}:a", f"{namespace}:b"
    for stream in (a, b):
        await redis.xgroup_create(stream, "g1", id="0", mkstream=True)
        await redis.xgroup_create(stream, "g2", id="0")
    first = await redis.xadd(a, {"n": "1"})
    await redis.xadd(a, {"n": "2"})
    marks = await stream_marks(redis, [a, b, f"{namespace}:never-written"])
    assert marks[b] == (0, 0)
    assert marks[f"{namespace}:never-written"] == (0, 0)

    assert not await groups_reached(redis, marks)  # nobody has read anything
    await redis.xreadgroup("g1", "c", {a: ">"})
    await redis.xreadgroup("g2", "c", {a: ">"}, count=1)
    assert not await groups_reached(redis, marks)  # g2 has not read the second entry
    read: Any = await redis.xreadgroup("g2", "c", {a: ">"})
    assert not await groups_reached(redis, marks)  # read, but nothing acknowledged
    second = read[0][1][0][0]
    await redis.xack(a, "g1", first)
    await redis.xack(a, "g2", first, second)
    assert not await groups_reached(redis, marks)  # g1 still holds the second entry
    await redis.xack(a, "g1", second)

    # Entries after the mark, read but unacknowledged, or not read at all, do not matter.
    await redis.xadd(a, {"n": "3"})
    await redis.xreadgroup("g1", "c", {a: ">"})
    await redis.xadd(b, {"n": "1"})
    assert await groups_reached(redis, marks)
    assert not await groups_reached(redis, await stream_marks(redis, [a, b]))


async def test_an_entry_that_failed_and_waits_for_its_retry_is_not_waited_for(
    redis: Redis, namespace: str
) -> None:
    a = f"{namespace}:a"
    await redis.xgroup_create(a, "g", id="0", mkstream=True)
    ids = [await redis.xadd(a, {"n": str(n)}) for n in range(3)]
    marks = await stream_marks(redis, [a])
    await redis.xreadgroup("g", "c", {a: ">"})
    await redis.xack(a, "g", ids[0])
    await redis.hset(errors_key("g", a), ids[1], "OrderNotYetKnown(...)")  # failed, pending
    assert not await groups_reached(redis, marks)  # ids[2] is read, not yet applied
    await redis.xack(a, "g", ids[2])
    assert await groups_reached(redis, marks)  # only the failed one is left
    await redis.hdel(errors_key("g", a), ids[1])  # an error of another entry would not do
    await redis.hset(errors_key("g", a), ids[0], "old")
    assert not await groups_reached(redis, marks)
