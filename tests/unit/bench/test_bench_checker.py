"""The independent checker flags each kind of broken route and re-scores the distance."""

from dataclasses import replace
from pathlib import Path

import pytest

from services.bench.checker import check
from services.bench.instances import Instance, read_instance, read_lilim
from services.bench.runner import default_data_dir

# Depot and three customers 5, 5 and 6 from the depot; customers 1 and 2 are 6 apart.
TINY = Instance(
    name="tiny",
    path=Path("tiny.vrp"),
    coords=((0, 0), (3, 4), (-3, 4), (0, -6)),
    demands=(0, 4, 5, 6),
    windows=((0, 100), (0, 50), (10, 60), (0, 90)),
    service=(0, 5, 5, 5),
    fleet_size=2,
    capacity=10,
)


def test_feasible_routes_pass_and_are_scored_from_the_coordinates():
    result = check(TINY, [[1, 2], [3]])

    assert result.feasible, result.violations
    assert result.vehicles == 2
    assert result.distance == pytest.approx(28.0)
    assert result.distance_trunc == pytest.approx(28.0)


def test_a_load_above_capacity_is_a_violation():
    result = check(TINY, [[2, 3], [1]])

    assert not result.feasible
    assert any("load 11" in v for v in result.violations)


def test_arriving_after_a_due_time_is_a_violation():
    late = replace(TINY, windows=((0, 100), (0, 4.9), (10, 60), (0, 90)))

    result = check(late, [[1, 2], [3]])

    assert any("customer 1 reached at 5.0000" in v for v in result.violations)


def test_returning_to_the_depot_after_its_due_time_is_a_violation():
    short_day = replace(TINY, windows=((0, 25), (0, 50), (10, 60), (0, 90)))

    result = check(short_day, [[1, 2], [3]])

    assert any("the depot (return) reached at 26" in v for v in result.violations)


def test_a_customer_left_out_is_a_violation():
    result = check(TINY, [[1, 2]])

    assert "customers not visited: [3]" in result.violations


def test_a_customer_visited_twice_is_a_violation():
    result = check(TINY, [[1, 2], [3, 1]])

    assert "customer 1 visited more than once" in result.violations


def test_more_routes_than_the_fleet_is_a_violation():
    result = check(TINY, [[1], [2], [3]])

    assert "3 routes but the fleet has 2" in result.violations


def test_a_delivery_before_its_pickup_is_a_violation(lilim_file):
    instance = read_lilim(lilim_file)

    result = check(instance, [[2, 1], [4, 3]])

    assert "delivery 2 before its pickup 1" in result.violations


def test_a_pair_split_over_two_routes_is_a_violation(lilim_file):
    instance = read_lilim(lilim_file)

    result = check(instance, [[1, 4, 3], [2]])

    assert any(v.startswith("pair 1->2 split") for v in result.violations)


def test_pickups_before_their_deliveries_on_one_route_pass(lilim_file):
    instance = read_lilim(lilim_file)

    assert check(instance, [[1, 2], [4, 3]]).feasible


def test_truncated_distance_cuts_every_arc_to_one_decimal():
    diagonal = replace(TINY, coords=((0, 0), (1, 1), (-3, 4), (0, -6)))

    result = check(diagonal, [[1], [2, 3]])

    # 2 * sqrt(2) = 2.828 -> 1.4 + 1.4; 5 + sqrt(109) = 10.44 -> 10.4; 6.
    assert result.distance == pytest.approx(2 * 2**0.5 + 5 + 109**0.5 + 6)
    assert result.distance_trunc == pytest.approx(2.8 + 5 + 10.4 + 6)


def routes_in(solution: Path, prefix: str) -> list[list[int]]:
    """Routes of a CVRPLIB `.sol` (`Route #k:`) or SINTEF (`Route k :`) file, depot left out."""
    lines = [line for line in solution.read_text().splitlines() if line.startswith(prefix)]
    return [[int(n) for n in line.split(":", 1)[1].split()] for line in lines]


@pytest.mark.parametrize(
    ("instance_file", "solution_file", "prefix", "vehicles", "distance", "distance_trunc"),
    [
        ("solomon/R101.vrp", "solomon/R101.sol", "Route #", 20, 1642.88, 1637.7),
        (
            "lilim/lr101.txt",
            "lilim/sintef_solutions/lr101.19_1650.7992.txt",
            "Route",
            19,
            1650.7992,
            None,
        ),
    ],
)
def test_published_best_known_solutions_pass_and_rescore_to_their_stated_values(
    instance_file, solution_file, prefix, vehicles, distance, distance_trunc
):
    data = default_data_dir()
    assert data.is_dir(), f"benchmark data missing at {data} (set HINTERLAND_BENCHMARKS)"

    result = check(read_instance(data / instance_file), routes_in(data / solution_file, prefix))

    assert result.feasible, result.violations
    assert result.vehicles == vehicles
    assert result.distance == pytest.approx(distance, abs=0.005)
    if distance_trunc is not None:
        assert result.distance_trunc == pytest.approx(distance_trunc)
