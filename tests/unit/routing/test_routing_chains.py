"""Multimodal chains: rail to a hub, transfer, road to the need (chains.py, issue: hubs).

The hand-made line: depot ``dep`` at D, a rail line D-H of 200 km, hub H, a road H-N of
30 km, the need at N. No road reaches D, no rail reaches N. A 40 t train (80 km/h) starts
at D, 10 t trucks (60 km/h) at H; handling is 1,800 s per place left, the hub's transfer
time 3,600 s. The chain, by hand: the train loads at D at 0, leaves at 1,800, reaches H at
1,800 + 9,000 = 10,800 and is unloaded at 12,600; the cargo is ready at 16,200; a truck
loads it at 16,200, leaves at 18,000 and unloads at N at 18,000 + 1,800 = 19,800 (+5h30).
"""

from __future__ import annotations

import hashlib
import itertools
import math
import random
from collections import defaultdict
from dataclasses import replace

import pytest

from services.dispatch.routing import (
    Depot,
    Link,
    LogisticsPlan,
    LogisticsProblem,
    Need,
    Node,
    SolverParams,
    Vehicle,
    plan_deliveries,
)
from services.dispatch.routing.bound import delivery_bound
from services.dispatch.routing.problem import (
    LAST_MODES,
    PRIORITIES,
    TRUNK_MODES,
    Hub,
    LinkState,
)
from tests.unit.routing.samples import random_problem, weighted_served

PARAMS = SolverParams(solution_limit=60)
H_S = 1800
NODES = (Node("D", "D", 45.0, 5.0), Node("H", "H", 45.0, 6.0), Node("N", "N", 45.0, 6.3))
RAIL = Link("rail-DH", "D", "H", "rail", 200_000)
ROAD = Link("road-HN", "H", "N", "road", 30_000)
DEPOT = Depot("dep", "D", "civil", {"water": 100_000})
TRAIN = Vehicle("train", "rail", 40_000, 80.0, "D", "civil")


def trucks(count: int = 1, at: str = "H") -> tuple[Vehicle, ...]:
    return tuple(Vehicle(f"t{i}", "road", 10_000, 60.0, at, "civil") for i in range(count))


def line(
    quantity_kg: int = 10_000,
    deadline_s: int = 8 * 3600,
    hubs: tuple[Hub, ...] = (Hub("H", 3600),),
    fleet: tuple[Vehicle, ...] = (TRAIN, *trucks()),
    rail: Link = RAIL,
    needs: tuple[Need, ...] | None = None,
    depots: tuple[Depot, ...] = (DEPOT,),
) -> LogisticsProblem:
    demand = needs or (Need("q", "N", "water", quantity_kg, "life_saving", deadline_s),)
    return LogisticsProblem(NODES, (rail, ROAD), depots, demand, fleet, handling_s=H_S, hubs=hubs)


