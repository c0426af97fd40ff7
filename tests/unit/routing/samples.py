"""Shared helpers of the routing tests: plan and solution checkers, small instance builders."""

from __future__ import annotations

import itertools
import random

from services.dispatch.routing import (
    Depot,
    Link,
    LogisticsPlan,
    LogisticsProblem,
    Need,
    Node,
    Vehicle,
)
from services.dispatch.routing.network import Network
from services.dispatch.routing.ortools_solver import RoutingProblem, RoutingSolution
from services.dispatch.routing.plan import PRIORITY_WEIGHT
from services.dispatch.routing.problem import PRIORITIES

COMMODITIES = ("water", "food", "medical")


def check_plan(problem: LogisticsProblem, plan: LogisticsPlan) -> None:
    """Assert what every plan must satisfy, whichever path made it."""
    assert plan.is_feasible
    needs = {n.id: n for n in problem.needs}
    vehicles = {v.id: v for v in problem.vehicles}
    closed = {link.id for link in problem.links if link.state == "closed"}
    for route in plan.routes:
        vehicle = vehicles[route.vehicle_id]
        load = 0
        for stop in route.stops:
            load += (
                stop.quantity_kg if stop.action in ("load", "transfer_load") else -stop.quantity_kg
            )
            assert 0 <= load <= vehicle.capacity_kg
            assert not closed & set(stop.via_links)
            assert stop.need_id is not None
            assert needs[stop.need_id].classification in vehicle.clearance
            if stop.action == "unload":
                assert stop.arrival_s <= needs[stop.need_id].deadline_s
        assert load == 0
        assert route.end_s - vehicle.available_from_s <= vehicle.max_duty_s
    assert [o.need_id for o in plan.outcomes] == sorted(needs)
    for o in plan.outcomes:
        assert (o.reason is None) == (o.status == "served")
        assert o.served_kg == sum(a.quantity_kg for a in plan.allocations if a.need_id == o.need_id)
        assert o.served_kg <= o.requested_kg
    check_timeline(problem, plan)


def weighted_served(problem: LogisticsProblem, plan: LogisticsPlan) -> int:
    priority = {n.id: n.priority for n in problem.needs}
    return sum(PRIORITY_WEIGHT[priority[o.need_id]] * o.served_kg for o in plan.outcomes)


def check_timeline(problem: LogisticsProblem, plan: LogisticsPlan) -> None:
    """Assert each route is drivable in time and no depot gives more than it holds.

    From the vehicle's start at its availability, every stop is reached no earlier than the
    previous one (left after handling when the place changes) plus the travel over the
    links named, open and of the vehicle's mode; loads per depot and commodity stay within
    the stock.
    """
    network = Network(problem)
    vehicles = {v.id: v for v in problem.vehicles}
    links = {link.id: link for link in problem.links}
    taken: dict[tuple[str, str], int] = {}
    for route in plan.routes:
        vehicle = vehicles[route.vehicle_id]
        here, ready, at_start = vehicle.start_node, vehicle.available_from_s, True
        for stop in route.stops:
            assert all(links[x].mode == vehicle.mode for x in stop.via_links)
            path = network.path(vehicle.mode, here, stop.node_id)
            assert path is not None
            leave = 0 if at_start or stop.node_id == here else problem.handling_s
            assert stop.arrival_s >= ready + leave + path.travel_s(vehicle.speed_kmh)
            here, ready, at_start = stop.node_id, stop.arrival_s, False
            if stop.action == "load" and stop.depot_id is not None:
                key = (stop.depot_id, stop.commodity)
                taken[key] = taken.get(key, 0) + stop.quantity_kg
    stock = {(d.id, c): kg for d in problem.depots for c, kg in d.stock_kg.items()}
    for key, kg in taken.items():
        assert kg <= stock.get(key, 0), key


