"""Bus entry for partner XML: a FastStream consumer of ``ingress.xml`` that publishes envelopes.

Any client can post a document: ``XADD ingress.xml * kind cap xml '<alert ...>'`` (``kind``
is ``cap`` or ``edxl-rm``). Each entry is translated with ``translate`` (a CAP Cancel becomes
a ``disruption_withdrawn``, like over HTTP); its envelopes are
XADDed on ``ingress.events`` and the entry acknowledged in one MULTI, after the EDXL-RM
threads are saved. A document that fails validation goes to ``ingress.xml.dead`` with the
reason (element and rule) and is acknowledged: retrying would not help. Infrastructure errors
leave the entry pending; a second subscriber of the group claims idle entries again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from faststream import AckPolicy
from faststream.redis import RedisBroker, StreamSub
from faststream.redis.annotations import RedisStreamMessage
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from contracts import streams
from contracts.envelope import Mode
from services.runtime.wire import encode, fields
from services.standards.errors import StandardsError
from services.standards.http import NetworkProvider
from services.standards.threads import ThreadStore
from services.standards.translate import KINDS, translate

log = logging.getLogger(__name__)

XML_STREAM: Final = "ingress.xml"
GROUP: Final = "standards"


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: str  # published | dead
    detail: str = ""


class StandardsBus:
    """Reads ``ingress.xml`` through a consumer group, publishes on ``ingress.events``."""

    def __init__(
        self,
        redis_url: str,
        network_provider: NetworkProvider,
        thread_store: ThreadStore,
        *,
        mode: Mode = "live",
        namespace: str = "",
        consumer: str = "standards-1",
        polling_ms: int = 100,
        reclaim_idle_ms: int = 30_000,
    ) -> None:
        self.redis = Redis.from_url(redis_url)
        self.stream = streams.namespaced(XML_STREAM, namespace)
        self.ingress = streams.namespaced(streams.INGRESS, namespace)
        self._network = network_provider
        self._threads = thread_store
        self._mode: Mode = mode
        self.broker = RedisBroker(redis_url, logger=logging.getLogger("hinterland.standards"))

        async def on_entry(msg: RedisStreamMessage) -> None:
            raw = msg.raw_message
            await self.process(raw["message_ids"][0].decode(), raw["data"])

        reader = StreamSub(self.stream, group=GROUP, consumer=consumer, polling_interval=polling_ms)
        reclaimer = StreamSub(
            self.stream,
            group=GROUP,
            consumer=consumer,
            min_idle_time=reclaim_idle_ms,
            polling_interval=max(reclaim_idle_ms // 2, 10),
        )
        for sub, title in ((reader, "read"), (reclaimer, "reclaim")):
            self.broker.subscriber(
                stream=sub,
                ack_policy=AckPolicy.MANUAL,
                title=f"standards:{self.stream}:{title}",
                description="CAP 1.2 / EDXL-RM 1.0 documents (fields `kind`, `xml`)",
            )(on_entry)

    async def prepare(self) -> None:
        """Create the group at 0 before reading, so entries posted earlier are not lost."""
        try:
            await self.redis.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def start(self) -> None:
        await self.prepare()
        await self.broker.start()

    async def stop(self) -> None:
        await self.broker.stop()
        await self.redis.aclose()

    async def process(self, entry_id: str, data: Mapping[bytes, bytes]) -> Outcome:
        """Translate one entry; publish and ack, or dead-letter and ack."""
        raw_kind, xml = data.get(b"kind"), data.get(b"xml")
        kind = raw_kind.decode(errors="replace") if raw_kind is not None else ""
        if kind not in KINDS or xml is None:
            names = sorted(k.decode(errors="replace") for k in data)
            return await self._dead(
                entry_id,
                data,
                f"entry needs fields 'kind' ({' or '.join(KINDS)}) and 'xml'; got {names} "
                f"with kind {kind!r}",
            )
        network = await self._network()  # infrastructure: an error leaves the entry pending
        try:
            t = translate(kind, xml, network=network, mode=self._mode)
        except StandardsError as exc:
            return await self._dead(entry_id, data, f"{kind}: {exc}")
        except Exception as exc:  # translation is pure: the same entry would fail again
            log.exception("standards: translating %s failed", entry_id)
            return await self._dead(entry_id, data, f"{kind}: internal error: {exc!r}")
        if t.threads:
            await self._threads.save(t.threads)
        async with self.redis.pipeline(transaction=True) as pipe:
            for envelope in t.envelopes:
                pipe.xadd(self.ingress, fields(encode(envelope)))  # type: ignore[arg-type]
            pipe.xack(self.stream, GROUP, entry_id)
            await pipe.execute()
        return Outcome("published", " ".join(e.id for e in t.envelopes))

    async def _dead(self, entry_id: str, data: Mapping[bytes, bytes], reason: str) -> Outcome:
        log.error("standards: dead-lettering %s %s: %s", self.stream, entry_id, reason)
        letter: dict[bytes | str, bytes | str] = dict(data.items())
        letter |= {
            "error": reason,
            "stream": self.stream,
            "entry_id": entry_id,
            "group": GROUP,
            "failed_at": datetime.now(UTC).isoformat(),
        }
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(streams.dead_letter(self.stream), letter)  # type: ignore[arg-type]
            pipe.xack(self.stream, GROUP, entry_id)
            await pipe.execute()
        return Outcome("dead", reason)
