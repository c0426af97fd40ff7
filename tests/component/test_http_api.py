"""The gateway HTTP API on the embedded bus (fakeredis) and an SQLite read model.

Writes become ingress events; every route checks its role; reads are filtered by clearance;
plan decisions, the audit log and the live stream behave as the console relies on; partners'
CAP and EDXL-RM documents are published and audited; the external event feed forwards the
bus to integrators without anything above their clearance, as JSON or as EDXL-RM.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
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

import contracts
from contracts import dispatch as d
from contracts import reserves as r
from contracts import streams
from contracts import transport as tr
from contracts.catalogue import parse_event
from contracts.envelope import Classification, Envelope
from contracts.execution import Cargo, OrderProgressReported, OrderProgressReportedV1
from contracts.incidents import (
    DisruptionReportedV1,
    DisruptionWithdrawnV1,
    NeedRaised,
    NeedRaisedV1,
)
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
from services.runtime.wire import encode, fields
from services.standards.edxl_rm import parse_message
from tests.conftest import free_port
from tests.unit.gateway.samples import T0, add_plan, plan, seed_world, stop
from tests.unit.standards.conftest import fixture_text, fixture_xml

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
    "cora": (["integrator"], "public"),
    "milo": (["integrator"], "military"),
}
MILITARY_IDS = ("V-MIL", "NM-FUEL", "D-MIL", "V-MIL2", "NM-2")
"""Everything military in the seeded world and the mixed run below."""


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

    async def auth(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self.login(username)}"}

    async def as_(self, username: str, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {**await self.auth(username), **kw.pop("headers", {})}
        return await self.http.request(method, path, headers=headers, **kw)

    async def audit_rows(self, action: str) -> list[Any]:
        async with self.sessions() as session:
            rows = await session.execute(
                select(g.audit).where(g.audit.c.action == action).order_by(g.audit.c.id)
            )
            return list(rows)

    async def ingress(self) -> list[Any]:
        entries: Any = await self.redis.xrange(streams.INGRESS)
        return [parse_event(data[b"event"]) for _, data in entries]

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
        ("GET", "/asyncapi.json"),  # the event contracts: shapes, no data
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
        if path in ("/stream", "/events/stream") and role in roles:
            continue  # never ends; covered by the stream tests (refusals are checked here)
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


# --- partner documents: CAP 1.2 and EDXL-RM 1.0 -------------------------------------------

XML = {"content-type": "application/xml"}


def _request_at_bravo() -> str:
    """The Ya'an RequestResource, addressed to a node of the seeded world."""
    return fixture_text("rm_request.xml").replace("N-yaan", "N-b")


async def test_a_cap_alert_is_published_on_ingress_and_audited_with_its_event_id(
    gw: Gateway,
) -> None:
    r = await gw.as_("ivan", "POST", "/cap", content=fixture_xml("cap_earthquake.xml"), headers=XML)
    assert r.status_code == 202, r.text
    [event] = await gw.ingress()
    assert isinstance(event, DisruptionReportedV1)
    assert r.json()["event_ids"] == [event.id]
    # marked on dispatch's read model: Bravo is inside the polygon, and so are its roads
    assert event.data.nodes == ["N-b"]
    assert set(event.data.links) == {"L-ab", "L-cb"}
    [row] = await gw.audit_rows("POST /cap")
    assert (row.username, row.outcome, row.status_code) == ("ivan", "ok", 202)
    assert json.loads(row.event_ids) == [event.id]
    assert row.target == event.data.disruption_id


async def test_a_cap_cancel_publishes_the_withdrawal_and_is_audited(gw: Gateway) -> None:
    r = await gw.as_("dora", "POST", "/cap", content=fixture_xml("cap_cancel.xml"), headers=XML)
    assert r.status_code == 202, r.text
    [event] = await gw.ingress()
    assert isinstance(event, DisruptionWithdrawnV1)
    assert event.data.reason == "Issued in error: seismometer fault"
    [row] = await gw.audit_rows("POST /cap")
    assert json.loads(row.event_ids) == [event.id]
    assert row.target == event.data.disruption_id