def check_chain_plan(problem: LogisticsProblem, plan: LogisticsPlan) -> None:
    """What every plan must satisfy, transfers included, checked from the plan alone."""
    assert plan.is_feasible
    h = problem.handling_s
    links = {link.id: link for link in problem.links}
    needs = {n.id: n for n in problem.needs}
    vehicles = {v.id: v for v in problem.vehicles}
    hubs = {x.node_id: x for x in problem.hubs}
    ready: dict[tuple[str, str, str], list[tuple[int, int]]] = defaultdict(list)
    taken: dict[tuple[str, str, str], list[tuple[int, int]]] = defaultdict(list)
    through: dict[str, int] = defaultdict(int)
    trunked: set[tuple[str, str, str]] = set()  # (trunk vehicle, need, hub)
    for route in plan.routes:
        v = vehicles[route.vehicle_id]
        here, free, last_arrival, load = v.start_node, v.available_from_s, v.available_from_s, 0
        departure: int | None = None  # from the start: the duty runs from then
        for stop in route.stops:
            effective = 0.0
            for link_id in stop.via_links:
                link = links[link_id]
                assert link.mode == v.mode, (v.id, link_id)
                assert link.state != "closed"
                assert here in (link.a, link.b)
                here = link.b if here == link.a else link.a
                effective += link.length_m / (link.speed_factor if link.state == "degraded" else 1)
            assert here == stop.node_id
            travel = math.ceil(effective * 3.6 / v.speed_kmh - 1e-9) if stop.via_links else 0
            if departure is None:
                departure = stop.arrival_s - travel
            if stop.via_links:
                assert stop.arrival_s >= free + travel, (v.id, stop)
            else:
                assert stop.arrival_s >= last_arrival
            assert stop.departure_s == stop.arrival_s + h
            free, last_arrival = stop.departure_s, stop.arrival_s
            assert stop.need_id is not None
            assert stop.depot_id is not None
            need = needs[stop.need_id]
            assert need.classification in v.clearance
            key = (stop.node_id, stop.need_id, stop.depot_id)
            if stop.action in ("load", "transfer_load"):
                load += stop.quantity_kg
            else:
                load -= stop.quantity_kg
            assert 0 <= load <= v.capacity_kg
            if stop.action == "transfer_unload":
                assert v.mode in TRUNK_MODES
                assert stop.node_id in hubs
                ready[key].append(
                    (stop.arrival_s + h + hubs[stop.node_id].transfer_s, stop.quantity_kg)
                )
                through[stop.node_id] += stop.quantity_kg
                trunked.add((v.id, stop.need_id, stop.node_id))
            elif stop.action == "transfer_load":
                assert v.mode in LAST_MODES
                assert stop.node_id in hubs
                taken[key].append((stop.arrival_s, stop.quantity_kg))
            elif stop.action == "unload":
                assert stop.node_id == need.node_id
                assert stop.arrival_s <= need.deadline_s
        assert load == 0
        assert route.end_s == free
        assert departure is not None
        assert departure >= v.available_from_s
        assert route.end_s - departure <= v.max_duty_s, v.id
    for key in set(ready) | set(taken):
        # Everything put down at a hub is taken up, and never before it is ready there.
        assert sum(kg for _, kg in ready[key]) == sum(kg for _, kg in taken[key]), key
        for at, _ in taken[key]:
            available = sum(kg for r, kg in ready[key] if r <= at)
            assert available >= sum(kg for t, kg in taken[key] if t <= at), key
    for node, kg in through.items():
        limit = hubs[node].throughput_kg
        assert limit is None or kg <= limit
    for a in plan.allocations:
        assert (a.hub_node_id is None) == (a.trunk_vehicle_id is None)
        if a.trunk_vehicle_id is not None:
            assert (a.trunk_vehicle_id, a.need_id, a.hub_node_id) in trunked
    assert [o.need_id for o in plan.outcomes] == sorted(needs)
    for o in plan.outcomes:
        assert (o.reason is None) == (o.status == "served")
        assert o.served_kg == sum(a.quantity_kg for a in plan.allocations if a.need_id == o.need_id)
        assert o.served_kg <= o.requested_kg
    assert weighted_served(problem, plan) <= delivery_bound(problem).weighted_kg


def stops(plan: LogisticsPlan, vehicle_id: str) -> list[tuple[str, str, int, int]]:
    route = next(r for r in plan.routes if r.vehicle_id == vehicle_id)
    return [(s.action, s.node_id, s.quantity_kg, s.arrival_s) for s in route.stops]


# --------------------------------------------------------------------------- known answers


def test_a_need_only_rail_then_road_reaches_is_served_via_the_hub() -> None:
    problem = line()
    plan = plan_deliveries(problem, PARAMS)
    check_chain_plan(problem, plan)
    assert stops(plan, "train") == [
        ("load", "D", 10_000, 0),
        ("transfer_unload", "H", 10_000, 10_800),
    ]
    assert stops(plan, "t0") == [
        ("transfer_load", "H", 10_000, 16_200),  # 10,800 + handling + transfer
        ("unload", "N", 10_000, 19_800),
    ]
    (allocation,) = plan.allocations
    assert (allocation.need_id, allocation.depot_id, allocation.vehicle_id) == ("q", "dep", "t0")
    assert (allocation.hub_node_id, allocation.trunk_vehicle_id) == ("H", "train")
    assert (allocation.quantity_kg, allocation.eta_s) == (10_000, 19_800)
    assert plan.outcomes[0].status == "served"
    assert plan.kpis.served_fraction_of_bound == 1.0


