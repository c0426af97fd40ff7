"""Pickup-and-delivery VRPTW over plain matrices; the only module that imports OR-Tools."""

from __future__ import annotations

import itertools
import logging
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from time import monotonic
from time import time as wall_time
from typing import Any

from ortools.constraint_solver import pywrapcp, routing_enums_pb2, routing_ils_pb2
from ortools.util import optional_boolean_pb2

from services.dispatch.routing.params import SolverParams

Matrix = tuple[tuple[int, ...], ...]
log = logging.getLogger(__name__)

# Insertion-based path LNS operators cost ~10x the search time per accepted solution on a
# 40-vehicle pickup-and-delivery model for no better objective at a 200-solution budget.
_SLOW_OPERATORS = (
    "use_global_cheapest_insertion_path_lns",
    "use_local_cheapest_insertion_path_lns",
    "use_relocate_path_global_cheapest_insertion_insert_unperformed",
    "use_global_cheapest_insertion_visit_types_lns",
    "use_local_cheapest_insertion_visit_types_lns",
)


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


@dataclass(frozen=True, slots=True)
class RoutingProblem:
    """A solver-agnostic VRP over node indices 0..n-1.

    Parameters
    ----------
    time_matrices, distance_matrices
        Travel seconds and metres between nodes, one matrix per vehicle class.
    cost_matrices
        Arc costs, one matrix per cost class.
    vehicle_class, vehicle_cost_class
        Per vehicle, index into the time/distance and the cost matrices.
    vehicle_starts, vehicle_ends
        Per vehicle, start and end node (nodes may be shared between vehicles).
    vehicle_capacities, vehicle_fixed_costs
        Per vehicle, load capacity and cost paid when the vehicle is used.
    vehicle_max_span
        Per vehicle, maximum end minus start time, or None for no limit.
    demands
        Per node, load change on arrival (pickups positive, deliveries negative).
    time_windows
        Per node, inclusive [earliest, latest] arrival; a start node's window bounds departure.
    service_times
        Per node, seconds spent there before leaving.
    pickups_deliveries
        (pickup, delivery) pairs served by one vehicle, pickup first.
    penalties
        Per node, penalty for leaving it unvisited, or None if it must be visited. A pair is
        optional when its pickup has a penalty; the delivery then follows the pickup.
    allowed_vehicles
        Per node, the vehicles allowed to visit it, or None for all.
    horizon
        Latest time of any cumul; also the maximum waiting time.
    vehicle_visit_costs
        Per vehicle, a cost per node paid when that vehicle visits it (empty: none). Re-planning
        uses it for churn: visiting a task another vehicle had in the plan in force costs extra.
    """

    time_matrices: tuple[Matrix, ...]
    distance_matrices: tuple[Matrix, ...]
    cost_matrices: tuple[Matrix, ...]
    vehicle_class: tuple[int, ...]
    vehicle_cost_class: tuple[int, ...]
    vehicle_starts: tuple[int, ...]
    vehicle_ends: tuple[int, ...]
    vehicle_capacities: tuple[int, ...]
    vehicle_fixed_costs: tuple[int, ...]
    vehicle_max_span: tuple[int | None, ...]
    demands: tuple[int, ...]
    time_windows: tuple[tuple[int, int], ...]
    service_times: tuple[int, ...]
    pickups_deliveries: tuple[tuple[int, int], ...]
    penalties: tuple[int | None, ...]
    allowed_vehicles: tuple[tuple[int, ...] | None, ...]
    horizon: int
    vehicle_visit_costs: tuple[tuple[int, ...], ...] = ()

    @property
    def num_nodes(self) -> int:
        """Number of nodes, starts and ends included."""
        return len(self.demands)

    @property
    def num_vehicles(self) -> int:
        """Number of vehicles."""
        return len(self.vehicle_starts)

    @property
    def terminals(self) -> set[int]:
        """The nodes vehicles start or end at (never visits)."""
        return set(self.vehicle_starts) | set(self.vehicle_ends)

    def __post_init__(self) -> None:
        n, v = self.num_nodes, self.num_vehicles
        _check(v > 0, "routing problem: at least one vehicle is required")
        _check(
            len(self.time_matrices) == len(self.distance_matrices),
            "routing problem: one distance matrix per class",
        )
        for name in ("time_matrices", "distance_matrices", "cost_matrices"):
            for matrix in getattr(self, name):
                _check(
                    len(matrix) == n and all(len(row) == n for row in matrix),
                    f"routing problem: {name} must be n x n",
                )
        for name in ("time_windows", "service_times", "penalties", "allowed_vehicles"):
            _check(
                len(getattr(self, name)) == n, f"routing problem: {name} needs one entry per node"
            )
        for name in (
            "vehicle_class",
            "vehicle_cost_class",
            "vehicle_ends",
            "vehicle_capacities",
            "vehicle_fixed_costs",
            "vehicle_max_span",
        ):
            _check(
                len(getattr(self, name)) == v,
                f"routing problem: {name} needs one entry per vehicle",
            )
        _check(
            all(0 <= c < len(self.time_matrices) for c in self.vehicle_class),
            "routing problem: bad vehicle_class",
        )
        _check(
            all(0 <= c < len(self.cost_matrices) for c in self.vehicle_cost_class),
            "routing problem: bad vehicle_cost_class",
        )
        for node in (*self.vehicle_starts, *self.vehicle_ends):
            _check(0 <= node < n, f"routing problem: vehicle node {node} out of range")
        for pickup, delivery in self.pickups_deliveries:
            _check(
                0 <= pickup < n and 0 <= delivery < n,
                f"routing problem: pair {pickup}->{delivery} out of range",
            )
        for node, (low, high) in enumerate(self.time_windows):
            _check(
                0 <= low <= high <= self.horizon,
                f"routing problem: node {node} window outside [0, horizon]",
            )


