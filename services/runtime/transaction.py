"""One unit of work: state changes, the inbox mark and outgoing events commit together."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.envelope import Classification, Envelope, Mode, Payload
from services.runtime.ids import derived_id

E = TypeVar("E", bound=Envelope)


@dataclass(slots=True)
class Cause:
    """What the events emitted in a transaction descend from."""

    id: str
    time: datetime
    correlationid: str
    mode: Mode
    classification: Classification = "public"

    @classmethod
    def of(cls, event: Envelope) -> Cause:
        return cls(event.id, event.time, event.correlationid, event.mode, event.classification)


@dataclass(slots=True)
class Transaction:
    session: AsyncSession
    cause: Cause
    source: str
    emitted: list[Envelope] = field(default_factory=list)

    def emit(
        self,
        cls: type[E],
        data: Payload,
        *,
        subject: str = "",
        classification: Classification | None = None,
    ) -> E:
        """Queue an event for the outbox; its id is derived from the cause (replays match)."""
        fields: dict[str, Any] = {
            "id": derived_id(self.cause.id, self.source, len(self.emitted)),
            "source": self.source,
            "time": self.cause.time,
            "subject": subject,
            "correlationid": self.cause.correlationid,
            "causationid": self.cause.id,
            "mode": self.cause.mode,
            "classification": classification or self.cause.classification,
            "data": data,
        }
        event = cls(**fields)
        self.emitted.append(event)
        return event
