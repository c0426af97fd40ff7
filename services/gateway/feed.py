"""The external subscriber feed behind ``GET /events/stream``: the bus, filtered per caller.

Unlike the console's live stream (which follows the read model), this one forwards the events
themselves, as integrated systems would read them from Redis: the four streams are tailed
with ``XREAD`` from a cursor, each event goes through ``redaction.screen_event`` for the
caller's clearance, and what passes is sent as one server-sent event (the CloudEvents JSON, or
the EDXL-RM messages it renders, with ``format=edxl``).

**Cursor.** One entry id per stream, in the order ingress, reserves, transport, dispatch,
comma-separated (``1715500000000-0,0-0,1715500000123-4,$``). Every message carries the cursor
after it as its SSE ``id``, so a client resumes exactly with ``last_id=`` or the standard
``Last-Event-ID`` header. A single id stands for all four streams; ``$`` (the default) means
"from now on".

**Order.** Exact within a stream; across streams by the millisecond of the entry ids (Redis
keeps no order between streams), ties in stream order.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from pydantic import ValidationError
from redis.asyncio import Redis

from contracts import streams
from contracts.catalogue import parse_event
from contracts.envelope import Classification, Envelope
from services.gateway.partners import OutboundRenderer
from services.gateway.redaction import Hidden, screen_event
from services.gateway.security import clears

log = logging.getLogger(__name__)

FeedFormat = Literal["json", "edxl"]
STREAM_ORDER: Final = (streams.INGRESS, streams.RESERVES, streams.TRANSPORT, streams.DISPATCH)
_ENTRY_ID: Final = re.compile(r"^\d{1,20}(-\d{1,20})?$")
BLOCK_MS: Final = 1000
READ_COUNT: Final = 200
HIDDEN_REFRESH_S: Final = 2.0
"""How often the feed re-reads what the caller may not see (it also learns from events)."""


class CursorError(ValueError):
    """A ``last_id`` that is not a cursor; the message says what one looks like."""


def parse_cursor(value: str | None, count: int = len(STREAM_ORDER)) -> list[str]:
    """``count`` entry ids (or ``$``) from a cursor string; see the module's docstring."""
    if value is None or value.strip() in ("", "$"):
        return ["$"] * count
    parts = [p.strip() for p in value.split(",")]
    if len(parts) == 1:
        parts *= count
    if len(parts) != count:
        raise CursorError(
            f"last_id {value!r} has {len(parts)} ids; give one (for every stream) or {count} "
            f"(one per stream: {', '.join(STREAM_ORDER)})"
        )
    for p in parts:
        if p != "$" and not _ENTRY_ID.match(p):
            raise CursorError(
                f"last_id {value!r}: {p!r} is not a stream entry id (<ms>-<seq>, e.g. "
                "1715500000000-0) nor $"
            )
    return parts


def format_cursor(ids: Sequence[str]) -> str:
    return ",".join(ids)


