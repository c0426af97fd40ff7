"""The routing model shared by both planning paths: tasks -> RoutingProblem -> LogisticsPlan.

``build_routing`` numbers vehicle starts, one shared open end and a (pickup, delivery) node
pair per task, and fills the per-class matrices from a path source (``Network`` or
``FastNetwork``); ``assemble`` turns one or several solved parts (the whole problem, or one
part per cluster in the decomposed path) into a plan with a reason for every shortfall.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from services.dispatch.routing.allocation import (
    PRIORITY_RANK,
    AllocationResult,
    Shortfall,
    Task,
    format_kg,
)
from services.dispatch.routing.bound import DeliveryBound
from services.dispatch.routing.network import Path
from services.dispatch.routing.ortools_solver import Matrix, RoutingProblem, RoutingSolution
from services.dispatch.routing.plan import (
    PRIORITY_WEIGHT,
    Allocation,
    LogisticsPlan,
    NeedOutcome,
    OutcomeStatus,
    PlanKpis,
    Reason,
    RouteStop,
    StopAction,
    VehicleRoute,
)
from services.dispatch.routing.problem import (
    PRIORITIES,
    Depot,
    FrozenMap,
    LogisticsProblem,
    Mode,
    Need,
    PreviousLeg,
    Vehicle,
)

# Arc and fixed costs are in cents so that fractional cost_per_km survives integer arithmetic.
_CENTS = 100
_UNREACHABLE_COST = 10**9
# One precedence level is worth as much as this many tonnes of the same priority class.
_PRECEDENCE_TONNES = 100


class PathSource(Protocol):
    """What the model needs of a network: usable nodes, legs (lengths) and paths (links)."""

    def is_usable(self, node_id: str) -> bool: ...

    def leg(self, mode: Mode, source: str, target: str) -> Path | None: ...

    def path(self, mode: Mode, source: str, target: str) -> Path | None: ...


@dataclass(frozen=True, slots=True)
class Layout:
    """Node numbering of the routing model: vehicle starts, one shared open end, task pairs."""

    vehicles: tuple[Vehicle, ...]
    tasks: tuple[Task, ...]

    @property
    def end(self) -> int:
        return len(self.vehicles)

    def pickup(self, task: int) -> int:
        return len(self.vehicles) + 1 + 2 * task

    def delivery(self, task: int) -> int:
        return len(self.vehicles) + 2 + 2 * task

    def task_of(self, node: int) -> tuple[int, bool]:
        """(task number, is pickup) of a task node."""
        offset = node - len(self.vehicles) - 1
        return offset // 2, offset % 2 == 0


@dataclass(frozen=True, slots=True)
class Frame:
    """What every routing model of a set of tasks shares, whoever fills its matrices."""

    layout: Layout
    horizon: int
    locations: list[str | None]
    windows: list[tuple[int, int]]
    demands: list[int]
    time_classes: dict[tuple[Mode, float], int]
    cost_classes: dict[tuple[Mode, float], int]


def task_places(
    task: Task, depots: Mapping[str, Depot], needs: Mapping[str, Need]
) -> tuple[str, str]:
    """(pickup node, delivery node) of a task: the depot's and the need's, or the hub's for
    the delivery of a trunk task and the pickup of a last-leg task."""
    pickup = (
        task.hub_node if task.leg == "last" and task.hub_node else depots[task.depot_id].node_id
    )
    delivery = (
        task.hub_node if task.leg == "trunk" and task.hub_node else needs[task.need_id].node_id
    )
    return pickup, delivery


def stop_action(task: Task, is_pickup: bool) -> StopAction:
    """The plan's action for a task's pickup or delivery (transfer stops at hubs for chains)."""
    if is_pickup:
        return "transfer_load" if task.leg == "last" else "load"
    return "transfer_unload" if task.leg == "trunk" else "unload"


def frame(problem: LogisticsProblem, tasks: Sequence[Task]) -> tuple[Layout, Frame | None]:
    """Nodes (vehicle starts, the shared end, then pickup and delivery per task), windows,
    demands and vehicle classes of the tasks some vehicle may carry (None: nothing to route)."""
    needed = {vehicle_id for task in tasks for vehicle_id in task.vehicle_ids}
    vehicles = tuple(
        v for v in sorted(problem.vehicles, key=lambda item: item.id) if v.id in needed
    )
    kept = tuple(task for task in tasks if task.vehicle_ids)
    layout = Layout(vehicles, kept)
    if not vehicles or not kept:
        return layout, None
    needs = {need.id: need for need in problem.needs}
    depots = {depot.id: depot for depot in problem.depots}
    horizon = 1 + max(
        max(needs[t.need_id].deadline_s for t in kept),
        max(v.available_from_s + v.max_duty_s for v in vehicles),
    )

    locations: list[str | None] = [v.start_node for v in vehicles] + [None]
    windows: list[tuple[int, int]] = [(v.available_from_s, horizon) for v in vehicles] + [
        (0, horizon)
    ]
    demands = [0] * (len(vehicles) + 1)
    for task in kept:
        locations += list(task_places(task, depots, needs))
        due = needs[task.need_id].deadline_s if task.due_s is None else task.due_s
        windows += [(task.ready_s, horizon), (0, due)]
        demands += [task.quantity_kg, -task.quantity_kg]

    time_classes: dict[tuple[Mode, float], int] = {}
    cost_classes: dict[tuple[Mode, float], int] = {}
    for v in vehicles:
        time_classes.setdefault((v.mode, v.speed_kmh), len(time_classes))
        cost_classes.setdefault((v.mode, v.cost_per_km), len(cost_classes))
    return layout, Frame(layout, horizon, locations, windows, demands, time_classes, cost_classes)


def finish(
    f: Frame,
    time_matrices: tuple[Matrix, ...],
    distance_matrices: tuple[Matrix, ...],
    cost_matrices: tuple[Matrix, ...],
    worst_arc: Sequence[int],
    previous: Sequence[PreviousLeg] = (),
    churn_cost_per_t: float = 0.0,
) -> RoutingProblem:
    """The routing problem from a frame and its matrices; ``worst_arc`` is the dearest
    reachable arc per cost class (it sets the floor of the drop penalties). ``previous`` and
    ``churn_cost_per_t``: see ``churn_costs``."""
    vehicles, tasks = f.layout.vehicles, f.layout.tasks
    fixed = tuple(round(v.fixed_cost * _CENTS) for v in vehicles)
    cost_class_of = tuple(f.cost_classes[(v.mode, v.cost_per_km)] for v in vehicles)
    floor = 1 + max(fixed[i] + 3 * worst_arc[cost_class_of[i]] for i in range(len(vehicles)))
    penalties: list[int | None] = [None] * (len(vehicles) + 1)
    for value in drop_penalties(tasks, floor):
        penalties += [value, None]

    vehicle_index = {v.id: i for i, v in enumerate(vehicles)}
    allowed: list[tuple[int, ...] | None] = [None] * (len(vehicles) + 1)
    for task in tasks:
        able = tuple(vehicle_index[vid] for vid in task.vehicle_ids)
        allowed += [able, able]

    return RoutingProblem(
        time_matrices=time_matrices,
        distance_matrices=distance_matrices,
        cost_matrices=cost_matrices,
        vehicle_class=tuple(f.time_classes[(v.mode, v.speed_kmh)] for v in vehicles),
        vehicle_cost_class=cost_class_of,
        vehicle_starts=tuple(range(len(vehicles))),
        vehicle_ends=tuple(f.layout.end for _ in vehicles),
        vehicle_capacities=tuple(v.capacity_kg for v in vehicles),
        vehicle_fixed_costs=fixed,
        vehicle_max_span=tuple(v.max_duty_s for v in vehicles),
        demands=tuple(f.demands),
        time_windows=tuple(f.windows),
        service_times=(0,) * len(f.demands),
        pickups_deliveries=tuple(
            (f.layout.pickup(i), f.layout.delivery(i)) for i in range(len(tasks))
        ),
        penalties=tuple(penalties),
        allowed_vehicles=tuple(allowed),
        horizon=f.horizon,
        vehicle_visit_costs=churn_costs(
            f.layout, len(f.demands), previous, churn_cost_per_t, cap=floor // 2
        ),
    )


def churn_costs(
    layout: Layout,
    num_nodes: int,
    previous: Sequence[PreviousLeg],
    churn_cost_per_t: float,
    cap: int,
) -> tuple[tuple[int, ...], ...]:
    """Per vehicle, the cost of visiting each pickup: the churn of taking that task.

    A task of a need that the plan in force already serves costs ``churn_cost_per_t`` per
    tonne on any vehicle that did not have that (need, depot) leg. Capped at ``cap`` (half
    the smallest drop penalty), so keeping a plan never outweighs serving demand. Empty when
    nothing is charged, which leaves the model exactly as without a previous plan.
    """
    if not previous or churn_cost_per_t <= 0:
        return ()
    had: dict[tuple[str, str], set[str]] = defaultdict(set)
    for leg in previous:
        had[(leg.need_id, leg.depot_id)].add(leg.vehicle_id)
    served = {need_id for need_id, _ in had}
    charged = [
        (
            layout.pickup(k),
            task,
            min(cap, round(churn_cost_per_t * _CENTS * task.quantity_kg / 1000)),
        )
        for k, task in enumerate(layout.tasks)
        if task.need_id in served
    ]
    if not any(cost for _, _, cost in charged):
        return ()
    rows: list[tuple[int, ...]] = []
    for vehicle in layout.vehicles:
        row = [0] * num_nodes
        for node, task, cost in charged:
            if vehicle.id not in had.get((task.need_id, task.depot_id), set()):
                row[node] = cost
        rows.append(tuple(row))
    return tuple(rows)


def warm_start(layout: Layout, previous: Sequence[PreviousLeg]) -> list[list[int]] | None:
    """Initial routes from the plan in force: each previous leg, in order, on its vehicle.

    A leg takes one task of the same need and depot that its vehicle may carry (each task
    once). None when no leg matches; the solver falls back to its first-solution strategy if
    OR-Tools finds the routes infeasible (a link cut since, a window that moved).
    """
    if not previous:
        return None
    index = {v.id: i for i, v in enumerate(layout.vehicles)}
    routes: list[list[int]] = [[] for _ in layout.vehicles]
    free: dict[tuple[str, str], list[int]] = defaultdict(list)
    for k, task in enumerate(layout.tasks):
        free[(task.need_id, task.depot_id)].append(k)
    for leg in previous:
        vehicle = index.get(leg.vehicle_id)
        if vehicle is None:
            continue
        candidates = free.get((leg.need_id, leg.depot_id), [])
        for k in candidates:
            if leg.vehicle_id in layout.tasks[k].vehicle_ids:
                candidates.remove(k)
                routes[vehicle] += [layout.pickup(k), layout.delivery(k)]
                break
    return routes if any(routes) else None


def build_routing(
    problem: LogisticsProblem, network: PathSource, allocation: AllocationResult
) -> tuple[Layout, RoutingProblem | None]:
    """The routing model of the allocation's tasks that some vehicle may carry (None: nothing)."""
    layout, f = frame(problem, allocation.tasks)
    if f is None:
        return layout, None
    locations, horizon = f.locations, f.horizon

    # Many locations share a place (the tasks of one need, the vehicles of one base): legs
    # are looked up once per pair of places, and the matrices built with numpy from them.
    places = sorted({loc for loc in locations if loc is not None})
    slot = {place: k for k, place in enumerate(places)}
    none_slot = len(places)  # the route ends: free to and from everywhere
    at = np.array([none_slot if loc is None else slot[loc] for loc in locations])
    size = len(places) + 1
    first_task_node = len(layout.vehicles) + 1
    leaving = (np.arange(len(locations)) >= first_task_node)[:, None] & (at[:, None] != at)
    tables: dict[Mode, tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64], npt.NDArray[np.float64]]]
    tables = {}
    for mode in {v.mode for v in layout.vehicles}:
        reach = np.ones((size, size), dtype=np.bool_)
        length = np.zeros((size, size), dtype=np.int64)
        effective = np.zeros((size, size), dtype=np.float64)
        for a, source in enumerate(places):
            for b, target in enumerate(places):
                path = network.leg(mode, source, target)
                if path is None:
                    reach[a, b] = False
                else:
                    length[a, b], effective[a, b] = path.length_m, path.effective_m
        cells = np.ix_(at, at)
        tables[mode] = (reach[cells], length[cells], effective[cells])

    def grid(mode: Mode, unreachable: int, measure: str, factor: float) -> Matrix:
        reach, length, effective = tables[mode]
        if measure == "time":
            # As Path.travel_s, cell by cell. Handling is paid once per visit to a place, not
            # once per task there, so it rides on the arc that leaves the place (service
            # times stay zero).
            values = np.ceil(effective * 3.6 / factor - 1e-9).astype(np.int64)
            values += np.where(leaving, problem.handling_s, 0)
        elif measure == "distance":
            values = length
        else:
            values = np.rint(length * factor * _CENTS / 1000).astype(np.int64)
        return tuple(map(tuple, np.where(reach, values, unreachable).tolist()))

    time_matrices = tuple(grid(mode, horizon + 1, "time", speed) for mode, speed in f.time_classes)
    distance_matrices = tuple(grid(mode, 0, "distance", 0.0) for mode, _ in f.time_classes)
    cost_matrices = tuple(
        grid(mode, _UNREACHABLE_COST, "cost", rate) for mode, rate in f.cost_classes
    )
    worst = [
        max((c for row in m for c in row if c < _UNREACHABLE_COST), default=0)
        for m in cost_matrices
    ]
    return layout, finish(
        f,
        time_matrices,
        distance_matrices,
        cost_matrices,
        worst,
        problem.previous,
        problem.churn_cost_per_t,
    )


