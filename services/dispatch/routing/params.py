"""Search parameters of the routing core; a solution_limit budget keeps plans reproducible."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SolverParams:
    """How hard and how the solver searches.

    Parameters
    ----------
    time_limit_s
        Wall-clock budget in seconds, or None. A wall clock makes results machine-dependent,
        so exercises and tests use ``solution_limit`` only.
    solution_limit
        Number of solutions the local search may find before stopping (OR-Tools
        ``RoutingSearchParameters.solution_limit``); deterministic, unlike a wall clock.
    first_solution
        Name of an OR-Tools ``FirstSolutionStrategy`` value.
    metaheuristic
        Name of an OR-Tools ``LocalSearchMetaheuristic`` value, or ``ITERATED_LOCAL_SEARCH``
        (OR-Tools' ruin and recreate, ``ortools_solver.ITERATED_LOCAL_SEARCH``; searches that
        start from routes use guided local search instead).
    max_task_kg
        Upper bound on the size of one transport task; None means the largest capacity of
        the vehicles able to carry it.
    decompose_above_tasks
        Problems estimated at more transport tasks than this (sum over needs of quantity over
        the fleet's median capacity, rounded up) are planned by decomposition: allocation by
        min-cost flow, clusters of needs, a greedy first plan, then OR-Tools per cluster.
        None: never. The default sits far above every reference scenario (at most ~140 for
        all their needs at once), so their plans are unchanged.
    cluster_tasks
        Target number of tasks per cluster in the decomposed path.
    workers
        Processes solving clusters in parallel in the decomposed path (1: in this process).
    """

    time_limit_s: float | None = None
    solution_limit: int | None = 200
    first_solution: str = "PARALLEL_CHEAPEST_INSERTION"
    metaheuristic: str = "GUIDED_LOCAL_SEARCH"
    max_task_kg: int | None = None
    decompose_above_tasks: int | None = 400
    cluster_tasks: int = 60
    workers: int = 2

    def __post_init__(self) -> None:
        if self.time_limit_s is None and self.solution_limit is None:
            raise ValueError(
                "solver params: set time_limit_s or solution_limit, or the search never stops"
            )
        if self.time_limit_s is not None and not (
            math.isfinite(self.time_limit_s) and self.time_limit_s > 0
        ):
            raise ValueError("solver params: time_limit_s must be > 0")
        if self.solution_limit is not None and self.solution_limit <= 0:
            raise ValueError("solver params: solution_limit must be > 0")
        if self.max_task_kg is not None and self.max_task_kg <= 0:
            raise ValueError("solver params: max_task_kg must be > 0")
        if self.decompose_above_tasks is not None and self.decompose_above_tasks < 0:
            raise ValueError("solver params: decompose_above_tasks must be >= 0")
        if self.cluster_tasks <= 0:
            raise ValueError("solver params: cluster_tasks must be > 0")
        if self.workers <= 0:
            raise ValueError("solver params: workers must be > 0")
        if not self.first_solution or not self.metaheuristic:
            raise ValueError("solver params: first_solution and metaheuristic must be named")
