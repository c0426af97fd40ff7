"""Input model of the routing core: network, depots, needs and fleet, validated on construction."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal, get_args

Mode = Literal["road", "rail", "water", "air"]
Priority = Literal["life_saving", "sustaining", "routine"]
Owner = Literal["civil", "military"]
Classification = Literal["public", "restricted", "military"]
LinkState = Literal["open", "degraded", "closed"]

MODES: tuple[Mode, ...] = get_args(Mode)
PRIORITIES: tuple[Priority, ...] = get_args(Priority)
OWNERS: tuple[Owner, ...] = get_args(Owner)
CLASSIFICATIONS: tuple[Classification, ...] = get_args(Classification)
LINK_STATES: tuple[LinkState, ...] = get_args(LinkState)
TRUNK_MODES: frozenset[Mode] = frozenset({"rail", "water", "air"})
"""Modes of a multimodal chain's trunk leg, from a depot to a hub."""
LAST_MODES: frozenset[Mode] = frozenset({"road"})
"""Modes of a multimodal chain's last leg, from a hub to the need."""


class FrozenMap(Mapping[str, int]):
    """Immutable, hashable str -> int mapping, iterated in key order."""

    __slots__ = ("_data", "_items")

    def __init__(self, data: Mapping[str, int] | None = None) -> None:
        items = tuple(sorted((data or {}).items()))
        self._items: tuple[tuple[str, int], ...] = items
        self._data: dict[str, int] = dict(items)

    def __getitem__(self, key: str) -> int:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FrozenMap):
            return self._items == other._items
        if isinstance(other, Mapping):
            return self._data == dict(other.items())
        return NotImplemented

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _check_id(kind: str, ident: str) -> None:
    _require(
        isinstance(ident, str) and ident.strip() != "",
        f"{kind} {ident!r}: id must be a non-empty string",
    )


@dataclass(frozen=True, slots=True)
class Node:
    """A place; an unusable (lost) node cannot be crossed, loaded at or delivered to."""

    id: str
    name: str
    lat: float
    lon: float
    usable: bool = True

    def __post_init__(self) -> None:
        _check_id("node", self.id)
        _require(-90.0 <= self.lat <= 90.0, f"node {self.id}: lat must be within [-90, 90]")
        _require(-180.0 <= self.lon <= 180.0, f"node {self.id}: lon must be within [-180, 180]")


@dataclass(frozen=True, slots=True)
class Link:
    """An undirected connection of one mode; degraded links are slower, closed ones unused."""

    id: str
    a: str
    b: str
    mode: Mode
    length_m: int
    state: LinkState = "open"
    speed_factor: float = 1.0

    def __post_init__(self) -> None:
        _check_id("link", self.id)
        _require(self.mode in MODES, f"link {self.id}: unknown mode {self.mode!r}")
        _require(self.state in LINK_STATES, f"link {self.id}: unknown state {self.state!r}")
        _require(self.a != self.b, f"link {self.id}: a and b must differ")
        _require(self.length_m >= 0, f"link {self.id}: length_m must be >= 0")
        _require(
            math.isfinite(self.speed_factor) and 0.0 < self.speed_factor <= 1.0,
            f"link {self.id}: speed_factor must be in (0, 1]",
        )


@dataclass(frozen=True, slots=True)
class Depot:
    """A stock point at a node; stock_kg maps commodity to available kilograms."""

    id: str
    node_id: str
    owner: Owner
    stock_kg: Mapping[str, int]
    usable: bool = True

    def __post_init__(self) -> None:
        _check_id("depot", self.id)
        _require(self.owner in OWNERS, f"depot {self.id}: unknown owner {self.owner!r}")
        for commodity, kg in self.stock_kg.items():
            _require(kg >= 0, f"depot {self.id}: stock of {commodity} must be >= 0")
        # Frozen and hashable so a depot can be a dict key or compared by value.
        object.__setattr__(self, "stock_kg", FrozenMap(self.stock_kg))


@dataclass(frozen=True, slots=True)
class Need:
    """A demand for one commodity at a node, due deadline_s seconds after time zero."""

    id: str
    node_id: str
    commodity: str
    quantity_kg: int
    priority: Priority
    deadline_s: int
    classification: Classification = "public"
    precedence: int = 0

    def __post_init__(self) -> None:
        _check_id("need", self.id)
        _require(self.quantity_kg > 0, f"need {self.id}: quantity_kg must be > 0")
        _require(self.priority in PRIORITIES, f"need {self.id}: unknown priority {self.priority!r}")
        _require(
            self.classification in CLASSIFICATIONS,
            f"need {self.id}: unknown classification {self.classification!r}",
        )
        _require(self.commodity.strip() != "", f"need {self.id}: commodity must be non-empty")


def _default_clearance() -> frozenset[Classification]:
    return frozenset({"public", "restricted"})


