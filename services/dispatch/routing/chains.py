"""Multimodal chains: a trunk leg by rail, water or air to a hub, a road leg on to the need.

Only problems with ``LogisticsProblem.hubs`` get here (``planner._plan_direct``); without hubs
the planner never calls this module and plans exactly as before hubs existed. Two rounds:

**Round 1** (in the direct routing model). The allocation (``allocation.py``) sources what
single vehicles can carry from a depot to a need; for what it cannot source (its shortfalls)
``offer_trunks`` picks trunk legs, and these trunk tasks join the direct tasks in the one
routing model, so they compete for the vehicles by the same priority-tiered drop penalties
(a life-saving chain takes a train before a routine direct load). Then ``carry_on`` plans
the road legs from the hubs and prunes.

**Round 2** (``add_chains``, after round 1). What is still short (direct tasks the router
dropped, chain cargo that did not arrive) is offered to chains again, with every vehicle
carrying on from where and when its route so far ends: ``offer_trunks``, one routing model
of the trunk tasks over the rail, water and air vehicles, then ``carry_on``.

``offer_trunks``: for each need short, in ``need_order``, and each usable hub with
throughput left (a hub whose ``throughput_kg`` is 0 is closed, like a lost node), the latest
time the cargo may be ready at the hub is the latest, over the cleared road vehicles, that
still lets one load it there and unload at the need by the deadline within its duty; the hub
deadline of a trunk leg is that minus ``handling_s`` (its unloading) minus the hub's
``transfer_s``. Depots with stock left, not at the hub's node (stock there needs no trunk
leg), that a cleared rail, water or air vehicle can reach and leave for the hub by that
deadline give options; the need takes its shortfall from them greedily, the option with the
most slack first, within the depot's stock and the hub's throughput left, cut into tasks of
the largest able vehicle's capacity (depot -> hub, unloaded by the hub deadline).

``carry_on``: every trunk task the router performed becomes stock at the hub, ready at its
arrival + ``handling_s`` + ``transfer_s`` (the pickup window opens then), cut into tasks of
the largest able road vehicle's capacity and routed by OR-Tools over the road vehicles as the
plan so far leaves them (hub -> need by the deadline). Cargo the road legs did not carry on
is then taken off the trunk routes: a trunk task with nothing carried on is removed (its
route retimed: arrivals only get earlier, so deadlines, duties and the ready times still
hold), one carried on in part shrinks to what was. So no cargo is left at a hub, and a hub
transships at most its throughput over both rounds.

A vehicle that already has a route carries on from its last stop at its departure, with the
duty it has left counted from its route's start, and must leave at once (waiting for cargo
counts against its duty). It has one route in the plan, its stages' stops in order
(``assembly.assemble``).

Stops: a trunk leg is ``load`` at the depot then ``transfer_unload`` at the hub; a road leg
``transfer_load`` at the hub then ``unload`` at the need (``plan.StopAction``). Allocations of
chain cargo name the originating depot, the road vehicle that delivers, the hub and the trunk
vehicle (``plan.Allocation``).

Reasons. Kilograms offered to chains and not delivered are ``no_transport_capacity`` ("no
vehicle capacity left in time for the chain via hub H"). What no chain was offered keeps the
earlier reason, except that ``cut_off`` becomes ``deadline_unreachable`` ("earliest possible
arrival via hub H +HhMM is after the deadline +HhMM") when a chain reaches the need only
late, and a ``cut_off`` or ``deadline_unreachable`` becomes ``no_transport_capacity`` ("the
throughput of hub H is used up") when a chain would have been in time but its hubs had no
throughput left; when chains took some but not all, the words say more stock exists out of
reach (or ``no_stock`` when none is left).

Limits (deliberate, for a first version): trunk legs are by rail, water or air and last legs
by road (``problem.TRUNK_MODES``, ``LAST_MODES``), one hub per chain (no hub-to-hub trunk,
no depot-to-hub road leg); the road legs are planned after the trunk legs, so a road vehicle
busy with a lower-priority direct delivery is not freed for a chain's last leg; chain legs do
not take part in churn (``previous``) and are not warm-started; the decomposed path
(``decomposition.py``) plans without chains. With a ``time_limit_s`` the chain stages share
what the direct stage left of it (``stop_at``).
"""

