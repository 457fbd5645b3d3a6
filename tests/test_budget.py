"""The per-connection budget of chunk bytes in flight."""

from __future__ import annotations

import asyncio

from natster.client._budget import ByteBudget


async def test_holders_stay_within_the_limit_and_all_get_through() -> None:
    budget, seen, done = ByteBudget(10), {}, []

    async def hold(size: int, name: str) -> None:
        async with budget.hold(size):
            await asyncio.sleep(0.01)
            seen[name] = budget.used
        done.append(name)

    await asyncio.gather(*(hold(4, f"h{i}") for i in range(6)), hold(25, "big"))
    assert seen.pop("big") == 25  # one larger than the limit goes alone
    assert max(seen.values()) == 8  # two of 4 at a time, never three
    assert sorted(done) == sorted([f"h{i}" for i in range(6)] + ["big"])
    assert budget.used == 0


async def test_a_cancelled_waiter_or_holder_gives_back_its_share() -> None:
    budget = ByteBudget(10)
    held = asyncio.Event()

    async def hold_forever() -> None:
        async with budget.hold(8):
            held.set()
            await asyncio.sleep(3600)

    holder = asyncio.create_task(hold_forever())
    await held.wait()
    waiter = asyncio.create_task(budget.hold(8).__aenter__())
    await asyncio.sleep(0.01)
    assert not waiter.done()  # 8 + 8 > 10: it waits
    waiter.cancel()
    holder.cancel()
    await asyncio.gather(holder, waiter, return_exceptions=True)
    assert budget.used == 0
    async with budget.hold(10):
        assert budget.used == 10
