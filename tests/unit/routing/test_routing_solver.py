"""The matrix-level solve() on a 5-customer VRPTW whose optimum is found by exhaustive search."""

import itertools
import math
import multiprocessing
import random
from dataclasses import replace
from time import monotonic, sleep
from time import time as wall_time
from typing import Any

import pytest
from ortools.constraint_solver import pywrapcp
from ortools.constraint_solver.routing_enums_pb2 import LocalSearchMetaheuristic

from services.dispatch.routing import SolverParams, ortools_solver
from services.dispatch.routing.ortools_solver import (
    LARGE_MODEL_NODES,
    RoutingProblem,
    RoutingSolution,
    _charged,
    _fewer_routes,
    _minimises_vehicles,
    _search,
    _search_parameters,
    solve,
)

# Depot 0 and five customers; travel time equals distance (rounded Euclidean x10).
POINTS = [(0, 0), (2, 6), (5, 5), (6, 1), (-4, 3), (-3, -4)]
DEMANDS = [0, 1, 2, 1, 2, 1]
WINDOWS = [(0, 400), (0, 120), (60, 200), (0, 400), (0, 60), (100, 250)]
SERVICE = [0, 10, 10, 10, 10, 10]
CAPACITY = 4
VEHICLES = 2


def distance(a: int, b: int) -> int:
    (xa, ya), (xb, yb) = POINTS[a], POINTS[b]
    return round(10 * math.hypot(xa - xb, ya - yb))


MATRIX = tuple(tuple(distance(a, b) for b in range(len(POINTS))) for a in range(len(POINTS)))


def tour_cost(order: tuple[int, ...]) -> int | None:
    """Distance of depot -> order -> depot, or None if a window or the capacity breaks."""
    if sum(DEMANDS[c] for c in order) > CAPACITY:
        return None
    time, here, cost = 0, 0, 0
    for customer in (*order, 0):
        time = max(WINDOWS[customer][0], time + SERVICE[here] + MATRIX[here][customer])
        if time > WINDOWS[customer][1]:
            return None
        cost += MATRIX[here][customer]
        here = customer
    return cost


def brute_force_optimum() -> int:
    best = math.inf
    customers = range(1, len(POINTS))
    for assignment in itertools.product(range(VEHICLES), repeat=len(customers)):
        total = 0
        for vehicle in range(VEHICLES):
            mine = [c for c, v in zip(customers, assignment, strict=True) if v == vehicle]
            costs = [tour_cost(p) for p in itertools.permutations(mine)]
            feasible = [c for c in costs if c is not None]
            if not feasible:
                total = -1
                break
            total += min(feasible)
        if total >= 0:
            best = min(best, total)
    assert best < math.inf
    return int(best)


def the_problem() -> RoutingProblem:
    n = len(POINTS)
    return RoutingProblem(
        time_matrices=(MATRIX,),
        distance_matrices=(MATRIX,),
        cost_matrices=(MATRIX,),
        vehicle_class=(0,) * VEHICLES,
        vehicle_cost_class=(0,) * VEHICLES,
        vehicle_starts=(0,) * VEHICLES,
        vehicle_ends=(0,) * VEHICLES,
        vehicle_capacities=(CAPACITY,) * VEHICLES,
        vehicle_fixed_costs=(0,) * VEHICLES,
        vehicle_max_span=(None,) * VEHICLES,
        demands=tuple(DEMANDS),
        time_windows=tuple(WINDOWS),
        service_times=tuple(SERVICE),
        pickups_deliveries=(),
        penalties=(None,) * n,
        allowed_vehicles=(None,) * n,
        horizon=400,
    )


def test_solve_finds_the_exhaustive_optimum_of_a_five_customer_vrptw() -> None:
    optimum = brute_force_optimum()
    solution = solve(the_problem(), SolverParams(solution_limit=200))
    assert solution.found
    assert solution.objective == optimum
    assert sum(route.distance for route in solution.routes) == optimum
    assert solution.dropped == ()