@dataclass(frozen=True, slots=True)
class Vehicle:
    """A vehicle of one mode; it may carry a need only if the need's classification is cleared."""

    id: str
    mode: Mode
    capacity_kg: int
    speed_kmh: float
    start_node: str
    owner: Owner
    cost_per_km: float = 1.0
    fixed_cost: float = 0.0
    max_duty_s: int = 24 * 3600
    available_from_s: int = 0
    clearance: frozenset[Classification] = field(default_factory=_default_clearance)

    def __post_init__(self) -> None:
        _check_id("vehicle", self.id)
        _require(self.mode in MODES, f"vehicle {self.id}: unknown mode {self.mode!r}")
        _require(self.owner in OWNERS, f"vehicle {self.id}: unknown owner {self.owner!r}")
        _require(self.capacity_kg > 0, f"vehicle {self.id}: capacity_kg must be > 0")
        _require(
            math.isfinite(self.speed_kmh) and self.speed_kmh > 0,
            f"vehicle {self.id}: speed_kmh must be > 0",
        )
        _require(
            math.isfinite(self.cost_per_km) and self.cost_per_km >= 0,
            f"vehicle {self.id}: cost_per_km must be >= 0",
        )
        _require(
            math.isfinite(self.fixed_cost) and self.fixed_cost >= 0,
            f"vehicle {self.id}: fixed_cost must be >= 0",
        )
        _require(self.max_duty_s > 0, f"vehicle {self.id}: max_duty_s must be > 0")
        _require(self.available_from_s >= 0, f"vehicle {self.id}: available_from_s must be >= 0")
        unknown = set(self.clearance) - set(CLASSIFICATIONS)
        _require(not unknown, f"vehicle {self.id}: unknown clearance {sorted(unknown)}")
        object.__setattr__(self, "clearance", frozenset(self.clearance))


def _check_unique(kind: str, ids: list[str]) -> None:
    seen: set[str] = set()
    for ident in ids:
        _require(ident not in seen, f"{kind} {ident}: duplicate id")
        seen.add(ident)


@dataclass(frozen=True, slots=True)
class PreviousLeg:
    """What the plan in force has a vehicle carry from a depot to a need, not yet dispatched.

    Re-planning starts its search from these legs (warm start) and charges ``churn_cost_per_t``
    for every tonne of a need the new plan moves to another vehicle or depot.
    """

    vehicle_id: str
    need_id: str
    depot_id: str
    quantity_kg: int

    def __post_init__(self) -> None:
        _require(
            self.quantity_kg > 0,
            f"previous leg {self.vehicle_id}/{self.need_id}: quantity_kg must be > 0",
        )


@dataclass(frozen=True, slots=True)
class Hub:
    """A transshipment point at a node: cargo one vehicle unloads here another may load.

    ``transfer_s`` is the time between the end of the unloading (arrival + ``handling_s``)
    and the moment the cargo can be loaded onto the next vehicle. ``throughput_kg`` is the
    most the hub can transship over the whole planning horizon (kilograms unloaded here to
    be carried on; a limit over the plan, not a rate); 0 closes it, None means no limit.
    """

    node_id: str
    transfer_s: int
    throughput_kg: int | None = None

    def __post_init__(self) -> None:
        _check_id("hub", self.node_id)
        _require(self.transfer_s >= 0, f"hub {self.node_id}: transfer_s must be >= 0")
        _require(
            self.throughput_kg is None or self.throughput_kg >= 0,
            f"hub {self.node_id}: throughput_kg must be >= 0",
        )


@dataclass(frozen=True, slots=True)
class LogisticsProblem:
    """Everything the planner needs; time zero is now, handling_s is load/unload time per stop.

    ``previous`` are the legs of the plan in force that are not yet dispatched, in the order
    their vehicles would drive them (legs of vehicles, needs or depots no longer in the problem
    are ignored); ``churn_cost_per_t`` (in the currency of ``cost_per_km``) is what changing
    the vehicle or depot of one tonne of such a need costs the new plan.

    ``hubs`` are the transshipment points multimodal chains may use (``chains.py``): a trunk
    leg by rail, water or air from a depot to a hub, then a road leg from the hub to the need.
    Without hubs the planner plans exactly as before they existed.
    """

    nodes: tuple[Node, ...]
    links: tuple[Link, ...]
    depots: tuple[Depot, ...]
    needs: tuple[Need, ...]
    vehicles: tuple[Vehicle, ...]
    handling_s: int = 1800
    previous: tuple[PreviousLeg, ...] = ()
    churn_cost_per_t: float = 0.0
    hubs: tuple[Hub, ...] = ()

    def __post_init__(self) -> None:
        for name in ("nodes", "links", "depots", "needs", "vehicles", "previous", "hubs"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        _check_unique("node", [n.id for n in self.nodes])
        _check_unique("link", [link.id for link in self.links])
        _check_unique("depot", [d.id for d in self.depots])
        _check_unique("need", [n.id for n in self.needs])
        _check_unique("vehicle", [v.id for v in self.vehicles])
        _check_unique("hub", [h.node_id for h in self.hubs])
        _require(self.handling_s >= 0, "problem: handling_s must be >= 0")
        _require(
            math.isfinite(self.churn_cost_per_t) and self.churn_cost_per_t >= 0,
            "problem: churn_cost_per_t must be >= 0",
        )
        known = {n.id for n in self.nodes}
        for link in self.links:
            for end in (link.a, link.b):
                _require(end in known, f"link {link.id}: unknown node {end}")
        for depot in self.depots:
            _require(depot.node_id in known, f"depot {depot.id}: unknown node {depot.node_id}")
        for need in self.needs:
            _require(need.node_id in known, f"need {need.id}: unknown node {need.node_id}")
            _require(need.deadline_s > 0, f"need {need.id}: deadline is not after now")
        for vehicle in self.vehicles:
            _require(
                vehicle.start_node in known,
                f"vehicle {vehicle.id}: unknown start node {vehicle.start_node}",
            )
        for hub in self.hubs:
            _require(hub.node_id in known, f"hub {hub.node_id}: unknown node {hub.node_id}")
