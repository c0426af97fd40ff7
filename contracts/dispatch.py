"""Plans, reservation requests and dispatch orders; produced by the dispatch service."""

from __future__ import annotations

from typing import Final, Literal, TypeAlias

from pydantic import AwareDatetime, Field

from contracts.common import Commodity, Identifier
from contracts.envelope import Envelope, Payload

UnservedReason = Literal[
    "no_stock",
    "cut_off",
    "deadline_unreachable",
    "no_transport_capacity",
    "displaced_by_higher_priority",
    "no_cleared_vehicle",
]


class PlanRequested(Payload):
    request_id: Identifier
    reason: str = Field(description="What made dispatch re-plan.", examples=["disruption Q-1"])
    triggers: list[Identifier] = Field(default_factory=list, description="Event ids behind it.")


class PlanRequestedV1(Envelope):
    type: Literal["hinterland.dispatch.plan_requested.v1"] = "hinterland.dispatch.plan_requested.v1"
    data: PlanRequested


class PlannedStop(Payload):
    node_id: Identifier
    action: Literal["load", "unload"]
    depot_id: Identifier | None = None
    need_id: Identifier | None = None
    commodity: Commodity
    quantity_kg: int = Field(gt=0)
    eta: AwareDatetime
    etd: AwareDatetime
    via_links: list[Identifier] = Field(
        default_factory=list, description="Links travelled from the previous stop, in order."
    )


class PlannedRoute(Payload):
    vehicle_id: Identifier
    stops: list[PlannedStop]
    distance_km: float = Field(ge=0)


class NeedSource(Payload):
    depot_id: Identifier
    vehicle_id: Identifier
    quantity_kg: int = Field(gt=0)
    eta: AwareDatetime


class NeedPlan(Payload):
    need_id: Identifier
    requested_kg: int = Field(ge=0)
    served_kg: int = Field(ge=0)
    status: Literal["served", "partial", "unserved"]
    reason: UnservedReason | None = None
    detail: str = ""
    sources: list[NeedSource] = Field(default_factory=list)


class PlanKpis(Payload):
    fill_rate: float = Field(ge=0, le=1)
    priority_weighted_fill: float = Field(ge=0, le=1)
    vehicles_used: int = Field(ge=0)
    distance_km: float = Field(ge=0)
    served_kg_by_priority: dict[str, int]
    requested_kg_by_priority: dict[str, int]


class PlanPublished(Payload):
    plan_id: Identifier
    version: int = Field(ge=1, description="1, 2, ... per dispatch instance and mode.")
    supersedes: Identifier | None = None
    request_id: Identifier
    routes: list[PlannedRoute]
    needs: list[NeedPlan]
    objective: int
    solve_time_ms: int = Field(
        ge=0, description="Wall-clock solve time (informative; not part of the plan hash)."
    )
    kpis: PlanKpis
    plan_hash: str = Field(description="SHA-256 of the plan content, for replay comparison.")


class PlanPublishedV1(Envelope):
    type: Literal["hinterland.dispatch.plan_published.v1"] = "hinterland.dispatch.plan_published.v1"
    data: PlanPublished


class PlanKpisV2(PlanKpis):
    """V1's KPIs plus the plan's share of the physical limit (``plan_published.v2``)."""

    weighted_bound_kg: int | None = Field(
        ge=0,
        description=(
            "Physical limit: the largest priority-weighted mass (priority weight x kg) any plan "
            "could deliver by the needs' deadlines over the surviving network, the stocks and "
            "the fleet (a max flow over a time-expanded network). None when not computed, or "
            "withheld from a view that hides some needs, vehicles or depots."
        ),
        examples=[1250000],
    )
    served_fraction_of_bound: float | None = Field(
        ge=0,
        le=1,
        description=(
            "This plan's priority-weighted served mass over weighted_bound_kg (1.0 when the "
            "limit is 0: nothing could be delivered, nothing was). None when the limit is."
        ),
        examples=[0.93],
    )


class PlanPublishedPayloadV2(PlanPublished):
    """``PlanPublished`` whose KPIs carry the physical limit (``PlanKpisV2``)."""

    kpis: PlanKpisV2 = Field(
        description="Headline figures, with the served share of the physical limit."
    )


class PlanPublishedV2(Envelope):
    """A new plan; v2 adds ``weighted_bound_kg`` and ``served_fraction_of_bound`` to the KPIs.

    Dispatch publishes v2 only; v1 stays in the catalogue (older recordings, replays) and
    every consumer reads both (``PlanPublishedEvent``). The plan hash is the same in both.
    """

    type: Literal["hinterland.dispatch.plan_published.v2"] = "hinterland.dispatch.plan_published.v2"
    data: PlanPublishedPayloadV2


PlanPublishedEvent: TypeAlias = PlanPublishedV1 | PlanPublishedV2
"""Either version of ``plan_published`` (``isinstance`` accepts it); ``data`` is a
``PlanPublished`` in both, ``data.kpis`` a ``PlanKpisV2`` only in v2."""


def share_of_bound(kpis: PlanKpis) -> float | None:
    """A plan's served share of the physical limit: v2 KPIs carry it, v1 ones do not."""
    return kpis.served_fraction_of_bound if isinstance(kpis, PlanKpisV2) else None


PLAN_PUBLISHED_TYPES: Final = frozenset(
    {"hinterland.dispatch.plan_published.v1", "hinterland.dispatch.plan_published.v2"}
)
"""The ``type`` names of ``PlanPublishedEvent``, for consumers that read raw JSON."""


class ReservationRequested(Payload):
    reservation_id: Identifier
    plan_id: Identifier
    depot_id: Identifier
    need_id: Identifier
    commodity: Commodity
    quantity_kg: int = Field(gt=0)


class ReservationRequestedV1(Envelope):
    """Dispatch asks reserves to hold stock for a plan (answered by reserved or rejected)."""

    type: Literal["hinterland.dispatch.reservation_requested.v1"] = (
        "hinterland.dispatch.reservation_requested.v1"
    )
    data: ReservationRequested


class ReleaseRequested(Payload):
    reservation_id: Identifier
    plan_id: Identifier
    reason: str = ""


class ReleaseRequestedV1(Envelope):
    """Dispatch gives back stock a superseded plan held but never dispatched."""

    type: Literal["hinterland.dispatch.release_requested.v1"] = (
        "hinterland.dispatch.release_requested.v1"
    )
    data: ReleaseRequested


class DispatchOrderIssued(Payload):
    order_id: Identifier
    plan_id: Identifier
    vehicle_id: Identifier
    reservation_ids: list[Identifier]
    stops: list[PlannedStop]
    release_at: AwareDatetime = Field(description="When the vehicle is free again (last ETD).")


class DispatchOrderIssuedV1(Envelope):
    type: Literal["hinterland.dispatch.dispatch_order_issued.v1"] = (
        "hinterland.dispatch.dispatch_order_issued.v1"
    )
    data: DispatchOrderIssued