async def test_a_restricted_alert_from_a_caller_cleared_to_public_is_refused_and_audited(
    gw: Gateway,
) -> None:
    restricted = fixture_text("cap_earthquake.xml").replace(
        "<scope>Public</scope>", "<scope>Restricted</scope><restriction>Officials</restriction>"
    )
    r = await gw.as_("dora", "POST", "/cap", content=restricted, headers=XML)
    assert r.status_code == 403
    assert "cannot publish a restricted disruption reported" in r.json()["detail"]
    assert "dora is cleared to public only" in r.json()["detail"]
    assert await gw.redis.xlen(streams.INGRESS) == 0
    [row] = await gw.audit_rows("POST /cap")
    assert (row.outcome, row.status_code, json.loads(row.event_ids)) == ("denied", 403, [])
    ok = await gw.as_("ivan", "POST", "/cap", content=restricted, headers=XML)
    assert ok.status_code == 202  # ivan is cleared to restricted


async def test_a_bad_document_is_refused_naming_the_element_audited_and_changes_nothing(
    gw: Gateway,
) -> None:
    bad = fixture_text("cap_earthquake.xml").replace(" 30.3,102.7</polygon>", "</polygon>")
    r = await gw.as_("ivan", "POST", "/cap", content=bad, headers=XML)
    assert r.status_code == 422
    assert r.json()["element"] == "alert/info[1]/area[1]/polygon[1]"
    assert await gw.redis.xlen(streams.INGRESS) == 0
    [row] = await gw.audit_rows("POST /cap")
    assert (row.outcome, row.status_code) == ("refused", 422)
    assert "polygon is not closed" in row.detail


async def test_a_resource_request_becomes_needs_and_its_threads_are_kept_in_the_gateway_table(
    gw: Gateway,
) -> None:
    r = await gw.as_("ivan", "POST", "/edxl-rm", content=_request_at_bravo(), headers=XML)
    assert r.status_code == 202, r.text
    events = await gw.ingress()
    assert [type(e) for e in events] == [NeedRaisedV1, NeedRaisedV1]
    assert {e.data.node_id for e in events} == {"N-b"}
    async with gw.sessions() as session:
        threads = list(await session.execute(select(g.edxl_threads)))
    assert {t.need_id for t in threads} == {e.data.need_id for e in events}
    assert {t.originating_message_id for t in threads} == {"YAAN-REQ-0001"}
    assert {t.incident_id for t in threads} == {"SC-EQ-2026-05-12"}
    [row] = await gw.audit_rows("POST /edxl-rm")
    assert json.loads(row.event_ids) == [e.id for e in events]


# --- the external event feed ----------------------------------------------------------------


