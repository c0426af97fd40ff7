"""The ledger invariant checker: reads the services' databases and the streams directly.

``await check_ledger(Sources(...))`` returns a :class:`LedgerReport`: every violation as a
precise sentence, the dead letters with their reasons, and what could not be checked (and
why). It assumes the system has settled (nothing more is being published); run it after a
fault run, an exercise, or against a deployment that has gone quiet.

What is checked:

- **nothing pending**: every consumer group of every stream has read everything (lag 0) and
  acknowledged everything (XPENDING empty); dead letters are listed with their reasons;
- **nothing lost**: every entry of a service's input streams that the service handles is in
  that service's inbox (or dead-lettered by its group, with a reason); every outbox row was
  relayed and is on its stream; every event the caller says it published is on ingress;
- **nothing applied twice**: on the output streams, one event id per (type, causationid,
  subject) for events that are one-per-cause, and one answer per reservation id, one
  dispatch per reservation, one order per order id, one plan per plan id and version;
- **stock**: per depot and commodity ``adjusted_in - adjusted_out = on_hand + in_transit +
  delivered`` (reported "not checkable" while the columns do not exist), nothing negative,
  ``reserved_kg`` = the sum of reservations held, the last level the service published equals
  its state, the count in force comes from the latest report on ingress, and dispatch's read
  model agrees with reserves' state;
- **reservations and needs**: every reservation is answered and agrees between reserves and
  dispatch; every dispatched order's reservations are dispatched; every need is served,
  partly served with a reason, unserved with a reason, or still open (planned, not yet
  answered) — and never served beyond what was asked.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from redis.asyncio import Redis
from redis.exceptions import ResponseError
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from contracts import streams
from contracts.dispatch import PLAN_PUBLISHED_TYPES
from contracts.streams import dead_letter, namespaced
from services.dispatch.bootstrap import SPEC as DISPATCH
from services.reserves.bootstrap import SPEC as RESERVES
from services.runtime import db
from services.runtime.service import ServiceSpec
from services.transport.bootstrap import SPEC as TRANSPORT

SPECS: Final[tuple[ServiceSpec, ...]] = (RESERVES, TRANSPORT, DISPATCH)

T_LEVEL: Final = "hinterland.reserves.stock_level_reported.v1"
T_RESERVED: Final = "hinterland.reserves.stock_reserved.v1"
T_REJECTED: Final = "hinterland.reserves.reservation_rejected.v1"
T_RELEASED: Final = "hinterland.reserves.stock_released.v1"
T_DISPATCHED: Final = "hinterland.reserves.stock_dispatched.v1"
T_ORDER: Final = "hinterland.dispatch.dispatch_order_issued.v1"
T_PLANS: Final = PLAN_PUBLISHED_TYPES
"""``plan_published`` in either version (v1 in streams written before dispatch moved to v2)."""

ONE_PER_CAUSE: Final = frozenset(
    {
        T_RESERVED,
        T_REJECTED,
        T_RELEASED,
        T_DISPATCHED,
        T_ORDER,
        *T_PLANS,
        "hinterland.dispatch.plan_requested.v1",
        "hinterland.dispatch.reservation_requested.v1",
        "hinterland.reserves.depot_registered.v1",
        "hinterland.reserves.depot_status_changed.v1",
        "hinterland.transport.node_registered.v1",
        "hinterland.transport.link_registered.v1",
        "hinterland.transport.asset_registered.v1",
        "hinterland.transport.asset_status_changed.v1",
        "hinterland.transport.link_status_changed.v1",
        "hinterland.transport.node_status_changed.v1",
        "hinterland.transport.disruption_applied.v1",
    }
)
"""Output types a service emits at most once per (cause, subject)."""

LEDGER_COLUMNS: Final = ("in_transit_kg", "delivered_kg", "adjusted_in_kg", "adjusted_out_kg")


@dataclass(frozen=True, slots=True)
class Violation:
    rule: str
    text: str

    def __str__(self) -> str:
        return f"[{self.rule}] {self.text}"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    stream: str
    entry_id: str
    group: str
    error: str
    event_id: str | None
    type: str | None


@dataclass
class LedgerReport:
    violations: list[Violation] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    not_checkable: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    """Figures: entries per stream, events applied per service, republished entries..."""

    @property
    def ok(self) -> bool:
        return not self.violations

    def by_rule(self) -> Counter[str]:
        return Counter(v.rule for v in self.violations)

    @property
    def lost(self) -> int:
        return sum(1 for v in self.violations if v.rule == "lost")

    @property
    def applied_twice(self) -> int:
        return sum(1 for v in self.violations if v.rule == "applied_twice")

    def add(self, rule: str, message: str) -> None:
        self.violations.append(Violation(rule, message))

    def summary(self, limit: int = 30) -> str:
        lines = [f"{len(self.violations)} violation(s): {dict(self.by_rule())}"]
        lines += [f"  {v}" for v in self.violations[:limit]]
        if len(self.violations) > limit:
            lines.append(f"  ... and {len(self.violations) - limit} more")
        if self.dead_letters:
            lines.append(f"{len(self.dead_letters)} dead letter(s):")
            reasons = Counter(
                f"{d.group} on {d.stream}: {d.error[:160]}" for d in self.dead_letters
            )
            lines += [f"  {n} x {reason}" for reason, n in reasons.most_common(10)]
        lines += [f"not checkable: {n}" for n in self.not_checkable]
        return "\n".join(lines)


@dataclass(frozen=True)
class Sources:
    """Where to read: one database URL per service (they may be the same), Redis, namespace."""

    redis_url: str
    database_urls: Mapping[str, str]
    namespace: str = ""
    mode: str = "live"
    published: Sequence[tuple[str, str]] = ()
    """(event id, type) of what the caller XADDed on ingress, if it wants that checked."""

    @classmethod
    def one_database(
        cls,
        redis_url: str,
        database_url: str,
        namespace: str = "",
        published: Sequence[tuple[str, str]] = (),
    ) -> Sources:
        urls = {s.name: database_url for s in SPECS}
        return cls(redis_url, urls, namespace, published=published)


@dataclass(frozen=True, slots=True)
class Entry:
    entry_id: str
    event: dict[str, Any] | None
    """The parsed envelope; None if the entry had no ``event`` field or was not JSON."""

    @property
    def id(self) -> str | None:
        return _str(self.event.get("id")) if self.event else None

    @property
    def type(self) -> str | None:
        return _str(self.event.get("type")) if self.event else None

    @property
    def data(self) -> dict[str, Any]:
        d = self.event.get("data") if self.event else None
        return d if isinstance(d, dict) else {}


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _decode(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


async def read_stream(redis: Redis, stream: str, page: int = 2000) -> list[Entry]:
    out: list[Entry] = []
    start = "-"
    while True:
        batch: Any = await redis.xrange(stream, min=start, max="+", count=page)
        if not batch:
            return out
        for entry_id, fields in batch:
            raw = fields.get(b"event")
            event: dict[str, Any] | None = None
            if raw is not None:
                try:
                    parsed = json.loads(raw)
                except ValueError:
                    parsed = None
                event = parsed if isinstance(parsed, dict) else None
            out.append(Entry(_decode(entry_id), event))
        if len(batch) < page:
            return out
        start = "(" + _decode(batch[-1][0])


async def read_dead_letters(redis: Redis, stream: str) -> list[DeadLetter]:
    out = []
    letters: Any = await redis.xrange(dead_letter(stream))
    for entry_id, fields in letters:
        f = {_decode(k): _decode(v) for k, v in fields.items()}
        try:
            event = json.loads(f.get("event", ""))
        except ValueError:
            event = None
        ev = event if isinstance(event, dict) else {}
        out.append(
            DeadLetter(
                stream=f.get("stream", stream),
                entry_id=f.get("entry_id", _decode(entry_id)),
                group=f.get("group", "?"),
                error=f.get("error", ""),
                event_id=_str(ev.get("id")),
                type=_str(ev.get("type")),
            )
        )
    return out


async def group_states(redis: Redis, stream: str) -> dict[str, dict[str, Any]]:
    try:
        groups: Any = await redis.xinfo_groups(stream)
    except ResponseError:
        return {}
    return {_decode(g["name"]): g for g in groups}


class _Db:
    """Reads through SQLAlchemy (any URL: PostgreSQL, SQLite); absent tables read as empty."""

    def __init__(self, engines: Mapping[str, AsyncEngine]) -> None:
        self.engines = engines
        self.tables: dict[str, dict[str, set[str]]] = {}

    async def load_schema(self) -> None:
        for service, engine in self.engines.items():
            async with engine.connect() as conn:
                self.tables[service] = await conn.run_sync(_columns)

    def has(self, service: str, table: str, *columns: str) -> bool:
        cols = self.tables.get(service, {}).get(table)
        return cols is not None and all(c in cols for c in columns)

    async def rows(self, service: str, sql: str, table: str) -> list[Any]:
        if table not in self.tables.get(service, {}):
            return []
        conn: AsyncConnection
        async with self.engines[service].connect() as conn:
            return list((await conn.execute(text(sql))).all())


def _columns(sync_conn: Any) -> dict[str, set[str]]:
    insp = inspect(sync_conn)
    return {t: {c["name"] for c in insp.get_columns(t)} for t in insp.get_table_names()}


async def check_ledger(sources: Sources) -> LedgerReport:
    """Check every invariant; never raises on a finding (only on unreachable sources)."""
    redis = Redis.from_url(sources.redis_url)
    engines = {s: db.create_engine(url) for s, url in sources.database_urls.items()}
    try:
        return await _Checker(sources, redis, _Db(engines)).run()
    finally:
        await redis.aclose()
        for engine in engines.values():
            await engine.dispose()


class _Checker:
    def __init__(self, sources: Sources, redis: Redis, database: _Db) -> None:
        self.src = sources
        self.redis = redis
        self.db = database
        self.report = LedgerReport()
        self.entries: dict[str, list[Entry]] = {}
        self.inbox: dict[str, set[str]] = {}

    def stream(self, name: str) -> str:
        return namespaced(name, self.src.namespace)

    async def run(self) -> LedgerReport:
        await self.db.load_schema()
        for name in streams.ALL:
            self.entries[name] = await read_stream(self.redis, self.stream(name))
            self.report.counts[f"entries {name}"] = len(self.entries[name])
            self.report.dead_letters += await read_dead_letters(self.redis, self.stream(name))
        for spec in SPECS:
            rows = await self.db.rows(
                spec.name, f"SELECT event_id FROM {spec.inbox.name}", spec.inbox.name
            )
            self.inbox[spec.name] = {r[0] for r in rows}
            self.report.counts[f"applied by {spec.name}"] = len(self.inbox[spec.name])
        await self.check_groups()
        self.check_published()
        self.check_inputs_applied()
        await self.check_outboxes()
        self.check_one_effect_per_cause()
        await self.check_stock()
        await self.check_reservations()
        await self.check_needs()
        return self.report

    # --- the bus ---------------------------------------------------------------------------

    async def check_groups(self) -> None:
        expected: dict[str, set[str]] = defaultdict(set)
        for spec in SPECS:
            for name in spec.inputs:
                expected[name].add(spec.name)
        for name, groups in sorted(expected.items()):
            stream = self.stream(name)
            if not self.entries[name]:
                continue
            states = await group_states(self.redis, stream)
            for group in sorted(groups):
                g = states.get(group)
                if g is None:
                    self.report.add("pending", f"group {group} does not exist on {stream}")
                    continue
                if int(g.get("pending") or 0):
                    detail: Any = await self.redis.xpending_range(
                        stream, group, min="-", max="+", count=5
                    )
                    sample = ", ".join(
                        f"{_decode(p['message_id'])} (consumer {_decode(p['consumer'])}, "
                        f"{p['times_delivered']} deliveries)"
                        for p in detail
                    )
                    self.report.add(
                        "pending",
                        f"{g['pending']} entr(y/ies) of {stream} delivered to group {group} "
                        f"and never acknowledged, e.g. {sample}",
                    )
                lag = g.get("lag")
                if lag is None or int(lag):
                    self.report.add(
                        "pending",
                        f"group {group} has {'unknown' if lag is None else lag} entr(y/ies) of "
                        f"{stream} not yet read (last delivered "
                        f"{_decode(g.get('last-delivered-id', b'?'))})",
                    )

    def check_published(self) -> None:
        if not self.src.published:
            return
        on_ingress = {e.id for e in self.entries[streams.INGRESS]}
        for event_id, type_ in self.src.published:
            if event_id not in on_ingress:
                self.report.add(
                    "lost",
                    f"{type_} {event_id} was published but is not on "
                    f"{self.stream(streams.INGRESS)}",
                )

    def check_inputs_applied(self) -> None:
        dead_by: dict[tuple[str, str], DeadLetter] = {}
        for d in self.report.dead_letters:
            dead_by[(d.group, d.entry_id)] = d
            if d.event_id:
                dead_by[(d.group, d.event_id)] = d
        for spec in SPECS:
            inbox = self.inbox[spec.name]
            for name in spec.inputs:
                handled = spec.handled_types.get(name, frozenset())
                seen: set[str] = set()
                for e in self.entries[name]:
                    if e.event is None or e.id is None:
                        if (spec.name, e.entry_id) not in dead_by:
                            self.report.add(
                                "lost",
                                f"malformed entry {e.entry_id} on {self.stream(name)} was neither "
                                f"applied nor dead-lettered by {spec.name}",
                            )
                        continue
                    if e.type not in handled or e.id in seen:
                        continue
                    seen.add(e.id)
                    if e.event.get("mode", "live") != self.src.mode:
                        continue
                    if e.id in inbox:
                        continue
                    if (spec.name, e.id) in dead_by or (spec.name, e.entry_id) in dead_by:
                        continue
                    self.report.add(
                        "lost",
                        f"{e.type} {e.id} (entry {e.entry_id} on {self.stream(name)}) was never "
                        f"applied by {spec.name} and is not dead-lettered",
                    )

    async def check_outboxes(self) -> None:
        for spec in SPECS:
            table = spec.outbox.name
            rows = await self.db.rows(
                spec.name, f"SELECT event_id, stream, sent_at FROM {table}", table
            )
            self.report.counts[f"outbox {spec.name}"] = len(rows)
            unsent = [r for r in rows if r.sent_at is None]
            if unsent:
                self.report.add(
                    "lost",
                    f"{len(unsent)} row(s) of {table} never relayed, e.g. {unsent[0].event_id}",
                )
            out_name = spec.output
            on_stream = {e.id for e in self.entries[out_name]}
            for r in rows:
                if r.sent_at is not None and r.event_id not in on_stream:
                    self.report.add(
                        "lost",
                        f"{table} row {r.event_id} is marked sent but is not on {r.stream}",
                    )

    def check_one_effect_per_cause(self) -> None:
        for name in (streams.RESERVES, streams.TRANSPORT, streams.DISPATCH):
            ids = Counter(e.id for e in self.entries[name] if e.id)
            republished = sum(n - 1 for n in ids.values() if n > 1)
            self.report.counts[f"republished on {name}"] = republished
            per_cause: dict[tuple[str, str, str], set[str]] = defaultdict(set)
            for e in self.entries[name]:
                if e.event is None or e.type not in ONE_PER_CAUSE or e.id is None:
                    continue
                cause = _str(e.event.get("causationid")) or ""
                per_cause[(e.type, cause, _str(e.event.get("subject")) or "")].add(e.id)
            for (type_, cause, subject), event_ids in sorted(per_cause.items()):
                if len(event_ids) > 1:
                    self.report.add(
                        "applied_twice",
                        f"{type_} for subject {subject!r} emitted {len(event_ids)} times with "
                        f"different ids for one cause {cause}: {sorted(event_ids)}",
                    )
        keys: list[tuple[str, frozenset[str], str]] = [
            (streams.RESERVES, frozenset({T_RESERVED, T_REJECTED}), "reservation_id"),
            (streams.RESERVES, frozenset({T_DISPATCHED}), "reservation_id"),
            (streams.RESERVES, frozenset({T_RELEASED}), "reservation_id"),
            (streams.DISPATCH, frozenset({T_ORDER}), "order_id"),
            (streams.DISPATCH, T_PLANS, "plan_id"),
            (streams.DISPATCH, T_PLANS, "version"),
        ]
        for name, types, key in keys:
            by_key: dict[str, set[str]] = defaultdict(set)
            for e in self.entries[name]:
                if e.type in types and e.id:
                    by_key[str(e.data.get(key))].add(e.id)
            for value, event_ids in sorted(by_key.items()):
                if len(event_ids) > 1:
                    self.report.add(
                        "applied_twice",
                        f"{'/'.join(sorted({t.split('.')[-2] for t in types}))} for {key} "
                        f"{value} emitted {len(event_ids)} times: {sorted(event_ids)}",
                    )

    # --- stock -----------------------------------------------------------------------------

    async def check_stock(self) -> None:
        if not self.db.has("reserves", "reserves_stock", "on_hand_kg", "reserved_kg"):
            self.report.not_checkable.append("stock: no reserves_stock table")
            return
        ledger = self.db.has("reserves", "reserves_stock", *LEDGER_COLUMNS)
        cols = ", ".join(LEDGER_COLUMNS) if ledger else "0, 0, 0, 0"
        lines = await self.db.rows(
            "reserves",
            f"SELECT depot_id, commodity, on_hand_kg, reserved_kg, {cols} FROM reserves_stock",
            "reserves_stock",
        )
        held: dict[tuple[str, str], int] = defaultdict(int)
        moving: dict[tuple[str, str], int] = defaultdict(int)
        handed: dict[tuple[str, str], int] = defaultdict(int)
        progress = self.db.has("reserves", "reserves_reservations", "loaded_kg", "delivered_kg")
        if progress:
            # Reserved stock stays reserved (and on hand) after the order, until it is loaded.
            sql = (
                "SELECT depot_id, commodity, quantity_kg, loaded_kg, delivered_kg, status "
                "FROM reserves_reservations"
            )
        else:
            sql = (
                "SELECT depot_id, commodity, quantity_kg, 0 AS loaded_kg, 0 AS delivered_kg, "
                "status FROM reserves_reservations"
            )
        holding = ("reserved", "dispatched") if progress else ("reserved",)
        for r in await self.db.rows("reserves", sql, "reserves_reservations"):
            key = (r.depot_id, r.commodity)
            if r.status in holding:
                held[key] += int(r.quantity_kg) - int(r.loaded_kg)
            moving[key] += int(r.loaded_kg) - int(r.delivered_kg)
            handed[key] += int(r.delivered_kg)
        state: dict[tuple[str, str], tuple[int, int]] = {}
        for row in lines:
            depot, commodity = row[0], row[1]
            on_hand, reserved = int(row[2]), int(row[3])
            state[(depot, commodity)] = (on_hand, reserved)
            where = f"depot {depot} {commodity}"
            if on_hand < 0 or reserved < 0:
                self.report.add(
                    "stock", f"{where}: negative stock (on hand {on_hand}, reserved {reserved})"
                )
            if reserved != held.get((depot, commodity), 0):
                self.report.add(
                    "stock",
                    f"{where}: reserved_kg is {reserved} but the reservations held sum to "
                    f"{held.get((depot, commodity), 0)} kg",
                )
            if ledger:
                in_transit, delivered, adj_in, adj_out = (int(x) for x in row[4:8])
                if progress and (in_transit, delivered) != (
                    moving.get((depot, commodity), 0),
                    handed.get((depot, commodity), 0),
                ):
                    self.report.add(
                        "stock",
                        f"{where}: in transit {in_transit} kg and delivered {delivered} kg, but "
                        f"its reservations have {moving.get((depot, commodity), 0)} kg loaded "
                        f"and not delivered, {handed.get((depot, commodity), 0)} kg delivered",
                    )
                if adj_in - adj_out != on_hand + in_transit + delivered:
                    self.report.add(
                        "stock",
                        f"{where}: stock not conserved: adjusted in {adj_in} - out {adj_out} = "
                        f"{adj_in - adj_out} kg, but on hand {on_hand} + in transit "
                        f"{in_transit} + delivered {delivered} = "
                        f"{on_hand + in_transit + delivered} kg",
                    )
        for key in sorted(set(held) - set(state)):
            self.report.add(
                "stock", f"depot {key[0]} {key[1]}: reservations held but no stock line"
            )
        if not ledger:
            missing = [
                c for c in LEDGER_COLUMNS if not self.db.has("reserves", "reserves_stock", c)
            ]
            self.report.not_checkable.append(
                "stock conservation (adjusted_in - adjusted_out = on_hand + in_transit + "
                f"delivered): reserves_stock has no column(s) {', '.join(missing)}"
            )
        self.report.counts["stock lines"] = len(state)
        levels = [
            ev
            for r in await self.db.rows(
                "reserves", "SELECT seq, body FROM reserves_outbox ORDER BY seq", "reserves_outbox"
            )
            if (ev := json.loads(r.body)).get("type") == T_LEVEL
        ]
        self.check_levels_published(state, levels)
        self.check_latest_report_in_force(levels)
        await self.check_read_model(state)

    def check_levels_published(
        self, state: Mapping[tuple[str, str], tuple[int, int]], levels: Sequence[dict[str, Any]]
    ) -> None:
        """The last level reserves emitted (outbox order: commit order per line) is its state."""
        last: dict[tuple[str, str], dict[str, Any]] = {}
        for ev in levels:
            d = ev["data"]
            last[(d["depot_id"], d["commodity"])] = d
        for key, (on_hand, reserved) in sorted(state.items()):
            d = last.get(key)
            if d is None:
                continue
            published, available = round(d["quantity"]), d.get("available_kg")
            if published != on_hand or available != max(0, on_hand - reserved):
                self.report.add(
                    "stock",
                    f"depot {key[0]} {key[1]}: state is on hand {on_hand}, available "
                    f"{max(0, on_hand - reserved)}, but the last level published says "
                    f"{published}, available {available}",
                )

    def check_latest_report_in_force(self, levels: Sequence[dict[str, Any]]) -> None:
        """Absolute counts: the one in force must come from the latest report on ingress."""
        latest: dict[tuple[str, str], tuple[int, str, str]] = {}
        for pos, e in enumerate(self.entries[streams.INGRESS]):
            if e.type == T_LEVEL and e.id:
                d = e.data
                latest[(str(d.get("depot_id")), str(d.get("commodity")))] = (pos, e.id, e.entry_id)
        position = {e.id: pos for pos, e in enumerate(self.entries[streams.INGRESS]) if e.id}
        applied_last: dict[tuple[str, str], str] = {}
        for ev in levels:
            cause = _str(ev.get("causationid"))
            if cause is not None and cause in position:
                d = ev["data"]
                applied_last[(str(d["depot_id"]), str(d["commodity"]))] = cause
        for key, cause in sorted(applied_last.items()):
            pos, newest, entry = latest[key]
            if cause != newest and position[cause] < pos:
                self.report.add(
                    "stock",
                    f"depot {key[0]} {key[1]}: the count in force comes from report {cause} "
                    f"(ingress position {position[cause]}), applied after the later report "
                    f"{newest} (entry {entry}, position {pos}): a stale count overwrote a "
                    "newer one",
                )

    async def check_read_model(self, state: Mapping[tuple[str, str], tuple[int, int]]) -> None:
        rows = await self.db.rows(
            "dispatch",
            "SELECT depot_id, commodity, available_kg FROM dispatch_stock",
            "dispatch_stock",
        )
        for r in rows:
            key = (r.depot_id, r.commodity)
            if key not in state:
                continue
            on_hand, reserved = state[key]
            if int(r.available_kg) != max(0, on_hand - reserved):
                self.report.add(
                    "read_model",
                    f"dispatch believes depot {key[0]} has {r.available_kg} kg of {key[1]} "
                    f"free; reserves has {max(0, on_hand - reserved)}",
                )

    # --- reservations and orders --------------------------------------------------------------

    async def check_reservations(self) -> None:
        reserves_rows = {
            r.reservation_id: r
            for r in await self.db.rows(
                "reserves",
                "SELECT reservation_id, status, quantity_kg FROM reserves_reservations",
                "reserves_reservations",
            )
        }
        events: dict[str, set[str]] = defaultdict(set)
        for e in self.entries[streams.RESERVES]:
            if e.type in (T_RESERVED, T_REJECTED, T_RELEASED, T_DISPATCHED):
                events[str(e.data.get("reservation_id"))].add(e.type or "")
        # status -> (events that must be there, events that may be there too)
        expect = {
            "reserved": ({T_RESERVED}, set()),
            "rejected": ({T_REJECTED}, set()),
            "released": ({T_RESERVED, T_RELEASED}, {T_DISPATCHED}),
            "dispatched": ({T_RESERVED, T_DISPATCHED}, {T_RELEASED}),
        }
        for rid, row in sorted(reserves_rows.items()):
            want, may = expect.get(row.status, (set(), set()))
            got = events.get(rid, set())
            if row.status in expect and not (want <= got <= want | may):
                self.report.add(
                    "reservation",
                    f"reservation {rid} is {row.status} in reserves but its events are "
                    f"{sorted(t.split('.')[-2] for t in got) or 'none'}",
                )
        for rid in sorted(set(events) - set(reserves_rows)):
            self.report.add("reservation", f"events about reservation {rid} but no row in reserves")
        requested = {
            str(e.data.get("reservation_id")): e
            for e in self.entries[streams.DISPATCH]
            if e.type == "hinterland.dispatch.reservation_requested.v1"
        }
        dispatch_rows = await self.db.rows(
            "dispatch",
            "SELECT reservation_id, status, vehicle_id, plan_id FROM dispatch_reservations",
            "dispatch_reservations",
        )
        for r in dispatch_rows:
            answer = reserves_rows.get(r.reservation_id)
            where = f"reservation {r.reservation_id} (plan {r.plan_id}, vehicle {r.vehicle_id})"
            if r.status in ("requested", "reserved"):
                self.report.add(
                    "reservation",
                    f"{where} is still {r.status} in dispatch after settling: "
                    + (
                        "reserves never answered"
                        if answer is None
                        else f"reserves answered {answer.status} but no order followed"
                    ),
                )
            elif answer is None:
                self.report.add(
                    "reservation", f"{where} is {r.status} in dispatch, unknown to reserves"
                )
            elif r.status == "rejected" and answer.status != "rejected":
                self.report.add(
                    "reservation", f"{where}: dispatch says rejected, reserves {answer.status}"
                )
            elif r.status == "dispatched" and answer.status != "dispatched":
                self.report.add(
                    "reservation", f"{where}: ordered by dispatch, but {answer.status} in reserves"
                )
        for rid in sorted(set(requested) - {r.reservation_id for r in dispatch_rows}):
            self.report.add(
                "reservation", f"reservation {rid} requested on the bus, no row in dispatch"
            )
        orders = await self.db.rows(
            "dispatch", "SELECT order_id FROM dispatch_orders", "dispatch_orders"
        )
        on_bus = {
            str(e.data.get("order_id")) for e in self.entries[streams.DISPATCH] if e.type == T_ORDER
        }
        for o in sorted({r.order_id for r in orders} - on_bus):
            self.report.add("lost", f"order {o} is in dispatch_orders but was never published")
        self.report.counts["reservations"] = len(reserves_rows)
        self.report.counts["orders"] = len(orders)

    async def check_needs(self) -> None:
        needs = await self.db.rows(
            "dispatch",
            "SELECT need_id, quantity_kg, committed_kg, reason FROM dispatch_needs",
            "dispatch_needs",
        )
        committed: dict[str, int] = defaultdict(int)
        for r in await self.db.rows(
            "dispatch",
            "SELECT need_id, quantity_kg FROM dispatch_reservations WHERE status = 'dispatched'",
            "dispatch_reservations",
        ):
            committed[r.need_id] += int(r.quantity_kg)
        planned: dict[str, str] = {}
        for e in self.entries[streams.DISPATCH]:
            if e.type in T_PLANS:
                for n in e.data.get("needs", []):
                    planned[str(n.get("need_id"))] = str(n.get("status"))
        status: Counter[str] = Counter()
        for n in needs:
            qty, done = int(n.quantity_kg), int(n.committed_kg)
            where = f"need {n.need_id} ({done} of {qty} kg committed)"
            if done > committed.get(n.need_id, 0):
                self.report.add(
                    "need",
                    f"{where}: its dispatched reservations sum to only "
                    f"{committed.get(n.need_id, 0)} kg",
                )
            if done > qty:
                self.report.add("need", f"{where}: served beyond what was asked")
                status["over-served"] += 1
            elif done == qty:
                status["served"] += 1
            elif n.reason:
                status[
                    "partly served, rest with a reason" if done else "unserved with a reason"
                ] += 1
            elif n.need_id in planned:
                self.report.add(
                    "need",
                    f"{where}: the last plan says {planned[n.need_id]}, yet the rest is neither "
                    "committed nor given a reason",
                )
            else:
                status["open (not yet planned)"] += 1
        for k, v in status.items():
            self.report.counts[f"needs {k}"] = v


def format_report(report: LedgerReport) -> str:
    return report.summary()


def count_by(items: Iterable[str]) -> dict[str, int]:
    return dict(Counter(items))
