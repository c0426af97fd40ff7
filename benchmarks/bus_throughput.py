"""Events per second through one service (reserves) on a real Redis and PostgreSQL.

Publishes N stock-level reports on ingress.events with pipelined XADD, then measures how long
the reserves service takes to apply them all (each one: inbox check, state change, outbox row,
commit, ack) and how long its outbox relay takes to publish the N resulting events. Also
prints raw XADD/XREADGROUP throughput on the same Redis, the ceiling.

    .venv/bin/python benchmarks/bus_throughput.py [N]
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from datetime import UTC, datetime

from redis.asyncio import Redis

from contracts import reserves as r
from contracts.streams import INGRESS, RESERVES, namespaced
from services.reserves.bootstrap import create_runtime
from services.runtime.settings import ServiceSettings
from services.runtime.wire import encode, fields
from simulations.reliability.load import raw_ceiling

REDIS = "redis://127.0.0.1:6379/0"
DATABASE = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def envelope(i: int, ns: str) -> str:
    data = r.StockLevelReported(depot_id="D-BENCH", commodity="grain", quantity=i, unit="t")
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


async def main(n: int) -> None:
    ns = f"bench{uuid.uuid4().hex[:6]}"
    redis = Redis.from_url(REDIS)
    xadd_rate, read_rate = await raw_ceiling(redis, n, envelope(0, ns), f"{ns}:raw")
    rt = create_runtime(
        ServiceSettings(
            redis_url=REDIS,
            database_url=DATABASE,
            namespace=ns,
            consumer_name="bench",
            max_records=50,
        )
    )
    await rt.start()
    ingress, out = namespaced(INGRESS, ns), namespaced(RESERVES, ns)
    depot = r.DepotRegisteredV1(
        id=f"{ns}-depot",
        source="/bench",
        time=datetime.now(UTC),
        correlationid=ns,
        data=r.DepotRegistered(
            depot_id="D-BENCH", name="bench", node_id="N-x", tier="city", owner="civil"
        ),
    )
    await redis.xadd(ingress, fields(encode(depot)))  # type: ignore[arg-type]
    await wait_for_length(redis, out, 1)
    t0 = time.perf_counter()
    for start in range(0, n, 500):
        async with redis.pipeline(transaction=False) as pipe:
            for i in range(start, min(n, start + 500)):
                pipe.xadd(ingress, fields(envelope(i + 1, ns)))  # type: ignore[arg-type]
            await pipe.execute()
    await wait_for_length(redis, out, n + 1)
    elapsed = time.perf_counter() - t0
    await rt.stop()
    for key in await redis.keys(f"{ns}:*"):
        await redis.delete(key)
    await redis.aclose()
    print(f"events: {n}")
    print(f"raw Redis XADD (pipelined):          {xadd_rate:8.0f} /s")
    print(f"raw Redis XREADGROUP+XACK (100/call): {read_rate:8.0f} /s")
    print(
        f"reserves service, ingress -> applied -> relayed: {n / elapsed:8.0f} events/s "
        f"({elapsed:.2f} s)"
    )
    print(f"service / raw read ceiling: {n / elapsed / read_rate:.1%}")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000))