@dataclass(frozen=True, slots=True)
class SolvedRoute:
    """One vehicle's visit sequence (start and end included) with earliest arrival times."""

    vehicle: int
    nodes: tuple[int, ...]
    arrivals: tuple[int, ...]
    distance: int


@dataclass(frozen=True, slots=True)
class RoutingSolution:
    """Result of ``solve``; found is False when no solution was found (nothing else is set)."""

    found: bool
    objective: int
    routes: tuple[SolvedRoute, ...]
    dropped: tuple[int, ...]


def as_initial_routes(solution: RoutingSolution) -> tuple[tuple[int, ...], ...]:
    """A solution's routes in the form ``solve`` takes them (per vehicle, without start and
    end)."""
    return tuple(route.nodes[1:-1] for route in solution.routes)


class _Indexing:
    """The one place translating between problem nodes and OR-Tools variable indices."""

    __slots__ = ("_manager", "_routing")

    def __init__(
        self, manager: pywrapcp.RoutingIndexManager, routing: pywrapcp.RoutingModel
    ) -> None:
        self._manager = manager
        self._routing = routing

    def index(self, node: int) -> int:
        return int(self._manager.NodeToIndex(node))

    def node(self, index: int) -> int:
        return int(self._manager.IndexToNode(index))

    def start(self, vehicle: int) -> int:
        return int(self._routing.Start(vehicle))

    def end(self, vehicle: int) -> int:
        return int(self._routing.End(vehicle))


def _enum_value(enum: object, name: str, kind: str) -> int:
    value = getattr(enum, name, None)
    if not isinstance(value, int):
        raise ValueError(f"solver params: unknown {kind} {name!r}")
    return value


LARGE_MODEL_NODES = 500
"""From this many nodes on, the first solution looks at each node's nearest neighbours only.

Parallel cheapest insertion weighs every pair of nodes; at 1,000 customers (R1_10_1) that
took 8.7 s of a 60 s budget and left the local search in its first descent. With 5 % of the
nodes (at least 20) as neighbours it took 4.4 s, and the 60 s result went from +42 % to
+31 % above the best known (docs/routing-benchmarks.md, session 7). Smaller models keep the
exhaustive insertion: restricting the local search's operators the same way made every
Solomon instance worse, so only the first solution is restricted, and only where it is slow.
"""


# When a clock-bound search ends before its first solution, the first-solution strategy alone
# runs again for this factor of the budget, and at least this many seconds (``_solve_one``).
_RETRY_FACTOR = 10
_RETRY_FLOOR_S = 60.0


ITERATED_LOCAL_SEARCH = "ITERATED_LOCAL_SEARCH"
"""``SolverParams.metaheuristic`` value (ours, not an OR-Tools enum): OR-Tools' iterated local
search, ruin and recreate.

Each iteration removes strings of neighbouring visits from a few nearby routes (SISR,
Christiaens & Vanden Berghe 2020), re-inserts them by local cheapest insertion, descends to a
local optimum and accepts the result by simulated annealing (temperatures from the model's
arc costs, cooling with the search's progress against its limits). OR-Tools 9.15 runs it only
through ``RoutingModel.SolveWithIteratedLocalSearch``, never from ``SolveWithParameters``
(``use_iterated_local_search`` alone changes nothing), and that entry builds its own first
solution: a search that starts from routes (a warm start, emptying a route) uses guided
local search instead (``_search``).
"""
_ILS_FALLBACK = "GUIDED_LOCAL_SEARCH"
# About 15 visits removed a time, in strings of at most 15: better than 5, 10 or 20 on Solomon
# and Homberger subsets at 10 and 30 s (docs/routing-benchmarks.md, session 13).
_SISR_REMOVED_VISITS = 15
_SISR_SEQUENCE = 15
_SISR_BYPASS = 0.01


def _iterated_local_search(search: Any) -> None:
    search.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GREEDY_DESCENT
    search.use_iterated_local_search = True
    ils = search.iterated_local_search_parameters
    ils.perturbation_strategy = routing_ils_pb2.PerturbationStrategy.RUIN_AND_RECREATE
    ils.improve_perturbed_solution = True
    recreate = ils.ruin_recreate_parameters
    del recreate.ruin_strategies[:]
    sisr = recreate.ruin_strategies.add().sisr
    sisr.avg_num_removed_visits = _SISR_REMOVED_VISITS
    sisr.max_removed_sequence_size = _SISR_SEQUENCE
    sisr.bypass_factor = _SISR_BYPASS
    recreate.recreate_strategy.heuristic = (
        routing_enums_pb2.FirstSolutionStrategy.LOCAL_CHEAPEST_INSERTION
    )
    annealing = ils.reference_solution_acceptance_strategy.simulated_annealing
    annealing.cooling_schedule_strategy = routing_ils_pb2.CoolingScheduleStrategy.EXPONENTIAL
    annealing.automatic_temperatures = True
    ils.best_solution_acceptance_strategy.greedy_descent.SetInParent()


