"""Benchmark: scanning a large tree into a catalog, against sha256sum in the same run.

    python -m bench.scan                 # 200,000 small files + 3 large ones
    python -m bench.scan --files 20000   # smaller

Prints one JSON object. Every figure comes from this run on this machine: the page
cache is warmed first, so both natster and the sha256sum baseline read hot files.
Goals: hashing >= 80% of sha256sum's throughput; an unchanged rescan takes
< 5% of the cold scan.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from natster.catalog.walk import walk

MiB = 1024 * 1024

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from natster.catalog import Catalogs
from natster.catalog.scan import hash_all
from natster.catalog.walk import walk

root, home, workers = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
out = {}
with Catalogs(home) as catalogs:
    t = time.perf_counter(); report = catalogs.new("bench", "", Path(root))
    out["cold_scan_s"] = time.perf_counter() - t
    out["files"] = report.added
    out["bytes"] = report.bytes_hashed
    t = time.perf_counter(); again = catalogs.rescan("bench")
    out["rescan_s"] = time.perf_counter() - t
    out["rescan_hashed"] = again.files_hashed
out["scan_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
found = list(walk(root, []))
t = time.perf_counter()
total = sum(hashed.size for _, hashed in hash_all(found, workers))
out["hash_only_s"] = time.perf_counter() - t
out["hash_only_bytes"] = total
print(json.dumps(out))
"""


def build_tree(root: Path, files: int, large: int, large_size: int, seed: int) -> int:
    rng = random.Random(seed)
    total = 0
    for i in range(files):
        folder = root / f"d{i // 10000:02}" / f"e{(i // 500) % 20:02}"
        if i % 500 == 0:
            folder.mkdir(parents=True, exist_ok=True)
        size = rng.choice((0, 100, 1000, 4000, 16000))
        (folder / f"file {i:06}.dat").write_bytes(rng.randbytes(size))
        total += size
    (root / "large").mkdir(exist_ok=True)
    block = os.urandom(MiB)
    for j in range(large):
        with (root / "large" / f"big{j}.bin").open("wb") as handle:
            for k in range(large_size // MiB):
                handle.write(block[k % 7 :] + block[: k % 7])
        total += large_size
    return total


def warm(root: Path) -> None:
    for folder, _, names in os.walk(root):
        for name in names:
            with open(os.path.join(folder, name), "rb") as handle:
                while handle.read(4 * MiB):
                    pass


def sha256sum_seconds(root: Path) -> float:
    find = subprocess.Popen(["find", str(root), "-type", "f", "-print0"], stdout=subprocess.PIPE)
    began = time.perf_counter()
    subprocess.run(
        ["xargs", "-0", "sha256sum"], stdin=find.stdout, stdout=subprocess.DEVNULL, check=True
    )
    find.wait()
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=200_000)
    parser.add_argument("--large", type=int, default=3)
    parser.add_argument("--large-mib", type=int, default=256)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the tree afterwards")
    parser.add_argument("--dir", type=Path, help="build (or reuse) the tree here")
    args = parser.parse_args()

    base = args.dir or Path(tempfile.mkdtemp(prefix="natster-bench-scan-"))
    try:
        root = base / "tree"
        began = time.perf_counter()
        if (base / "built").exists():
            total = sum(f[2] for f in walk(str(root), []))
        else:
            total = build_tree(root, args.files, args.large, args.large_mib * MiB, seed=1)
            (base / "built").touch()
        built_s = time.perf_counter() - began
        shutil.rmtree(base / "home", ignore_errors=True)
        warm(root)
        baseline_s = sha256sum_seconds(root)
        child = subprocess.run(
            [sys.executable, "-c", CHILD, str(root), str(base / "home"), str(args.workers)],
            capture_output=True,
            text=True,
            check=False,
        )
        if child.returncode != 0:
            raise SystemExit(f"the scan failed:\n{child.stderr}")
        ours = json.loads(child.stdout)
        mb = total / 1e6
        result = {
            "tree": {
                "small_files": args.files,
                "large_files": args.large,
                "large_mib": args.large_mib,
                "bytes": total,
                "build_s": round(built_s, 2),
            },
            "cold_scan_s": round(ours["cold_scan_s"], 3),
            "cold_scan_files_per_s": round(ours["files"] / ours["cold_scan_s"]),
            "hashing": {
                "sha256sum_mb_s": round(mb / baseline_s, 1),
                "natster_mb_s": round(ours["hash_only_bytes"] / 1e6 / ours["hash_only_s"], 1),
                "natster_in_scan_mb_s": round(mb / ours["cold_scan_s"], 1),
            },
            "rescan_unchanged_s": round(ours["rescan_s"], 3),
            "rescan_hashed_files": ours["rescan_hashed"],
            "peak_rss_mb": round(ours["scan_peak_rss_mb"], 1),
            "workers": args.workers,
            "cpus": os.cpu_count(),
        }
        hashing = result["hashing"]
        assert isinstance(hashing, dict)
        hashing["ratio"] = round(hashing["natster_mb_s"] / hashing["sha256sum_mb_s"], 3)
        result["rescan_vs_cold"] = round(ours["rescan_s"] / ours["cold_scan_s"], 4)
        result["goals"] = {
            "hashing_ratio_ge_0.8": hashing["ratio"] >= 0.8,
            "rescan_lt_5pct": result["rescan_vs_cold"] < 0.05,
        }
        print(json.dumps(result, indent=2))
    finally:
        if not args.keep and not args.dir:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