def test_a_time_limit_leaves_the_chain_stages_their_share() -> None:
    problem = line()
    plan = plan_deliveries(problem, SolverParams(time_limit_s=20.0, solution_limit=60))
    check_chain_plan(problem, plan)
    assert plan.outcomes[0].status == "served"


def test_without_the_hub_the_same_need_is_cut_off() -> None:
    plan = plan_deliveries(line(hubs=()), PARAMS)
    assert plan.routes == ()
    assert plan.outcomes[0].reason == "cut_off"


@pytest.mark.parametrize("transfer_s", [0, 3600, 7200])
def test_the_road_leg_leaves_the_hub_no_earlier_than_trunk_arrival_plus_transfer(
    transfer_s: int,
) -> None:
    problem = line(hubs=(Hub("H", transfer_s),))
    plan = plan_deliveries(problem, PARAMS)
    check_chain_plan(problem, plan)
    train = next(s for s in plan.routes[1].stops if s.action == "transfer_unload")
    truck = next(s for s in plan.routes[0].stops if s.action == "transfer_load")
    assert truck.arrival_s == train.arrival_s + H_S + transfer_s
    assert truck.departure_s >= train.arrival_s + transfer_s
    assert plan.outcomes[0].status == "served"


def test_a_degraded_rail_link_slows_the_trunk_leg() -> None:
    slow = Link("rail-DH", "D", "H", "rail", 200_000, "degraded", 0.5)
    problem = line(rail=slow)
    plan = plan_deliveries(problem, PARAMS)
    check_chain_plan(problem, plan)
    # 400 effective km at 80 km/h: 18,000 s, so the train reaches H at 19,800 s, the hub
    # deadline exactly; ready at 25,200 s, the truck unloads at N at 28,800 s, the deadline.
    assert stops(plan, "train")[1] == ("transfer_unload", "H", 10_000, 19_800)
    assert stops(plan, "t0") == [
        ("transfer_load", "H", 10_000, 25_200),
        ("unload", "N", 10_000, 28_800),
    ]


def test_a_closed_rail_link_leaves_no_chain() -> None:
    closed = Link("rail-DH", "D", "H", "rail", 200_000, "closed")
    plan = plan_deliveries(line(rail=closed), PARAMS)
    assert plan.routes == ()
    assert (plan.outcomes[0].status, plan.outcomes[0].reason) == ("unserved", "cut_off")


def test_a_deadline_too_tight_for_the_chain_leaves_the_need_unserved_with_a_reason() -> None:
    problem = line(deadline_s=5 * 3600)  # the chain unloads at +5h30 at best
    plan = plan_deliveries(problem, PARAMS)
    check_chain_plan(problem, plan)
    assert plan.routes == ()
    o = plan.outcomes[0]
    assert (o.status, o.reason) == ("unserved", "deadline_unreachable")
    assert o.detail == (
        "0 kg of 10 t: earliest possible arrival via hub H +5h30 is after the deadline +5h00"
    )


def test_the_chain_deadline_is_exact() -> None:
    plan = plan_deliveries(line(deadline_s=19_800), PARAMS)
    assert plan.outcomes[0].status == "served"
    plan = plan_deliveries(line(deadline_s=19_799), PARAMS)
    assert plan.outcomes[0].reason == "deadline_unreachable"


def test_the_hub_throughput_caps_what_is_transshipped() -> None:
    # A second train and spare trucks: only the hub's limit stops the last 10 t, in either
    # round of chains.
    spare = replace(TRAIN, id="train2")
    problem = line(
        quantity_kg=30_000, hubs=(Hub("H", 3600, 20_000),), fleet=(TRAIN, spare, *trucks(3))
    )
    plan = plan_deliveries(problem, PARAMS)
    check_chain_plan(problem, plan)
    dropped = [s for r in plan.routes for s in r.stops if s.action == "transfer_unload"]
    assert sum(s.quantity_kg for s in dropped) == 20_000
    o = plan.outcomes[0]
    assert (o.served_kg, o.status, o.reason) == (20_000, "partial", "no_transport_capacity")
    assert o.detail == "20 t of 30 t: the throughput of hub H is used up"


