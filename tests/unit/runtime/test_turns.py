"""Turns: one holder at a time, urgent waiters before the others."""

import asyncio

from services.runtime.turns import Turns


async def test_one_holder_at_a_time_and_an_urgent_waiter_goes_before_earlier_ones() -> None:
    turns = Turns()
    order: list[str] = []
    holding = 0
    most = 0

    async def take(name: str, urgent: bool = False, hold_s: float = 0.05) -> None:
        nonlocal holding, most
        async with turns.turn(urgent):
            holding += 1
            most = max(most, holding)
            order.append(name)
            await asyncio.sleep(hold_s)
            holding -= 1

    first = asyncio.create_task(take("reader-1", hold_s=0.1))
    await asyncio.sleep(0.01)  # reader-1 holds the turn
    waiting = [asyncio.create_task(take(f"reader-{k}")) for k in (2, 3)]
    await asyncio.sleep(0.01)  # two readers wait
    urgent = asyncio.create_task(take("planner", urgent=True))
    await asyncio.gather(first, urgent, *waiting)
    assert order == ["reader-1", "planner", "reader-2", "reader-3"]
    assert most == 1


async def test_a_cancelled_urgent_waiter_does_not_hold_the_others_back() -> None:
    turns = Turns()
    order: list[str] = []

    async def take(name: str, urgent: bool = False) -> None:
        async with turns.turn(urgent):
            order.append(name)
            await asyncio.sleep(0.05)

    first = asyncio.create_task(take("reader-1"))
    await asyncio.sleep(0.01)
    urgent = asyncio.create_task(take("planner", urgent=True))
    await asyncio.sleep(0.01)
    second = asyncio.create_task(take("reader-2"))  # waits behind the planner
    await asyncio.sleep(0.01)
    urgent.cancel()
    await asyncio.wait_for(asyncio.gather(first, second), 2)
    assert order == ["reader-1", "reader-2"]
