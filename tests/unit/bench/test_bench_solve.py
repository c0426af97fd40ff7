"""Converting instances to RoutingProblem and solving them with dispatch's solve()."""

import itertools
from pathlib import Path

import pytest

from services.bench.checker import check
from services.bench.convert import to_problem, vehicle_fixed_cost
from services.bench.instances import Instance, read_lilim
from services.dispatch.routing.ortools_solver import solve
from services.dispatch.routing.params import SolverParams

# Five customers, two vehicles, capacity binding (total demand 7 > 4) and windows that bind:
# the optimum is 40.99 here against 36.76 with customer 3's window opened to (0, 60).
FIVE = Instance(
    name="five",
    path=Path("five.vrp"),
    coords=((0, 0), (2, 6), (5, 5), (6, 1), (-4, 3), (-3, -4)),
    demands=(0, 1, 2, 1, 2, 1),
    windows=((0, 60), (0, 12), (6, 20), (0, 14), (0, 6), (10, 25)),
    service=(0, 1, 1, 1, 1, 1),
    fleet_size=2,
    capacity=4,
)
# The time limit is only a stop: guided local search finds fewer than 10 solutions on this
# instance, so solution_limit alone never ends the search (docs/routing-benchmarks.md).
PARAMS = SolverParams(time_limit_s=1.0, solution_limit=200)


def brute_force_optimum(instance: Instance) -> float:
    """Shortest real distance over every split between two vehicles and every visiting order."""
    customers = range(1, instance.num_customers + 1)
    best = float("inf")
    for owner in itertools.product(range(2), repeat=len(customers)):
        groups = [[c for c, o in zip(customers, owner, strict=True) if o == v] for v in range(2)]
        for first in itertools.permutations(groups[0]):
            for second in itertools.permutations(groups[1]):
                result = check(instance, [list(first), list(second)])
                if result.feasible:
                    best = min(best, result.distance)
    return best


def routes_of(instance: Instance) -> list[list[int]]:
    solution = solve(to_problem(instance), PARAMS)
    assert solution.found
    assert solution.dropped == ()
    return [[node for node in route.nodes if node != 0] for route in solution.routes]


def test_the_five_customer_instance_is_solved_to_its_brute_force_optimum():
    optimum = brute_force_optimum(FIVE)

    result = check(FIVE, routes_of(FIVE))

    assert result.feasible, result.violations
    # Arc costs are rounded to 1/100, so equal-cost tours may differ by rounding only.
    assert result.distance == pytest.approx(optimum, abs=0.05)


def test_a_tiny_pickup_and_delivery_instance_is_solved_with_pairs_in_order(lilim_file):
    instance = read_lilim(lilim_file)

    result = check(instance, routes_of(instance))

    assert result.feasible, result.violations


def test_travel_times_are_rounded_up_so_solver_feasible_means_really_feasible():
    problem = to_problem(FIVE, scale=100)

    # (2, 6) is sqrt(40) = 6.3246 from the depot: cost rounds to 632, time rounds up to 633.
    assert problem.cost_matrices[0][0][1] == 632
    assert problem.time_matrices[0][0][1] == 633
    assert problem.time_windows[3] == (0, 1400)
    assert problem.penalties == (None,) * 6


def test_the_hierarchical_objective_puts_a_vehicle_above_any_total_distance():
    problem = to_problem(FIVE, objective="hierarchical")
    longest_arc = max(max(row) for row in problem.cost_matrices[0])

    assert set(problem.vehicle_fixed_costs) == {vehicle_fixed_cost(FIVE, 100)}
    assert problem.vehicle_fixed_costs[0] > (FIVE.num_customers + 1) * longest_arc
    assert set(to_problem(FIVE).vehicle_fixed_costs) == {0}
