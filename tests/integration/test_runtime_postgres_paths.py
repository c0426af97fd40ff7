"""The runtime's PostgreSQL-only statements (array inserts and marks) and its migrations, on the
real PostgreSQL and Redis: the SQLite component tests never run these paths."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, text

from services.dispatch.bootstrap import SPEC as DISPATCH
from services.reserves.bootstrap import SPEC as RESERVES
from services.runtime import db, migrate, outbox
from services.runtime.service import ServiceSpec
from services.transport.bootstrap import SPEC as TRANSPORT
from tests.integration.test_runtime_real import Harness, depot_registered, stock_level

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


@pytest.fixture
async def harness(redis_url: str, service_database: str, namespace: str) -> AsyncIterator[Harness]:
    """The reserves runtime, not started: these tests drive its parts directly."""
    h = Harness(redis_url, service_database, namespace)
    await h.runtime.prepare()
    yield h
    await h.redis.aclose()
    await h.runtime.close()


@pytest.mark.parametrize("spec", [RESERVES, TRANSPORT, DISPATCH], ids=lambda s: s.name)
async def test_migrations_build_exactly_the_tables_the_code_declares(
    spec: ServiceSpec, service_database: str
) -> None:
    engine = db.create_engine(service_database)
    try:
        await migrate.upgrade(engine, spec.name, spec.migrations)

        def diff(conn: Connection) -> list[Any]:
            ctx = MigrationContext.configure(
                conn, opts={"version_table": f"{spec.name}_alembic_version"}
            )
            return [
                d
                for d in compare_metadata(ctx, spec.metadata)
                if not (d[0] == "remove_table" and d[1].name.endswith("_alembic_version"))
            ]

        async with engine.connect() as conn:
            assert await conn.run_sync(diff) == []
            # compare_metadata compares an index's columns, not its WHERE clause.
            definition = await conn.scalar(
                text("SELECT indexdef FROM pg_indexes WHERE indexname = :name"),
                {"name": f"ix_{spec.name}_outbox_unsent"},
            )
        assert definition is not None
        assert "(seq) WHERE (sent_at IS NULL)" in definition
    finally:
        await engine.dispose()


async def test_a_read_and_its_redelivery_apply_once(harness: Harness) -> None:
    """One read claimed by an array insert: a repeated event in it, and the whole read
    delivered again, are duplicates; the outbox holds one row per applied event."""
    rt = harness.runtime
    depot, report = depot_registered(), stock_level("D-TEST-01", 5)
    stream = harness.stream("ingress.events")
    entries = [
        (await harness.publish(e), {b"event": json.dumps(e).encode()})
        for e in (depot, report, depot, stock_level("D-TEST-01", 7))
    ]
    first = await rt.processor.process_batch(stream, entries, first_delivery=True)
    assert [o.kind for o in first] == ["applied", "applied", "duplicate", "applied"]
    again = await rt.processor.process_batch(stream, entries)
    assert [o.kind for o in again] == ["duplicate"] * 4
    assert await harness.scalar("SELECT count(*) FROM reserves_inbox") == 3
    assert await harness.scalar("SELECT count(*) FROM reserves_outbox") == 3
    assert await harness.scalar("SELECT on_hand_kg FROM reserves_stock") == 7_000


async def test_the_relay_publishes_in_order_across_streams_and_batches(harness: Harness) -> None:
    """Rows of two streams interleaved, more than a batch: each stream gets its rows in seq
    order, every row is marked sent once published, and a mark lost publishes the row again
    (at least once; consumers' inboxes drop the copy)."""
    rt = harness.runtime
    streams = [harness.stream("a"), harness.stream("b")]
    async with rt.sessions() as session, session.begin():
        await session.execute(
            text(
                "INSERT INTO reserves_outbox (event_id, stream, body, created_at) "
                "SELECT 'e' || g, CASE WHEN g % 3 = 0 THEN :b ELSE :a END, "
                "'{\"n\":' || g || '}', now() FROM generate_series(1, 450) g"
            ),
            {"a": streams[0], "b": streams[1]},
        )
    relay = outbox.OutboxRelay(rt.sessions, RESERVES.outbox, rt.redis, 1.0)
    sizes = []
    while published := await relay.relay_once():
        sizes.append(published)
    assert sizes == [200, 200, 50]

    async def published(stream: str) -> list[int]:
        entries = await harness.redis.xrange(stream)
        return [json.loads(f[b"event"])["n"] for _, f in entries]

    assert await published(streams[0]) == [g for g in range(1, 451) if g % 3]
    assert await published(streams[1]) == [g for g in range(1, 451) if g % 3 == 0]
    assert await relay.pending() == 0
    async with rt.sessions() as session, session.begin():
        await session.execute(
            text("UPDATE reserves_outbox SET sent_at = NULL WHERE event_id = 'e3'")
        )
    assert await relay.relay_once() == 1
    assert (await published(streams[1]))[-1] == 3
