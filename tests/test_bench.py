"""The benchmarks run as their docstrings and the README say: as scripts and as modules."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHES = sorted(p.stem for p in (ROOT / "bench").glob("*.py") if not p.stem.startswith("_"))


def test_every_benchmark_is_listed() -> None:
    assert {"startup", "transfer", "contents", "scan"} <= set(BENCHES)


@pytest.mark.parametrize("name", BENCHES)
@pytest.mark.heavy
def test_a_benchmark_runs_as_a_script_and_as_a_module(name: str, tmp_path: Path) -> None:
    for argv in ([f"{ROOT}/bench/{name}.py"], ["-m", f"bench.{name}"]):
        result = subprocess.run(
            [sys.executable, *argv, "--help"],
            cwd=ROOT if argv[0] == "-m" else tmp_path,  # a script runs from anywhere
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, (argv, result.stderr)
        assert "usage:" in result.stdout, argv


def _bench(name: str, *args: str) -> dict[str, Any]:
    """What ``python -m bench.NAME ARGS...`` printed (a small run)."""
    result = subprocess.run(
        [sys.executable, "-m", f"bench.{name}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return dict(json.loads(result.stdout))


@pytest.mark.heavy
def test_the_transfer_benchmark_moves_its_bytes() -> None:
    """A small run, end to end: its raw baseline and its download both arrive (the
    baseline's subjects are ones a serving user may use)."""
    plain = _bench("transfer", "--size", "8MiB", "--only", "plain")  # the one hub's numbers
    assert plain["baseline_raw_pub_sub_mb_s"] > 0
    assert plain["natster_download_mb_s"] > 0
    assert plain["reply_mappings_left"] == 0


@pytest.mark.heavy
def test_the_direct_benchmark_goes_direct_and_through_the_hub() -> None:
    """A small run with the hub behind an emulated line: one download each way, the
    hub carrying all of the first and almost none of the second."""
    said = _bench("direct", "--size", "4MiB", "--hub-line", "200")
    assert (said["via_hub"]["route"], said["direct"]["route"]) == ("via hub", "direct")
    assert said["via_hub"]["hub_sent_bytes"] >= said["bytes"]
    assert said["direct"]["hub_sent_bytes"] < said["bytes"] / 100
    assert set(said["direct"]["cpu_s"]) == {
        "hub_nats_server",
        "owner",
        "direct_nats_server",
        "receiver",
    }
