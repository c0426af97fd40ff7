"""A consumer killed with SIGKILL mid-batch loses nothing and applies nothing twice."""

from __future__ import annotations

import json
import signal
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
import redis

from tests.conftest import sync_database_url
from tests.integration.processes import ServiceProcess, eventually

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(150)]

NODES = 2000  # enough that a kill early in the run always lands mid-batch


def _node_event(node_id: str) -> str:
    eid = str(uuid.uuid4())
    return json.dumps(
        {
            "specversion": "1.0",
            "id": eid,
            "source": "urn:test:gis",
            "type": "hinterland.transport.node_registered.v1",
            "time": datetime.now(UTC).isoformat(),
            "subject": node_id,
            "correlationid": eid,
            "mode": "live",
            "data": {"node_id": node_id, "name": node_id, "kind": "county", "lat": 30, "lon": 103},
        }
    )


def _count(db: str, sql: str, *params: object) -> int:
    with psycopg.connect(db) as conn:
        row = conn.execute(sql, params).fetchone()
    return int(row[0]) if row else 0


def _nodes_in_db(db: str, prefix: str) -> int:
    try:
        return _count(
            db, "SELECT count(*) FROM transport_nodes WHERE node_id LIKE %s", prefix + "%"
        )
    except psycopg.errors.UndefinedTable:
        return 0


@pytest.mark.parametrize(
    "same_consumer",
    [
        pytest.param(True, id="restarted-under-the-same-consumer-name"),
        pytest.param(False, id="restarted-under-a-new-consumer-name"),
    ],
)
def test_transport_killed_mid_batch_registers_every_node_exactly_once_after_restart(
    redis_url: str,
    service_database: str,
    namespace: str,
    tmp_path: Path,
    same_consumer: bool,
) -> None:
    ingress, out = f"{namespace}:ingress.events", f"{namespace}:transport.events"
    db = sync_database_url(service_database)
    env = {
        "HINTERLAND_REDIS_URL": redis_url,
        "HINTERLAND_DATABASE_URL": service_database,
        "HINTERLAND_NAMESPACE": namespace,
        "HINTERLAND_RECLAIM_IDLE_MS": "1000",
        # Big reads: a read's entries stay pending until its one commit, so a kill taken
        # while entries are pending lands inside a read almost surely.
        "HINTERLAND_MAX_RECORDS": "200",
        "HINTERLAND_CONSUMER_NAME": "transport-1",
    }
    client = redis.Redis.from_url(redis_url)
    first = ServiceProcess("transport", env, tmp_path)
    second = ServiceProcess(
        "transport",
        env if same_consumer else {**env, "HINTERLAND_CONSUMER_NAME": "transport-2"},
        tmp_path,
    )
    prefix = f"N-{namespace}-"
    node_ids = [f"{prefix}{i:04d}" for i in range(NODES)]
    try:
        first.start().wait_ready()
        with client.pipeline(transaction=False) as pipe:
            for node_id in node_ids:
                pipe.xadd(ingress, {"event": _node_event(node_id)})
            pipe.execute()

        # Kill it while it is working through a read: freeze it (SIGSTOP) and look; if the
        # freeze fell between two reads (nothing pending), let it run on and try again.
        def frozen_mid_read() -> bool:
            assert first.proc is not None
            if _nodes_in_db(db, prefix) < 10:
                return False
            first.proc.send_signal(signal.SIGSTOP)
            if client.xpending(ingress, "transport")["pending"] > 0:
                return True
            first.proc.send_signal(signal.SIGCONT)
            return False

        eventually(frozen_mid_read, 30, "transport frozen with a read in flight", 0.005)
        first.kill()
        applied_before_kill = _nodes_in_db(db, prefix)
        assert applied_before_kill < NODES, "the kill came too late to prove anything"
        pending = client.xpending(ingress, "transport")
        assert pending["pending"] > 0, "SIGKILL should leave delivered entries unacked"

        second.start().wait_ready()
        eventually(
            lambda: _nodes_in_db(db, prefix) == NODES,
            60,
            f"all {NODES} nodes in transport_nodes (killed at {applied_before_kill})\n"
            + second.log()[-3000:],
        )

        def relayed() -> set[str] | None:
            ids = {
                json.loads(f[b"event"])["id"]
                for _, f in client.xrange(out)
                if json.loads(f[b"event"])["type"] == "hinterland.transport.node_registered.v1"
            }
            return ids if len(ids) >= NODES else None

        eventually(relayed, 30, f"{NODES} NodeRegistered relayed on {out}")
        eventually(
            lambda: client.xpending(ingress, "transport")["pending"] == 0,
            30,
            "no pending entries in group transport",
        )
        second.stop()

        events = [json.loads(f[b"event"]) for _, f in client.xrange(out)]
        registered = [e for e in events if e["type"] == "hinterland.transport.node_registered.v1"]
        by_subject: dict[str, set[str]] = {}
        for event in registered:
            by_subject.setdefault(event["subject"], set()).add(event["id"])
        assert sorted(by_subject) == node_ids
        doubled = {s: ids for s, ids in by_subject.items() if len(ids) != 1}
        assert not doubled, f"nodes published under more than one event id: {doubled}"
        assert len({e["id"] for e in registered}) == NODES

        assert _count(db, "SELECT count(DISTINCT node_id) FROM transport_nodes") == NODES
        assert _count(db, "SELECT count(*) FROM transport_nodes") == NODES
        assert _count(db, "SELECT count(*) FROM transport_inbox") == NODES
        assert _count(db, "SELECT count(*) FROM transport_outbox WHERE sent_at IS NULL") == 0
        assert client.hlen(f"transport:attempts:{ingress}") == 0
        assert client.xlen(f"{ingress}.dead") == 0
    finally:
        first.kill()
        second.stop()
        client.close()
