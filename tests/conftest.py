"""Shared fixtures: the real Redis and PostgreSQL the integration tests run against.

``HINTERLAND_TEST_REDIS_URL`` and ``HINTERLAND_TEST_DATABASE_URL`` name them. When nothing
answers there, a throwaway server is started from the installed binaries; when those are
missing too, the test fails (never skips) with what to install.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import redis

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _redis_answers(url: str) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except redis.RedisError:
        return False


def _libpq_url(sqlalchemy_url: str, database: str | None = None) -> str:
    """``postgresql+asyncpg://...`` to the ``postgresql://...`` psycopg understands."""
    parts = urlsplit(sqlalchemy_url)
    path = f"/{database}" if database is not None else parts.path
    return urlunsplit(("postgresql", parts.netloc, path, parts.query, parts.fragment))


def with_database(sqlalchemy_url: str, database: str) -> str:
    parts = urlsplit(sqlalchemy_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


def _postgres_answers(url: str) -> bool:
    try:
        with psycopg.connect(_libpq_url(url), connect_timeout=2):
            return True
    except psycopg.Error:
        return False


def _wait(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.1)
    pytest.fail(f"{what} did not come up within {timeout:.0f} s")


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    url = os.environ.get("HINTERLAND_TEST_REDIS_URL", DEFAULT_REDIS_URL)
    if _redis_answers(url):
        yield url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail(
            f"Redis is not answering at {url} and redis-server is not installed: "
            "apt-get install redis-server (or set HINTERLAND_TEST_REDIS_URL)"
        )
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    throwaway = f"redis://127.0.0.1:{port}/0"
    try:
        _wait(lambda: _redis_answers(throwaway), 15, f"redis-server on port {port}")
        yield throwaway
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _pg_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    url = os.environ.get("HINTERLAND_TEST_DATABASE_URL", DEFAULT_DATABASE_URL)
    if _postgres_answers(url):
        yield url
        return
    initdb, pg_ctl = _pg_binary("initdb"), _pg_binary("pg_ctl")
    if initdb is None or pg_ctl is None:
        pytest.fail(
            f"PostgreSQL is not answering at {url} and initdb/pg_ctl are not installed: "
            "apt-get install postgresql (or set HINTERLAND_TEST_DATABASE_URL)"
        )
    run_as: list[str] = []
    owner: pwd.struct_passwd | None = None
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.fail(
                f"PostgreSQL is not answering at {url}; a throwaway server cannot run as root "
                "and there is no 'postgres' user to run it as. Start PostgreSQL or set "
                "HINTERLAND_TEST_DATABASE_URL."
            )
        run_as = ["runuser", "-u", "postgres", "--"]
    data = Path(tempfile.mkdtemp(prefix="hl-pg-"))
    if owner is not None:
        os.chown(data, owner.pw_uid, owner.pw_gid)
    port = free_port()
    subprocess.run(
        [*run_as, initdb, "-D", str(data / "db"), "-U", "postgres", "--auth=trust"],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            *run_as,
            pg_ctl,
            "-D",
            str(data / "db"),
            "-l",
            str(data / "log"),
            "-o",
            f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off",
            "-w",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    throwaway = f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"
    try:
        _wait(lambda: _postgres_answers(throwaway), 30, f"PostgreSQL on port {port}")
        with psycopg.connect(_libpq_url(throwaway), autocommit=True) as conn:
            conn.execute("CREATE DATABASE test")
        yield with_database(throwaway, "test")
    finally:
        subprocess.run(
            [*run_as, pg_ctl, "-D", str(data / "db"), "-m", "immediate", "stop"],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def service_database(database_url: str) -> Iterator[str]:
    """A fresh database of its own for one test; dropped afterwards."""
    name = f"hl_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq_url(database_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(database_url, name)
    finally:
        with psycopg.connect(_libpq_url(database_url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def sync_database_url(sqlalchemy_url: str) -> str:
    """libpq URL of a test database, for psycopg checks from the test itself."""
    return _libpq_url(sqlalchemy_url)


@pytest.fixture
def namespace(redis_url: str) -> Iterator[str]:
    """A stream namespace of its own for one test; its keys are deleted afterwards."""
    ns = f"t{uuid.uuid4().hex[:10]}"
    yield ns
    client = redis.Redis.from_url(redis_url)
    try:
        keys = [*client.scan_iter(f"{ns}:*"), *client.scan_iter(f"*:{ns}:*")]
        if keys:
            client.delete(*keys)
    finally:
        client.close()
