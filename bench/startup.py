"""Benchmark: how fast natster's commands start, beside what Python and its libraries cost.

    python -m bench.startup
    python bench/startup.py --runs 20

Starts a hub and an account in a temp dir, then runs each command as a user does (a new
process each time) and prints JSON: the median wall time of ``natster --help``,
``natster whoami`` and ``natster catalog ls --json`` over ``--runs`` runs (goal < 0.25 s
each), the import time of ``natster.cli``, and the baselines measured in the same run:
``python -c pass``, and importing the libraries a connecting command cannot do without
(typer with its pydantic coercion, pydantic, asyncio, nats-py, nkeys).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

if not __package__:  # run as `python bench/startup.py`: be `bench.startup` all the same
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "bench"

from natster.client import Home, join
from natster.hub import mint_invite

from ._platform import start

SCRIPT = Path(sys.executable).with_name("natster")  # what a user runs, not `python -m`
NATSTER = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "natster"]
LIBRARIES = (
    "import asyncio, json, nats, nkeys, typer.main, typer._adapters; "
    "from pydantic import BaseModel, TypeAdapter"
)
IMPORT_CLI = (
    "import time; began = time.perf_counter(); import natster.cli; "
    "print(time.perf_counter() - began)"
)


async def wall(argv: list[str], env: dict[str, str], runs: int) -> float:
    """Median wall time of running ``argv`` to completion (it must succeed)."""
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            *argv, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        _, stderr = await proc.communicate()
        samples.append(time.perf_counter() - began)
        if proc.returncode != 0:
            raise SystemExit(f"{argv} failed: {stderr.decode()}")
    return round(statistics.median(samples), 3)


async def import_time(env: dict[str, str], runs: int) -> float:
    samples = []
    for _ in range(runs):
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", IMPORT_CLI, env=env, stdout=asyncio.subprocess.PIPE
        )
        stdout, _ = await proc.communicate()
        samples.append(float(stdout))
    return round(statistics.median(samples), 3)


async def main(runs: int) -> dict[str, object]:
    base = Path(tempfile.mkdtemp(prefix="natster-bench-startup-"))
    platform = await start(base / "hub")
    try:
        home = Home(base / "alice")
        await join((await mint_invite(platform.dir, 600)).encode(), home=home, name="alice")
        env = {**os.environ, "NATSTER_HOME": str(home.path)}
        commands = {
            "help_s": [*NATSTER, "--help"],
            "whoami_s": [*NATSTER, "whoami"],
            "catalog_ls_json_s": [*NATSTER, "catalog", "ls", "--json"],
        }
        result: dict[str, object] = {"runs": runs}
        result["baseline_python_s"] = await wall([sys.executable, "-c", "pass"], env, runs)
        result["baseline_libraries_s"] = await wall([sys.executable, "-c", LIBRARIES], env, runs)
        for key, argv in commands.items():
            result[key] = await wall(argv, env, runs)
        result["import_natster_cli_s"] = await import_time(env, runs)
        result["goal_lt_0_25_s"] = all(result[key] < 0.25 for key in commands)  # type: ignore[operator]
        return result
    finally:
        await platform.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    print(json.dumps(asyncio.run(main(parser.parse_args().runs)), indent=2))
