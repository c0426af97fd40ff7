"""The ingress.xml consumer on the embedded Redis-protocol server: publish, or dead-letter why."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from redis.asyncio import Redis

from contracts import streams
from contracts.catalogue import parse_event
from contracts.incidents import DisruptionReportedV1, DisruptionWithdrawnV1, NeedRaisedV1
from services.standards.bus import GROUP, XML_STREAM, StandardsBus
from services.standards.network import Network
from services.standards.threads import InMemoryThreadStore
from simulations.harness import embedded_redis
from tests.unit.standards.conftest import NETWORK, fixture_text, fixture_xml

DEAD = streams.dead_letter(XML_STREAM)


@pytest.fixture
def redis_url() -> Iterator[str]:
    with embedded_redis() as url:
        yield url


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[Redis]:
    r = Redis.from_url(redis_url)
    yield r
    await r.aclose()


async def wait_for(client: Redis, counts: dict[str, int], limit_s: float = 10.0) -> None:
    async def lengths() -> dict[str, int]:
        return {s: int(await client.xlen(s)) for s in counts}

    deadline = asyncio.get_running_loop().time() + limit_s
    while (now := await lengths()) != counts:
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"streams {now}, expected {counts}")
        await asyncio.sleep(0.02)


async def test_xml_on_the_bus_is_published_as_events_and_bad_xml_is_dead_lettered_with_why(
    redis_url: str, client: Redis
) -> None:
    store = InMemoryThreadStore()

    async def network() -> Network:
        return NETWORK

    # posted before the adapter starts: the group is created at 0, so nothing is lost
    await client.xadd(XML_STREAM, {"kind": "cap", "xml": fixture_xml("cap_earthquake.xml")})
    bus = StandardsBus(redis_url, network, store, polling_ms=20, reclaim_idle_ms=200)
    await bus.start()
    try:
        bad = fixture_text("cap_earthquake.xml").replace(" 30.3,102.7</polygon>", "</polygon>")
        await client.xadd(XML_STREAM, {"kind": "cap", "xml": bad})
        await client.xadd(XML_STREAM, {"kind": "edxl-rm", "xml": fixture_xml("rm_request.xml")})
        await client.xadd(XML_STREAM, {"kind": "sitrep", "xml": "<x/>"})
        await client.xadd(XML_STREAM, {"kind": "cap", "xml": fixture_xml("cap_cancel.xml")})
        await wait_for(client, {streams.INGRESS: 4, DEAD: 2})
    finally:
        await bus.stop()

    entries: Any = await client.xrange(streams.INGRESS)
    events = [parse_event(data[b"event"]) for _, data in entries]
    assert [type(e) for e in events] == [
        DisruptionReportedV1,
        NeedRaisedV1,
        NeedRaisedV1,
        DisruptionWithdrawnV1,  # a Cancel withdraws the earlier alert's disruption
    ]
    withdrawn = events[-1]
    assert isinstance(withdrawn, DisruptionWithdrawnV1)
    assert withdrawn.data.disruption_id == events[0].subject
    need_ids = [e.data.need_id for e in events if isinstance(e, NeedRaisedV1)]
    assert set((await store.get_many(need_ids)).keys()) == set(need_ids)

    dead: Any = await client.xrange(DEAD)
    letters = [data for _, data in dead]
    polygon, kind = (letter[b"error"].decode() for letter in letters)
    assert "alert/info[1]/area[1]/polygon[1]" in polygon
    assert "not closed" in polygon
    assert "'kind' (cap or edxl-rm)" in kind
    assert letters[0][b"xml"] == bad.encode()  # the document is kept for replay
    assert letters[0][b"group"] == GROUP.encode()

    pending = await client.xpending(XML_STREAM, GROUP)
    assert pending["pending"] == 0  # everything acknowledged
