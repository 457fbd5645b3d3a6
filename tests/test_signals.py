"""Ctrl-C (a stop) stops the work even when nats-py loses the first cancel on the way."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from typing import Any

import pytest
from nats.js.client import JetStreamContext

from natster import _nats
from natster.client import NatsterClient

SCRIPT = textwrap.dedent(
    """
    import asyncio, os, signal, time
    from natster.cli._signals import interruptible

    async def work_that_loses_a_cancel() -> str:
        asyncio.get_running_loop().call_later(0.2, os.kill, os.getpid(), signal.SIGINT)
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            pass  # as a raced wait_for does: the cancel is gone
        await asyncio.sleep(30)  # ...and the work would go on
        return "finished"

    began = time.monotonic()
    try:
        print(asyncio.run(interruptible(work_that_loses_a_cancel())))
    except KeyboardInterrupt:
        print(f"interrupted after {time.monotonic() - began:.1f} s")
    """
)


def test_a_lost_cancel_is_sent_again_and_the_command_says_interrupted() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=20
    )
    assert done.returncode == 0, done.stderr
    words, seconds = done.stdout.strip().rsplit(" ", 2)[0], done.stdout.split()[-2]
    assert words == "interrupted after", done.stdout
    assert float(seconds) < 5


def test_finished_work_returns_its_result() -> None:
    script = SCRIPT.replace("call_later(0.2", "call_later(60").replace("30)", "0)")
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=20
    )
    assert done.stdout.strip() == "finished", done.stderr


async def test_a_wait_for_jetstream_stops_when_nats_py_loses_the_cancel(
    alice: NatsterClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A founding node waits for its peers in wait_for_jetstream; told to stop while a
    request is in flight, nats-py's wait_for (Python 3.11) may turn the cancel into an
    answer or a timeout. The loop honours it anyway."""
    asked = asyncio.Event()

    async def losing(self: JetStreamContext, *args: Any, **kwargs: Any) -> Any:
        asked.set()
        try:
            await asyncio.Event().wait()  # in flight when the cancel comes
        except asyncio.CancelledError:
            raise TimeoutError from None  # ...and lost, as gh-86296's race loses it
        raise AssertionError("unreachable")

    monkeypatch.setattr(JetStreamContext, "stream_info", losing)
    waiting = asyncio.create_task(_nats.wait_for_jetstream(alice.connection, "waiting"))
    await asyncio.wait_for(asked.wait(), 5)
    waiting.cancel()
    done, _ = await asyncio.wait({waiting}, timeout=3)
    assert waiting in done
    assert waiting.cancelled()
