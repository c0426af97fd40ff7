"""plan_deliveries on small hand-made instances: invariants, reasons and a known optimum."""

import itertools
from collections.abc import Sequence

import pytest

from services.dispatch.routing import (
    Depot,
    Link,
    LogisticsPlan,
    LogisticsProblem,
    Need,
    NeedOutcome,
    Node,
    SolverParams,
    Vehicle,
    plan_deliveries,
)
from services.dispatch.routing.problem import Classification, Owner

PARAMS = SolverParams(solution_limit=100)
DAY = 24 * 3600


def line(names: str) -> tuple[tuple[Node, ...], tuple[Link, ...]]:
    """Nodes on a road line, 10 km apart, links named after their ends ("AB")."""
    nodes = tuple(Node(n, n, 45.0, 5.0 + i / 10) for i, n in enumerate(names))
    links = tuple(Link(a + b, a, b, "road", 10_000) for a, b in itertools.pairwise(names))
    return nodes, links


def truck(
    ident: str,
    at: str,
    capacity_kg: int = 10_000,
    owner: Owner = "civil",
    clearance: frozenset[Classification] = frozenset({"public", "restricted"}),
) -> Vehicle:
    return Vehicle(ident, "road", capacity_kg, 60.0, at, owner, clearance=clearance)


def outcome(plan: LogisticsPlan, need_id: str) -> NeedOutcome:
    return next(o for o in plan.outcomes if o.need_id == need_id)


def solve(
    nodes: Sequence[Node],
    links: Sequence[Link],
    depots: Sequence[Depot],
    needs: Sequence[Need],
    vehicles: Sequence[Vehicle],
) -> LogisticsPlan:
    problem = LogisticsProblem(
        tuple(nodes), tuple(links), tuple(depots), tuple(needs), tuple(vehicles)
    )
    return plan_deliveries_checked(problem)


def plan_deliveries_checked(problem: LogisticsProblem) -> LogisticsPlan:
    """Plan and assert the invariants every plan must satisfy."""
    plan = plan_deliveries(problem, PARAMS)
    assert plan.is_feasible
    needs = {n.id: n for n in problem.needs}
    vehicles = {v.id: v for v in problem.vehicles}
    closed = {link.id for link in problem.links if link.state == "closed"}
    for route in plan.routes:
        load = 0
        for stop in route.stops:
            load += stop.quantity_kg if stop.action == "load" else -stop.quantity_kg
            assert 0 <= load <= vehicles[route.vehicle_id].capacity_kg
            assert not closed & set(stop.via_links)
            if stop.action == "unload":
                assert stop.need_id is not None
                assert stop.arrival_s <= needs[stop.need_id].deadline_s
        assert load == 0
    for o in plan.outcomes:
        assert (o.reason is None) == (o.status == "served")
        assert o.served_kg == sum(a.quantity_kg for a in plan.allocations if a.need_id == o.need_id)
    return plan


def test_one_truck_on_a_line_matches_the_hand_computed_optimum() -> None:
    # Load all three at A, then drop at B, C, D: 30 km is optimal and nothing shorter exists.
    nodes, links = line("ABCD")
    plan = solve(
        nodes,
        links,
        [Depot("D1", "A", "civil", {"water": 10_000})],
        [
            Need("N1", "B", "water", 1_000, "routine", DAY),
            Need("N2", "C", "water", 1_000, "life_saving", DAY),
            Need("N3", "D", "water", 1_000, "sustaining", DAY),
        ],
        [truck("V1", "A")],
    )
    assert plan.kpis.distance_m == 30_000
    assert plan.kpis.objective == 3_000  # 30 km at 1.0 per km, in cents
    assert plan.kpis.fill_rate == 1.0
    unloads = [s for s in plan.routes[0].stops if s.action == "unload"]
    assert [s.node_id for s in unloads] == ["B", "C", "D"]
    assert [s.via_links for s in unloads] == [("AB",), ("BC",), ("CD",)]
    # 10 km at 60 km/h is 600 s; handling (1800 s) is paid once per place visited.
    assert [s.arrival_s for s in unloads] == [2_400, 4_800, 7_200]


def test_capacity_is_respected_when_demand_exceeds_one_load() -> None:
    nodes, links = line("ABCD")
    plan = solve(
        nodes,
        links,
        [Depot("D1", "A", "civil", {"water": 20_000})],
        [
            Need("N1", "B", "water", 3_000, "routine", DAY),
            Need("N2", "C", "water", 3_000, "routine", DAY),
            Need("N3", "D", "water", 3_000, "routine", DAY),
        ],
        [truck("V1", "A", capacity_kg=5_000), truck("V2", "A", capacity_kg=5_000)],
    )
    assert plan.kpis.fill_rate == 1.0


