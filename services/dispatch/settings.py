"""Dispatch settings: the shared ones plus the planner's search budget and the HTTP API."""

from __future__ import annotations

from pydantic import Field

from services.runtime.settings import ServiceSettings


class DispatchSettings(ServiceSettings):
    solution_limit: int | None = Field(
        50, description="Search budget in solutions: deterministic, used in exercises."
    )
    time_limit_s: float | None = Field(
        None, description="Wall-clock search budget (live dispatch may prefer it)."
    )
    debounce_s: float = Field(0.3, description="Live: wait this long after a trigger to plan.")
    http_host: str = "127.0.0.1"
    http_port: int = 8080
