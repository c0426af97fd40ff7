"""A short seeded fault run (``make test``'s version of ``make reliability``).

One seed, 1,500 load events at 100/s on the smoke world, every service SIGKILLed once and
restarted, Redis SIGKILLed and restarted on its AOF, PostgreSQL refusing connections, one
service paused past the reclaim idle time; then the ledger checker. Replay a failure with
``python -m simulations.reliability --seed 1 --events 1500 --rate 100``.
"""

from __future__ import annotations

import shutil

import pytest

from simulations.reliability.report import lost_count
from simulations.reliability.runner import RunConfig, run_seed

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(420)]


def test_a_seeded_fault_run_loses_nothing_applies_nothing_twice_and_breaks_no_invariant(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed: apt-get install redis-server")
    monkeypatch.setenv("HINTERLAND_DATABASE_URL", database_url)
    result = run_seed(RunConfig(seed=1, events=1500, rate=100, kills_per_service=1))

    kinds = {f.fault.kind for f in result.faults}
    assert kinds == {"kill", "redis_restart", "pg_outage", "pause"}
    assert result.events > 1500
    summary = "\n".join(result.problems()[:40]) + "\n" + result.report.summary()
    assert lost_count(result) == 0, summary
    assert result.report.applied_twice == 0, summary
    assert result.report.violations == [], summary
    assert result.crashes == [], summary
    assert result.settle_s is not None, summary
    assert all(f.recovery_s is not None for f in result.faults), summary