def test_every_unload_arrives_before_its_deadline_and_late_needs_say_why() -> None:
    nodes, links = line("ABCD")
    plan = solve(
        nodes,
        links,
        [Depot("D1", "A", "civil", {"water": 10_000})],
        [
            Need("N1", "B", "water", 1_000, "routine", 2_400),
            Need("N2", "D", "water", 1_000, "life_saving", 3_000),
            Need("N3", "C", "water", 1_000, "routine", DAY),
        ],
        [truck("V1", "A"), truck("V2", "A")],
    )
    assert outcome(plan, "N1").status == "served"
    assert outcome(plan, "N3").status == "served"
    late = outcome(plan, "N2")
    assert late.reason == "deadline_unreachable"
    assert late.status == "unserved"


def test_a_closed_link_is_never_travelled_and_a_need_behind_it_is_cut_off() -> None:
    nodes, links = line("ABC")
    detour = (
        Node("X", "X", 45.5, 5.0),
        Node("Z", "Z", 46.0, 5.0),
    )
    links = (
        Link("AB", "A", "B", "road", 10_000, state="closed"),
        Link("BC", "B", "C", "road", 10_000),
        Link("AX", "A", "X", "road", 30_000),
        Link("XB", "X", "B", "road", 30_000),
        Link("CZ", "C", "Z", "road", 5_000, state="closed"),
    )
    plan = solve(
        (*nodes, *detour),
        links,
        [Depot("D1", "A", "civil", {"water": 10_000})],
        [
            Need("N1", "C", "water", 1_000, "routine", DAY),
            Need("N2", "Z", "water", 1_000, "life_saving", DAY),
        ],
        [truck("V1", "A")],
    )
    unload = next(s for s in plan.routes[0].stops if s.need_id == "N1" and s.action == "unload")
    assert unload.via_links == ("AX", "XB", "BC")
    cut = outcome(plan, "N2")
    assert (cut.status, cut.reason) == ("unserved", "cut_off")


def test_a_degraded_link_slows_travel_by_its_speed_factor() -> None:
    nodes, _ = line("AB")
    plan = solve(
        nodes,
        [Link("AB", "A", "B", "road", 10_000, state="degraded", speed_factor=0.5)],
        [Depot("D1", "A", "civil", {"water": 10_000})],
        [Need("N1", "B", "water", 1_000, "routine", DAY)],
        [truck("V1", "A")],
    )
    assert plan.routes[0].stops[-1].arrival_s == 1_800 + 1_200


def test_a_lost_depot_or_depot_node_is_never_used() -> None:
    nodes, links = line("ABCD")
    lost_node = Node("E", "E", 45.0, 5.05, usable=False)
    plan = solve(
        (*nodes, lost_node),
        (*links, Link("BE", "B", "E", "road", 1_000)),
        [
            Depot("NEAR", "B", "civil", {"water": 10_000}, usable=False),
            Depot("GONE", "E", "civil", {"water": 10_000}),
            Depot("FAR", "D", "civil", {"water": 10_000}),
        ],
        [Need("N1", "B", "water", 2_000, "life_saving", DAY)],
        [truck("V1", "A")],
    )
    assert {a.depot_id for a in plan.allocations} == {"FAR"}
    assert all(s.depot_id == "FAR" for r in plan.routes for s in r.stops)
    assert all("BE" not in s.via_links for r in plan.routes for s in r.stops)


def test_a_stock_shortage_drops_routine_before_life_saving() -> None:
    nodes, links = line("ABC")
    plan = solve(
        nodes,
        links,
        [Depot("D1", "A", "civil", {"water": 5_000})],
        [
            Need("R1", "B", "water", 5_000, "routine", DAY),
            Need("L1", "C", "water", 5_000, "life_saving", DAY),
        ],
        [truck("V1", "A")],
    )
    assert outcome(plan, "L1").status == "served"
    routine = outcome(plan, "R1")
    assert (routine.status, routine.reason) == ("unserved", "displaced_by_higher_priority")


def test_a_transport_shortage_drops_routine_before_life_saving() -> None:
    # One truck, one trip possible before the deadlines: it must go to the life-saving need.
    nodes, links = line("ABC")
    plan = solve(
        nodes,
        links,
        [Depot("D1", "A", "civil", {"water": 20_000})],
        [
            Need("R1", "B", "water", 5_000, "routine", 3_000),
            Need("L1", "C", "water", 5_000, "life_saving", 3_600),
        ],
        [truck("V1", "A", capacity_kg=5_000)],
    )
    assert outcome(plan, "L1").status == "served"
    routine = outcome(plan, "R1")
    assert routine.status == "unserved"
    assert routine.reason == "displaced_by_higher_priority"
    assert plan.kpis.served_kg_by_priority["life_saving"] == 5_000
    assert plan.kpis.priority_weighted_fill == 100 * 5_000 / (100 * 5_000 + 5_000)


def test_a_need_larger_than_one_truck_is_split_over_vehicles_and_depots() -> None:
    nodes, links = line("ABCD")
    plan = solve(
        nodes,
        links,
        [
            Depot("D1", "A", "civil", {"water": 15_000}),
            Depot("D2", "B", "civil", {"water": 15_000}),
        ],
        [Need("N1", "D", "water", 25_000, "life_saving", 6 * 3600)],
        [truck(f"V{i}", "A") for i in range(1, 4)],
    )
    served = outcome(plan, "N1")
    assert (served.status, served.served_kg) == ("served", 25_000)
    assert len({a.vehicle_id for a in plan.allocations}) >= 3
    assert {a.depot_id for a in plan.allocations} == {"D1", "D2"}