def _order(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


@dataclass(frozen=True, slots=True)
class Entry:
    stream: int
    """Index into the tailed streams (STREAM_ORDER)."""
    entry_id: str
    event: Envelope | None
    """None when the entry is not a valid event (the services dead-letter those)."""


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class BusTail:
    """Reads the four streams of one deployment (``names``) from a cursor."""

    def __init__(self, redis: Redis, names: Sequence[str]) -> None:
        self._redis = redis
        self.names = tuple(names)

    async def resolve(self, cursor: Sequence[str]) -> list[str]:
        """``$`` becomes the stream's last entry id now (``0-0`` if it is empty), so that
        nothing published after the subscription started is missed between two reads."""
        out: list[str] = []
        for name, at in zip(self.names, cursor, strict=True):
            if at == "$":
                last: Any = await self._redis.xrevrange(name, count=1)
                at = _text(last[0][0]) if last else "0-0"
            out.append(at)
        return out

    async def read(self, cursor: Sequence[str], block_ms: int | None) -> list[Entry]:
        """The entries after ``cursor`` (ordered by id across streams), waiting up to
        ``block_ms`` for one."""
        found: Any = await self._redis.xread(
            dict(zip(self.names, cursor, strict=True)), count=READ_COUNT, block=block_ms
        )
        index = {name: n for n, name in enumerate(self.names)}
        entries: list[Entry] = []
        for raw_name, items in found or []:
            n = index[_text(raw_name)]
            for raw_id, data in items:
                event: Envelope | None = None
                raw = data.get(b"event")
                if raw is not None:
                    try:
                        event = parse_event(raw)
                    except ValidationError:
                        event = None
                entries.append(Entry(n, _text(raw_id), event))
        # Redis orders entries within a stream only; across streams, by the millisecond of
        # the id, and within one millisecond in stream order (ingress first: it causes the rest).
        entries.sort(key=lambda e: (_order(e.entry_id)[0], e.stream, _order(e.entry_id)[1]))
        return entries


def _sse(event: str, data: str, id_: str | None = None) -> str:
    head = f"id: {id_}\n" if id_ is not None else ""
    return f"{head}event: {event}\ndata: {data}\n\n"


async def subscriber_feed(
    tail: BusTail,
    cursor: Sequence[str],
    clearance: Classification,
    hidden: Hidden,
    load_hidden: Callable[[], Awaitable[Hidden]],
    renderer: OutboundRenderer,
    fmt: FeedFormat = "json",
    *,
    heartbeat_s: float = 15.0,
) -> AsyncIterator[str]:
    """Server-sent events for one subscriber from a resolved ``cursor`` (no ``$``):
    ``ready`` at once, then one message per event that passes ``screen_event`` (``format=
    json``: ``event:`` the type, ``data:`` the envelope) or per EDXL-RM message rendered from
    one (``format=edxl``: ``event: edxl-rm``, ``data:`` message id, type, source event id and
    the XML), and a ``: heartbeat`` comment after ``heartbeat_s`` of silence. ``hidden`` is
    what the caller may not see now; ``load_hidden`` refreshes it every few seconds (it only
    grows). A bus error ends the stream; the client resumes from the last ``id``."""
    loop = asyncio.get_running_loop()
    at = list(cursor)
    refreshed = last_sent = loop.time()
    ready = {"cursor": format_cursor(at), "format": fmt, "streams": list(tail.names)}
    yield _sse("ready", json.dumps(ready), format_cursor(at))
    while True:
        entries = await tail.read(at, BLOCK_MS)
        if loop.time() - refreshed > HIDDEN_REFRESH_S:
            try:
                hidden = hidden.merged(await load_hidden())
            except Exception:  # the database is away: keep what is known, and what is learnt
                log.exception("event feed: reading the hidden set failed")
            refreshed = loop.time()
        for entry in entries:
            at[entry.stream] = entry.entry_id
            if entry.event is None:
                continue
            screened = screen_event(entry.event, clearance, hidden)
            hidden = screened.hidden
            if fmt == "json":
                if screened.event is None:
                    continue
                yield _sse(screened.event.type, screened.event.model_dump_json(), format_cursor(at))
                last_sent = loop.time()
                continue
            # EDXL: the source event's classification decides, and the message itself must
            # name nothing hidden (it names only EDXL-RM needs, the vehicle and the order).
            if not clears(clearance, entry.event.classification):
                continue
            for message in await renderer.render(entry.event):
                if hidden.names(message.xml):
                    continue
                body = {
                    "message_id": message.message_id,
                    "message_type": message.message_type,
                    "event_id": message.event_id,
                    "xml": message.xml,
                }
                yield _sse("edxl-rm", json.dumps(body), format_cursor(at))
                last_sent = loop.time()
        if loop.time() - last_sent >= heartbeat_s:
            yield ": heartbeat\n\n"
            last_sent = loop.time()
