"""Long-running commands stop cleanly on Ctrl-C and SIGTERM."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import asyncio

T = TypeVar("T")


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM (call inside the running loop)."""
    import asyncio
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def until_stopped(work: Coroutine[Any, Any, T], stop: asyncio.Event) -> T | None:
    """``work``'s result, or None once ``stop`` is set first (``work`` is then cancelled,
    and awaited: whatever it started, it cleans up)."""
    import asyncio

    doing = asyncio.ensure_future(work)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({doing, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if doing.done():
        return doing.result()
    doing.cancel()
    await asyncio.gather(doing, return_exceptions=True)
    return None


async def interruptible(work: Coroutine[Any, Any, T]) -> T:
    """``work``, cancelled on Ctrl-C, with KeyboardInterrupt raised once it ends.

    asyncio.run cancels its task on Ctrl-C once, and takes a task that then finishes
    as a success. A cancel can be lost on the way (nats-py waits with ``wait_for``,
    which on Python 3.11 returns a result that raced a cancel, CPython gh-86296), and
    a download would then go on to its end. So the cancel is sent again until the work
    stops, and the command says "interrupted" however the work ended. A second Ctrl-C
    is Python's own: it stops at once. Work that takes Ctrl-C itself (uvicorn, a
    server's ``stop_on_signals``) replaces this handler while it runs, as it did
    asyncio.run's."""
    import asyncio
    import signal

    loop = asyncio.get_running_loop()
    doing = asyncio.ensure_future(work)
    interrupted = asyncio.Event()

    def interrupt() -> None:
        interrupted.set()
        doing.cancel()

    def on_sigint(_signum: int, _frame: object) -> None:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # the next is Python's own
        loop.call_soon_threadsafe(interrupt)

    try:
        previous = signal.signal(signal.SIGINT, on_sigint)
    except ValueError:  # not the main thread: no signals here
        return await doing
    waiting = asyncio.ensure_future(interrupted.wait())
    try:
        await asyncio.wait({doing, waiting}, return_when=asyncio.FIRST_COMPLETED)
        while not doing.done():  # interrupted: a cancel the work lost is sent again
            await asyncio.wait({doing}, timeout=0.2)
            doing.cancel()
    finally:
        waiting.cancel()
        if signal.getsignal(signal.SIGINT) in (on_sigint, signal.default_int_handler):
            signal.signal(signal.SIGINT, previous)
    if interrupted.is_set():
        if not doing.cancelled():
            doing.exception()  # retrieved: an error on the way out is not the story
        raise KeyboardInterrupt
    return doing.result()
