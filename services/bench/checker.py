"""Independent feasibility check and re-scoring of routes against the instance itself."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from services.bench.instances import Instance

# Float tolerance on time comparisons; real-valued sums of square roots drift by ~1e-12.
_TOLERANCE = 1e-6


@dataclass(frozen=True, slots=True)
class Check:
    """Outcome of checking a set of routes.

    ``distance`` is the real Euclidean total, ``distance_trunc`` the DIMACS total (every arc
    truncated to one decimal); ``violations`` is empty exactly when the routes are feasible.
    """

    vehicles: int
    distance: float
    distance_trunc: float
    violations: tuple[str, ...]

    @property
    def feasible(self) -> bool:
        """True when no violation was found."""
        return not self.violations


def _real(instance: Instance, a: int, b: int) -> float:
    (xa, ya), (xb, yb) = instance.coords[a], instance.coords[b]
    return math.hypot(xa - xb, ya - yb)


def _tenths(distance: float) -> int:
    # DIMACS 2021: arcs truncated to one decimal; sum in integer tenths to avoid drift.
    return math.floor(distance * 10 + 1e-9)


def check(instance: Instance, routes: Sequence[Sequence[int]]) -> Check:
    """Check routes (customer sequences, depot left out) and re-score them from coordinates.

    Checks every customer exactly once, the fleet size, the load along each route within
    [0, capacity] (starting empty; VRPTW demands are picked up at the depot implicitly, which
    is the same constraint), time windows with service times and real-valued travel times
    (waiting allowed, the depot's due time is the latest return), and for pairs that the
    pickup precedes its delivery on the same route.
    """
    violations: list[str] = []
    used = [route for route in routes if route]
    if len(used) > instance.fleet_size:
        violations.append(f"{len(used)} routes but the fleet has {instance.fleet_size}")
    seen: dict[int, tuple[int, int]] = {}
    n = len(instance.coords)
    distance = 0.0
    tenths = 0
    for r, route in enumerate(used):
        for position, node in enumerate(route):
            if not 0 < node < n:
                violations.append(f"route {r}: node {node} is not a customer")
            elif node in seen:
                violations.append(f"customer {node} visited more than once")
            else:
                seen[node] = (r, position)
        if any(not 0 < node < n for node in route):
            continue
        load = 0
        clock = instance.windows[0][0]
        here = 0
        for node in (*route, 0):
            leg = _real(instance, here, node)
            distance += leg
            tenths += _tenths(leg)
            clock = max(clock + instance.service[here] + leg, instance.windows[node][0])
            if clock > instance.windows[node][1] + _TOLERANCE:
                where = "the depot (return)" if node == 0 else f"customer {node}"
                violations.append(
                    f"route {r}: {where} reached at {clock:.4f}, "
                    f"after its due time {instance.windows[node][1]:g}"
                )
            if node != 0:
                load += instance.demands[node]
                if not 0 <= load <= instance.capacity:
                    violations.append(
                        f"route {r}: load {load} at customer {node} outside "
                        f"[0, {instance.capacity}]"
                    )
            here = node
    missing = sorted(set(range(1, n)) - set(seen))
    if missing:
        violations.append(f"customers not visited: {missing}")
    for pickup, delivery in instance.pairs:
        if pickup in seen and delivery in seen:
            (rp, pp), (rd, pd) = seen[pickup], seen[delivery]
            if rp != rd:
                violations.append(f"pair {pickup}->{delivery} split over routes {rp} and {rd}")
            elif pd < pp:
                violations.append(f"delivery {delivery} before its pickup {pickup}")
    return Check(len(used), distance, tenths / 10, tuple(violations))
