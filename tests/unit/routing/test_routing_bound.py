"""The physical limit: hand-computed bounds on small instances, and never below a real plan."""

import pytest

from services.dispatch.routing import (
    Depot,
    Link,
    LogisticsProblem,
    Need,
    Node,
    SolverParams,
    Vehicle,
    plan_deliveries,
)
from services.dispatch.routing.bound import delivery_bound
from services.dispatch.routing.problem import Priority
from tests.unit.routing.samples import check_plan, random_problem, weighted_served
from tests.unit.routing.test_routing_performance import region

PARAMS = SolverParams(solution_limit=100)
# A and B are 60 km apart: 3,600 s at 60 km/h; handling is 1,800 s per place left.
A, B = Node("A", "A", 45.0, 5.0), Node("B", "B", 45.5, 5.0)
AB = Link("AB", "A", "B", "road", 60_000)


def shuttle(
    quantity_t: int = 100,
    deadline_s: int = 30_000,
    stock_t: int = 1_000,
    at: str = "B",
    priority: Priority = "life_saving",
) -> LogisticsProblem:
    """One 10 t truck and one depot at A, one water need at ``at``."""
    return LogisticsProblem(
        (A, B),
        (AB,),
        (Depot("D", "A", "civil", {"water": stock_t * 1000}),),
        (Need("N", at, "water", quantity_t * 1000, priority, deadline_s),),
        (Vehicle("T", "road", 10_000, 60.0, "A", "civil"),),
    )


@pytest.mark.parametrize(
    ("deadline_s", "loads"),
    [
        (5_399, 0),  # the first unload comes at 1,800 + 3,600 = 5,400 s
        (5_400, 1),
        (16_199, 1),  # a round trip adds 2 x (1,800 + 3,600) = 10,800 s
        (16_200, 2),
        (30_000, 3),
    ],
)
def test_a_lone_shuttle_is_bounded_by_the_round_trips_it_can_make(
    deadline_s: int, loads: int
) -> None:
    problem = shuttle(deadline_s=deadline_s)
    bound = delivery_bound(problem)
    assert bound.per_need_kg["N"] == loads * 10_000
    assert bound.weighted_kg == 100 * loads * 10_000
    assert bound.kg == loads * 10_000
    # Here the bound is exact: the solver achieves it.
    plan = plan_deliveries(problem, PARAMS)
    check_plan(problem, plan)
    assert plan.outcomes[0].served_kg == loads * 10_000
    assert plan.kpis.served_fraction_of_bound == 1.0
    assert plan.kpis.weighted_bound_kg == bound.weighted_kg


def test_stock_caps_the_bound_below_the_transport_limit() -> None:
    bound = delivery_bound(shuttle(stock_t=25))
    assert bound.per_need_kg["N"] == 25_000


def test_weights_favour_life_saving_when_two_needs_share_scarce_stock() -> None:
    problem = LogisticsProblem(
        (A, B),
        (AB,),
        (Depot("D", "A", "civil", {"water": 25_000}),),
        (
            Need("L", "B", "water", 20_000, "life_saving", 30_000),
            Need("R", "B", "water", 20_000, "routine", 30_000),
        ),
        (Vehicle("T", "road", 10_000, 60.0, "A", "civil"),),
    )
    bound = delivery_bound(problem)
    # Alone each could get 20 t; together the stock (25 t) binds before transport (30 t).
    assert dict(bound.per_need_kg) == {"L": 20_000, "R": 20_000}
    assert bound.kg == 25_000
    assert bound.weighted_kg == 100 * 20_000 + 1 * 5_000


def test_a_need_at_a_depot_is_not_limited_by_round_trips() -> None:
    # Pickup and unload at one place take no time in the model: the truck may shuttle there.
    problem = shuttle(at="A")
    assert delivery_bound(problem).per_need_kg["N"] == 100_000
    plan = plan_deliveries(problem, PARAMS)
    assert plan.outcomes[0].served_kg == 100_000


def test_lost_places_closed_links_and_uncleared_loads_bound_to_zero() -> None:
    lost = LogisticsProblem(
        (A, Node("B", "B", 45.5, 5.0, usable=False)),
        (AB,),
        (Depot("D", "A", "civil", {"water": 50_000}),),
        (Need("N", "B", "water", 10_000, "life_saving", 30_000),),
        (Vehicle("T", "road", 10_000, 60.0, "A", "civil"),),
    )
    closed = LogisticsProblem(
        (A, B),
        (Link("AB", "A", "B", "road", 60_000, "closed"),),
        (Depot("D", "A", "civil", {"water": 50_000}),),
        (Need("N", "B", "water", 10_000, "life_saving", 30_000),),
        (Vehicle("T", "road", 10_000, 60.0, "A", "civil"),),
    )
    military = LogisticsProblem(
        (A, B),
        (AB,),
        (Depot("D", "A", "civil", {"water": 50_000}),),
        (Need("N", "B", "water", 10_000, "life_saving", 30_000, "military"),),
        (Vehicle("T", "road", 10_000, 60.0, "A", "civil"),),
    )
    for problem in (lost, closed, military):
        bound = delivery_bound(problem)
        assert bound.weighted_kg == 0
        assert bound.per_need_kg["N"] == 0
        plan = plan_deliveries(problem, PARAMS)
        assert plan.kpis.served_fraction_of_bound == 1.0  # nothing possible, nothing served


def test_a_degraded_link_slows_the_shuttle_and_lowers_the_bound() -> None:
    problem = LogisticsProblem(
        (A, B),
        (Link("AB", "A", "B", "road", 60_000, "degraded", 0.5),),
        (Depot("D", "A", "civil", {"water": 1_000_000}),),
        (Need("N", "B", "water", 100_000, "life_saving", 30_000),),
        (Vehicle("T", "road", 10_000, 60.0, "A", "civil"),),
    )
    # 7,200 s a leg: first unload at 9,000 s, then every 18,000 s: 2 loads by 30,000 s.
    assert delivery_bound(problem).per_need_kg["N"] == 20_000


@pytest.mark.parametrize("seed", range(12))
def test_no_plan_serves_more_than_the_bound_on_random_instances(seed: int) -> None:
    problem = random_problem(seed)
    bound = delivery_bound(problem)
    plan = plan_deliveries(problem, SolverParams(solution_limit=30))
    check_plan(problem, plan)
    assert weighted_served(problem, plan) <= bound.weighted_kg
    for o in plan.outcomes:
        assert o.served_kg <= bound.per_need_kg[o.need_id]
    assert sum(o.served_kg for o in plan.outcomes) <= bound.kg


@pytest.mark.parametrize("seed", [7, 8, 9])
def test_no_plan_serves_more_than_the_bound_on_region_sized_instances(seed: int) -> None:
    problem = region(seed)
    bound = delivery_bound(problem)
    for params in (
        SolverParams(solution_limit=20),
        SolverParams(solution_limit=20, decompose_above_tasks=0, cluster_tasks=15, workers=1),
    ):
        plan = plan_deliveries(problem, params)
        check_plan(problem, plan)
        assert weighted_served(problem, plan) <= bound.weighted_kg
        for o in plan.outcomes:
            assert o.served_kg <= bound.per_need_kg[o.need_id]
        assert plan.kpis.served_fraction_of_bound == pytest.approx(
            weighted_served(problem, plan) / bound.weighted_kg
        )
