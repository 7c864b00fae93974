"""Raft's performance (issue 8): throughput and latency on a healthy cluster, and failover.

Both parts run real `chaos run`s (the orchestrator, the proxy and five `raft` nodes, every
process as in a user's run) of the `lin-kv` workload, from scenario files written to a
temporary directory, into a temporary run store that is deleted afterwards (`--keep` keeps it).

**Throughput.** A healthy cluster (no fault timeline), a high `--rate` (default 5000) and each
`--concurrency` in turn (default 10, then 50). From the run's `history.jsonl` it takes the
steady phase: from 1 s after the first `ok` (the first election is over) to 0.5 s before the
last client completion. Over that window it counts the `ok` client operations per second and
the latency (invoke to completion) of the operations completed in it, p50 and p99. lin-kv is an
even mix of reads, writes and cas over a few keys, so most cas answer error 22 (a definite
`fail` that went through the log as well): their rate is printed beside. While the run goes it
samples every `--interval-s` the CPU time (user + system, psutil) of each process of the run
and prints what each spent in the window, in seconds and as a share of one core: the process
near 100 % is the bottleneck.

**Failover.** A scenario of `--kills` (default 20) `kill` steps with `target = "leader"`, each
followed `--spacing-s` / 2 later by a `restart` (the next kill comes `--spacing-s` after the
previous one), under a steady load (rate 500, concurrency 10). For each kill that found a
leader (the nemesis's `ok` with the node it killed), failover is the time from the kill's
completion to the completion of the first `ok` write invoked after it: the next committed
write a client saw. Also printed: the time to the next elected leader (the first `raft_role`
leader line in any node's log after the kill), and how many kills found no leader to kill.

    .venv/bin/python bench/raft.py [--quick] [--rate 5000] [--concurrency 10,50]
                                   [--seconds 10] [--kills 20] [--spacing-s 3] [--seed 1]
                                   [--part throughput|failover|both] [--keep] [--json FILE]

`--quick` is a smoke run: 4 s per concurrency and 4 kills. It prints figures and asserts
nothing (performance is never checked by timed tests).

Targets (the issue), on 2 cores: at least 1,000 operations per second; failover p50 under 1 s
and p99 under 2 s.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runprocs import (
    CpuSamples,
    bench_workdir,
    machine_line,
    print_cpu,
    run_sampled,
    write_figures,
)

REPO = Path(__file__).resolve().parents[1]
TARGET_OPS_S = 1000.0
TARGET_FAILOVER_S_P50 = 1.0
TARGET_FAILOVER_S_P99 = 2.0
HANG_TIMEOUT_S = 180.0  # a run this much past its planned length is stopped
STEADY_SKIP_S = 1.0  # after the first ok: the first election and the clients' start
STEADY_TAIL_S = 0.5  # before the last completion: the clients stopping
FAILOVER_RATE = 500.0
FAILOVER_CONCURRENCY = 10

HEADER = """\
workload = "lin-kv"
nodes = 5
request_timeout_s = 1.0

[workload_params]
keys = 5
values = 5
check_time_limit_s = 60
"""

HEALTHY = """\
# bench/raft.py: Raft's lin-kv on a healthy cluster, no faults, clients as fast as they go.
name = "raft-healthy"
description = "lin-kv on raft with no faults: throughput and latency"
time_limit_s = {seconds}
warmup_s = 0.5
recovery_s = 0
settle_s = 0
""" + HEADER

FAILOVER = """\
# bench/raft.py: Raft's lin-kv, its leader killed and restarted over and over.
name = "raft-failover"
description = "lin-kv on raft, the leader killed {kills} times: failover"
time_limit_s = {seconds}
warmup_s = 2
recovery_s = 1
settle_s = 0
""" + HEADER

KILL_STEP = """
[[timeline]]
at_s = {kill_s}
fault = "kill"
target = "leader"