def _search_parameters(
    params: SolverParams, nodes: int = 0, *, insertion_lns: bool = False
) -> object:
    search = pywrapcp.DefaultRoutingSearchParameters()
    search.first_solution_strategy = _enum_value(
        routing_enums_pb2.FirstSolutionStrategy, params.first_solution, "first_solution"
    )
    if params.metaheuristic == ITERATED_LOCAL_SEARCH:
        _iterated_local_search(search)
    else:
        search.local_search_metaheuristic = _enum_value(
            routing_enums_pb2.LocalSearchMetaheuristic, params.metaheuristic, "metaheuristic"
        )
    if params.solution_limit is not None:
        search.solution_limit = params.solution_limit
    if params.time_limit_s is not None:
        search.time_limit.FromMilliseconds(max(1, round(params.time_limit_s * 1000)))
    on = optional_boolean_pb2.BOOL_TRUE if insertion_lns else optional_boolean_pb2.BOOL_FALSE
    for operator in _SLOW_OPERATORS:
        setattr(search.local_search_operators, operator, on)
    if nodes >= LARGE_MODEL_NODES:
        insertion = search.global_cheapest_insertion_first_solution_parameters
        insertion.neighbors_ratio = 0.05
        insertion.min_neighbors = 20
    search.log_search = False
    return search


def _arc_costs(routing: pywrapcp.RoutingModel, problem: RoutingProblem) -> list[int]:
    """Per vehicle, the callback of its arc costs: its cost class's matrix, plus its visit
    cost of a node on every arc leaving that node (so each visited node is paid once).

    Visit costs used to be a dimension with a transit callback per vehicle, its span priced.
    OR-Tools 9.15 finds no solution at all to such a model once some nodes must be dropped,
    not even the one that drops everything (google/or-tools#5283; seen under load in
    session 6: plans that routed nothing). Vehicles with the same class and the same visit
    costs share one matrix.
    """
    matrices: dict[tuple[int, tuple[int, ...]], int] = {}
    callbacks = []
    for vehicle in range(problem.num_vehicles):
        cls = problem.vehicle_cost_class[vehicle]
        visit = tuple(problem.vehicle_visit_costs[vehicle]) if problem.vehicle_visit_costs else ()
        key = (cls, visit if any(visit) else ())
        if key not in matrices:
            m = problem.cost_matrices[cls]
            rows = (
                [[cost + visit[i] for cost in row] for i, row in enumerate(m)]
                if key[1]
                else [list(row) for row in m]
            )
            matrices[key] = routing.RegisterTransitMatrix(rows)
        callbacks.append(matrices[key])
    return callbacks


def solve(
    problem: RoutingProblem,
    params: SolverParams,
    initial_routes: Sequence[Sequence[int]] | None = None,
    fallback_routes: Callable[[], Sequence[Sequence[int]] | None] | None = None,
) -> RoutingSolution:
    """Solve a pickup-and-delivery VRPTW with OR-Tools routing.

    The search is single-threaded; with only ``solution_limit`` set (OR-Tools counts every
    solution the local search accepts, including under guided local search), the same input
    gives the same output on any machine. Arrival times are the earliest the chosen
    sequence allows (the minimum of each time cumul).

    ``initial_routes`` (per vehicle, the visited nodes without start and end) warm-starts the
    local search instead of the first-solution strategy; if OR-Tools rejects them, the search
    starts from scratch as without them.

    ``fallback_routes`` (same form) are asked for only if the search, and the first-solution
    strategy after it, found nothing: the solution they give is returned as it is.

    When every node must be visited, vehicles have fixed costs and the search has a time
    limit, the vehicles are minimised too (``_fewer_routes``): guided local search moves one
    visit at a time and never empties a route that costs more in distance to empty.

    Otherwise, a model of ``PARTS_FROM_NODES`` nodes or more searched against the clock alone
    (no solution limit, at least ``_PARTS_FROM_S``) gets ``_WHOLE_SHARE`` of it for the
    whole model's search and the rest for groups of neighbouring routes (``_by_parts``), in
    ``params.workers`` processes from a budget of ``_POOL_FROM_S``.

    A smaller model searched against the clock alone, from a budget of ``_POOL_FROM_S`` and
    with ``params.workers`` above 1, is searched that many times at once, from different
    first solutions (``_portfolio``); the cheapest plan is returned.
    """
    if _searches_a_portfolio(problem, params):
        return _portfolio(problem, params, initial_routes, fallback_routes)
    return _solve_one(problem, params, initial_routes, fallback_routes)


def _solve_one(
    problem: RoutingProblem,
    params: SolverParams,
    initial_routes: Sequence[Sequence[int]] | None = None,
    fallback_routes: Callable[[], Sequence[Sequence[int]] | None] | None = None,
) -> RoutingSolution:
    """``solve`` in this process alone."""
    if not _minimises_vehicles(problem, params):
        if not _improves_by_parts(problem, params):
            return _search(problem, params, initial_routes, fallback_routes)
        assert params.time_limit_s is not None
        deadline = monotonic() + params.time_limit_s
        pool: ProcessPoolExecutor | None = None
        try:
            pool = _part_pool(params)
            first = _search(
                problem,
                replace(params, time_limit_s=_WHOLE_SHARE * params.time_limit_s),
                initial_routes,
                fallback_routes,
            )
            return _by_parts(problem, params, first, deadline, pool) if first.found else first
        finally:
            if pool is not None:  # searches still running end by their own time limits
                pool.shutdown(wait=False, cancel_futures=True)
    assert params.time_limit_s is not None
    deadline = monotonic() + params.time_limit_s
    first = _search(
        problem,
        replace(params, time_limit_s=_FIRST_SHARE * params.time_limit_s),
        initial_routes,
        fallback_routes,
    )
    if not first.found:
        return first
    return _fewer_routes(problem, params, first, deadline)