def drop_penalties(tasks: tuple[Task, ...], floor: int) -> list[int]:
    """Drop penalties that make the solver sacrifice the least important tasks first.

    Each task costs at least ``floor`` (more than any one task can add to route costs) plus
    ``floor`` per tonne and per precedence level (x100 t). A task of a priority class also
    costs more than all tasks of the lower classes together, so dropping one life-saving task
    is never traded for serving any number of sustaining or routine ones.
    """
    lowest = min((t.precedence for t in tasks), default=0)
    values = [0] * len(tasks)
    lower_total = 0
    for priority in reversed(PRIORITIES):
        tier_total = 0
        for i, task in enumerate(tasks):
            if task.priority != priority:
                continue
            weight = task.quantity_kg // 1000 + _PRECEDENCE_TONNES * (task.precedence - lowest)
            values[i] = floor + lower_total + floor * weight
            tier_total += values[i]
        lower_total += tier_total
    return values


@dataclass(frozen=True, slots=True)
class Part:
    """One solved routing model: its node layout and the solver's answer.

    ``handed_on`` are task numbers the solution left out that a later part plans again (the
    decomposed path's later rounds): their outcome is that part's, so no reason comes from
    this one.
    """

    layout: Layout
    solution: RoutingSolution
    handed_on: frozenset[int] = frozenset()