def test_solve_returns_a_schedule_within_windows_and_capacity() -> None:
    solution = solve(the_problem(), SolverParams(solution_limit=200))
    visited = sorted(node for route in solution.routes for node in route.nodes[1:-1])
    assert visited == [1, 2, 3, 4, 5]
    for route in solution.routes:
        assert sum(DEMANDS[node] for node in route.nodes) <= CAPACITY
        for node, arrival in zip(route.nodes, route.arrivals, strict=True):
            low, high = WINDOWS[node]
            assert low <= arrival <= high


def test_an_optional_customer_that_fits_nowhere_is_dropped() -> None:
    problem = the_problem()
    impossible = RoutingProblem(
        **{
            **{f: getattr(problem, f) for f in RoutingProblem.__dataclass_fields__},
            "demands": (0, 1, 2, 1, 2, 9),
            "penalties": (None, None, None, None, None, 1_000),
        }
    )
    solution = solve(impossible, SolverParams(solution_limit=50))
    assert solution.found
    assert solution.dropped == (5,)


def test_large_models_take_their_first_solution_from_nearest_neighbours_only() -> None:
    small = _search_parameters(SolverParams(solution_limit=1), LARGE_MODEL_NODES - 1)
    large = _search_parameters(SolverParams(solution_limit=1), LARGE_MODEL_NODES)
    assert small.global_cheapest_insertion_first_solution_parameters.neighbors_ratio == 1  # type: ignore[attr-defined]
    first = large.global_cheapest_insertion_first_solution_parameters  # type: ignore[attr-defined]
    assert (first.neighbors_ratio, first.min_neighbors) == (0.05, 20)
    # The local search keeps every neighbour (restricting it made Solomon worse).
    assert large.ls_operator_neighbors_ratio == 1  # type: ignore[attr-defined]


def _cvrp(
    matrix: tuple[tuple[int, ...], ...], vehicles: int, capacity: int, fixed_cost: int = 0
) -> RoutingProblem:
    """Depot 0, every other node a mandatory customer of demand 1, no binding windows."""
    n, horizon = len(matrix), 100_000
    return RoutingProblem(
        time_matrices=(matrix,),
        distance_matrices=(matrix,),
        cost_matrices=(matrix,),
        vehicle_class=(0,) * vehicles,
        vehicle_cost_class=(0,) * vehicles,
        vehicle_starts=(0,) * vehicles,
        vehicle_ends=(0,) * vehicles,
        vehicle_capacities=(capacity,) * vehicles,
        vehicle_fixed_costs=(fixed_cost,) * vehicles,
        vehicle_max_span=(None,) * vehicles,
        demands=(0,) + (1,) * (n - 1),
        time_windows=((0, horizon),) * n,
        service_times=(0,) * n,
        pickups_deliveries=(),
        penalties=(None,) * n,
        allowed_vehicles=(None,) * n,
        horizon=horizon,
    )


def _scattered(customers: int, vehicles: int, capacity: int, seed: int = 3) -> RoutingProblem:
    rng = random.Random(seed)
    points = [(50, 50)] + [(rng.randint(0, 100), rng.randint(0, 100)) for _ in range(customers)]
    matrix = tuple(tuple(round(math.dist(a, b)) for b in points) for a in points)
    return _cvrp(matrix, vehicles=vehicles, capacity=capacity)


def test_a_large_model_restricted_to_neighbours_still_visits_every_customer() -> None:
    """A 600-customer CVRP with every customer mandatory: the first solution, from nearest
    neighbours only, must still be complete (the restriction must not strand anyone)."""
    problem = _scattered(600, vehicles=40, capacity=20, seed=7)
    assert problem.num_nodes >= LARGE_MODEL_NODES
    solution = solve(problem, SolverParams(solution_limit=1))
    assert solution.found
    visited = sorted(node for route in solution.routes for node in route.nodes[1:-1])
    assert visited == list(range(1, problem.num_nodes))


def _line_problem(capacity: int, fixed_cost: int = 100_000) -> RoutingProblem:
    """Depot 0 and six customers on a line, three vehicles."""
    points = [0, 10, 20, 30, 40, 50, 60]
    matrix = tuple(tuple(abs(a - b) for b in points) for a in points)
    return _cvrp(matrix, vehicles=3, capacity=capacity, fixed_cost=fixed_cost)


