"""Benchmark of the log checker (checker.kafka) on a generated 100,000-operation history.

    .venv/bin/python bench/log_checker.py [--ops N] [--seed S] [--repeat R] [--keys K]

Issue 11's target: a 100,000-operation kafka history is judged in under 5 s. The history is
what the `kafka` workload (scenarios/workloads/kafka.py) records against a correct log, from
one seed: 20 client processes on 5 nodes with at most 20 operations in flight, each process a
producer and a consumer (assign from the committed offsets, send, poll every key, commit what it
consumed), a linearizable log per key (offsets sparse: a gap now and then) whose polls return at
most 200 messages a key, 2% of the operations timing out (an `info` send or commit took effect
or not, at random; the process is retired), and the final polls of every node from offset 0,
continued until they return nothing. The verdict printed must be valid: the checker does its
whole work.

Measured, best of `--repeat`:
1. `checker.kafka.kafka` in-process: the figure the target is about;
2. the workload's whole check (kafka, final-reads, availability, replies), as `chaos run` judges;
3. for information, loading the history written as `history.jsonl` (`load_jsonl`).

Results go by hand into bench/README.md under "Log checker".
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from bisect import bisect_left
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from checker.history import Op, dump_jsonl, load_jsonl  # noqa: E402
from checker.kafka import kafka  # noqa: E402
from scenarios.workloads.kafka import Kafka  # noqa: E402

NODES = [f"n{i}" for i in range(1, 6)]
PROCESSES = 20
TIMEOUT_FRACTION = 0.02
POLL_LIMIT = 200  # messages a poll returns per key, at most


class Log:
    """A correct log per key: offsets increase (sparse now and then), polls from an offset."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.offsets: dict[str, list[int]] = {}
        self.msgs: dict[str, list[Any]] = {}
        self.committed: dict[str, int] = {}

    def handle(self, body: dict[str, Any]) -> dict[str, Any]:
        kind = body["type"]
        if kind == "send":
            offsets = self.offsets.setdefault(body["key"], [])
            gap = 2 if self.rng.random() < 0.05 else 1
            offset = offsets[-1] + gap if offsets else 0
            offsets.append(offset)
            self.msgs.setdefault(body["key"], []).append(body["msg"])
            return {"type": "send_ok", "offset": offset}
        if kind == "poll":
            out = {}
            for k, start in body["offsets"].items():
                offsets, msgs = self.offsets.get(k, []), self.msgs.get(k, [])
                i = bisect_left(offsets, start)
                got = [[o, m] for o, m in zip(offsets[i:i + POLL_LIMIT],
                                              msgs[i:i + POLL_LIMIT], strict=True)]
                if got:
                    out[k] = got
            return {"type": "poll_ok", "msgs": out}
        if kind == "commit_offsets":
            for k, o in body["offsets"].items():
                self.committed[k] = max(self.committed.get(k, -1), o)
            return {"type": "commit_offsets_ok"}
        keys = body["keys"]
        return {"type": "list_committed_offsets_ok",
                "offsets": {k: self.committed[k] for k in keys if k in self.committed}}


def generate(ops: int, seed: int, keys: int) -> list[Op]:
    """About `ops` operations of the kafka workload against a correct log (module doc)."""
    rng = random.Random(f"{seed}/kafka")
    workload = Kafka(keys=keys)
    log = Log(rng)
    history: list[Op] = []
    t = 0

    def emit(type_: str, process: int, f: str, value: Any, node: str, **extra: Any) -> None:
        nonlocal t
        t += rng.randrange(1, 50_000)
        history.append(Op(type_, process, f, value, time=t, index=len(history), node=node,
                          extra=extra))

    # worker -> (process, f, value, node, the reply if the log already took it)
    open_: dict[int, tuple[int, str, Any, str, dict[str, Any] | None]] = {}
    process_of = list(range(PROCESSES))
    while len(history) < ops:
        worker = rng.randrange(PROCESSES)
        if worker not in open_:
            process, node = process_of[worker], rng.choice(NODES)
            f, value = workload.invoke(rng, process)
            emit("invoke", process, f, value, node)
            # The log takes the operation at its invocation or at its completion: both lie
            # within it, so the history stays linearizable.
            reply = log.handle(workload.request(f, value)) if rng.random() < 0.5 else None
            open_[worker] = (process, f, value, node, reply)
            continue
        process, f, value, node, reply = open_.pop(worker)
        if rng.random() < TIMEOUT_FRACTION:
            if reply is None and rng.random() < 0.5:
                log.handle(workload.request(f, value))
            type_ = "fail" if workload.is_idempotent(f) else "info"
            emit(type_, process, f, value, node)
            history[-1].error = "timeout"
            if type_ == "info":
                process_of[worker] = process + PROCESSES  # Jepsen: a new process after info
            continue
        if reply is None:
            reply = log.handle(workload.request(f, value))
        type_, result, _ = workload.complete(f, value, reply)
        emit(type_, process, f, result, node)
    for process, f, value, node, _ in open_.values():
        emit("fail" if workload.is_idempotent(f) else "info", process, f, value, node)
    final_process = 1_000_000
    for node, f, value in workload.final_ops(NODES):  # continued as they complete
        emit("invoke", final_process, f, value, node, final=True)
        type_, result, _ = workload.complete(f, value, log.handle(workload.request(f, value)))
        emit(type_, final_process, f, result, node, final=True)
        final_process += 1
    return history


def best_of(repeat: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    best, res = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        res = fn()
        best = min(best, time.perf_counter() - started)
    return best, res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ops", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keys", type=int, default=3)
    args = parser.parse_args()
    started = time.perf_counter()
    history = generate(args.ops, args.seed, args.keys)
    generated_s = time.perf_counter() - started
    pairs = sum(len(p) for op in history if op.f == "poll" and op.type == "ok"
                for p in op.value.values())
    print(f"seed {args.seed}: {len(history)} operations, {args.keys} keys, {pairs} polled "
          f"pairs (generated in {generated_s:.1f} s); best of {args.repeat}")

    seconds, res = best_of(args.repeat, lambda: kafka(history))
    print(f"{'checker.kafka.kafka':28} {seconds:6.3f} s  valid={res['valid']} "
          f"acknowledged={res['acknowledged_count']} polls={res['poll_count']} "
          f"lag_ms p50/p99/max={res['lag_ms_p50']}/{res['lag_ms_p99']}/{res['lag_ms_max']}")
    workload = Kafka(keys=args.keys)
    seconds, res = best_of(args.repeat, lambda: workload.check(history, node_ids=NODES))
    print(f"{'the workload check':28} {seconds:6.3f} s  valid={res['valid']}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "history.jsonl"
        dump_jsonl(history, path)
        seconds, loaded = best_of(args.repeat, lambda: load_jsonl(path))
        size_mb = path.stat().st_size / 1e6
        print(f"{'load_jsonl':28} {seconds:6.3f} s  ({len(loaded)} operations, "
              f"{size_mb:.1f} MB)")


if __name__ == "__main__":
    main()
