"""The three services as separate OS processes on real Redis and PostgreSQL.

Everything goes in the way an integrated system would send it: raw XADDs of envelope JSON in
the ``event`` field of the namespaced ingress stream, from a plain Redis client.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from services.client import HinterlandClient
from services.gateway.users import create_user
from services.runtime import db
from simulations.scenario import load_scenario
from tests.conftest import free_port
from tests.integration.processes import ROOT, ServiceProcess, eventually

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(120)]

PLAN = "hinterland.dispatch.plan_published.v2"
WORLD_TYPES = {
    "hinterland.transport.node_registered.v1",
    "hinterland.transport.link_registered.v1",
    "hinterland.transport.asset_registered.v1",
    "hinterland.reserves.depot_registered.v1",
    "hinterland.reserves.stock_level_reported.v1",
}


class System:
    def __init__(
        self,
        client: redis.Redis,
        ns: str,
        port: int,
        procs: list[ServiceProcess],
        database_url: str = "",
    ):
        self.database_url = database_url
        self.client = client
        self.ns = ns
        self.port = port
        self.procs = procs

    def stream(self, name: str) -> str:
        return f"{self.ns}:{name}"

    def publish(self, body: str | dict[str, Any]) -> str:
        text = body if isinstance(body, str) else json.dumps(body)
        entry = self.client.xadd(self.stream("ingress.events"), {"event": text})
        return entry.decode() if isinstance(entry, bytes) else str(entry)

    def entries(self, name: str) -> list[tuple[str, dict[str, str]]]:
        out = []
        for entry_id, fields in self.client.xrange(self.stream(name)):
            out.append(
                (
                    entry_id.decode(),
                    {k.decode(): v.decode(errors="replace") for k, v in fields.items()},
                )
            )
        return out

    def plans(self) -> list[dict[str, Any]]:
        events = [json.loads(f["event"]) for _, f in self.entries("dispatch.events")]
        return [e for e in events if e["type"] == PLAN]

    def group_caught_up(self, stream: str, group: str) -> bool:
        try:
            groups = self.client.xinfo_groups(self.stream(stream))
        except redis.ResponseError:
            return False
        for g in groups:
            name = g["name"].decode() if isinstance(g["name"], bytes) else g["name"]
            if name == group:
                return g["pending"] == 0 and g.get("lag") == 0
        return False

    def logs(self) -> str:
        return "\n".join(f"--- {p.service} ---\n{p.log()[-4000:]}" for p in self.procs)


@pytest.fixture
def system(
    redis_url: str, service_database: str, namespace: str, tmp_path: Path
) -> Iterator[System]:
    port = free_port()
    env = {
        "HINTERLAND_REDIS_URL": redis_url,
        "HINTERLAND_DATABASE_URL": service_database,
        "HINTERLAND_NAMESPACE": namespace,
        "HINTERLAND_MODE": "live",
        "HINTERLAND_HTTP_PORT": str(port),
        "HINTERLAND_RECLAIM_IDLE_MS": "1000",
        "HINTERLAND_TOKEN_SECRET": "integration-test-secret-0123456789abcdef",
    }
    procs = [ServiceProcess(s, env, tmp_path) for s in ("reserves", "transport", "dispatch")]
    client = redis.Redis.from_url(redis_url)
    try:
        # One after the other: each migrates its own tables in the shared database.
        for proc in procs:
            proc.start().wait_ready()

        def healthy() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        eventually(healthy, 20, "dispatch /health answering 200")
        yield System(client, namespace, port, procs, service_database)
    finally:
        for proc in procs:
            proc.stop()
        client.close()


def _load_smoke_world(system: System, run_id: str) -> tuple[list[dict[str, Any]], Any]:
    scenario = load_scenario("smoke")
    timeline = scenario.events(run_id, mode="live")
    world = [t.event for t in timeline if t.event.type in WORLD_TYPES]
    for event in world:
        system.publish(event.model_dump_json())
    injects = [
        json.loads(t.event.model_dump_json()) for t in timeline if t.event.type not in WORLD_TYPES
    ]
    return injects, scenario


def _wait_world_applied(system: System) -> None:
    for stream, group in (
        ("ingress.events", "reserves"),
        ("ingress.events", "transport"),
        ("reserves.events", "dispatch"),
        ("transport.events", "dispatch"),
    ):
        eventually(
            lambda s=stream, g=group: system.group_caught_up(s, g),
            30,
            f"group {group} caught up on {stream}\n{system.logs()}",
        )


def _need(
    scenario: Any, need_id: str, node: str, commodity: str, quantity: float
) -> dict[str, Any]:
    eid = str(uuid.uuid4())
    return {
        "specversion": "1.0",
        "id": eid,
        "source": "urn:test:integrated-system",
        "type": "hinterland.incidents.need_raised.v1",
        "time": (scenario.start + timedelta(minutes=10)).isoformat(),
        "subject": need_id,
        "correlationid": eid,
        "mode": "live",
        "classification": "public",
        "data": {
            "need_id": need_id,
            "node_id": node,
            "commodity": commodity,
            "quantity": quantity,
            "unit": "t",
            "priority": "life_saving",
            "deadline": (scenario.start + timedelta(hours=12)).isoformat(),
        },
    }


async def _create_observer(database_url: str) -> None:
    engine = db.create_engine(database_url)
    try:
        await create_user(db.session_factory(engine), "ops", "ops-password-1", ["observer"])
    finally:
        await engine.dispose()


def _dead_letter_for(system: System, entry_id: str) -> dict[str, str] | None:
    for _, fields in system.entries("ingress.events.dead"):
        if fields.get("entry_id") == entry_id:
            return fields
    return None


def test_a_need_published_by_raw_xadd_produces_a_plan_that_serves_it(system: System) -> None:
    _, scenario = _load_smoke_world(system, f"run-{system.ns}")
    _wait_world_applied(system)
    assert system.plans() == []

    system.publish(_need(scenario, "NEED-E2E-MED", "N-yaan", "medical", 10))

    plans = eventually(system.plans, 45, f"a plan on {system.stream('dispatch.events')}")
    needs = {n["need_id"]: n for n in plans[-1]["data"]["needs"]}
    assert needs["NEED-E2E-MED"]["requested_kg"] == 10_000
    assert needs["NEED-E2E-MED"]["status"] == "served", needs["NEED-E2E-MED"]
    assert plans[-1]["data"]["routes"], "a served need travels on at least one route"

    assert httpx.get(f"http://127.0.0.1:{system.port}/plan", timeout=5).status_code == 401
    asyncio.run(_create_observer(system.database_url))
    with HinterlandClient(f"http://127.0.0.1:{system.port}") as client:
        client.login("ops", "ops-password-1")
        assert client.current_plan().plan.plan_id == plans[-1]["data"]["plan_id"]


def test_malformed_entries_are_dead_lettered_with_a_reason_and_the_services_keep_planning(
    system: System,
) -> None:
    _, scenario = _load_smoke_world(system, f"run-{system.ns}")
    _wait_world_applied(system)

    not_json = system.publish("{not json")
    negative = _need(scenario, "NEED-NEGATIVE", "N-yaan", "medical", -5)
    negative_entry = system.publish(negative)
    no_event_field = system.client.xadd(system.stream("ingress.events"), {"payload": "x"}).decode()

    letters: dict[str, list[dict[str, str]]] = {}

    def all_dead() -> bool:
        letters.clear()
        for _, fields in system.entries("ingress.events.dead"):
            letters.setdefault(fields["entry_id"], []).append(fields)
        return all(e in letters for e in (not_json, negative_entry, no_event_field))

    eventually(all_dead, 30, f"three dead letters\n{system.logs()}")

    # Every consuming group (reserves, transport, dispatch) dead-letters the entry itself.
    for entry in (not_json, negative_entry, no_event_field):
        groups = sorted(letter["group"] for letter in letters[entry])
        assert set(groups) <= {"reserves", "transport", "dispatch"}, groups
        for letter in letters[entry]:
            assert letter["stream"] == system.stream("ingress.events")

    assert any("json" in letter["error"].lower() for letter in letters[not_json]), letters[not_json]
    assert letters[not_json][0]["event"] == "{not json"
    for letter in letters[negative_entry]:
        assert "data.quantity" in letter["error"], letter["error"]
        assert "greater than 0" in letter["error"], letter["error"]
        assert json.loads(letter["event"])["id"] == negative["id"]
    for letter in letters[no_event_field]:
        assert "no 'event' field" in letter["error"], letter["error"]

    # Nothing is left pending or retried: the bad entries were acked with their dead letter.
    for group in ("reserves", "transport", "dispatch"):
        eventually(
            lambda g=group: system.group_caught_up("ingress.events", g),
            15,
            f"{group} has no pending entries on ingress",
        )
    assert all(p.proc is not None and p.proc.poll() is None for p in system.procs)

    # The negative need never reached dispatch's state, and a valid one still plans.
    system.publish(_need(scenario, "NEED-AFTER-JUNK", "N-baoxing", "water", 5))

    def plan_with_new_need() -> dict[str, Any] | None:
        for plan in reversed(system.plans()):
            ids = {n["need_id"] for n in plan["data"]["needs"]}
            if "NEED-AFTER-JUNK" in ids:
                return plan
        return None

    plan = eventually(plan_with_new_need, 45, f"a plan for the valid need\n{system.logs()}")
    ids = {n["need_id"] for n in plan["data"]["needs"]}
    assert "NEED-NEGATIVE" not in ids


def test_a_cap_alert_xadded_on_ingress_xml_closes_the_links_it_covers(system: System) -> None:
    _load_smoke_world(system, f"run-{system.ns}")
    _wait_world_applied(system)
    alert = (ROOT / "tests/unit/standards/data/cap_earthquake.xml").read_bytes()
    system.client.xadd(system.stream("ingress.xml"), {"kind": "cap", "xml": alert})

    def applied() -> dict[str, Any] | None:
        for _, fields in system.entries("transport.events"):
            event = json.loads(fields["event"])
            if event["type"] == "hinterland.transport.disruption_applied.v1":
                return dict(event["data"])
        return None

    summary = eventually(applied, 30, f"the alert applied by transport\n{system.logs()}")
    # The alert's polygon covers Ya'an: the smoke network's roads into it are affected.
    touched = set(summary["closed_links"]) | set(summary["degraded_links"])
    assert any("yaan" in link for link in touched), summary
    assert system.entries("ingress.xml.dead") == []
