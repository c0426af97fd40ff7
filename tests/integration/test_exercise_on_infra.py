"""An exercise against the real Redis and PostgreSQL with the services as processes.

The same engine as embedded (scenario, clock, execution simulator) drives services started
with ``hinterland serve`` in exercise mode, in a stream namespace and database schema of their
own, beside a live service on the same Redis and database: the exercise publishes the same
plans as the embedded run, leaves live streams and tables untouched, and neither side applies
the other's events.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from contracts.reserves import DepotRegistered, DepotRegisteredV1
from simulations.control import RunnerControl
from simulations.exercise import Infrastructure, run_exercise
from tests.conftest import sync_database_url
from tests.integration.processes import ServiceProcess, eventually

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(300)]


@dataclass
class Deployment:
    redis: redis.Redis
    database_url: str
    redis_url: str
    exercise_ns: str
    live_ns: str
    procs: list[ServiceProcess]

    def logs(self) -> str:
        return "\n".join(f"--- {p.service} ---\n{p.log()[-3000:]}" for p in self.procs)


@pytest.fixture
def deployment(redis_url: str, service_database: str, tmp_path: Path) -> Iterator[Deployment]:
    tag = uuid.uuid4().hex[:8]
    exercise_ns, live_ns = f"ex{tag}", f"live{tag}"
    common = {
        "HINTERLAND_REDIS_URL": redis_url,
        "HINTERLAND_DATABASE_URL": service_database,
        "HINTERLAND_RECLAIM_IDLE_MS": "2000",
        "HINTERLAND_POLLING_MS": "50",
        "HINTERLAND_OUTBOX_POLL_MS": "50",
    }
    exercise_env = {
        **common,
        "HINTERLAND_MODE": "exercise",
        "HINTERLAND_NAMESPACE": exercise_ns,
        "HINTERLAND_DB_SCHEMA": exercise_ns,
        "HINTERLAND_HTTP_PORT": "0",
    }
    # The live side: a reserves service in the default schema with its own stream namespace
    # (so that this test cannot disturb anything else on the machine's Redis).
    live_env = {**common, "HINTERLAND_MODE": "live", "HINTERLAND_NAMESPACE": live_ns}
    procs = [
        ServiceProcess(name, exercise_env, tmp_path)
        for name in ("reserves", "transport", "dispatch")
    ]
    procs.append(ServiceProcess("reserves", live_env, tmp_path))
    client = redis.Redis.from_url(redis_url)
    try:
        for proc in procs:
            proc.start().wait_ready(90)
        yield Deployment(client, service_database, redis_url, exercise_ns, live_ns, procs)
    finally:
        for proc in procs:
            proc.stop()
        for key in [*client.scan_iter(f"{exercise_ns}:*"), *client.scan_iter(f"{live_ns}:*")]:
            client.delete(key)
        client.close()


def depot_event(mode: str, depot_id: str) -> str:
    return DepotRegisteredV1(
        id=str(uuid.uuid4()),
        source="/test/isolation",
        time=datetime.now(UTC),
        subject=depot_id,
        correlationid="isolation",
        mode=mode,  # type: ignore[arg-type]
        data=DepotRegistered(
            depot_id=depot_id, name="Cross-mode depot", node_id="N-x", tier="county", owner="civil"
        ),
    ).model_dump_json()


def dead_reasons(client: redis.Redis, stream: str) -> list[str]:
    return [fields[b"error"].decode() for _, fields in client.xrange(f"{stream}.dead")]


def tables(database_url: str, schema: str) -> set[str]:
    with psycopg.connect(sync_database_url(database_url)) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,)
        ).fetchall()
    return {r[0] for r in rows}


def depot_ids(database_url: str, schema: str) -> set[str]:
    with psycopg.connect(sync_database_url(database_url)) as conn:
        rows = conn.execute(f'SELECT depot_id FROM "{schema}".reserves_depots').fetchall()
    return {r[0] for r in rows}


async def test_an_exercise_on_live_infrastructure_plans_as_embedded_and_stays_apart(
    deployment: Deployment, tmp_path: Path
) -> None:
    d = deployment
    infra = Infrastructure(d.redis_url, d.database_url, d.exercise_ns, d.exercise_ns)
    on_infra = await run_exercise("smoke", tmp_path / "infra", "iso-run", infra=infra)
    embedded = await run_exercise("smoke", tmp_path / "embedded", "iso-run")

    hashes = [p["plan_hash"] for p in on_infra.report["plans"]]
    assert hashes, f"no plan published on the real infrastructure\n{d.logs()}"
    assert hashes == [p["plan_hash"] for p in embedded.report["plans"]], d.logs()
    assert on_infra.report["dead_letters"] == {}
    assert on_infra.report["events_on_bus"] == embedded.report["events_on_bus"]

    # The exercise's tables are in its own schema; the live service's in the default one.
    assert "dispatch_plans" in tables(d.database_url, d.exercise_ns)
    assert "dispatch_plans" not in tables(d.database_url, "public")
    assert depot_ids(d.database_url, "public") == set()
    assert "D-CD-PROV" in depot_ids(d.database_url, d.exercise_ns)

    # Each side refuses the other's events: dead-lettered with the reason, state unchanged.
    d.redis.xadd(f"{d.live_ns}:ingress.events", {"event": depot_event("exercise", "D-EX-LEAK")})
    d.redis.xadd(f"{d.exercise_ns}:ingress.events", {"event": depot_event("live", "D-LIVE-LEAK")})
    live_dead = eventually(
        lambda: dead_reasons(d.redis, f"{d.live_ns}:ingress.events"), 30, "live dead letter"
    )
    exercise_dead = eventually(
        lambda: dead_reasons(d.redis, f"{d.exercise_ns}:ingress.events"),
        30,
        "exercise dead letter",
    )
    assert "exercise event" in live_dead[0]
    assert "reached a live reserves service" in live_dead[0]
    assert "live event" in exercise_dead[0]
    assert "reached a exercise" in exercise_dead[0]
    assert depot_ids(d.database_url, "public") == set()
    assert "D-LIVE-LEAK" not in depot_ids(d.database_url, d.exercise_ns)


async def test_the_gateways_exercise_controller_starts_pauses_steps_and_stops(
    deployment: Deployment, tmp_path: Path
) -> None:
    d = deployment
    infra = Infrastructure(d.redis_url, d.database_url, d.exercise_ns, d.exercise_ns)
    control = RunnerControl(infra, tmp_path, speed=3600.0)  # one simulated hour a second

    assert (await control.status()).state == "idle"
    refused = await control.start("no-such-scenario")
    assert refused.state == "idle"
    assert "cannot start 'no-such-scenario'" in refused.detail

    started = await control.start("smoke")
    assert (started.state, started.scenario) == ("running", "smoke")
    assert "still running" in (await control.start("smoke")).detail

    paused = await control.pause()
    assert paused.state == "paused"
    before = paused.sim_time
    await asyncio.sleep(1.0)
    assert (await control.status()).sim_time == before  # paused means paused

    await control.step()  # plays up to and including the next inject, then pauses again
    stepped = await wait_for_state(control, "paused")
    assert stepped.sim_time is not None
    assert before is None or stepped.sim_time > before

    stopped = await control.stop()
    assert stopped.state == "stopped"
    assert "stopped by the controller" in stopped.detail
    report = json.loads((tmp_path / "smoke-seed1" / "report.json").read_text())
    assert report["stopped_early"] is True


async def wait_for_state(control: RunnerControl, state: str) -> Any:
    deadline = asyncio.get_running_loop().time() + 30
    while asyncio.get_running_loop().time() < deadline:
        status = await control.status()
        if status.state == state:
            return status
        await asyncio.sleep(0.1)
    pytest.fail(f"exercise controller never reached {state}: {await control.status()}")
