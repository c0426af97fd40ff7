"""Runs the three services in one process over one Redis-protocol bus and plays a scenario.

The embedded default is an in-process fakeredis TCP server and an SQLite file: the very same
service code, subscribers and bus plumbing as a real deployment, nothing else to install.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.catalogue import parse_event
from contracts.dispatch import DispatchOrderIssuedV1
from contracts.streams import ALL, DISPATCH, namespaced
from services.dispatch.adapters import tables as dispatch_tables
from services.dispatch.app.planner import Planner
from services.dispatch.bootstrap import SPEC as DISPATCH_SPEC
from services.dispatch.bootstrap import create_runtime as create_dispatch
from services.dispatch.settings import DispatchSettings
from services.reserves.bootstrap import SPEC as RESERVES_SPEC
from services.reserves.bootstrap import create_runtime as create_reserves
from services.runtime import db
from services.runtime.bus import groups_caught_up, redis_client
from services.runtime.service import ServiceRuntime
from services.runtime.settings import ServiceSettings
from services.runtime.wire import encode, fields
from services.transport.bootstrap import SPEC as TRANSPORT_SPEC
from services.transport.bootstrap import create_runtime as create_transport
from simulations.clock import Clock
from simulations.execution import Fleet
from simulations.recording import Breakdown
from simulations.scenario import TimedEvent

SPECS = (RESERVES_SPEC, TRANSPORT_SPEC, DISPATCH_SPEC)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def embedded_redis() -> Iterator[str]:
    """An in-process Redis-protocol server (fakeredis) on a free loopback port."""
    from fakeredis import TcpFakeServer

    port = free_port()
    server = TcpFakeServer(("127.0.0.1", port), server_type="redis")
    thread = threading.Thread(target=server.serve_forever, daemon=True, name="fakeredis")
    thread.start()
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.shutdown()
        server.server_close()


class BusQuiet:
    """Settled means: every group read and acked everything, every outbox is empty.

    The planner waits for this (excluding its own pending work) before it reads the read
    model, and the runner waits for it (including the planner) before the next inject: that
    is what makes a run deterministic whatever the machine's speed.
    """

    def __init__(self, world: World, poll_s: float = 0.01) -> None:
        self.world = world
        self.poll_s = poll_s

    async def _streams_quiet(self) -> bool:
        checks = [
            (rt.stream(name), rt.group) for rt in self.world.runtimes for name in rt.spec.inputs
        ]
        streams_, groups = [c[0] for c in checks], [c[1] for c in checks]
        if not await groups_caught_up(self.world.redis, streams_, groups):
            return False
        for rt in self.world.runtimes:
            if await rt.relay.pending():
                return False
        return True

    async def quiet(self, include_planner: bool) -> bool:
        planner = self.world.planner
        if include_planner and planner.busy:  # in memory: no need to ask Redis while solving
            return False
        if not await self._streams_quiet():
            return False
        return not (include_planner and (planner.busy or await planner.pending_triggers()))

    async def wait(self, include_planner: bool = True, timeout_s: float = 300) -> None:
        await _wait_quiet(self.quiet, include_planner, self.poll_s, timeout_s)

    async def settled(self, debounce: bool = True) -> None:
        await self.wait(include_planner=False)


async def _wait_quiet(
    quiet: Callable[[bool], Awaitable[bool]], include_planner: bool, poll_s: float, timeout_s: float
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    streak = 0
    wait = poll_s / 4
    while streak < 2:  # twice in a row: nothing was in flight between two looks
        if await quiet(include_planner):
            streak += 1
            wait = poll_s / 4
        else:
            # Most settles take a few ms; a solve can take seconds: look less often then.
            streak, wait = 0, min(wait * 1.5, poll_s * 5)
        if loop.time() > deadline:
            raise TimeoutError("the bus did not settle")
        await asyncio.sleep(wait)


class _BusClient:
    """What a runner does on the bus, whether the services are in-process or not."""

    redis: Redis
    namespace: str

    async def publish(self, event: TimedEvent) -> None:
        """What an integrated system does: XADD the envelope JSON on the ingress stream."""
        await self.redis.xadd(namespaced(event.stream, self.namespace), fields(encode(event.event)))  # type: ignore[arg-type]

    async def orders_since(self, cursor: str) -> tuple[list[DispatchOrderIssuedV1], str]:
        """Dispatch orders published after stream id ``cursor``, and the new cursor."""
        stream = namespaced(DISPATCH, self.namespace)
        entries: list[tuple[bytes, dict[bytes, bytes]]] = await self.redis.xrange(  # type: ignore[assignment]
            stream, min=f"({cursor}"
        )
        orders = []
        for eid, data in entries:
            cursor = eid.decode()
            raw = data.get(b"event", b"")
            if b"dispatch_order_issued" in raw:
                event = parse_event(raw)
                if isinstance(event, DispatchOrderIssuedV1):
                    orders.append(event)
        return orders, cursor

    async def recorded(self) -> dict[str, list[tuple[str, bytes]]]:
        """Every entry of every stream (and dead-letter stream), in order."""
        out: dict[str, list[tuple[str, bytes]]] = {}
        for base in ALL:
            for name in (base, f"{base}.dead"):
                stream = namespaced(name, self.namespace)
                entries: list[tuple[bytes, dict[bytes, bytes]]] = await self.redis.xrange(stream)  # type: ignore[assignment]
                out[name] = [(eid.decode(), data.get(b"event", b"")) for eid, data in entries]
        return out


@dataclass
class World(_BusClient):
    redis_url: str
    database_url: str
    namespace: str = ""
    mode: str = "exercise"
    policy: dict[str, Any] = field(default_factory=dict)
    """Dispatch settings overriding the exercise defaults (solution_limit 50, time 30 s, ...)."""
    runtimes: list[ServiceRuntime] = field(default_factory=list)
    planner: Planner = field(init=False)
    redis: Redis = field(init=False)

    def __post_init__(self) -> None:
        common: dict[str, Any] = {
            "redis_url": self.redis_url,
            "database_url": self.database_url,
            "namespace": self.namespace,
            "mode": self.mode,
            "consumer_name": "embedded",
            "polling_ms": 1000,
            # One process, nothing crashes: reclaiming only matters if a read waits behind an
            # in-process search (below), so the idle time is well past the search's backstop.
            "reclaim_idle_ms": 120_000,
            "outbox_poll_ms": 1000,
        }
        self.redis = redis_client(self.redis_url)
        quiet = BusQuiet(self)
        dispatch, self.planner = create_dispatch(
            DispatchSettings(
                **{
                    **common,
                    "solution_limit": 50,
                    "time_limit_s": 30.0,  # a backstop: the solution limit decides
                    "solver_process": False,
                    **self.policy,
                }
            ),
            lambda _rt: quiet,
        )
        self.runtimes = [
            create_reserves(ServiceSettings(**common)),
            create_transport(ServiceSettings(**common)),
            dispatch,
        ]
        self.quiet = quiet

    async def start(self) -> None:
        for rt in self.runtimes:
            await rt.start()

    async def stop(self) -> None:
        for rt in self.runtimes:
            await rt.stop()
        await self.redis.aclose()


@contextlib.asynccontextmanager
async def running_world(**kwargs: Any) -> AsyncIterator[World]:
    world = World(**kwargs)
    await world.start()
    try:
        yield world
    finally:
        await world.stop()


class RemoteQuiet:
    """Settled, for services running as their own processes: groups caught up, outboxes
    relayed and no plan trigger waiting, read from Redis and the services' tables."""

    def __init__(self, world: RemoteWorld, poll_s: float = 0.05) -> None:
        self.world = world
        self.poll_s = poll_s

    async def quiet(self, include_planner: bool) -> bool:
        w = self.world
        checks = [
            (namespaced(name, w.namespace), spec.name) for spec in SPECS for name in spec.inputs
        ]
        streams_, groups = [c[0] for c in checks], [c[1] for c in checks]
        if not await groups_caught_up(w.redis, streams_, groups):
            return False
        async with w.engine.connect() as conn:
            for spec in SPECS:
                pending = select(func.count()).select_from(spec.outbox)
                if await conn.scalar(pending.where(spec.outbox.c.sent_at.is_(None))):
                    return False
            triggers = await conn.scalar(select(func.count()).select_from(dispatch_tables.triggers))
        return not (include_planner and triggers)

    async def wait(self, include_planner: bool = True, timeout_s: float = 300) -> None:
        await _wait_quiet(self.quiet, include_planner, self.poll_s, timeout_s)


