"""Benchmark of the CRDT workloads' checkers on 100,000-operation histories.

    .venv/bin/python bench/crdt_checker.py [--ops N] [--seed S] [--repeat R]

Issue 10's target: the counter checker judges a 100,000-operation history in under 2 s. Each
history is generated from one seed: 20 client processes on 5 nodes, at most 20 operations in
flight, half of them reads, 5% of the updates ending `info` (half of those took effect, at
their completion), and a final read of every node at the end. The state is a correct one (the
verdict printed must be valid), so the checker does its whole work; the counts of `ok` and
`info` operations are printed beside the time.

Measured, best of `--repeat`:
1. `checker.counter.counter` in-process on a pn-counter history (deltas -5..4), and again in
   `eventual` mode (as the pn-counter workload runs it);
2. the whole process `python -m checker FILE --model counter` on that history written as
   `history.jsonl`: start-up, parsing and judging, as a user waits for it;
3. for information, `checker.orset.or_set` and `checker.lww.lww` in-process on or-set and
   lww-register histories of the same size.

Results are recorded by hand in bench/README.md under "CRDT checkers".
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from checker.counter import counter  # noqa: E402
from checker.history import Op, dump_jsonl  # noqa: E402
from checker.lww import lww  # noqa: E402
from checker.orset import or_set  # noqa: E402

NODES = [f"n{i}" for i in range(1, 6)]
PROCESSES = 20
INFO_FRACTION = 0.05


class Sim:
    """A correct replicated object under concurrent clients: `apply(f, value, node)` takes an
    update's effect and returns its ok value; `read(node)` the read's ok value."""

    def __init__(self, kind: str, rng: random.Random) -> None:
        self.kind, self.rng = kind, rng
        self.total = 0
        self.live: dict[int, int] = {}  # or-set: element -> live adds
        self.reg: tuple[tuple[int, int], str, int] | None = None
        self.clock = 0
        self.next_value = 0

    def invoke(self) -> tuple[str, Any]:
        rng = self.rng
        if rng.random() < 0.5:
            return "read", None
        if self.kind == "counter":
            return "add", rng.randint(-5, 4)
        if self.kind == "or-set":
            return ("remove" if rng.random() < 0.33 else "add"), rng.randrange(10)
        self.next_value += 1
        return "write", self.next_value

    def apply(self, f: str, value: Any, node: str) -> Any:
        if self.kind == "counter":
            self.total += value
            return value
        if self.kind == "or-set":
            if f == "add":
                self.live[value] = self.live.get(value, 0) + 1
            else:
                self.live.pop(value, None)
            return value
        self.clock += 1
        ts = (self.clock, 0)
        self.reg = (ts, node, value)
        return [value, list(ts)]

    def read(self) -> Any:
        if self.kind == "counter":
            return self.total
        if self.kind == "or-set":
            return sorted(self.live)
        return [None, None] if self.reg is None else [self.reg[2], list(self.reg[0])]


def generate(kind: str, ops: int, seed: int) -> list[Op]:
    """About `ops` operations (invocations and completions) of a correct object (module doc)."""
    rng = random.Random(f"{seed}/{kind}")
    sim = Sim(kind, rng)
    history: list[Op] = []
    open_: dict[int, tuple[str, Any, str]] = {}
    next_process = PROCESSES
    free = list(range(PROCESSES))
    t = 0

    def emit(type_: str, process: int, f: str, value: Any, node: str, **extra: Any) -> None:
        nonlocal t
        t += rng.randrange(1, 50_000)
        history.append(Op(type_, process, f, value, time=t, index=len(history), node=node,
                          extra=extra))

    while len(history) < ops - 2 * len(NODES):
        if free and (not open_ or rng.random() < 0.5):
            p = free.pop(rng.randrange(len(free)))
            f, value = sim.invoke()
            node = rng.choice(NODES)
            open_[p] = (f, value, node)
            emit("invoke", p, f, value, node)
            continue
        p = rng.choice(list(open_))
        f, value, node = open_.pop(p)
        if f == "read":
            emit("ok", p, f, sim.read(), node)
            free.append(p)
        elif rng.random() < INFO_FRACTION:
            if rng.random() < 0.5:
                sim.apply(f, value, node)
            emit("info", p, f, value, node)
            free.append(next_process)  # an info retires the process (Jepsen's clients)
            next_process += 1
        else:
            emit("ok", p, f, sim.apply(f, value, node), node)
            free.append(p)
    for i, node in enumerate(NODES):
        p = 1_000_000 + i
        emit("invoke", p, "read", None, node, final=True)
        emit("ok", p, "read", sim.read(), node, final=True)
    return history


def best_of(repeat: int, fn: Callable[[], dict[str, Any]]) -> tuple[float, dict[str, Any]]:
    best, res = float("inf"), {}
    for _ in range(repeat):
        started = time.perf_counter()
        res = fn()
        best = min(best, time.perf_counter() - started)
    return best, res


def whole_process(path: Path, repeat: int) -> tuple[float, int]:
    best, code = float("inf"), -1
    for _ in range(repeat):
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "checker", str(path), "--model", "counter"],
                              cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              check=False)
        best, code = min(best, time.perf_counter() - started), proc.returncode
    return best, code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ops", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"seed {args.seed}, {args.ops} operations per history, best of {args.repeat}")

    histories = {kind: generate(kind, args.ops, args.seed)
                 for kind in ("counter", "or-set", "lww-register")}
    for kind, history in histories.items():
        types = {t: sum(1 for o in history if o.type == t) for t in ("ok", "info")}
        print(f"  {kind}: {len(history)} ops, {types['ok']} ok, {types['info']} info")

    h = histories["counter"]
    runs: list[tuple[str, Callable[[], dict[str, Any]]]] = [
        ("counter (every read)", lambda: counter(h)),
        ("counter (eventual)", lambda: counter(h, eventual=True)),
        ("or-set", lambda: or_set(histories["or-set"])),
        ("lww-register", lambda: lww(histories["lww-register"])),
    ]
    for label, fn in runs:
        seconds, res = best_of(args.repeat, fn)
        print(f"{label:24} {seconds:6.3f} s  valid={res['valid']}")

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "history.jsonl"
        dump_jsonl(h, path)
        seconds, code = whole_process(path, args.repeat)
        size_mb = path.stat().st_size / 1e6
        print(f"{'python -m checker':24} {seconds:6.3f} s  exit {code} "
              f"(--model counter, {size_mb:.1f} MB jsonl, start-up and parsing included)")


if __name__ == "__main__":
    main()