def _used(solution: RoutingSolution) -> int:
    return sum(1 for route in solution.routes if len(route.nodes) > 2)


def test_vehicles_are_minimised_only_with_fixed_costs_mandatory_visits_and_a_clock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    timed = SolverParams(time_limit_s=1)
    assert _minimises_vehicles(_line_problem(6), timed)
    assert not _minimises_vehicles(_line_problem(6), SolverParams(solution_limit=10))
    assert not _minimises_vehicles(_line_problem(6, fixed_cost=0), timed)
    optional = replace(_line_problem(6), penalties=(None,) + (1_000,) * 6)  # as dispatch's
    assert not _minimises_vehicles(optional, timed)

    calls: list[RoutingSolution] = []

    def spy(problem: RoutingProblem, params: SolverParams, best: RoutingSolution, _: float) -> Any:
        calls.append(best)
        return best

    monkeypatch.setattr(ortools_solver, "_fewer_routes", spy)
    solve(_line_problem(6), SolverParams(solution_limit=10))
    assert calls == []
    solve(_line_problem(6), SolverParams(time_limit_s=0.2))
    [first] = calls
    assert first.found


class _NoPolish:
    """``_search`` with the final polish (no ``stop_below``, a start given) finding nothing,
    so that what ``_fewer_routes`` returns is what its attempts made of the plan."""

    def __init__(self) -> None:
        self.attempts: list[RoutingSolution] = []

    def __call__(
        self,
        problem: RoutingProblem,
        params: SolverParams,
        initial_routes: Any = None,
        fallback_routes: Any = None,
        stop_below: int | None = None,
    ) -> RoutingSolution:
        if stop_below is None:
            return RoutingSolution(False, 0, (), ())
        attempt = _search(problem, params, initial_routes, fallback_routes, stop_below)
        self.attempts.append(attempt)
        return attempt