def test_a_hub_without_throughput_transships_nothing() -> None:
    plan = plan_deliveries(line(hubs=(Hub("H", 3600, 0),)), PARAMS)
    assert plan.routes == ()
    assert plan.outcomes[0].reason == "cut_off"
    assert delivery_bound(line(hubs=(Hub("H", 3600, 0),))).weighted_kg == 0


def test_throughput_goes_to_the_higher_priority_first() -> None:
    needs = (
        Need("a-routine", "N", "water", 10_000, "routine", 8 * 3600),
        Need("b-life", "N", "water", 10_000, "life_saving", 8 * 3600),
    )
    problem = line(needs=needs, hubs=(Hub("H", 3600, 10_000),), fleet=(TRAIN, *trucks(2)))
    plan = plan_deliveries(problem, PARAMS)
    check_chain_plan(problem, plan)
    status = {o.need_id: (o.status, o.reason) for o in plan.outcomes}
    assert status == {
        "a-routine": ("unserved", "no_transport_capacity"),
        "b-life": ("served", None),
    }


def test_a_life_saving_chain_takes_the_train_before_a_routine_direct_load() -> None:
    # The 10 t train can either carry the routine load to X by rail (direct, due +3h30) or
    # the life-saving one to the hub for N: both compete in one routing model.
    x = Node("X", "X", 45.5, 5.0)
    problem = LogisticsProblem(
        (*NODES, x),
        (RAIL, ROAD, Link("rail-DX", "D", "X", "rail", 200_000)),
        (DEPOT,),
        (
            Need("a-routine", "X", "water", 10_000, "routine", 12_600),
            Need("b-life", "N", "water", 10_000, "life_saving", 8 * 3600),
        ),
        (Vehicle("train", "rail", 10_000, 80.0, "D", "civil"), *trucks()),
        handling_s=H_S,
        hubs=(Hub("H", 3600),),
    )
    plan = plan_deliveries(problem, PARAMS)
    check_chain_plan(problem, plan)
    status = {o.need_id: (o.status, o.reason) for o in plan.outcomes}
    assert status == {
        "a-routine": ("unserved", "displaced_by_higher_priority"),
        "b-life": ("served", None),
    }
    assert [s[:2] for s in stops(plan, "train")] == [("load", "D"), ("transfer_unload", "H")]


def test_cargo_the_road_cannot_carry_on_is_not_left_at_the_hub() -> None:
    # One truck: two round trips H -> N -> H before the deadline, so 20 of the 30 t.
    problem = line(quantity_kg=30_000, fleet=(TRAIN, *trucks(1)))
    plan = plan_deliveries(problem, PARAMS)
    check_chain_plan(problem, plan)
    assert stops(plan, "train") == [
        ("load", "D", 20_000, 0),
        ("transfer_unload", "H", 20_000, 10_800),
    ]
    assert [s[:2] for s in stops(plan, "t0")] == [
        ("transfer_load", "H"),
        ("unload", "N"),
        ("transfer_load", "H"),
        ("unload", "N"),
    ]
    o = plan.outcomes[0]
    assert (o.served_kg, o.reason) == (20_000, "no_transport_capacity")
    assert "via hub H" in o.detail


def test_a_need_served_in_part_directly_gets_the_rest_by_chain() -> None:
    # A local depot at H holds 4 t: the truck brings them first, then carries on from N.
    local = Depot("local", "H", "civil", {"water": 4_000})
    problem = line(depots=(DEPOT, local))
    plan = plan_deliveries(problem, PARAMS)
    check_chain_plan(problem, plan)
    got = {(a.depot_id, a.vehicle_id, a.hub_node_id): a.quantity_kg for a in plan.allocations}
    assert got == {("local", "t0", None): 4_000, ("dep", "t0", "H"): 6_000}
    actions = [(s[0], s[1]) for s in stops(plan, "t0")]
    assert actions == [
        ("load", "H"),
        ("unload", "N"),
        ("transfer_load", "H"),
        ("unload", "N"),
    ]
    assert plan.outcomes[0].status == "served"


