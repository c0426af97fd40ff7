"""The physical limit: an upper bound on what any plan can deliver by each need's deadline.

Issue 3 asks each plan to report its priority-weighted served demand as a fraction of what
the surviving network, the stocks and the fleet could deliver at best. "At best" is a
relaxation of the planner's own model (the routing model of ``planner.py``: a vehicle starts
at ``available_from_s`` at its start node, travels only on surviving links of its mode at
``ceil(effective_m * 3.6 / speed)`` seconds per leg, pays ``handling_s`` when it leaves a task
place for another place, carries at most its capacity, keeps end minus start within
``max_duty_s`` and unloads every task by the need's deadline). Every plan of that model is a
feasible flow of the network below, so the maximum weighted flow bounds every plan.

The flow network, in kilograms::

    source -> (depot, commodity)   capacity: the stock
           -> need                  only if some cleared vehicle can go start -> depot -> need
                                    by the deadline within its duty (exact single-trip test)
           -> need'                 capacity: the quantity
           -> sink                  a need at a depot's node ("depot-node need")
           -> fleet group chain     a "field" need (no depot at its node), one arc per
              -> sink               vehicle group that can reach it in time (relaxed test)

A fleet group is a set of vehicles with the same mode, speed, start, availability, duty and
clearance; its chain has one node per deadline level and the arc leaving level T carries all
its field deliveries due by T, so it is capped by ``capacity x k(T)``, the number of loads
the group can have unloaded by T. Why ``k(T)`` is an upper bound: split a route's field
deliveries into cycles, a new cycle starting at the first pickup (of field-bound cargo) after
a field delivery. Within a cycle all such pickups precede its deliveries and the load never
exceeds the capacity, so a cycle unloads at most one capacity of field cargo. Between the
first field deliveries of two consecutive cycles the vehicle goes from a field need node Y to
a depot node P and on to a field need node Z; Y, Z are not depot nodes, so it pays handling
twice and drives at least from Y to its nearest depot node and from the nearest depot node to
Z: ``rho = 2 h + 2 min_n tau(delta_n)`` over the field needs it can reach, where delta_n is
the distance from a need to the nearest depot node of the mode. The first field delivery comes
at least ``phi`` after the start (the fastest start -> depot -> need of the group) and the
last one at most ``max_duty - h`` after it, so ``k(T) = 1 + floor(min(T - available - phi,
duty - h - phi) / rho)`` (0 if negative; unbounded if rho is 0). Depot-node needs escape the
chain because a vehicle can shuttle there in zero time (pick up and unload at one place).

The weighted maximum is bounded by three max flows (OR-Tools' ``SimpleMaxFlow``; a
min-cost flow gave the same figures six times slower on the national benchmark): with F1, F2,
F3 the maximum flows when only life-saving, then also sustaining, then all needs may receive,
any plan has ``x1 <= F1``, ``x1 + x2 <= F2``, ``x1 + x2 + x3 <= F3``, so its weighted mass is at
most ``100 F1 + 10 (F2 - F1) + (F3 - F2)``.

What is relaxed (so the bound is optimistic): which depot and which vehicle carry a kilogram
are not linked; return legs count only down to the nearest depot of any kind, and forward
legs only from it; loads are counted as full; the group arcs use triangle-inequality
travel-time lower bounds. The return-leg relaxation is the loose one when transport binds:
a real shuttle returns to the depot that holds its commodity, often much farther than the
nearest depot. Cargo left aboard across cycles is why nothing stronger follows from this
argument (a vehicle may keep one load aboard while reloading elsewhere), and an LP with
per-need round-trip charges instead of the per-group minimum (tried on the national
benchmark: 491k variables, 20 s with GLOP) came out no tighter.

With hubs (multimodal chains, ``chains.py``) the same network stays an upper bound with three
changes, each a relaxation of what a chain can do: a (depot, commodity) also has an arc to a
need that some chain reaches by the deadline (``_chain_reach``: earliest trunk arrival at a
hub by a cleared rail, water or air group, plus handling and the hub's transfer time, then
the earliest cleared road group from the hub; duties and throughput ignored); a hub is a
place cargo may be loaded at, so hub nodes count with the depot nodes in the nearest-pickup
distances of ``rho`` and in the trip lower bound ``phi`` (a road vehicle's field delivery of
chain cargo was loaded at a hub), and a need at a hub node is not a field need (a vehicle may
shuttle there in zero time). Trunk legs end at hubs, not at needs, so they add no delivery.
Without hubs nothing changes.

The per-need figure is the need alone: the least of its quantity, the stock with an arc to it
and (field needs) the loads of the groups that can reach it by its deadline.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from ortools.graph.python import max_flow

from services.dispatch.routing.network import FastNetwork
from services.dispatch.routing.plan import PRIORITY_WEIGHT
from services.dispatch.routing.problem import (
    LAST_MODES,
    TRUNK_MODES,
    Classification,
    Depot,
    FrozenMap,
    Hub,
    LogisticsProblem,
    Mode,
    Need,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class DeliveryBound:
    """Upper bounds on deliveries by the deadlines.

    Attributes
    ----------
    per_need_kg
        Need id -> the most that need alone could receive by its deadline.
    weighted_kg
        The largest priority-weighted mass (sum of PRIORITY_WEIGHT x kg) all needs together
        could receive; a plan's weighted served mass never exceeds it.
    kg
        The most kilograms all needs together could receive.
    """

    per_need_kg: FrozenMap
    weighted_kg: int
    kg: int


@dataclass(frozen=True, slots=True)
class _Group:
    mode: Mode
    speed_kmh: float
    start: int
    available_s: int
    duty_s: int
    clearance: frozenset[Classification]
    capacity_kg: int


def _seconds(effective_m: FloatArray, speed_kmh: float) -> FloatArray:
    """Travel seconds, never above the planner's ``Path.travel_s`` (inf when cut off)."""
    result: FloatArray = np.ceil(effective_m * 3.6 / speed_kmh - 1e-6)
    return result


