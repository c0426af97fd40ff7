"""compose.yaml's Redis ACL users, on a real redis-server: each service reaches its own streams."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import yaml

from services.runtime.outbox import XADD_ALL
from tests.conftest import free_port
from tests.integration.processes import eventually

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "acl-test-{}-secret"


def acl_args() -> list[str]:
    """The redis service's ACL arguments (from the first --user on), with test passwords for
    the ${X_REDIS_PASSWORD:?...} secrets: exactly what compose would pass."""
    command = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]["redis"]["command"]
    rules = command[command.index("--user") :]
    return [
        re.sub(
            r"\$\{([A-Z]+)_REDIS_PASSWORD:\?[^}]*\}",
            lambda m: PASSWORD.format(m.group(1).lower()),
            token,
        )
        for token in rules
    ]


@pytest.fixture(scope="module")
def acl_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed (Debian: apt-get install redis-server)")
    port = free_port()
    work = tmp_path_factory.mktemp("acl")
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--dir",
            str(work),
            "--requirepass",
            "admin-secret",
            *acl_args(),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        admin = redis.Redis(port=port, password="admin-secret")
        eventually(lambda: _pings(admin), 10, "the ACL redis-server answering")
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def as_user(port: int, user: str) -> redis.Redis:
    return redis.Redis(port=port, username=user, password=PASSWORD.format(user))


def test_compose_defines_one_acl_user_per_service() -> None:
    args = acl_args()
    users = [a for i, a in enumerate(args) if i and args[i - 1] == "--user"]
    assert sorted(users) == ["dispatch", "reserves", "transport"]


@pytest.mark.parametrize(
    ("user", "reads", "writes", "foreign"),
    [
        ("reserves", ["ingress.events", "dispatch.events"], "reserves.events", "transport.events"),
        ("transport", ["ingress.events", "dispatch.events"], "transport.events", "reserves.events"),
        (
            "dispatch",
            ["ingress.events", "reserves.events", "transport.events", "ingress.xml"],
            "dispatch.events",
            "other.stream",
        ),
    ],
)
def test_a_service_user_works_its_own_streams_and_nothing_else(
    acl_redis: int, user: str, reads: list[str], writes: str, foreign: str
) -> None:
    client = as_user(acl_redis, user)
    for ns in ("", "drill1:"):  # with and without an exercise namespace
        client.xadd(f"{ns}{writes}", {"event": "{}"})
        for stream in reads:
            client.xgroup_create(f"{ns}{stream}", user, id="0", mkstream=True)
            client.xreadgroup(user, "c1", {f"{ns}{stream}": ">"}, count=1)
            client.xinfo_groups(f"{ns}{stream}")
            client.hincrby(f"{user}:attempts:{ns}{stream}", "1-0", 1)
            client.xadd(f"{ns}{stream}.dead", {"error": "test"})
        with client.pipeline(transaction=True) as pipe:  # the ack-and-dead-letter MULTI
            pipe.xack(f"{ns}{reads[0]}", user, "1-0")
            pipe.hdel(f"{user}:attempts:{ns}{reads[0]}", "1-0")
            pipe.execute()
        relay = client.register_script(XADD_ALL)  # how the outbox relay publishes
        assert relay(keys=[f"{ns}{writes}"], args=["{}", "{}"]) == 2
        with pytest.raises(redis.exceptions.NoPermissionError):
            client.xadd(f"{ns}{foreign}", {"event": "{}"})
        with pytest.raises(redis.exceptions.ResponseError, match=r"(?i)perm"):
            relay(keys=[f"{ns}{foreign}"], args=["{}"])
    with pytest.raises(redis.exceptions.NoPermissionError):
        client.flushall()
    with pytest.raises(redis.exceptions.NoPermissionError):
        client.config_get("requirepass")
    with pytest.raises(redis.exceptions.NoPermissionError):
        client.hset("someone-else:attempts:x", "1-0", 1)


def test_a_wrong_password_is_refused(acl_redis: int) -> None:
    client = redis.Redis(port=acl_redis, username="reserves", password="guess")
    with pytest.raises(redis.exceptions.AuthenticationError):
        client.ping()
