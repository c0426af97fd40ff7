"""Greedy stock allocation by priority, split into vehicle-sized transport tasks."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from services.dispatch.routing.network import Network
from services.dispatch.routing.params import SolverParams
from services.dispatch.routing.plan import Reason
from services.dispatch.routing.problem import Depot, LogisticsProblem, Need, Priority, Vehicle

PRIORITY_RANK: dict[Priority, int] = {"life_saving": 0, "sustaining": 1, "routine": 2}


def need_order(need: Need) -> tuple[int, int, int, str]:
    """Sort key: priority class, then precedence (higher first), then deadline, then id."""
    return (PRIORITY_RANK[need.priority], -need.precedence, need.deadline_s, need.id)


def format_kg(kg: int) -> str:
    """Human quantity: kilograms below a tonne, tonnes above."""
    if kg < 1000:
        return f"{kg} kg"
    tonnes = kg / 1000
    return f"{tonnes:.0f} t" if kg % 1000 == 0 else f"{tonnes:.1f} t"


def format_clock(seconds: int) -> str:
    """Offset from now as +HhMM, for detail sentences."""
    hours, rest = divmod(max(seconds, 0), 3600)
    return f"+{hours}h{rest // 60:02d}"


@dataclass(frozen=True, slots=True)
class Leg:
    """Earliest delivery of a need by one vehicle via one depot."""

    vehicle_id: str
    eta_s: int


TaskLeg = Literal["direct", "trunk", "last"]


@dataclass(frozen=True, slots=True)
class Task:
    """One load-carry-unload job the router may schedule or drop; vehicle_ids may do it.

    A ``direct`` task goes from the depot to the need. A multimodal chain (``chains.py``) has
    ``trunk`` tasks, from the depot to the hub at ``hub_node`` to be unloaded by ``due_s``,
    and ``last`` tasks, from that hub (loaded no earlier than ``ready_s``) to the need; a last
    task carries on the cargo of the trunk task ``feeder_id``, brought by
    ``feeder_vehicle_id``. ``due_s`` None means the need's deadline.
    """

    id: str
    need_id: str
    depot_id: str
    commodity: str
    quantity_kg: int
    priority: Priority
    precedence: int
    vehicle_ids: tuple[str, ...]
    leg: TaskLeg = "direct"
    hub_node: str | None = None
    ready_s: int = 0
    due_s: int | None = None
    feeder_id: str | None = None
    feeder_vehicle_id: str | None = None


@dataclass(frozen=True, slots=True)
class Shortfall:
    """Kilograms of a need the allocation could not source, and why."""

    need_id: str
    missing_kg: int
    reason: Reason
    detail: str


@dataclass(frozen=True, slots=True)
class AllocationResult:
    """Tasks to route and the needs (or parts) that never reach the router."""

    tasks: tuple[Task, ...]
    shortfalls: tuple[Shortfall, ...]


class Allocator:
    """Holds the per-problem lookups shared by every need."""

    __slots__ = ("_network", "_params", "_problem", "_vehicles")

    def __init__(self, problem: LogisticsProblem, network: Network, params: SolverParams) -> None:
        self._problem = problem
        self._network = network
        self._params = params
        self._vehicles = tuple(
            v
            for v in sorted(problem.vehicles, key=lambda item: item.id)
            if network.is_usable(v.start_node)
        )

    def legs(self, vehicle: Vehicle, depot: Depot, need: Need) -> tuple[bool, Leg | None]:
        """(reachable at all, earliest in-time leg or None) for a vehicle via a depot."""
        to_depot = self._network.path(vehicle.mode, vehicle.start_node, depot.node_id)
        to_need = self._network.path(vehicle.mode, depot.node_id, need.node_id)
        if to_depot is None or to_need is None:
            return False, None
        handling = self._problem.handling_s
        drive = to_depot.travel_s(vehicle.speed_kmh) + to_need.travel_s(vehicle.speed_kmh)
        eta = vehicle.available_from_s + drive + handling
        if eta > need.deadline_s or drive + 2 * handling > vehicle.max_duty_s:
            return True, None
        return True, Leg(vehicle.id, eta)

    def run(self) -> AllocationResult:
        """Allocate stock to needs in priority order and cut allocations into tasks."""
        remaining: dict[str, dict[str, int]] = {
            d.id: dict(d.stock_kg) for d in self._problem.depots
        }
        depots = tuple(
            d
            for d in sorted(self._problem.depots, key=lambda item: item.id)
            if d.usable and self._network.is_usable(d.node_id)
        )
        capacity = {v.id: v.capacity_kg for v in self._vehicles}
        tasks: list[Task] = []
        shortfalls: list[Shortfall] = []
        for need in sorted(self._problem.needs, key=need_order):
            taken, shortfall = self._allocate(need, depots, remaining)
            if shortfall is not None:
                shortfalls.append(shortfall)
            for depot, kg, legs in taken:
                tasks.extend(self._split(need, depot, kg, legs, capacity))
        return AllocationResult(tuple(tasks), tuple(shortfalls))

    def _allocate(
        self,
        need: Need,
        depots: tuple[Depot, ...],
        remaining: dict[str, dict[str, int]],
    ) -> tuple[list[tuple[Depot, int, list[Leg]]], Shortfall | None]:
        def short(kg: int, reason: Reason, detail: str) -> Shortfall:
            return Shortfall(need.id, kg, reason, detail)

        quantity = need.quantity_kg
        if not self._network.is_usable(need.node_id):
            return [], short(quantity, "cut_off", f"destination {need.node_id} is lost")
        cleared = [v for v in self._vehicles if need.classification in v.clearance]
        if not cleared:
            return [], short(
                quantity,
                "no_cleared_vehicle",
                f"no vehicle is cleared for {need.classification} loads",
            )
        holders = [d for d in depots if d.stock_kg.get(need.commodity, 0) > 0]
        if not holders:
            return [], short(quantity, "no_stock", f"no usable depot holds {need.commodity}")
        timely: list[tuple[int, Depot, list[Leg]]] = []
        late_stock = 0
        cut_stock = 0
        earliest_late: int | None = None
        for depot in holders:
            reachable = False
            legs: list[Leg] = []
            for vehicle in cleared:
                can_reach, leg = self.legs(vehicle, depot, need)
                reachable = reachable or can_reach
                if leg is not None:
                    legs.append(leg)
            if legs:
                timely.append((min(leg.eta_s for leg in legs), depot, legs))
            elif reachable:
                late_stock += remaining[depot.id].get(need.commodity, 0)
                eta = self._fastest_ignoring_deadline(cleared, depot, need)
                earliest_late = eta if earliest_late is None else min(earliest_late, eta)
            else:
                cut_stock += remaining[depot.id].get(need.commodity, 0)
        if not timely:
            if earliest_late is not None:
                return [], short(
                    quantity,
                    "deadline_unreachable",
                    f"earliest possible arrival {format_clock(earliest_late)} is after "
                    f"the deadline {format_clock(need.deadline_s)}",
                )
            return [], short(
                quantity, "cut_off", f"no open route from any depot holding {need.commodity}"
            )
        timely.sort(key=lambda item: (item[0], item[1].id))
        taken: list[tuple[Depot, int, list[Leg]]] = []
        left = quantity
        displaced = False
        for _, depot, legs in timely:
            stock = remaining[depot.id]
            have = stock.get(need.commodity, 0)
            if have < depot.stock_kg.get(need.commodity, 0):
                displaced = True
            kg = min(have, left)
            if kg <= 0:
                continue
            stock[need.commodity] = have - kg
            left -= kg
            taken.append((depot, kg, legs))
            if left == 0:
                return taken, None
        got = format_kg(quantity - left)
        if displaced:
            reason: Reason = "displaced_by_higher_priority"
            text = f"{need.commodity} stock in reach was taken by higher-priority needs"
        elif late_stock > 0:
            reason, text = (
                "deadline_unreachable",
                f"more {need.commodity} exists but cannot arrive by the deadline",
            )
        elif cut_stock > 0:
            reason, text = "cut_off", f"more {need.commodity} exists but is cut off"
        else:
            reason, text = "no_stock", f"only {got} of {need.commodity} is held in usable depots"
        return taken, short(left, reason, text)

    def _fastest_ignoring_deadline(self, cleared: list[Vehicle], depot: Depot, need: Need) -> int:
        best: int | None = None
        for vehicle in cleared:
            to_depot = self._network.path(vehicle.mode, vehicle.start_node, depot.node_id)
            to_need = self._network.path(vehicle.mode, depot.node_id, need.node_id)
            if to_depot is None or to_need is None:
                continue
            eta = (
                vehicle.available_from_s
                + to_depot.travel_s(vehicle.speed_kmh)
                + self._problem.handling_s
                + to_need.travel_s(vehicle.speed_kmh)
            )
            best = eta if best is None else min(best, eta)
        return best if best is not None else need.deadline_s + 1

    def _split(
        self,
        need: Need,
        depot: Depot,
        kg: int,
        legs: list[Leg],
        capacity: dict[str, int],
    ) -> list[Task]:
        size = max(capacity[leg.vehicle_id] for leg in legs)
        if self._params.max_task_kg is not None:
            size = min(size, self._params.max_task_kg)
        chunks = [size] * (kg // size) + ([kg % size] if kg % size else [])
        tasks: list[Task] = []
        for number, chunk in enumerate(chunks, start=1):
            able = tuple(
                sorted(leg.vehicle_id for leg in legs if capacity[leg.vehicle_id] >= chunk)
            )
            tasks.append(
                Task(
                    id=f"{need.id}@{depot.id}#{number}",
                    need_id=need.id,
                    depot_id=depot.id,
                    commodity=need.commodity,
                    quantity_kg=chunk,
                    priority=need.priority,
                    precedence=need.precedence,
                    vehicle_ids=able,
                )
            )
        return tasks


def allocate(problem: LogisticsProblem, network: Network, params: SolverParams) -> AllocationResult:
    """Run the allocation stage.

    Needs are served in ``need_order``; each takes its commodity greedily from usable depots
    that some cleared vehicle can reach in time, fastest first. Shortfall reasons, first match
    wins: destination lost -> cut_off; no cleared vehicle -> no_cleared_vehicle; no usable depot
    holds the commodity -> no_stock; no depot in reach in time -> deadline_unreachable if one is
    reachable late, else cut_off. When depots in time run dry: displaced_by_higher_priority if
    earlier needs drew on them, else deadline_unreachable / cut_off if stock exists out of reach,
    else no_stock.
    """
    return Allocator(problem, network, params).run()


def merge_shortfalls(shortfalls: Sequence[Shortfall]) -> list[Shortfall]:
    """One shortfall per need: kilograms add up, the reason behind the most kg names it."""
    by_need: dict[str, list[Shortfall]] = defaultdict(list)
    for s in shortfalls:
        by_need[s.need_id].append(s)
    merged: list[Shortfall] = []
    for need_id in sorted(by_need):
        items = by_need[need_id]
        main = max(items, key=lambda s: s.missing_kg)  # the first of equals wins
        merged.append(replace(main, missing_kg=sum(s.missing_kg for s in items)))
    return merged