def _groups(problem: LogisticsProblem, network: FastNetwork) -> list[_Group]:
    capacity: dict[tuple[Mode, float, int, int, int, frozenset[Classification]], int] = defaultdict(
        int
    )
    for v in problem.vehicles:
        if network.is_usable(v.start_node) and network.has_mode(v.mode):
            key = (
                v.mode,
                v.speed_kmh,
                network.number(v.start_node),
                v.available_from_s,
                v.max_duty_s,
                v.clearance,
            )
            capacity[key] += v.capacity_kg
    return [
        _Group(mode, speed, start, available, duty, clearance, kg)
        for (mode, speed, start, available, duty, clearance), kg in sorted(
            capacity.items(), key=lambda item: (item[0][:5], sorted(item[0][5]))
        )
    ]


@dataclass(frozen=True, slots=True)
class SingleTrips:
    """Who can reach whom in one trip: for each usable stocked depot, arrays over ``needs``.

    ``eta_s``: earliest unload of a single trip start -> depot -> need by a cleared vehicle,
    deadline and duty ignored (inf: no open path); ``on_time``: some cleared vehicle makes it
    by the deadline within its duty; ``drive_s``: depot -> need seconds (handling included)
    of the fastest such vehicle class (inf when not on time). Vehicles are taken by class
    (mode, speed, clearance), the earliest arrival at the depot and the least duty slack
    each from the best member, so ``on_time`` never misses a feasible trip.
    """

    depots: tuple[Depot, ...]
    needs: tuple[Need, ...]
    on_time: tuple[BoolArray, ...]
    eta_s: tuple[FloatArray, ...]
    drive_s: tuple[FloatArray, ...]


def usable_depots(problem: LogisticsProblem, network: FastNetwork) -> list[Depot]:
    """Depots that can load: usable, at a usable node, holding some stock; sorted by id."""
    return [
        d
        for d in sorted(problem.depots, key=lambda item: item.id)
        if d.usable and network.is_usable(d.node_id) and any(kg > 0 for kg in d.stock_kg.values())
    ]


