"""Re-planning against the plan in force: churn costs keep legs on their vehicles, warm start."""

from collections.abc import Callable
from dataclasses import replace

import pytest

from services.dispatch.routing import (
    Depot,
    LogisticsPlan,
    LogisticsProblem,
    Need,
    PreviousLeg,
    SolverParams,
    Vehicle,
    plan_deliveries,
    planner,
)
from services.dispatch.routing.allocation import Task, allocate
from services.dispatch.routing.assembly import Layout, build_routing, warm_start
from services.dispatch.routing.network import Network
from services.dispatch.routing.ortools_solver import RoutingProblem, RoutingSolution, solve
from services.dispatch.routing.problem import Owner, Priority
from tests.unit.routing.test_routing_planner import DAY, line, truck

PARAMS = SolverParams(solution_limit=100)


def problem(
    vehicles: tuple[Vehicle, ...], previous: tuple[PreviousLeg, ...] = (), churn: float = 0.0
) -> LogisticsProblem:
    nodes, links = line("ABC")
    return LogisticsProblem(
        nodes,
        links,
        (Depot("D1", "A", "civil", {"water": 10_000}),),
        (Need("N1", "C", "water", 2_000, "life_saving", DAY),),
        vehicles,
        previous=previous,
        churn_cost_per_t=churn,
    )


def carrier(plan: LogisticsPlan) -> set[str]:
    return {a.vehicle_id for a in plan.allocations if a.need_id == "N1"}


CHEAP = truck("V1", "A")
DEAR = Vehicle("V2", "road", 10_000, 60.0, "A", "civil", cost_per_km=1.2)
BY_DEAR = (PreviousLeg("V2", "N1", "D1", 2_000),)


def test_without_churn_cost_the_cheaper_vehicle_takes_over_a_previous_leg() -> None:
    assert carrier(plan_deliveries(problem((CHEAP, DEAR)), PARAMS)) == {"V1"}
    # Warm-started from the dearer vehicle's leg, the search still moves it (no churn cost).
    assert carrier(plan_deliveries(problem((CHEAP, DEAR), BY_DEAR), PARAMS)) == {"V1"}


def test_a_churn_cost_keeps_the_leg_on_the_vehicle_that_had_it() -> None:
    # 20 km at 0.2 more per km (4.0) is less than 2 t at 10 per tonne (20.0): keep V2.
    plan = plan_deliveries(problem((CHEAP, DEAR), BY_DEAR, churn=10.0), PARAMS)
    assert carrier(plan) == {"V2"}
    assert plan.outcomes[0].status == "served"
    # ... but not when changing is cheaper than the extra kilometres (2 t at 1.0 = 2.0).
    plan = plan_deliveries(problem((CHEAP, DEAR), BY_DEAR, churn=1.0), PARAMS)
    assert carrier(plan) == {"V1"}


def test_churn_never_outweighs_serving_the_need() -> None:
    # The vehicle that had the leg is gone (broken down): any carrier is churn, and a huge
    # churn cost must still not make dropping the need cheaper than serving it.
    plan = plan_deliveries(problem((CHEAP,), BY_DEAR, churn=1e9), PARAMS)
    assert plan.outcomes[0].status == "served"
    assert carrier(plan) == {"V1"}


def test_without_a_previous_plan_the_model_is_unchanged() -> None:
    p = problem((CHEAP, DEAR), churn=10.0)
    network = Network(p)
    _, routing = build_routing(p, network, allocate(p, network, PARAMS))
    assert routing is not None
    assert routing.vehicle_visit_costs == ()
    p = problem((CHEAP, DEAR), BY_DEAR, churn=10.0)
    _, routing = build_routing(p, network, allocate(p, network, PARAMS))
    assert routing is not None
    v1, v2 = routing.vehicle_visit_costs
    pickup = routing.pickups_deliveries[0][0]
    assert v1[pickup] == 2_000  # 2 t x 10 x 100 cents
    assert v2[pickup] == 0


def task(ident: str, need: str, depot: str, vehicles: tuple[str, ...]) -> Task:
    return Task(ident, need, depot, "water", 1_000, "life_saving", 0, vehicles)


