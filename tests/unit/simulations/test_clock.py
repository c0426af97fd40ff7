"""The exercise clock: pacing, pause, step to the next inject, stop."""

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from simulations.clock import Clock, ExerciseStopped

T0 = datetime(2026, 5, 12, 6, tzinfo=UTC)


async def test_as_fast_as_possible_never_waits() -> None:
    clock = Clock()
    started = time.monotonic()
    for h in range(100):
        await clock.reach(T0 + timedelta(hours=h), None)
    assert time.monotonic() - started < 0.5
    assert clock.status.sim_time == T0 + timedelta(hours=99)


async def test_n_times_real_time_waits_the_scaled_interval() -> None:
    clock = Clock(speed=3600.0)  # one simulated hour per second
    await clock.reach(T0, None)
    started = time.monotonic()
    await clock.reach(T0 + timedelta(minutes=18), None)  # 0.3 s at this speed
    assert 0.25 <= time.monotonic() - started < 1.0


async def test_paused_blocks_until_step_which_plays_to_the_next_inject_then_pauses() -> None:
    clock = Clock(paused=True)
    inject = T0 + timedelta(hours=2)
    reached: list[datetime] = []

    async def play() -> None:
        for at in (T0, T0 + timedelta(hours=1), inject, T0 + timedelta(hours=3)):
            await clock.reach(at, inject if at <= inject else None)
            reached.append(at)

    task = asyncio.create_task(play())
    await asyncio.sleep(0.05)
    assert reached == []
    assert clock.status.state == "paused"
    clock.step()
    await asyncio.sleep(0.05)
    assert reached == [T0, T0 + timedelta(hours=1), inject]  # stops after the inject
    assert clock.status.state == "paused"
    clock.resume()
    await asyncio.wait_for(task, 1)
    assert reached[-1] == T0 + timedelta(hours=3)


async def test_stop_ends_a_paused_exercise() -> None:
    clock = Clock(paused=True)
    task = asyncio.create_task(clock.reach(T0, None))
    await asyncio.sleep(0.02)
    clock.stop()
    with pytest.raises(ExerciseStopped):
        await asyncio.wait_for(task, 1)


def test_speed_must_be_positive() -> None:
    with pytest.raises(ValueError, match="speed must be > 0"):
        Clock(speed=0)