def single_trips(problem: LogisticsProblem, network: FastNetwork) -> SingleTrips:
    """The single-trip reach of every usable depot to every need at a usable node."""
    net = network
    h = problem.handling_s
    depots = usable_depots(problem, net)
    needs = [n for n in sorted(problem.needs, key=lambda item: item.id) if net.is_usable(n.node_id)]
    groups = _groups(problem, net)
    node_of = np.array([net.number(n.node_id) for n in needs], dtype=np.int64)
    deadline = np.array([n.deadline_s for n in needs], dtype=np.float64)
    cleared = {
        k: np.array([n.classification in k for n in needs], dtype=bool)
        for k in {g.clearance for g in groups}
    }
    classes: dict[tuple[Mode, float, frozenset[Classification]], list[_Group]] = defaultdict(list)
    for g in groups:
        classes[(g.mode, g.speed_kmh, g.clearance)].append(g)
    ordered = sorted(classes.items(), key=lambda item: (item[0][:2], sorted(item[0][2])))
    on_time: list[BoolArray] = []
    etas: list[FloatArray] = []
    drives: list[FloatArray] = []
    for depot in depots:
        d_node = net.number(depot.node_id)
        ok = np.zeros(len(needs), dtype=bool)
        eta = np.full(len(needs), np.inf)
        drive = np.full(len(needs), np.inf)
        handling = np.where(node_of == d_node, 0.0, float(h))
        for (mode, speed, clearance), members in ordered:
            eff = np.asarray(net.tree(mode, depot.node_id).effective)
            to_depot = _seconds(eff[[g.start for g in members]], speed)
            if not np.isfinite(to_depot).any():
                continue
            earliest = float(np.min(to_depot + [g.available_s for g in members]))
            slack = float(np.min(to_depot - [g.duty_s for g in members]))
            onward = _seconds(eff[node_of], speed) + handling
            arrival = np.where(cleared[clearance], earliest + onward, np.inf)
            timely = (arrival <= deadline) & (slack + onward + h <= 0)
            eta = np.minimum(eta, arrival)
            drive = np.where(timely, np.minimum(drive, onward), drive)
            ok |= timely
        on_time.append(ok)
        etas.append(eta)
        drives.append(drive)
    return SingleTrips(tuple(depots), tuple(needs), tuple(on_time), tuple(etas), tuple(drives))


