"""A Redis restart (SIGKILL, AOF on, as deployed) loses nothing and applies nothing twice."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from simulations.reliability.infra import AofRedis
from tests.conftest import sync_database_url
from tests.integration.processes import ServiceProcess, eventually
from tests.integration.test_crash_recovery import _count, _node_event, _nodes_in_db

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(180)]

NODES = 2000


@pytest.fixture
def aof_redis(tmp_path: Path) -> Iterator[AofRedis]:
    # fsync on every write: what the test reads back was on disk before the SIGKILL.
    server = AofRedis(tmp_path / "redis", fsync="always")
    server.start(timeout_s=15)
    yield server
    server.kill()


def test_transport_survives_a_redis_restart_with_every_node_applied_and_relayed_once(
    aof_redis: AofRedis, service_database: str, tmp_path: Path
) -> None:
    db = sync_database_url(service_database)
    env = {
        "HINTERLAND_REDIS_URL": aof_redis.url,
        "HINTERLAND_DATABASE_URL": service_database,
        "HINTERLAND_RECLAIM_IDLE_MS": "1000",
        "HINTERLAND_CONSUMER_NAME": "transport-1",
    }
    service = ServiceProcess("transport", env, tmp_path)
    client = redis.Redis.from_url(aof_redis.url)
    node_ids = [f"N-r{i:05d}" for i in range(NODES)]
    try:
        service.start().wait_ready()
        with client.pipeline(transaction=False) as pipe:
            for node_id in node_ids:
                pipe.xadd("ingress.events", {"event": _node_event(node_id)})
            pipe.execute()

        eventually(lambda: _nodes_in_db(db, "N-r") >= 50, 30, "transport applying nodes", 0.01)
        aof_redis.kill()
        applied_while_up = _nodes_in_db(db, "N-r")
        time.sleep(2)  # the service keeps running without its bus: reads, acks, relay all fail
        aof_redis.start()

        eventually(
            lambda: _nodes_in_db(db, "N-r") == NODES,
            90,
            f"all {NODES} nodes applied after the restart (had {applied_while_up})\n"
            + service.log()[-3000:],
        )
        eventually(
            lambda: _count(db, "SELECT count(*) FROM transport_outbox WHERE sent_at IS NULL") == 0,
            30,
            "outbox drained after the restart",
        )
        eventually(
            lambda: client.xpending("ingress.events", "transport")["pending"] == 0,
            30,
            "nothing pending in group transport",
        )
        assert applied_while_up < NODES, "Redis went down too late to prove anything"
        assert service.proc is not None
        assert service.proc.poll() is None, "the service died"

        registered = [
            json.loads(f[b"event"])
            for _, f in client.xrange("transport.events")
            if b"node_registered" in f[b"event"]
        ]
        by_subject: dict[str, set[str]] = {}
        for event in registered:
            by_subject.setdefault(event["subject"], set()).add(event["id"])
        assert sorted(by_subject) == node_ids  # none lost on the way out
        assert all(len(ids) == 1 for ids in by_subject.values())  # one event id per node
        assert _count(db, "SELECT count(*) FROM transport_nodes") == NODES
        assert _count(db, "SELECT count(*) FROM transport_inbox") == NODES
        assert client.xlen("ingress.events.dead") == 0
    finally:
        service.stop()
        client.close()