def test_the_bound_counts_chains_and_holds() -> None:
    problem = line(quantity_kg=30_000, fleet=(TRAIN, *trucks(1)))
    bound = delivery_bound(problem)
    assert bound.per_need_kg["q"] >= 20_000
    assert delivery_bound(line(hubs=())).weighted_kg == 0
    plan = plan_deliveries(problem, PARAMS)
    assert plan.kpis.served_fraction_of_bound is not None
    assert 0 < plan.kpis.served_fraction_of_bound <= 1.0


# --------------------------------------------------------------------------- no hubs


def canonical(plan: LogisticsPlan) -> str:
    """A digest of a plan over the fields plans had before hubs."""
    routes = [
        (
            r.vehicle_id,
            r.distance_m,
            r.end_s,
            [
                (
                    *(s.node_id, s.action, s.depot_id, s.need_id, s.commodity, s.quantity_kg),
                    *(s.arrival_s, s.departure_s, s.via_links),
                )
                for s in r.stops
            ],
        )
        for r in plan.routes
    ]
    allocations = [
        (a.need_id, a.depot_id, a.vehicle_id, a.quantity_kg, a.eta_s) for a in plan.allocations
    ]
    outcomes = [
        (o.need_id, o.requested_kg, o.served_kg, o.status, o.reason, o.detail)
        for o in plan.outcomes
    ]
    k = plan.kpis
    figures = (
        dict(k.served_kg_by_priority),
        dict(k.requested_kg_by_priority),
        k.fill_rate,
        k.priority_weighted_fill,
        k.vehicles_used,
        k.distance_m,
        k.objective,
        k.weighted_bound_kg,
        k.served_fraction_of_bound,
    )
    text = repr((routes, allocations, outcomes, figures, plan.is_feasible))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# Digests of the plans the planner made before hubs existed (same seeds and settings).
BEFORE_HUBS = {
    0: "d33f990d762fac4a",
    1: "cb11f6e85597a8a1",
    2: "e99ce91274ef1af1",
    3: "9d39fb5d8922d7c3",
}


@pytest.mark.parametrize("seed", sorted(BEFORE_HUBS))
def test_without_hubs_plans_are_those_made_before_hubs(seed: int) -> None:
    problem = random_problem(seed, nodes=8, needs=7, vehicles=4)
    assert problem.hubs == ()
    assert canonical(plan_deliveries(problem, PARAMS)) == BEFORE_HUBS[seed]


def test_hubs_change_nothing_when_every_need_is_served_directly() -> None:
    nodes = (Node("A", "A", 45.0, 5.0), Node("B", "B", 45.0, 5.1))
    problem = LogisticsProblem(
        nodes,
        (Link("AB", "A", "B", "road", 10_000), Link("rAB", "A", "B", "rail", 10_000)),
        (Depot("d", "A", "civil", {"water": 50_000}),),
        (Need("q", "B", "water", 20_000, "sustaining", 6 * 3600),),
        (
            Vehicle("t", "road", 10_000, 60.0, "A", "civil"),
            Vehicle("r", "rail", 40_000, 60.0, "A", "civil"),
        ),
    )
    with_hub = LogisticsProblem(
        problem.nodes,
        problem.links,
        problem.depots,
        problem.needs,
        problem.vehicles,
        hubs=(Hub("B", 600),),
    )
    assert plan_deliveries(with_hub, PARAMS) == plan_deliveries(problem, PARAMS)


# --------------------------------------------------------------------------- random


