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
        Name of an OR-Tools ``LocalSearchMetaheuristic`` value.
    max_task_kg
        Upper bound on the size of one transport task; None means the largest capacity of
        the vehicles able to carry it.
    """

    time_limit_s: float | None = None
    solution_limit: int | None = 200
    first_solution: str = "PARALLEL_CHEAPEST_INSERTION"
    metaheuristic: str = "GUIDED_LOCAL_SEARCH"
    max_task_kg: int | None = None

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
        if not self.first_solution or not self.metaheuristic:
            raise ValueError("solver params: first_solution and metaheuristic must be named")