def test_a_need_with_no_stock_anywhere_is_unserved_with_no_stock() -> None:
    nodes, links = line("AB")
    plan = solve(
        nodes,
        links,
        [Depot("D1", "A", "civil", {"water": 5_000})],
        [Need("N1", "B", "fuel", 1_000, "life_saving", DAY)],
        [truck("V1", "A")],
    )
    result = outcome(plan, "N1")
    assert (result.status, result.reason) == ("unserved", "no_stock")
    assert "fuel" in result.detail
    assert plan.routes == ()


def test_a_partly_stocked_need_is_partial_with_a_detail_sentence() -> None:
    nodes, links = line("AB")
    plan = solve(
        nodes,
        links,
        [Depot("D1", "A", "civil", {"water": 42_000})],
        [Need("N1", "B", "water", 60_000, "life_saving", DAY)],
        [truck("V1", "A", capacity_kg=50_000)],
    )
    result = outcome(plan, "N1")
    assert (result.status, result.served_kg, result.reason) == ("partial", 42_000, "no_stock")
    assert result.detail.startswith("42 t of 60 t: ")


def test_a_military_need_is_never_carried_by_an_uncleared_civil_vehicle() -> None:
    nodes, links = line("ABC")
    military: frozenset[Classification] = frozenset({"public", "restricted", "military"})
    depots = [Depot("D1", "A", "military", {"ammo": 5_000, "water": 5_000})]
    needs = [
        Need("M1", "C", "ammo", 1_000, "life_saving", DAY, classification="military"),
        Need("W1", "B", "water", 1_000, "routine", DAY),
    ]
    civil_only = solve(nodes, links, depots, needs, [truck("CIV", "A")])
    blocked = outcome(civil_only, "M1")
    assert (blocked.status, blocked.reason) == ("unserved", "no_cleared_vehicle")
    assert outcome(civil_only, "W1").status == "served"

    mixed = solve(
        nodes,
        links,
        depots,
        needs,
        [truck("CIV", "A"), truck("MIL", "C", owner="military", clearance=military)],
    )
    carriers = {a.vehicle_id for a in mixed.allocations if a.need_id == "M1"}
    assert carriers == {"MIL"}


def test_the_same_problem_solved_twice_gives_equal_plans() -> None:
    nodes, links = line("ABCDEF")
    depots = [
        Depot("D1", "A", "civil", {"water": 30_000, "food": 10_000}),
        Depot("D2", "F", "military", {"water": 10_000}),
    ]
    needs = [
        Need(f"N{i}", n, c, 2_000 + 500 * i, p, DAY, precedence=i % 3)  # type: ignore[arg-type]
        for i, (n, c, p) in enumerate(
            [
                ("B", "water", "routine"),
                ("C", "food", "sustaining"),
                ("D", "water", "life_saving"),
                ("E", "water", "routine"),
                ("F", "food", "life_saving"),
                ("C", "water", "sustaining"),
            ]
        )
    ]
    vehicles = [truck("V1", "A", 6_000), truck("V2", "C", 4_000), truck("V3", "F", 8_000)]
    first = solve(nodes, links, depots, needs, vehicles)
    second = solve(nodes, links, depots, needs, vehicles)
    assert first == second
    assert [o.need_id for o in first.outcomes] == sorted(o.need_id for o in first.outcomes)
    assert [r.vehicle_id for r in first.routes] == sorted(r.vehicle_id for r in first.routes)


def test_a_budget_too_short_for_the_first_solution_still_gives_the_first_solution() -> None:
    """Live searches stop on a clock; on a loaded machine it can run out before OR-Tools has
    its first solution, and a plan of no routes would supersede a good one in dispatch."""
    from services.bench.regional import regional_problem

    problem = regional_problem(cut=True)
    rushed = plan_deliveries(problem, SolverParams(time_limit_s=0.001, solution_limit=50))
    first = plan_deliveries(problem, SolverParams(solution_limit=1))
    assert rushed.is_feasible
    assert rushed.kpis.served_kg_by_priority == first.kpis.served_kg_by_priority
    assert rushed.kpis.vehicles_used == first.kpis.vehicles_used > 0


def test_when_or_tools_finds_nothing_at_all_the_plan_takes_the_greedy_trips(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The last rung: neither the search nor the first-solution strategy found a solution
    (OR-Tools' own failures, as with google/or-tools#5283): dispatch publishes the greedy
    trips rather than a plan of no routes that would supersede a good one."""
    from ortools.constraint_solver import pywrapcp

    from services.bench.regional import regional_problem

    problem = regional_problem(cut=True)
    monkeypatch.setattr(pywrapcp.RoutingModel, "SolveWithParameters", lambda self, p: None)
    plan = plan_deliveries(problem, SolverParams(time_limit_s=0.3, solution_limit=50))
    assert plan.is_feasible
    assert plan.kpis.vehicles_used > 0
    assert plan.kpis.fill_rate > 0