def assemble(
    problem: LogisticsProblem,
    network: PathSource,
    shortfalls: Iterable[Shortfall],
    parts: Sequence[Part],
    bound: DeliveryBound | None = None,
) -> LogisticsPlan:
    """The plan of solved parts: routes, allocations, one outcome per need, KPIs.

    ``shortfalls`` are what the allocation could not source; tasks a part left out get
    ``dropped_reasons``. The plan is feasible when every part found a solution.
    """
    needs = {need.id: need for need in problem.needs}
    depots = {depot.id: depot for depot in problem.depots}
    served_by_part: list[dict[int, tuple[str, int]]] = []
    trunked_by_part: list[dict[int, tuple[str, int]]] = []  # trunk legs unloaded at a hub
    routes: list[VehicleRoute] = []
    route_of: dict[str, int] = {}
    for part in parts:
        layout, solution = part.layout, part.solution
        served_tasks: dict[int, tuple[str, int]] = {}
        served_by_part.append(served_tasks)
        trunked: dict[int, tuple[str, int]] = {}
        trunked_by_part.append(trunked)
        for solved in solution.routes:
            vehicle = layout.vehicles[solved.vehicle]
            stops: list[RouteStop] = []
            here = vehicle.start_node
            distance = 0
            for node, arrival in zip(solved.nodes[1:-1], solved.arrivals[1:-1], strict=True):
                number, is_pickup = layout.task_of(node)
                task = layout.tasks[number]
                target = task_places(task, depots, needs)[0 if is_pickup else 1]
                path = network.path(vehicle.mode, here, target)
                if path is None:  # pragma: no cover - the solver only uses reachable arcs
                    raise RuntimeError(f"vehicle {vehicle.id}: no path {here}->{target}")
                distance += path.length_m
                here = target
                stops.append(
                    RouteStop(
                        node_id=target,
                        action=stop_action(task, is_pickup),
                        depot_id=task.depot_id,
                        need_id=task.need_id,
                        commodity=task.commodity,
                        quantity_kg=task.quantity_kg,
                        arrival_s=arrival,
                        departure_s=arrival + problem.handling_s,
                        via_links=path.links,
                    )
                )
                if not is_pickup:
                    (trunked if task.leg == "trunk" else served_tasks)[number] = (
                        vehicle.id,
                        arrival,
                    )
            if not stops:
                continue
            if vehicle.id in route_of:
                # A later stage of the same vehicle (multimodal chains): it carries on from
                # where and when its earlier route ended.
                k = route_of[vehicle.id]
                before = routes[k]
                routes[k] = VehicleRoute(
                    vehicle.id,
                    before.stops + tuple(stops),
                    before.distance_m + distance,
                    stops[-1].departure_s,
                )
            else:
                route_of[vehicle.id] = len(routes)
                routes.append(
                    VehicleRoute(vehicle.id, tuple(stops), distance, stops[-1].departure_s)
                )

    merged: dict[tuple[str, str, str, str, str], tuple[int, int]] = {}
    served_kg: dict[str, int] = defaultdict(int)
    dropped: defaultdict[str, list[tuple[int, Reason, str]]] = defaultdict(list)
    for part, served_tasks, trunked in zip(parts, served_by_part, trunked_by_part, strict=True):
        for number, (vehicle_id, eta) in served_tasks.items():
            task = part.layout.tasks[number]
            key = (
                task.need_id,
                task.depot_id,
                vehicle_id,
                task.hub_node or "",
                task.feeder_vehicle_id or "",
            )
            kg, latest = merged.get(key, (0, 0))
            merged[key] = (kg + task.quantity_kg, max(latest, eta))
            served_kg[task.need_id] += task.quantity_kg
        for need_id, reasons in dropped_reasons(
            part.layout, served_tasks | trunked, part.solution.found, part.handed_on
        ).items():
            dropped[need_id].extend(reasons)
    allocations = tuple(
        Allocation(need_id, depot_id, vehicle_id, kg, eta, hub or None, trunk or None)
        for (need_id, depot_id, vehicle_id, hub, trunk), (kg, eta) in sorted(merged.items())
    )
    by_need = {s.need_id: s for s in shortfalls}
    outcomes = tuple(
        outcome(
            need_id,
            needs[need_id].quantity_kg,
            served_kg[need_id],
            by_need.get(need_id),
            dropped[need_id],
        )
        for need_id in sorted(needs)
    )
    return LogisticsPlan(
        routes=tuple(sorted(routes, key=lambda r: r.vehicle_id)),
        allocations=allocations,
        outcomes=outcomes,
        kpis=kpis(problem, outcomes, routes, sum(p.solution.objective for p in parts), bound),
        is_feasible=all(p.solution.found for p in parts),
    )


