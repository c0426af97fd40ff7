"""Planning large problems by decomposition (issue 3, part 2).

Above ``SolverParams.decompose_above_tasks`` estimated tasks, one routing model of every task
is too big for OR-Tools to even find a first solution within the budget, and the greedy
allocation's vehicle x depot x need scan too slow. ``plan_decomposed`` instead:

1. **Allocation** (min-cost flow, OR-Tools ``SimpleMinCostFlow``): stock goes from depots to
   needs along single trips some cleared vehicle can make in time (``bound.single_trips``),
   each need considering its ``_CANDIDATES`` fastest depots. A kilogram of a higher priority
   class always outweighs any number of lower ones and any transport cost (rewards in tiers,
   precedence within a tier), then the fastest depot wins.
2. **Clusters**: needs with stock are grouped by weighted k-means on their coordinates into
   clusters of about ``cluster_tasks`` tasks (deterministic: seeded k-means++, then oversized
   clusters are split in two until none is).
3. **Vehicles to clusters**: a quick simulation hands the clusters' loads, most important
   first, each to the vehicle (of the ``_NEAREST_VEHICLES`` earliest at its depot) that would
   unload it earliest after the loads it already took; each vehicle joins the cluster it
   carried most for (``assign_vehicles``). A capacity-hours flow was tried first and was far
   too optimistic about what a vehicle can do before the deadlines.
4. **Routing per cluster**: the allocation's flows of the cluster are cut into tasks for the
   cluster's vehicles and modelled exactly like the direct path does (same matrices, windows,
   penalties: ``assembly``). A greedy insertion (``insertion.greedy_routes``) gives the first
   feasible plan at once; OR-Tools then improves every cluster from that warm start, in
   ``workers`` spawned processes, within the budget.
5. **Later rounds** (``_next_round``, up to ``_LATER_ROUNDS``): what the clusters left out
   (flows no vehicle of theirs could reach, tasks their searches dropped) is clustered again
   and given to what the fleet has left: vehicles no route used, and used ones from where and
   when their routes end. Greedy trips, then OR-Tools, as in the first round; the first round
   keeps ``1 - _LATER_ROUNDS_SHARE`` of the budget when its first plan leaves anything out.
   A plan's objective is the sum of its rounds' model objectives (each model with its own
   penalty scale; a task handed on counts in the round that last planned it).

**Re-planning** against the plan in force (``problem.previous`` with a ``churn_cost_per_t``)
keeps what still works at every stage: the allocation charges moving a need to a depot its
legs did not come from, a vehicle with legs joins the cluster holding most of them, the
clusters' models carry the direct path's churn costs (``assembly.churn_costs``), and the
greedy first plan gives each task to a vehicle that had its leg wherever that vehicle still
can; OR-Tools improves from there. Without a churn cost the previous plan is ignored.

Every unserved kilogram gets a reason: the allocation's (cut off, no stock, deadline, displaced,
no cleared vehicle), "no vehicle of its area can make the trip in time" for flows no cluster
vehicle can carry, and the direct path's rule for tasks a cluster's routing drops.

Budget: with ``time_limit_s`` the whole call (first plan included) stays within it, each
cluster's search time being set when it starts from what is left (``_Improver``); with only
``solution_limit`` each cluster's search stops after that many solutions and the result is
reproducible, as in the direct path. Worker processes are spawned only after the first plan,
so their imports do not slow it.
"""

from __future__ import annotations

import math
import multiprocessing
import statistics
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
from ortools.graph.python import min_cost_flow

