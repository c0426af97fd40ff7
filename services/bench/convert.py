"""Turn a benchmark Instance into the dispatch RoutingProblem (scaled integer matrices)."""

from __future__ import annotations

import math
from typing import Literal

from services.bench.instances import Instance
from services.dispatch.routing.ortools_solver import RoutingProblem

Objective = Literal["distance", "hierarchical"]

# Rounding slack: a ceiled scaled arc must never fall below the real one, but float noise
# must not push an exact integer distance (e.g. 5.0 * 100) one unit up.
_EPS = 1e-6


def euclidean(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Real-valued Euclidean distance (travel time equals distance in these sets)."""
    return math.hypot(a[0] - b[0], a[1] - b[1])


def vehicle_fixed_cost(instance: Instance, scale: int) -> int:
    """A per-vehicle cost above any total distance, so fewer vehicles always win.

    Any solution visits n customers, so its distance is at most (n + 1) times the longest arc.
    """
    longest = max(euclidean(instance.coords[0], c) for c in instance.coords)
    return math.ceil(2 * longest * scale) * (instance.num_customers + 1)


def to_problem(
    instance: Instance, scale: int = 100, objective: Objective = "distance"
) -> RoutingProblem:
    """Build the closed-route, all-mandatory RoutingProblem for an instance.

    Parameters
    ----------
    instance
        The benchmark instance (node 0 the depot).
    scale
        Multiplier before rounding to integers. Arc *costs* are rounded to the nearest unit;
        arc *times* are rounded up, so a route the solver finds feasible is also feasible with
        real-valued travel times (window bounds are rounded inwards for the same reason).
    objective
        ``distance`` minimises distance only; ``hierarchical`` adds a vehicle fixed cost larger
        than any total distance, so the vehicle count is minimised first.
    """
    if scale <= 0:
        raise ValueError("scale must be > 0")
    coords = instance.coords
    n = len(coords)
    real = [[euclidean(coords[a], coords[b]) for b in range(n)] for a in range(n)]
    cost = tuple(tuple(round(d * scale) for d in row) for row in real)
    time = tuple(tuple(math.ceil(d * scale - _EPS) for d in row) for row in real)
    windows = tuple(
        (math.ceil(low * scale - _EPS), math.floor(high * scale + _EPS))
        for low, high in instance.windows
    )
    fleet = instance.fleet_size
    fixed = vehicle_fixed_cost(instance, scale) if objective == "hierarchical" else 0
    return RoutingProblem(
        time_matrices=(time,),
        distance_matrices=(cost,),
        cost_matrices=(cost,),
        vehicle_class=(0,) * fleet,
        vehicle_cost_class=(0,) * fleet,
        vehicle_starts=(0,) * fleet,
        vehicle_ends=(0,) * fleet,
        vehicle_capacities=(instance.capacity,) * fleet,
        vehicle_fixed_costs=(fixed,) * fleet,
        vehicle_max_span=(None,) * fleet,
        demands=instance.demands,
        time_windows=windows,
        service_times=tuple(math.ceil(s * scale - _EPS) for s in instance.service),
        pickups_deliveries=instance.pairs,
        penalties=(None,) * n,
        allowed_vehicles=(None,) * n,
        horizon=windows[0][1],
    )