@contextlib.asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[str]:
    """The app on a real socket (streams never end, so ASGITransport cannot read them)."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    serving = asyncio.create_task(server.serve())
    try:
        for _ in range(500):
            if server.started:
                break
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await serving


async def _messages(response: httpx.Response) -> AsyncIterator[dict[str, str]]:
    """Server-sent events as {id, event, data}; comments (heartbeats) skipped."""
    message: dict[str, str] = {}
    async for line in response.aiter_lines():
        if not line:
            if message:
                yield message
            message = {}
        elif not line.startswith(":"):
            key, _, value = line.partition(": ")
            message[key] = value


async def _until(
    messages: AsyncIterator[dict[str, str]], last: Callable[[dict[str, str]], bool]
) -> list[dict[str, str]]:
    got: list[dict[str, str]] = []
    while True:
        message = await asyncio.wait_for(anext(messages), 10)
        got.append(message)
        if last(message):
            return got


def _event(
    cls: type[Envelope], data: Any, n: int, classification: Classification = "public"
) -> Envelope:
    factory: Any = cls
    return factory(  # type: ignore[no-any-return]
        id=f"run-{n}",
        source="urn:test:run",
        time=T0 + timedelta(minutes=n),
        subject=getattr(data, "need_id", None) or getattr(data, "asset_id", None) or "",
        correlationid="run",
        classification=classification,
        data=data,
    )


def _need(need_id: str, commodity: str = "fuel") -> NeedRaised:
    return NeedRaised(
        need_id=need_id,
        node_id="N-b",
        commodity=commodity,
        quantity=5,
        priority="life_saving",
        deadline=T0 + timedelta(hours=12),
    )


def _order(
    order_id: str, vehicle: str, loads: list[tuple[str, str, str]], n: int, c: Classification
) -> Envelope:
    """(depot, need, commodity) loaded at Alpha and unloaded at Bravo."""
    stops = [stop("N-a", "load", com, 5_000, depot=dep, need=need) for dep, need, com in loads]
    stops += [
        stop("N-b", "unload", com, 5_000, need=need, via=["L-ab"], at_h=3) for _, need, com in loads
    ]
    order = d.DispatchOrderIssued(
        order_id=order_id,
        plan_id="P0003",
        vehicle_id=vehicle,
        reservation_ids=[f"R-{order_id}"],
        stops=stops,
        release_at=T0 + timedelta(hours=4),
    )
    return _event(d.DispatchOrderIssuedV1, order, n, c)


def _mixed_run() -> list[tuple[str, Envelope]]:
    """A mixed military-civil run as the four streams carry it; N-END closes it."""
    asset = tr.AssetRegistered(
        asset_id="V-MIL2",
        mode="road",
        capacity_t=20,
        speed_kmh=50,
        home_node_id="N-a",
        owner="military",
    )
    reservation = d.ReservationRequested(
        reservation_id="R-M",
        plan_id="P0003",
        depot_id="D-MIL",
        need_id="NM-2",
        commodity="fuel",
        quantity_kg=5_000,
    )
    return [
        # a military vehicle registered on a public envelope: its owner says enough
        (streams.INGRESS, _event(tr.AssetRegisteredV1, asset, 1)),
        (streams.INGRESS, _event(NeedRaisedV1, _need("NM-2"), 2, "military")),
        (streams.INGRESS, _event(NeedRaisedV1, _need("N-2"), 3)),
        (
            streams.TRANSPORT,
            _event(
                tr.AssetStatusChangedV1,
                tr.AssetStatusChanged(asset_id="V-MIL2", status="available", node_id="N-a"),
                4,
                "military",
            ),
        ),
        (
            streams.TRANSPORT,
            _event(
                tr.LinkStatusChangedV1,
                tr.LinkStatusChanged(link_id="L-ab", status="closed", cause="Q-1"),
                5,
            ),
        ),
        (streams.DISPATCH, _event(d.PlanPublishedV2, plan(3), 6, "military")),
        # the same plan on a public envelope (say a mistake upstream): forwarded redacted
        (streams.DISPATCH, _event(d.PlanPublishedV2, plan(3), 7)),
        (streams.DISPATCH, _event(d.ReservationRequestedV1, reservation, 8, "military")),
        # public, but loading dual-use fuel at the military depot: names D-MIL
        (streams.DISPATCH, _order("O-1", "V-CIV", [("D-MIL", "N-FUEL", "fuel")], 9, "public")),
        (streams.DISPATCH, _order("O-2", "V-MIL", [("D-MIL", "NM-FUEL", "fuel")], 10, "military")),
        (
            streams.RESERVES,
            _event(
                r.StockLevelReportedV1,
                r.StockLevelReported(depot_id="D-MIL", commodity="fuel", quantity=80, unit="t"),
                11,
                "military",
            ),
        ),
        (
            streams.RESERVES,
            _event(
                r.DepotStatusChangedV1,
                r.DepotStatusChanged(depot_id="D-CIV", status="operational"),
                12,
            ),
        ),
        (streams.INGRESS, _event(NeedRaisedV1, _need("N-END"), 13)),
    ]


async def _publish(redis: FakeRedis, run: list[tuple[str, Envelope]]) -> None:
    for stream, event in run:
        await redis.xadd(stream, fields(encode(event)))  # type: ignore[arg-type]
        # Across streams the feed orders by the millisecond of the entry id: as in a real run,
        # cause and effect are not published within the same millisecond.
        await asyncio.sleep(0.002)


def _is_end(message: dict[str, str]) -> bool:
    return message.get("event") == "hinterland.incidents.need_raised.v1" and (
        json.loads(message["data"])["data"]["need_id"] == "N-END"
    )


async def test_a_civil_integrator_subscribed_during_a_mixed_run_sees_no_military_data(
    gw: Gateway,
) -> None:
    async with served(gw.app) as url, httpx.AsyncClient(base_url=url, timeout=10) as http:
        async with http.stream("GET", "/events/stream", headers=await gw.auth("cora")) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            messages = _messages(response)
            ready = await anext(messages)
            assert ready["event"] == "ready"
            start = ready["id"]
            await _publish(gw.redis, _mixed_run())
            civil = await _until(messages, _is_end)
        # the same run from the same cursor, for an integrator cleared to military
        async with http.stream(
            "GET", "/events/stream", params={"last_id": start}, headers=await gw.auth("milo")
        ) as response:
            messages = _messages(response)
            assert (await anext(messages))["id"] == start
            military = await _until(messages, _is_end)
        # resuming after the first message received (Last-Event-ID) gives the rest
        resume = {**await gw.auth("cora"), "Last-Event-ID": civil[0]["id"]}
        async with http.stream("GET", "/events/stream", headers=resume) as response:
            messages = _messages(response)
            assert (await anext(messages))["event"] == "ready"
            resumed = await _until(messages, _is_end)

    assert [m["event"].split(".")[2] for m in civil] == [
        "need_raised",  # N-2
        "link_status_changed",
        "plan_published",  # the publicly classified one, redacted
        "depot_status_changed",  # D-CIV
        "need_raised",  # N-END
    ]
    text = json.dumps(civil)
    for secret in MILITARY_IDS:
        assert secret not in text, secret
    shown = parse_event(civil[2]["data"])
    assert isinstance(shown, d.PlanPublishedV2)
    assert [route.vehicle_id for route in shown.data.routes] == ["V-CIV"]
    # the physical limit counts what the caller may not see: withheld
    assert shown.data.kpis.weighted_bound_kg is None
    # the data was there to leak: the cleared integrator got all thirteen events
    assert len(military) == 13
    assert all(secret in json.dumps(military) for secret in MILITARY_IDS)
    assert resumed == civil[1:]
    [row] = [a for a in await gw.audit_rows("GET /events/stream") if a.username == "milo"]
    assert "clearance military" in row.detail


async def test_the_edxl_feed_commits_and_reports_for_partner_needs_within_the_clearance(
    gw: Gateway,
) -> None:
    posted = await gw.as_("cora", "POST", "/edxl-rm", content=_request_at_bravo(), headers=XML)
    assert posted.status_code == 202, posted.text
    medical, tents = [e.data.need_id for e in await gw.ingress()]
    progress = OrderProgressReported(
        order_id="O-1",
        vehicle_id="V-CIV",
        stage="unloaded",
        node_id="N-b",
        stop_index=2,
        cargo=[Cargo(depot_id="D-MIL", need_id=medical, commodity="medical", quantity_kg=5_000)],
    )
    run = [
        # the civil truck takes medical supplies drawn from the military depot (dual use):
        # the commitment names the need, the truck and the order, not the depot
        (streams.DISPATCH, _order("O-1", "V-CIV", [("D-MIL", medical, "medical")], 1, "public")),
        # a public order on the military truck: its commitment would name V-MIL
        (streams.DISPATCH, _order("O-2", "V-MIL", [("D-CIV", tents, "tents")], 2, "public")),
        # a military order (it also carries a military need): never rendered for cora
        (
            streams.DISPATCH,
            _order(
                "O-3",
                "V-CIV",
                [("D-CIV", tents, "tents"), ("D-MIL", "NM-FUEL", "fuel")],
                3,
                "military",
            ),
        ),
        (streams.INGRESS, _event(OrderProgressReportedV1, progress, 4)),
    ]
    async with served(gw.app) as url, httpx.AsyncClient(base_url=url, timeout=10) as http:
        params = {"format": "edxl"}
        async with http.stream(
            "GET", "/events/stream", params=params, headers=await gw.auth("cora")
        ) as response:
            messages = _messages(response)
            start = (await anext(messages))["id"]
            await _publish(gw.redis, run)
            civil = await _until(messages, lambda m: "DeploymentStatus" in m["data"])
        async with http.stream(
            "GET",
            "/events/stream",
            params={**params, "last_id": start},
            headers=await gw.auth("milo"),
        ) as response:
            messages = _messages(response)
            assert (await anext(messages))["id"] == start
            military = await _until(messages, lambda m: "DeploymentStatus" in m["data"])

    sent = [json.loads(m["data"]) for m in civil]
    assert [(m["message_type"], m["event_id"]) for m in sent] == [
        ("CommitResource", "run-1"),
        ("ReportResourceDeploymentStatus", "run-4"),
    ]
    commit, status = (parse_message(m["xml"]) for m in sent)
    assert commit.originating_id == "YAAN-REQ-0001"
    assert commit.preceding_ids == ("YAAN-REQ-0001",)
    assert status.preceding_ids == (commit.message_id,)  # the thread goes on
    assert medical in sent[0]["xml"]
    assert "V-CIV" in sent[0]["xml"]
    for secret in MILITARY_IDS:
        assert secret not in json.dumps(sent), secret
    # rendered once: the cleared integrator gets the very same messages, and the two more
    received = [json.loads(m["data"]) for m in military]
    assert [m["event_id"] for m in received] == ["run-1", "run-2", "run-3", "run-4"]
    assert received[0] == sent[0]
    assert received[-1] == sent[-1]
    async with gw.sessions() as session:
        thread = (
            await session.execute(select(g.edxl_threads).where(g.edxl_threads.c.need_id == medical))
        ).one()
    assert thread.last_message_id == status.message_id


async def test_a_feed_cursor_that_is_not_one_is_refused_naming_the_shape(gw: Gateway) -> None:
    r = await gw.as_("cora", "GET", "/events/stream", params={"last_id": "yesterday"})
    assert r.status_code == 422
    assert "'yesterday' is not a stream entry id" in r.json()["detail"]
    r = await gw.as_("cora", "GET", "/events/stream", params={"last_id": "1-0,2-0"})
    assert r.status_code == 422
    assert "give one (for every stream) or 4" in r.json()["detail"]


async def test_the_feed_answers_503_before_streaming_when_the_bus_is_away(gw: Gateway) -> None:
    await gw.login("cora")
    app = build_api(gw.engine, FakeRedis(connected=False), GatewaySettings(token_secret=SECRET))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as http:
        r = await http.get("/events/stream", headers=await gw.auth("cora"))
    assert r.status_code == 503
    assert r.json()["detail"].startswith("event feed unavailable")


# --- the committed OpenAPI document ---------------------------------------------------------


def test_the_committed_openapi_document_is_current() -> None:
    assert OPENAPI_FILE.read_text() == render(), (
        "docs/openapi.json is stale: run .venv/bin/python -m services.gateway.openapi"
    )


async def test_the_asyncapi_document_is_served_as_committed(gw: Gateway) -> None:
    committed = json.loads((Path(contracts.__file__).parent / "asyncapi.json").read_text())
    served = await gw.http.get("/asyncapi.json")  # no token: it describes shapes, never data
    assert served.status_code == 200
    assert served.json() == committed
    assert "hinterland.execution.order_progress_reported.v1" in served.text
