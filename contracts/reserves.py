"""Events about depots and stock; produced by the reserves service (and, as reports, by depots)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from contracts.common import Commodity, Identifier, MassUnit, Owner
from contracts.envelope import Envelope, Payload

DepotTier = Literal["national", "provincial", "city", "county", "cross_region", "logistics_hub"]


class DepotRegistered(Payload):
    depot_id: Identifier
    name: str = Field(
        min_length=1, description="Human name.", examples=["Chengdu provincial reserve"]
    )
    node_id: Identifier = Field(description="Network node the depot sits at.")
    tier: DepotTier = Field(description="Reserve tier.", examples=["provincial"])
    owner: Owner = Field(description="civil or military owner.", examples=["civil"])


class DepotRegisteredV1(Envelope):
    type: Literal["hinterland.reserves.depot_registered.v1"] = (
        "hinterland.reserves.depot_registered.v1"
    )
    data: DepotRegistered


class StockLevelReported(Payload):
    depot_id: Identifier
    commodity: Commodity
    quantity: float = Field(ge=0, description="Quantity on hand.", examples=[1200.0])
    unit: MassUnit = Field(description="t or kg.", examples=["t"])
    available_kg: int | None = Field(
        None,
        ge=0,
        description="Set by the reserves service only: on hand minus reserved, in kg.",
    )


class StockLevelReportedV1(Envelope):
    """A depot's count of what it holds (absolute, not a delta)."""

    type: Literal["hinterland.reserves.stock_level_reported.v1"] = (
        "hinterland.reserves.stock_level_reported.v1"
    )
    data: StockLevelReported


class StockReserved(Payload):
    reservation_id: Identifier
    plan_id: Identifier
    depot_id: Identifier
    need_id: Identifier
    commodity: Commodity
    quantity_kg: int = Field(gt=0, examples=[20000])


class StockReservedV1(Envelope):
    type: Literal["hinterland.reserves.stock_reserved.v1"] = "hinterland.reserves.stock_reserved.v1"
    data: StockReserved


RejectionReason = Literal["insufficient_stock", "depot_unavailable", "unknown_depot"]


class ReservationRejected(Payload):
    reservation_id: Identifier
    plan_id: Identifier
    depot_id: Identifier
    need_id: Identifier
    commodity: Commodity
    requested_kg: int = Field(gt=0)
    available_kg: int = Field(ge=0)
    reason: RejectionReason
    detail: str = Field(description="Human explanation.")


class ReservationRejectedV1(Envelope):
    type: Literal["hinterland.reserves.reservation_rejected.v1"] = (
        "hinterland.reserves.reservation_rejected.v1"
    )
    data: ReservationRejected


class StockReleased(Payload):
    reservation_id: Identifier
    depot_id: Identifier
    commodity: Commodity
    quantity_kg: int = Field(gt=0)


class StockReleasedV1(Envelope):
    type: Literal["hinterland.reserves.stock_released.v1"] = "hinterland.reserves.stock_released.v1"
    data: StockReleased


class StockDispatched(Payload):
    reservation_id: Identifier
    order_id: Identifier
    depot_id: Identifier
    commodity: Commodity
    quantity_kg: int = Field(gt=0)


class StockDispatchedV1(Envelope):
    type: Literal["hinterland.reserves.stock_dispatched.v1"] = (
        "hinterland.reserves.stock_dispatched.v1"
    )
    data: StockDispatched


class DepotStatusChanged(Payload):
    depot_id: Identifier
    status: Literal["operational", "lost"]
    cause: str = Field("", description="Disruption id or operator note.")


class DepotStatusChangedV1(Envelope):
    type: Literal["hinterland.reserves.depot_status_changed.v1"] = (
        "hinterland.reserves.depot_status_changed.v1"
    )
    data: DepotStatusChanged
