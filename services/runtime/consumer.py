"""Consuming one stream entry: decode, deduplicate, apply in a transaction, ack or dead-letter."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from redis.asyncio import Redis
from sqlalchemy import Table, insert
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contracts.catalogue import Event, parse_event
from contracts.envelope import Envelope, Mode
from contracts.streams import dead_letter
from services.runtime import outbox
from services.runtime.bus import errors_key
from services.runtime.sql import advisory_lock, dialect_insert, insert_from_arrays, is_postgresql
from services.runtime.transaction import Cause, Transaction
from services.runtime.wire import EVENT_FIELD

log = logging.getLogger(__name__)

Handler = Callable[[Event, Transaction], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class TransactionHooks:
    """A service's own steps around its handlers, in every transaction that runs them.

    ``prefetch`` runs before the first handler with the events about to be applied (those of
    a read, or the one event retried alone): load and lock at once what they touch.
    ``before_commit`` runs after the last handler, before the outbox rows: write back what the
    handlers left in memory. A pair, so that state one defers the other always writes.
    """

    prefetch: Callable[[AsyncSession, Sequence[Event]], Awaitable[None]]
    before_commit: Callable[[AsyncSession], Awaitable[None]]


class _AlreadyApplied(Exception):
    """The inbox already holds this event id."""


class Unprocessable(Exception):
    """A well-formed event the service can never apply (e.g. stock for an unknown depot).

    Raised by a handler, it sends the entry straight to the dead-letter stream with the
    message as the reason; retrying would not help.
    """


@dataclass(frozen=True, slots=True)
class _Ready:
    """An entry that decoded and is for us: what remains is to apply it."""

    entry_id: str
    raw: bytes
    event: Event


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one entry (returned for tests and metrics)."""

    kind: str  # applied | duplicate | ignored | dead | failed
    detail: str = ""


