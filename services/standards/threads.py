"""EDXL-RM message threads: which partner request a need came from, and the last message sent.

EDXL-RM chains messages with ``OriginatingMessageID`` (the first message of the exchange)
and ``PrecedingMessageID`` (the one this message answers). When a need arrives in a
RequestResource we remember both ids and the requester's ``ResourceInfoElementID``; when we
later commit reserves or report delivery progress for that need, the outgoing message cites
them and becomes the new ``last_message_id``. The store is a port: the in-memory twin below
serves tests and the embedded exercise, the host may back it with a table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class NeedThread:
    need_id: str
    originating_message_id: str
    """MessageID of the first message of the exchange (the request's, or what it cited)."""
    last_message_id: str
    """MessageID of the latest message in the thread: what the next one's PrecedingMessageID is."""
    resource_info_element_id: str
    """The requester's ResourceInfoElementID for this need (cited in ResponseInformation)."""
    incident_id: str | None = None


class ThreadStore(Protocol):
    """Where need threads live between the request and the messages answering it."""

    async def get_many(self, need_ids: Iterable[str]) -> Mapping[str, NeedThread]:
        """The threads known for these need ids (unknown ids are simply absent)."""
        ...

    async def save(self, threads: Sequence[NeedThread]) -> None:
        """Insert or replace threads by need id."""
        ...


class InMemoryThreadStore:
    """A dict behind the :class:`ThreadStore` port."""

    def __init__(self, threads: Iterable[NeedThread] = ()) -> None:
        self._threads = {t.need_id: t for t in threads}

    async def get_many(self, need_ids: Iterable[str]) -> Mapping[str, NeedThread]:
        return {n: self._threads[n] for n in need_ids if n in self._threads}

    async def save(self, threads: Sequence[NeedThread]) -> None:
        self._threads.update((t.need_id, t) for t in threads)

    def snapshot(self) -> dict[str, NeedThread]:
        return dict(self._threads)