from __future__ import annotations

import itertools
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace

from services.dispatch.routing.allocation import (
    AllocationResult,
    Shortfall,
    Task,
    format_clock,
    merge_shortfalls,
    need_order,
)
from services.dispatch.routing.assembly import Part, PathSource, build_routing, task_places
from services.dispatch.routing.ortools_solver import (
    RoutingProblem,
    RoutingSolution,
    SolvedRoute,
    solve,
)
from services.dispatch.routing.params import SolverParams
from services.dispatch.routing.problem import (
    LAST_MODES,
    TRUNK_MODES,
    Depot,
    Hub,
    LogisticsProblem,
    Need,
    Vehicle,
)

# A chain stage with less wall-clock time than this left routes nothing.
_MIN_STAGE_S = 0.1


@dataclass(frozen=True, slots=True)
class _Option:
    """Where a need may take chain cargo from: a depot, a hub, the trunk vehicles in time."""

    slack_s: int
    depot: Depot
    hub: Hub
    due_s: int
    vehicles: tuple[Vehicle, ...]


@dataclass(frozen=True, slots=True)
class Done:
    """What the plan so far does: kg served per need, kg taken per (depot, commodity), kg
    transshipped per hub node, and per used vehicle (where it is free again, when, and when
    its route started: its duty runs from then)."""

    served: Mapping[str, int]
    taken: Mapping[tuple[str, str], int]
    through: Mapping[str, int]
    free: Mapping[str, tuple[str, int, int]]


def allocated(allocation: AllocationResult) -> Done:
    """What the direct allocation will do if every task is routed (nothing routed yet)."""
    served: dict[str, int] = defaultdict(int)
    taken: dict[tuple[str, str], int] = defaultdict(int)
    for task in allocation.tasks:
        served[task.need_id] += task.quantity_kg
        taken[(task.depot_id, task.commodity)] += task.quantity_kg
    return Done(served, taken, {}, {})


def performed(problem: LogisticsProblem, parts: Sequence[Part]) -> Done:
    """What the solved parts do."""
    depots = {d.id: d for d in problem.depots}
    needs = {n.id: n for n in problem.needs}
    served: dict[str, int] = defaultdict(int)
    taken: dict[tuple[str, str], int] = defaultdict(int)
    through: dict[str, int] = defaultdict(int)
    free: dict[str, tuple[str, int, int]] = {}
    for part in parts:
        layout = part.layout
        for solved in part.solution.routes:
            inner = list(zip(solved.nodes[1:-1], solved.arrivals[1:-1], strict=True))
            for node, _ in inner:
                number, is_pickup = layout.task_of(node)
                task = layout.tasks[number]
                if is_pickup:
                    continue
                if task.leg != "trunk":
                    served[task.need_id] += task.quantity_kg
                if task.leg != "last":
                    taken[(task.depot_id, task.commodity)] += task.quantity_kg
                if task.leg == "trunk" and task.hub_node is not None:
                    through[task.hub_node] += task.quantity_kg
            if inner:
                node, arrival = inner[-1]
                number, is_pickup = layout.task_of(node)
                place = task_places(layout.tasks[number], depots, needs)[0 if is_pickup else 1]
                vehicle_id = layout.vehicles[solved.vehicle].id
                started = free[vehicle_id][2] if vehicle_id in free else solved.arrivals[0]
                free[vehicle_id] = (place, arrival + problem.handling_s, started)
    return Done(served, taken, through, free)


def _carry_on(vehicle: Vehicle, free: Mapping[str, tuple[str, int, int]]) -> Vehicle | None:
    """The vehicle as it is after the stages so far (None: no duty left).

    A vehicle that already has a route carries on from where and when it ends with the duty
    it has left, counted from its route's start; such a vehicle must leave at once
    (``_route`` pins its start), so waiting for cargo counts against its duty.
    """
    if vehicle.id not in free:
        return vehicle
    node, at, started = free[vehicle.id]
    left = vehicle.max_duty_s - (at - started)
    if left <= 0:
        return None
    return replace(vehicle, start_node=node, available_from_s=at, max_duty_s=left)


