"""The dispatcher HTTP API: writes become ingress events, bad requests are refused precisely."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fakeredis.aioredis import FakeRedis

from contracts import streams
from contracts.catalogue import parse_event
from contracts.incidents import NeedRaisedV1
from services.dispatch.bootstrap import SPEC
from services.dispatch.http import build_api
from services.runtime import db, migrate

NEED = {
    "need_id": "N-1",
    "node_id": "N-yaan",
    "commodity": "medical",
    "quantity": 20,
    "unit": "t",
    "priority": "life_saving",
    "deadline": "2026-05-12T18:00:00+00:00",
}


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, FakeRedis]]:
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'dispatch.sqlite'}")
    await migrate.upgrade(engine, SPEC.name, SPEC.migrations)
    redis = FakeRedis()
    app = build_api(db.session_factory(engine), redis)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client, redis
    await redis.aclose()
    await engine.dispose()


async def test_a_raised_need_is_published_on_ingress_and_its_event_id_returned(
    api: tuple[httpx.AsyncClient, FakeRedis],
) -> None:
    client, redis = api
    response = await client.post("/needs", json=NEED, params={"classification": "restricted"})
    assert response.status_code == 202
    body = response.json()
    [(_, fields)] = await redis.xrange(streams.INGRESS)
    event = parse_event(fields[b"event"])
    assert isinstance(event, NeedRaisedV1)
    assert event.id == body["event_id"]
    assert event.data.quantity == 20
    assert event.classification == "restricted"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"quantity": -5}, "quantity"),
        ({"priority": "urgent"}, "priority"),
        ({"deadline": "2026-05-12T18:00:00"}, "deadline"),
        ({"commodity": "Medical Kits"}, "commodity"),
    ],
    ids=["negative quantity", "unknown priority", "naive deadline", "bad commodity code"],
)
async def test_a_bad_need_is_refused_with_the_field_named_and_nothing_published(
    api: tuple[httpx.AsyncClient, FakeRedis], change: dict[str, object], field: str
) -> None:
    client, redis = api
    response = await client.post("/needs", json={**NEED, **change})
    assert response.status_code == 422
    locations = [err["loc"] for err in response.json()["detail"]]
    assert any(field in loc for loc in locations), locations
    assert await redis.xlen(streams.INGRESS) == 0


async def test_a_disruption_naming_nothing_is_refused(
    api: tuple[httpx.AsyncClient, FakeRedis],
) -> None:
    client, redis = api
    response = await client.post(
        "/disruptions",
        json={
            "disruption_id": "Q-1",
            "kind": "flood",
            "severity": 3,
            "observed_at": "2026-05-12T08:00:00+00:00",
        },
    )
    assert response.status_code == 422
    assert "must name links, nodes, depots or an area" in response.text
    assert await redis.xlen(streams.INGRESS) == 0


async def test_there_is_no_plan_before_one_is_published(
    api: tuple[httpx.AsyncClient, FakeRedis],
) -> None:
    client, _ = api
    response = await client.get("/plan")
    assert response.status_code == 404
    assert "no plan" in response.json()["detail"]
