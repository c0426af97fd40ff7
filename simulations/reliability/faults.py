"""Seeded fault plans and their injection into a running system.

A plan is a shuffled list of faults, each with the pause before it and how long it lasts;
the same seed gives the same plan. Kinds:

- ``kill``: SIGKILL a service (its whole process group), restart it after a short downtime;
- ``redis_restart``: SIGKILL the run's redis-server, start it again on its AOF;
- ``pg_outage``: the PostgreSQL proxy refuses connections and resets open ones for a while;
- ``pause``: SIGSTOP a service for longer than the reclaim idle time, then SIGCONT.

Recovery time is measured from the end of the fault (the restart, the proxy back up, the
SIGCONT) until every entry that was on any stream at that moment has been read and
acknowledged by every group and every outbox row written before it has been relayed.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Final

from simulations.reliability.infra import SERVICES

KINDS: Final = ("kill", "redis_restart", "pg_outage", "pause")


@dataclass(frozen=True, slots=True)
class Fault:
    kind: str
    target: str
    """Service name for kill and pause; ``redis`` or ``postgres`` otherwise."""
    gap_s: float
    """Pause before the fault (load keeps flowing)."""
    duration_s: float
    """Downtime (kill, redis), refusal time (postgres) or stop time (pause)."""

    @property
    def label(self) -> str:
        return f"{self.kind} {self.target}" if self.kind in ("kill", "pause") else self.kind


@dataclass
class Injected:
    fault: Fault
    started: float = 0.0
    ended: float = 0.0
    recovery_s: float | None = None
    """None: not recovered within the limit (a finding)."""
    note: str = ""
    slow_because: str = ""
    """For a recovery slower than ``slow_after_s``: what it was still waiting for then."""


def plan_faults(
    seed: int,
    reclaim_idle_s: float,
    kills_per_service: int = 2,
    redis_restarts: int = 1,
    pg_outages: int = 1,
    pauses: int = 1,
) -> list[Fault]:
    rng = random.Random(f"faults:{seed}")
    faults: list[Fault] = []
    for service in SERVICES:
        for _ in range(kills_per_service):
            faults.append(Fault("kill", service, rng.uniform(0.5, 3.0), rng.uniform(0.0, 1.5)))
    for _ in range(redis_restarts):
        faults.append(Fault("redis_restart", "redis", rng.uniform(0.5, 3.0), rng.uniform(1, 3)))
    for _ in range(pg_outages):
        faults.append(Fault("pg_outage", "postgres", rng.uniform(0.5, 3.0), rng.uniform(2, 5)))
    for _ in range(pauses):
        faults.append(
            Fault(
                "pause",
                rng.choice(SERVICES),
                rng.uniform(0.5, 3.0),
                reclaim_idle_s + rng.uniform(0.5, 2.0),
            )
        )
    rng.shuffle(faults)
    return faults


@dataclass
class FaultTargets:
    """How to inflict each fault on the running system (blocking calls, run in threads)."""

    kill: Callable[[str], None]
    start: Callable[[str], None]
    pause: Callable[[str], None]
    resume: Callable[[str], None]
    redis_kill: Callable[[], None]
    redis_start: Callable[[], None]
    pg_down: Callable[[], None]
    pg_up: Callable[[], None]
    recovered: Callable[[float], Awaitable[bool]]
    """Probe: has everything on the bus and in the outboxes at this wall time been handled?"""
    log: Callable[[str], None] = field(default=lambda _m: None)
    blocker: Callable[[], str] = field(default=lambda: "")
    """What the recovery probe last waited for."""


async def inject(
    plan: list[Fault],
    targets: FaultTargets,
    recovery_limit_s: float = 90.0,
    slow_after_s: float = 6.0,
) -> list[Injected]:
    done: list[Injected] = []
    for fault in plan:
        await asyncio.sleep(fault.gap_s)
        record = Injected(fault, started=time.time())
        targets.log(f"fault: {fault.label} for {fault.duration_s:.1f} s")
        if fault.kind == "kill":
            await asyncio.to_thread(targets.kill, fault.target)
            await asyncio.sleep(fault.duration_s)
            record.ended = time.time()
            await asyncio.to_thread(targets.start, fault.target)
        elif fault.kind == "redis_restart":
            await asyncio.to_thread(targets.redis_kill)
            await asyncio.sleep(fault.duration_s)
            await asyncio.to_thread(targets.redis_start)
            record.ended = time.time()
        elif fault.kind == "pg_outage":
            await asyncio.to_thread(targets.pg_down)
            await asyncio.sleep(fault.duration_s)
            await asyncio.to_thread(targets.pg_up)
            record.ended = time.time()
        elif fault.kind == "pause":
            await asyncio.to_thread(targets.pause, fault.target)
            await asyncio.sleep(fault.duration_s)
            await asyncio.to_thread(targets.resume, fault.target)
            record.ended = time.time()
        else:
            raise ValueError(f"unknown fault kind {fault.kind!r}")
        deadline = time.monotonic() + recovery_limit_s
        while time.monotonic() < deadline:
            if await targets.recovered(record.ended):
                record.recovery_s = time.time() - record.ended
                break
            if not record.slow_because and time.time() - record.ended > slow_after_s:
                record.slow_because = targets.blocker()
            await asyncio.sleep(0.1)
        else:
            record.note = f"not recovered within {recovery_limit_s:.0f} s"
        targets.log(
            (
                f"  recovered in {record.recovery_s:.2f} s"
                if record.recovery_s is not None
                else f"  {record.note}"
            )
            + (f" (at {slow_after_s:.0f} s: {record.slow_because})" if record.slow_because else "")
        )
        done.append(record)
    return done
