"""Soak: a long real run, the memory of every process in it, and what checking it costs.

It runs `chaos run partition-heal --workload broadcast --time-limit 60*MINUTES --rate 200
--concurrency 10` (a real orchestrator, proxy and five broadcast nodes) into a temporary
store, and every few seconds samples the resident memory (RSS) of each process of the run: the
orchestrator (the `chaos run` process) and its children, named by their command lines
(`proxy`, `n1`..`n5`). Then it times `chaos check RUN_DIR` and `chaos report RUN_DIR`, each with
its peak RSS (`ru_maxrss` from `os.wait4`: this process is small, and a child's figure includes
the process it was forked from).

    .venv/bin/python bench/soak.py [--minutes 10] [--rate 200] [--concurrency 10] [--seed 1]
                                   [--interval-s 2] [--memory-limit-gb 6] [--keep] [--json F]
    .venv/bin/python bench/soak.py --synthetic 12000     # no cluster: a synthetic broadcast run
    .venv/bin/python bench/soak.py --synthetic-partition 75000   # ... of the soak's shape

A run that has not ended `--hang-timeout-s` after its last operation is stopped (SIGTERM) and
reported as such. `--synthetic N` skips the cluster: it writes the synthetic broadcast run of
tests/checker/test_long_histories.py with N operations (half of them reads of everything
broadcast so far, as a 60 s run at 200 per second is for N = 12000) and times the same
`chaos check` and `chaos report`. `--synthetic-partition N` writes instead the partition-heal
run of `write_partition_run` (same file): N operations, half of them reads, the middle third
partitioned (n1, n2 | n3, n4, n5) so that each side lacks the other's interleaved messages, every
read recorded as the recorder records it (`checker.history.ValueEncoder`: a delta against the
node's previous read). N = 75000 is the shape of the 10-minute soak whose reads, written whole
as ranges, made a 282 MB history; it also says what those reads would have been whole.

Targets (issue 7): no process grows beyond 1.5x its RSS after the first minute; report.html
under 10 MB; `chaos check` under 60 s and under 1 GB. "At the end" is the last sample taken
while the history still grew (the run's operations, final reads included); the orchestrator's
peak while it then judged the run and wrote its report is reported apart ("judging": sampled;
`ru_maxrss`: exact). The run and each check get an address-space cap (`--memory-limit-gb`,
RLIMIT_AS), so that a run or a check that would take the machine's memory fails on its own
(the machine is shared). It prints figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from runprocs import role

REPO = Path(__file__).resolve().parents[1]
CHAOS = str(Path(sys.executable).parent / "chaos")
MB = 2**20
GROWTH_TARGET = 1.5
CHECK_TARGET_S = 60.0
CHECK_TARGET_MB = 1024.0
PAGE_TARGET_BYTES = 10 * 1000 * 1000


@dataclass
class Samples:
    """The RSS samples of one role (a node keeps its role across restarts)."""

    pids: set[int] = field(default_factory=set)
    points: list[tuple[float, float]] = field(default_factory=list)  # (seconds, MB)

    def at(self, t_s: float) -> float | None:
        """The first sample at or after `t_s`."""
        return next((mb for at_s, mb in self.points if at_s >= t_s), None)

    def peak(self, until_s: float = float("inf")) -> float:
        return max((mb for at_s, mb in self.points if at_s <= until_s), default=0.0)




def sample(orchestrator: psutil.Process, samples: dict[str, Samples], t_s: float) -> None:
    """One RSS sample of every process of the run."""
    try:
        procs = [orchestrator, *orchestrator.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for proc in procs:
        try:
            name = role(proc, orchestrator.pid)
            rss_mb = proc.memory_info().rss / MB
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        s = samples.setdefault(name, Samples())
        s.pids.add(proc.pid)
        s.points.append((t_s, rss_mb))


def history_bytes(store: Path) -> int:
    return sum(p.stat().st_size for p in store.glob("*/*/history.jsonl"))


def limit_memory(limit_gb: float) -> Callable[[], None]:
    """A `preexec_fn` that caps the child's address space (inherited by its children), so that
    a run or a check that would take the machine's memory fails in its own process instead."""
    limit = int(limit_gb * 2**30)
    return lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def timed(args: list[str], log: Path, limit_gb: float) -> tuple[float, int, float]:
    """Run a command to its end: (wall seconds, exit code, peak RSS in MB)."""
    started = time.monotonic()
    with open(log, "w", encoding="utf-8") as out:
        proc = subprocess.Popen(args, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                                preexec_fn=limit_memory(limit_gb))
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return time.monotonic() - started, proc.returncode, usage.ru_maxrss / 1024


