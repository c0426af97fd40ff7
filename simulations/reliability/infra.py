"""What a fault run stands on: its own redis-server (AOF), a fresh database, a PostgreSQL
proxy, and the three services as ``hinterland serve`` processes.

Nothing here touches the machine's own Redis or PostgreSQL servers beyond creating and
dropping one database per run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

import asyncpg
import redis
from sqlalchemy.engine import URL, make_url

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
SERVICES = ("reserves", "transport", "dispatch")


class InfraError(RuntimeError):
    """Something the run stands on did not come up (not a finding about the services)."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_for(probe: Callable[[], T | None], timeout: float, what: str, every: float = 0.05) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(every)
    raise InfraError(f"{what} did not happen within {timeout:.0f} s")


def code_dir() -> Path:
    """Where the services' code is run from: this checkout, or ``HINTERLAND_RELIABILITY_CODE``
    (e.g. an exported commit, so that a run is not disturbed by edits in the work tree)."""
    return Path(os.environ.get("HINTERLAND_RELIABILITY_CODE", str(ROOT)))


def serve_command(service: str) -> list[str]:
    """``hinterland serve <service>``, through this interpreter so ``code_dir()`` applies."""
    return [sys.executable, "-c", "from services.cli import app; app()", "serve", service]


class AofRedis:
    """A redis-server of the run's own on a free port, append-only file on, as deployed."""

    def __init__(self, workdir: Path, fsync: str = "everysec") -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise InfraError("redis-server is not installed: apt-get install redis-server")
        self.binary = binary
        self.port = free_port()
        self.dir = workdir
        self.fsync = fsync
        self.proc: subprocess.Popen[bytes] | None = None
        workdir.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 30.0) -> None:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                self.fsync,
                "--dir",
                str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        try:
            wait_for(lambda: _pings(client), timeout_s, f"redis-server on port {self.port}")
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL: what the AOF has is what survives."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


class PgProxy:
    """The services reach PostgreSQL through this; ``down()`` makes it refuse connections."""

    def __init__(self, target: URL, log_dir: Path) -> None:
        self.target = target
        self.port = free_port()
        self.log_path = log_dir / "pgproxy.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "simulations.reliability.pgproxy",
                    str(self.port),
                    self.target.host or "127.0.0.1",
                    str(self.target.port or 5432),
                ],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for(lambda: port_open(self.port), 20, f"PostgreSQL proxy on port {self.port}")

    def down(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGUSR1)
        wait_for(lambda: not port_open(self.port), 10, "PostgreSQL proxy refusing connections")

    def up(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGUSR2)
        wait_for(lambda: port_open(self.port), 10, "PostgreSQL proxy accepting again")

    def url_for(self, database_url: str) -> str:
        url = make_url(database_url).set(host="127.0.0.1", port=self.port)
        return url.render_as_string(hide_password=False)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def admin_url() -> str:
    return os.environ.get("HINTERLAND_DATABASE_URL", DEFAULT_DATABASE_URL)


def _asyncpg_dsn(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


async def create_database(base_url: str, prefix: str = "hl_rel") -> str:
    """A fresh database beside ``base_url``'s; returns its SQLAlchemy URL."""
    url = make_url(base_url)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return url.set(database=name).render_as_string(hide_password=False)


async def drop_database(database_url: str) -> None:
    url = make_url(database_url)
    admin = url.set(database=make_url(admin_url()).database or "postgres")
    conn = await asyncpg.connect(_asyncpg_dsn(admin))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')
    finally:
        await conn.close()


class ServiceProcess:
    """One ``hinterland serve <service>`` process in its own session, its log in a file."""

    def __init__(self, service: str, env: Mapping[str, str], log_dir: Path) -> None:
        self.service = service
        self.code = code_dir()
        self.env = {**os.environ, "PYTHONPATH": str(self.code), **env}
        self.log_dir = log_dir
        self.log_path = log_dir / f"{service}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> ServiceProcess:
        self.starts += 1
        self._offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            log.write(f"\n=== start {self.starts} at {time.time():.3f} ===\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                serve_command(self.service),
                env=self.env,
                cwd=self.code,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout: float = 60.0) -> None:
        marker = f"{self.service} ready"

        def ready() -> bool:
            if not self.alive():
                assert self.proc is not None
                raise InfraError(
                    f"{self.service} exited with {self.proc.returncode} before ready:\n"
                    + self.log()[-3000:]
                )
            with self.log_path.open("rb") as f:
                f.seek(self._offset)
                return marker.encode() in f.read()

        wait_for(ready, timeout, f"{self.service} ready", every=0.1)

    def kill(self) -> None:
        """SIGKILL the whole process group (the service and its solver worker)."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGCONT)
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()
        # The solver worker of dispatch lives in the same process group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