@dataclass
class RemoteWorld(_BusClient):
    """The three services run elsewhere (``hinterland serve``) on a real Redis and database.

    The runner publishes on their (namespaced) ingress stream like any integrated system and
    reads their streams and tables to know when they have settled. They must run in the same
    mode, namespace and schema as given here.
    """

    redis_url: str
    database_url: str
    namespace: str = ""
    db_schema: str = ""
    redis: Redis = field(init=False)
    engine: AsyncEngine = field(init=False)
    quiet: RemoteQuiet = field(init=False)

    def __post_init__(self) -> None:
        self.redis = redis_client(self.redis_url)
        self.engine = db.create_engine(self.database_url, self.db_schema)
        self.quiet = RemoteQuiet(self)

    async def start(self) -> None:
        await self.redis.ping()

    async def stop(self) -> None:
        await self.redis.aclose()
        await self.engine.dispose()


@contextlib.asynccontextmanager
async def remote_world(**kwargs: Any) -> AsyncIterator[RemoteWorld]:
    world = RemoteWorld(**kwargs)
    await world.start()
    try:
        yield world
    finally:
        await world.stop()


async def play(
    world: World | RemoteWorld,
    events: Sequence[TimedEvent],
    progress: Callable[[int, int, TimedEvent], None] = lambda *_: None,
    fleet: Fleet | None = None,
    breakdowns: Sequence[Breakdown] = (),
    end: datetime | None = None,
    clock: Clock | None = None,
) -> None:
    """Play the timeline in simulated time, with vehicles executing what dispatch orders.

    The next instant is the earliest of the next inject, the next breakdown and the next
    vehicle event. Everything of one instant is published together, then the bus settles
    (plans made, orders issued), then the new orders start driving. Nothing depends on the
    machine's speed, so a run is reproducible event for event.
    """
    i = b = 0
    cursor = "0-0"
    breakdowns = sorted(breakdowns, key=lambda x: x.at)
    # Vehicle reports that cannot start a re-plan (loaded, unloaded, completed on time) are
    # published together up to the next barrier (inject, breakdown, repair): one settle
    # instead of one per report. Paced clocks publish each report at its own time instead.
    batch_moves = clock is None or clock.speed is None
    while True:
        barriers = [events[i].at] if i < len(events) else []
        if b < len(breakdowns):
            barriers.append(breakdowns[b].at)
        if fleet is not None and (repair := fleet.next_repair()) is not None:
            barriers.append(repair)
        barrier = min(barriers, default=None)
        next_move = fleet.next_time() if fleet is not None else None
        if fleet is not None and next_move is not None and batch_moves:
            horizon = _earliest(barrier, end)
            if horizon is None or next_move < horizon:
                batch = fleet.advance(horizon, inclusive=False) if horizon else fleet.advance()
                await _publish_and_settle(world, batch)
                cursor = await _start_new_orders(world, fleet, cursor)
                continue
        at = (
            min(x for x in (barrier, next_move) if x is not None)
            if (barrier or next_move)
            else None
        )
        if at is None or (end is not None and at > end):
            break
        if clock is not None:
            await clock.reach(at, next_inject=events[i].at if i < len(events) else None)
        batch = []
        while i < len(events) and events[i].at == at:
            batch.append(events[i])
            progress(i + 1, len(events), events[i])
            i += 1
        if fleet is not None:
            batch += fleet.advance(at)
            while b < len(breakdowns) and breakdowns[b].at == at:
                fleet.break_down(breakdowns[b].asset_id, breakdowns[b].repair_h)
                b += 1
            batch += fleet.advance(at)
        await _publish_and_settle(world, batch)
        if fleet is not None:
            cursor = await _start_new_orders(world, fleet, cursor)


def _earliest(*times: datetime | None) -> datetime | None:
    return min((t for t in times if t is not None), default=None)


async def _publish_and_settle(world: World | RemoteWorld, batch: Sequence[TimedEvent]) -> None:
    for event in batch:
        await world.publish(event)
    await world.quiet.wait()


async def _start_new_orders(world: _BusClient, fleet: Fleet, cursor: str) -> str:
    orders, cursor = await world.orders_since(cursor)
    fleet.dispatch(orders)
    return cursor