_FIRST_SHARE = 0.4
"""Of the budget, what the first search gets when vehicles are minimised afterwards."""
_ATTEMPT_SHARE = 0.2
"""Of the budget, what one attempt to empty a route may take at most."""
_POLISH_SHARE = 0.2
"""Of the budget, what is kept for shortening the routes of the fewest vehicles found."""


def _minimises_vehicles(problem: RoutingProblem, params: SolverParams) -> bool:
    terminals = problem.terminals
    return (
        params.time_limit_s is not None
        and problem.num_vehicles > 1
        and any(problem.vehicle_fixed_costs)
        and all(p is None for node, p in enumerate(problem.penalties) if node not in terminals)
    )


PARTS_FROM_NODES = LARGE_MODEL_NODES
"""From this many nodes on (and with a time limit), most of the budget goes to re-optimising
groups of neighbouring routes (``_by_parts``) rather than to the search of the whole model."""
_WHOLE_SHARE = 0.15
"""Of the budget, what the search of the whole model gets before ``_by_parts``."""
_PART_VISITS = 200
"""Visits per group of routes re-optimised together."""
_PART_SHARE = 0.05
"""Of the budget, what one group's search gets (at least ``_PART_MIN_S``)."""
_PART_MIN_S = 0.3
_PART_GRACE_S = 2.0
"""How long past the deadline a group's search may take to return (its model's build)."""
_POOL_FROM_S = 10.0
"""Budgets from which the groups are searched in worker processes (``SolverParams.workers``):
spawning them and importing OR-Tools there takes about a second."""
_PARTS_FROM_S = 5.0
"""The smallest budget split between the whole model and groups of routes."""


def _improves_by_parts(problem: RoutingProblem, params: SolverParams) -> bool:
    """Only for a large model searched against the clock alone: dispatch sets a solution limit
    (reproducible plans; its time limit is a backstop) and must keep its whole-model search,
    which also inserts visits the first solution dropped."""
    return (
        params.solution_limit is None
        and params.time_limit_s is not None
        and params.time_limit_s >= _PARTS_FROM_S
        and problem.num_nodes >= PARTS_FROM_NODES
    )


PORTFOLIO_FIRST_SOLUTIONS = ("PARALLEL_CHEAPEST_INSERTION", "SAVINGS", "LOCAL_CHEAPEST_INSERTION")
"""First-solution strategies of a portfolio's other searches, in this order (skipping the
search's own): guided local search from different starts ends in different places, and the
cheaper of two searches at 10 s beats either alone (docs/routing-benchmarks.md, session 11)."""
_UNPAIRED_ONLY = frozenset({"SAVINGS"})
"""Strategies that find no first solution where visits come in pickup-and-delivery pairs
(SAVINGS: none on lc101, lr101, lrc101 and lc201 in 10 s each)."""
_PORTFOLIO_RETURN_S = 0.5
"""What a portfolio worker keeps of its budget for building its model before the search's
clock starts and for sending its plan back (searching to the deadline, the portfolio's
200-customer runs took 30.5 s of 30)."""


def _searches_a_portfolio(problem: RoutingProblem, params: SolverParams) -> bool:
    """Only where a second core would otherwise sit idle and the plan may depend on the clock:
    dispatch's searches have a solution limit (reproducible plans) and the decomposed path's
    clusters run one per worker already."""
    return (
        params.workers > 1
        and params.solution_limit is None
        and params.time_limit_s is not None
        and params.time_limit_s >= _POOL_FROM_S
        and not _improves_by_parts(problem, params)
    )


def _portfolio(
    problem: RoutingProblem,
    params: SolverParams,
    initial_routes: Sequence[Sequence[int]] | None,
    fallback_routes: Callable[[], Sequence[Sequence[int]] | None] | None,
) -> RoutingSolution:
    """Search in this process and, at the same time, from other first solutions in
    ``params.workers - 1`` spawned processes, all until the same deadline; the cheapest plan
    (by ``_charged``; this process's on a tie). A worker that fails, dies or overruns is
    logged, left out and killed (a first-solution strategy that finds nothing can go on for
    minutes): this process's own search always counts."""
    assert params.time_limit_s is not None
    deadline = wall_time() + params.time_limit_s  # the wall clock: the workers read it too
    context = multiprocessing.get_context("spawn")
    workers = []
    for first in _portfolio_strategies(problem, params):
        receive, send = context.Pipe(duplex=False)
        process = context.Process(
            target=_portfolio_worker,
            args=(send, problem, replace(params, first_solution=first, workers=1)),
            kwargs={"initial_routes": initial_routes, "deadline": deadline},
            daemon=True,
        )
        try:
            process.start()
        except (OSError, AssertionError) as exc:  # no process left, or we are a daemon
            log.warning("routing: the portfolio's %s search did not start: %r", first, exc)
            receive.close()
            continue
        finally:
            send.close()
        workers.append((first, process, receive))
    try:
        best = _solve_one(problem, replace(params, workers=1), initial_routes, fallback_routes)
        for first, _process, receive in workers:
            other = _portfolio_answer(first, receive, deadline)
            if other is not None and other.found and _cheaper(problem, other, best):
                best = other
        return best
    finally:
        for _first, process, receive in workers:
            receive.close()
            if process.is_alive():
                process.kill()
            process.join()


