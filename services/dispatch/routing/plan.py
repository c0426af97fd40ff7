"""Output model of the routing core: routes, allocations, per-need outcomes and KPIs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Reason = Literal[
    "no_stock",
    "cut_off",
    "deadline_unreachable",
    "no_transport_capacity",
    "displaced_by_higher_priority",
    "no_cleared_vehicle",
]
StopAction = Literal["load", "unload", "transfer_unload", "transfer_load"]
"""What a stop does: ``load`` at a depot and ``unload`` at the need, as always; a multimodal
chain (only with ``LogisticsProblem.hubs``) adds ``transfer_unload`` (the trunk vehicle puts
the cargo down at a hub) and ``transfer_load`` (the road vehicle takes it up there). Transfer
stops carry the need and the originating depot of the cargo; only ``unload`` delivers."""

PRIORITY_WEIGHT = {"life_saving": 100, "sustaining": 10, "routine": 1}
"""Weight per kilogram of each priority class in the priority-weighted KPIs."""
OutcomeStatus = Literal["served", "partial", "unserved"]


@dataclass(frozen=True, slots=True)
class RouteStop:
    """One load or unload; via_links are the links travelled from the previous stop (or start).

    ``depot_id`` is the depot the cargo comes from and ``need_id`` the need it goes to, for
    transfer stops at a hub as for the others.
    """

    node_id: str
    action: StopAction
    depot_id: str | None
    need_id: str | None
    commodity: str
    quantity_kg: int
    arrival_s: int
    departure_s: int
    via_links: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class VehicleRoute:
    """The stops of one vehicle in order; end_s is the departure from its last stop."""

    vehicle_id: str
    stops: tuple[RouteStop, ...]
    distance_m: int
    end_s: int


@dataclass(frozen=True, slots=True)
class Allocation:
    """Kilograms of a need taken from a depot by a vehicle; eta_s is the unload arrival.

    ``vehicle_id`` is the vehicle that unloads at the need. For cargo carried by a multimodal
    chain, ``hub_node_id`` is the hub it went through and ``trunk_vehicle_id`` the vehicle
    that loaded it at the depot and brought it to the hub (both None for a direct delivery).
    """

    need_id: str
    depot_id: str
    vehicle_id: str
    quantity_kg: int
    eta_s: int
    hub_node_id: str | None = None
    trunk_vehicle_id: str | None = None


@dataclass(frozen=True, slots=True)
class NeedOutcome:
    """How much of a need the plan serves and, when short, the main reason in words."""

    need_id: str
    requested_kg: int
    served_kg: int
    status: OutcomeStatus
    reason: Reason | None
    detail: str


@dataclass(frozen=True, slots=True)
class PlanKpis:
    """Headline figures; the kg mappings are keyed by priority class.

    ``weighted_bound_kg`` is the physical limit (``bound.delivery_bound``): the largest
    priority-weighted mass (PRIORITY_WEIGHT x kg) any plan could deliver by the deadlines;
    ``served_fraction_of_bound`` is this plan's weighted served mass over it (1.0 when the
    limit is zero). Both are None only for plans built without the limit.
    """

    served_kg_by_priority: Mapping[str, int]
    requested_kg_by_priority: Mapping[str, int]
    fill_rate: float
    priority_weighted_fill: float
    vehicles_used: int
    distance_m: int
    objective: int
    weighted_bound_kg: int | None = None
    served_fraction_of_bound: float | None = None


@dataclass(frozen=True, slots=True)
class LogisticsPlan:
    """A complete answer; is_feasible is False when the solver found no solution at all."""

    routes: tuple[VehicleRoute, ...]
    allocations: tuple[Allocation, ...]
    outcomes: tuple[NeedOutcome, ...]
    kpis: PlanKpis
    is_feasible: bool