def test_warm_start_puts_each_previous_leg_on_its_vehicle_once() -> None:
    layout = Layout(
        (CHEAP, DEAR),
        (
            task("T0", "N1", "D1", ("V1", "V2")),
            task("T1", "N1", "D1", ("V1", "V2")),
            task("T2", "N2", "D1", ("V1",)),
        ),
    )
    legs = (
        PreviousLeg("V2", "N1", "D1", 1_000),
        PreviousLeg("V2", "N2", "D1", 1_000),  # V2 may not carry N2 now: skipped
        PreviousLeg("V1", "N1", "D1", 1_000),
        PreviousLeg("V1", "N1", "D1", 1_000),  # no third N1 task: skipped
        PreviousLeg("V9", "N2", "D1", 1_000),  # vehicle not in the problem: skipped
    )
    routes = warm_start(layout, legs)
    assert routes == [
        [layout.pickup(1), layout.delivery(1)],
        [layout.pickup(0), layout.delivery(0)],
    ]
    assert warm_start(layout, ()) is None
    assert warm_start(layout, (PreviousLeg("V9", "N1", "D1", 1_000),)) is None


def test_a_re_plan_with_churn_costs_routes_when_vehicles_are_barred_and_needs_dropped() -> None:
    """Load run, session 6: plans that routed nothing. Churn costs were a dimension with a
    transit callback per vehicle; with vehicles barred from tasks (classification) and more
    to carry than the fleet can, OR-Tools 9.15 found no solution to that model, not even
    dropping everything (compare google/or-tools#5283). Churn is now part of each vehicle's
    arc costs. (The smallest case a random search found.)"""
    nodes, links = line("ABCDE")
    military = frozenset({"public", "restricted", "military"})
    hours = 3600

    def vehicle(ident: str, at: str, duty_h: int, owner: Owner = "civil") -> Vehicle:
        clearance = military if owner == "military" else frozenset({"public", "restricted"})
        base = truck(ident, at, owner=owner, clearance=clearance)
        return replace(base, max_duty_s=duty_h * hours)

    def need(ident: str, at: str, t: int, priority: Priority, deadline_h: int) -> Need:
        return Need(ident, at, "water", t * 1000, priority, deadline_h * hours, "military")

    legs = [("V4", "N2"), ("V0", "N4"), ("V0", "N0"), ("V3", "N0"), ("V4", "N3"), ("V2", "N1")]
    legs += [("V2", "N0"), ("V1", "N4")]
    p = LogisticsProblem(
        nodes,
        links,
        (Depot("D1", "A", "civil", {"water": 10_000_000}),),
        (
            need("N0", "C", 30, "life_saving", 3),
            need("N1", "E", 60, "routine", 3),
            need("N2", "C", 60, "life_saving", 8),
            need("N3", "D", 50, "life_saving", 5),
            need("N4", "D", 50, "routine", 3),
        ),
        (
            vehicle("V0", "A", 5),
            vehicle("V1", "B", 5, "military"),
            vehicle("V2", "B", 5),
            vehicle("V3", "B", 8, "military"),
            vehicle("V4", "A", 8),
        ),
        previous=tuple(PreviousLeg(v, n, "D1", 10_000) for v, n in legs),
        churn_cost_per_t=20.0,
    )
    plan = plan_deliveries(p, SolverParams(time_limit_s=0.5))
    assert {a.vehicle_id for a in plan.allocations} == {"V1", "V3"}  # the military ones
    assert sum(o.served_kg for o in plan.outcomes) > 0


def test_when_the_search_finds_nothing_the_greedy_fallback_keeps_the_plan_in_force(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def search_finds_nothing(
        routing: RoutingProblem,
        params: SolverParams,
        initial_routes: tuple[tuple[int, ...], ...] | None = None,
        *,
        fallback_routes: Callable[[], tuple[tuple[int, ...], ...] | None] | None = None,
    ) -> RoutingSolution:
        # What solve does when neither the search nor the first-solution strategy finds
        # anything: the fallback routes, taken as they are.
        assert fallback_routes is not None
        routes = fallback_routes()
        assert routes is not None
        return solve(routing, replace(params, solution_limit=1), routes)

    monkeypatch.setattr(planner, "solve", search_finds_nothing)
    assert carrier(plan_deliveries(problem((CHEAP, DEAR)), PARAMS)) == {"V1"}
    assert carrier(plan_deliveries(problem((CHEAP, DEAR), BY_DEAR, churn=10.0), PARAMS)) == {"V2"}