def _portfolio_strategies(problem: RoutingProblem, params: SolverParams) -> list[str]:
    """The first solutions of a portfolio's other searches, one per spare worker."""
    others = [
        s
        for s in PORTFOLIO_FIRST_SOLUTIONS
        if s != params.first_solution and not (problem.pickups_deliveries and s in _UNPAIRED_ONLY)
    ]
    return others[: params.workers - 1]


def _portfolio_answer(first: str, receive: Connection, deadline: float) -> RoutingSolution | None:
    """A portfolio worker's plan, or None (logged) if it has none by the deadline and grace."""
    try:
        if not receive.poll(max(0.0, deadline - wall_time()) + _PART_GRACE_S):
            log.warning("routing: the portfolio's %s search overran its deadline", first)
            return None
        answer: RoutingSolution | str | None = receive.recv()
    except (EOFError, OSError) as exc:
        log.warning("routing: the portfolio's %s search died: %r", first, exc)
        return None
    if isinstance(answer, str):
        log.warning("routing: the portfolio's %s search failed: %s", first, answer)
        return None
    return answer


def _portfolio_worker(
    send: Connection,
    problem: RoutingProblem,
    params: SolverParams,
    *,
    initial_routes: Sequence[Sequence[int]] | None,
    deadline: float,
) -> None:
    """One of ``_portfolio``'s other searches, in its own process, with what is left of the
    budget once the process has started (spawning it and importing OR-Tools take about a
    second); sends the plan (None if too little was left) or the error in words."""
    answer: RoutingSolution | str | None = None
    try:
        left = deadline - wall_time() - _PORTFOLIO_RETURN_S
        if left >= _PART_MIN_S:
            answer = _solve_one(problem, replace(params, time_limit_s=left), initial_routes)
    except Exception as exc:  # the parent logs it; its own plan stands
        answer = repr(exc)
    send.send(answer)
    send.close()


def _cheaper(problem: RoutingProblem, one: RoutingSolution, than: RoutingSolution) -> bool:
    return not than.found or _charged(problem, one) < _charged(problem, than)


def _charged(problem: RoutingProblem, solution: RoutingSolution) -> int:
    """What a solution of ``problem`` costs: its routes (``_route_cost``) and the penalties
    of the visits it drops."""
    routes = sum(_route_cost(problem, r.vehicle, r.nodes) for r in solution.routes)
    return routes + sum(problem.penalties[n] or 0 for n in solution.dropped)


def _route_cost(problem: RoutingProblem, vehicle: int, nodes: Sequence[int]) -> int:
    """What OR-Tools charges for ``vehicle`` driving ``nodes`` (start and end included)."""
    if len(nodes) <= 2:
        return 0
    cost = problem.cost_matrices[problem.vehicle_cost_class[vehicle]]
    visit = problem.vehicle_visit_costs[vehicle] if problem.vehicle_visit_costs else None
    arcs = sum(cost[a][b] + (visit[a] if visit else 0) for a, b in itertools.pairwise(nodes))
    return arcs + problem.vehicle_fixed_costs[vehicle]


def _neighbouring_routes(
    problem: RoutingProblem, seed: SolvedRoute, used: Sequence[SolvedRoute], visits: int
) -> list[SolvedRoute]:
    """``seed`` and the routes nearest to it (closest pair of visits), up to ``visits``."""
    distance = problem.distance_matrices[problem.vehicle_class[seed.vehicle]]
    mine = seed.nodes[1:-1]

    def gap(route: SolvedRoute) -> int:
        return min(distance[a][b] for a in mine for b in route.nodes[1:-1])

    group = [seed]
    total = len(mine)
    for route in sorted((r for r in used if r.vehicle != seed.vehicle), key=gap):
        if total >= visits:
            break
        group.append(route)
        total += len(route.nodes) - 2
    return group


@dataclass(frozen=True, slots=True)
class _Part:
    """A group of routes cut out of a problem: the routes, the problem of only their vehicles
    and nodes, each of its nodes' original, and the routes in its nodes (a start for it)."""

    group: tuple[SolvedRoute, ...]
    sub: RoutingProblem
    original: tuple[int, ...]
    start: tuple[tuple[int, ...], ...]


