"""Benchmark of the transactional checker (issue 12) on generated list-append histories.

    .venv/bin/python bench/txn.py [--sizes 10000,100000] [--million] [--seed S]
                                  [--stale-per-million N] [--cli]

Issue 12's target: a 100,000-transaction history judged in under 10 s and under 2 GB (Elle's
published figures, about 100,000 transactions a second on a JVM and linear growth, are the
anchor).

Each history comes from one seed, as Elle's generator makes them (elle.txn/wr-txns, written
afresh here): 1 to 4 micro-operations per transaction, half reads and half appends, over 10
active keys chosen with an exponential distribution (key i about twice as likely as key
i + 1), a key retired for a fresh one after 32 appends, so that lists stay short. The
transactions run against a real store (a dict of lists), one at a time in commit order, by 10
client processes whose invocations, commits and completions interleave at random (a commit
always between its transaction's invocation and completion); 2% fail (no effect) and 1% end
`info` (half of those took effect), a new process after each. So the history is strictly
serializable and the verdict printed must be valid: the checker does all its work and finds
nothing. With `--stale-per-million N`, about N reads in a million lose their last element
(stale reads): the verdict must then be invalid, and the time shows what finding and
explaining the cycles costs.

Each size runs in a fresh process: the history is built in memory as the loader would build
it, then `checker.elle.list_append.check` judges it under strict-serializable (real-time
edges included). Printed: the time to judge, transactions per second, the process's peak
resident memory (history and checker together, `ru_maxrss`) and the resident memory of the
history alone before judging; the growth column compares time per transaction with the
smallest size. `--cli` also times the whole command, `python -m checker FILE --model
list-append`, on a 100,000-transaction `history.jsonl` (start-up, parsing and judging).

Results are recorded by hand in bench/README.md under "Transactional checker (issue 12)".
"""

from __future__ import annotations

import argparse
import json
import math
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from checker.history import Op, dump_jsonl  # noqa: E402

PROCESSES = 10
KEYS = 10
MAX_APPENDS_PER_KEY = 32
FAIL_FRACTION = 0.02
INFO_FRACTION = 0.01


def history(n: int, seed: int, stale_per_million: int = 0) -> list[Op]:
    """A strictly serializable list-append history of `n` transactions (module docstring)."""
    rng = random.Random(seed)
    store: dict[int, list[int]] = {}
    appends: dict[int, int] = {}
    active = list(range(KEYS))
    next_key = KEYS
    ops: list[Op] = []
    idle = list(range(PROCESSES))
    next_process = PROCESSES
    open_txns: list[list[Any]] = []  # [process, mops, committed?, outcome, result]
    started = 0
    lam = math.log(2)
    while started < n or open_txns:
        r = rng.random()
        if idle and started < n and (r < 0.4 or not open_txns):
            p = idle.pop(rng.randrange(len(idle)))
            mops: list[list[Any]] = []
            for _ in range(rng.randint(1, 4)):
                i = min(int(rng.expovariate(lam)), KEYS - 1)
                k = active[i]
                if rng.random() < 0.5:
                    mops.append(["r", k, None])
                    continue
                count = appends.get(k, 0) + 1
                if count > MAX_APPENDS_PER_KEY:  # retire the key for a fresh one
                    k = active[i] = next_key
                    next_key += 1
                    count = 1
                appends[k] = count
                mops.append(["append", k, count])
            ops.append(Op("invoke", p, "txn", mops, len(ops), len(ops)))
            open_txns.append([p, mops, False, None, None])
            started += 1
            continue
        t = open_txns[rng.randrange(len(open_txns))]
        if not t[2]:  # commit it
            t[2] = True
            u = rng.random()
            t[3] = (
                "fail" if u < FAIL_FRACTION
                else "info" if u < FAIL_FRACTION + INFO_FRACTION
                else "ok"
            )
            if t[3] == "fail" or (t[3] == "info" and rng.random() < 0.5):
                continue
            done = []
            for f, k, v in t[1]:
                if f == "r":
                    seen = store.get(k, [])
                    if seen and stale_per_million and rng.randrange(1_000_000) < stale_per_million:
                        seen = seen[:-1]
                    done.append([f, k, list(seen)])
                else:
                    store.setdefault(k, []).append(v)
                    done.append([f, k, v])
            t[4] = done
            continue
        open_txns.remove(t)
        p, mops, _, outcome, done = t
        value = done if outcome == "ok" else mops
        ops.append(Op(outcome, p, "txn", value, len(ops), len(ops)))
        if outcome == "info":
            p = next_process
            next_process += 1
        idle.append(p)
    return ops


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    import os

    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure(n: int, seed: int, stale_per_million: int) -> dict[str, Any]:
    """Run in a fresh process (`--one`): build, judge, report."""
    import gc
    import resource

    from checker.elle import list_append

    ops = history(n, seed, stale_per_million)
    gc.collect()
    history_mb = _rss_mb()
    start = time.perf_counter()
    res = list_append.check(ops)
    elapsed_s = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "txns": n,
        "time_s": elapsed_s,
        "peak_mb": peak_mb,
        "history_mb": history_mb,
        "valid": res["valid"],
        "anomaly_types": res["anomaly-types"],
        "edges": sum(res["edge_counts"].values()),
        "ok": res["ok_count"],
        "sccs": res["scc_count"],
    }


def run_one(n: int, seed: int, stale_per_million: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--one", str(n), "--seed", str(seed),
         "--stale-per-million", str(stale_per_million)],
        check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout)


def run_cli(seed: int) -> float:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "history.jsonl"
        dump_jsonl(history(100_000, seed), path)
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "checker", str(path), "--model", "list-append"],
            cwd=REPO, capture_output=True, text=True,
        )
        elapsed = time.perf_counter() - start
        print(proc.stdout.strip().splitlines()[0], f"(exit {proc.returncode})")
        return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--million", action="store_true", help="also 1,000,000 transactions")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--stale-per-million", type=int, default=0)
    ap.add_argument("--cli", action="store_true", help="also time the whole command at 100k")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.seed, args.stale_per_million)))
        return
    sizes = [int(s) for s in args.sizes.split(",")] + ([1_000_000] if args.million else [])
    print(f"seed {args.seed}, {PROCESSES} processes, {KEYS} active keys, "
          f"stale reads per million: {args.stale_per_million}")
    print(f"{'txns':>9} {'time':>8} {'txn/s':>9} {'growth':>7} {'peak RSS':>9} "
          f"{'history':>8} {'edges':>9} {'sccs':>5}  verdict")
    base = None
    for n in sizes:
        r = run_one(n, args.seed, args.stale_per_million)
        per = r["time_s"] / n
        base = base or per
        print(f"{n:>9,} {r['time_s']:>7.2f}s {n / r['time_s']:>9,.0f} {per / base:>6.2f}x "
              f"{r['peak_mb']:>7.0f}MB {r['history_mb']:>6.0f}MB {r['edges']:>9,} "
              f"{r['sccs']:>5}  {r['valid']} {r['anomaly_types']}")
    if args.cli:
        print(f"whole command on 100,000 transactions: {run_cli(args.seed):.2f} s")


if __name__ == "__main__":
    main()