from services.dispatch.routing.allocation import (
    Shortfall,
    Task,
    format_clock,
    format_kg,
    merge_shortfalls,
    need_order,
)
from services.dispatch.routing.assembly import Layout, Part, assemble, finish, frame, warm_start
from services.dispatch.routing.bound import SingleTrips, delivery_bound, single_trips
from services.dispatch.routing.insertion import greedy_routes
from services.dispatch.routing.network import FastNetwork
from services.dispatch.routing.ortools_solver import (
    RoutingProblem,
    RoutingSolution,
    SolvedRoute,
    as_initial_routes,
    solve,
)
from services.dispatch.routing.params import SolverParams
from services.dispatch.routing.plan import LogisticsPlan, Reason
from services.dispatch.routing.problem import (
    Depot,
    LogisticsProblem,
    Mode,
    Need,
    PreviousLeg,
    Vehicle,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Depots each need may draw on in the allocation flow (fastest first).
_CANDIDATES = 16
# Reward spacing of the allocation flow: above any transport cost (minutes, capped below).
_TIER = 10_000
_MAX_MINUTES = _TIER - 1
# Clusters above this many times the target size are split in two.
_OVERSIZE = 1.5
# Vehicles considered for a load in the vehicle-to-cluster simulation: earliest at its depot.
_NEAREST_VEHICLES = 30
_CENTS = 100
_UNREACHABLE_COST = 10**9
# Seconds kept back from the budget for the last assembly, at least.
_RESERVE_S = 1.0
# OR-Tools model building per cluster, outside its search time limit (measured ~0.1 s).
_BUILD_S = 0.15
# Rounds after the first (``_next_round``), and the share of the budget kept for them when
# the first plan leaves anything out.
_LATER_ROUNDS = 3
_LATER_ROUNDS_SHARE = 0.25


def estimated_tasks(problem: LogisticsProblem) -> int:
    """Transport tasks the problem splits into, roughly: needs over the median capacity."""
    if not problem.vehicles:
        return len(problem.needs)
    typical = statistics.median(v.capacity_kg for v in problem.vehicles)
    return sum(math.ceil(n.quantity_kg / typical) for n in problem.needs)


def uses_decomposition(problem: LogisticsProblem, params: SolverParams) -> bool:
    """Whether ``plan_deliveries`` takes the decomposed path for this problem."""
    limit = params.decompose_above_tasks
    return limit is not None and estimated_tasks(problem) > limit


# --------------------------------------------------------------------------- allocation


@dataclass(frozen=True, slots=True)
class Flow:
    """Kilograms of a need to be taken from a depot."""

    need: Need
    depot: Depot
    kg: int


def _rewards(needs: Sequence[Need]) -> IntArray:
    """Per-kg reward: priority tiers dominate, precedence ranks within a tier, over costs."""
    rewards = np.zeros(len(needs), dtype=np.int64)
    offset = 0
    for priority in ("routine", "sustaining", "life_saving"):
        members = [i for i, n in enumerate(needs) if n.priority == priority]
        levels = sorted({needs[i].precedence for i in members})
        for i in members:
            rewards[i] = offset + _TIER * (1 + levels.index(needs[i].precedence))
        offset += _TIER * (len(levels) + 2)
    return rewards


def _churn_minutes(
    problem: LogisticsProblem,
    needs: Sequence[Need],
    holder_depots: Sequence[str],
    holders: IntArray,
    pair_needs: IntArray,
) -> FloatArray:
    """Per (holder, need) pair, what moving a need's kilograms off the plan in force costs.

    A need that the plan in force serves (``problem.previous``) is charged
    ``churn_cost_per_t`` per kilogram (the flow's costs are drive minutes per kilogram, and
    dispatch's 20 is about 20 km of a vehicle, 20 minutes at 60 km/h) on every depot other
    than those its legs came from: another depot wins only when it is that much faster, or
    when the old one has no stock, no reach or is lost. Priority tiers still dominate (costs
    stay below ``_TIER``). Zeros without a previous plan or a churn cost.
    """
    if not problem.previous or problem.churn_cost_per_t <= 0:
        return np.zeros(len(holders))
    need_index = {n.id: i for i, n in enumerate(needs)}
    depot_index = {d: i for i, d in enumerate(sorted(set(holder_depots)))}
    served = np.zeros(len(needs), dtype=bool)
    kept: list[int] = []  # (need, depot) of the plan in force, as need * depots + depot
    for leg in problem.previous:
        n = need_index.get(leg.need_id)
        if n is not None:
            served[n] = True
            if leg.depot_id in depot_index:
                kept.append(n * len(depot_index) + depot_index[leg.depot_id])
    depot_of = np.array([depot_index[d] for d in holder_depots], dtype=np.int64)[holders]
    moved = served[pair_needs] & ~np.isin(pair_needs * len(depot_index) + depot_of, kept)
    return np.where(moved, float(problem.churn_cost_per_t), 0.0)


def allocate_flow(
    problem: LogisticsProblem, network: FastNetwork, trips: SingleTrips
) -> tuple[list[Flow], list[Shortfall]]:
    """Stock to needs by min-cost flow; the flows and a shortfall for every unsourced kg."""
    needs, depots = trips.needs, trips.depots
    commodities = sorted({n.commodity for n in needs})
    code = np.array([commodities.index(n.commodity) for n in needs], dtype=np.int64)
    pair_depot: list[IntArray] = []
    pair_need: list[IntArray] = []
    pair_cost: list[FloatArray] = []
    holder_nodes: list[tuple[int, int, int]] = []  # (depot index, commodity code, kg)
    for d, (depot, ok, drive) in enumerate(zip(depots, trips.on_time, trips.drive_s, strict=True)):
        for c, kg in sorted(depot.stock_kg.items()):
            if kg <= 0 or c not in commodities:
                continue
            holder_nodes.append((d, commodities.index(c), kg))
            targets = np.flatnonzero(ok & (code == commodities.index(c)))
            pair_depot.append(np.full(len(targets), len(holder_nodes) - 1, dtype=np.int64))
            pair_need.append(targets.astype(np.int64))
            pair_cost.append(drive[targets])
    flows: list[Flow] = []
    allocated = np.zeros(len(needs), dtype=np.int64)
    left = np.array([kg for _, _, kg in holder_nodes], dtype=np.int64)
    candidate_holders: list[list[int]] = [[] for _ in needs]
    if pair_need:
        holder = np.concatenate(pair_depot)
        need = np.concatenate(pair_need)
        cost = np.ceil(np.concatenate(pair_cost) / 60)
        holder_depots = [depots[d].id for d, _, _ in holder_nodes]
        cost += _churn_minutes(problem, needs, holder_depots, holder, need)
        cost = np.minimum(cost, _MAX_MINUTES).astype(np.int64)
        order = np.lexsort((holder, cost, need))
        holder, need, cost = holder[order], need[order], cost[order]
        first = np.searchsorted(need, need, side="left")
        keep = (np.arange(len(need)) - first) < _CANDIDATES
        holder, need, cost = holder[keep], need[keep], cost[keep]
        for h, n in zip(holder.tolist(), need.tolist(), strict=True):
            candidate_holders[n].append(h)
        quantity = np.array([n.quantity_kg for n in needs], dtype=np.int64)
        n_holders = len(holder_nodes)
        n_needs = len(needs)
        source, sink = 0, 1
        holder_node = 2 + np.arange(n_holders, dtype=np.int64)
        need_node = 2 + n_holders + np.arange(n_needs, dtype=np.int64)
        stock = np.array([kg for _, _, kg in holder_nodes], dtype=np.int64)
        total = int(quantity.sum())
        tails = np.concatenate(
            [np.full(n_holders, source), holder_node[holder], need_node, [source]]
        ).astype(np.int64)
        heads = np.concatenate(
            [holder_node, need_node[need], np.full(n_needs, sink), [sink]]
        ).astype(np.int64)
        caps = np.concatenate([stock, quantity[need], quantity, [total]]).astype(np.int64)
        costs = np.concatenate([np.zeros(n_holders), cost, -_rewards(needs), [0]]).astype(np.int64)
        solver = min_cost_flow.SimpleMinCostFlow()
        arcs = solver.add_arcs_with_capacity_and_unit_cost(tails, heads, caps, costs)
        supplies = np.zeros(2 + n_holders + n_needs, dtype=np.int64)
        supplies[source], supplies[sink] = total, -total
        solver.set_nodes_supplies(np.arange(len(supplies), dtype=np.int64), supplies)
        status = solver.solve()
        if status != solver.OPTIMAL:  # pragma: no cover - the bypass arc keeps it feasible
            raise RuntimeError(f"allocation: min cost flow status {status}")
        carried = solver.flows(arcs[n_holders : n_holders + len(need)])
        for h, n, kg in zip(holder.tolist(), need.tolist(), carried.tolist(), strict=True):
            if kg > 0:
                flows.append(Flow(needs[n], depots[holder_nodes[h][0]], int(kg)))
                allocated[n] += kg
                left[h] -= kg
    flows.sort(key=lambda f: (need_order(f.need), f.depot.id))
    return flows, _shortfalls(problem, network, trips, allocated, left, candidate_holders)


def _shortfalls(
    problem: LogisticsProblem,
    network: FastNetwork,
    trips: SingleTrips,
    allocated: IntArray,
    left: IntArray,
    candidate_holders: list[list[int]],
) -> list[Shortfall]:
    """A reason for every unsourced kilogram, with the greedy allocator's rules and words."""
    result: list[Shortfall] = []
    index = {n.id: i for i, n in enumerate(trips.needs)}
    cleared_classes = {
        c for v in problem.vehicles if network.is_usable(v.start_node) for c in v.clearance
    }
    n_depots = len(trips.depots)
    eta = np.stack(trips.eta_s) if n_depots else np.zeros((0, len(trips.needs)))
    on_time = np.stack(trips.on_time) if n_depots else np.zeros((0, len(trips.needs)), bool)
    holds: dict[str, npt.NDArray[np.bool_]] = {}
    for need in sorted(problem.needs, key=lambda item: item.id):

        def short(kg: int, reason: Reason, detail: str, need: Need = need) -> Shortfall:
            return Shortfall(need.id, kg, reason, detail)

        if need.id not in index:
            result.append(short(need.quantity_kg, "cut_off", f"destination {need.node_id} is lost"))
            continue
        i = index[need.id]
        missing = need.quantity_kg - int(allocated[i])
        if missing <= 0:
            continue
        if need.classification not in cleared_classes:
            text = f"no vehicle is cleared for {need.classification} loads"
            result.append(short(missing, "no_cleared_vehicle", text))
            continue
        if need.commodity not in holds:
            holds[need.commodity] = np.array(
                [d.stock_kg.get(need.commodity, 0) > 0 for d in trips.depots], dtype=bool
            )
        holders = holds[need.commodity]
        if not holders.any():
            result.append(short(missing, "no_stock", f"no usable depot holds {need.commodity}"))
            continue
        reachable = np.isfinite(eta[:, i])
        late = holders & reachable & ~on_time[:, i]
        cut = holders & ~reachable
        candidates = candidate_holders[i]
        if not candidates:
            if late.any():
                earliest = int(eta[late, i].min())
                text = (
                    f"earliest possible arrival {format_clock(earliest)} is after "
                    f"the deadline {format_clock(need.deadline_s)}"
                )
                result.append(short(missing, "deadline_unreachable", text))
            else:
                text = f"no open route from any depot holding {need.commodity}"
                result.append(short(missing, "cut_off", text))
            continue
        if any(left[h] == 0 for h in candidates):
            reason: Reason = "displaced_by_higher_priority"
            text = f"{need.commodity} stock in reach was taken by higher-priority needs"
        elif late.any():
            reason = "deadline_unreachable"
            text = f"more {need.commodity} exists but cannot arrive by the deadline"
        elif cut.any():
            reason, text = "cut_off", f"more {need.commodity} exists but is cut off"
        else:
            got = format_kg(int(allocated[i]))
            reason, text = "no_stock", f"only {got} of {need.commodity} is held in usable depots"
        result.append(short(missing, reason, text))
    return result


# --------------------------------------------------------------------------- clusters


def _points(problem: LogisticsProblem, node_ids: Sequence[str]) -> FloatArray:
    """Planar coordinates (degrees, longitude shrunk by the cosine of the mean latitude)."""
    where = {n.id: (n.lat, n.lon) for n in problem.nodes}
    lat = np.array([where[x][0] for x in node_ids])
    lon = np.array([where[x][1] for x in node_ids])
    shrink = math.cos(math.radians(float(lat.mean()))) if len(lat) else 1.0
    result: FloatArray = np.stack([lon * shrink, lat], axis=1) if len(lat) else np.zeros((0, 2))
    return result


def _kmeans(points: FloatArray, weights: FloatArray, k: int, seed: int) -> IntArray:
    """Weighted k-means, k-means++ start from a fixed seed; labels per point."""
    rng = np.random.default_rng(seed)
    n = len(points)
    k = min(k, len(np.unique(points, axis=0)))
    if k <= 1:
        return np.zeros(n, dtype=np.int64)
    chosen = [int(rng.choice(n, p=weights / weights.sum()))]
    nearest = ((points - points[chosen[0]]) ** 2).sum(1)
    while len(chosen) < k:
        p = nearest * weights
        if p.sum() <= 0:
            break
        chosen.append(int(rng.choice(n, p=p / p.sum())))
        nearest = np.minimum(nearest, ((points - points[chosen[-1]]) ** 2).sum(1))
    centre = points[chosen].copy()
    labels = np.full(n, -1, dtype=np.int64)
    for _ in range(25):
        d2 = (points**2).sum(1)[:, None] - 2 * points @ centre.T + (centre**2).sum(1)[None, :]
        new = np.argmin(d2, axis=1).astype(np.int64)
        if np.array_equal(new, labels):
            break
        labels = new
        totals = np.bincount(labels, weights=weights, minlength=len(centre))
        for axis in range(2):
            sums = np.bincount(labels, weights=weights * points[:, axis], minlength=len(centre))
            centre[:, axis] = np.where(
                totals > 0, sums / np.maximum(totals, 1e-12), centre[:, axis]
            )
    _, labels = np.unique(labels, return_inverse=True)
    return labels.astype(np.int64)


def cluster_needs(
    problem: LogisticsProblem, network: FastNetwork, flows: Sequence[Flow], target_tasks: int
) -> list[list[Need]]:
    """Needs with stock grouped by place into clusters of about ``target_tasks`` tasks."""
    typical = statistics.median(v.capacity_kg for v in problem.vehicles) if problem.vehicles else 1
    tasks: dict[str, int] = defaultdict(int)
    by_id: dict[str, Need] = {}
    for f in flows:
        tasks[f.need.id] += math.ceil(f.kg / typical)
        by_id[f.need.id] = f.need
    ids = sorted(tasks)
    if not ids:
        return []
    points = _points(problem, [by_id[i].node_id for i in ids])
    weights = np.array([tasks[i] for i in ids], dtype=np.float64)
    k = max(1, round(weights.sum() / target_tasks))
    labels = _kmeans(points, weights, k, seed=0)
    groups = [np.flatnonzero(labels == j) for j in range(int(labels.max()) + 1)]
    done: list[IntArray] = []
    while groups:
        members = groups.pop()
        size = weights[members].sum()
        if size > _OVERSIZE * target_tasks and len(np.unique(points[members], axis=0)) > 1:
            halves = _kmeans(points[members], weights[members], 2, seed=len(done) + 1)
            groups += [members[halves == 0], members[halves == 1]]
        else:
            done.append(members)
    clusters = [[by_id[ids[i]] for i in sorted(members.tolist())] for members in done]
    return sorted(clusters, key=lambda c: c[0].id)


# --------------------------------------------------------------------------- vehicles


def _travel(effective_m: FloatArray, speed_kmh: float) -> FloatArray:
    """``Path.travel_s`` over an array (inf stays inf)."""
    result: FloatArray = np.ceil(effective_m * 3.6 / speed_kmh - 1e-9)
    return result


def assign_vehicles(
    problem: LogisticsProblem,
    network: FastNetwork,
    clusters: Sequence[Sequence[Flow]],
) -> list[list[Vehicle]]:
    """Vehicles per cluster, from a quick simulation of who would carry what.

    The clusters' flows, cut into loads of the fleet's median capacity, are handed out most
    important first, each to the vehicle (among the ``_NEAREST_VEHICLES`` earliest at its
    depot) that would unload it earliest after the loads it already took: one trip at a time,
    the planner's travel times, handling, deadlines and duty. A vehicle joins the cluster it
    carried most loads for (the lower number on ties); a vehicle that carried nothing joins
    the cluster with the nearest centroid, so the cluster's search may still use it. When
    re-planning with a churn cost, a vehicle with legs in the plan in force joins the cluster
    of most of their kilograms instead, so that its cluster's search can keep them.
    """
    h = problem.handling_s
    fleet = [
        v
        for v in sorted(problem.vehicles, key=lambda item: item.id)
        if network.is_usable(v.start_node) and network.has_mode(v.mode)
    ]
    result: list[list[Vehicle]] = [[] for _ in clusters]
    if not fleet or not clusters:
        return result
    typical = statistics.median(v.capacity_kg for v in fleet)
    loads: list[tuple[tuple[int, int, int, str], int, Flow, int]] = []
    for k, flows in enumerate(clusters):
        for f in flows:
            pieces = math.ceil(f.kg / typical)
            for piece in range(pieces):
                kg = min(typical, f.kg - piece * typical)
                loads.append((need_order(f.need), k, f, round(kg)))
    loads.sort(key=lambda item: (item[0], item[2].depot.id, item[1], -item[3]))

    starts = np.array([network.number(v.start_node) for v in fleet], dtype=np.int64)
    ready = np.array([v.available_from_s for v in fleet], dtype=np.float64)
    modes = sorted({v.mode for v in fleet})
    of_mode = {m: np.array([v.mode == m for v in fleet]) for m in modes}
    speed = np.array([v.speed_kmh for v in fleet])
    candidates: dict[str, list[int]] = {}

    def nearby(depot_node: str) -> list[int]:
        found = candidates.get(depot_node)
        if found is None:
            arrive = np.full(len(fleet), np.inf)
            for m in modes:
                eff = np.asarray(network.tree(m, depot_node).effective)
                members = of_mode[m]
                arrive[members] = ready[members] + _travel(eff[starts[members]], speed[members])
            order = np.argsort(arrive, kind="stable")[:_NEAREST_VEHICLES]
            found = [int(i) for i in order if math.isfinite(arrive[i])]
            candidates[depot_node] = found
        return found

    position = [network.number(v.start_node) for v in fleet]
    clock = [v.available_from_s for v in fleet]
    busy = [False] * len(fleet)
    carried: list[dict[int, int]] = [defaultdict(int) for _ in fleet]
    for _, k, f, kg in loads:
        depot_node, need_node = f.depot.node_id, f.need.node_id
        d, n = network.number(depot_node), network.number(need_node)
        best: tuple[int, int] | None = None
        for i in nearby(depot_node):
            v = fleet[i]
            if kg > v.capacity_kg or f.need.classification not in v.clearance:
                continue
            from_depot = network.effective_from(v.mode, depot_node)
            to_depot, to_need = from_depot[position[i]], from_depot[n]
            if to_depot == math.inf or to_need == math.inf:
                continue
            leave = h if busy[i] and position[i] != d else 0
            at_depot = clock[i] + leave + math.ceil(to_depot * 3.6 / v.speed_kmh - 1e-9)
            onward = (h if d != n else 0) + math.ceil(to_need * 3.6 / v.speed_kmh - 1e-9)
            arrive = at_depot + onward
            if arrive > f.need.deadline_s or arrive + h - v.available_from_s > v.max_duty_s:
                continue
            if best is None or (arrive, i) < best:
                best = (arrive, i)
        if best is None:
            continue
        arrive, i = best
        position[i], clock[i], busy[i] = n, arrive, True
        carried[i][k] += 1
    nodes = {n.id: n for n in problem.nodes}
    centroid = np.array(
        [
            [
                statistics.fmean(nodes[f.need.node_id].lat for f in flows),
                statistics.fmean(nodes[f.need.node_id].lon for f in flows),
            ]
            for flows in clusters
        ]
    )
    homes = _previous_homes(problem, clusters)
    for i, v in enumerate(fleet):
        if v.id in homes:  # re-planning with a churn cost: it stays where its legs are
            k = homes[v.id]
        elif carried[i]:
            k = min(carried[i], key=lambda c: (-carried[i][c], c))
        else:
            here = nodes[v.start_node]
            dlat = centroid[:, 0] - here.lat
            dlon = (centroid[:, 1] - here.lon) * math.cos(math.radians(here.lat))
            k = int(np.argmin(dlat**2 + dlon**2))
        result[k].append(v)
    return result


def _grouped(flows: Sequence[Flow], members: dict[str, int], clusters: int) -> list[list[Flow]]:
    """The flows of each cluster, in the flows' order."""
    flows_of: list[list[Flow]] = [[] for _ in range(clusters)]
    for f in flows:
        flows_of[members[f.need.id]].append(f)
    return flows_of


def _previous_homes(
    problem: LogisticsProblem, clusters: Sequence[Sequence[Flow]]
) -> dict[str, int]:
    """Per vehicle with legs in the plan in force, the cluster holding most of their kilograms
    (the lower number on ties); empty without a churn cost."""
    if problem.churn_cost_per_t <= 0:
        return {}
    cluster_of = {f.need.id: k for k, flows in enumerate(clusters) for f in flows}
    had: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for leg in problem.previous:
        k = cluster_of.get(leg.need_id)
        if k is not None:
            had[leg.vehicle_id][k] += leg.quantity_kg
    return {v: min(ks, key=lambda c: (-ks[c], c)) for v, ks in had.items()}


def _with_previous_vehicles(
    problem: LogisticsProblem, clusters: Sequence[Sequence[Flow]]
) -> dict[str, int]:
    """Needs to move into the cluster their previous vehicles will join (re-planning only).

    Clusters are drawn anew around the needs with stock, so a vehicle's legs may fall into
    several; it joins the one with most of their kilograms and the others' legs would change
    vehicle. A need whose every leg was on vehicles that all join one other cluster follows
    them there.
    """
    homes = _previous_homes(problem, clusters)
    if not homes:
        return {}
    cluster_of = {f.need.id: k for k, flows in enumerate(clusters) for f in flows}
    homes_of: dict[str, set[int | None]] = defaultdict(set)
    for leg in problem.previous:
        homes_of[leg.need_id].add(homes.get(leg.vehicle_id))
    moves: dict[str, int] = {}
    for need_id, ks in sorted(homes_of.items()):
        k = next(iter(ks)) if len(ks) == 1 else None
        if k is not None and need_id in cluster_of and k != cluster_of[need_id]:
            moves[need_id] = k
    return moves


def _previous_by_cluster(
    problem: LogisticsProblem, flows_of: Sequence[Sequence[Flow]]
) -> list[list[PreviousLeg]]:
    """The plan in force's legs of each cluster's needs (none without a churn cost)."""
    legs: dict[str, list[PreviousLeg]] = defaultdict(list)
    if problem.churn_cost_per_t > 0:
        for leg in problem.previous:
            legs[leg.need_id].append(leg)
    return [
        [leg for need_id in sorted({f.need.id for f in flows}) for leg in legs.get(need_id, ())]
        for flows in flows_of
    ]


# --------------------------------------------------------------------------- cluster models


@dataclass(frozen=True, slots=True)
class ClusterModel:
    """One cluster's routing model (None when it has nothing to route) and what it cannot carry."""

    layout: Layout
    routing: RoutingProblem | None
    unserved: tuple[Shortfall, ...]
    stranded: tuple[Flow, ...] = ()  # the flows of ``unserved``: no vehicle could carry them


def _cluster_tasks(
    problem: LogisticsProblem,
    network: FastNetwork,
    flows: Sequence[Flow],
    vehicles: Sequence[Vehicle],
    params: SolverParams,
) -> tuple[list[Task], list[Shortfall], list[Flow]]:
    h = problem.handling_s
    tasks: list[Task] = []
    unserved: list[Shortfall] = []
    stranded: list[Flow] = []
    for f in flows:
        able: list[Vehicle] = []
        d, n = network.number(f.depot.node_id), network.number(f.need.node_id)
        local = 0 if d == n else h
        for v in vehicles:
            if f.need.classification not in v.clearance:
                continue
            from_depot = network.effective_from(v.mode, f.depot.node_id)
            to_depot, to_need = from_depot[network.number(v.start_node)], from_depot[n]
            if to_depot == math.inf or to_need == math.inf:
                continue
            drive = (
                math.ceil(to_depot * 3.6 / v.speed_kmh - 1e-9)
                + local
                + math.ceil(to_need * 3.6 / v.speed_kmh - 1e-9)
            )
            if v.available_from_s + drive <= f.need.deadline_s and drive + h <= v.max_duty_s:
                able.append(v)
        if not able:
            stranded.append(f)
            unserved.append(
                Shortfall(
                    f.need.id,
                    f.kg,
                    "no_transport_capacity",
                    "no vehicle of its area can make the trip in time",
                )
            )
            continue
        size = max(v.capacity_kg for v in able)
        if params.max_task_kg is not None:
            size = min(size, params.max_task_kg)
        chunks = [size] * (f.kg // size) + ([f.kg % size] if f.kg % size else [])
        for number, chunk in enumerate(chunks, start=1):
            tasks.append(
                Task(
                    id=f"{f.need.id}@{f.depot.id}#{number}",
                    need_id=f.need.id,
                    depot_id=f.depot.id,
                    commodity=f.need.commodity,
                    quantity_kg=chunk,
                    priority=f.need.priority,
                    precedence=f.need.precedence,
                    vehicle_ids=tuple(sorted(v.id for v in able if v.capacity_kg >= chunk)),
                )
            )
    return tasks, unserved, stranded


def build_routing_fast(
    problem: LogisticsProblem, network: FastNetwork, tasks: Sequence[Task]
) -> tuple[Layout, RoutingProblem | None]:
    """``assembly.build_routing`` with matrices filled by numpy over distinct places.

    Same numbering, windows, demands, classes, matrices and penalties as the direct path's
    builder (a unit test compares them), at a fraction of the cost on big clusters.
    """
    layout, f = frame(problem, tasks)
    if f is None:
        return layout, None
    vehicles, locations, horizon = layout.vehicles, f.locations, f.horizon
    places = sorted({x for x in locations if x is not None})
    slot = {x: i for i, x in enumerate(places)}
    none_slot = len(places)
    index = np.array([none_slot if x is None else slot[x] for x in locations], dtype=np.int64)
    first_task_node = len(vehicles) + 1
    n = len(locations)
    leaving = np.zeros((n, n), dtype=bool)
    leaving[first_task_node:, :] = True
    leaving &= index[:, None] != index[None, :]

    time_classes, cost_classes = f.time_classes, f.cost_classes
    by_mode: dict[Mode, tuple[FloatArray, FloatArray, npt.NDArray[np.bool_]]] = {}
    for mode in sorted({v.mode for v in vehicles}):
        block_eff, block_len = network.block(mode, places)
        effective = np.zeros((none_slot + 1, none_slot + 1))
        length = np.zeros((none_slot + 1, none_slot + 1))
        reach = np.ones((none_slot + 1, none_slot + 1), dtype=bool)
        reach[:none_slot, :none_slot] = np.isfinite(block_eff)
        effective[:none_slot, :none_slot] = np.where(reach[:none_slot, :none_slot], block_eff, 0)
        length[:none_slot, :none_slot] = block_len
        grid = np.ix_(index, index)
        by_mode[mode] = (effective[grid], length[grid], reach[grid])

    def matrix(values: npt.NDArray[np.int64]) -> tuple[tuple[int, ...], ...]:
        return tuple(map(tuple, values.tolist()))

    time_matrices = []
    distance_matrices = []
    distance_of: dict[Mode, tuple[tuple[int, ...], ...]] = {}
    for mode, speed in time_classes:
        effective, length, reach = by_mode[mode]
        travel = np.ceil(effective * 3.6 / speed - 1e-9).astype(np.int64)
        travel += np.where(leaving, problem.handling_s, 0)
        time_matrices.append(matrix(np.where(reach, travel, horizon + 1)))
        if mode not in distance_of:
            distance_of[mode] = matrix(np.where(reach, length, 0).astype(np.int64))
        distance_matrices.append(distance_of[mode])
    cost_matrices = []
    worst: list[int] = []
    for mode, rate in cost_classes:
        _, length, reach = by_mode[mode]
        cents = np.round(length * rate * _CENTS / 1000).astype(np.int64)
        cost_matrices.append(matrix(np.where(reach, cents, _UNREACHABLE_COST)))
        worst.append(int(cents[reach].max()) if reach.any() else 0)
    routing = finish(
        f,
        tuple(time_matrices),
        tuple(distance_matrices),
        tuple(cost_matrices),
        worst,
        problem.previous,
        problem.churn_cost_per_t,
    )
    return layout, routing


def cluster_model(
    problem: LogisticsProblem,
    network: FastNetwork,
    flows: Sequence[Flow],
    vehicles: Sequence[Vehicle],
    params: SolverParams,
) -> ClusterModel:
    """Tasks of a cluster's flows for its vehicles, and their routing model."""
    tasks, unserved, stranded = _cluster_tasks(problem, network, flows, vehicles, params)
    layout, routing = build_routing_fast(problem, network, tasks)
    return ClusterModel(layout, routing, tuple(unserved), tuple(stranded))


# --------------------------------------------------------------------------- search


def _solve_cluster(
    routing: RoutingProblem, params: SolverParams, initial: tuple[tuple[int, ...], ...]
) -> RoutingSolution:
    """OR-Tools from the greedy routes (run in a worker process)."""
    return solve(routing, params, initial_routes=initial)


def _greedy_clusters(
    problem: LogisticsProblem,
    network: FastNetwork,
    params: SolverParams,
    flows_of: Sequence[Sequence[Flow]],
) -> tuple[list[list[Vehicle]], list[ClusterModel], list[RoutingSolution]]:
    """The problem's vehicles given to the clusters of ``flows_of``, the clusters' routing
    models and their greedy trips (re-planning: seeded with the plan in force's legs)."""
    fleets = assign_vehicles(problem, network, flows_of)
    models = [
        cluster_model(problem, network, cluster_flows, fleet, params)
        for cluster_flows, fleet in zip(flows_of, fleets, strict=True)
    ]
    kept = _previous_by_cluster(problem, flows_of)
    first = [
        greedy_routes(m.routing, warm_start(m.layout, legs))
        if m.routing is not None
        else RoutingSolution(True, 0, (), ())
        for m, legs in zip(models, kept, strict=True)
    ]
    return fleets, models, first


def plan_decomposed(problem: LogisticsProblem, params: SolverParams) -> Iterator[LogisticsPlan]:
    """Plans of a large problem: the first feasible one, then the one improved by OR-Tools.

    See the module docstring for the stages and the budget.
    """
    started = time.monotonic()
    stop_at = None if params.time_limit_s is None else started + params.time_limit_s
    pool: ProcessPoolExecutor | None = None
    try:
        network = FastNetwork(problem)
        trips = single_trips(problem, network)
        bound = delivery_bound(problem, network, trips)
        flows, shortfalls = allocate_flow(problem, network, trips)
        clusters = cluster_needs(problem, network, flows, params.cluster_tasks)
        members = {n.id: k for k, cluster in enumerate(clusters) for n in cluster}
        members.update(_with_previous_vehicles(problem, _grouped(flows, members, len(clusters))))
        # A cluster whose needs all followed their vehicles elsewhere is left out.
        flows_of = [group for group in _grouped(flows, members, len(clusters)) if group]
        fleets, models, best = _greedy_clusters(problem, network, params, flows_of)
        unserved = merge_shortfalls(shortfalls + [s for m in models for s in m.unserved])
        assembled_at = time.monotonic()
        plan = assemble(problem, network, unserved, _parts(models, best), bound)
        reserve = max(_RESERVE_S, 2 * (time.monotonic() - assembled_at))
        # Later rounds need part of the budget, if the first plan leaves anything out.
        first_stop = stop_at
        if stop_at is not None and params.time_limit_s is not None and _leaves_out(models, best):
            first_stop = stop_at - _LATER_ROUNDS_SHARE * params.time_limit_s
        if params.workers > 1:
            # Spawned only now: importing OR-Tools in the workers would slow the first plan.
            pool = ProcessPoolExecutor(
                max_workers=params.workers, mp_context=multiprocessing.get_context("spawn")
            )
        improver = _Improver(models, best, params, first_stop, reserve, pool)
        improver.start()  # the workers search while the caller reads the first plan
        yield plan
        improved = improver.improve(best)
        done: list[Part] = []  # parts of earlier rounds, with what they handed on
        for rounds_left in range(_LATER_ROUNDS, 0, -1):
            if stop_at is not None and stop_at - time.monotonic() < 2 * reserve:
                break
            later = _next_round(problem, network, params, models, best, fleets)
            if later is None or not any(len(r.nodes) > 2 for s in later.first for r in s.routes):
                # Nothing left, or nothing more carried: another round would not help.
                break
            done += later.parts
            models, fleets, best = later.models, later.fleets, later.first
            unserved = merge_shortfalls(shortfalls + [s for m in models for s in m.unserved])
            yield assemble(problem, network, unserved, done + _parts(models, best), bound)
            round_stop = stop_at
            if stop_at is not None:
                round_stop = time.monotonic() + (stop_at - time.monotonic()) / rounds_left
            improver = _Improver(models, best, params, round_stop, reserve, pool)
            improver.start()
            improved = improver.improve(best)
        parts = done + _parts(models, best)
        if pool is not None:
            # Searches still running end by their own time limits, close to the budget.
            pool.shutdown(wait=True, cancel_futures=True)
            pool = None
        if improved:
            yield assemble(problem, network, unserved, parts, bound)
    finally:
        if pool is not None:  # the caller stopped early, or an error: do not wait for workers
            pool.shutdown(wait=False, cancel_futures=True)


def _parts(models: Sequence[ClusterModel], solutions: Sequence[RoutingSolution]) -> list[Part]:
    return [Part(m.layout, s) for m, s in zip(models, solutions, strict=True)]


def _dropped_tasks(model: ClusterModel, solution: RoutingSolution) -> frozenset[int]:
    """Task numbers a found solution leaves out (none when it found nothing)."""
    if not solution.found:
        return frozenset()
    dropped = set(solution.dropped)
    return frozenset(t for t in range(len(model.layout.tasks)) if model.layout.pickup(t) in dropped)


def _leaves_out(models: Sequence[ClusterModel], solutions: Sequence[RoutingSolution]) -> bool:
    """Whether some flow is stranded or some task dropped: work for a later round."""
    return any(m.stranded or _dropped_tasks(m, s) for m, s in zip(models, solutions, strict=True))


@dataclass(frozen=True, slots=True)
class _Round:
    """The previous round's parts, with what they hand on, and this round's clusters: their
    models, vehicles and greedy solutions."""

    parts: list[Part]
    models: list[ClusterModel]
    fleets: list[list[Vehicle]]
    first: list[RoutingSolution]


def _onward(
    needs: dict[str, Need], handling_s: int, model: ClusterModel, route: SolvedRoute
) -> Vehicle | None:
    """The vehicle of a route as it is after its last unload: there, then, with the duty it
    has left (None when too little is left for another trip)."""
    vehicle = model.layout.vehicles[route.vehicle]
    task = model.layout.tasks[model.layout.task_of(route.nodes[-2])[0]]
    free_at = route.arrivals[-2] + handling_s
    duty = vehicle.max_duty_s - (free_at - vehicle.available_from_s)
    if duty <= 2 * handling_s:
        return None
    node = needs[task.need_id].node_id
    # Its fixed cost is paid by the route it has; using it again costs only the distance.
    return replace(
        vehicle, start_node=node, available_from_s=free_at, max_duty_s=duty, fixed_cost=0.0
    )


def _next_round(
    problem: LogisticsProblem,
    network: FastNetwork,
    params: SolverParams,
    models: Sequence[ClusterModel],
    solutions: Sequence[RoutingSolution],
    fleets: Sequence[Sequence[Vehicle]],
) -> _Round | None:
    """What a round left out, planned again for what its vehicles have left.

    Vehicles are given to clusters before any route exists, so one cluster may drop loads
    for want of vehicles while another's stand idle (on the national benchmark, 11 kt
    dropped for want of transport with 320 vehicles unused after the first round). The flows
    the clusters could not carry (stranded, and the tasks their solutions dropped) are
    clustered again and given, exactly as in the first round, to the vehicles: those no route
    used, and those that did from where and when their route ends, with the duty they have
    left (``assemble`` joins a vehicle's routes of both rounds). None when nothing was left
    out or no vehicle has time left.
    """
    needs = {n.id: n for n in problem.needs}
    depots = {d.id: d for d in problem.depots}
    left: dict[tuple[str, str], int] = defaultdict(int)
    parts: list[Part] = []
    vehicles: list[Vehicle] = []
    for m, s, fleet in zip(models, solutions, fleets, strict=True):
        for f in m.stranded:
            left[(f.need.id, f.depot.id)] += f.kg
        handed = _dropped_tasks(m, s)
        penalty = 0
        for t in handed:
            task = m.layout.tasks[t]
            left[(task.need_id, task.depot_id)] += task.quantity_kg
            if m.routing is not None:
                nodes = (m.layout.pickup(t), m.layout.delivery(t))
                penalty += sum(m.routing.penalties[n] or 0 for n in nodes)
        parts.append(Part(m.layout, replace(s, objective=s.objective - penalty), handed))
        onward = {
            m.layout.vehicles[r.vehicle].id: _onward(needs, problem.handling_s, m, r)
            for r in s.routes
            if len(r.nodes) > 2
        }
        for v in fleet:
            after = onward.get(v.id, v)
            if after is not None:
                vehicles.append(after)
    if not left or not vehicles:
        return None
    flows = [Flow(needs[n], depots[d], kg) for (n, d), kg in sorted(left.items())]
    clusters = cluster_needs(problem, network, flows, params.cluster_tasks)
    members = {n.id: k for k, cluster in enumerate(clusters) for n in cluster}
    flows_of = [group for group in _grouped(flows, members, len(clusters)) if group]
    # The models take their vehicles from the problem: this round's, as they are now.
    now = replace(problem, vehicles=tuple(vehicles))
    fleets_of, round_models, first = _greedy_clusters(now, network, params, flows_of)
    return _Round(parts, round_models, fleets_of, first)


class _Improver:
    """Runs OR-Tools on the clusters, biggest first, warm-started from their greedy routes.

    With a time limit, each cluster's search time is set when it starts: the worker time left
    before the budget's end (less ``reserve`` for the final assembly and what searches already
    running have been given), shared out by task count over the clusters still waiting. So
    clusters that finish early leave their time to the others. With only a solution limit,
    every cluster gets that limit and the outcome does not depend on timing.
    """

    def __init__(
        self,
        models: Sequence[ClusterModel],
        first: Sequence[RoutingSolution],
        params: SolverParams,
        stop_at: float | None,
        reserve: float,
        pool: ProcessPoolExecutor | None,
    ) -> None:
        self._models = models
        self._first = first
        self._params = params
        self._stop_at = stop_at
        self._reserve = reserve
        self._pool = pool
        self._slots = params.workers if pool is not None else 1
        self._queue = sorted(
            (k for k, m in enumerate(models) if m.routing is not None and m.layout.tasks),
            key=lambda k: (-len(models[k].layout.tasks), k),
        )
        self._running: dict[Future[RoutingSolution], tuple[int, float]] = {}  # -> (k, ends)

    def _weight(self, k: int) -> int:
        return len(self._models[k].layout.tasks)

    def _settings(self, k: int) -> SolverParams | None:
        """Search settings for cluster k starting now (None: no time left for it)."""
        p = self._params
        if self._stop_at is None:
            return replace(p, time_limit_s=None, workers=1)
        now = time.monotonic()
        left = self._stop_at - now - self._reserve
        committed = sum(max(0.0, ends - now) for _, ends in self._running.values())
        waiting = sum(self._weight(j) for j in self._queue) + self._weight(k)
        share = (left * self._slots - committed) * self._weight(k) / waiting - _BUILD_S
        share = min(share, left - _BUILD_S)
        if share < 0.05:
            return None
        return replace(p, time_limit_s=share, workers=1)

    def _next(self) -> tuple[int, SolverParams] | None:
        while self._queue:
            k = self._queue.pop(0)
            settings = self._settings(k)
            if settings is not None:
                return k, settings
            if self._stop_at is not None:
                self._queue.clear()  # out of time: the rest keep their greedy routes
        return None

    def start(self) -> None:
        """Fill the workers (nothing to do here without a pool: ``results`` runs in-process)."""
        if self._pool is None:
            return
        while len(self._running) < self._slots:
            job = self._next()
            if job is None:
                return
            k, settings = job
            routing = self._models[k].routing
            if routing is None:  # pragma: no cover - filtered in __init__
                continue
            initial = as_initial_routes(self._first[k])
            future = self._pool.submit(_solve_cluster, routing, settings, initial)
            ends = time.monotonic() + (settings.time_limit_s or 0.0) + _BUILD_S
            self._running[future] = (k, ends)

    def improve(self, best: list[RoutingSolution]) -> bool:
        """Put each cluster's solution into ``best`` where it is cheaper; whether any was."""
        improved = False
        for k, solution in self.results():
            if solution.found and solution.objective < best[k].objective:
                best[k] = solution
                improved = True
        return improved

    def results(self) -> Iterator[tuple[int, RoutingSolution]]:
        """Improved cluster solutions as they come, until done or out of time."""
        if self._pool is None:
            while (job := self._next()) is not None:
                k, settings = job
                routing = self._models[k].routing
                if routing is not None:
                    yield k, _solve_cluster(routing, settings, as_initial_routes(self._first[k]))
            return
        while self._running:
            timeout = None
            if self._stop_at is not None:
                timeout = max(0.0, self._stop_at - time.monotonic() - self._reserve / 2)
            done, _ = wait(list(self._running), timeout=timeout, return_when=FIRST_COMPLETED)
            if not done:
                return  # the budget is spent: searches still running are abandoned
            for future in sorted(done, key=lambda f: self._running[f][0]):
                k, _ = self._running.pop(future)
                if future.exception() is None:
                    yield k, future.result()
            self.start()