def test_routes_are_emptied_while_their_visits_fit_elsewhere(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    problem = _line_problem(capacity=6)
    three = _search(problem, SolverParams(solution_limit=1), [[1, 2], [3, 4], [5, 6]])
    assert _used(three) == 3
    searches = _NoPolish()
    monkeypatch.setattr(ortools_solver, "_search", searches)
    fewer = _fewer_routes(problem, SolverParams(time_limit_s=2), three, monotonic() + 2)
    assert [_used(a) for a in searches.attempts] == [2, 1]
    assert _used(fewer) == 1
    assert sorted(n for route in fewer.routes for n in route.nodes[1:-1]) == [1, 2, 3, 4, 5, 6]
    assert fewer.dropped == ()


def test_a_route_that_cannot_be_emptied_leaves_every_visit_served(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Capacity 3: two routes are needed. The attempts to go below fail (their plans drop
    visits), and none of them may leak into the result."""
    problem = _line_problem(capacity=3)
    three = _search(problem, SolverParams(solution_limit=1), [[1, 2], [3, 4], [5, 6]])
    searches = _NoPolish()
    monkeypatch.setattr(ortools_solver, "_search", searches)
    fewer = _fewer_routes(problem, SolverParams(time_limit_s=2), three, monotonic() + 2)
    assert any(a.dropped for a in searches.attempts), "no attempt to go below two routes"
    assert _used(fewer) == 2
    assert sorted(n for route in fewer.routes for n in route.nodes[1:-1]) == [1, 2, 3, 4, 5, 6]
    assert fewer.dropped == ()


def test_fewer_routes_that_cost_more_are_not_returned(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fixed cost below the distance one more route saves: emptying routes makes the plan
    dearer, and the plan it started from is returned."""
    # Two customers 1 km from the depot and 10 km apart (a river between them, say).
    matrix = ((0, 1000, 1000), (1000, 0, 10_000), (1000, 10_000, 0))
    problem = _cvrp(matrix, vehicles=2, capacity=2, fixed_cost=1)
    two = _search(problem, SolverParams(solution_limit=1), [[1], [2]])
    assert _used(two) == 2
    searches = _NoPolish()
    monkeypatch.setattr(ortools_solver, "_search", searches)
    kept = _fewer_routes(problem, SolverParams(time_limit_s=1), two, monotonic() + 1)
    assert [_used(a) for a in searches.attempts if not a.dropped] == [1]
    assert kept == two


def _check_complete(problem: RoutingProblem, solution: RoutingSolution) -> None:
    """Every customer exactly once, no route over capacity, the objective its routes' cost."""
    visited = sorted(node for route in solution.routes for node in route.nodes[1:-1])
    assert visited == list(range(1, problem.num_nodes))
    for route in solution.routes:
        assert sum(problem.demands[n] for n in route.nodes) <= problem.vehicle_capacities[0]
    matrix = problem.cost_matrices[0]
    cost = sum(matrix[a][b] for r in solution.routes for a, b in itertools.pairwise(r.nodes))
    assert solution.objective == cost


def _mixed(seed: int = 5) -> RoutingProblem:
    """Eight optional pickup-and-delivery pairs, four vehicles of two speeds and two cost
    classes, fixed and per-visit costs, and some visits only two vehicles may make."""
    rng = random.Random(seed)
    points = [(50, 50)] + [(rng.randint(0, 100), rng.randint(0, 100)) for _ in range(16)]
    n = len(points)
    dist = tuple(tuple(round(math.dist(a, b)) for b in points) for a in points)
    slow = tuple(tuple(2 * d for d in row) for row in dist)
    dear = tuple(tuple(3 * d for d in row) for row in dist)
    pairs = tuple((1 + 2 * k, 2 + 2 * k) for k in range(8))
    visit = tuple(tuple(0 if i == 0 else rng.randint(0, 9) for i in range(n)) for _ in range(4))
    return RoutingProblem(
        time_matrices=(dist, slow),
        distance_matrices=(dist, dist),
        cost_matrices=(dist, dear),
        vehicle_class=(0, 1, 0, 1),
        vehicle_cost_class=(0, 0, 1, 1),
        vehicle_starts=(0,) * 4,
        vehicle_ends=(0,) * 4,
        vehicle_capacities=(3,) * 4,
        vehicle_fixed_costs=(100, 0, 50, 0),
        vehicle_max_span=(500,) * 4,
        demands=(0,) + (1, -1) * 8,
        time_windows=((0, 10_000),) * n,
        service_times=(0,) + (5,) * 16,
        pickups_deliveries=pairs,
        penalties=(None,) + (400, None) * 8,
        allowed_vehicles=(None,) + ((0, 1), (0, 1)) * 2 + (None, None) * 6,
        horizon=10_000,
        vehicle_visit_costs=visit,
    )


def test_route_costs_are_what_ortools_charges_in_the_problem_and_a_restricted_one() -> None:
    problem = _mixed()
    solution = solve(problem, SolverParams(solution_limit=30))
    assert solution.found
    assert _charged(problem, solution) == solution.objective
    group = [r for r in solution.routes if len(r.nodes) > 2][:3]
    assert len(group) >= 2
    part = ortools_solver._restrict(problem, group)
    sub, original = part.sub, part.original
    assert sub.num_vehicles == len(group)
    assert sub.num_nodes == len({n for r in group for n in r.nodes})
    assert [[original[n] for n in r] for r in part.start] == [list(r.nodes[1:-1]) for r in group]
    again = _search(sub, SolverParams(solution_limit=10), part.start)
    assert again.found
    assert _charged(sub, again) == again.objective
    before = sum(ortools_solver._route_cost(problem, r.vehicle, r.nodes) for r in group)
    assert again.objective <= before  # the group's own routes are a solution of it
    for k, route in enumerate(again.routes):  # each vehicle keeps its own barred visits
        for node in route.nodes[1:-1]:
            allowed = problem.allowed_vehicles[original[node]]
            assert allowed is None or group[k].vehicle in allowed


def _poor_plan() -> tuple[RoutingProblem, RoutingSolution]:
    """36 customers dealt to 9 vehicles round-robin."""
    problem = _scattered(36, vehicles=9, capacity=4)
    poor = [tuple(range(1 + v, 37, 9)) for v in range(9)]
    start = _search(problem, SolverParams(solution_limit=1), poor)
    assert start.found
    return problem, start


def test_groups_of_routes_improve_a_poor_plan_and_keep_it_complete(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A plan that deals customers to vehicles round-robin, improved by groups of about
    twelve visits (a third of the routes at a time): cheaper, still complete and feasible."""
    monkeypatch.setattr(ortools_solver, "_PART_VISITS", 12)
    problem, start = _poor_plan()
    _check_complete(problem, start)
    improved = ortools_solver._by_parts(
        problem, SolverParams(time_limit_s=10), start, monotonic() + 3
    )
    _check_complete(problem, improved)
    assert improved.objective < 0.8 * start.objective


def test_groups_of_routes_searched_in_two_processes_keep_the_plan_complete(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ortools_solver, "_PART_VISITS", 12)
    monkeypatch.setattr(ortools_solver, "_POOL_FROM_S", 0)
    problem, start = _poor_plan()
    params = SolverParams(time_limit_s=10, workers=2)
    pool = ortools_solver._part_pool(params)
    assert pool is not None
    try:
        improved = ortools_solver._by_parts(problem, params, start, monotonic() + 6, pool)
    finally:
        pool.shutdown()
    _check_complete(problem, improved)
    assert improved.objective < 0.8 * start.objective


def test_large_models_with_a_clock_are_improved_by_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[RoutingSolution] = []

    def spy(problem: RoutingProblem, params: SolverParams, best: RoutingSolution, *_: Any) -> Any:
        calls.append(best)
        return best

    monkeypatch.setattr(ortools_solver, "_by_parts", spy)
    problem = _scattered(20, vehicles=5, capacity=5)
    clock_only = SolverParams(time_limit_s=5, solution_limit=None)
    solve(problem, clock_only)
    assert calls == []  # below PARTS_FROM_NODES
    monkeypatch.setattr(ortools_solver, "PARTS_FROM_NODES", 10)
    solve(problem, SolverParams(solution_limit=5))
    assert calls == []  # no clock: the whole model's search only, reproducible
    solve(problem, SolverParams(time_limit_s=5, solution_limit=50))
    assert calls == []  # dispatch's setting: a solution limit, the clock a backstop
    solve(problem, SolverParams(time_limit_s=1, solution_limit=None))
    assert calls == []  # too short a budget to split
    solution = solve(problem, clock_only)
    assert calls == [solution]


def test_a_group_that_fails_leaves_the_plan_as_it_was(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_: Any) -> RoutingSolution:
        raise RuntimeError("search crashed")

    monkeypatch.setattr(ortools_solver, "_solve_part", broken)
    problem = _scattered(36, vehicles=9, capacity=4)
    start = _search(problem, SolverParams(solution_limit=1))
    after = ortools_solver._by_parts(problem, SolverParams(time_limit_s=10), start, monotonic() + 1)
    assert after.objective == start.objective
    assert sorted(r.nodes for r in after.routes) == sorted(r.nodes for r in start.routes)
    assert "search crashed" in caplog.text


def test_a_group_built_past_the_deadline_is_not_searched(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building a group takes time: the deadline can pass between the loop's check and the
    group's search, which must then not be started (with a time limit below zero, say)."""
    restrict = ortools_solver._restrict
    searched: list[float | None] = []

    def slow(*args: Any) -> Any:
        sleep(0.5)
        return restrict(*args)

    def record(_: Any, params: SolverParams, start: Any) -> RoutingSolution:
        searched.append(params.time_limit_s)
        raise RuntimeError("not to be searched")

    monkeypatch.setattr(ortools_solver, "_restrict", slow)
    monkeypatch.setattr(ortools_solver, "_solve_part", record)
    problem = _scattered(36, vehicles=9, capacity=4)
    start = _search(problem, SolverParams(solution_limit=1))
    deadline = monotonic() + 0.4
    after = ortools_solver._by_parts(problem, SolverParams(time_limit_s=10), start, deadline)
    assert searched == []
    assert after.objective == start.objective


def _descent(first_solution: str, *, workers: int = 1) -> SolverParams:
    """A clock-only search that stops at its first local optimum: the same plan every time,
    long before the clock (a backstop, long enough for a worker to start on a loaded
    machine) runs out."""
    return SolverParams(
        time_limit_s=120,
        solution_limit=None,
        first_solution=first_solution,
        metaheuristic="GREEDY_DESCENT",
        workers=workers,
    )


PCI, LCI = "PARALLEL_CHEAPEST_INSERTION", "LOCAL_CHEAPEST_INSERTION"


def test_a_portfolio_returns_the_cheapest_of_its_searches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two descents from different first solutions end in different local optima; the
    portfolio (this process and one worker) returns the cheaper, whichever ran where."""
    monkeypatch.setattr(ortools_solver, "PORTFOLIO_FIRST_SOLUTIONS", (PCI, LCI))
    problem = _scattered(40, vehicles=10, capacity=5, seed=7)
    alone = {first: _charged(problem, solve(problem, _descent(first))) for first in (PCI, LCI)}
    assert alone[PCI] != alone[LCI]  # else the test shows nothing
    for first in (PCI, LCI):  # the worker's plan is the cheaper in one of the two
        assert ortools_solver._searches_a_portfolio(problem, _descent(first, workers=2))
        together = solve(problem, _descent(first, workers=2))
        _check_complete(problem, together)
        assert _charged(problem, together) == min(alone.values())


def test_a_failed_portfolio_search_leaves_this_process_plan(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(ortools_solver, "PORTFOLIO_FIRST_SOLUTIONS", (PCI, "NO_SUCH_STRATEGY"))
    problem = _scattered(40, vehicles=10, capacity=5, seed=7)
    together = solve(problem, _descent(PCI, workers=2))
    assert _charged(problem, together) == _charged(problem, solve(problem, _descent(PCI)))
    assert "NO_SUCH_STRATEGY search failed" in caplog.text


def test_only_clock_bound_small_searches_with_workers_to_spare_are_a_portfolio() -> None:
    problem = _scattered(20, vehicles=5, capacity=5)
    clock_only = SolverParams(time_limit_s=10, solution_limit=None, workers=2)
    assert ortools_solver._searches_a_portfolio(problem, clock_only)
    for params in (
        replace(clock_only, workers=1),  # the decomposed path's clusters
        replace(clock_only, solution_limit=50),  # dispatch: reproducible plans
        replace(clock_only, time_limit_s=5),  # too short to spawn a worker
    ):
        assert not ortools_solver._searches_a_portfolio(problem, params)
    large = _scattered(LARGE_MODEL_NODES, vehicles=40, capacity=20)
    assert not ortools_solver._searches_a_portfolio(large, clock_only)  # searched by parts


def test_a_portfolio_worker_that_overruns_dies_or_fails_is_left_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    silent_receive, silent_send = multiprocessing.Pipe(duplex=False)
    assert ortools_solver._portfolio_answer("A", silent_receive, wall_time() - 5) is None
    dead_receive, dead_send = multiprocessing.Pipe(duplex=False)
    dead_send.close()
    assert ortools_solver._portfolio_answer("B", dead_receive, wall_time() + 5) is None
    failed_receive, failed_send = multiprocessing.Pipe(duplex=False)
    failed_send.send("ValueError('no such strategy')")
    assert ortools_solver._portfolio_answer("C", failed_receive, wall_time() + 5) is None
    assert "portfolio's A search overran" in caplog.text
    assert "portfolio's B search died" in caplog.text
    assert "portfolio's C search failed: ValueError('no such strategy')" in caplog.text
    silent_send.close()


def test_a_portfolio_searches_paired_visits_only_from_first_solutions_that_pair_them() -> None:
    params = SolverParams(time_limit_s=10, solution_limit=None, workers=3)
    strategies = ortools_solver._portfolio_strategies
    assert strategies(_scattered(20, vehicles=5, capacity=5), params) == [
        "SAVINGS",
        "LOCAL_CHEAPEST_INSERTION",
    ]
    assert strategies(_mixed(), params) == ["LOCAL_CHEAPEST_INSERTION"]
    assert strategies(_mixed(), replace(params, workers=2)) == ["LOCAL_CHEAPEST_INSERTION"]
    assert strategies(_scattered(20, vehicles=5, capacity=5), replace(params, workers=2)) == [
        "SAVINGS"
    ]


def test_a_portfolio_search_that_cannot_start_leaves_this_process_plan(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real = multiprocessing.get_context("spawn")

    class Unstartable:
        def __init__(self, *_: Any, **__: Any) -> None:
            pass

        def start(self) -> None:
            raise AssertionError("daemonic processes are not allowed to have children")

    class Context:
        Pipe = staticmethod(real.Pipe)
        Process = Unstartable

    monkeypatch.setattr(multiprocessing, "get_context", lambda _: Context)
    problem = _scattered(40, vehicles=10, capacity=5, seed=7)
    together = solve(problem, _descent(PCI, workers=2))
    assert _charged(problem, together) == _charged(problem, solve(problem, _descent(PCI)))
    assert "SAVINGS search did not start" in caplog.text


def test_a_search_that_ends_before_its_first_solution_retries_within_a_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    problem = _scattered(600, vehicles=40, capacity=20, seed=7)
    rushed = SolverParams(time_limit_s=0.001, solution_limit=None)
    # The first solution of 600 customers takes far more than a millisecond: the retry finds it.
    assert solve(problem, rushed).found
    # A retry has a limit of its own: with none to speak of, the plan is "not found" at once
    # rather than a strategy that may never end (no fallback routes are given here).
    monkeypatch.setattr(ortools_solver, "_RETRY_FLOOR_S", 0.001)
    monkeypatch.setattr(ortools_solver, "_RETRY_FACTOR", 1)
    assert not solve(problem, rushed).found


ILS = ortools_solver.ITERATED_LOCAL_SEARCH


def test_iterated_local_search_finds_the_exhaustive_optimum() -> None:
    solution = solve(the_problem(), SolverParams(solution_limit=50, metaheuristic=ILS))
    assert solution.found
    assert solution.objective == brute_force_optimum()
    assert solution.dropped == ()


def test_iterated_local_search_goes_on_past_the_first_local_optimum() -> None:
    """OR-Tools 9.15 ignores ``use_iterated_local_search`` in ``SolveWithParameters``; the core
    must take the entry that runs it. Ruined and recreated plans, each descended, end below the
    plain descent's local optimum on a 60-customer CVRP (the same budget of solutions)."""
    problem = _scattered(60, vehicles=12, capacity=8, seed=5)
    descent = solve(problem, SolverParams(solution_limit=300, metaheuristic="GREEDY_DESCENT"))
    iterated = solve(problem, SolverParams(solution_limit=300, metaheuristic=ILS))
    assert iterated.found
    assert iterated.dropped == ()
    assert _charged(problem, iterated) < _charged(problem, descent)
    assert iterated.objective == _charged(problem, iterated)


def test_iterated_local_search_is_set_up_as_ruin_and_recreate_with_annealing() -> None:
    search: Any = _search_parameters(SolverParams(time_limit_s=5, metaheuristic=ILS))
    assert search.use_iterated_local_search
    assert search.local_search_metaheuristic == LocalSearchMetaheuristic.GREEDY_DESCENT
    ils = search.iterated_local_search_parameters
    assert [r.WhichOneof("strategy") for r in ils.ruin_recreate_parameters.ruin_strategies] == [
        "sisr"
    ]
    assert ils.reference_solution_acceptance_strategy.simulated_annealing.automatic_temperatures


def test_a_search_from_routes_under_iterated_local_search_starts_from_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The iterated search builds its own first solution, so a warm start (or a route being
    emptied) is searched by guided local search from the routes given."""

    def refuse(*args: object) -> None:
        raise AssertionError("iterated local search cannot start from routes")

    monkeypatch.setattr(pywrapcp.RoutingModel, "SolveWithIteratedLocalSearch", refuse)
    problem = the_problem()
    best = solve(problem, SolverParams(solution_limit=200))
    start = ortools_solver.as_initial_routes(best)
    warm = _search(problem, SolverParams(solution_limit=20, metaheuristic=ILS), start)
    assert warm.found
    assert warm.objective == best.objective