def dropped_reasons(
    layout: Layout,
    served_tasks: dict[int, tuple[str, int]],
    found: bool,
    handed_on: frozenset[int] = frozenset(),
) -> defaultdict[str, list[tuple[int, Reason, str]]]:
    """Reasons for tasks the router left out; ``served_tasks`` are the tasks it performed
    (trunk legs of chains included), by vehicle and unload arrival. Tasks ``handed_on`` to
    another part get none here.

    Rule: if a vehicle allowed to carry the task serves a task of a strictly higher priority
    class, the task was displaced_by_higher_priority; otherwise no vehicle could fit it in
    (capacity, duty or deadline): no_transport_capacity. Tasks of multimodal chains are left
    to ``chains.py``, which knows what became of the cargo between the legs.
    """
    best_rank_by_vehicle: dict[str, int] = {}
    for number, (vehicle_id, _) in served_tasks.items():
        rank = PRIORITY_RANK[layout.tasks[number].priority]
        best_rank_by_vehicle[vehicle_id] = min(rank, best_rank_by_vehicle.get(vehicle_id, rank))
    result: defaultdict[str, list[tuple[int, Reason, str]]] = defaultdict(list)
    for number, task in enumerate(layout.tasks):
        if number in served_tasks or number in handed_on or task.leg != "direct":
            continue  # chain tasks left out are explained by chains.py's shortfalls
        rank = PRIORITY_RANK[task.priority]
        busy = [v for v in task.vehicle_ids if best_rank_by_vehicle.get(v, rank) < rank]
        if busy and found:
            result[task.need_id].append(
                (
                    task.quantity_kg,
                    "displaced_by_higher_priority",
                    "vehicles were taken by higher-priority needs",
                )
            )
        else:
            text = "no vehicle capacity left in time" if found else "the solver found no plan"
            result[task.need_id].append((task.quantity_kg, "no_transport_capacity", text))
    return result