class _Reach:
    """Travel times of the fleet as it carries on, memoised per (vehicle, from, to)."""

    def __init__(self, problem: LogisticsProblem, network: PathSource) -> None:
        self._network = network
        self._h = problem.handling_s
        self._cache: dict[tuple[str, str, str], int | None] = {}

    def travel(self, vehicle: Vehicle, a: str, b: str) -> int | None:
        key = (vehicle.id, a, b)
        if key not in self._cache:
            path = self._network.leg(vehicle.mode, a, b)
            self._cache[key] = None if path is None else path.travel_s(vehicle.speed_kmh)
        return self._cache[key]

    def carry(self, vehicle: Vehicle, a: str, b: str) -> int | None:
        """Seconds from arriving at a (to load) to arriving at b (to unload)."""
        t = self.travel(vehicle, a, b)
        return None if t is None else t + (self._h if a != b else 0)

    def trunk_eta(self, vehicle: Vehicle, depot: str, hub: str) -> int | None:
        """Earliest arrival at the hub loaded at the depot (duty and deadlines ignored)."""
        to_depot = self.travel(vehicle, vehicle.start_node, depot)
        onward = self.carry(vehicle, depot, hub)
        if to_depot is None or onward is None:
            return None
        return vehicle.available_from_s + to_depot + onward

    def road_arrival(self, vehicle: Vehicle, hub: str, need: str, ready: int) -> int | None:
        """Earliest unload at the need of cargo ready at the hub at ``ready``."""
        to_hub = self.travel(vehicle, vehicle.start_node, hub)
        onward = self.carry(vehicle, hub, need)
        if to_hub is None or onward is None:
            return None
        return max(vehicle.available_from_s + to_hub, ready) + onward

    def road_in_time(self, vehicle: Vehicle, hub: str, need: Need, ready: int) -> bool:
        at = self.road_arrival(vehicle, hub, need.node_id, ready)
        return (
            at is not None
            and at <= need.deadline_s
            and at + self._h - vehicle.available_from_s <= vehicle.max_duty_s
        )

    def latest_ready(self, road: Sequence[Vehicle], hub: str, need: Need) -> int | None:
        """Latest time cargo may be ready at the hub and still reach the need in time."""
        best: int | None = None
        for v in road:
            to_hub = self.travel(v, v.start_node, hub)
            onward = self.carry(v, hub, need.node_id)
            if to_hub is None or onward is None:
                continue
            latest = min(need.deadline_s, v.available_from_s + v.max_duty_s - self._h) - onward
            if v.available_from_s + to_hub <= latest and (best is None or latest > best):
                best = latest
        return best