def delivery_bound(
    problem: LogisticsProblem,
    network: FastNetwork | None = None,
    trips: SingleTrips | None = None,
) -> DeliveryBound:
    """Compute the physical limit of ``problem`` (see the module docstring for the model).

    Parameters
    ----------
    problem
        The validated problem; time zero is now.
    network
        A FastNetwork of the same problem, to share shortest-path trees with the planner.
    trips
        ``single_trips`` of the same problem and network, if already computed.
    """
    net = network if network is not None else FastNetwork(problem)
    h = problem.handling_s
    per_need = dict.fromkeys((n.id for n in problem.needs), 0)
    groups = _groups(problem, net)
    if trips is None:
        trips = single_trips(problem, net)
    depots, needs = list(trips.depots), list(trips.needs)
    if not needs or not depots or not groups:
        return DeliveryBound(FrozenMap(per_need), 0, 0)

    node_of = np.array([net.number(n.node_id) for n in needs], dtype=np.int64)
    deadline = np.array([n.deadline_s for n in needs], dtype=np.float64)
    quantity = np.array([n.quantity_kg for n in needs], dtype=np.int64)
    weight = np.array([PRIORITY_WEIGHT[n.priority] for n in needs], dtype=np.int64)
    commodities = sorted({n.commodity for n in needs})
    code = np.array([commodities.index(n.commodity) for n in needs], dtype=np.int64)
    depot_nodes = sorted({net.number(d.node_id) for d in depots})
    field: BoolArray = ~np.isin(node_of, np.array(depot_nodes, dtype=np.int64))
    cleared: dict[frozenset[Classification], BoolArray] = {
        k: np.array([n.classification in k for n in needs]) for k in {g.clearance for g in groups}
    }

    def from_node(mode: Mode, node: int) -> FloatArray:
        return np.asarray(net.tree(mode, net.node_ids[node]).effective)

    # Hubs that may transship (usable, throughput not zero): places cargo may be loaded at.
    hub_list = [
        hub
        for hub in sorted(problem.hubs, key=lambda x: x.node_id)
        if net.is_usable(hub.node_id) and hub.throughput_kg != 0
    ]
    reach_by_depot = list(trips.on_time)
    if hub_list:
        field &= ~np.isin(node_of, np.array([net.number(x.node_id) for x in hub_list]))
        by_chain = _chain_reach(problem, net, depots, needs, groups, hub_list)
        reach_by_depot = [a | b for a, b in zip(reach_by_depot, by_chain, strict=True)]

    supply: list[tuple[int, IntArray]] = []  # (stock kg, needs it can reach)
    reachable_stock = np.zeros(len(needs), dtype=np.int64)
    for depot, ok in zip(depots, reach_by_depot, strict=True):
        for c, kg in sorted(depot.stock_kg.items()):
            if kg <= 0 or c not in commodities:
                continue
            targets = np.flatnonzero(ok & (code == commodities.index(c)))
            if len(targets):
                supply.append((kg, targets))
                reachable_stock[targets] += kg
    supplied = reachable_stock > 0

    # --- fleet group chains for field needs -------------------------------------------------
    nearest_any: dict[Mode, FloatArray] = {}
    nearest_holder: dict[Mode, list[FloatArray]] = {}  # per commodity, over all nodes
    hub_nodes = [x.node_id for x in hub_list]
    for mode in sorted({g.mode for g in groups}):
        nearest_any[mode] = np.array(
            net.nearest(mode, [net.node_ids[x] for x in depot_nodes] + hub_nodes)
        )
        nearest_holder[mode] = [
            np.array(
                net.nearest(
                    mode, [d.node_id for d in depots if d.stock_kg.get(c, 0) > 0] + hub_nodes
                )
            )
            for c in commodities
        ]
    total = int(quantity.sum())
    chains: list[tuple[IntArray, FloatArray, IntArray]] = []  # (needs, their levels, loads)
    loads_by_need = np.zeros(len(needs), dtype=np.int64)
    eligible = field & supplied
    for g in groups:
        holders = nearest_holder[g.mode]
        direct = _seconds(from_node(g.mode, g.start)[node_of], g.speed_kmh)
        to_holder = _seconds(np.array([near[g.start] for near in holders]), g.speed_kmh)
        from_holder = np.empty(len(needs))
        for k, near in enumerate(holders):
            members = code == k
            from_holder[members] = _seconds(near[node_of[members]], g.speed_kmh)
        trip = np.maximum(direct, to_holder[code] + from_holder)
        reach = (
            eligible
            & cleared[g.clearance]
            & (g.available_s + trip + h <= deadline)
            & (trip + 2 * h <= g.duty_s)
        )
        targets = np.flatnonzero(reach)
        if not len(targets):
            continue
        phi = float(np.min(trip[targets])) + h
        rho = 2 * h + 2 * float(
            np.min(_seconds(nearest_any[g.mode][node_of[targets]], g.speed_kmh))
        )
        levels = np.unique(deadline[targets])
        window = np.minimum(levels - g.available_s - phi, g.duty_s - h - phi)
        if rho > 0:
            cycles = np.where(window < 0, 0, 1 + np.floor(np.maximum(window, 0) / rho))
            loads = np.minimum(total, g.capacity_kg * cycles).astype(np.int64)
        else:
            loads = np.where(window < 0, 0, total).astype(np.int64)
        chains.append((targets, levels, loads))
        loads_by_need[targets] += loads[np.searchsorted(levels, deadline[targets])]

    alone = np.minimum(quantity, reachable_stock)
    alone = np.where(field, np.minimum(alone, loads_by_need), alone)
    for need, kg in zip(needs, alone.tolist(), strict=True):
        per_need[need.id] = int(kg)
    weighted, kg = _max_weighted_flow(supply, quantity, weight, field, deadline, chains)
    return DeliveryBound(FrozenMap(per_need), weighted, kg)


