"""Benchmark of `report.html` (issue 9): a 100,000-operation run must give a usable page in
under 5 s and under 10 MB.

    .venv/bin/python bench/report.py [--operations N] [--keep DIR]

Builds two synthetic finished runs in a temporary directory, as `chaos run` stores them
(`run.json`, `results.json`, `history.jsonl`, `messages.jsonl` with about 8 messages per
operation, `nodes/<id>.log`), each of N client operations
(100,000 by default) at 200 per second from 10 clients, with faults:

- lin-kv-like: reads, writes and cases over 20 keys; about 15% fail and 2% info (the client
  goes on under a new process, so a long run has thousands of processes); a partition every
  20 s for 8 s, and a kill every 60 s restarted 10 s later; its results hold an invalid
  linearizability result with a counterexample.
- broadcast-like: half broadcasts of the next integer, half reads of a node's set written as
  the recorder writes them (`checker.history.ValueEncoder`: int ranges, then deltas against
  the node's previous read), the minority side lagging during each partition.

Each page is written by `write_report` in a fresh child process, twice: once timed (and the
child's peak resident memory, `ru_maxrss`, taken after it: the interpreter, jinja2 and every
`checker` module included), once under tracemalloc for the peak of the report's own Python
allocations. Prints one line per run: seconds, page MB, peak MB traced and resident.
Results are recorded by hand in bench/README.md under "Report (issue 9)".
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, TextIO

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from checker.history import ValueEncoder  # noqa: E402
from checker.intset import IntRanges  # noqa: E402

NODES = ("n1", "n2", "n3", "n4", "n5")
CLIENTS = 10
STEP_NS = 5_000_000  # 200 operations per second
PARTITION_EVERY_S, PARTITION_S = 20, 8
KILL_EVERY_S, KILL_S = 60, 10


class Writer:
    """history.jsonl, one line per operation, indexed as written."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.index = 0
        self.encoder = ValueEncoder()

    def op(self, time: int, type_: str, process: Any, f: str, value: Any, **extra: Any) -> None:
        node = extra.get("node")
        value, how = self.encoder.encode(type=type_, f=f, node=node, index=self.index,
                                         value=value)
        line = {"index": self.index, "time": time, "type": type_, "process": process, "f": f,
                "value": value, **how, **extra}
        self.out.write(json.dumps(line, separators=(",", ":")) + "\n")
        self.index += 1


