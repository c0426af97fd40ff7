"""PyVRP and VROOM on the benchmark instances, beside OR-Tools (optional extras, never services).

Both solvers get the integer data that ``convert.to_problem`` gives OR-Tools (arc costs
rounded, arc times rounded up, windows rounded inwards, all × ``scale``), the instance's fleet
size, and Li & Lim pairs as shipments; both return customer sequences that the runner re-checks
with ``checker.check`` like OR-Tools' routes. The packages are imported only inside the
functions that need them, so this module imports without them (``pip install -e '.[bench]'``).

PyVRP searches for ``budget`` seconds (``MaxRuntime``) with a fixed seed. VROOM has no "search
for S seconds" setting: it runs a fixed set of heuristics and local searches (exploration level
5, its command line default) and stops by itself; the time it took is recorded. Its timeout is
not a cap either: VROOM splits it evenly over the local searches of a thread, so a timeout
cuts single searches even when the total is never reached, and the result then depends on the
machine's load. Without one, on one thread (its default is 4; one core per solver here), VROOM
is deterministic.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from services.bench.convert import Objective, to_problem
from services.bench.instances import Instance

if TYPE_CHECKING:
    import pyvrp
    import vroom

SolverName = Literal["ortools", "pyvrp", "vroom"]
SOLVERS: tuple[SolverName, ...] = ("ortools", "pyvrp", "vroom")
# Import name of each optional solver's package (pyvroom installs the module ``vroom``).
MODULES: dict[SolverName, str] = {"pyvrp": "pyvrp", "vroom": "vroom"}
VROOM_EXPLORATION = 5
VROOM_THREADS = 1

Status = Literal["solved", "no solution", "unsupported", "not installed"]


@dataclass(frozen=True, slots=True)
class Solved:
    """What one solver returned for one instance, before the checker looks at it.

    ``routes`` are customer sequences with the depot left out (the checker's input) when
    ``status`` is ``solved``, else empty; ``note`` says more (e.g. how many were unassigned).
    """

    status: Status
    routes: tuple[tuple[int, ...], ...] = ()
    seconds: float = 0.0
    note: str = ""


def installed(solver: SolverName) -> bool:
    """True when the solver can be used here (OR-Tools always; the others if importable)."""
    module = MODULES.get(solver)
    return module is None or importlib.util.find_spec(module) is not None


def default_solvers() -> tuple[SolverName, ...]:
    """OR-Tools plus whichever optional solver is importable."""
    return tuple(solver for solver in SOLVERS if installed(solver))


def parse_solvers(text: str) -> tuple[SolverName, ...]:
    """Parse ``ortools,pyvrp,vroom`` (any order, no repeats, at least one) into names.

    Raises
    ------
    ValueError
        Naming the unknown or repeated entry.
    """
    names = [part.strip().lower() for part in text.split(",")]
    chosen: list[SolverName] = []
    for name in names:
        match = next((solver for solver in SOLVERS if solver == name), None)
        if match is None:
            raise ValueError(
                f"unknown solver {name!r} in --solvers (choose from {', '.join(SOLVERS)})"
            )
        if match in chosen:
            raise ValueError(f"solver {name!r} given twice in --solvers")
        chosen.append(match)
    return tuple(chosen)


def _routes(routes: Sequence[Sequence[int]]) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(route) for route in routes if route)


# --- PyVRP -------------------------------------------------------------------------------


def pyvrp_supports(instance: Instance) -> bool:
    """PyVRP models pickup-and-delivery pairs (shipments) from 0.14 on; VRPTW always."""
    if not instance.pairs:
        return True
    import pyvrp

    return hasattr(pyvrp.Model, "add_shipment")


def to_pyvrp(
    instance: Instance, scale: int = 100, objective: Objective = "distance"
) -> pyvrp.Model:
    """Build a ``pyvrp.Model``: one location per node (same numbering), depot 0, one vehicle type.

    Clients for VRPTW customers (demand delivered from the depot), shipments for Li & Lim
    pairs (amount = the pickup's demand), an edge for every ordered pair of nodes with the
    scaled cost as distance and the scaled, rounded-up time as duration.
    """
    import pyvrp

    problem = to_problem(instance, scale=scale, objective=objective)
    windows = problem.time_windows
    service = problem.service_times
    cost, duration = problem.cost_matrices[0], problem.time_matrices[0]
    model = pyvrp.Model()
    locations = [model.add_location(x, y) for x, y in instance.coords]
    model.add_depot(locations[0], tw_early=windows[0][0], tw_late=windows[0][1])
    model.add_vehicle_type(
        num_available=instance.fleet_size,
        capacity=instance.capacity,
        fixed_cost=problem.vehicle_fixed_costs[0],
        tw_early=windows[0][0],
        tw_late=windows[0][1],
    )
    paired = {node for pair in instance.pairs for node in pair}
    for node in range(1, len(locations)):
        if node not in paired:
            model.add_client(
                locations[node],
                delivery=instance.demands[node],
                service_duration=service[node],
                tw_early=windows[node][0],
                tw_late=windows[node][1],
            )
    for pickup, delivery in instance.pairs:
        model.add_shipment(
            locations[pickup],
            locations[delivery],
            pickup_tw_early=windows[pickup][0],
            pickup_tw_late=windows[pickup][1],
            pickup_service_duration=service[pickup],
            delivery_tw_early=windows[delivery][0],
            delivery_tw_late=windows[delivery][1],
            delivery_service_duration=service[delivery],
            amount=instance.demands[pickup],
        )
    for a, frm in enumerate(locations):
        for b, to in enumerate(locations):
            if a != b:
                model.add_edge(frm, to, distance=cost[a][b], duration=duration[a][b])
    return model


def pyvrp_routes(data: pyvrp.ProblemData, solution: pyvrp.Solution) -> tuple[tuple[int, ...], ...]:
    """A PyVRP solution's routes as node sequences (location index = node), depots left out."""
    from pyvrp import ActivityType

    clients, shipments = data.clients(), data.shipments()
    routes: list[list[int]] = []
    for route in solution.routes():
        nodes: list[int] = []
        for activity in route:
            if activity.type == ActivityType.CLIENT:
                nodes.append(clients[activity.idx].location)
            elif activity.type == ActivityType.PICKUP:
                nodes.append(shipments[activity.idx].pickup.location)
            elif activity.type == ActivityType.DELIVERY:
                nodes.append(shipments[activity.idx].delivery.location)
        routes.append(nodes)
    return _routes(routes)


def solve_pyvrp(
    instance: Instance,
    budget_s: float,
    scale: int = 100,
    objective: Objective = "distance",
    seed: int = 1,
) -> Solved:
    """Solve with PyVRP for ``budget_s`` seconds; seconds include building the model."""
    if not installed("pyvrp"):
        return Solved("not installed", note="no module pyvrp (pip install -e '.[bench]')")
    if not pyvrp_supports(instance):
        return Solved("unsupported", note="this pyvrp has no pickup-and-delivery shipments")
    from pyvrp.stop import MaxRuntime

    started = time.perf_counter()
    model = to_pyvrp(instance, scale=scale, objective=objective)
    data = model.data()
    result = model.solve(MaxRuntime(budget_s), seed=seed, collect_stats=False, display=False)
    seconds = time.perf_counter() - started
    best = result.best
    if not (best.is_feasible() and best.is_complete()):
        return Solved("no solution", seconds=seconds, note="best solution is infeasible")
    return Solved("solved", pyvrp_routes(data, best), seconds)


# --- VROOM -------------------------------------------------------------------------------


def to_vroom(
    instance: Instance, scale: int = 100, objective: Objective = "distance"
) -> vroom.Input:
    """Build a ``vroom.Input``: location index = node, one vehicle per fleet member.

    Costs matrix = the scaled costs (so VROOM minimises the same distance), durations = the
    scaled, rounded-up times; jobs for VRPTW customers, shipments for Li & Lim pairs (pickup
    and delivery ids are their node numbers); the hierarchical objective becomes a fixed cost.
    """
    import vroom

    problem = to_problem(instance, scale=scale, objective=objective)
    windows = problem.time_windows
    service = problem.service_times
    model = vroom.Input()
    model.set_durations_matrix("car", [list(row) for row in problem.time_matrices[0]])
    model.set_costs_matrix("car", [list(row) for row in problem.cost_matrices[0]])
    depot_window = vroom.TimeWindow(windows[0][0], windows[0][1])
    for vehicle in range(instance.fleet_size):
        model.add_vehicle(
            vroom.Vehicle(
                vehicle,
                start=0,
                end=0,
                capacity=[instance.capacity],
                time_window=depot_window,
                costs=vroom.VehicleCosts(fixed=problem.vehicle_fixed_costs[vehicle]),
            )
        )
    paired = {node for pair in instance.pairs for node in pair}
    for node in range(1, len(instance.coords)):
        if node not in paired:
            model.add_job(
                vroom.Job(
                    node,
                    location=node,
                    default_service=service[node],
                    delivery=vroom.Amount([instance.demands[node]]),
                    time_windows=[vroom.TimeWindow(*windows[node])],
                )
            )
    for pickup, delivery in instance.pairs:
        model.add_job(
            vroom.Shipment(
                vroom.ShipmentStep(
                    pickup,
                    location=pickup,
                    default_service=service[pickup],
                    time_windows=[vroom.TimeWindow(*windows[pickup])],
                ),
                vroom.ShipmentStep(
                    delivery,
                    location=delivery,
                    default_service=service[delivery],
                    time_windows=[vroom.TimeWindow(*windows[delivery])],
                ),
                amount=vroom.Amount([instance.demands[pickup]]),
            )
        )
    return model


def vroom_routes(solution: dict[str, Any]) -> tuple[tuple[int, ...], ...]:
    """The routes of VROOM's JSON solution as node sequences (location index = node)."""
    routes = [
        [
            int(step["location_index"])
            for step in route["steps"]
            if step["type"] in ("job", "pickup", "delivery")
        ]
        for route in solution["routes"]
    ]
    return _routes(routes)


def solve_vroom(
    instance: Instance,
    scale: int = 100,
    objective: Objective = "distance",
    timeout_s: float | None = None,
) -> Solved:
    """Solve with VROOM (exploration 5, one thread) to its own end; seconds as it took.

    ``timeout_s`` is passed on as VROOM's timeout (see the module docstring: it changes the
    search, not only its end); the benchmark leaves it unset.
    """
    if not installed("vroom"):
        return Solved("not installed", note="no module vroom (pip install -e '.[bench]')")
    started = time.perf_counter()
    model = to_vroom(instance, scale=scale, objective=objective)
    solution = model.solve(
        exploration_level=VROOM_EXPLORATION,
        nb_threads=VROOM_THREADS,
        timeout=None if timeout_s is None else timedelta(seconds=timeout_s),
    ).to_dict()
    seconds = time.perf_counter() - started
    unassigned = len(solution.get("unassigned", []))
    if unassigned:
        return Solved("no solution", seconds=seconds, note=f"{unassigned} tasks unassigned")
    return Solved("solved", vroom_routes(solution), seconds)