def soak(args: argparse.Namespace, store: Path) -> dict[str, Any]:
    time_limit_s = args.minutes * 60
    command = [CHAOS, "run", args.scenario, "--time-limit", f"{time_limit_s:g}", "--rate",
               f"{args.rate:g}", "--concurrency", str(args.concurrency), "--seed",
               str(args.seed), "--workload", args.workload, "--store", str(store)]
    print("$", " ".join(command), flush=True)
    samples: dict[str, Samples] = {}
    history_grew_at_s = 0.0  # the operations end with the final reads: then the run judges
    history_size = 0
    stopped = False  # by us, after a hang
    started = time.monotonic()
    with open(store / "run.log", "w", encoding="utf-8") as log:
        proc = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                preexec_fn=limit_memory(args.memory_limit_gb))
        orchestrator = psutil.Process(proc.pid)
        next_report_s = 60.0
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid == proc.pid:
                break
            t_s = time.monotonic() - started
            sample(orchestrator, samples, t_s)
            size = history_bytes(store)
            if size > history_size:
                history_size, history_grew_at_s = size, t_s
            if history_size and not stopped and t_s - history_grew_at_s > args.hang_timeout_s:
                print(f"  {t_s:6.0f} s  the run has not ended {args.hang_timeout_s:g} s after "
                      "its last operation: stopping it (SIGTERM)", flush=True)
                proc.terminate()
                stopped = True
            if t_s >= next_report_s:
                now = {name: s.points[-1][1] for name, s in samples.items() if s.points}
                print(f"  {t_s:6.0f} s  " + "  ".join(f"{k} {v:.0f}" for k, v in now.items()),
                      flush=True)
                next_report_s += 60.0
            time.sleep(args.interval_s)
    proc.returncode = os.waitstatus_to_exitcode(status)
    run_s = time.monotonic() - started
    run_dirs = [p for p in (store / args.scenario).glob("*") if p.is_dir()]
    run_dir = max(run_dirs, key=lambda p: p.stat().st_mtime)
    end_s = history_grew_at_s
    processes = {}
    for name, s in sorted(samples.items(), key=lambda kv: (kv[0] != "orchestrator", kv[0])):
        after_minute, at_end = s.at(args.baseline_s), _last_before(s, end_s)
        processes[name] = {
            "pids": sorted(s.pids),
            "rss_mb_after_first_minute": after_minute,
            "rss_mb_at_end": at_end,
            "growth": (at_end / after_minute) if after_minute and at_end else None,
            "peak_mb_during_run": s.peak(end_s),
            "peak_mb_judging": s.peak() if name == "orchestrator" else None,
        }
    # The orchestrator's true high-water mark (samples may miss a short peak while it judges).
    processes["orchestrator"]["ru_maxrss_mb"] = usage.ru_maxrss / 1024
    by_run = run_dir / "report.html"
    return {
        "command": " ".join(command),
        "run_wall_s": round(run_s, 1),
        "run_exit_code": proc.returncode,
        "stopped_after_hang": stopped,
        "operations_end_s": end_s,
        "report_bytes_by_run": by_run.stat().st_size if by_run.exists() else None,
        "processes": processes,
        "samples": {name: s.points for name, s in samples.items()},
        **check_and_report(run_dir, store, args.memory_limit_gb),
    }


