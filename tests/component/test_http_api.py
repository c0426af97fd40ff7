"""The gateway HTTP API on the embedded bus (fakeredis) and an SQLite read model.

Writes become ingress events; every route checks its role; reads are filtered by clearance;
plan decisions, the audit log and the live stream behave as the console relies on.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fakeredis.aioredis import FakeRedis
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts import streams
from contracts.catalogue import parse_event
from contracts.incidents import NeedRaisedV1
from services.dispatch.adapters import tables as t
from services.dispatch.bootstrap import SPEC
from services.gateway import tables as g
from services.gateway.access import ACCESS, PUBLIC
from services.gateway.api import build_api
from services.gateway.models import ExerciseStatus
from services.gateway.openapi import DEFAULT as OPENAPI_FILE
from services.gateway.openapi import render
from services.gateway.security import ROLES, issue_token
from services.gateway.settings import GatewaySettings
from services.gateway.users import create_user, migrate_gateway
from services.runtime import db, migrate
from tests.conftest import free_port
from tests.unit.gateway.samples import add_plan, seed_world

SECRET = "component-test-secret-0123456789abcdef"
PASSWORD = "password-123"
NEED = {
    "need_id": "N-1",
    "node_id": "N-yaan",
    "commodity": "medical",
    "quantity": 20,
    "unit": "t",
    "priority": "life_saving",
    "deadline": "2026-05-12T18:00:00+00:00",
}
USERS = {
    "dora": (["dispatcher"], "public"),
    "mara": (["dispatcher"], "military"),
    "olga": (["observer"], "public"),
    "ivan": (["integrator"], "restricted"),
    "eric": (["exercise-controller"], "public"),
    "adam": (["admin"], "public"),
}


class FakeExercise:
    def __init__(self) -> None:
        self.state: Any = "idle"
        self.scenario: str | None = None

    def _status(self) -> ExerciseStatus:
        return ExerciseStatus(state=self.state, scenario=self.scenario)

    async def status(self) -> ExerciseStatus:
        return self._status()

    async def start(self, scenario: str) -> ExerciseStatus:
        self.state, self.scenario = "running", scenario
        return self._status()

    async def pause(self) -> ExerciseStatus:
        self.state = "paused"
        return self._status()

    async def step(self) -> ExerciseStatus:
        return self._status()

    async def stop(self) -> ExerciseStatus:
        self.state = "stopped"
        return self._status()


class Gateway:
    def __init__(self, app: FastAPI, engine: AsyncEngine, redis: FakeRedis) -> None:
        self.app = app
        self.engine = engine
        self.redis = redis
        self.sessions = db.session_factory(engine)
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
        self.tokens: dict[str, str] = {}

    async def login(self, username: str) -> str:
        if username not in self.tokens:
            r = await self.http.post(
                "/login/token", data={"username": username, "password": PASSWORD}
            )
            assert r.status_code == 200, r.text
            self.tokens[username] = r.json()["access_token"]
        return self.tokens[username]

    async def as_(self, username: str, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {await self.login(username)}"}
        return await self.http.request(method, path, headers=headers, **kw)

    async def count(self, table: Any) -> int:
        async with self.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(table)) or 0)


async def _gateway(tmp_path: Path, exercise: FakeExercise | None) -> Gateway:
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'hinterland.sqlite'}")
    await migrate.upgrade(engine, SPEC.name, SPEC.migrations)
    await migrate_gateway(engine)
    sessions = db.session_factory(engine)
    async with sessions() as session, session.begin():
        await seed_world(session)
    for name, (roles, clearance) in USERS.items():
        await create_user(sessions, name, PASSWORD, roles, clearance)
    redis = FakeRedis()
    settings = GatewaySettings(mode="live", token_secret=SECRET, sse_poll_s=0.05)
    app = build_api(engine, redis, settings, exercise=exercise)
    return Gateway(app, engine, redis)


@pytest.fixture
async def gw(tmp_path: Path) -> AsyncIterator[Gateway]:
    gateway = await _gateway(tmp_path, FakeExercise())
    yield gateway
    await gateway.http.aclose()
    await gateway.redis.aclose()
    await gateway.engine.dispose()


def _routes(app: FastAPI) -> list[tuple[str, str]]:
    return sorted(
        (method, r.path)
        for r in app.routes
        if isinstance(r, APIRoute)
        for method in r.methods or ()
        if method != "HEAD"
    )


def _concrete(path: str) -> str:
    return path.replace("{plan_id}", "P0002")


# --- access ---------------------------------------------------------------------------------


def test_every_route_is_in_the_access_table_or_declared_public_and_the_table_has_no_stale_rows(
    gw: Gateway,
) -> None:
    routes = set(_routes(gw.app))
    api_public = {p for p in PUBLIC if p in routes}
    assert routes - ACCESS.keys() == api_public, "a route is neither public nor in ACCESS"
    assert ACCESS.keys() <= routes, f"stale rows: {ACCESS.keys() - routes}"
    assert not ACCESS.keys() & PUBLIC


async def test_no_route_but_health_login_and_the_console_shell_answers_without_a_token(
    gw: Gateway,
) -> None:
    open_routes = []
    for method, path in _routes(gw.app):
        r = await gw.http.request(method, _concrete(path), json={})
        if r.status_code != 401:
            open_routes.append((method, path, r.status_code))
        else:
            assert "needs a bearer token" in r.json()["detail"]
            assert r.headers["www-authenticate"] == "Bearer"
    assert sorted((m, p) for m, p, _ in open_routes) == [
        ("GET", "/"),
        ("GET", "/health"),
        ("POST", "/login/token"),
    ], open_routes
    # The documents describing the API are public too (they hold no data): checked here so
    # that adding a data route to PUBLIC by mistake shows up as a difference above.
    assert (await gw.http.get("/openapi.json")).status_code == 200
    assert (await gw.http.get("/console/console.js")).status_code == 200
    assert await gw.redis.xlen(streams.INGRESS) == 0


@pytest.mark.parametrize("role", ROLES)
async def test_each_role_reaches_exactly_the_routes_the_table_gives_it(
    gw: Gateway, role: str
) -> None:
    name = next(n for n, (roles, _) in USERS.items() if roles == [role])
    for (method, path), roles in ACCESS.items():
        if path == "/stream":
            continue  # never ends; covered by the live-stream test
        r = await gw.as_(name, method, _concrete(path), json={})
        if role in roles:
            assert r.status_code not in (401, 403), (method, path, r.text)
        else:
            assert r.status_code == 403, (method, path, r.status_code)
            assert f"{method} {path} needs role" in r.json()["detail"]
    assert await gw.redis.xlen(streams.INGRESS) == 0  # json={} is never a valid write


async def test_an_observer_cannot_approve_a_plan_and_the_refusal_names_the_rule(
    gw: Gateway,
) -> None:
    r = await gw.as_("olga", "POST", "/plans/P0002/decision", json={"decision": "approve"})
    assert r.status_code == 403
    assert r.json()["detail"] == (
        "POST /plans/{plan_id}/decision needs role dispatcher; olga has observer"
    )
    assert await gw.count(g.decisions) == 0
    async with gw.sessions() as session:
        row = (await session.execute(select(g.audit).where(g.audit.c.outcome != "ok"))).one()
    assert (row.username, row.outcome, row.status_code) == ("olga", "denied", 403)


async def test_an_expired_token_is_refused_with_401_and_publishes_nothing(gw: Gateway) -> None:
    stale = issue_token(
        "dora", SECRET, timedelta(hours=1), now=datetime.now(UTC) - timedelta(hours=3)
    )
    r = await gw.http.post("/needs", json=NEED, headers={"Authorization": f"Bearer {stale.token}"})
    assert r.status_code == 401
    assert r.json()["detail"] == "token expired: log in again"
    assert await gw.redis.xlen(streams.INGRESS) == 0


async def test_a_token_for_a_disabled_user_stops_working_at_once(gw: Gateway) -> None:
    await gw.login("dora")
    async with gw.sessions() as session, session.begin():
        await session.execute(
            g.users.update().where(g.users.c.username == "dora").values(active=False)
        )
    r = await gw.as_("dora", "GET", "/needs")
    assert r.status_code == 401
    assert "unknown or disabled" in r.json()["detail"]


async def test_live_mode_without_a_secret_issues_and_trusts_no_token(gw: Gateway) -> None:
    token = await gw.login("dora")
    app = build_api(gw.engine, gw.redis, GatewaySettings(mode="live", token_secret=None))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as http:
        login = await http.post("/login/token", data={"username": "dora", "password": PASSWORD})
        read = await http.get("/needs", headers={"Authorization": f"Bearer {token}"})
        write = await http.post("/needs", json=NEED, headers={"Authorization": f"Bearer {token}"})
        health = await http.get("/health")
    for refused in (login, read, write):
        assert refused.status_code == 503
        assert "HINTERLAND_TOKEN_SECRET is not set" in refused.json()["detail"]
    assert health.status_code == 200  # dispatch itself is fine; only the API is shut
    assert await gw.redis.xlen(streams.INGRESS) == 0


async def test_a_wrong_password_gets_no_token(gw: Gateway) -> None:
    r = await gw.http.post("/login/token", data={"username": "dora", "password": "nope-nope"})
    assert r.status_code == 401
    assert r.json()["detail"] == "incorrect username or password"


# --- writes ---------------------------------------------------------------------------------


async def test_a_raised_need_is_published_on_ingress_and_audited_with_its_event_id(
    gw: Gateway,
) -> None:
    r = await gw.as_("ivan", "POST", "/needs", json=NEED, params={"classification": "restricted"})
    assert r.status_code == 202
    body = r.json()
    entries: Any = await gw.redis.xrange(streams.INGRESS)
    [(_, fields)] = entries
    event = parse_event(fields[b"event"])
    assert isinstance(event, NeedRaisedV1)
    assert event.id == body["event_id"]
    assert event.data.quantity == 20
    assert event.classification == "restricted"
    assert event.mode == "live"
    audit = (await gw.as_("adam", "GET", "/audit")).json()
    mine = [a for a in audit if a["action"] == "POST /needs"]
    assert [(a["username"], a["event_ids"], a["target"]) for a in mine] == [
        ("ivan", [event.id], "N-1")
    ]


async def test_a_need_classified_above_the_callers_clearance_is_refused(gw: Gateway) -> None:
    r = await gw.as_("dora", "POST", "/needs", json=NEED, params={"classification": "military"})
    assert r.status_code == 403
    assert "cleared to public only" in r.json()["detail"]
    assert await gw.redis.xlen(streams.INGRESS) == 0


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
    gw: Gateway, change: dict[str, object], field: str
) -> None:
    r = await gw.as_("dora", "POST", "/needs", json={**NEED, **change})
    assert r.status_code == 422
    locations = [err["loc"] for err in r.json()["detail"]]
    assert any(field in loc for loc in locations), locations
    assert await gw.redis.xlen(streams.INGRESS) == 0


async def test_a_disruption_naming_nothing_is_refused(gw: Gateway) -> None:
    r = await gw.as_(
        "dora",
        "POST",
        "/disruptions",
        json={
            "disruption_id": "Q-1",
            "kind": "flood",
            "severity": 3,
            "observed_at": "2026-05-12T08:00:00+00:00",
        },
    )
    assert r.status_code == 422
    assert "must name links, nodes, depots or an area" in r.text
    assert await gw.redis.xlen(streams.INGRESS) == 0


async def test_when_the_bus_is_away_a_write_answers_503_and_audits_nothing(gw: Gateway) -> None:
    await gw.login("dora")
    await gw.redis.aclose()
    broken = FakeRedis(connected=False)
    app = build_api(
        gw.engine, broken, GatewaySettings(mode="live", token_secret=SECRET), exercise=None
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as http:
        r = await http.post(
            "/needs", json=NEED, headers={"Authorization": f"Bearer {gw.tokens['dora']}"}
        )
    assert r.status_code == 503
    assert "event bus unavailable" in r.json()["detail"]
    assert await gw.count(g.audit) == 1  # the login only


# --- plans and decisions --------------------------------------------------------------------


async def test_the_current_plan_says_what_changed_and_why(gw: Gateway) -> None:
    view = (await gw.as_("mara", "GET", "/plan")).json()
    assert view["plan"]["plan_id"] == "P0002"
    assert view["current"] is True
    assert view["changes"]["previous_plan_id"] == "P0001"
    assert view["changes"]["vehicles_rerouted"] == ["V-CIV"]
    [tents] = view["changes"]["needs"]
    assert (tents["need_id"], tents["reason"]) == ("N-TENTS", "cut_off")
    history = (await gw.as_("olga", "GET", "/plans")).json()
    assert [p["version"] for p in history] == [2, 1]


async def test_a_dispatcher_approves_the_current_plan_and_everyone_sees_the_decision(
    gw: Gateway,
) -> None:
    r = await gw.as_(
        "dora", "POST", "/plans/P0002/decision", json={"decision": "approve", "note": "go"}
    )
    assert r.status_code == 201, r.text
    assert r.json()["decision"] == "approved"
    view = (await gw.as_("olga", "GET", "/plan")).json()
    assert view["decision"]["username"] == "dora"
    assert view["decision"]["decision"] == "approved"
    assert (await gw.as_("olga", "GET", "/plans")).json()[0]["decision"]["decision"] == "approved"
    assert await gw.redis.xlen(streams.INGRESS) == 0  # recorded here, nothing published


async def test_a_superseded_plan_cannot_be_decided(gw: Gateway) -> None:
    r = await gw.as_("dora", "POST", "/plans/P0001/decision", json={"decision": "approve"})
    assert r.status_code == 409
    assert "superseded by version 2" in r.json()["detail"]
    assert await gw.count(g.decisions) == 0


async def test_an_override_must_say_why(gw: Gateway) -> None:
    r = await gw.as_("dora", "POST", "/plans/P0002/decision", json={"decision": "override"})
    assert r.status_code == 422
    assert "an override must say why" in r.text
    assert await gw.count(g.decisions) == 0


# --- classification -------------------------------------------------------------------------


async def test_a_civil_caller_sees_nothing_military_in_any_read(gw: Gateway) -> None:
    for path in (
        "/plan",
        "/plans/P0001",
        "/plans",
        "/needs",
        "/assets",
        "/depots",
        "/stock",
        "/orders",
        "/snapshot",
    ):
        r = await gw.as_("dora", "GET", path)
        assert r.status_code == 200, (path, r.text)
        for secret in ("V-MIL", "NM-FUEL", "D-MIL"):
            assert secret not in r.text, (path, secret)
    snapshot = (await gw.as_("mara", "GET", "/snapshot")).json()
    assert {r["vehicle_id"] for r in snapshot["plan"]["plan"]["routes"]} == {"V-CIV", "V-MIL"}
    assert "D-MIL" in {d["depot_id"] for d in snapshot["depots"]}


# --- exercises ------------------------------------------------------------------------------


async def test_exercise_routes_answer_503_without_a_controller(tmp_path: Path) -> None:
    gateway = await _gateway(tmp_path, None)
    try:
        r = await gateway.as_("eric", "POST", "/exercise/start", json={"scenario": "smoke"})
        assert r.status_code == 503
        assert r.json()["detail"] == "no exercise controller: this API runs without one"
    finally:
        await gateway.http.aclose()
        await gateway.engine.dispose()


async def test_an_exercise_controller_starts_and_pauses_an_exercise(gw: Gateway) -> None:
    r = await gw.as_("eric", "POST", "/exercise/start", json={"scenario": "smoke"})
    assert r.json() == {"state": "running", "scenario": "smoke", "sim_time": None, "detail": ""}
    r = await gw.as_("eric", "POST", "/exercise/pause")
    assert r.json()["state"] == "paused"
    assert (await gw.as_("olga", "GET", "/exercise")).json()["state"] == "paused"


# --- the live stream ------------------------------------------------------------------------


async def _snapshots(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    event = None
    async for line in response.aiter_lines():
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: ") and event == "snapshot":
            yield json.loads(line[6:])


async def test_the_live_stream_sends_a_filtered_snapshot_within_a_second_of_a_new_plan(
    gw: Gateway,
) -> None:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(gw.app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    serving = asyncio.create_task(server.serve())
    try:
        for _ in range(500):
            if server.started:
                break
            await asyncio.sleep(0.02)
        token = await gw.login("dora")
        async with (
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http,
            http.stream("GET", "/stream", headers={"Authorization": f"Bearer {token}"}) as r,
        ):
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            snapshots = _snapshots(r)
            first = await anext(snapshots)
            assert first["plan"]["plan"]["version"] == 2
            assert first["mode"] == "live"
            async with gw.sessions() as session, session.begin():
                await add_plan(session, 3)
                # dispatch records a new plan in its outbox too; the stamp sees either
                await session.execute(
                    insert(t.outbox).values(
                        event_id="e3",
                        stream="dispatch.events",
                        body="{}",
                        created_at=datetime.now(UTC),
                    )
                )
            started = asyncio.get_running_loop().time()
            second = await asyncio.wait_for(anext(snapshots), 5)
            elapsed = asyncio.get_running_loop().time() - started
            assert second["plan"]["plan"]["version"] == 3
            assert elapsed < 1.0, elapsed
            assert "V-MIL" not in json.dumps(second)
    finally:
        server.should_exit = True
        await serving


# --- the committed OpenAPI document ---------------------------------------------------------


def test_the_committed_openapi_document_is_current() -> None:
    assert OPENAPI_FILE.read_text() == render(), (
        "docs/openapi.json is stale: run .venv/bin/python -m services.gateway.openapi"
    )
