"""Long histories cost memory in proportion to their size, and make a bounded report (issue 7).

A broadcast history is quadratic in size to begin with: every read returns the whole set so
far. A 60 s run at 200 operations per second wrote a 67 MB history, then checking it took
1.34 GB (a set per read, besides the loaded lists) and its report.html was 80 MB (a whole read
set in each of 11,120 tooltips). Here a synthetic run of that shape, 20,000 history lines with
reads growing to 1,500 elements (about 26 MB), is checked in child processes: `chaos check`
itself, its peak resident memory held against a bound relative to the file's size; and each
stage on its own (the report, the load, the checkers under tracemalloc). The bounds have
generous slack: the point is the multiple, not the megabyte. (With the old set-full and report
the checkers took 385 MB, the report 290 MB and a 33 MB page, for this 26 MB history; with the
old loader, which held the whole text, its lines and an int object per element of every read,
the load took 247 MB and `chaos check` 263 MB. Now: 60 MB and 79 MB.)

Reads written whole, even as ranges, were still too long for the real 10-minute soak: during a
partition each side lacks the other's interleaved messages, so a read has thousands of ranges
(282 MB, 23 million ranges; loading took 188 s and 1.3 GB). `write_partition_run` writes that
shape as the recorder now does, every read a delta against its node's previous one
(`checker.history.ValueEncoder`), and a test shows that twice the run costs about twice the
file, the time and the memory to load and judge it. `bench/soak.py --synthetic-partition N`
checks the same run at the soak's size.
"""

from __future__ import annotations

import cProfile
import json
import pstats
import random
import subprocess
import sys
import tracemalloc
from collections import deque
from itertools import count
from pathlib import Path
from typing import Any

import pytest

from checker.history import ValueEncoder, load_jsonl, resolved_values
from checker.intset import EMPTY, IntRanges, IntRangesDelta
from checker.report import MAX_DRAWN, TITLE_ELEMENTS, write_report
from checker.setfull import set_full

REPO = Path(__file__).resolve().parents[2]
CHAOS = Path(sys.executable).parent / "chaos"
MB = 1024 * 1024
NODES = ("n1", "n2", "n3", "n4", "n5")
_LINE = json.JSONEncoder(separators=(",", ":")).encode  # as chaos.clients.Recorder writes

# `chaos check` holds the loaded history: a read's list costs a pointer (8 bytes) per element,
# written in about 5 bytes, and the elements themselves are shared (checker/history.py,
# "Memory"). So loading takes about twice the file (LOAD_FACTOR, with slack), and the whole
# process a little more, above the interpreter's own (CHECK_FACTOR, with slack). The old
# loader, which held the text, its lines and an int object per element, took ten times.
LOAD_FACTOR = 3
CHECK_FACTOR = 4
INTERPRETER_MB = 60  # python, click, the checkers and the workloads (about 20), with slack
# What the checkers themselves may allocate (traced) beyond the loaded history, per byte of
# history: a set per read (the old set-full) was about ten times the file.
JUDGE_FACTOR = 0.25
REPORT_MB = 60  # writing the report streams the history: bounded, whatever its size
PAGE_LIMIT_BYTES = 10 * 1000 * 1000