def synthetic(args: argparse.Namespace, store: Path) -> dict[str, Any]:
    """No cluster: the synthetic broadcast run of tests/checker/test_long_histories.py, as long
    as asked, then the same check and report."""
    sys.path[:0] = [str(REPO), str(REPO / "tests" / "checker")]  # not bench/checker.py
    from test_long_histories import write_broadcast_run

    run_dir = write_broadcast_run(store / "synthetic" / "run", operations=args.synthetic,
                                  broadcast_fraction=0.5)
    return {"command": f"synthetic: write_broadcast_run(operations={args.synthetic}, "
                       "broadcast_fraction=0.5)",
            "processes": {}, "report_bytes_by_run": None,
            **check_and_report(run_dir, store, args.memory_limit_gb)}


def synthetic_partition(args: argparse.Namespace, store: Path) -> dict[str, Any]:
    """No cluster: the partition-heal run of tests/checker/test_long_histories.py, its reads
    recorded as deltas, then the same check and report."""
    sys.path[:0] = [str(REPO), str(REPO / "tests" / "checker")]  # not bench/checker.py
    from test_long_histories import write_partition_run

    from checker.history import load_jsonl, resolved_values
    from checker.intset import IntRanges

    started = time.monotonic()
    run_dir = write_partition_run(store / "synthetic" / "run", operations=args.synthetic_partition)
    written_s = time.monotonic() - started
    # What the same reads would be written whole, as ranges (in this process, not timed).
    ops = load_jsonl(run_dir / "history.jsonl")
    ranges = [value.range_count for _, value in resolved_values(ops)
              if isinstance(value, IntRanges)]
    del ops
    return {"command": f"synthetic: write_partition_run(operations={args.synthetic_partition})",
            "processes": {}, "report_bytes_by_run": None, "written_s": written_s,
            "whole_reads": {"reads": len(ranges), "ranges": sum(ranges),
                            "ranges_max": max(ranges, default=0)},
            **check_and_report(run_dir, store, args.memory_limit_gb)}


def check_and_report(run_dir: Path, store: Path, limit_gb: float) -> dict[str, Any]:
    """`chaos check RUN_DIR` and `chaos report RUN_DIR`, timed, and the run's sizes."""
    check_s, check_code, check_mb = timed([CHAOS, "check", str(run_dir)], store / "check.log",
                                          limit_gb)
    report_s, report_code, report_mb = timed([CHAOS, "report", str(run_dir)], store / "rep.log",
                                             limit_gb)
    results_path = run_dir / "results.json"
    results = json.loads(results_path.read_text(encoding="utf-8")) if results_path.exists() else {}
    history, messages = run_dir / "history.jsonl", run_dir / "messages.jsonl"
    with open(history, "rb") as fh:
        history_lines = sum(1 for _ in fh)
    return {
        "run_dir": str(run_dir),
        "verdict": results.get("valid"),
        "counts": results.get("counts"),
        "history_lines": history_lines,
        "history_mb": history.stat().st_size / MB,
        "messages_mb": messages.stat().st_size / MB if messages.exists() else 0.0,
        "check": {"wall_s": check_s, "exit_code": check_code, "peak_mb": check_mb,
                  "output": (store / "check.log").read_text(encoding="utf-8")[-2000:]},
        "report": {"wall_s": report_s, "exit_code": report_code, "peak_mb": report_mb,
                   "bytes": (run_dir / "report.html").stat().st_size},
    }


def _last_before(s: Samples, t_s: float) -> float | None:
    before = [mb for at_s, mb in s.points if at_s < t_s]
    return before[-1] if before else None


