"""Start-up time and memory of a cluster: how long until every node has answered `init`.

For each size (default 5 and 25 nodes) it starts a real `Cluster` (the proxy process and N
native node processes), and measures the wall time from the start of `Cluster.__aenter__` until
every node has answered `init` (what a run waits for before its first operation), then the
resident memory (RSS) of each node process. Run dirs go to a temporary directory.

    .venv/bin/python bench/startup.py [--sizes 5 25] [--repeat 3] [--service broadcast]

Targets (issue 2): under 1.5 s for 5 nodes, under 6 s for 25; under 60 MB RSS per node. It
prints figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil
import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestrator import Cluster


async def one_start(size: int, service: str, root: Path) -> tuple[float, list[float]]:
    run_dir = Path(tempfile.mkdtemp(dir=root))
    node_ids = [f"n{i}" for i in range(1, size + 1)]
    epoch_ns = time.monotonic_ns()
    start = time.perf_counter()
    async with Cluster(
        run_dir,
        node_ids,
        service_argv=["--service", service],
        node_cmd=None,
        seed=1,
        epoch_ns=epoch_ns,
    ) as cluster:
        elapsed_s = time.perf_counter() - start
        rss_mb = [
            psutil.Process(pid).memory_info().rss / 2**20 for pid in cluster.pids()[:-1]
        ]  # the last pid is the proxy's
    return elapsed_s, rss_mb


async def main(sizes: list[int], repeat: int, service: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{'nodes':>5} {'best s':>8} {'median s':>9} {'rss MB mean':>12} {'rss MB max':>11}")
        for size in sizes:
            times, rss = [], []
            for _ in range(repeat):
                elapsed_s, rss_mb = await one_start(size, service, Path(tmp))
                times.append(elapsed_s)
                rss.extend(rss_mb)
            print(
                f"{size:>5} {min(times):>8.2f} {statistics.median(times):>9.2f} "
                f"{statistics.mean(rss):>12.1f} {max(rss):>11.1f}",
                flush=True,
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5, 25])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--service", default="broadcast")
    args = parser.parse_args()
    trio.run(main, args.sizes, args.repeat, args.service)
