"""`python -m natster` run from a warm interpreter: a fork server that has imported the
command once, so each run is a fresh process without paying the imports again.

Each run is still its own process with its own argv, environment, working directory,
stdin, stdout, stderr and exit code, as `subprocess.run` would give it: the child runs
natster's ``__main__`` as ``python -m natster`` does. What is not covered here, the
command's first import from a cold start, is covered by every test that starts
natster with `subprocess` (hubs, catalog servers, the wheel story).

About 0.5 CPU-seconds of each run used to be imports; the suite runs hundreds.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import os
import runpy
import subprocess
import sys
import tempfile
from pathlib import Path

# Imported once by the fork server, so each child starts with them loaded.
_PRELOAD = ["natster.cli", "natster.client", "natster.hub", "tests.warm_cli"]

_context: multiprocessing.context.ForkServerContext | None = None


def _server() -> multiprocessing.context.ForkServerContext:
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(_PRELOAD)
    return _context


def _child(argv: list[str], env: dict[str, str], cwd: str, io_dir: str) -> None:
    """In the forked process: become `python -m natster ARGV...` with these streams."""
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    streams = ((0, "in", os.O_RDONLY), (1, "out", os.O_WRONLY), (2, "err", os.O_WRONLY))
    for fd, name, mode in streams:
        opened = os.open(os.path.join(io_dir, name), mode)
        os.dup2(opened, fd)
        os.close(opened)
    sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115 - the process's own
    sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
    sys.argv = [sys.executable, *argv]
    runpy.run_module("natster", run_name="__main__", alter_sys=True)


def run(
    argv: list[str], env: dict[str, str], input: str, timeout: float
) -> subprocess.CompletedProcess[str]:
    """Like ``subprocess.run([python, "-m", "natster", *argv], capture_output=True, ...)``."""
    with tempfile.TemporaryDirectory(prefix="natster-cli-") as io_dir:
        Path(io_dir, "in").write_text(input, encoding="utf-8")
        Path(io_dir, "out").touch()
        Path(io_dir, "err").touch()
        process = _server().Process(target=_child, args=(argv, env, os.getcwd(), io_dir))
        process.start()
        process.join(timeout)
        if process.exitcode is None:
            process.kill()
            process.join()
            raise subprocess.TimeoutExpired(["natster", *argv], timeout)
        code = process.exitcode
        process.close()
        stdout = Path(io_dir, "out").read_text(encoding="utf-8")
        stderr = Path(io_dir, "err").read_text(encoding="utf-8")
    return subprocess.CompletedProcess(["natster", *argv], code, stdout, stderr)