def _restrict(problem: RoutingProblem, routes: Sequence[SolvedRoute]) -> _Part:
    """The group of ``routes`` as a problem of its own (see ``_Part``)."""
    vehicles = [r.vehicle for r in routes]
    nodes = sorted({n for r in routes for n in r.nodes})
    local = {n: i for i, n in enumerate(nodes)}
    local_vehicle = {v: i for i, v in enumerate(vehicles)}

    def rows(matrix: Matrix) -> Matrix:
        return tuple(tuple(matrix[a][b] for b in nodes) for a in nodes)

    classes = sorted({problem.vehicle_class[v] for v in vehicles})
    cost_classes = sorted({problem.vehicle_cost_class[v] for v in vehicles})
    allowed = []
    for n in nodes:
        original = problem.allowed_vehicles[n]
        allowed.append(
            None
            if original is None
            else tuple(local_vehicle[v] for v in original if v in local_vehicle)
        )
    sub = RoutingProblem(
        time_matrices=tuple(rows(problem.time_matrices[c]) for c in classes),
        distance_matrices=tuple(rows(problem.distance_matrices[c]) for c in classes),
        cost_matrices=tuple(rows(problem.cost_matrices[c]) for c in cost_classes),
        vehicle_class=tuple(classes.index(problem.vehicle_class[v]) for v in vehicles),
        vehicle_cost_class=tuple(
            cost_classes.index(problem.vehicle_cost_class[v]) for v in vehicles
        ),
        vehicle_starts=tuple(local[problem.vehicle_starts[v]] for v in vehicles),
        vehicle_ends=tuple(local[problem.vehicle_ends[v]] for v in vehicles),
        vehicle_capacities=tuple(problem.vehicle_capacities[v] for v in vehicles),
        vehicle_fixed_costs=tuple(problem.vehicle_fixed_costs[v] for v in vehicles),
        vehicle_max_span=tuple(problem.vehicle_max_span[v] for v in vehicles),
        demands=tuple(problem.demands[n] for n in nodes),
        time_windows=tuple(problem.time_windows[n] for n in nodes),
        service_times=tuple(problem.service_times[n] for n in nodes),
        pickups_deliveries=tuple(
            (local[p], local[d]) for p, d in problem.pickups_deliveries if p in local and d in local
        ),
        penalties=tuple(problem.penalties[n] for n in nodes),
        allowed_vehicles=tuple(allowed),
        horizon=problem.horizon,
        vehicle_visit_costs=tuple(
            tuple(problem.vehicle_visit_costs[v][n] for n in nodes) for v in vehicles
        )
        if problem.vehicle_visit_costs
        else (),
    )
    start = tuple(tuple(local[n] for n in r.nodes[1:-1]) for r in routes)
    return _Part(tuple(routes), sub, tuple(nodes), start)


Routes = Sequence[Sequence[int]]


def _solve_part(sub: RoutingProblem, params: SolverParams, start: Routes) -> RoutingSolution:
    """One group's search (module-level, so that a worker process can run it)."""
    return _search(sub, params, start)


def _warm_up() -> None:
    """Submitted once per worker: the worker imports this module (and OR-Tools) meanwhile."""


def _part_pool(params: SolverParams) -> ProcessPoolExecutor | None:
    """Worker processes for ``_by_parts`` (started now, warming up while the whole model is
    searched), or None to search the groups in this process."""
    if params.workers <= 1 or (params.time_limit_s or 0) < _POOL_FROM_S:
        return None
    pool = ProcessPoolExecutor(
        max_workers=params.workers, mp_context=multiprocessing.get_context("spawn")
    )
    for _ in range(params.workers):
        pool.submit(_warm_up)
    return pool


def _by_parts(
    problem: RoutingProblem,
    params: SolverParams,
    best: RoutingSolution,
    deadline: float,
    pool: ProcessPoolExecutor | None = None,
) -> RoutingSolution:
    """Re-optimise groups of neighbouring routes until the deadline, one per worker at a time.

    At 1,000 customers the search of the whole model is still in its first descent when a
    minute runs out (docs/routing-benchmarks.md): each move is weighed against the whole
    model. A group of routes with about ``_PART_VISITS`` visits is a model of its own that
    guided local search improves within seconds; its routes replace the group's when they
    cost less. Every route seeds a group in turn (the longest first); groups searched at the
    same time share no route, so each result applies as it is. Visits dropped before stay
    dropped (the groups hold visited nodes only).
    """
    assert params.time_limit_s is not None
    slice_s = max(_PART_MIN_S, _PART_SHARE * params.time_limit_s)
    part_params = replace(params, solution_limit=None, workers=1)
    routes = {r.vehicle: r for r in best.routes}
    objective, dropped = best.objective, set(best.dropped)
    tried: set[int] = set()  # seeds since the last round began
    running: dict[Future[RoutingSolution], _Part] = {}
    slots = params.workers if pool is not None else 1

    def next_part() -> _Part | None:
        busy = {r.vehicle for part in running.values() for r in part.group}
        used = [r for r in routes.values() if len(r.nodes) > 2 and r.vehicle not in busy]
        seeds = [r for r in used if r.vehicle not in tried]
        if not seeds:
            if not tried or running:
                return None
            tried.clear()  # a new round over every route
            seeds = used
        if not seeds:
            return None
        seed = max(seeds, key=lambda r: (r.distance, -r.vehicle))
        tried.add(seed.vehicle)
        return _restrict(problem, _neighbouring_routes(problem, seed, used, _PART_VISITS))

    def submit(part: _Part, left: float) -> None:
        nonlocal pool, slots
        limit = replace(part_params, time_limit_s=min(slice_s, left))
        if pool is not None:
            try:
                running[pool.submit(_solve_part, part.sub, limit, part.start)] = part
                return
            except BrokenProcessPool:  # a worker died: go on in this process
                log.warning("routing: a worker process died; groups go on in this process")
                pool, slots = None, 1
        future: Future[RoutingSolution] = Future()
        try:
            future.set_result(_solve_part(part.sub, limit, part.start))
        except Exception as exc:  # a group's failure must not cost the plan found
            future.set_exception(exc)
        running[future] = part

    while True:
        while len(running) < slots and deadline - monotonic() > _PART_MIN_S:
            part = next_part()
            left = deadline - monotonic()  # building the group took time too
            if part is None or left < _PART_MIN_S:
                break
            submit(part, left)
        if not running:
            break
        finished, _ = wait(
            list(running),
            timeout=deadline - monotonic() + _PART_GRACE_S,
            return_when=FIRST_COMPLETED,
        )
        if not finished:
            break  # a worker overran its time limit: keep what we have
        for future in finished:
            part = running.pop(future)
            error = future.exception()
            if error is not None:
                log.warning("routing: a group of %d routes failed: %r", len(part.group), error)
                continue
            found = future.result()
            if not found.found:
                continue
            sub, group = part.sub, part.group
            before = sum(_route_cost(problem, r.vehicle, r.nodes) for r in group)
            after = _charged(sub, found)
            if after >= before:
                continue
            objective += after - before
            for r in found.routes:
                vehicle = group[r.vehicle].vehicle
                nodes = tuple(part.original[n] for n in r.nodes)
                routes[vehicle] = SolvedRoute(vehicle, nodes, r.arrivals, r.distance)
                tried.discard(vehicle)  # changed: worth seeding again
            dropped |= {part.original[n] for n in found.dropped}
    return RoutingSolution(
        True, objective, tuple(routes[v] for v in sorted(routes)), tuple(sorted(dropped))
    )


