"""Dispatch settings: the shared ones plus the planner's search budget and the HTTP API."""

from __future__ import annotations

from pydantic import Field

from services.runtime.settings import ServiceSettings


class DispatchSettings(ServiceSettings):
    max_records: int = Field(
        100,
        ge=1,
        description="Entries per read (one transaction). Dispatch's readers and its planner take "
        "the orders lock in turn, and a plan waits for the read in progress twice (to hold "
        "orders, to publish): reads of 100 rather than the default 200 took the load run's "
        "disruption-to-plan p95 at 100 events/s from 2.8-3.0 s to 2.2 s (docs/reliability.md, "
        "'Session 6'); reads of 50 fell behind at 200 events/s.",
    )
    solution_limit: int | None = Field(
        50, description="Search budget in solutions: deterministic, used in exercises."
    )
    time_limit_s: float | None = Field(
        0.3,
        description=(
            "Wall-clock limit on a search. Live, a plan is due within seconds of a disruption: "
            "on the regional re-plan the plan after 0.3 s is the plan after 50 solutions (3 s): "
            "same objective and distance (`hinterland bench scenario --regional "
            "--regional-budget 0.3`, docs/reliability.md, 'Session 5'), and the search runs "
            "beside three busy services. A search the clock stops before its first solution "
            "still returns that first solution. Exercises set 30 s, a backstop behind their "
            "solution limit; a plan it cut short is logged there as not reproducible."
        ),
    )
    first_solution: str = Field(
        "PARALLEL_CHEAPEST_INSERTION", description="OR-Tools first solution strategy."
    )
    metaheuristic: str = Field("GUIDED_LOCAL_SEARCH", description="OR-Tools local search.")
    solver_process: bool = Field(
        True,
        description="Search in a separate process so the service keeps consuming; the "
        "embedded exercise, whose clock waits for every plan, solves in-process instead.",
    )
    churn_cost_per_t: float = Field(
        20.0,
        ge=0,
        description="Re-planning: what moving one tonne of a planned, not yet dispatched leg "
        "to another vehicle or depot costs (in km of a vehicle at cost 1 per km); 0: none.",
    )
    debounce_s: float = Field(0.15, description="Live: wait this long after a trigger to plan.")
    settle_max_s: float = Field(
        0.3,
        gt=0,
        description="Live: after the debounce, wait at most this long for every group to apply "
        "what was on dispatch's input streams (a disruption's consequences); a consequence "
        "applied later triggers its own re-plan (under load this wait was the largest part of "
        "the disruption-to-plan time).",
    )
    http_host: str = "127.0.0.1"
    http_port: int = 8080