def nemesis(w: Writer, t_ns: int, last_ns: int) -> None:
    """The faults due in (last_ns, t_ns]: partitions and their heals, kills and restarts."""
    for every_s, length_s, fault, heal in (
        (PARTITION_EVERY_S, PARTITION_S, ("partition", {"shape": "majority-minority",
                                                       "nodes": ["n1", "n2"]}), ("heal", None)),
        (KILL_EVERY_S, KILL_S, ("kill", {"target": "one", "nodes": ["n3"]}),
         ("restart", {"nodes": ["n3"]})),
    ):
        for start_s, (f, value) in ((0, fault), (length_s, heal)):
            due = [k * every_s * 10**9 + start_s * 10**9 + 10**9
                   for k in range(t_ns // (every_s * 10**9) + 1)]
            if any(last_ns < d <= t_ns for d in due):
                w.op(t_ns, "invoke", "nemesis", f, value)
                w.op(t_ns, "ok", "nemesis", f, value)


def is_partitioned(t_ns: int) -> bool:
    since_s = (t_ns - 10**9) / 1e9
    return since_s >= 0 and since_s % PARTITION_EVERY_S < PARTITION_S


def write_lin_kv(out: TextIO, operations: int, rng: random.Random) -> int:
    w = Writer(out)
    process = list(range(CLIENTS))
    next_process = CLIENTS
    last = 0
    for i in range(operations):
        t = (i + 1) * STEP_NS
        nemesis(w, t, last)
        last = t
        c = i % CLIENTS
        key = rng.randrange(20)
        f = rng.choice(("read", "write", "cas"))
        value: Any = [key, None] if f == "read" else [key, rng.randrange(5)] if f == "write" \
            else [key, [rng.randrange(5), rng.randrange(5)]]
        node = rng.choice(NODES)
        w.op(t, "invoke", process[c], f, value, node=node)
        roll = rng.random()
        slow = 10 if is_partitioned(t) else 1
        latency = int(rng.lognormvariate(0, 0.8) * 1_500_000 * slow)
        if roll < 0.02:
            w.op(t + 1_000_000_000, "info", process[c], f, value, node=node,
                 error={"code": 0, "text": "timed out"})
            process[c], next_process = next_process, next_process + 1
        elif roll < 0.17:
            w.op(t + latency, "fail", process[c], f, value, node=node,
                 error={"code": 22, "text": "precondition failed"})
        else:
            result = [key, rng.randrange(5)] if f == "read" else value
            w.op(t + latency, "ok", process[c], f, result, node=node)
    w.op(last + 10**9, "invoke", "nemesis", "heal", {"final": True})
    w.op(last + 10**9, "ok", "nemesis", "heal", {"final": True})
    return w.index


def write_broadcast(out: TextIO, operations: int, rng: random.Random) -> int:
    w = Writer(out)
    sent = 0
    frontier = dict.fromkeys(NODES, 0)
    last = 0
    for i in range(operations):
        t = (i + 1) * STEP_NS
        nemesis(w, t, last)
        last = t
        for node in NODES:
            if not (is_partitioned(t) and node in ("n1", "n2")):
                frontier[node] = max(frontier[node], sent - rng.randint(0, 3))
        c, node = i % CLIENTS, rng.choice(NODES)
        latency = int(rng.lognormvariate(0, 0.5) * 800_000)
        if rng.random() < 0.5:
            w.op(t, "invoke", c, "broadcast", sent, node=node)
            w.op(t + latency, "ok", c, "broadcast", sent, node=node)
            sent += 1
        else:
            w.op(t, "invoke", c, "read", None, node=node)
            held = IntRanges([(0, frontier[node] - 1)]) if frontier[node] else None
            w.op(t + latency, "ok", c, "read", held if held is not None else [], node=node)
    w.op(last + 10**9, "invoke", "nemesis", "heal", {"final": True})
    w.op(last + 10**9, "ok", "nemesis", "heal", {"final": True})
    return w.index


def write_run(run_dir: Path, workload: str, operations: int, seed: int) -> Path:
    run_dir.mkdir(parents=True)
    rng = random.Random(seed)
    with open(run_dir / "history.jsonl", "w", encoding="utf-8") as out:
        lines = (write_lin_kv if workload == "lin-kv" else write_broadcast)(out, operations, rng)
    write_messages(run_dir / "messages.jsonl", operations, rng)
    (run_dir / "nodes").mkdir()
    for node in NODES:
        (run_dir / "nodes" / f"{node}.log").write_text(f"{node} started\n", encoding="utf-8")
    reproduce = f"chaos run partition-heal --seed {seed} --workload {workload}"
    (run_dir / "run.json").write_text(json.dumps({
        "scenario": "partition-heal", "workload": workload, "service": "raft", "seed": seed,
        "nodes": list(NODES), "time_limit_s": operations * STEP_NS / 1e9, "rate": 200.0,
        "concurrency": CLIENTS, "reproduce": reproduce, "exit_code": 1,
    }), encoding="utf-8")
    results: dict[str, Any] = {"valid": workload != "lin-kv", "results": {
        "availability": {"checker": "availability", "valid": True, "headline": ["ok_fraction"],
                         "ok_fraction": 0.81},
    }, "counts": {"invoke": operations, "history_lines": lines}}
    if workload == "lin-kv":
        results["results"]["linearizability"] = {
            "checker": "linearizability", "valid": False,
            "headline": ["op_count", "key_count", "failed_keys"], "op_count": operations,
            "key_count": 20, "failed_keys": [3],
            "failure": {"key": 3, "op": {"index": 1234, "process": 6, "f": "read",
                                          "value": [3, None], "type": "ok", "result": [3, 0]},
                        "needed": "the value to be 0", "possible_states": ["2"],
                        "longest_prefix": [{"index": i, "f": "write", "value": [3, i % 5]}
                                           for i in range(200)]},
        }
    (run_dir / "results.json").write_text(json.dumps(results), encoding="utf-8")
    return run_dir


MESSAGES_PER_OPERATION = 8  # a lin-kv write on Raft: client, forward, appends, acks, answers


def write_messages(path: Path, operations: int, rng: random.Random) -> None:
    """messages.jsonl as the proxy writes it: one line per message's fate, about
    `MESSAGES_PER_OPERATION` per operation, those across a partition `partitioned`."""
    with open(path, "w", encoding="utf-8") as out:
        for i in range(operations * MESSAGES_PER_OPERATION):
            t_ns = i * STEP_NS // MESSAGES_PER_OPERATION + rng.randrange(1000)
            src, dest = rng.sample(NODES, 2)
            if i % MESSAGES_PER_OPERATION == 0:
                src = f"c{rng.randrange(1, CLIENTS + 1)}"
            fate = ("partitioned" if is_partitioned(t_ns) and {src, dest} & {"n1", "n2"}
                    and not src.startswith("c") else "delivered")
            out.write(f'{{"time":{t_ns},"src":"{src}","dest":"{dest}","type":"append_entries",'
                      f'"msg_id":{i + 1},"fate":"{fate}","delay_ms":0.000}}\n')


CHILD = """
import json, resource, sys, time, tracemalloc
from pathlib import Path
from checker.report import write_report
run_dir = Path(sys.argv[1])
started = time.perf_counter()
page = write_report(run_dir)
seconds = time.perf_counter() - started
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # before tracemalloc's own
tracemalloc.start()
write_report(run_dir)
peak = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
print(json.dumps({"seconds": seconds, "page_mb": page.stat().st_size / 1e6,
                  "peak_mb": peak / 1e6, "rss_mb": rss_mb}))
"""


def measure(run_dir: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", CHILD, str(run_dir)], cwd=REPO, check=True,
                         capture_output=True, text=True, env=env)
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--operations", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, help="write the runs here and keep them")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        for workload in ("lin-kv", "broadcast"):
            run_dir = write_run(root / workload, workload, args.operations, seed=1)
            history_mb = (run_dir / "history.jsonl").stat().st_size / 1e6
            messages_mb = (run_dir / "messages.jsonl").stat().st_size / 1e6
            m = measure(run_dir)
            print(f"{workload:9} {args.operations:,} operations, history {history_mb:.1f} MB, "
                  f"messages {messages_mb:.0f} MB: "
                  f"write_report {m['seconds']:.2f} s, page {m['page_mb']:.2f} MB, peak "
                  f"{m['peak_mb']:.0f} MB traced ({m['rss_mb']:.0f} MB resident)")


if __name__ == "__main__":
    main()
