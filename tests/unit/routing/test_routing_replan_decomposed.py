"""Re-planning on the decomposed (national-scale) path keeps what still works, with a churn cost."""

import itertools
from dataclasses import replace

import pytest

from services.bench.scenario import churn, legs
from services.dispatch.routing import (
    Depot,
    LogisticsPlan,
    LogisticsProblem,
    Need,
    PreviousLeg,
    Vehicle,
    plan_deliveries,
)
from services.dispatch.routing.allocation import allocate
from services.dispatch.routing.assembly import build_routing
from services.dispatch.routing.bound import single_trips
from services.dispatch.routing.decomposition import allocate_flow, cluster_needs
from services.dispatch.routing.insertion import greedy_routes
from services.dispatch.routing.network import FastNetwork, Network
from services.dispatch.routing.ortools_solver import _charged, _route_cost
from services.dispatch.routing.planner import plan_deliveries_anytime
from tests.unit.routing.samples import check_plan, check_solution, weighted_served
from tests.unit.routing.test_routing_decomposition import DECOMPOSE
from tests.unit.routing.test_routing_performance import region
from tests.unit.routing.test_routing_planner import DAY, line, truck

CHEAP = truck("V1", "A")
DEAR = Vehicle("V2", "road", 10_000, 60.0, "A", "civil", cost_per_km=1.2)


def two_depots(previous: tuple[PreviousLeg, ...] = (), churn_cost: float = 0.0) -> LogisticsProblem:
    # N1 at C; D1 at B is 10 minutes from it, D2 at A 20 minutes; both trucks start at A.
    nodes, links = line("ABC")
    return LogisticsProblem(
        nodes,
        links,
        (
            Depot("D1", "B", "civil", {"water": 10_000}),
            Depot("D2", "A", "civil", {"water": 10_000}),
        ),
        (Need("N1", "C", "water", 2_000, "life_saving", DAY),),
        (CHEAP, DEAR),
        previous=previous,
        churn_cost_per_t=churn_cost,
    )


def carried_by(plan: LogisticsPlan) -> set[tuple[str, str]]:
    return {(a.vehicle_id, a.depot_id) for a in plan.allocations}


def test_without_a_churn_cost_the_fastest_depot_and_cheapest_vehicle_win() -> None:
    plans = list(plan_deliveries_anytime(two_depots(), DECOMPOSE))
    assert {carried_by(p) == {("V1", "D1")} for p in plans} == {True}
    # A previous plan alone changes nothing on this path (it is ignored without a cost).
    kept = (PreviousLeg("V2", "N1", "D2", 2_000),)
    assert carried_by(plan_deliveries(two_depots(kept), DECOMPOSE)) == {("V1", "D1")}


def test_a_churn_cost_keeps_the_depot_and_the_vehicle_of_the_plan_in_force() -> None:
    kept = (PreviousLeg("V2", "N1", "D2", 2_000),)
    # 20 minutes per kg of churn outweigh D1's 10 minutes; V2 had the leg: both kept, in the
    # greedy first plan and in the improved one.
    plans = list(plan_deliveries_anytime(two_depots(kept, churn_cost=20.0), DECOMPOSE))
    assert {carried_by(p) == {("V2", "D2")} for p in plans} == {True}
    assert plans[-1].outcomes[0].status == "served"
    # At 5 minutes per kg D1's 10 minutes saved win; the leg is new to either truck, so the
    # cheaper one takes it.
    assert carried_by(plan_deliveries(two_depots(kept, churn_cost=5.0), DECOMPOSE)) == {
        ("V1", "D1")
    }


def test_a_lost_depot_forces_the_change() -> None:
    kept = (PreviousLeg("V2", "N1", "D2", 2_000),)
    problem = two_depots(kept, churn_cost=20.0)
    lost = replace(problem, depots=(problem.depots[0], replace(problem.depots[1], usable=False)))
    plan = plan_deliveries(lost, DECOMPOSE)
    assert carried_by(plan) == {("V1", "D1")}
    assert plan.outcomes[0].status == "served"


@pytest.mark.parametrize("seed", [7, 8, 9, 11, 13])
def test_a_regions_re_plan_after_losing_a_vehicle_keeps_most_legs(seed: int) -> None:
    before_problem = region(seed)
    before = plan_deliveries(before_problem, DECOMPOSE)
    busiest = max(
        {a.vehicle_id for a in before.allocations},
        key=lambda v: (sum(a.quantity_kg for a in before.allocations if a.vehicle_id == v), v),
    )
    after_problem = replace(
        before_problem, vehicles=tuple(v for v in before_problem.vehicles if v.id != busiest)
    )
    from_scratch = plan_deliveries(after_problem, DECOMPOSE)
    against = replace(after_problem, previous=legs(before), churn_cost_per_t=20.0)
    kept = plan_deliveries(against, DECOMPOSE)
    check_plan(against, kept)

    lost = sum(a.quantity_kg for a in before.allocations if a.vehicle_id == busiest)
    forced = lost / sum(a.quantity_kg for a in before.allocations)
    assert churn(before, kept) < churn(before, from_scratch)
    assert churn(before, kept) <= forced + 0.15
    # Keeping the plan never costs much of what is served.
    assert weighted_served(against, kept) >= 0.97 * weighted_served(after_problem, from_scratch)


def test_the_greedy_objective_counts_churn_as_the_search_does() -> None:
    # Greedy plans and searched plans are compared by objective: both must count churn.
    problem = two_depots((PreviousLeg("V2", "N1", "D2", 2_000),), churn_cost=20.0)
    network = Network(problem)
    _, routing = build_routing(problem, network, allocate(problem, network, DECOMPOSE))
    assert routing is not None
    assert routing.vehicle_visit_costs  # the D1 task is new to both trucks: charged
    greedy = greedy_routes(routing)
    check_solution(routing, greedy)
    assert greedy.objective == _charged(routing, greedy)
    charged = sum(_route_cost(routing, r.vehicle, r.nodes) for r in greedy.routes)
    assert charged > sum(
        routing.cost_matrices[routing.vehicle_cost_class[r.vehicle]][a][b]
        for r in greedy.routes
        if r.nodes[1:-1]
        for a, b in itertools.pairwise(r.nodes)
    )


def test_a_cluster_whose_needs_all_follow_their_vehicle_elsewhere_is_dropped() -> None:
    problem = region(7)
    network = FastNetwork(problem)
    flows, _ = allocate_flow(problem, network, single_trips(problem, network))
    clusters = cluster_needs(problem, network, flows, DECOMPOSE.cluster_tasks)
    assert len(clusters) >= 2
    # One truck had a big leg in cluster 0 and every need of cluster 1: cluster 1 follows it.
    truck_id = problem.vehicles[0].id
    big = next(f for f in flows if f.need.id == clusters[0][0].id)
    previous = [PreviousLeg(truck_id, big.need.id, big.depot.id, big.need.quantity_kg * 10)]
    previous += [
        PreviousLeg(truck_id, f.need.id, f.depot.id, 1)
        for f in flows
        if f.need.id in {n.id for n in clusters[1]}
    ]
    against = replace(problem, previous=tuple(previous), churn_cost_per_t=20.0)
    plan = plan_deliveries(against, DECOMPOSE)
    check_plan(against, plan)