def outcome(
    need_id: str,
    requested: int,
    served: int,
    shortfall: Shortfall | None,
    dropped: list[tuple[int, Reason, str]],
) -> NeedOutcome:
    amount = f"{format_kg(served)} of {format_kg(requested)}"
    if served >= requested:
        return NeedOutcome(need_id, requested, served, "served", None, f"{amount} served")
    by_reason: dict[Reason, tuple[int, str]] = {}
    if shortfall is not None:
        by_reason[shortfall.reason] = (shortfall.missing_kg, shortfall.detail)
    for kg, reason, text in dropped:
        before, known_text = by_reason.get(reason, (0, text))
        by_reason[reason] = (before + kg, known_text)
    # The reason behind the most missing kilograms wins; insertion order breaks ties.
    reason, (_, text) = max(by_reason.items(), key=lambda item: item[1][0])
    status: OutcomeStatus = "partial" if served > 0 else "unserved"
    return NeedOutcome(need_id, requested, served, status, reason, f"{amount}: {text}")


def kpis(
    problem: LogisticsProblem,
    outcomes: tuple[NeedOutcome, ...],
    routes: list[VehicleRoute],
    objective: int,
    bound: DeliveryBound | None = None,
) -> PlanKpis:
    """Headline figures of a plan; with a bound, the served share of the physical limit."""
    priority = {need.id: need.priority for need in problem.needs}
    served: dict[str, int] = dict.fromkeys(PRIORITIES, 0)
    requested: dict[str, int] = dict.fromkeys(PRIORITIES, 0)
    for o in outcomes:
        served[priority[o.need_id]] += o.served_kg
        requested[priority[o.need_id]] += o.requested_kg
    total_requested = sum(requested.values())
    weighted_requested = sum(PRIORITY_WEIGHT[p] * kg for p, kg in requested.items())
    weighted_served = sum(PRIORITY_WEIGHT[p] * kg for p, kg in served.items())
    of_bound: float | None = None
    if bound is not None:
        of_bound = weighted_served / bound.weighted_kg if bound.weighted_kg else 1.0
    return PlanKpis(
        served_kg_by_priority=FrozenMap(served),
        requested_kg_by_priority=FrozenMap(requested),
        fill_rate=sum(served.values()) / total_requested if total_requested else 1.0,
        priority_weighted_fill=weighted_served / weighted_requested if weighted_requested else 1.0,
        vehicles_used=len(routes),
        distance_m=sum(route.distance_m for route in routes),
        objective=objective,
        weighted_bound_kg=None if bound is None else bound.weighted_kg,
        served_fraction_of_bound=of_bound,
    )