def check_solution(problem: RoutingProblem, solution: RoutingSolution) -> None:
    """Assert a RoutingSolution respects the model it solves (independently of OR-Tools)."""
    assert solution.found
    pair_of = {p: d for p, d in problem.pickups_deliveries}
    visited: set[int] = set()
    for route in solution.routes:
        v = route.vehicle
        times = problem.time_matrices[problem.vehicle_class[v]]
        assert route.nodes[0] == problem.vehicle_starts[v]
        assert route.nodes[-1] == problem.vehicle_ends[v]
        load = 0
        position: dict[int, int] = {}
        for k, node in enumerate(route.nodes):
            low, high = problem.time_windows[node]
            assert low <= route.arrivals[k] <= high
            if k:
                prev = route.nodes[k - 1]
                transit = problem.service_times[prev] + times[prev][node]
                assert route.arrivals[k] >= route.arrivals[k - 1] + transit
            if 0 < k < len(route.nodes) - 1:
                allowed = problem.allowed_vehicles[node]
                assert allowed is None or v in allowed
                assert node not in visited
                visited.add(node)
                position[node] = k
                load += problem.demands[node]
                assert 0 <= load <= problem.vehicle_capacities[v]
        for pickup, delivery in pair_of.items():
            assert (pickup in position) == (delivery in position)
            if pickup in position:
                assert position[pickup] < position[delivery]
        span = problem.vehicle_max_span[v]
        if span is not None and len(route.nodes) > 2:
            assert route.arrivals[-1] - route.arrivals[0] <= span
    for pickup, penalty in enumerate(problem.penalties):
        if penalty is None and pickup in pair_of:
            assert pickup in visited


def random_problem(
    seed: int, nodes: int = 7, needs: int = 6, vehicles: int = 3
) -> LogisticsProblem:
    """A small random road (and a little rail) network with damage, stock, needs and a fleet."""
    rng = random.Random(seed)
    places = tuple(
        Node(f"n{i}", f"n{i}", 30 + rng.random(), 100 + rng.random(), usable=rng.random() > 0.05)
        for i in range(nodes)
    )
    links: list[Link] = []
    for a, b in itertools.combinations(range(nodes), 2):
        if rng.random() < 0.45 or b == a + 1:
            roll = rng.random()
            state = "closed" if roll < 0.1 else "degraded" if roll < 0.25 else "open"
            links.append(
                Link(
                    f"r{a}-{b}",
                    f"n{a}",
                    f"n{b}",
                    "road",
                    rng.randrange(5, 120) * 1000,
                    state,  # type: ignore[arg-type]
                    0.5 if state == "degraded" else 1.0,
                )
            )
    links.append(Link("rail", "n0", f"n{nodes - 1}", "rail", 150_000))
    depots = tuple(
        Depot(
            f"d{i}",
            f"n{rng.randrange(nodes)}",
            "civil",
            {c: rng.randrange(0, 40) * 1000 for c in rng.sample(COMMODITIES, 2)},
            usable=rng.random() > 0.1,
        )
        for i in range(3)
    )
    demand = tuple(
        Need(
            f"q{i}",
            f"n{rng.randrange(nodes)}",
            rng.choice(COMMODITIES),
            rng.randrange(1, 30) * 1000,
            rng.choice(PRIORITIES),
            rng.randrange(1, 30) * 3600,
            "military" if rng.random() < 0.15 else "public",
            rng.randrange(0, 3),
        )
        for i in range(needs)
    )
    fleet = tuple(
        Vehicle(
            f"v{i}",
            "rail" if i == 0 else "road",
            rng.choice((5_000, 10_000, 20_000)),
            rng.choice((40.0, 60.0, 80.0)),
            "n0" if i == 0 else f"n{rng.randrange(nodes)}",
            "military" if i == 1 else "civil",
            max_duty_s=rng.choice((8, 12, 24)) * 3600,
            available_from_s=rng.choice((0, 0, 3600)),
            clearance=frozenset({"public", "restricted", "military"})
            if i == 1
            else frozenset({"public", "restricted"}),
        )
        for i in range(vehicles)
    )
    return LogisticsProblem(places, tuple(links), depots, demand, fleet)
