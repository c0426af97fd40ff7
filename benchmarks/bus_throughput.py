"""Events per second through one service (reserves) on a real Redis and PostgreSQL.

Publishes N stock-level reports on ingress.events with pipelined XADD, then measures how long
the reserves service takes to apply them all (each one: inbox check, state change, outbox row,
commit, ack) and how long its outbox relay takes to publish the N resulting events. Also
prints raw XADD/XREADGROUP throughput on the same Redis, the ceiling.

Each run has a PostgreSQL schema of its own, dropped afterwards: the tables start empty every
time, so runs compare (rows left by earlier runs, never vacuumed where autovacuum is off, would
slow every later run down).

    .venv/bin/python benchmarks/bus_throughput.py [N] [--max-records R] [--depots D] [--backlog]

``--backlog`` publishes the N reports before the service starts and times only the drain: the
service alone, with no publisher competing in its process (profile it with
``py-spy record -- .venv/bin/python benchmarks/bus_throughput.py 40000 --backlog``).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from datetime import UTC, datetime

from redis.asyncio import Redis
from sqlalchemy import text

from contracts import reserves as r
from contracts.streams import INGRESS, RESERVES, namespaced
from services.reserves.bootstrap import create_runtime
from services.runtime.settings import ServiceSettings
from services.runtime.wire import encode, fields
from simulations.reliability.load import raw_ceiling

REDIS = "redis://127.0.0.1:6379/0"
DATABASE = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def depot_id(i: int, depots: int) -> str:
    return "D-BENCH" if depots == 1 else f"D-BENCH-{i % depots}"


def envelope(i: int, ns: str, depots: int = 1) -> str:
    data = r.StockLevelReported(
        depot_id=depot_id(i, depots), commodity="grain", quantity=i, unit="t"
    )
    return encode(
        r.StockLevelReportedV1(
            id=f"{ns}-{i}", source="/bench", time=datetime.now(UTC), correlationid=ns, data=data
        )
    )


async def wait_for_length(redis: Redis, stream: str, length: int) -> None:
    """Poll the output stream (the service is another component; there is nothing to await)."""
    while True:
        if await redis.xlen(stream) >= length:
            return
        await asyncio.sleep(0.01)


async def wait_for_applied(redis: Redis, stream: str, group: str) -> None:
    """Poll until the group has read and acknowledged every entry of ``stream``."""
    while True:
        [info] = [g for g in await redis.xinfo_groups(stream) if g["name"].decode() == group]
        if info["lag"] == 0 and info["pending"] == 0:
            return
        await asyncio.sleep(0.01)


async def publish(redis: Redis, ingress: str, ns: str, n: int, depots: int) -> None:
    for start in range(0, n, 500):
        async with redis.pipeline(transaction=False) as pipe:
            for i in range(start, min(n, start + 500)):
                pipe.xadd(ingress, fields(envelope(i + 1, ns, depots)))  # type: ignore[arg-type]
            await pipe.execute()


async def main(
    n: int, max_records: int, depots: int, backlog: bool, redis_url: str, database_url: str
) -> None:
    ns = f"bench{uuid.uuid4().hex[:6]}"
    redis = Redis.from_url(redis_url)
    xadd_rate, read_rate = await raw_ceiling(redis, n, envelope(0, ns), f"{ns}:raw")
    rt = create_runtime(
        ServiceSettings(
            redis_url=redis_url,
            database_url=database_url,
            namespace=ns,
            db_schema=ns,
            consumer_name="bench",
            max_records=max_records,
        )
    )
    ingress, out = namespaced(INGRESS, ns), namespaced(RESERVES, ns)
    if not backlog:
        await rt.start()
    for d in sorted({depot_id(i, depots) for i in range(depots)}):
        depot = r.DepotRegisteredV1(
            id=f"{ns}-{d}",
            source="/bench",
            time=datetime.now(UTC),
            correlationid=ns,
            data=r.DepotRegistered(
                depot_id=d, name="bench", node_id="N-x", tier="city", owner="civil"
            ),
        )
        await redis.xadd(ingress, fields(encode(depot)))  # type: ignore[arg-type]
    if backlog:
        await publish(redis, ingress, ns, n, depots)
        await rt.prepare()  # the groups read from 0: the depots first, then the reports
        t0 = time.perf_counter()
        await rt.broker.start()
        await rt.start_background()
    else:
        await wait_for_length(redis, out, depots)
        t0 = time.perf_counter()
        await publish(redis, ingress, ns, n, depots)
    await wait_for_applied(redis, ingress, rt.group)
    applied = time.perf_counter() - t0
    await wait_for_length(redis, out, n + depots)
    elapsed = time.perf_counter() - t0
    await rt.stop()
    async with rt.engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA "{ns}" CASCADE'))
    await rt.engine.dispose()
    for key in await redis.keys(f"{ns}:*"):
        await redis.delete(key)
    await redis.aclose()
    mode = "a backlog published before the service started" if backlog else "published meanwhile"
    print(f"events: {n} over {depots} depot(s), max_records {max_records}, {mode}")
    print(f"raw Redis XADD (pipelined):          {xadd_rate:8.0f} /s")
    print(f"raw Redis XREADGROUP+XACK (100/call): {read_rate:8.0f} /s")
    print(f"reserves service, ingress -> applied: {n / applied:8.0f} events/s ({applied:.2f} s)")
    print(
        f"reserves service, ingress -> applied -> relayed: {n / elapsed:8.0f} events/s "
        f"({elapsed:.2f} s)"
    )
    print(f"service / raw read ceiling: {n / elapsed / read_rate:.1%}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("n", nargs="?", type=int, default=5000, help="stock reports to publish")
    parser.add_argument(
        "--max-records",
        type=int,
        default=ServiceSettings.model_fields["max_records"].default,
        help="entries per read, so per transaction (default: the service default)",
    )
    parser.add_argument(
        "--depots", type=int, default=1, help="depots the reports are spread over (default 1)"
    )
    parser.add_argument(
        "--backlog",
        action="store_true",
        help="publish every report before the service starts; time the drain alone",
    )
    parser.add_argument("--redis", default=REDIS)
    parser.add_argument("--database", default=DATABASE)
    args = parser.parse_args()
    asyncio.run(
        main(args.n, args.max_records, args.depots, args.backlog, args.redis, args.database)
    )