def _fewer_routes(
    problem: RoutingProblem, params: SolverParams, best: RoutingSolution, deadline: float
) -> RoutingSolution:
    """Empty the shortest route, again and again, while the visits fit elsewhere in time.

    Each attempt bars the route's vehicle (and every unused one), makes every visit optional
    at a penalty above any complete plan's cost, starts from the plan without that route and
    stops as soon as a search finds every visit placed again (its cost falls below the
    penalty). A route that does not empty is not tried again at that fleet size; the last
    ``_POLISH_SHARE`` of the budget shortens the best plan's routes with its vehicles.
    """
    assert params.time_limit_s is not None
    budget = params.time_limit_s
    first = best
    mandatory = set(range(problem.num_nodes)) - problem.terminals
    largest_arc = max(max(max(row) for row in m) for m in problem.cost_matrices)
    largest_visit = max((max(v) for v in problem.vehicle_visit_costs if v), default=0)
    # Above any complete plan: every fixed cost, and an arc out of every node and out of
    # every vehicle's start (starts may share a node).
    arcs = problem.num_nodes + problem.num_vehicles
    penalty = sum(problem.vehicle_fixed_costs) + arcs * (largest_arc + largest_visit) + 1
    everyone = tuple(range(problem.num_vehicles))
    failed: set[int] = set()
    while True:
        remaining = deadline - monotonic()
        used = [r for r in best.routes if len(r.nodes) > 2]
        spare = remaining - _POLISH_SHARE * budget
        if len(used) <= 1 or spare < 0.05 * budget:
            break
        candidates = [r for r in used if r.vehicle not in failed]
        if not candidates:
            break
        victim = min(candidates, key=lambda r: (len(r.nodes), r.distance))
        keep = {r.vehicle for r in used} - {victim.vehicle}
        variant = replace(
            problem,
            penalties=tuple(
                penalty if node in mandatory else p for node, p in enumerate(problem.penalties)
            ),
            allowed_vehicles=tuple(
                tuple(v for v in (allowed if allowed is not None else everyone) if v in keep)
                for allowed in problem.allowed_vehicles
            ),
        )
        start = list(as_initial_routes(best))
        start[victim.vehicle] = ()
        attempt = _search(
            variant,
            replace(params, time_limit_s=min(spare, _ATTEMPT_SHARE * budget)),
            start,
            stop_below=penalty,
        )
        if not attempt.found or set(attempt.dropped) & mandatory:
            failed.add(victim.vehicle)  # another route may empty where this one did not
            continue
        best, failed = attempt, set()
    remaining = deadline - monotonic()
    if remaining > 0.01 * budget:
        polished = _search(
            problem, replace(params, time_limit_s=remaining), as_initial_routes(best)
        )
        if polished.found and polished.objective <= best.objective:
            best = polished
    # Fewer routes cost less only where a vehicle's fixed cost outweighs the distance saved.
    return best if best.objective <= first.objective else first


