"""Plain-JSON wire format: each stream entry has one field ``event`` holding the envelope JSON.

Any Redis client can publish: ``XADD ingress.events * event '{"specversion":"1.0",...}'``.
"""

from __future__ import annotations

from typing import Final

from contracts.envelope import Envelope

EVENT_FIELD: Final = "event"


def encode(event: Envelope) -> str:
    """Envelope to the JSON text stored in the stream entry (and in the outbox)."""
    return event.model_dump_json(exclude_none=False)


def fields(body: str) -> dict[str, str]:
    return {EVENT_FIELD: body}
