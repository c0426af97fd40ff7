"""Validation of the routing input model and solver parameters."""

import pytest

from services.dispatch.routing import (
    Depot,
    Link,
    LogisticsProblem,
    Need,
    Node,
    SolverParams,
    Vehicle,
)

NODES = (Node("A", "Alpha", 45.0, 5.0), Node("B", "Bravo", 45.1, 5.1))
LINKS = (Link("L1", "A", "B", "road", 10_000),)
DEPOTS = (Depot("D1", "A", "civil", {"water": 1_000}),)
VEHICLES = (Vehicle("V1", "road", 1_000, 60.0, "A", "civil"),)


def a_problem(
    needs: tuple[Need, ...] = (Need("N1", "B", "water", 500, "routine", 3_600),),
    depots: tuple[Depot, ...] = DEPOTS,
    vehicles: tuple[Vehicle, ...] = VEHICLES,
    links: tuple[Link, ...] = LINKS,
) -> LogisticsProblem:
    return LogisticsProblem(NODES, links, depots, needs, vehicles)


def test_a_well_formed_problem_is_accepted_and_hashable() -> None:
    problem = a_problem()
    assert hash(problem) == hash(a_problem())
    assert problem.depots[0].stock_kg["water"] == 1_000


def test_a_negative_quantity_is_rejected_naming_the_need() -> None:
    with pytest.raises(ValueError, match="need N12: quantity_kg must be > 0"):
        Need("N12", "B", "water", -5, "routine", 3_600)


def test_a_need_at_an_unknown_node_is_rejected_naming_the_need() -> None:
    with pytest.raises(ValueError, match="need N1: unknown node Z"):
        a_problem(needs=(Need("N1", "Z", "water", 500, "routine", 3_600),))


def test_a_link_to_an_unknown_node_is_rejected_naming_the_link() -> None:
    with pytest.raises(ValueError, match="link L9: unknown node Q"):
        a_problem(links=(Link("L9", "A", "Q", "road", 1_000),))


def test_a_vehicle_with_zero_capacity_is_rejected_naming_the_vehicle() -> None:
    with pytest.raises(ValueError, match="vehicle V7: capacity_kg must be > 0"):
        Vehicle("V7", "road", 0, 60.0, "A", "civil")


def test_a_vehicle_with_zero_speed_is_rejected() -> None:
    with pytest.raises(ValueError, match="vehicle V7: speed_kmh must be > 0"):
        Vehicle("V7", "road", 10, 0.0, "A", "civil")


def test_negative_stock_is_rejected_naming_the_depot() -> None:
    with pytest.raises(ValueError, match="depot D3: stock of fuel must be >= 0"):
        Depot("D3", "A", "civil", {"fuel": -1})


def test_a_deadline_not_after_now_is_rejected() -> None:
    with pytest.raises(ValueError, match="need N1: deadline is not after now"):
        a_problem(needs=(Need("N1", "B", "water", 500, "routine", 0),))


def test_duplicate_ids_are_rejected() -> None:
    with pytest.raises(ValueError, match="vehicle V1: duplicate id"):
        a_problem(vehicles=VEHICLES * 2)


def test_a_speed_factor_outside_zero_to_one_is_rejected() -> None:
    with pytest.raises(ValueError, match="link L2: speed_factor"):
        Link("L2", "A", "B", "road", 1_000, "degraded", 1.5)


def test_solver_params_without_any_limit_are_rejected() -> None:
    with pytest.raises(ValueError, match="solution_limit"):
        SolverParams(time_limit_s=None, solution_limit=None)
