"""Services as OS processes, started the way an operator would: ``hinterland serve X``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

import pytest

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[2]
HINTERLAND = Path(sys.executable).parent / "hinterland"
if not HINTERLAND.exists():
    HINTERLAND = ROOT / ".venv" / "bin" / "hinterland"


class ServiceProcess:
    """One ``hinterland serve <service>`` process with its log in a file."""

    def __init__(self, service: str, env: Mapping[str, str], log_dir: Path) -> None:
        self.service = service
        self.env = {**os.environ, **env}
        self.log_path = log_dir / f"{service}-{time.monotonic_ns()}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ServiceProcess:
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [str(HINTERLAND), "serve", self.service],
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 45.0) -> None:
        """Until the service logs '<name> ready' (migrated, groups created, readers up)."""
        deadline = time.monotonic() + timeout
        marker = f"{self.service} ready"
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                pytest.fail(
                    f"{self.service} exited with {self.proc.returncode} before ready:\n{self.log()}"
                )
            if marker in self.log():
                return
            time.sleep(0.1)
        pytest.fail(f"{self.service} not ready within {timeout:.0f} s:\n{self.log()[-5000:]}")

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no acks, no outbox flush."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM and wait; SIGKILL if it does not stop in time."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()


def eventually(
    probe: Callable[[], T | None], timeout: float, what: str, interval: float = 0.2
) -> T:
    """Poll ``probe`` until it returns something truthy; fail naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"{what} did not happen within {timeout:.0f} s (last probe: {last!r})")
