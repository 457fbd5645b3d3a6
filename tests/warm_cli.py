"""`python -m natster` run from a warm interpreter: a fork server that has imported the
command once, so each run is a fresh process without paying the imports again.

Each run is still its own process with its own argv, environment, working directory,
stdin, stdout, stderr, signals and exit code, as `subprocess` would give it: the child
runs natster's ``__main__`` as ``python -m natster`` does. `run` is `subprocess.run` for
short commands; `Popen` is `subprocess.Popen` for long-running ones (hubs, catalog
servers, the web UI), with pipes, signals, `wait` and `communicate` as usual. What is not
covered here, the command's first import from a cold start, is covered by the tests that
start natster with `subprocess` itself (Ctrl-C on `hub up`, `init` on a terminal, a
cluster's first node, the demo and the wheel story).

About 0.5 CPU-seconds of each run used to be imports (a hub with its web app ~1); the
suite runs hundreds.
"""

from __future__ import annotations

import atexit
import multiprocessing
import multiprocessing.context
import multiprocessing.process
import multiprocessing.reduction
import os
import runpy
import subprocess
import sys
import tempfile
import weakref
from pathlib import Path
from typing import Any

# Imported once by the fork server, so each child starts with them loaded.
_PRELOAD = [
    "natster.cli",
    "natster.cli._progress",
    "natster.client",
    "natster.hub",
    "natster.services",
    "natster.web",
    "tests.warm_cli",
]

_context: multiprocessing.context.ForkServerContext | None = None


def _server() -> multiprocessing.context.ForkServerContext:
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(_PRELOAD)
    return _context


def _child(argv: list[str], env: dict[str, str], cwd: str, io_dir: str) -> None:
    """In the forked process: become `python -m natster ARGV...` with these streams."""
    streams = ((0, "in", os.O_RDONLY), (1, "out", os.O_WRONLY), (2, "err", os.O_WRONLY))
    fds = [os.open(os.path.join(io_dir, name), mode) for _, name, mode in streams]
    _become_natster(argv, env, cwd, fds)


class _Fd:
    """A file descriptor sent to the forked process with the request that starts it."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __reduce__(self) -> tuple[Any, tuple[Any]]:
        return _received_fd, (multiprocessing.reduction.DupFd(self.fd),)


def _received_fd(dup: Any) -> int:
    fd: int = dup.detach()
    return fd


def _become_natster(argv: list[str], env: dict[str, str], cwd: str, fds: list[int]) -> None:
    """In the forked process: `python -m natster ARGV...` on ``fds`` as stdin, stdout
    and stderr."""
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    for fd in set(fds) - {0, 1, 2}:
        os.close(fd)
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


_running: weakref.WeakSet[multiprocessing.process.BaseProcess] = weakref.WeakSet()


@atexit.register
def _kill_leftovers() -> None:
    """A test that left a process running must not hold up its pytest worker's exit
    (multiprocessing joins its children then)."""
    for process in list(_running):
        if process.exitcode is None:
            process.kill()


class Popen(subprocess.Popen[Any]):
    """``subprocess.Popen([python, "-m", "natster", *argv], ...)`` forked warm.

    Pipes, DEVNULL, files and ``stderr=STDOUT`` work as in `subprocess.Popen`, and so do
    `poll`, `wait`, `communicate`, `send_signal`, `terminate` and `kill`; only the start
    differs. ``args`` must begin with the interpreter, ``-m``, ``natster``.
    """

    _process: multiprocessing.process.BaseProcess

    def _execute_child(  # subprocess's own hook for starting the child
        self,
        args: list[str],
        executable: object,
        preexec_fn: object,
        close_fds: bool,
        pass_fds: object,
        cwd: str | None,
        env: dict[str, str] | None,
        startupinfo: object,
        creationflags: int,
        shell: bool,
        p2cread: int,
        p2cwrite: int,
        c2pread: int,
        c2pwrite: int,
        errread: int,
        errwrite: int,
        *unused: object,
    ) -> None:
        if list(args[:3]) != [sys.executable, "-m", "natster"] or shell or pass_fds:
            raise ValueError("warm_cli.Popen runs `python -m natster ARGS...` only")
        own = [
            p2cread if p2cread != -1 else os.open(os.devnull, os.O_RDONLY),
            c2pwrite if c2pwrite != -1 else os.dup(1),
            errwrite if errwrite != -1 else os.dup(2),
        ]
        env = dict(os.environ if env is None else env)
        try:
            self._process = _server().Process(
                target=_become_natster,
                args=(list(args[3:]), env, cwd or os.getcwd(), [_Fd(fd) for fd in own]),
            )
            self._process.start()
        finally:
            for opened, given in zip(own, (p2cread, c2pwrite, errwrite), strict=True):
                if given == -1:
                    os.close(opened)
            self._close_pipe_fds(p2cread, p2cwrite, c2pread, c2pwrite, errread, errwrite)  # type: ignore[attr-defined]
        if self._process.pid is None:
            raise RuntimeError("the fork server started no process")
        self.pid = self._process.pid
        _running.add(self._process)

    def _internal_poll(self, _deadstate: object = None, **unused: object) -> int | None:
        if self.returncode is None and self._process.exitcode is not None:
            self.returncode = self._process.exitcode
        return self.returncode

    def _try_wait(self, wait_flags: int) -> tuple[int, int]:
        if not wait_flags & os.WNOHANG:
            self._process.join()
        code = self._process.exitcode
        if code is None:
            return 0, 0
        return self.pid, (code & 0xFF) << 8 if code >= 0 else -code
