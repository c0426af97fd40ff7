"""A fast first solution of a pickup-and-delivery RoutingProblem: greedy trips, no search.

Used by the decomposed path (issue 3, part 2) for its first feasible plan, and as the warm
start of OR-Tools' local search. It works on the RoutingProblem only (the same matrices,
windows, capacities, spans and allowed vehicles OR-Tools gets), so what it returns is a
solution of the very model OR-Tools then improves.

Pairs are taken most important first (highest drop penalty; mandatory pairs before all).
Each goes to the vehicle that can unload it earliest, either

- added to the vehicle's current trip, when its pickup costs no time after the trip's last
  pickup (same place) and the load still fits: the pickup joins the trip's pickups and the
  delivery goes last, so earlier arrivals do not move; or
- appended as a new trip after the vehicle's last stop.

Ties go to the smaller added cost, then the lower vehicle number. A pair no vehicle can take
in time is left out (its penalty is paid); a mandatory pair left out makes the answer
"not found", like a search that found nothing.

Re-planning passes the plan in force as ``seed`` (``assembly.warm_start``: each vehicle's
pairs): those pairs are placed first, earliest deadline first, each on its own vehicle by
the same rule, as long as they still fit; then every other pair as above. So what still works
stays where it was, and what does not (a lost vehicle's pairs, a cut road's) goes where it
fits best. A seeded pair may keep a vehicle from a more important new one: the search that
follows weighs that (its drop penalties outweigh any churn cost).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from services.dispatch.routing.ortools_solver import (
    RoutingProblem,
    RoutingSolution,
    SolvedRoute,
    as_initial_routes,
)


@dataclass(slots=True)
class _Vehicle:
    number: int
    start_time: int
    nodes: list[int] = field(default_factory=list)
    arrivals: list[int] = field(default_factory=list)
    trip_from: int = 0  # index in nodes of the current trip's first delivery
    trip_load: int = 0


def greedy_start(
    problem: RoutingProblem, seed: Sequence[Sequence[int]] | None = None
) -> tuple[tuple[int, ...], ...] | None:
    """The greedy routes (from ``seed``, as ``greedy_routes``) as a start for OR-Tools; None
    if greedy found nothing."""
    solution = greedy_routes(problem, seed)
    return as_initial_routes(solution) if solution.found else None


def greedy_routes(
    problem: RoutingProblem, seed: Sequence[Sequence[int]] | None = None
) -> RoutingSolution:
    """Build a solution of ``problem`` by greedy trips (see the module docstring).

    Returns
    -------
    RoutingSolution
        ``found`` False only when a mandatory pair could not be placed; arrivals are the
        earliest times of each sequence, as OR-Tools reports them.
    """
    n_vehicles = problem.num_vehicles
    service = problem.service_times
    windows = problem.time_windows
    fleet = [_Vehicle(v, windows[problem.vehicle_starts[v]][0]) for v in range(n_vehicles)]
    everyone = tuple(range(n_vehicles))

    def transit(v: int, a: int, b: int) -> int:
        return service[a] + problem.time_matrices[problem.vehicle_class[v]][a][b]

    def cost(v: int, a: int, b: int) -> int:
        return problem.cost_matrices[problem.vehicle_cost_class[v]][a][b]

    visits = problem.vehicle_visit_costs  # a vehicle's churn cost of a node (re-planning)

    def churn(v: int, node: int) -> int:
        return visits[v][node] if visits else 0

    def last_node(state: _Vehicle) -> int:
        return state.nodes[-1] if state.nodes else problem.vehicle_starts[state.number]

    def last_time(state: _Vehicle) -> int:
        return state.arrivals[-1] if state.arrivals else state.start_time

    def closes(state: _Vehicle, node: int, arrival: int) -> bool:
        """Whether the vehicle can still reach its end in time and within its span."""
        v = state.number
        end = problem.vehicle_ends[v]
        finish = arrival + transit(v, node, end)
        span = problem.vehicle_max_span[v]
        return finish <= windows[end][1] and (span is None or finish - state.start_time <= span)

    order = sorted(
        range(len(problem.pickups_deliveries)),
        key=lambda k: (
            -math.inf
            if problem.penalties[problem.pickups_deliveries[k][0]] is None
            else -(problem.penalties[problem.pickups_deliveries[k][0]] or 0),
            k,
        ),
    )

    def place(k: int, candidates: Sequence[int]) -> bool:
        """Put pair ``k`` on the best of ``candidates``; False when none can take it in time."""
        pickup, delivery = problem.pickups_deliveries[k]
        demand = problem.demands[pickup]
        low_p, high_p = windows[pickup]
        low_d, high_d = windows[delivery]
        best: tuple[int, int, int, bool] | None = None  # (unload time, added cost, vehicle, join)
        for v in candidates:
            state = fleet[v]
            capacity = problem.vehicle_capacities[v]
            here, now = last_node(state), last_time(state)
            if state.nodes and state.trip_from > 0:
                joined = state.nodes[state.trip_from - 1]
                first = state.nodes[state.trip_from]
                if (
                    state.trip_load + demand <= capacity
                    and transit(v, joined, pickup) == 0
                    and transit(v, pickup, first) == transit(v, joined, first)
                ):
                    at_pickup = state.arrivals[state.trip_from - 1]
                    at = max(now + transit(v, here, delivery), low_d)
                    if (
                        low_p <= at_pickup <= high_p
                        and at <= high_d
                        and closes(state, delivery, at)
                    ):
                        added = (
                            cost(v, joined, pickup)
                            + cost(v, pickup, first)
                            - cost(v, joined, first)
                            + cost(v, here, delivery)
                        )
                        candidate = (at, added, v, True)
                        if best is None or candidate < best:
                            best = candidate
            if demand > capacity:
                continue
            at_pickup = max(now + transit(v, here, pickup), low_p)
            if at_pickup > high_p:
                continue
            at = max(at_pickup + transit(v, pickup, delivery), low_d)
            if at > high_d or not closes(state, delivery, at):
                continue
            added = cost(v, here, pickup) + cost(v, pickup, delivery)
            if not state.nodes:
                added += problem.vehicle_fixed_costs[v]
            candidate = (at, added, v, False)
            if best is None or candidate < best:
                best = candidate
        if best is None:
            return False
        at, _, v, join = best
        state = fleet[v]
        if join:
            at_pickup = state.arrivals[state.trip_from - 1]
            state.nodes.insert(state.trip_from, pickup)
            state.arrivals.insert(state.trip_from, at_pickup)
            state.trip_from += 1
            state.trip_load += demand
        else:
            here, now = last_node(state), last_time(state)
            at_pickup = max(now + transit(v, here, pickup), low_p)
            state.nodes.append(pickup)
            state.arrivals.append(at_pickup)
            state.trip_from = len(state.nodes)
            state.trip_load = demand
        state.nodes.append(delivery)
        state.arrivals.append(at)
        return True

    pair_of = {pickup: k for k, (pickup, _) in enumerate(problem.pickups_deliveries)}
    seeded: dict[int, int] = {}  # pair -> its vehicle in the plan in force
    for v, nodes in enumerate(seed or ()):
        for node in nodes:
            allowed = problem.allowed_vehicles[node]
            if node in pair_of and (allowed is None or v in allowed):
                seeded.setdefault(pair_of[node], v)
    rank = {k: i for i, k in enumerate(order)}
    by_deadline = sorted(
        seeded, key=lambda k: (windows[problem.pickups_deliveries[k][1]][1], rank[k])
    )
    placed = {k for k in by_deadline if place(k, (seeded[k],))}
    dropped: list[int] = []
    found = True
    for k in order:
        if k in placed:
            continue
        pickup, delivery = problem.pickups_deliveries[k]
        if not place(k, problem.allowed_vehicles[pickup] or everyone):
            dropped += [pickup, delivery]
            if problem.penalties[pickup] is None:
                found = False
    if not found:
        return RoutingSolution(False, 0, (), ())

    routes: list[SolvedRoute] = []
    objective = 0
    for state in fleet:
        v = state.number
        start, end = problem.vehicle_starts[v], problem.vehicle_ends[v]
        nodes = (start, *state.nodes, end)
        finish = last_time(state) + transit(v, nodes[-2], end)
        arrivals = (state.start_time, *state.arrivals, finish)
        distances = problem.distance_matrices[problem.vehicle_class[v]]
        distance = sum(distances[a][b] for a, b in itertools.pairwise(nodes))
        if state.nodes:
            objective += problem.vehicle_fixed_costs[v]
            objective += sum(cost(v, a, b) + churn(v, a) for a, b in itertools.pairwise(nodes))
        routes.append(SolvedRoute(v, nodes, arrivals, distance))
    objective += sum(problem.penalties[node] or 0 for node in dropped)
    return RoutingSolution(True, objective, tuple(routes), tuple(sorted(dropped)))
