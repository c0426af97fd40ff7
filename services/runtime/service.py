"""A service's runtime: database, migrations, groups, FastStream subscribers, outbox relay."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Union, cast

from faststream import AckPolicy, FastStream
from faststream.redis import RedisBroker, StreamSub
from faststream.redis.annotations import RedisBatchStreamMessage
from faststream.redis.message import ConsumerProtocol
from faststream.redis.message import RedisBatchStreamMessage as BatchMessage
from pydantic import Field
from redis.asyncio import Redis
from redis.exceptions import ResponseError
from sqlalchemy import MetaData, Table
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from contracts.catalogue import STREAM_TYPES
from contracts.streams import namespaced
from services.runtime import db, migrate
from services.runtime.bus import connection_options, redis_client
from services.runtime.consumer import EntryProcessor, Handler, TransactionHooks
from services.runtime.outbox import OutboxRelay
from services.runtime.reclaim import Reclaimer
from services.runtime.settings import ServiceSettings

log = logging.getLogger(__name__)


def _stream_schema(name: str) -> Any:
    classes = STREAM_TYPES[name]
    return Annotated[Union[classes], Field(discriminator="type")]  # noqa: UP007


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """What makes a service: its tables, the streams it reads and writes, its handler."""

    name: str
    metadata: MetaData
    outbox: Table
    inbox: Table
    inputs: tuple[str, ...]
    output: str
    handler: Handler
    handled_types: Mapping[str, frozenset[str]]
    """Per input stream, the event types this service applies; others are acked and skipped."""
    migrations: Path
    hooks: TransactionHooks | None = None
    """Run around the handlers in each transaction (see TransactionHooks); None: no steps."""
    lock_key: int | None = None
    """A PostgreSQL advisory lock every transaction of the service's readers takes first, so
    that they apply one at a time (see EntryProcessor); None: they run side by side."""


BackgroundTask = Callable[["ServiceRuntime"], Coroutine[Any, Any, None]]


@dataclass
class ServiceRuntime:
    spec: ServiceSpec
    settings: ServiceSettings
    background: Sequence[BackgroundTask] = ()
    engine: AsyncEngine = field(init=False)
    sessions: async_sessionmaker[Any] = field(init=False)
    redis: Redis = field(init=False)
    broker: RedisBroker = field(init=False)
    relay: OutboxRelay = field(init=False)
    processor: EntryProcessor = field(init=False)
    listeners: list[Callable[[], None]] = field(default_factory=list, init=False)
    """Called after every commit of an applied event (the dispatch planner wakes on it)."""
    _tasks: list[asyncio.Task[None]] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        s = self.settings
        self.engine = db.create_engine(s.database_url, s.db_schema)
        self.sessions = db.session_factory(self.engine)
        self.redis = redis_client(s.redis_url)
        self.relay = OutboxRelay(
            self.sessions, self.spec.outbox, self.redis, s.outbox_poll_ms / 1000
        )
        self.processor = EntryProcessor(
            service=self.spec.name,
            group=self.group,
            redis=self.redis,
            sessions=self.sessions,
            inbox=self.spec.inbox,
            outbox_table=self.spec.outbox,
            out_stream=self.stream(self.spec.output),
            handler=self.spec.handler,
            handled_types={self.stream(k): v for k, v in self.spec.handled_types.items()},
            mode=s.mode,
            max_deliveries=s.max_deliveries,
            on_committed=self._committed,
            hooks=self.spec.hooks,
            lock_key=self.spec.lock_key,
        )
        self.broker = self._build_broker()

    def _committed(self) -> None:
        self.relay.wake()
        for listener in self.listeners:
            listener()

    @property
    def group(self) -> str:
        return self.spec.name

    def stream(self, name: str) -> str:
        return namespaced(name, self.settings.namespace)

    def _build_broker(self) -> RedisBroker:
        s = self.settings
        url, options = connection_options(s.redis_url)
        broker = RedisBroker(
            url, logger=logging.getLogger(f"hinterland.{self.spec.name}"), **options
        )
        processor = self.processor
        redis, group = cast(ConsumerProtocol, self.redis), self.group  # as FastStream passes it

        async def entries(raw: Mapping[str, Any]) -> BatchMessage:
            """The read as FastStream's message, without a body. FastStream's own batch parser
            decodes every entry as JSON, encodes the list as JSON and decodes that again (a
            tenth of a drain's profile samples, docs/reliability.md, session 9), all unused:
            ``on_read`` takes the raw entries and parses each once, with the contracts."""
            return BatchMessage(raw_message=raw, body=b"", consumer=redis, group=group)

        async def no_body(_msg: Any) -> None:
            return None

        async def on_read(msg: RedisBatchStreamMessage) -> None:
            raw = msg.raw_message
            ids = [entry_id.decode() for entry_id in raw["message_ids"]]
            await processor.process_batch(
                raw["channel"], list(zip(ids, raw["data"], strict=True)), first_delivery=True
            )

        for name in self.spec.inputs:
            stream = self.stream(name)
            # One read of up to max_records entries is applied in one transaction.
            reader = StreamSub(
                stream,
                group=self.group,
                consumer=s.consumer_name,
                batch=True,
                max_records=s.max_records,
                polling_interval=s.polling_ms,
            )
            broker.subscriber(
                stream=reader,
                parser=entries,
                decoder=no_body,
                ack_policy=AckPolicy.MANUAL,
                title=f"{self.spec.name}:{stream}:read",
                description=f"{self.spec.name} consumes {stream}",
            )(on_read)
        for name in {self.spec.output, *self.spec.inputs}:
            # Documentation only (AsyncAPI): what each stream carries. Publishing goes
            # through the outbox relay, in our plain-JSON wire format.
            broker.publisher(
                stream=self.stream(name),
                title=f"{self.stream(name)}",
                description=f"Events on {self.stream(name)} (field `event`: CloudEvents JSON)",
                schema=_stream_schema(name),
            )
        return broker

    async def prepare(self) -> None:
        """Migrate the schema and create every consumer group at 0 before any reader starts."""
        await db.ensure_schema(self.engine, self.settings.db_schema)
        await migrate.upgrade(self.engine, self.spec.name, self.spec.migrations)
        for name in self.spec.inputs:
            try:
                await self.redis.xgroup_create(self.stream(name), self.group, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    def reclaimers(self) -> list[Reclaimer]:
        """One per input stream: entries left pending by a crashed or failing reader (this
        process's or another's) come back here once idle for ``reclaim_idle_ms``."""
        s = self.settings
        return [
            Reclaimer(
                redis=self.redis,
                processor=self.processor,
                stream=self.stream(name),
                consumer=s.consumer_name,
                min_idle_ms=s.reclaim_idle_ms,
                count=s.max_records,
                pause_s=max(s.reclaim_idle_ms // 4, 10) / 1000,
            )
            for name in self.spec.inputs
        ]

    async def start_background(self) -> None:
        self._tasks.append(asyncio.create_task(self.relay.run(), name=f"{self.spec.name}-relay"))
        for reclaimer in self.reclaimers():
            self._tasks.append(
                asyncio.create_task(reclaimer.run(), name=f"{self.spec.name}-reclaim")
            )
        for task in self.background:
            self._tasks.append(asyncio.create_task(task(self), name=f"{self.spec.name}-bg"))

    async def stop_background(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    async def start(self) -> None:
        await self.prepare()
        await self.broker.start()
        await self.start_background()

    async def stop(self) -> None:
        await self.stop_background()
        await self.broker.stop()
        await self.close()

    async def close(self) -> None:
        await self.redis.aclose()
        await self.engine.dispose()

    def app(self) -> FastStream:
        """The FastStream application for ``faststream run`` / ``hinterland serve``."""
        return FastStream(
            self.broker,
            on_startup=[self.prepare],
            after_startup=[self.start_background],
            on_shutdown=[self.stop_background],
            after_shutdown=[self.close],
        )
