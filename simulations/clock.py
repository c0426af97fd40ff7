"""The exercise clock: as fast as possible, real time or N x real time; pause, step, resume, stop.

Simulated time only moves between settled instants, so pacing never changes what happens, only
when: a run at 60x and one as fast as possible publish the same events with the same ids.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

ClockState = Literal["running", "paused", "stopped"]


class ExerciseStopped(Exception):
    """The controller stopped the exercise; the runner reports what was played so far."""


@dataclass(frozen=True, slots=True)
class ClockStatus:
    state: ClockState
    speed: float | None
    sim_time: datetime | None
    next_inject: datetime | None


class Clock:
    """``speed`` None plays as fast as possible; 1.0 is real time; 60.0 is one hour a minute."""

    def __init__(self, speed: float | None = None, paused: bool = False) -> None:
        if speed is not None and speed <= 0:
            raise ValueError(f"speed must be > 0 (got {speed})")
        self.speed = speed
        self._running = asyncio.Event()
        if not paused:
            self._running.set()
        self._stopped = False
        self._pause_after: datetime | None = None
        self._sim: datetime | None = None
        self._next_inject: datetime | None = None
        self._anchor: tuple[datetime, float] | None = None

    @property
    def status(self) -> ClockStatus:
        state: ClockState = (
            "stopped" if self._stopped else "running" if self._running.is_set() else "paused"
        )
        return ClockStatus(state, self.speed, self._sim, self._next_inject)

    def pause(self) -> None:
        self._running.clear()

    def resume(self, speed: float | None = None) -> None:
        if speed is not None:
            self.speed = speed
        self._pause_after = None
        self._anchor = None
        self._running.set()

    def step(self) -> None:
        """Play up to and including the next inject, then pause again."""
        self._pause_after = self._next_inject
        self._anchor = None
        self._running.set()

    def stop(self) -> None:
        self._stopped = True
        self._running.set()

    async def reach(self, at: datetime, next_inject: datetime | None) -> None:
        """Wait until simulated time ``at`` may be played; raises ExerciseStopped."""
        self._next_inject = next_inject
        if self._pause_after is not None and at > self._pause_after:
            self._pause_after = None
            self._running.clear()
        if not self._running.is_set():
            self._anchor = None
            await self._running.wait()
        if self._stopped:
            raise ExerciseStopped
        if self.speed is not None:
            if self._anchor is None:
                self._anchor = (self._sim or at, time.monotonic())
            sim0, wall0 = self._anchor
            due = wall0 + (at - sim0).total_seconds() / self.speed
            while (delay := due - time.monotonic()) > 0 and not self._stopped:
                await asyncio.sleep(min(delay, 0.5))
                if not self._running.is_set():
                    return await self.reach(at, next_inject)
            if self._stopped:
                raise ExerciseStopped
        self._sim = at
