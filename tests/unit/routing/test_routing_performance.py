"""A generated region-sized instance: solve time is printed, plans are reproducible."""

import itertools
import math
import random
import time

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
from services.dispatch.routing.problem import CLASSIFICATIONS, PRIORITIES, LinkState, Mode

COMMODITIES = ("water", "food", "medical", "fuel")


def metres(a: Node, b: Node) -> int:
    dlat = math.radians(b.lat - a.lat)
    dlon = math.radians(b.lon - a.lon) * math.cos(math.radians((a.lat + b.lat) / 2))
    return round(6_371_000 * math.hypot(dlat, dlon) * 1.3)


def region(seed: int = 7) -> LogisticsProblem:
    """~60 nodes, ~150 links, 10 depots, 40 needs, 40 vehicles, with damage."""
    rng = random.Random(seed)
    nodes = tuple(
        Node(f"n{i:02d}", f"place {i}", 44.0 + rng.random() * 2, 4.0 + rng.random() * 2, i != 59)
        for i in range(60)
    )
    links: list[Link] = []
    seen: set[tuple[str, str]] = set()

    def connect(a: Node, b: Node, mode: Mode) -> None:
        key = (min(a.id, b.id), max(a.id, b.id))
        if (mode == "road" and key in seen) or a.id == b.id:
            return
        seen.add(key)
        roll = rng.random()
        state: LinkState = "closed" if roll < 0.04 else "degraded" if roll < 0.14 else "open"
        factor = 0.5 if state == "degraded" else 1.0
        links.append(
            Link(f"{mode[0]}{len(links):03d}", a.id, b.id, mode, metres(a, b), state, factor)
        )

    for node in nodes:
        nearest = sorted(nodes, key=lambda other: metres(node, other))[1:5]
        for other in nearest:
            connect(node, other, "road")
    rail = rng.sample(nodes[:40], 12)
    for a, b in itertools.pairwise(rail):
        connect(a, b, "rail")
    river = rng.sample(nodes[20:50], 6)
    for a, b in itertools.pairwise(river):
        connect(a, b, "water")

    depot_nodes = [*rail[:4], *river[:2], *rng.sample(nodes[:58], 4)]
    depots = tuple(
        Depot(
            f"d{i}",
            node.id,
            "military" if i == 9 else "civil",
            {c: rng.randrange(20, 80) * 1_000 for c in rng.sample(COMMODITIES, 3)},
            usable=i != 8,
        )
        for i, node in enumerate(depot_nodes)
    )
    needs = tuple(
        Need(
            f"q{i:02d}",
            rng.choice(nodes).id,
            rng.choice(COMMODITIES),
            rng.randrange(2, 20) * 1_000,
            rng.choice(PRIORITIES),
            rng.randrange(6, 36) * 3_600,
            "military" if i % 13 == 0 else rng.choice(CLASSIFICATIONS[:2]),
            rng.randrange(0, 3),
        )
        for i in range(40)
    )
    vehicles: list[Vehicle] = []
    for i in range(40):
        mode: Mode = "rail" if i < 5 else "water" if i < 8 else "road"
        start = rng.choice(rail if mode == "rail" else river if mode == "water" else depot_nodes)
        military = i >= 36
        vehicles.append(
            Vehicle(
                f"v{i:02d}",
                mode,
                {"rail": 40_000, "water": 30_000, "road": rng.choice((5_000, 10_000, 20_000))}[
                    mode
                ],
                {"rail": 80.0, "water": 20.0, "road": rng.choice((50.0, 60.0, 70.0))}[mode],
                start.id,
                "military" if military else "civil",
                cost_per_km=rng.choice((0.8, 1.0, 1.5)),
                fixed_cost=50.0,
                clearance=frozenset(CLASSIFICATIONS)
                if military
                else frozenset(CLASSIFICATIONS[:2]),
            )
        )
    return LogisticsProblem(nodes, tuple(links), depots, needs, tuple(vehicles))


def test_a_region_sized_problem_solves_reproducibly() -> None:
    problem = region()
    params = SolverParams(solution_limit=50)
    started = time.perf_counter()
    first = plan_deliveries(problem, params)
    elapsed = time.perf_counter() - started
    second = plan_deliveries(problem, params)
    reasons: dict[str, int] = {}
    for o in first.outcomes:
        reasons[str(o.reason)] = reasons.get(str(o.reason), 0) + 1
    print(
        f"\nregion: {len(problem.nodes)} nodes, {len(problem.links)} links, "
        f"{len(problem.depots)} depots, {len(problem.needs)} needs, "
        f"{len(problem.vehicles)} vehicles; "
        f"plan_deliveries {elapsed:.2f} s, fill {first.kpis.fill_rate:.2f}, "
        f"weighted {first.kpis.priority_weighted_fill:.2f}, vehicles {first.kpis.vehicles_used}, "
        f"outcomes {reasons}"
    )
    assert first == second
    assert first.is_feasible
    assert first.kpis.served_kg_by_priority["life_saving"] > 0