def show(fig: dict[str, Any]) -> None:
    if "run_wall_s" in fig:
        print(f"\nrun: {fig['run_wall_s']} s, exit {fig['run_exit_code']}, operations end at "
              f"{fig['operations_end_s']:.0f} s, verdict {fig['verdict']}\n     {fig['run_dir']}"
              f"\n     counts {fig['counts']}")
    if fig["processes"]:
        show_processes(fig)
    check, report = fig["check"], fig["report"]
    print(f"\nhistory.jsonl {fig['history_mb']:.1f} MB ({fig['history_lines']:,} lines); "
          f"messages.jsonl {fig['messages_mb']:.1f} MB")
    if "whole_reads" in fig:
        whole = fig["whole_reads"]
        print(f"written in {fig['written_s']:.1f} s (every read through ValueEncoder); its "
              f"{whole['reads']:,} reads written whole would hold {whole['ranges']:,} ranges "
              f"(up to {whole['ranges_max']:,} in one read)")
    page = fig["report_bytes_by_run"]
    print("report.html written by the run: "
          + ("none" if page is None else f"{page / 1e6:.2f} MB"))
    print(f"chaos check:  {check['wall_s']:.1f} s, peak {check['peak_mb']:.0f} MB, "
          f"exit {check['exit_code']}")
    print(f"chaos report: {report['wall_s']:.1f} s, peak {report['peak_mb']:.0f} MB, "
          f"{report['bytes'] / 1e6:.2f} MB")
    page = report["bytes"] if page is None else page
    check_met = check["wall_s"] < CHECK_TARGET_S and check["peak_mb"] < CHECK_TARGET_MB
    print("\ntargets:")
    if fig["processes"]:
        worst = max((p["growth"] or 0.0 for p in fig["processes"].values()), default=0.0)
        print(f"  no process grows beyond {GROWTH_TARGET}x after the first minute: worst "
              f"{worst:.2f}x, {_met(worst <= GROWTH_TARGET)}")
    print(f"  report.html < 10 MB: {page / 1e6:.2f} MB, {_met(page < PAGE_TARGET_BYTES)}")
    print(f"  chaos check < {CHECK_TARGET_S:.0f} s and < 1 GB: {check['wall_s']:.1f} s, "
          f"{check['peak_mb']:.0f} MB, {_met(check_met)}")


def show_processes(fig: dict[str, Any]) -> None:
    print(f"\n{'process':<13}{'rss@base MB':>12}{'rss@end MB':>11}{'growth':>8}{'peak MB':>9}"
          f"{'judging MB':>11}")
    for name, p in fig["processes"].items():
        print(f"{name:<13}{_f(p['rss_mb_after_first_minute']):>12}{_f(p['rss_mb_at_end']):>11}"
              f"{_f(p['growth'], 2):>8}{_f(p['peak_mb_during_run']):>9}"
              f"{_f(p['peak_mb_judging']):>11}")
    orchestrator = fig["processes"].get("orchestrator", {})
    print(f"orchestrator ru_maxrss (whole run, judging included): "
          f"{_f(orchestrator.get('ru_maxrss_mb'))} MB")


def _met(is_met: bool) -> str:
    return "met" if is_met else "NOT met"


def _f(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--scenario", default="partition-heal")
    parser.add_argument("--workload", default="broadcast",
                        help="the scenario's workload (default broadcast, the soak of issue 7)")
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--interval-s", type=float, default=2.0)
    parser.add_argument("--baseline-s", type=float, default=60.0,
                        help="growth is measured against the RSS this long after the start")
    parser.add_argument("--keep", action="store_true", help="keep the run store")
    parser.add_argument("--memory-limit-gb", type=float, default=6.0,
                        help="address-space cap of the run and of each check (RLIMIT_AS)")
    parser.add_argument("--hang-timeout-s", type=float, default=300.0,
                        help="stop a run that has not ended this long after its last operation")
    parser.add_argument("--synthetic", type=int, metavar="OPERATIONS",
                        help="no cluster: check and report a synthetic broadcast run this long")
    parser.add_argument("--synthetic-partition", type=int, metavar="OPERATIONS",
                        help="no cluster: check and report a synthetic partition-heal run this "
                             "long, its reads recorded as deltas")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    store = Path(tempfile.mkdtemp(prefix="soak-"))
    try:
        if args.synthetic_partition:
            figures = synthetic_partition(args, store)
        elif args.synthetic:
            figures = synthetic(args, store)
        else:
            figures = soak(args, store)
        show(figures)
        if args.json:
            args.json.write_text(json.dumps(figures, indent=1), encoding="utf-8")
    finally:
        if args.keep:
            print(f"\nstore kept: {store}")
        else:
            shutil.rmtree(store, ignore_errors=True)