[[timeline]]
at_s = {restart_s}
fault = "restart"
"""


# -- processes and their CPU --------------------------------------------------------------------


def run_chaos(scenario: Path, *, rate: float, concurrency: int, seed: int, store: Path,
              planned_s: float, interval_s: float) -> tuple[int, Path, dict[str, CpuSamples],
                                                           tuple[float, ...], tuple[float, ...]]:
    """Run `chaos run SCENARIO --json`, sampling CPU; (exit code, run dir, samples, load
    average before, after)."""
    argv = [sys.executable, "-m", "chaos", "run", str(scenario), "--seed", str(seed),
            "--rate", f"{rate:g}", "--concurrency", str(concurrency), "--store", str(store),
            "--json"]
    run = run_sampled(argv, cwd=REPO, limit_s=planned_s + HANG_TIMEOUT_S,
                      interval_s=interval_s, by_pid=True)
    return run.returncode, run.run_dir, run.samples, run.load_before, run.load_after


def cpu_in_window(samples: dict[str, CpuSamples], t0_ns: int, t1_ns: int) -> dict[str, float]:
    """CPU seconds each role spent between two monotonic times (processes of one name summed)."""
    cpu: dict[str, float] = {}
    for key, s in samples.items():
        name = key.split("@")[0]
        cpu[name] = cpu.get(name, 0.0) + s.at(t1_ns) - s.at(t0_ns)
    return dict(sorted(cpu.items()))


# -- the history ----------------------------------------------------------------------------------


def percentile(sorted_values: list[float], q: float) -> float:
    """The nearest-rank percentile (q in 0..1) of sorted values; nan when there are none."""
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[k]


@dataclass(frozen=True)
class ClientOp:
    f: str
    type: str  # ok, fail or info
    invoke_ns: int
    complete_ns: int
    error_code: int | None


def read_history(run_dir: Path) -> tuple[list[ClientOp], list[dict[str, Any]]]:
    """The client operations (invocation paired with completion) and the nemesis records."""
    ops: list[ClientOp] = []
    nemesis: list[dict[str, Any]] = []
    invoked: dict[Any, int] = {}
    with (run_dir / "history.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            op = json.loads(line)
            if op["process"] == "nemesis":
                nemesis.append(op)
                continue
            if op.get("final"):
                continue
            if op["type"] == "invoke":
                invoked[op["process"]] = op["time"]
                continue
            start = invoked.pop(op["process"], None)
            if start is not None:
                error = op.get("error")
                code = error.get("code") if isinstance(error, dict) else None
                ops.append(ClientOp(op["f"], op["type"], start, op["time"], code))
    return ops, nemesis


def leader_times(run_dir: Path) -> list[tuple[int, str, int]]:
    """(time, node, term) of every `raft_role` leader line in the nodes' logs, in time order."""
    found = []
    for log in sorted((run_dir / "nodes").glob("*.log")):
        with log.open(encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if '"raft_role"' not in line:
                    continue
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if entry.get("role") == "leader":
                    found.append((entry["time"], entry["node"], entry["term"]))
    return sorted(found)


# -- throughput -----------------------------------------------------------------------------------


def throughput(*, rate: float, concurrency: int, seconds: float, seed: int, workdir: Path,
               interval_s: float) -> dict[str, Any]:
    scenario = workdir / "raft-healthy.toml"
    scenario.write_text(HEALTHY.format(seconds=seconds), encoding="utf-8")
    code, run_dir, samples, load_before, load_after = run_chaos(
        scenario, rate=rate, concurrency=concurrency, seed=seed, store=workdir / "store",
        planned_s=seconds + 10, interval_s=interval_s)
    ops, _ = read_history(run_dir)
    info = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    oks = [op for op in ops if op.type == "ok"]
    if not oks:
        return {"concurrency": concurrency, "rate": rate, "exit_code": code, "ok_per_s": 0.0,
                "run_dir": str(run_dir)}
    t0 = min(op.complete_ns for op in oks) + int(STEADY_SKIP_S * 1e9)
    t1 = max(op.complete_ns for op in ops) - int(STEADY_TAIL_S * 1e9)
    window_s = max(1e-9, (t1 - t0) / 1e9)
    steady = [op for op in ops if t0 <= op.complete_ns < t1]
    counts = {"ok": 0, "fail": 0, "info": 0}
    for op in steady:
        counts[op.type] += 1
    definite = sum(1 for op in steady if op.type == "fail" and op.error_code in (20, 22))
    latencies_ms = sorted((op.complete_ns - op.invoke_ns) / 1e6 for op in steady
                          if op.type == "ok")
    cpu = cpu_in_window(samples, info["epoch_ns"] + t0, info["epoch_ns"] + t1)
    return {
        "concurrency": concurrency, "rate": rate, "seconds": seconds, "seed": seed,
        "exit_code": code, "valid": info.get("valid"), "run_dir": str(run_dir),
        "window_s": window_s, "counts": counts,
        "ok_per_s": counts["ok"] / window_s,
        "answered_per_s": (counts["ok"] + definite) / window_s,
        "latency_ms_p50": percentile(latencies_ms, 0.50),
        "latency_ms_p99": percentile(latencies_ms, 0.99),
        "latency_ms_max": latencies_ms[-1] if latencies_ms else float("nan"),
        "cpu_s": cpu, "load_before": load_before, "load_after": load_after,
    }


def show_throughput(r: dict[str, Any]) -> None:
    if "counts" not in r:
        print(f"concurrency {r['concurrency']}: no ok operation (exit {r['exit_code']}), "
              f"run {r['run_dir']}")
        return
    c = r["counts"]
    print(f"concurrency {r['concurrency']}, rate {r['rate']:g}: {r['ok_per_s']:,.0f} ok/s "
          f"({r['answered_per_s']:,.0f}/s with cas/read errors 20 and 22) over "
          f"{r['window_s']:.1f} s ({c['ok']} ok, {c['fail']} fail, {c['info']} info); "
          f"latency p50 {r['latency_ms_p50']:.1f} ms p99 {r['latency_ms_p99']:.1f} ms "
          f"max {r['latency_ms_max']:.0f} ms; exit {r['exit_code']}, valid {r['valid']}")
    print_cpu(r, ok_count=c["ok"])
    verdict = "met" if r["ok_per_s"] >= TARGET_OPS_S else "NOT met"
    print(f"  target {TARGET_OPS_S:,.0f} ok/s: {verdict}")


# -- failover -------------------------------------------------------------------------------------


def failover(*, kills: int, spacing_s: float, seed: int, workdir: Path,
             interval_s: float) -> dict[str, Any]:
    seconds = kills * spacing_s + 1.0
    text = FAILOVER.format(kills=kills, seconds=seconds)
    for i in range(kills):
        kill_s = 1.0 + i * spacing_s
        text += KILL_STEP.format(kill_s=kill_s, restart_s=kill_s + spacing_s / 2)
    scenario = workdir / "raft-failover.toml"
    scenario.write_text(text, encoding="utf-8")
    code, run_dir, _, load_before, load_after = run_chaos(
        scenario, rate=FAILOVER_RATE, concurrency=FAILOVER_CONCURRENCY, seed=seed,
        store=workdir / "store", planned_s=seconds + 10, interval_s=interval_s)
    ops, nemesis = read_history(run_dir)
    info = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    writes = sorted((op.invoke_ns, op.complete_ns) for op in ops
                    if op.f == "write" and op.type == "ok")
    leaders = leader_times(run_dir)
    killed, no_leader, failover_s, elected_s = [], 0, [], []
    for rec in nemesis:
        if rec["f"] != "kill" or rec["type"] == "invoke":
            continue
        nodes = (rec.get("value") or {}).get("nodes") or []
        if rec["type"] != "ok" or not nodes:
            no_leader += 1
            continue
        t = rec["time"]
        nxt = min((done for invoked, done in writes if invoked > t), default=None)
        new = next(((lt, node) for lt, node, _ in leaders if lt > t and node not in nodes),
                   None)
        killed.append({"at_s": t / 1e9, "node": nodes[0],
                       "failover_s": None if nxt is None else (nxt - t) / 1e9,
                       "elected_s": None if new is None else (new[0] - t) / 1e9,
                       "new_leader": None if new is None else new[1]})
        if nxt is not None:
            failover_s.append((nxt - t) / 1e9)
        if new is not None:
            elected_s.append((new[0] - t) / 1e9)
    failover_s.sort()
    elected_s.sort()
    return {
        "kills_planned": kills, "spacing_s": spacing_s, "seed": seed, "exit_code": code,
        "valid": info.get("valid"), "run_dir": str(run_dir), "kills": killed,
        "no_leader": no_leader, "no_write_after": sum(k["failover_s"] is None for k in killed),
        "failover_s_p50": percentile(failover_s, 0.50),
        "failover_s_p99": percentile(failover_s, 0.99),
        "failover_s_max": failover_s[-1] if failover_s else float("nan"),
        "elected_s_p50": percentile(elected_s, 0.50),
        "elected_s_p99": percentile(elected_s, 0.99),
        "load_before": load_before, "load_after": load_after,
    }


def show_failover(r: dict[str, Any]) -> None:
    print(f"failover: {len(r['kills'])} leaders killed of {r['kills_planned']} kills "
          f"({r['no_leader']} found no leader, {r['no_write_after']} saw no later write); "
          f"exit {r['exit_code']}, valid {r['valid']}")
    for k in r["kills"]:
        fs = "-" if k["failover_s"] is None else f"{k['failover_s']:.3f} s"
        es = "-" if k["elected_s"] is None else f"{k['elected_s']:.3f} s"
        print(f"  kill {k['node']} at {k['at_s']:6.2f} s: next ok write {fs}, "
              f"{k['new_leader']} elected {es}")
    print(f"  to the next ok write: p50 {r['failover_s_p50']:.3f} s, "
          f"p99 {r['failover_s_p99']:.3f} s, max {r['failover_s_max']:.3f} s; "
          f"to the next leader: p50 {r['elected_s_p50']:.3f} s, p99 {r['elected_s_p99']:.3f} s")
    lb, la = r["load_before"], r["load_after"]
    print(f"  load average before {lb[0]:.2f}, after {la[0]:.2f}")
    p50_ok = r["failover_s_p50"] < TARGET_FAILOVER_S_P50
    p99_ok = r["failover_s_p99"] < TARGET_FAILOVER_S_P99
    print(f"  target p50 < {TARGET_FAILOVER_S_P50:g} s: {'met' if p50_ok else 'NOT met'}; "
          f"p99 < {TARGET_FAILOVER_S_P99:g} s: {'met' if p99_ok else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="4 s per concurrency, 4 kills")
    parser.add_argument("--part", choices=("throughput", "failover", "both"), default="both")
    parser.add_argument("--rate", type=float, default=5000.0, help="--rate of the healthy runs")
    parser.add_argument("--concurrency", default="10,50", help="comma-separated values")
    parser.add_argument("--seconds", type=float, default=10.0, help="client phase per run")
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--spacing-s", type=float, default=3.0, help="from one kill to the next")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--interval-s", type=float, default=0.25, help="CPU sampling period")
    parser.add_argument("--keep", action="store_true", help="keep the run directories")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.kills = 4.0, 4
    concurrencies = [int(c) for c in args.concurrency.split(",") if c.strip()]
    print(machine_line())
    results: dict[str, Any] = {"throughput": [], "failover": None}
    with bench_workdir("bench-raft-", keep=args.keep) as workdir:
        if args.part in ("throughput", "both"):
            for concurrency in concurrencies:
                r = throughput(rate=args.rate, concurrency=concurrency, seconds=args.seconds,
                               seed=args.seed, workdir=workdir, interval_s=args.interval_s)
                show_throughput(r)
                results["throughput"].append(r)
        if args.part in ("failover", "both"):
            r = failover(kills=args.kills, spacing_s=args.spacing_s, seed=args.seed,
                         workdir=workdir, interval_s=args.interval_s)
            show_failover(r)
            results["failover"] = r
    write_figures(args.json, results)


if __name__ == "__main__":
    main()