class EntryProcessor:
    """Applies entries of a service's input streams exactly once.

    Delivery counts live in a Redis hash (``<group>:attempts:<stream>``) because XAUTOCLAIM
    through FastStream does not expose them on Redis 7; past ``max_deliveries`` an entry that
    keeps failing is dead-lettered with its last error instead of looping forever.

    A first delivery (the reader's ``>``: nobody had the entry before) is counted only if it
    fails, which saves two Redis round trips per read on the common path; a first delivery cut
    short by a crash of the process is therefore not counted, and such an entry gets one
    delivery more before it is dead-lettered.
    """

    def __init__(
        self,
        *,
        service: str,
        group: str,
        redis: Redis,
        sessions: async_sessionmaker[Any],
        inbox: Table,
        outbox_table: Table,
        out_stream: str,
        handler: Handler,
        handled_types: Mapping[str, frozenset[str]],
        mode: Mode,
        max_deliveries: int,
        on_committed: Callable[[], None] = lambda: None,
        hooks: TransactionHooks | None = None,
        lock_key: int | None = None,
    ) -> None:
        self.service = service
        self.group = group
        self._redis = redis
        self._sessions = sessions
        self._inbox = inbox
        self._outbox = outbox_table
        self._out_stream = out_stream
        self._handler = handler
        self._handled = handled_types
        self._mode = mode
        self._max = max_deliveries
        self._on_committed = on_committed
        self._hooks = hooks
        self._lock_key = lock_key

    def _keys(self, stream: str) -> tuple[str, str]:
        return f"{self.group}:attempts:{stream}", errors_key(self.group, stream)

    async def process(self, stream: str, entry_id: str, data: Mapping[bytes, bytes]) -> Outcome:
        [outcome] = await self.process_batch(stream, [(entry_id, data)])
        return outcome

    async def process_batch(
        self,
        stream: str,
        entries: Sequence[tuple[str, Mapping[bytes, bytes]]],
        *,
        first_delivery: bool = False,
    ) -> list[Outcome]:
        """Process the entries of one read, in order; returns one outcome per entry.

        The valid entries are applied in one transaction (one commit and one XACK for the
        read); if any of them fails, each is retried in a transaction of its own, so a bad
        entry only ever holds back itself. ``first_delivery``: the entries come from a read of
        new entries, so none has been delivered before (counted only if it fails).
        """
        attempts_key, _ = self._keys(stream)
        if first_delivery:
            counts: list[int] = [1] * len(entries)
        else:
            async with self._redis.pipeline(transaction=False) as pipe:
                for entry_id, _data in entries:
                    pipe.hincrby(attempts_key, entry_id, 1)
                counts = await pipe.execute()
        outcomes: dict[str, Outcome] = {}
        ready: list[_Ready] = []
        for (entry_id, data), attempts in zip(entries, counts, strict=True):
            screened = await self._screen(stream, entry_id, data, int(attempts), first_delivery)
            if isinstance(screened, Outcome):
                outcomes[entry_id] = screened
            else:
                ready.append(screened)
        together = (
            await self._apply_together(stream, ready, first_delivery) if len(ready) > 1 else None
        )
        for r in ready:
            if together is not None:
                outcomes[r.entry_id] = Outcome(
                    "applied" if r.entry_id in together else "duplicate", r.event.type
                )
            else:
                outcomes[r.entry_id] = await self._apply_one(stream, r, first_delivery)
        return [outcomes[entry_id] for entry_id, _data in entries]

    async def _screen(
        self,
        stream: str,
        entry_id: str,
        data: Mapping[bytes, bytes],
        attempts: int,
        first_delivery: bool,
    ) -> Outcome | _Ready:
        """Everything decided before touching the database: decode, route, give up."""
        raw = data.get(EVENT_FIELD.encode())
        if raw is None:
            names = sorted(k.decode(errors="replace") for k in data)
            return await self._dead(
                stream,
                entry_id,
                b"",
                f"entry has no '{EVENT_FIELD}' field (fields: {names}); "
                f"publish the event envelope JSON in field '{EVENT_FIELD}'",
            )
        try:
            event = parse_event(raw)
        except ValidationError as exc:
            return await self._dead(stream, entry_id, raw, f"invalid event: {_explain(exc)}")
        if event.type not in self._handled.get(stream, frozenset()):
            await self._ack(stream, [entry_id], first_delivery=first_delivery)
            return Outcome("ignored", event.type)
        if event.mode != self._mode:
            return await self._dead(
                stream,
                entry_id,
                raw,
                f"{event.mode} event {event.id} reached a {self._mode} {self.service} service; "
                "exercise and live state are never mixed",
            )
        if attempts > self._max:
            last = await self._redis.hget(self._keys(stream)[1], entry_id)
            reason = _text(last) if last else "unknown error"
            return await self._dead(
                stream,
                entry_id,
                raw,
                f"handler failed {attempts - 1} times; last error: {reason}",
            )
        return _Ready(entry_id, raw, event)

    async def _apply_one(self, stream: str, r: _Ready, first_delivery: bool) -> Outcome:
        try:
            applied = await self._apply(r.event, stream)
        except Unprocessable as exc:
            return await self._dead(
                stream, r.entry_id, r.raw, f"{r.event.type} {r.event.id}: {exc}"
            )
        except Exception as exc:  # the entry stays pending and is reclaimed later
            log.warning("%s: %s on %s failed: %r", self.service, r.event.type, r.entry_id, exc)
            attempts_key, errors_key = self._keys(stream)
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hset(errors_key, r.entry_id, repr(exc)[:2000])
                if unavailable(exc):
                    # The database, not the event, failed: this delivery does not count
                    # towards dead-lettering, however long the outage lasts.
                    if not first_delivery:
                        pipe.hincrby(attempts_key, r.entry_id, -1)
                elif first_delivery:
                    pipe.hincrby(attempts_key, r.entry_id, 1)
                await pipe.execute()
            return Outcome("failed", repr(exc))
        await self._ack(stream, [r.entry_id], first_delivery=first_delivery)
        return Outcome("applied" if applied else "duplicate", r.event.type)

    async def _apply_together(
        self, stream: str, ready: Sequence[_Ready], first_delivery: bool
    ) -> set[str] | None:
        """Apply several entries in one transaction; the entry ids applied, or None if it failed."""
        applied: list[_Ready] = []
        try:
            async with self._sessions() as session, session.begin():
                await self._serialise(session)
                claimed = await self._claim(session, stream, [r.event for r in ready])
                for r in ready:
                    if r.event.id in claimed:
                        claimed.discard(r.event.id)  # the same event twice in one read: once
                        applied.append(r)
                emitted: list[Envelope] = []
                if applied and self._hooks is not None:
                    await self._hooks.prefetch(session, [r.event for r in applied])
                for r in applied:
                    tx = Transaction(session, Cause.of(r.event), f"/hinterland/{self.service}")
                    await self._handler(r.event, tx)
                    emitted.extend(tx.emitted)
                if applied and self._hooks is not None:
                    await self._hooks.before_commit(session)
                await outbox.store(session, self._outbox, self._out_stream, emitted)
        except Exception as exc:
            log.info("%s: batch of %d failed (%r); one by one", self.service, len(ready), exc)
            return None
        await self._ack(stream, [r.entry_id for r in ready], first_delivery=first_delivery)
        if applied:
            self._on_committed()
        return {r.entry_id for r in applied}

    async def _serialise(self, session: AsyncSession) -> None:
        """One transaction of this service's readers at a time (with ``lock_key``).

        A service reads each input stream, and reclaims it, in a task of its own, and each
        read is one transaction that locks rows in the order of its events. Two of them that
        touch the same rows in another order deadlock; PostgreSQL breaks the tie after its
        1 s deadlock timeout and the read is retried one entry at a time (load runs, sessions
        4 and 5: a few per run in every service, a second each). Taking one lock first makes
        them queue instead. Dispatch's key is its orders lock, which its planner takes too.
        """
        if self._lock_key is not None:
            await advisory_lock(session, self._lock_key)

    async def _claim(self, session: AsyncSession, stream: str, events: Sequence[Event]) -> set[str]:
        """Insert the inbox rows of those events not applied before; the event ids inserted.

        One INSERT .. ON CONFLICT DO NOTHING RETURNING (PostgreSQL and SQLite both have it):
        a primary key probe per event, where a SELECT .. IN of the read's ids is planned
        generically once prepared and may scan the whole inbox. As in ``_apply``, a concurrent
        delivery of the same event waits on the first's row, then finds it taken.
        """
        now = datetime.now(UTC)
        if is_postgresql(session):
            ids = sorted({e.id: e.type for e in events}.items())  # key order: see below
            claimed = await insert_from_arrays(
                session,
                self._inbox,
                {"event_id": [i for i, _ in ids], "event_type": [t for _, t in ids]},
                {"stream": stream, "processed_at": now},
                "ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
            )
            return set(claimed.scalars())
        rows = {
            e.id: {"event_id": e.id, "stream": stream, "event_type": e.type, "processed_at": now}
            for e in events
        }
        stmt = (
            dialect_insert(session, self._inbox)
            .on_conflict_do_nothing(index_elements=["event_id"])
            .returning(self._inbox.c.event_id)
        )
        # In key order, so two transactions claiming overlapping ids queue instead of deadlock.
        return set(await session.scalars(stmt, [rows[k] for k in sorted(rows)]))

    async def _apply(self, event: Event, stream: str) -> bool:
        """Apply in one transaction; False if the event id was applied before.

        The inbox row is inserted first: its primary key claims the event id, so a duplicate
        (or a concurrent second delivery, which waits on the first's row) fails right there.
        """
        try:
            async with self._sessions() as session, session.begin():
                await self._serialise(session)
                try:
                    await session.execute(
                        insert(self._inbox).values(
                            event_id=event.id,
                            stream=stream,
                            event_type=event.type,
                            processed_at=datetime.now(UTC),
                        )
                    )
                except IntegrityError as exc:
                    raise _AlreadyApplied from exc
                if self._hooks is not None:
                    await self._hooks.prefetch(session, [event])
                tx = Transaction(session, Cause.of(event), f"/hinterland/{self.service}")
                await self._handler(event, tx)
                if self._hooks is not None:
                    await self._hooks.before_commit(session)
                await outbox.store(session, self._outbox, self._out_stream, tx.emitted)
        except _AlreadyApplied:
            return False
        self._on_committed()
        return True

    async def _ack(
        self,
        stream: str,
        entry_ids: Sequence[str],
        dead: Mapping[str, str | bytes] | None = None,
        *,
        first_delivery: bool = False,
    ) -> None:
        """Ack (and, for a dead letter, XADD it) in one MULTI so neither happens alone; the
        entries' delivery counts and last errors go with them.

        A first delivery needs no MULTI, but its count and error are removed too: the
        reclaimer may have taken the entry while this read was still applying it (a read
        longer than the reclaim idle time) and counted or failed it meanwhile; nobody else
        would remove them once the entry is acknowledged.
        """
        attempts_key, errors_key = self._keys(stream)
        multi = dead is not None or not first_delivery
        async with self._redis.pipeline(transaction=multi) as pipe:
            if dead is not None:
                pipe.xadd(dead_letter(stream), dict(dead))  # type: ignore[arg-type]
            pipe.xack(stream, self.group, *entry_ids)
            pipe.hdel(attempts_key, *entry_ids)
            pipe.hdel(errors_key, *entry_ids)
            await pipe.execute()

    async def _dead(self, stream: str, entry_id: str, raw: bytes, reason: str) -> Outcome:
        log.error("%s: dead-lettering %s %s: %s", self.service, stream, entry_id, reason)
        letter: dict[str, str | bytes] = {
            "event": raw,
            "error": reason,
            "stream": stream,
            "entry_id": entry_id,
            "group": self.group,
            "failed_at": datetime.now(UTC).isoformat(),
        }
        await self._ack(stream, [entry_id], letter)
        return Outcome("dead", reason)


def unavailable(exc: BaseException) -> bool:
    """True if ``exc`` says the database could not be reached (not that the event is bad)."""
    if isinstance(exc, OSError | asyncio.TimeoutError):  # refused, reset, timed out
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated or isinstance(exc.orig, OSError):
            return True
        if isinstance(exc, InterfaceError):  # the connection is closed
            return True
        if isinstance(exc, OperationalError):
            text = str(exc.orig).lower()
            return any(w in text for w in ("locked", "connect", "terminat", "shut", "closed"))
        return False
    return type(exc).__module__.startswith("asyncpg") and "Connection" in type(exc).__name__


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def _explain(exc: ValidationError) -> str:
    """pydantic errors as 'path: message' pairs, short enough for a stream field."""
    parts = []
    for err in exc.errors()[:10]:
        loc = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)