def _split(
    kg: int, able: Sequence[Vehicle], params: SolverParams
) -> list[tuple[int, tuple[str, ...]]]:
    """Chunks of kg sized to the largest able vehicle, each with the vehicles it fits."""
    size = max(v.capacity_kg for v in able)
    if params.max_task_kg is not None:
        size = min(size, params.max_task_kg)
    chunks = [size] * (kg // size) + ([kg % size] if kg % size else [])
    return [(c, tuple(sorted(v.id for v in able if v.capacity_kg >= c))) for c in chunks]


def _route(
    problem: LogisticsProblem,
    network: PathSource,
    vehicles: Sequence[Vehicle],
    tasks: Sequence[Task],
    params: SolverParams | None,
    pinned: Collection[str],
) -> tuple[Part, RoutingProblem | None]:
    """One routing model of chain tasks over the given (carried-on) vehicles; the vehicles
    in ``pinned`` leave their start at once (see ``_carry_on``). With no params (no time
    left) every task is left out."""
    stage = replace(problem, vehicles=tuple(vehicles), previous=(), churn_cost_per_t=0.0)
    layout, routing = build_routing(stage, network, AllocationResult(tuple(tasks), ()))
    if routing is None or params is None:
        return Part(layout, RoutingSolution(True, 0, (), ())), None
    windows = list(routing.time_windows)
    for number, vehicle in enumerate(layout.vehicles):
        if vehicle.id in pinned:
            start = routing.vehicle_starts[number]
            windows[start] = (windows[start][0], windows[start][0])
    routing = replace(routing, time_windows=tuple(windows))
    return Part(layout, solve(routing, params)), routing


def _budget(params: SolverParams, stop_at: float | None, share: float) -> SolverParams | None:
    """Settings for one chain stage: ``share`` of the wall-clock time left (None: too little)."""
    if stop_at is None:
        return params
    left = (stop_at - time.monotonic()) * share
    if left < _MIN_STAGE_S:
        return None
    return replace(params, time_limit_s=left)


def _delivered(part: Part) -> list[tuple[int, str, int]]:
    """(task number, vehicle id, delivery arrival) of every task the part performed."""
    result: list[tuple[int, str, int]] = []
    for solved in part.solution.routes:
        for node, arrival in zip(solved.nodes[1:-1], solved.arrivals[1:-1], strict=True):
            number, is_pickup = part.layout.task_of(node)
            if not is_pickup:
                result.append((number, part.layout.vehicles[solved.vehicle].id, arrival))
    return sorted(result)


def _prune(part: Part, routing: RoutingProblem, carried: Mapping[str, int]) -> Part:
    """The trunk part with cargo nobody carried on taken off (see the module docstring)."""
    layout, solution = part.layout, part.solution
    removed: set[int] = set()
    tasks = list(layout.tasks)
    for number, _, _ in _delivered(part):
        task = tasks[number]
        if task.leg != "trunk":
            continue
        kg = carried.get(task.id, 0)
        if kg == 0:
            removed |= {layout.pickup(number), layout.delivery(number)}
        elif kg < task.quantity_kg:
            tasks[number] = replace(task, quantity_kg=kg)
    layout = replace(layout, tasks=tuple(tasks))
    if not removed:
        return Part(layout, solution)
    # Only routes that lost stops are retimed (the earliest schedule of the same sequence,
    # as the solver reports it); the objective changes by their arc and fixed costs and the
    # penalties of the removed tasks.
    routes: list[SolvedRoute] = []
    objective = solution.objective
    for r in solution.routes:
        if not removed & set(r.nodes):
            routes.append(r)
            continue
        v = r.vehicle
        nodes = [n for n in r.nodes if n not in removed]
        times = routing.time_matrices[routing.vehicle_class[v]]
        arrivals = [r.arrivals[0]]
        for a, b in itertools.pairwise(nodes):
            step = arrivals[-1] + routing.service_times[a] + times[a][b]
            arrivals.append(max(routing.time_windows[b][0], step))
        distances = routing.distance_matrices[routing.vehicle_class[v]]
        costs = routing.cost_matrices[routing.vehicle_cost_class[v]]
        objective += sum(costs[a][b] for a, b in itertools.pairwise(nodes))
        objective -= sum(costs[a][b] for a, b in itertools.pairwise(r.nodes))
        if len(nodes) == 2:
            objective -= routing.vehicle_fixed_costs[v]
        distance = sum(distances[a][b] for a, b in itertools.pairwise(nodes))
        routes.append(SolvedRoute(v, tuple(nodes), tuple(arrivals), distance))
    objective += sum(routing.penalties[n] or 0 for n in removed)
    dropped = tuple(sorted(set(solution.dropped) | removed))
    return Part(layout, RoutingSolution(True, objective, tuple(routes), dropped))


@dataclass(frozen=True, slots=True)
class ChainOffer:
    """Trunk tasks for what a need lacks, and the shortfalls that remain.

    ``shortfalls``: the shortfalls given, less the kilograms offered, with chain-aware
    reasons (one per need at most; kilograms may be 0). ``offered``: kg per need in the
    tasks; ``via``: the hubs of each need's tasks.
    """

    tasks: tuple[Task, ...]
    shortfalls: tuple[Shortfall, ...]
    offered: Mapping[str, int]
    via: Mapping[str, tuple[str, ...]]


def _fleet(problem: LogisticsProblem, network: PathSource, done: Done) -> list[Vehicle]:
    return [
        v
        for v in (_carry_on(v, done.free) for v in sorted(problem.vehicles, key=lambda x: x.id))
        if v is not None and network.is_usable(v.start_node)
    ]


def _hubs(problem: LogisticsProblem, network: PathSource) -> list[Hub]:
    return [
        hub
        for hub in sorted(problem.hubs, key=lambda x: x.node_id)
        if network.is_usable(hub.node_id) and hub.throughput_kg != 0
    ]


def offer_trunks(
    problem: LogisticsProblem,
    network: PathSource,
    params: SolverParams,
    done: Done,
    shortfalls: Sequence[Shortfall],
) -> ChainOffer:
    """Trunk tasks (depot -> hub) for what each need lacks after ``done``: the trunk stage's
    choice of the module docstring, vehicles as ``done`` leaves them."""
    h = problem.handling_s
    depots = {d.id: d for d in problem.depots}
    fleet = _fleet(problem, network, done)
    trunk_fleet = [v for v in fleet if v.mode in TRUNK_MODES]
    road_fleet = [v for v in fleet if v.mode in LAST_MODES]
    hubs = _hubs(problem, network)
    throughput_left: dict[str, int | None] = {
        hub.node_id: None
        if hub.throughput_kg is None
        else max(0, hub.throughput_kg - done.through.get(hub.node_id, 0))
        for hub in hubs
    }
    stock_left: dict[tuple[str, str], int] = {
        (d.id, c): kg - done.taken.get((d.id, c), 0)
        for d in problem.depots
        if d.usable and network.is_usable(d.node_id)
        for c, kg in d.stock_kg.items()
    }
    reach = _Reach(problem, network)
    by_need: dict[str, Shortfall] = {s.need_id: s for s in shortfalls}
    tasks: list[Task] = []
    offered: dict[str, int] = defaultdict(int)
    via: dict[str, list[str]] = defaultdict(list)
    for need in sorted(problem.needs, key=need_order):
        missing = need.quantity_kg - done.served.get(need.id, 0)
        if missing <= 0 or not network.is_usable(need.node_id) or not hubs:
            continue
        road = [v for v in road_fleet if need.classification in v.clearance]
        trunk = [v for v in trunk_fleet if need.classification in v.clearance]
        holders = [
            depots[d] for (d, c), kg in sorted(stock_left.items()) if c == need.commodity and kg > 0
        ]
        options: list[_Option] = []
        full_hubs: list[str] = []
        for hub in hubs:
            ready = reach.latest_ready(road, hub.node_id, need)
            if ready is None:
                continue
            due = ready - h - hub.transfer_s
            for depot in holders:
                if depot.node_id == hub.node_id:
                    continue  # stock already at the hub: the direct stage's business
                able: list[Vehicle] = []
                slack: int | None = None
                for v in trunk:
                    eta = reach.trunk_eta(v, depot.node_id, hub.node_id)
                    if eta is None or eta > due:
                        continue
                    if eta + h - v.available_from_s > v.max_duty_s:
                        continue
                    able.append(v)
                    slack = due - eta if slack is None else max(slack, due - eta)
                if slack is None:
                    continue
                if throughput_left[hub.node_id] == 0:
                    full_hubs.append(hub.node_id)
                    continue
                options.append(_Option(slack, depot, hub, due, tuple(able)))
        options.sort(key=lambda o: (-o.slack_s, o.depot.id, o.hub.node_id))
        left = missing
        for option in options:
            key = (option.depot.id, need.commodity)
            hub_id = option.hub.node_id
            cap = throughput_left[hub_id]
            kg = min(left, stock_left[key], left if cap is None else cap)
            if kg <= 0:
                continue
            stock_left[key] -= kg
            if cap is not None:
                throughput_left[hub_id] = cap - kg
            left -= kg
            offered[need.id] += kg
            via[need.id].append(hub_id)
            for number, (chunk, ids) in enumerate(_split(kg, option.vehicles, params), start=1):
                tasks.append(
                    Task(
                        id=f"{need.id}@{option.depot.id}>{hub_id}#{number}",
                        need_id=need.id,
                        depot_id=option.depot.id,
                        commodity=need.commodity,
                        quantity_kg=chunk,
                        priority=need.priority,
                        precedence=need.precedence,
                        vehicle_ids=ids,
                        leg="trunk",
                        hub_node=hub_id,
                        due_s=option.due_s,
                    )
                )
            if left == 0:
                break
        if left > 0:
            full_hubs += [o.hub.node_id for o in options if throughput_left[o.hub.node_id] == 0]
        if need.id in by_need:

            def earliest(
                need: Need = need,
                road: list[Vehicle] = road,
                trunk: list[Vehicle] = trunk,
                holders: list[Depot] = holders,
            ) -> tuple[int, str] | None:
                return _earliest(reach, need, road, trunk, holders, hubs, h)

            more = any(kg > 0 for (_, c), kg in stock_left.items() if c == need.commodity)
            by_need[need.id] = _explain(
                by_need[need.id], need, offered[need.id], more, sorted(set(full_hubs)), earliest
            )
    return ChainOffer(
        tuple(tasks),
        tuple(by_need[n] for n in sorted(by_need)),
        dict(offered),
        {n: tuple(dict.fromkeys(hubs_of)) for n, hubs_of in via.items()},
    )


def carry_on(
    problem: LogisticsProblem,
    network: PathSource,
    params: SolverParams,
    parts: Sequence[Part],
    trunk_routing: RoutingProblem | None,
    offer: ChainOffer,
    stop_at: float | None = None,
    share: float = 1.0,
) -> tuple[list[Part], list[Shortfall]]:
    """The road stage and the pruning for the offer's trunk tasks, routed in ``parts[-1]``
    (solved from ``trunk_routing``, which may hold direct tasks as well).

    Returns the parts (the last one pruned, then the road stage's) and one shortfall per
    need: the offer's, merged with "no vehicle capacity left in time for the chain via hub H"
    for offered kilograms that did not arrive. The road stage gets ``share`` of the time left
    before ``stop_at``.
    """
    h = problem.handling_s
    needs = {n.id: n for n in problem.needs}
    *before, trunk_part = parts
    done = performed(problem, parts)
    road_fleet = [v for v in _fleet(problem, network, done) if v.mode in LAST_MODES]
    transfer = {hub.node_id: hub.transfer_s for hub in problem.hubs}
    reach = _Reach(problem, network)
    last_tasks: list[Task] = []
    for number, vehicle_id, arrival in _delivered(trunk_part):
        task = trunk_part.layout.tasks[number]
        if task.leg != "trunk" or task.hub_node is None:
            continue
        need = needs[task.need_id]
        ready = arrival + h + transfer[task.hub_node]
        able = [
            v
            for v in road_fleet
            if need.classification in v.clearance
            and reach.road_in_time(v, task.hub_node, need, ready)
        ]
        if not able:
            continue
        for k, (chunk, ids) in enumerate(_split(task.quantity_kg, able, params), start=1):
            last_tasks.append(
                replace(
                    task,
                    id=f"{task.id}>{k}",
                    quantity_kg=chunk,
                    vehicle_ids=ids,
                    leg="last",
                    ready_s=ready,
                    due_s=None,
                    feeder_id=task.id,
                    feeder_vehicle_id=vehicle_id,
                )
            )
    road_part, _ = _route(
        problem, network, road_fleet, last_tasks, _budget(params, stop_at, share), done.free
    )
    carried: dict[str, int] = defaultdict(int)
    delivered: dict[str, int] = defaultdict(int)
    for number, _, _ in _delivered(road_part):
        task = road_part.layout.tasks[number]
        carried[task.feeder_id or ""] += task.quantity_kg
        delivered[task.need_id] += task.quantity_kg
    if trunk_routing is not None:
        trunk_part = _prune(trunk_part, trunk_routing, carried)
    short: list[Shortfall] = [s for s in offer.shortfalls if s.missing_kg > 0]
    for need_id, kg in sorted(offer.offered.items()):
        if kg > delivered[need_id]:
            hubs = ", ".join(offer.via[need_id])
            text = f"no vehicle capacity left in time for the chain via hub {hubs}"
            short.append(Shortfall(need_id, kg - delivered[need_id], "no_transport_capacity", text))
    return [*before, trunk_part, road_part], merge_shortfalls(short)


def add_chains(
    problem: LogisticsProblem,
    network: PathSource,
    params: SolverParams,
    parts: Sequence[Part],
    shortfalls: Sequence[Shortfall],
    stop_at: float | None = None,
) -> tuple[list[Part], list[Shortfall]]:
    """A round of chains after solved parts, for what they still leave short.

    Parameters
    ----------
    problem
        The whole problem (with hubs).
    network
        Its paths (``Network`` or ``FastNetwork``).
    params
        Search settings, used for each of the two chain routing models.
    parts, shortfalls
        What is planned so far and why needs are short (one shortfall per need at most).
    stop_at
        ``time.monotonic()`` by which the whole plan is due (the caller's ``time_limit_s``),
        or None; the trunk stage gets half the time left, the road stage the rest, and a
        stage with less than 0.1 s left routes nothing.

    Returns
    -------
    tuple
        The parts (those given, then this round's trunk and road stage) and one shortfall
        per need still short for lack of sourcing, with the reasons of the module docstring;
        ``assembly.assemble`` turns them into the plan.
    """
    if stop_at is not None and stop_at - time.monotonic() < 2 * _MIN_STAGE_S:
        return list(parts), list(shortfalls)  # no time left for chains
    done = performed(problem, parts)
    offer = offer_trunks(problem, network, params, done, shortfalls)
    if not offer.tasks:
        return list(parts), [s for s in offer.shortfalls if s.missing_kg > 0]
    trunk_fleet = [v for v in _fleet(problem, network, done) if v.mode in TRUNK_MODES]
    trunk_part, trunk_routing = _route(
        problem, network, trunk_fleet, offer.tasks, _budget(params, stop_at, 0.5), done.free
    )
    return carry_on(problem, network, params, [*parts, trunk_part], trunk_routing, offer, stop_at)


def _earliest(
    reach: _Reach,
    need: Need,
    road: Sequence[Vehicle],
    trunk: Sequence[Vehicle],
    holders: Sequence[Depot],
    hubs: Sequence[Hub],
    h: int,
) -> tuple[int, str] | None:
    """(earliest unload at the need by any chain, its hub), deadline and duty ignored."""
    best: tuple[int, str] | None = None
    for hub in hubs:
        etas = [
            eta
            for depot in holders
            if depot.node_id != hub.node_id
            for v in trunk
            if (eta := reach.trunk_eta(v, depot.node_id, hub.node_id)) is not None
        ]
        if not etas:
            continue
        ready = min(etas) + h + hub.transfer_s
        for v in road:
            at = reach.road_arrival(v, hub.node_id, need.node_id, ready)
            if at is not None and (best is None or (at, hub.node_id) < best):
                best = (at, hub.node_id)
    return best


def _explain(
    shortfall: Shortfall,
    need: Need,
    offered: int,
    more_stock: bool,
    full_hubs: Sequence[str],
    earliest: Callable[[], tuple[int, str] | None],
) -> Shortfall:
    """The direct stage's shortfall less what was offered to chains, with a chain-aware
    reason when the direct stage found the need out of reach (module docstring).

    ``more_stock``: usable depots still hold the commodity after the chains took theirs;
    ``full_hubs``: hubs that had a chain in time but no throughput left; ``earliest``: the
    earliest arrival by any chain and its hub (asked only when needed).
    """
    left = shortfall.missing_kg - offered
    if left <= 0:
        return replace(shortfall, missing_kg=0)
    result = replace(shortfall, missing_kg=left)
    if shortfall.reason not in ("cut_off", "deadline_unreachable"):
        return result
    if full_hubs:
        text = f"the throughput of hub {', '.join(full_hubs)} is used up"
        return replace(result, reason="no_transport_capacity", detail=text)
    c = need.commodity
    if offered > 0:
        if not more_stock:
            return replace(
                result, reason="no_stock", detail=f"no more {c} is held in usable depots"
            )
        if shortfall.reason == "cut_off":
            return replace(result, detail=f"more {c} exists but is cut off")
        return replace(result, detail=f"more {c} exists but cannot arrive by the deadline")
    if shortfall.reason == "cut_off":
        found = earliest()
        if found is not None:
            at, hub = found
            text = (
                f"earliest possible arrival via hub {hub} {format_clock(at)} is after "
                f"the deadline {format_clock(need.deadline_s)}"
            )
            return replace(result, reason="deadline_unreachable", detail=text)
    return result
