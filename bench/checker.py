"""Benchmark of the linearizability checker: whole-process wall time, as users see it.

    .venv/bin/python bench/checker.py [--repeat N] [--shared DIR] [--skip-scale]

Three measurements, each a fresh `python -m checker ...` process (best of N):

1. Porcupine's 102 Jepsen etcd histories (every file in verdicts.json under jepsen/), one
   process, parsing and explanations of the invalid ones included.
2. Porcupine's six kv histories, one process, split per key.
3. Scale: a generated history of 100,000 operations over 1,000 keys from 50 processes, 10% of
   them `info` (half of those took effect, at an instant possibly after their completion was
   recorded; half never did), checked with `--model kv`; wall time and the child's peak
   resident memory (`ru_maxrss` from `os.wait4`).

The reference for 1 and 2 is Porcupine's published figures on a machine like ours (Go, whole
process, parsing included): about 0.5 s for the etcd set and 0.27 s for the kv set. There is no
Go toolchain here, so those figures are quoted, not re-measured; the ratio printed is ours over
theirs (at most 1.0 is the target). Verdicts are checked against verdicts.json before timing.
Results are recorded by hand in bench/README.md under "Checker".
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PORCUPINE_ETCD_S = 0.5
PORCUPINE_KV_S = 0.27


def run_child(args: list[str]) -> tuple[float, int, int, str]:
    """Run `python -m checker ARGS`: (wall seconds, exit code, peak RSS in MB, stdout)."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "checker", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall_s = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall_s, proc.returncode, usage.ru_maxrss // 1024, out


def best_of(args: list[str], repeat: int) -> tuple[float, int, int]:
    runs = [run_child(args) for _ in range(repeat)]
    wall_s, code, rss_mb, _ = min(runs)
    return wall_s, code, rss_mb


def verify(files: list[Path], verdicts: dict[str, Any], root: Path) -> None:
    _, code, _, out = run_child(["--json", *map(str, files)])
    got = json.loads(out)["files"]
    for f in files:
        expected = verdicts[str(f.relative_to(root))]
        assert got[str(f)]["valid"] is expected, f"{f}: {got[str(f)]['valid']} != {expected}"
    print(f"  verdicts agree with verdicts.json for {len(files)} files (exit {code})")


def generate(
    rng: random.Random, *, n_ops: int, n_keys: int, n_procs: int, info_fraction: float
) -> list[dict[str, Any]]:
    """A linearizable lin-kv history: each op takes effect at an instant inside its interval
    (an info op possibly after its recorded completion, or never)."""
    planned = []
    clock = [0] * n_procs
    generation = [0] * n_procs
    for _ in range(n_ops):
        worker = rng.randrange(n_procs)
        start = clock[worker] + rng.randint(1, 1000)
        end = start + rng.randint(1, 20_000)
        clock[worker] = end
        instant = rng.uniform(start, end)
        key = rng.randrange(n_keys)
        f = rng.choices(["read", "write", "cas"], weights=[5, 3, 2])[0]
        is_info = f != "read" and rng.random() < info_fraction / 0.5
        effect = None if is_info and rng.random() < 0.5 else instant
        if is_info:
            effect = None if effect is None else instant + rng.uniform(0, 50_000)
        process = worker + n_procs * generation[worker]
        if is_info:
            generation[worker] += 1
        value: Any = [key, None] if f == "read" else [key, rng.randrange(10)]
        if f == "cas":
            value = [key, [rng.randrange(10), rng.randrange(10)]]
        planned.append([start, end, effect, process, f, value, is_info])
    state: dict[int, Any] = {}
    outcome: dict[int, tuple[str, Any]] = {}
    order = sorted(
        (p for p in range(n_ops) if planned[p][2] is not None), key=lambda p: planned[p][2]
    )
    for p in order:
        _, _, _, _, f, value, is_info = planned[p]
        key = value[0]
        if f == "read":
            outcome[p] = ("ok", [key, state.get(key)])
        elif f == "write":
            state[key] = value[1]
            outcome[p] = ("ok", value)
        elif state.get(key) == value[1][0]:
            state[key] = value[1][1]
            outcome[p] = ("ok", value)
        else:
            outcome[p] = ("fail", value)
    events = []
    for p, (start, end, _, process, f, value, is_info) in enumerate(planned):
        typ, result = ("info", None) if is_info else outcome[p]
        if is_info and outcome.get(p, ("ok",))[0] == "fail":
            typ, result = "info", None  # a compare that failed late: still indeterminate
        events.append((start, 0, process, "invoke", f, value))
        events.append((end, 1, process, typ, f, result))
    events.sort(key=lambda e: (e[0], e[1]))
    return [
        {"index": i, "time": t, "type": typ, "process": proc, "f": f, "value": v}
        for i, (t, _, proc, typ, f, v) in enumerate(events)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    root = args.shared / "data" / "porcupine"
    verdicts = json.loads((root / "verdicts.json").read_text())
    etcd = [root / name for name in sorted(verdicts) if name.startswith("jepsen/")]
    kv = [root / name for name in sorted(verdicts) if name.startswith("kv/")]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, best of {args.repeat}")
    for label, files, reference_s in (
        ("etcd", etcd, PORCUPINE_ETCD_S),
        ("kv", kv, PORCUPINE_KV_S),
    ):
        print(f"{label}: {len(files)} histories")
        verify(files, verdicts, root)
        wall_s, code, rss_mb = best_of([str(f) for f in files], args.repeat)
        print(
            f"  python -m checker: {wall_s:.3f} s whole process (exit {code}, {rss_mb} MB); "
            f"Porcupine {reference_s} s; ratio {wall_s / reference_s:.2f}x"
        )
    if args.skip_scale:
        return
    rng = random.Random(args.seed)
    ops = generate(rng, n_ops=100_000, n_keys=1_000, n_procs=50, info_fraction=0.1)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "history.jsonl"
        with open(path, "w") as fh:
            for op in ops:
                fh.write(json.dumps(op, separators=(",", ":")) + "\n")
        n_info = sum(1 for op in ops if op["type"] == "info")
        print(
            f"scale: 100000 ops ({len(ops)} events, {n_info} info), 1000 keys, 50 processes,"
            f" seed {args.seed}"
        )
        wall_s, code, rss_mb, out = run_child(["--model", "kv", str(path)])
        print(
            f"  python -m checker --model kv: {wall_s:.2f} s, peak RSS {rss_mb} MB, "
            f"exit {code}: {out.splitlines()[0]}"
        )


if __name__ == "__main__":
    main()
