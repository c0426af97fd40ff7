"""Load: the rate each service sustains, plan latency at 50 % and 90 % of it, the raw ceiling.

One run: a redis-server of its own (AOF on, as deployed), a fresh database, the three
services as processes, the reference scenario's world. First the raw Redis ceiling on the
same server (pipelined XADD; XREADGROUP + XACK of 100 entries per call). Then a ramp: the
load generator publishes at increasing rates for ``step_s`` seconds each; a service keeps up
at a step when its backlog (unread + unacknowledged entries on its input streams) at the end
of the step is under half a second of its input. The sustained rate of a service is what it
processed at the highest step it kept up with; the system's is the highest such step for all
three. Then, at 50 % and 90 % of that rate, disruptions are reported every ~1.5 s on top of
the mix and the latency from each disruption (its ingress entry) to the first plan published
because of it (the ``plan_published`` entry whose request lists transport's
``disruption_applied`` for it) is measured from the Redis entry ids: one clock, no polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from contracts import streams
from simulations.reliability import ledger
from simulations.reliability.loadgen import LoadGenerator, Mix, Published, generator
from simulations.reliability.runner import GROUPS, RunConfig, System, wait_world

SERVICE_INPUTS: dict[str, tuple[str, ...]] = {
    "reserves": (streams.INGRESS, streams.DISPATCH),
    "transport": (streams.INGRESS, streams.DISPATCH),
    "dispatch": (streams.INGRESS, streams.RESERVES, streams.TRANSPORT),
}


@dataclass
class LoadConfig:
    rates: Sequence[float] = (50, 100, 200, 400, 800, 1600)
    step_s: float = 10.0
    phase_s: float = 30.0
    disruption_every_s: float = 1.5
    top_up_every_s: float = 10.0
    raw_entries: int = 20_000
    alone_events: int = 3000
    scenario: str = "sichuan-earthquake"
    seed: int = 0
    keep: bool = False
    """Keep the work dir (the services' logs) instead of removing it."""
    log: Callable[[str], None] = field(default=lambda m: print(m, file=sys.stderr, flush=True))


@dataclass
class Step:
    rate: float
    published_per_s: float
    processed_per_s: dict[str, float]
    backlog: dict[str, int]
    kept_up: dict[str, bool]


@dataclass
class Latency:
    load_share: float
    rate: float
    samples: list[float]
    missing: int

    def pct(self, q: float) -> float | None:
        if not self.samples:
            return None
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


@dataclass
class LoadResult:
    raw_xadd_per_s: float
    raw_read_per_s: float
    steps: list[Step]
    sustained: dict[str, float]
    """Per service: events/s processed at the highest step it kept up with."""
    system_rate: float
    latencies: list[Latency]
    alone_per_s: float = 0.0
    """Reserves alone (the other services not started) draining a backlog of stock reports."""
    load_average: tuple[float, float, float] = (0.0, 0.0, 0.0)
    """The machine's load average when the ramp ended (2 cores, shared)."""

    def share_of_raw(self, service: str) -> float:
        return self.sustained.get(service, 0.0) / self.raw_read_per_s if self.raw_read_per_s else 0


async def raw_ceiling(
    redis: Redis, n: int, body: str, stream: str = "raw-ceiling"
) -> tuple[float, float]:
    """(XADD /s, XREADGROUP + XACK /s) of ``n`` entries on ``redis``, pipelined, 100 per read."""
    await redis.delete(stream)
    await redis.xgroup_create(stream, "g", id="0", mkstream=True)
    t0 = time.perf_counter()
    for start in range(0, n, 500):
        async with redis.pipeline(transaction=False) as pipe:
            for _ in range(start, min(n, start + 500)):
                pipe.xadd(stream, {"event": body})
            await pipe.execute()
    t1 = time.perf_counter()
    read = 0
    while read < n:
        resp: Any = await redis.xreadgroup("g", "c", {stream: ">"}, count=100)
        ids = [eid for _, entries in resp for eid, _ in entries]
        await redis.xack(stream, "g", *ids)
        read += len(ids)
    t2 = time.perf_counter()
    await redis.delete(stream)
    return n / (t1 - t0), n / (t2 - t1)


async def _service_counters(system: System) -> dict[str, tuple[int, int]]:
    """Per service: (entries read and acknowledged so far, backlog) over its input streams."""
    assert system.redis is not None
    done: dict[str, int] = dict.fromkeys(SERVICE_INPUTS, 0)
    backlog: dict[str, int] = dict.fromkeys(SERVICE_INPUTS, 0)
    for name in GROUPS:
        states = await ledger.group_states(system.redis, system.stream(name))
        for service, inputs in SERVICE_INPUTS.items():
            if name not in inputs or service not in states:
                continue
            g = states[service]
            pending = int(g.get("pending") or 0)
            done[service] += int(g.get("entries-read") or 0) - pending
            backlog[service] += int(g.get("lag") or 0) + pending
    return {s: (done[s], backlog[s]) for s in SERVICE_INPUTS}


async def _one_service_alone(system: System, gen: LoadGenerator, n: int) -> float:
    """Reserves only: publish ``n`` stock reports at once, time until all are applied and
    their results relayed (what benchmarks/bus_throughput.py measures in-process)."""
    assert system.redis is not None
    out = system.stream(streams.RESERVES)
    await wait_for_group(system, streams.INGRESS, "reserves")
    start_len = await system.redis.xlen(out)
    reports: list[Published] = []
    while len(reports) < n:
        event = gen.next_event()
        if event.type == ledger.T_LEVEL:
            reports.append(event)
    t0 = time.monotonic()
    await system.publish(reports)
    while await system.redis.xlen(out) < start_len + n:  # noqa: ASYNC110 (another process)
        await asyncio.sleep(0.02)
    return n / (time.monotonic() - t0)


async def wait_for_group(system: System, name: str, group: str) -> None:
    assert system.redis is not None
    while True:
        g = (await ledger.group_states(system.redis, system.stream(name))).get(group, {})
        if g and not int(g.get("pending") or 0) and g.get("lag") == 0:
            return
        await asyncio.sleep(0.1)


async def _run_step(system: System, gen: LoadGenerator, rate: float, seconds: float) -> Step:
    before = await _service_counters(system)
    in_before = {s: v[0] + v[1] for s, v in before.items()}
    t0 = time.monotonic()
    await system.publish_at_rate(list(gen.events(int(rate * seconds))), rate)
    elapsed = time.monotonic() - t0
    after = await _service_counters(system)
    processed = {s: (after[s][0] - before[s][0]) / elapsed for s in after}
    incoming = {s: (after[s][0] + after[s][1] - in_before[s]) / elapsed for s in after}
    # Kept up: the backlog at the end is under a second of input, or did not grow.
    kept = {s: after[s][1] <= max(100.0, incoming[s]) or after[s][1] <= before[s][1] for s in after}
    return Step(
        rate, rate * seconds / elapsed, processed, {s: v[1] for s, v in after.items()}, kept
    )


def _disruption_latencies(
    entries: dict[str, list[ledger.Entry]], disruption_entries: dict[str, str]
) -> tuple[list[float], int]:
    """Seconds from each disruption's ingress entry to the first plan published for it."""
    applied: dict[str, str] = {}  # disruption event id -> disruption_applied event id
    for e in entries[streams.TRANSPORT]:
        if e.type == "hinterland.transport.disruption_applied.v1" and e.event:
            applied.setdefault(str(e.event.get("causationid")), str(e.id))
    requests: dict[str, str] = {}  # trigger id -> earliest request id
    published: dict[str, str] = {}  # request id -> plan_published entry id
    for e in entries[streams.DISPATCH]:
        if e.type == "hinterland.dispatch.plan_requested.v1":
            for trigger in e.data.get("triggers", []):
                requests.setdefault(str(trigger), str(e.data.get("request_id")))
        elif e.type in ledger.T_PLANS:
            published.setdefault(str(e.data.get("request_id")), e.entry_id)
    out: list[float] = []
    missing = 0
    for event_id, entry_id in disruption_entries.items():
        request = requests.get(applied.get(event_id, ""), "")
        plan_entry = published.get(request)
        if plan_entry is None:
            missing += 1
            continue
        out.append((_ms(plan_entry) - _ms(entry_id)) / 1000)
    return out, missing


def _ms(entry_id: str) -> int:
    return int(entry_id.split("-")[0])


async def _latency_phase(
    system: System, gen: LoadGenerator, share: float, rate: float, cfg: LoadConfig
) -> Latency:
    assert system.redis is not None
    ingress = system.stream(streams.INGRESS)
    disruptions: dict[str, str] = {}
    rng = random.Random(f"latency:{cfg.seed}:{share}")

    async def disrupt() -> None:
        assert system.redis is not None
        deadline = time.monotonic() + cfg.phase_s
        while time.monotonic() < deadline:
            await asyncio.sleep(rng.uniform(0.5, 2 * cfg.disruption_every_s - 0.5))
            event = gen.disruption()
            entry: Any = await system.redis.xadd(ingress, {"event": event.body})
            disruptions[event.event_id] = entry.decode() if isinstance(entry, bytes) else entry

    async def top_up() -> None:
        # Needs too big to serve at once keep every plan non-empty, so that each disruption
        # gets a plan; as plans commit them, more come (without, they were all committed
        # within ~20 s once plans came within a second, and later disruptions had no plan).
        deadline = time.monotonic() + cfg.phase_s
        while time.monotonic() < deadline:
            await system.publish([gen.need(quantity_t=2000) for _ in range(3)])
            await asyncio.sleep(cfg.top_up_every_s)

    background = list(gen.events(int(rate * cfg.phase_s)))
    await asyncio.gather(system.publish_at_rate(background, rate), disrupt(), top_up())
    await system.settle(60.0, quiet_s=1.0)
    entries = {
        name: await ledger.read_stream(system.redis, system.stream(name))
        for name in (streams.TRANSPORT, streams.DISPATCH)
    }
    samples, missing = _disruption_latencies(entries, disruptions)
    return Latency(share, rate, samples, missing)


async def run_load_async(cfg: LoadConfig) -> LoadResult:
    workdir = Path(tempfile.mkdtemp(prefix="hl-load-"))
    run = RunConfig(
        seed=cfg.seed,
        scenario=cfg.scenario,
        solution_limit=None,
        use_proxy=False,
        reclaim_idle_ms=5000,
        log=cfg.log,
        mix=Mix(extra_depots=0, extra_assets=0),
    )
    system = System(run, workdir)
    gen = generator(cfg.seed, cfg.scenario, run.mix)
    executed: list[Published] = []
    vehicles: asyncio.Task[None] | None = None
    try:
        await system.start(services=("reserves",))
        assert system.redis is not None
        world = gen.world()
        xadd, read = await raw_ceiling(system.redis, cfg.raw_entries, world[-1].body)
        cfg.log(f"load: raw Redis XADD {xadd:.0f}/s, XREADGROUP+XACK {read:.0f}/s")
        await system.publish(world)
        alone = await _one_service_alone(system, gen, cfg.alone_events)
        cfg.log(f"load: reserves alone drains stock reports at {alone:.0f}/s")
        await system.start_services(("transport", "dispatch"))
        await wait_world(system, 300.0)
        vehicles = asyncio.create_task(system.telematics(random.Random(cfg.seed), executed))
        steps: list[Step] = []
        for rate in cfg.rates:
            step = await _run_step(system, gen, rate, cfg.step_s)
            steps.append(step)
            cfg.log(
                f"load: {rate:.0f}/s -> processed "
                + ", ".join(f"{s} {v:.0f}/s" for s, v in step.processed_per_s.items())
                + f"; backlog {step.backlog}"
            )
            if not all(step.kept_up.values()):
                break
        sustained: dict[str, float] = {}
        for service in SERVICE_INPUTS:
            ok = [s for s in steps if s.kept_up[service]]
            sustained[service] = max((s.processed_per_s[service] for s in ok), default=0.0)
        load_average = os.getloadavg()
        ok_all = [s.rate for s in steps if all(s.kept_up.values())]
        system_rate = max(ok_all, default=steps[0].rate / 2)
        await system.settle(180.0, quiet_s=1.0)
        latencies = []
        for share in (0.5, 0.9):
            lat = await _latency_phase(system, gen, share, share * system_rate, cfg)
            latencies.append(lat)
            cfg.log(
                f"load: {share:.0%} of {system_rate:.0f}/s: {len(lat.samples)} disruptions, "
                f"p50 {lat.pct(0.5)} p95 {lat.pct(0.95)} s, {lat.missing} without a plan"
            )
        return LoadResult(xadd, read, steps, sustained, system_rate, latencies, alone, load_average)
    finally:
        if vehicles is not None:
            vehicles.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await vehicles
        await system.stop()
        if cfg.keep:
            cfg.log(f"load: kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def run_load(cfg: LoadConfig) -> LoadResult:
    return asyncio.run(run_load_async(cfg))


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def dumps(result: LoadResult) -> str:
    return json.dumps(
        {
            "raw_xadd_per_s": result.raw_xadd_per_s,
            "raw_read_per_s": result.raw_read_per_s,
            "sustained": result.sustained,
            "system_rate": result.system_rate,
            "reserves_alone_per_s": result.alone_per_s,
            "load_average": result.load_average,
            "steps": [s.__dict__ for s in result.steps],
            "latencies": [
                {"share": x.load_share, "rate": x.rate, "samples": x.samples, "missing": x.missing}
                for x in result.latencies
            ],
        },
        indent=1,
    )