def _search(
    problem: RoutingProblem,
    params: SolverParams,
    initial_routes: Sequence[Sequence[int]] | None = None,
    fallback_routes: Callable[[], Sequence[Sequence[int]] | None] | None = None,
    stop_below: int | None = None,
) -> RoutingSolution:
    """One OR-Tools search (``solve`` describes the arguments); ``stop_below``: end the
    search at the first solution whose cost is below it."""
    iterated = params.metaheuristic == ITERATED_LOCAL_SEARCH
    if iterated and (initial_routes is not None or stop_below is not None):
        # Iterated local search cannot start from routes (``ITERATED_LOCAL_SEARCH``).
        params, iterated = replace(params, metaheuristic=_ILS_FALLBACK), False
    manager = pywrapcp.RoutingIndexManager(
        problem.num_nodes,
        problem.num_vehicles,
        list(problem.vehicle_starts),
        list(problem.vehicle_ends),
    )
    routing = pywrapcp.RoutingModel(manager)
    indexing = _Indexing(manager, routing)
    service = problem.service_times

    time_callbacks = [
        routing.RegisterTransitMatrix(
            [[service[i] + travel for travel in row] for i, row in enumerate(matrix)]
        )
        for matrix in problem.time_matrices
    ]
    for vehicle, callback in enumerate(_arc_costs(routing, problem)):
        routing.SetArcCostEvaluatorOfVehicle(callback, vehicle)
        routing.SetFixedCostOfVehicle(problem.vehicle_fixed_costs[vehicle], vehicle)

    routing.AddDimensionWithVehicleTransits(
        [time_callbacks[c] for c in problem.vehicle_class],
        problem.horizon,
        problem.horizon,
        False,
        "time",
    )
    time = routing.GetDimensionOrDie("time")
    load_callback = routing.RegisterUnaryTransitVector(list(problem.demands))
    routing.AddDimensionWithVehicleCapacity(
        load_callback, 0, list(problem.vehicle_capacities), True, "load"
    )

    terminals = problem.terminals
    for node, (low, high) in enumerate(problem.time_windows):
        if node not in terminals:
            time.CumulVar(indexing.index(node)).SetRange(low, high)
    for vehicle in range(problem.num_vehicles):
        low, high = problem.time_windows[problem.vehicle_starts[vehicle]]
        time.CumulVar(indexing.start(vehicle)).SetRange(low, high)
        low, high = problem.time_windows[problem.vehicle_ends[vehicle]]
        time.CumulVar(indexing.end(vehicle)).SetRange(low, high)
        span = problem.vehicle_max_span[vehicle]
        if span is not None:
            time.SetSpanUpperBoundForVehicle(span, vehicle)

    solver = routing.solver()
    paired_deliveries: dict[int, int] = {}
    for pickup, delivery in problem.pickups_deliveries:
        p, d = indexing.index(pickup), indexing.index(delivery)
        routing.AddPickupAndDelivery(p, d)
        solver.Add(routing.VehicleVar(p) == routing.VehicleVar(d))
        solver.Add(time.CumulVar(p) <= time.CumulVar(d))
        paired_deliveries[delivery] = pickup
    for node, penalty in enumerate(problem.penalties):
        if node in terminals:
            continue
        if penalty is not None:
            routing.AddDisjunction([indexing.index(node)], penalty)
        elif node in paired_deliveries and problem.penalties[paired_deliveries[node]] is not None:
            # The pickup carries the penalty; VehicleVar equality drops the delivery with it.
            routing.AddDisjunction([indexing.index(node)], 0)
    # SetAllowedVehiclesForIndex rejects every Python sequence in the 9.15 wheel (its absl::Span
    # argument has no SWIG typemap), so bar vehicles on the vehicle variable instead.
    for node, allowed in enumerate(problem.allowed_vehicles):
        if allowed is not None and node not in terminals:
            barred = sorted(set(range(problem.num_vehicles)) - set(allowed))
            if barred:
                routing.VehicleVar(indexing.index(node)).RemoveValues(barred)

    if stop_below is not None:

        def stop_if_below() -> None:
            if routing.CostVar().Value() < stop_below:
                solver.FinishCurrentSearch()

        routing.AddAtSolutionCallback(stop_if_below)
    # Putting a whole route's visits back (``_fewer_routes``) is what the insertion
    # operators are for.
    search = _search_parameters(params, problem.num_nodes, insertion_lns=stop_below is not None)
    assignment = None
    if initial_routes is not None:
        routing.CloseModelWithParameters(search)
        start = routing.ReadAssignmentFromRoutes(
            [[indexing.index(node) for node in route] for route in initial_routes], True
        )
        if start is not None:
            assignment = routing.SolveFromAssignmentWithParameters(start, search)
    if assignment is None:
        if iterated:
            assignment = routing.SolveWithIteratedLocalSearch(search)
        else:
            assignment = routing.SolveWithParameters(search)
    if assignment is None and params.time_limit_s is not None:
        # The clock ran out before the first solution (a short live budget on a loaded
        # machine): a plan of no routes would supersede a good one, so the first-solution
        # strategy gets longer. The core's ends quickly; others need not (PATH_CHEAPEST_ARC
        # was still in R101's first solution after 10 minutes), hence a limit of its own.
        retry_s = max(_RETRY_FLOOR_S, _RETRY_FACTOR * params.time_limit_s)
        first_only = replace(params, time_limit_s=retry_s, solution_limit=1)
        assignment = routing.SolveWithParameters(_search_parameters(first_only, problem.num_nodes))
    if assignment is None and fallback_routes is not None:
        # The first-solution strategy found nothing (seen in session 6 with OR-Tools' bug
        # #5283, see ``_arc_costs``): a plan that routes nothing would supersede a good one.
        # Routes that OR-Tools accepts are a solution.
        fallback = fallback_routes()
        start = None
        if fallback is not None:
            start = routing.ReadAssignmentFromRoutes(
                [[indexing.index(node) for node in route] for route in fallback], True
            )
        if start is not None:
            as_is = replace(params, time_limit_s=None, solution_limit=1)
            assignment = routing.SolveFromAssignmentWithParameters(start, _search_parameters(as_is))
    if assignment is None:
        return RoutingSolution(False, 0, (), ())

    routes: list[SolvedRoute] = []
    for vehicle in range(problem.num_vehicles):
        distances = problem.distance_matrices[problem.vehicle_class[vehicle]]
        nodes: list[int] = []
        arrivals: list[int] = []
        index = indexing.start(vehicle)
        while True:
            nodes.append(indexing.node(index))
            arrivals.append(int(assignment.Min(time.CumulVar(index))))
            if routing.IsEnd(index):
                break
            index = int(assignment.Value(routing.NextVar(index)))
        distance = sum(distances[a][b] for a, b in itertools.pairwise(nodes))
        routes.append(SolvedRoute(vehicle, tuple(nodes), tuple(arrivals), distance))
    dropped = tuple(
        node
        for node in range(problem.num_nodes)
        if node not in terminals
        and int(assignment.Value(routing.NextVar(indexing.index(node)))) == indexing.index(node)
    )
    return RoutingSolution(True, int(assignment.ObjectiveValue()), tuple(routes), dropped)