def write_broadcast_run(
    run_dir: Path, *, operations: int, broadcast_fraction: float, seed: int = 7
) -> Path:
    """A finished partition-heal run of broadcast, as `chaos run` stores it: every read returns
    what its node holds (the elements below the node's frontier, which lags a few elements, and
    stops during a partition on the two minority nodes until the heal), then a final read on
    every node returns everything. Valid by construction."""
    rng = random.Random(seed)
    run_dir.mkdir(parents=True)
    step_ns = 5_000_000  # 200 operations per second
    texts: list[str] = []  # the elements broadcast so far, as JSON
    frontier = dict.fromkeys(NODES, 0)
    partition = range(int(operations * 0.3), int(operations * 0.5))
    minority = NODES[:2]
    lines: list[str] = []

    def record(**fields: Any) -> None:
        lines.append(json.dumps({"index": len(lines), **fields}, separators=(",", ":")))

    for i in range(operations):
        t = (i + 1) * step_ns
        if i in (partition.start, partition.stop):
            f, value = ("partition", {"shape": "majority-minority", "nodes": list(minority)}) \
                if i == partition.start else ("heal", None)
            record(time=t, type="invoke", process="nemesis", f=f, value=value)
            record(time=t + 1, type="ok", process="nemesis", f=f, value=value)
        for node in NODES:
            if not (i in partition and node in minority):
                frontier[node] = max(frontier[node], len(texts) - rng.randint(0, 3))
        process, node = i % 10, rng.choice(NODES)
        if rng.random() < broadcast_fraction:
            texts.append(str(len(texts)))
            for type_, at in (("invoke", t), ("ok", t + step_ns // 2)):
                record(time=at, type=type_, process=process, f="broadcast",
                       value=len(texts) - 1, node=node)
        else:
            record(time=t, type="invoke", process=process, f="read", value=None, node=node)
            lines.append(f'{{"index":{len(lines)},"time":{t + step_ns // 2},"type":"ok",'
                         f'"process":{process},"f":"read",'
                         f'"value":[{",".join(texts[: frontier[node]])}],"node":"{node}"}}')
    end = (operations + 1) * step_ns
    for j, node in enumerate(NODES):
        record(time=end, type="invoke", process=100 + j, f="read", value=None, node=node,
               final=True)
        lines.append(f'{{"index":{len(lines)},"time":{end + 1000},"type":"ok",'
                     f'"process":{100 + j},"f":"read","value":[{",".join(texts)}],'
                     f'"node":"{node}","final":true}}')
    (run_dir / "history.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return write_run_files(run_dir, seed=seed)


def write_partition_run(
    run_dir: Path, *, operations: int, partitioned: tuple[float, float] = (1 / 3, 2 / 3),
    seed: int = 7,
) -> Path:
    """A finished partition-heal run of broadcast as the recorder writes it now: every read
    through a `ValueEncoder`, so a delta against the node's previous read. Half the operations
    broadcast the next integer on a random node, half read one; a broadcast reaches the other
    nodes a few operations later, except across the partition (the `partitioned` fraction of
    the run, the middle third by default: n1 and n2 against n3 to n5), where it waits for the
    heal. The two sides' messages interleave, so during the partition every node's set has a
    gap for each run of the other side's messages: thousands of ranges per read, as in the real
    soak. Then a final read on every node returns everything. Valid by construction."""
    rng = random.Random(seed)
    run_dir.mkdir(parents=True)
    step_ns = 5_000_000  # 200 operations per second
    start, stop = (int(operations * f) for f in partitioned)
    minority = set(NODES[:2])
    held = dict.fromkeys(NODES, EMPTY)
    arriving: dict[str, deque[tuple[int, int]]] = {n: deque() for n in NODES}  # (step, message)
    held_back: dict[str, list[int]] = {n: [] for n in NODES}  # until the heal
    encoder = ValueEncoder()
    index = count()
    with open(run_dir / "history.jsonl", "w", encoding="utf-8") as out:

        def record(type_: str, process: Any, f: str, value: Any, time: int, **fields: Any) -> None:
            i = next(index)
            node = fields.get("node")
            written, how = encoder.encode(type=type_, f=f, node=node, index=i, value=value)
            out.write(_LINE({"index": i, "time": time, "type": type_, "process": process,
                             "f": f, "value": written, **how, **fields}) + "\n")

        def deliver(node: str, *, until: int) -> None:
            queue, new = arriving[node], []
            while queue and queue[0][0] <= until:
                new.append(queue.popleft()[1])
            if until >= stop and held_back[node]:
                new += held_back[node]
                held_back[node] = []
            if new:
                held[node] = held[node].union(IntRanges.from_sorted(sorted(new)))

        message = 0
        for i in range(operations):
            t = (i + 1) * step_ns
            if i in (start, stop):
                f, value = ("partition", {"shape": "majority-minority",
                                          "nodes": sorted(minority)}) if i == start \
                    else ("heal", None)
                record("invoke", "nemesis", f, value, t)
                record("ok", "nemesis", f, value, t + 1)
            process, node = i % 10, rng.choice(NODES)
            if rng.random() < 0.5:
                record("invoke", process, "broadcast", message, t, node=node)
                record("ok", process, "broadcast", message, t + step_ns // 2, node=node)
                for other in NODES:
                    if start <= i < stop and (other in minority) != (node in minority):
                        held_back[other].append(message)
                    else:
                        at = max(i + rng.randint(1, 4), arriving[other][-1][0]
                                 if arriving[other] else 0)
                        arriving[other].append((at, message))
                message += 1
            else:
                deliver(node, until=i)
                record("invoke", process, "read", None, t, node=node)
                record("ok", process, "read", held[node], t + step_ns // 2, node=node)
        end = (operations + 1) * step_ns
        for j, node in enumerate(NODES):
            deliver(node, until=operations + 10)
            record("invoke", 100 + j, "read", None, end, node=node, final=True)
            record("ok", 100 + j, "read", held[node], end + 1000, node=node, final=True)
    return write_run_files(run_dir, seed=seed)



def write_run_files(run_dir: Path, *, seed: int) -> Path:
    """The run.json and results.json of a finished synthetic broadcast run in `run_dir`."""
    run_info = {"scenario": "partition-heal", "workload": "broadcast",
                "workload_params": {"topology": "grid"}, "nodes": list(NODES), "seed": seed,
                "exit_code": 0, "reproduce": "synthetic (tests/checker/test_long_histories.py)"}
    (run_dir / "run.json").write_text(json.dumps(run_info), encoding="utf-8")
    results = {"valid": True, "results": {},
               "proxy": {"received": 1000, "delivered": 900, "partitioned": 100, "dropped": 0}}
    (run_dir / "results.json").write_text(json.dumps(results), encoding="utf-8")
    return run_dir


@pytest.fixture(scope="module")
def long_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_broadcast_run(tmp_path_factory.mktemp("long") / "run", operations=10_000,
                               broadcast_fraction=0.15)


# A child's `ru_maxrss` counts the memory of the process it was forked from, before its exec
# (Linux folds the parent's high-water mark in: a trivial child of a 300 MB pytest reports
# 300 MB). So a small launcher process starts the measured one and reports its peak.
LAUNCHER = """
import os, subprocess, sys
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, text=True)
with proc.stdout:
    out = proc.stdout.read()
_, status, usage = os.wait4(proc.pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)
print(out, end="")
"""


def run_child(args: list[str], tmp_path: Path) -> tuple[int, float, str]:
    """Run a child process to its end: (exit code, peak RSS in MB, stdout). Its stderr goes to
    a file, so that a full pipe cannot stall it."""
    with open(tmp_path / "stderr.txt", "w+", encoding="utf-8") as err:
        proc = subprocess.run([sys.executable, "-c", LAUNCHER, *args], cwd=REPO, stderr=err,
                              stdout=subprocess.PIPE, text=True, timeout=120, check=True)
        err.seek(0)
        head, _, out = proc.stdout.partition("\n")
        code, maxrss_kb = map(int, head.split())
        assert code in (0, 1, 3), f"{args} exited {code}: {err.read()}"
    return code, maxrss_kb / 1024, out


# The stages of checking and reporting a run, in one child, each measured on its own: writing
# the report (the peak after it), loading the history (the peak after it), then judging it as
# `chaos check` does, with tracemalloc started after the load (what the checkers allocate).
STAGES = """
import json, sys, tracemalloc
from pathlib import Path
from checker.formats import load
from checker.report import write_report
from scenarios.judge import judge_run

def peak_mb():  # this process's own high-water mark (Linux), unlike ru_maxrss
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024

run_dir = Path(sys.argv[1])
base = peak_mb()
write_report(run_dir)
report = peak_mb() - base
loaded = load(run_dir / "history.jsonl")
load_mb = peak_mb() - base
tracemalloc.start()
info = json.loads((run_dir / "run.json").read_text())
verdict = judge_run(run_dir / "history.jsonl", loaded.ops, info)
judge_mb = tracemalloc.get_traced_memory()[1] / 2**20
print(json.dumps({"base": base, "report": report, "load": load_mb, "judge": judge_mb,
                  "verdict": verdict["valid"], "set_full": verdict["results"]["set-full"]}))
"""


def test_the_synthetic_run_is_long_and_quadratic(long_run: Path) -> None:
    lines = (long_run / "history.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) >= 20_000
    assert max(len(json.loads(line)["value"] or ()) for line in lines[-5:]) >= 1_500
    assert (long_run / "history.jsonl").stat().st_size > 20 * MB


def test_chaos_check_of_a_long_history_takes_a_few_times_its_size(
    long_run: Path, tmp_path: Path
) -> None:
    size_mb = (long_run / "history.jsonl").stat().st_size / MB
    code, peak_mb, out = run_child([str(CHAOS), "check", str(long_run), "--json"], tmp_path)
    assert code == 0, out
    assert json.loads(out)["valid"] is True
    bound_mb = INTERPRETER_MB + CHECK_FACTOR * size_mb
    assert peak_mb < bound_mb, f"chaos check took {peak_mb:.0f} MB for a {size_mb:.0f} MB history"


def test_loading_takes_twice_the_history_and_the_checkers_and_report_add_little(
    long_run: Path, tmp_path: Path
) -> None:
    size_mb = (long_run / "history.jsonl").stat().st_size / MB
    _, _, out = run_child([sys.executable, "-c", STAGES, str(long_run)], tmp_path)
    stages = json.loads(out)
    assert stages["verdict"] is True
    set_full = stages["set_full"]
    assert set_full["valid"] is True
    assert set_full["stale_count"] > 0  # the partition made reads miss elements, then heal
    assert set_full["known_count"] > 1_400
    assert stages["judge"] < JUDGE_FACTOR * size_mb, stages
    assert stages["report"] < REPORT_MB, stages
    assert stages["load"] < LOAD_FACTOR * size_mb, stages  # the high-water mark, report included


def test_the_report_of_a_long_history_is_bounded_and_says_what_it_left_out(
    long_run: Path,
) -> None:
    page = write_report(long_run)
    assert page.stat().st_size < PAGE_LIMIT_BYTES, f"report.html is {page.stat().st_size:,} B"
    text = page.read_text(encoding="utf-8")
    assert f"more than the {MAX_DRAWN:,} drawn one by one" in text
    assert "the timeline aggregates them" in text
    assert f"at most {TITLE_ELEMENTS} elements" in text
    assert "partition majority-minority n1,n2" in text  # the fault band is still there


def test_a_partition_history_of_deltas_is_linear_to_write_load_and_judge(
    tmp_path: Path,
) -> None:
    """The real soak's shape (issue 7, again): during a partition each side lacks the other's
    interleaved messages, so a read written whole has thousands of ranges, and ten minutes
    wrote 282 MB. Written as deltas the history grows with the run, and loading it and judging
    it with set-full take work and memory in proportion: twice the run, about twice of each
    (a quadratic cost would take four times). Work is counted as the function calls made, which
    do not depend on the machine's load as CPU time does (a CPU-time ratio failed once in CI)."""
    figures = []
    for operations in (5_000, 10_000):
        run_dir = write_partition_run(tmp_path / str(operations), operations=operations)
        path = run_dir / "history.jsonl"
        tracemalloc.start()
        profile = cProfile.Profile()
        profile.enable()
        ops = load_jsonl(path)
        verdict = set_full(ops, add_f="broadcast", read_f="read")
        profile.disable()
        calls = pstats.Stats(profile).total_calls  # type: ignore[attr-defined]  # not in typeshed
        peak_mb = tracemalloc.get_traced_memory()[1] / MB
        tracemalloc.stop()
        assert verdict["valid"] is True, verdict
        assert verdict["stale_count"] > operations / 10  # the partition made reads miss many
        assert sum(isinstance(op.value, IntRangesDelta) for op in ops) > operations * 0.45
        figures.append((path.stat().st_size / MB, calls, peak_mb))
    (size_mb, calls, peak_mb), (size2_mb, calls2, peak2_mb) = figures
    # What a read written whole would be: hundreds of ranges here (thousands at the soak's
    # 75,000 operations) in a minority node's read before the heal. (A node's deltas are
    # against its own reads, so its reads alone resolve.)
    whole = max(ranges.range_count for op, ranges in resolved_values(
        op for op in ops if op.node == "n1") if isinstance(ranges, IntRanges))
    assert whole > 300, whole
    assert size2_mb < 2.3 * size_mb, figures
    assert peak2_mb < 3 * peak_mb, figures
    assert peak2_mb < 7 * size2_mb, figures  # a small multiple of the history
    assert calls2 < 2.5 * calls, figures