def _chain_reach(
    problem: LogisticsProblem,
    net: FastNetwork,
    depots: list[Depot],
    needs: list[Need],
    groups: list[_Group],
    hubs: list[Hub],
) -> list[BoolArray]:
    """Per depot, the needs some multimodal chain through a hub can reach by the deadline.

    Relaxed like the single-trip test: the earliest trunk arrival at the hub over the cleared
    trunk-mode groups (start -> depot -> hub), then ``handling_s`` and the hub's transfer
    time, then the earliest road group (start -> hub, no earlier than the cargo is ready,
    -> need); duties and the hub's throughput are ignored.
    """
    h = problem.handling_s
    node_of = np.array([net.number(n.node_id) for n in needs], dtype=np.int64)
    deadline = np.array([n.deadline_s for n in needs], dtype=np.float64)
    classes = sorted({n.classification for n in needs})
    depot_of = np.array([net.number(d.node_id) for d in depots], dtype=np.int64)
    result = [np.zeros(len(needs), dtype=bool) for _ in depots]
    trunk = [g for g in groups if g.mode in TRUNK_MODES]
    road = [g for g in groups if g.mode in LAST_MODES]
    for hub in hubs:
        at = net.number(hub.node_id)
        for c in classes:
            members = np.array([n.classification == c for n in needs])
            # Earliest arrival at the hub with cargo of each depot, over the cleared groups.
            first = np.full(len(depots), np.inf)
            for g in trunk:
                if c not in g.clearance:
                    continue
                from_hub = np.asarray(net.tree(g.mode, hub.node_id).effective)
                from_start = np.asarray(net.tree(g.mode, net.node_ids[g.start]).effective)
                onward = _seconds(from_hub[depot_of], g.speed_kmh)
                onward = onward + np.where(depot_of == at, 0.0, float(h))
                first = np.minimum(
                    first, g.available_s + _seconds(from_start[depot_of], g.speed_kmh) + onward
                )
            ready = first + h + hub.transfer_s
            if not np.isfinite(ready).any():
                continue
            arrival = np.full((len(depots), len(needs)), np.inf)
            for g in road:
                if c not in g.clearance:
                    continue
                from_hub = np.asarray(net.tree(g.mode, hub.node_id).effective)
                to_hub = g.available_s + float(_seconds(from_hub[[g.start]], g.speed_kmh)[0])
                onward = _seconds(from_hub[node_of], g.speed_kmh)
                onward = onward + np.where(node_of == at, 0.0, float(h))
                arrival = np.minimum(arrival, np.maximum(to_hub, ready)[:, None] + onward[None, :])
            timely = (arrival <= deadline[None, :]) & members[None, :]
            for d in range(len(depots)):
                result[d] |= timely[d]
    return result


def _max_weighted_flow(
    supply: list[tuple[int, IntArray]],
    quantity: IntArray,
    weight: IntArray,
    field: BoolArray,
    deadline: FloatArray,
    chains: list[tuple[IntArray, FloatArray, IntArray]],
) -> tuple[int, int]:
    """(weighted bound, kg bound) over the network of the module docstring.

    With F1, F2, F3 the maximum flows when only the heaviest one, two or three weight classes
    may reach the sink, every flow has ``x1 <= F1``, ``x1 + x2 <= F2``, ``x1 + x2 + x3 <= F3``,
    hence ``w1 x1 + w2 x2 + w3 x3 <= w1 F1 + w2 (F2 - F1) + w3 (F3 - F2)`` for weights
    ``w1 > w2 > w3``. Three max flows are far faster than one min-cost flow here.
    """
    tails: list[IntArray] = []
    heads: list[IntArray] = []
    caps: list[IntArray] = []

    def arcs(tail: IntArray | int, head: IntArray | int, cap: IntArray | int) -> None:
        t, hd, c = np.broadcast_arrays(
            np.asarray(tail, dtype=np.int64),
            np.asarray(head, dtype=np.int64),
            np.asarray(cap, dtype=np.int64),
        )
        tails.append(t.ravel())
        heads.append(hd.ravel())
        caps.append(c.ravel())

    n = len(quantity)
    source, sink, need_in, need_out = 0, 1, 2, 2 + n
    next_node = 2 + 2 * n
    everyone = np.arange(n, dtype=np.int64)
    arcs(need_in + everyone, need_out + everyone, quantity)  # the need arcs come first
    for kg, targets in supply:
        arcs(source, next_node, kg)
        arcs(next_node, need_in + targets, quantity[targets])
        next_node += 1
    local = np.flatnonzero(~field)
    arcs(need_out + local, sink, quantity[local])
    for targets, levels, loads in chains:
        first = next_node
        next_node += len(levels)
        arcs(
            need_out + targets,
            first + np.searchsorted(levels, deadline[targets]),
            quantity[targets],
        )
        following = first + 1 + np.arange(len(levels), dtype=np.int64)
        following[-1] = sink
        arcs(first + np.arange(len(levels), dtype=np.int64), following, loads)

    flow = max_flow.SimpleMaxFlow()
    handles = flow.add_arcs_with_capacity(
        np.concatenate(tails), np.concatenate(heads), np.concatenate(caps)
    )
    classes = sorted({int(w) for w in weight}, reverse=True)
    weighted = 0
    previous = 0
    for w in classes:
        open_ = np.where(weight >= w, quantity, 0).astype(np.int64)
        flow.set_arcs_capacity(handles[:n], open_)
        status = flow.solve(source, sink)
        if status != flow.OPTIMAL:  # pragma: no cover - capacities are small integers
            raise RuntimeError(f"physical limit: max flow status {status}")
        reached = int(flow.optimal_flow())
        weighted += w * (reached - previous)
        previous = reached
    return weighted, previous
