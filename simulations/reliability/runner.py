"""One seeded fault run: real services as processes, own Redis (AOF), fresh database.

``run_seed(seed, events=...)`` starts everything, publishes the world and then ``events``
ingress events at a steady rate while the fault plan of that seed is injected, waits for the
system to settle, runs the ledger checker and returns a :class:`RunResult`. Everything a run
did is in its work directory (service logs, Redis' AOF) when it fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts import streams
from contracts.streams import namespaced
from services.runtime import db
from simulations.reliability import ledger
from simulations.reliability.faults import FaultTargets, Injected, inject, plan_faults
from simulations.reliability.infra import (
    SERVICES,
    AofRedis,
    PgProxy,
    ServiceProcess,
    admin_url,
    create_database,
    drop_database,
    free_port,
)
from simulations.reliability.loadgen import (
    LoadGenerator,
    Mix,
    Published,
    generator,
    progress_reports,
)

GROUPS: dict[str, tuple[str, ...]] = {
    streams.INGRESS: ("reserves", "transport", "dispatch"),
    streams.RESERVES: ("dispatch",),
    streams.TRANSPORT: ("dispatch",),
    streams.DISPATCH: ("reserves", "transport"),
}
OUTBOXES = ("reserves_outbox", "transport_outbox", "dispatch_outbox")


@dataclass
class RunConfig:
    seed: int
    events: int = 10_000
    rate: float = 70.0
    """Ingress events per second while faults are injected."""
    reclaim_idle_ms: int = 3000
    kills_per_service: int = 2
    scenario: str = "smoke"
    solution_limit: int | None = 10
    """Dispatch's search budget (None: the service's default)."""
    use_proxy: bool = True
    """Services reach PostgreSQL through a proxy the fault runner can take down."""
    mix: Mix = field(default_factory=Mix)
    settle_timeout_s: float = 240.0
    keep: bool = False
    """Keep the work directory (logs, AOF) even when the run passed."""
    log: Callable[[str], None] = field(default=lambda m: print(m, file=sys.stderr, flush=True))


@dataclass
class RunResult:
    seed: int
    events: int
    faults: list[Injected]
    report: ledger.LedgerReport
    crashes: list[str]
    settle_s: float | None
    wall_s: float
    workdir: Path | None
    published: list[tuple[str, str]] = field(default_factory=list)

    @property
    def lost_letters(self) -> list[ledger.DeadLetter]:
        """Dead letters of events this run published: all valid, so they never took effect."""
        published = {event_id for event_id, _ in self.published}
        return [d for d in self.report.dead_letters if d.event_id in published]

    @property
    def lost(self) -> int:
        return self.report.lost + len({d.event_id for d in self.lost_letters})

    @property
    def ok(self) -> bool:
        return (
            self.report.ok
            and not self.lost_letters
            and not self.crashes
            and self.settle_s is not None
            and all(f.recovery_s is not None for f in self.faults)
        )

    def problems(self) -> list[str]:
        out = [str(v) for v in self.report.violations]
        out += [
            f"[lost] {d.type} {d.event_id} dead-lettered by {d.group}: {d.error}"
            for d in self.lost_letters
        ]
        out += [f"[crash] {c}" for c in self.crashes]
        if self.settle_s is None:
            out.append("[settle] the system did not settle")
        out += [f"[recovery] {f.fault.label}: {f.note}" for f in self.faults if f.note]
        return out


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _sid(entry_id: bytes | str) -> tuple[int, int]:
    text_id = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, seq = text_id.partition("-")
    return int(ms), int(seq or 0)


class System:
    """The running system of one fault run and the probes on it."""

    def __init__(self, cfg: RunConfig, workdir: Path) -> None:
        self.cfg = cfg
        self.workdir = workdir
        self.redis_server = AofRedis(workdir / "redis")
        self.namespace = f"rel{cfg.seed}"
        self.database_url = ""
        self.proxy: PgProxy | None = None
        self.procs: dict[str, ServiceProcess] = {}
        self.env: dict[str, str] = {}
        self.redis: Redis | None = None
        self.engine: AsyncEngine | None = None
        self.expected_down: set[str] = set()
        self.crashes: list[str] = []
        self._marks: dict[float, dict[str, tuple[int, int]]] = {}
        self.executed: set[str] = set()
        self.blocker = ""
        """What kept the last recovery probe from succeeding (for slow recoveries)."""
        self.in_flight = 0
        """Orders being executed by the simulated vehicles (not settled while any are)."""

    def stream(self, name: str) -> str:
        return namespaced(name, self.namespace)

    async def start(self, services: Sequence[str] = SERVICES) -> None:
        """Redis, the database (and proxy), then ``services`` one after the other."""
        self.redis_server.start()
        self.database_url = await create_database(admin_url())
        service_db = self.database_url
        if self.cfg.use_proxy:
            self.proxy = PgProxy(_url(self.database_url), self.workdir)
            self.proxy.start()
            service_db = self.proxy.url_for(self.database_url)
        env = {
            "HINTERLAND_REDIS_URL": self.redis_server.url,
            "HINTERLAND_DATABASE_URL": service_db,
            "HINTERLAND_NAMESPACE": self.namespace,
            "HINTERLAND_MODE": "live",
            "HINTERLAND_RECLAIM_IDLE_MS": str(self.cfg.reclaim_idle_ms),
            "HINTERLAND_HTTP_PORT": str(free_port()),
        }
        if self.cfg.solution_limit is not None:
            env["HINTERLAND_SOLUTION_LIMIT"] = str(self.cfg.solution_limit)
            env["HINTERLAND_TIME_LIMIT_S"] = "10"
        self.env = env
        await self.start_services(services)
        self.redis = Redis.from_url(self.redis_server.url)
        self.engine = db.create_engine(self.database_url)

    async def start_services(self, services: Sequence[str]) -> None:
        for service in services:
            proc = ServiceProcess(service, self.env, self.workdir)
            self.procs[service] = proc
            proc.start()
            await asyncio.to_thread(proc.wait_ready)

    async def stop(self, drop: bool = True) -> None:
        for proc in self.procs.values():
            await asyncio.to_thread(proc.stop)
        if self.redis is not None:
            with contextlib.suppress(Exception):
                await self.redis.aclose()
        if self.engine is not None:
            await self.engine.dispose()
        if self.proxy is not None:
            self.proxy.stop()
        self.redis_server.kill()
        if drop and self.database_url:
            with contextlib.suppress(Exception):
                await drop_database(self.database_url)

    # --- publishing ---------------------------------------------------------------------------

    async def publish(self, batch: Sequence[Published]) -> None:
        """XADD a batch, retrying through Redis outages (an integrated system would too)."""
        assert self.redis is not None
        ingress = self.stream(streams.INGRESS)
        while True:
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for p in batch:
                        pipe.xadd(ingress, {"event": p.body})
                    await pipe.execute()
                return
            except (RedisError, OSError):
                await asyncio.sleep(0.2)

    async def publish_at_rate(self, events: list[Published], rate: float) -> float:
        """Publish ``events`` at ``rate``/s in 50 ms slices; returns the seconds it took."""
        t0 = time.monotonic()
        sent = 0
        while sent < len(events):
            due = min(len(events), int((time.monotonic() - t0) * rate) + 1)
            if due > sent:
                await self.publish(events[sent:due])
                sent = due
            await asyncio.sleep(0.05)
        return time.monotonic() - t0

    async def telematics(self, rng: random.Random, published: list[Published]) -> None:
        """Vehicles execute every order dispatch issues: progress reports on ingress after a
        short delay (appended to ``published`` so the checker knows about them)."""
        assert self.redis is not None
        stream, last = self.stream(streams.DISPATCH), "0"
        pending: list[asyncio.Task[None]] = []

        async def execute(order: dict[str, Any], delay: float) -> None:
            try:
                await asyncio.sleep(delay)
                for report in progress_reports(order, "rel", self.cfg.seed):
                    await self.publish([report])
                    published.append(report)
                    await asyncio.sleep(rng.uniform(0.05, 0.3))
            finally:
                self.in_flight -= 1

        try:
            while True:
                try:
                    batch: Any = await self.redis.xread({stream: last}, count=500, block=500)
                except (RedisError, OSError):
                    await asyncio.sleep(0.2)
                    continue
                for _name, entries in batch or []:
                    for entry_id, fields in entries:
                        last = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
                        event = json.loads(fields[b"event"])
                        if event.get("type") != ledger.T_ORDER or event["id"] in self.executed:
                            continue
                        self.executed.add(event["id"])
                        self.in_flight += 1
                        pending.append(asyncio.create_task(execute(event, rng.uniform(0.5, 2.0))))
        finally:
            for task in pending:
                task.cancel()

    # --- probes ---------------------------------------------------------------------------------

    async def _groups(self) -> list[tuple[str, str, dict[str, Any]]]:
        assert self.redis is not None
        out = []
        for name, groups in GROUPS.items():
            states = await ledger.group_states(self.redis, self.stream(name))
            for g in groups:
                out.append((name, g, states.get(g, {})))
        return out

    async def unsent(self, before: datetime | None = None) -> int:
        assert self.engine is not None
        total = 0
        async with self.engine.connect() as conn:
            for table in OUTBOXES:
                sql = f"SELECT count(*) FROM {table} WHERE sent_at IS NULL"
                params: dict[str, Any] = {}
                if before is not None:
                    sql += " AND created_at <= :before"
                    params["before"] = before
                total += int((await conn.execute(text(sql), params)).scalar() or 0)
        return total

    async def recovered(self, ended: float) -> bool:
        """Everything on the bus at ``ended`` read and acked by every group, outboxes relayed."""
        assert self.redis is not None
        try:
            if ended not in self._marks:
                marks = {}
                for name in GROUPS:
                    try:
                        info: Any = await self.redis.xinfo_stream(self.stream(name))
                        marks[name] = _sid(info["last-generated-id"])
                    except RedisError:
                        marks[name] = (0, 0)
                self._marks[ended] = marks
            marks = self._marks[ended]
            for name, group, g in await self._groups():
                if not g:
                    if marks[name] > (0, 0):
                        self.blocker = f"no group {group} on {name}"
                        return False
                    continue
                if _sid(g["last-delivered-id"]) < marks[name]:
                    self.blocker = f"{group} has not read {name} up to the fault's end"
                    return False
                if int(g["pending"]):
                    summary: Any = await self.redis.xpending(self.stream(name), group)
                    if summary["min"] is not None and _sid(summary["min"]) <= marks[name]:
                        owners = ", ".join(
                            f"{_text(c['name'])}: {c['pending']}" for c in summary["consumers"]
                        )
                        self.blocker = f"{group} has entries of {name} pending ({owners})"
                        return False
            unsent = await self.unsent(datetime.fromtimestamp(ended, UTC))
            self.blocker = f"{unsent} outbox rows not relayed" if unsent else ""
            return unsent == 0
        except (RedisError, OSError) as exc:
            self.blocker = f"probe failed: {exc!r}"
            return False

    async def settled_once(self) -> bool:
        if self.in_flight:
            return False
        try:
            for _name, _group, g in await self._groups():
                if not g or int(g["pending"]) or g.get("lag") is None or int(g["lag"]):
                    return False
            if await self.unsent():
                return False
            assert self.engine is not None
            async with self.engine.connect() as conn:
                triggers = (
                    await conn.execute(text("SELECT count(*) FROM dispatch_triggers"))
                ).scalar()
            return not triggers
        except (RedisError, OSError):
            return False

    async def settle(self, limit_s: float, quiet_s: float = 3.0) -> float | None:
        """Wait until the system is quiet for ``quiet_s`` seconds; the time it took or None."""
        t0 = time.monotonic()
        quiet_since: float | None = None
        while time.monotonic() - t0 < limit_s:
            self.check_crashes()
            if await self.settled_once():
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since >= quiet_s:
                    return quiet_since - t0
            else:
                quiet_since = None
            await asyncio.sleep(0.2)
        return None

    def check_crashes(self) -> None:
        """A service that died without being killed by us is a finding; it is restarted."""
        for name, proc in self.procs.items():
            if name in self.expected_down or proc.alive():
                continue
            assert proc.proc is not None
            self.crashes.append(
                f"{name} exited by itself with code {proc.proc.returncode}; log tail:\n"
                + proc.log()[-1500:]
            )
            proc.start()

    # --- fault targets ---------------------------------------------------------------------------

    def targets(self) -> FaultTargets:
        def kill(service: str) -> None:
            self.expected_down.add(service)
            self.procs[service].kill()

        def start(service: str) -> None:
            self.procs[service].start()
            self.expected_down.discard(service)

        assert self.proxy is not None
        proxy = self.proxy
        return FaultTargets(
            kill=kill,
            start=start,
            pause=lambda s: self.procs[s].pause(),
            resume=lambda s: self.procs[s].resume(),
            redis_kill=self.redis_server.kill,
            redis_start=self.redis_server.start,
            pg_down=proxy.down,
            pg_up=proxy.up,
            recovered=self.recovered,
            blocker=lambda: self.blocker,
            log=self.cfg.log,
        )


def _url(database_url: str) -> Any:
    from sqlalchemy.engine import make_url

    return make_url(database_url)


async def wait_world(system: System, limit_s: float = 120.0) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit_s:
        if await system.settled_once():
            return
        await asyncio.sleep(0.2)
    raise TimeoutError("the world was not applied in time")


async def run_seed_async(cfg: RunConfig) -> RunResult:
    t_start = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix=f"hl-rel-{cfg.seed}-"))
    system = System(cfg, workdir)
    gen: LoadGenerator = generator(cfg.seed, cfg.scenario, cfg.mix)
    log = cfg.log
    result: RunResult | None = None
    try:
        log(f"seed {cfg.seed}: starting services (work dir {workdir})")
        await system.start()
        world = gen.world()
        await system.publish(world)
        await wait_world(system)
        load = list(gen.events(cfg.events))
        log(f"seed {cfg.seed}: world applied ({len(world)} events); publishing {len(load)}")
        plan = plan_faults(
            cfg.seed, cfg.reclaim_idle_ms / 1000, kills_per_service=cfg.kills_per_service
        )

        async def faults() -> list[Injected]:
            await asyncio.sleep(1.0)
            return await inject(plan, system.targets(), slow_after_s=2 * cfg.reclaim_idle_ms / 1000)

        async def watch() -> None:
            while True:
                system.check_crashes()
                await asyncio.sleep(0.5)

        executed: list[Published] = []
        watcher = asyncio.create_task(watch())
        vehicles = asyncio.create_task(
            system.telematics(random.Random(f"telematics:{cfg.seed}"), executed)
        )
        try:
            _elapsed, injected = await asyncio.gather(
                system.publish_at_rate(load, cfg.rate), faults()
            )
            log(f"seed {cfg.seed}: load and faults done; settling")
            settle_s = await system.settle(cfg.settle_timeout_s)
        finally:
            watcher.cancel()
            vehicles.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await vehicles
        published = [(p.event_id, p.type) for p in (*world, *load, *executed)]
        report = await ledger.check_ledger(
            ledger.Sources.one_database(
                system.redis_server.url, system.database_url, system.namespace, published
            )
        )
        result = RunResult(
            seed=cfg.seed,
            events=len(world) + len(load) + len(executed),
            faults=injected,
            report=report,
            crashes=list(system.crashes),
            settle_s=settle_s,
            wall_s=time.monotonic() - t_start,
            workdir=workdir,
            published=published,
        )
        return result
    finally:
        keep = cfg.keep or result is None or not result.ok
        await system.stop(drop=not keep)
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
            if result is not None:
                result.workdir = None
        elif result is not None:
            log(f"seed {cfg.seed}: kept {workdir} and database {system.database_url}")


def run_seed(cfg: RunConfig) -> RunResult:
    return asyncio.run(run_seed_async(cfg))
