"""POST /cap and /edxl-rm: partner XML becomes ingress events; bad XML is refused, precisely."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fakeredis.aioredis import FakeRedis
from fastapi import FastAPI, Request

from contracts import streams
from contracts.catalogue import parse_event
from contracts.envelope import Envelope
from contracts.incidents import DisruptionReportedV1, DisruptionWithdrawnV1, NeedRaisedV1
from services.runtime.wire import encode, fields
from services.standards import cap
from services.standards.http import Outcome, standards_router
from services.standards.network import Network
from services.standards.threads import InMemoryThreadStore
from services.standards.translate import Translation
from tests.unit.standards.conftest import NETWORK, fixture_text, fixture_xml


@dataclass
class Host:
    redis: FakeRedis
    threads: InMemoryThreadStore
    client: httpx.AsyncClient = field(init=False)
    bus_up: bool = True

    async def published(self) -> list[Envelope]:
        entries: Any = await self.redis.xrange(streams.INGRESS)
        return [parse_event(data[b"event"]) for _, data in entries]


def make_app(host: Host, **kwargs: object) -> FastAPI:
    async def publish(envelope: Envelope) -> None:
        if not host.bus_up:
            raise ConnectionError("redis is away")
        await host.redis.xadd(streams.INGRESS, fields(encode(envelope)))  # type: ignore[arg-type]

    async def network() -> Network:
        return NETWORK

    app = FastAPI()
    app.include_router(standards_router(publish, network, host.threads, **kwargs))  # type: ignore[arg-type]
    return app


@pytest.fixture
async def host() -> AsyncIterator[Host]:
    redis = FakeRedis()
    h = Host(redis, InMemoryThreadStore())
    app = make_app(h)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        h.client = client
        yield h
    await redis.aclose()


async def post(host: Host, path: str, body: bytes | str) -> httpx.Response:
    return await host.client.post(path, content=body, headers={"content-type": "application/xml"})


async def test_a_cap_alert_is_published_as_a_disruption_and_its_event_id_returned(
    host: Host,
) -> None:
    response = await post(host, "/cap", fixture_xml("cap_earthquake.xml"))
    assert response.status_code == 202, response.text
    [event] = await host.published()
    assert isinstance(event, DisruptionReportedV1)
    assert response.json() == {
        "event_ids": [event.id],
        "types": [event.type],
        "subjects": [event.data.disruption_id],
    }
    assert event.source == "/hinterland/standards/cap"
    assert "N-yaan" in event.data.nodes


async def test_an_unclosed_polygon_gets_422_naming_the_polygon_and_publishes_nothing(
    host: Host,
) -> None:
    bad = fixture_text("cap_earthquake.xml").replace(" 30.3,102.7</polygon>", "</polygon>")
    response = await post(host, "/cap", bad)
    assert response.status_code == 422
    body = response.json()
    assert body["element"] == "alert/info[1]/area[1]/polygon[1]"
    assert "polygon is not closed" in body["detail"]
    assert await host.published() == []


async def test_a_document_with_a_dtd_gets_400(host: Host) -> None:
    response = await post(host, "/cap", fixture_xml("cap_billion_laughs.xml"))
    assert response.status_code == 400
    assert "DOCTYPE" in response.json()["rule"]
    assert await host.published() == []


async def test_an_alert_in_the_wrong_namespace_gets_400(host: Host) -> None:
    bad = fixture_text("cap_earthquake.xml").replace("cap:1.2", "cap:1.1")
    response = await post(host, "/cap", bad)
    assert response.status_code == 400
    assert "urn:oasis:names:tc:emergency:cap:1.2" in response.json()["detail"]


async def test_an_exercise_alert_is_refused_by_a_live_hinterland(host: Host) -> None:
    response = await post(host, "/cap", fixture_xml("cap_flood_exercise.xml"))
    assert response.status_code == 422
    assert "never mixed" in response.json()["rule"]
    assert await host.published() == []


async def test_a_cancel_publishes_the_withdrawal_of_the_original_disruption(host: Host) -> None:
    response = await post(host, "/cap", fixture_xml("cap_cancel.xml"))
    assert response.status_code == 202, response.text
    [event] = await host.published()
    assert isinstance(event, DisruptionWithdrawnV1)
    original = cap.disruption_id_for("alerts@cea.example.cn", "CEA-2026-0512-001")
    assert response.json() == {
        "event_ids": [event.id],
        "types": ["hinterland.incidents.disruption_withdrawn.v1"],
        "subjects": [original],
    }


async def test_the_host_can_refuse_a_translation_and_is_told_every_outcome() -> None:
    h = Host(FakeRedis(), InMemoryThreadStore())
    outcomes: list[Outcome] = []

    async def admit(request: Request, t: Translation) -> str | None:
        if any(e.type.endswith("need_raised.v1") for e in t.envelopes):
            return "no needs from this caller"
        return None

    async def record(request: Request, outcome: Outcome) -> None:
        outcomes.append(outcome)

    app = make_app(h, admit=admit, record=record)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        refused = await client.post("/edxl-rm", content=fixture_xml("rm_request.xml"))
        published = await client.post("/cap", content=fixture_xml("cap_earthquake.xml"))
        invalid = await client.post("/cap", content=b"<alert/>")
    assert refused.status_code == 403
    assert refused.json() == {"detail": "no needs from this caller"}
    assert h.threads.snapshot() == {}  # refused: no thread kept either
    assert published.status_code == 202
    assert invalid.status_code == 400
    [event] = await h.published()
    assert [(o.kind, o.status, o.event_ids) for o in outcomes] == [
        ("edxl-rm", 403, ()),
        ("cap", 202, (event.id,)),
        ("cap", 400, ()),
    ]
    assert outcomes[0].detail == "no needs from this caller"
    assert outcomes[1].subjects == (event.subject,)
    assert "urn:oasis:names:tc:emergency:cap:1.2" in outcomes[2].detail


async def test_a_resource_request_publishes_one_need_per_item_and_keeps_the_threads(
    host: Host,
) -> None:
    response = await post(host, "/edxl-rm", fixture_xml("rm_request.xml"))
    assert response.status_code == 202, response.text
    events = await host.published()
    assert all(isinstance(e, NeedRaisedV1) for e in events)
    need_ids = [e.data.need_id for e in events if isinstance(e, NeedRaisedV1)]
    assert response.json()["subjects"] == need_ids
    threads = await host.threads.get_many(need_ids)
    assert {t.originating_message_id for t in threads.values()} == {"YAAN-REQ-0001"}


async def test_posting_the_same_request_twice_publishes_the_same_event_ids(host: Host) -> None:
    first = await post(host, "/edxl-rm", fixture_xml("rm_request.xml"))
    second = await post(host, "/edxl-rm", fixture_xml("rm_request.xml"))
    assert first.json()["event_ids"] == second.json()["event_ids"]


async def test_a_commit_without_preceding_message_id_gets_422_naming_it(host: Host) -> None:
    response = await post(host, "/edxl-rm", fixture_xml("rm_commit_without_preceding.xml"))
    assert response.status_code == 422
    body = response.json()
    assert body["element"] == "CommitResource/PrecedingMessageID"
    assert "required in a CommitResource" in body["rule"]
    assert await host.published() == []


async def test_one_bad_item_refuses_the_whole_request(host: Host) -> None:
    bad = fixture_text("rm_request.xml").replace("500 kg", "500 boxes")
    response = await post(host, "/edxl-rm", bad)
    assert response.status_code == 422
    assert "ResourceInformation[2]" in response.json()["element"]
    assert await host.published() == []
    assert host.threads.snapshot() == {}


async def test_when_the_bus_is_away_the_answer_is_503_and_no_thread_is_kept(host: Host) -> None:
    host.bus_up = False
    response = await post(host, "/edxl-rm", fixture_xml("rm_request.xml"))
    assert response.status_code == 503
    assert host.threads.snapshot() == {}


async def test_an_oversized_body_gets_413(host: Host) -> None:
    response = await post(host, "/cap", b"<a>" + b" " * 1_100_000 + b"</a>")
    assert response.status_code == 413


async def test_the_openapi_document_describes_xml_bodies(host: Host) -> None:
    spec = (await host.client.get("/openapi.json")).json()
    body = spec["paths"]["/edxl-rm"]["post"]["requestBody"]["content"]
    assert "application/xml" in body
    assert "422" in spec["paths"]["/cap"]["post"]["responses"]


async def test_when_the_network_snapshot_is_unavailable_the_answer_is_503() -> None:
    h = Host(FakeRedis(), InMemoryThreadStore())

    async def publish(envelope: Envelope) -> None:
        raise AssertionError("nothing may be published")

    async def network() -> Network:
        raise ConnectionError("transport tables are away")

    app = FastAPI()
    app.include_router(standards_router(publish, network, h.threads))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        response = await client.post("/cap", content=fixture_xml("cap_earthquake.xml"))
    assert response.status_code == 503
    assert "network unavailable" in response.json()["detail"]
