"""The whole catalogue: every event class, which stream carries it, and one parser for all."""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import Field, TypeAdapter

from contracts import dispatch, execution, incidents, reserves, streams, transport
from contracts.envelope import Envelope

Event = Annotated[
    reserves.DepotRegisteredV1
    | reserves.StockLevelReportedV1
    | reserves.StockReservedV1
    | reserves.ReservationRejectedV1
    | reserves.StockReleasedV1
    | reserves.StockDispatchedV1
    | reserves.DepotStatusChangedV1
    | transport.NodeRegisteredV1
    | transport.LinkRegisteredV1
    | transport.AssetRegisteredV1
    | transport.AssetStatusChangedV1
    | transport.LinkStatusChangedV1
    | transport.NodeStatusChangedV1
    | transport.DisruptionAppliedV1
    | incidents.DisruptionReportedV1
    | incidents.DisruptionWithdrawnV1
    | incidents.NeedRaisedV1
    | dispatch.PlanRequestedV1
    | dispatch.PlanPublishedV1
    | dispatch.PlanPublishedV2
    | dispatch.ReservationRequestedV1
    | dispatch.ReleaseRequestedV1
    | dispatch.DispatchOrderIssuedV1
    | execution.OrderProgressReportedV1,
    Field(discriminator="type"),
]

EVENT_ADAPTER: Final[TypeAdapter[Event]] = TypeAdapter(Event)

EVENT_CLASSES: Final[tuple[type[Envelope], ...]] = (
    reserves.DepotRegisteredV1,
    reserves.StockLevelReportedV1,
    reserves.StockReservedV1,
    reserves.ReservationRejectedV1,
    reserves.StockReleasedV1,
    reserves.StockDispatchedV1,
    reserves.DepotStatusChangedV1,
    transport.NodeRegisteredV1,
    transport.LinkRegisteredV1,
    transport.AssetRegisteredV1,
    transport.AssetStatusChangedV1,
    transport.LinkStatusChangedV1,
    transport.NodeStatusChangedV1,
    transport.DisruptionAppliedV1,
    incidents.DisruptionReportedV1,
    incidents.DisruptionWithdrawnV1,
    incidents.NeedRaisedV1,
    dispatch.PlanRequestedV1,
    dispatch.PlanPublishedV1,
    dispatch.PlanPublishedV2,
    dispatch.ReservationRequestedV1,
    dispatch.ReleaseRequestedV1,
    dispatch.DispatchOrderIssuedV1,
    execution.OrderProgressReportedV1,
)


def type_name(cls: type[Envelope]) -> str:
    """The ``type`` literal of an event class."""
    default = cls.model_fields["type"].default
    assert isinstance(default, str)
    return default


BY_TYPE: Final[dict[str, type[Envelope]]] = {type_name(c): c for c in EVENT_CLASSES}

INGRESS_TYPES: Final = frozenset(
    type_name(c)
    for c in (
        incidents.DisruptionReportedV1,
        incidents.DisruptionWithdrawnV1,
        incidents.NeedRaisedV1,
        reserves.DepotRegisteredV1,
        reserves.StockLevelReportedV1,
        transport.NodeRegisteredV1,
        transport.LinkRegisteredV1,
        transport.AssetRegisteredV1,
        transport.AssetStatusChangedV1,
        transport.LinkStatusChangedV1,
        transport.NodeStatusChangedV1,
        execution.OrderProgressReportedV1,
    )
)
"""Types an integrated system may publish on ``ingress.events``."""

PRODUCER_STREAM: Final[dict[str, str]] = {
    "reserves": streams.RESERVES,
    "transport": streams.TRANSPORT,
    "dispatch": streams.DISPATCH,
}


def parse_event(raw: str | bytes) -> Event:
    """Validate one JSON envelope; raises ``pydantic.ValidationError`` naming the bad field."""
    return EVENT_ADAPTER.validate_json(raw)


def _types_of(prefix: str) -> tuple[type[Envelope], ...]:
    return tuple(c for c in EVENT_CLASSES if type_name(c).startswith(f"hinterland.{prefix}."))


STREAM_TYPES: Final[dict[str, tuple[type[Envelope], ...]]] = {
    streams.INGRESS: tuple(BY_TYPE[t] for t in sorted(INGRESS_TYPES)),
    streams.RESERVES: _types_of("reserves"),
    streams.TRANSPORT: _types_of("transport"),
    streams.DISPATCH: _types_of("dispatch"),
}
"""The event types each stream carries (what the AsyncAPI document lists per channel)."""