def multimodal(seed: int) -> LogisticsProblem:
    """Two road islands joined only by rail (some degraded or closed), hubs on the rail."""
    rng = random.Random(seed)
    west = [f"w{i}" for i in range(4)]
    east = [f"e{i}" for i in range(5)]
    nodes = tuple(
        Node(n, n, 45.0 + rng.random() / 2, (5.0 if n[0] == "w" else 7.0) + rng.random() / 2)
        for n in west + east
    )
    links: list[Link] = []
    for side in (west, east):
        for a, b in itertools.combinations(side, 2):
            if rng.random() < 0.6 or b == side[side.index(a) + 1]:
                links.append(Link(f"r-{a}-{b}", a, b, "road", rng.randrange(10, 60) * 1000))
    for a, b in (("w0", "e0"), ("w1", "e1"), ("w0", "w1"), ("e0", "e1")):
        roll = rng.random()
        state: LinkState = "closed" if roll < 0.15 else "degraded" if roll < 0.35 else "open"
        links.append(
            Link(f"rail-{a}-{b}", a, b, "rail", rng.randrange(100, 250) * 1000, state, 0.6)
        )
    depots = (
        Depot("dw0", "w0", "civil", {"water": rng.randrange(20, 80) * 1000, "food": 30_000}),
        Depot("dw2", "w2", "civil", {"water": 20_000, "medical": rng.randrange(0, 20) * 1000}),
        Depot("de4", "e4", "civil", {"food": rng.randrange(0, 15) * 1000}),
    )
    needs = tuple(
        Need(
            f"q{i}",
            rng.choice([*east, "w3"]),
            rng.choice(("water", "food", "medical")),
            rng.randrange(2, 25) * 1000,
            rng.choice(PRIORITIES),
            rng.randrange(4, 20) * 3600,
            "military" if rng.random() < 0.1 else "public",
        )
        for i in range(6)
    )
    fleet = (
        Vehicle(
            "rail1", "rail", 60_000, 70.0, "w0", "civil", max_duty_s=rng.choice((8, 24)) * 3600
        ),
        Vehicle("rail2", "rail", 30_000, 90.0, "w1", "civil", available_from_s=3600),
        Vehicle("tw", "road", 10_000, 60.0, "w2", "civil"),
        Vehicle("te1", "road", 10_000, 60.0, "e1", "civil"),
        Vehicle(
            "te2",
            "road",
            rng.choice((5_000, 15_000)),
            50.0,
            "e3",
            "military",
            max_duty_s=12 * 3600,
            clearance=frozenset({"public", "restricted", "military"}),
        ),
    )
    hubs = (
        Hub("e0", rng.choice((0, 1800, 3600)), rng.choice((None, 15_000))),
        Hub("e1", 2700, rng.choice((None, 0, 30_000))),
    )
    return LogisticsProblem(nodes, tuple(links), depots, needs, fleet, handling_s=1200, hubs=hubs)


@pytest.mark.parametrize("seed", range(8))
def test_random_multimodal_plans_are_consistent_and_within_the_bound(seed: int) -> None:
    problem = multimodal(seed)
    plan = plan_deliveries(problem, PARAMS)
    check_chain_plan(problem, plan)
    without = plan_deliveries(
        LogisticsProblem(
            problem.nodes,
            problem.links,
            problem.depots,
            problem.needs,
            problem.vehicles,
            handling_s=problem.handling_s,
        ),
        PARAMS,
    )
    # Chains only add to what the direct stage serves (it runs first, unchanged).
    assert weighted_served(problem, plan) >= weighted_served(problem, without)


def test_some_random_multimodal_plans_use_chains() -> None:
    used = 0
    for seed in range(8):
        plan = plan_deliveries(multimodal(seed), PARAMS)
        used += any(a.hub_node_id for a in plan.allocations)
    assert used >= 3


# --------------------------------------------------------------------------- validation


def test_a_hub_with_a_negative_transfer_time_is_rejected_naming_the_hub() -> None:
    with pytest.raises(ValueError, match="hub H: transfer_s must be >= 0"):
        Hub("H", -1)


def test_a_hub_with_a_negative_throughput_is_rejected_naming_the_hub() -> None:
    with pytest.raises(ValueError, match="hub H: throughput_kg must be >= 0"):
        Hub("H", 0, -5)


def test_a_hub_without_a_node_id_is_rejected() -> None:
    with pytest.raises(ValueError, match="hub '': id must be a non-empty string"):
        Hub("", 0)


def test_a_hub_at_an_unknown_node_is_rejected_naming_the_hub() -> None:
    with pytest.raises(ValueError, match="hub Z: unknown node Z"):
        line(hubs=(Hub("Z", 0),))


def test_two_hubs_at_one_node_are_rejected() -> None:
    with pytest.raises(ValueError, match="hub H: duplicate id"):
        line(hubs=(Hub("H", 0), Hub("H", 60)))


def test_a_problem_with_hubs_is_hashable() -> None:
    assert hash(line()) == hash(line())
    assert line().hubs == (Hub("H", 3600),)
