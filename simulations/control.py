"""Exercise control for the gateway: start, pause, step and stop one exercise at a time.

An exercise-mode deployment (services in their own stream namespace and database schema)
serves this controller through its HTTP API: the controller plays the scenario against those
very services with the same engine as ``hinterland exercise run --on-infra``, paced by a clock
the controller's calls move. A refused call (a second start, an unknown scenario) leaves the
state as it was and says why in ``detail``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from services.gateway.models import ExerciseStatus
from simulations.clock import Clock
from simulations.exercise import ExerciseResult, Infrastructure, run_exercise
from simulations.scenario import ScenarioError, load_scenario

log = logging.getLogger(__name__)


class RunnerControl:
    def __init__(
        self, infra: Infrastructure, out_root: Path = Path("out/exercises"), speed: float = 60.0
    ) -> None:
        self.infra = infra
        self.out_root = out_root
        self.speed = speed
        self._clock: Clock | None = None
        self._task: asyncio.Task[ExerciseResult] | None = None
        self._scenario: str | None = None
        self._detail = ""

    async def status(self) -> ExerciseStatus:
        if self._clock is None or self._task is None:
            return ExerciseStatus(state="idle", detail=self._detail)
        if self._task.done():
            state = "stopped"
            error = None if self._task.cancelled() else self._task.exception()
            if error is not None:
                self._detail = f"the exercise failed: {error}"
            elif not self._detail:
                self._detail = f"finished; report in {self._task.result().run_dir}"
        else:
            state = self._clock.status.state
        return ExerciseStatus(
            state=state,
            scenario=self._scenario,
            sim_time=self._clock.status.sim_time,
            detail=self._detail,
        )

    async def start(self, scenario: str) -> ExerciseStatus:
        if self._task is not None and not self._task.done():
            self._detail = f"{self._scenario} is still running: stop it first"
            return await self.status()
        try:
            loaded = load_scenario(scenario)
        except ScenarioError as exc:
            self._detail = f"cannot start {scenario!r}: {exc}"
            return await self.status()
        self._clock = Clock(self.speed)
        self._scenario = loaded.name
        self._detail = f"started at {self.speed:g}x real time"
        self._task = asyncio.create_task(
            run_exercise(
                loaded.name, self.out_root, clock=self._clock, scenario=loaded, infra=self.infra
            )
        )
        return await self.status()

    async def pause(self) -> ExerciseStatus:
        if self._clock is not None:
            self._clock.pause()
            self._detail = "paused"
        return await self.status()

    async def step(self) -> ExerciseStatus:
        if self._clock is not None:
            self._clock.step()
            self._detail = "stepping to the next inject"
        return await self.status()

    async def stop(self) -> ExerciseStatus:
        if self._clock is not None and self._task is not None and not self._task.done():
            self._clock.stop()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._task), 30)
            self._detail = "stopped by the controller"
        return await self.status()
