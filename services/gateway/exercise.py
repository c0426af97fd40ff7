"""The exercise-control port: the lead wires a real controller later; the API only calls it."""

from __future__ import annotations

from typing import Protocol

from services.gateway.models import ExerciseStatus


class ExerciseControl(Protocol):
    """Start, pause, step and stop a scenario replay; each returns the state after it."""

    async def status(self) -> ExerciseStatus: ...

    async def start(self, scenario: str) -> ExerciseStatus: ...

    async def pause(self) -> ExerciseStatus: ...

    async def step(self) -> ExerciseStatus: ...

    async def stop(self) -> ExerciseStatus: ...
