"""The replicated log's performance (issue 11): sends and polls per second on a healthy
5-node cluster, and the end-to-end lag from a send to the first poll that returns it.

It runs real `chaos run`s (the orchestrator, the proxy and five `log` nodes, every process as
in a user's run) of the `kafka` workload from a scenario file written to a temporary
directory, with no fault timeline, a high `--rate` (default 5000) and each `--concurrency` in
turn (default 10, then 50), into a temporary run store deleted afterwards (`--keep` keeps it).

The workload's clients are Maelstrom's kafka clients: each one a producer and a consumer
(half sends of a unique integer to one of `--keys` keys, half polls of every key from its own
positions; after a poll that returned messages, a `commit_offsets` of what it consumed).
From the run's `history.jsonl`, over the steady phase (from 1 s after the first `ok`, once the
first election is over, to 0.5 s before the last client completion), per operation: `ok` per
second and latency (invoke to completion) p50 / p99. The lag is the kafka checker's
(`checker.kafka`, in the run's `results.json`): for each acknowledged message a consumer
polled, from the send's invocation to the completion of the first (non-final) poll that
returned it, p50 / p99 / max, over the whole run. While the run goes it samples the CPU time of
every process of the run (bench/runprocs.py) and prints what each spent in the steady window,
and per acknowledged operation.

    .venv/bin/python bench/log.py [--quick] [--rate 5000] [--concurrency 10,50] [--seconds 10]
                                  [--keys 3] [--seed 1] [--keep] [--json FILE]

`--quick` is a smoke run: 4 s per concurrency. It prints figures and asserts nothing
(performance is never checked by timed tests). The issue sets no target for the service;
bench/README.md compares the figures with the raft service's (bench/raft.py), whose write
path is the same.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from raft import STEADY_SKIP_S, STEADY_TAIL_S, cpu_in_window, percentile, read_history, run_chaos
from runprocs import bench_workdir, machine_line, print_cpu, write_figures

FS = ("send", "poll", "commit_offsets", "list_committed_offsets")

HEALTHY = """\
# bench/log.py: the log service on a healthy cluster, no faults, clients as fast as they go.
name = "log-healthy"
description = "kafka on the log service with no faults: sends, polls and lag"
workload = "kafka"
nodes = 5
time_limit_s = {seconds}
warmup_s = 0.5
recovery_s = 0
settle_s = 0
request_timeout_s = 1.0

[workload_params]
keys = {keys}
"""


def run(*, rate: float, concurrency: int, seconds: float, keys: int, seed: int, workdir: Path,
        interval_s: float) -> dict[str, Any]:
    scenario = workdir / "log-healthy.toml"
    scenario.write_text(HEALTHY.format(seconds=seconds, keys=keys), encoding="utf-8")
    code, run_dir, samples, load_before, load_after = run_chaos(
        scenario, rate=rate, concurrency=concurrency, seed=seed, store=workdir / "store",
        planned_s=seconds + 10, interval_s=interval_s)
    ops, _ = read_history(run_dir)
    info = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    oks = [op for op in ops if op.type == "ok"]
    result: dict[str, Any] = {"concurrency": concurrency, "rate": rate, "seconds": seconds,
                              "keys": keys, "seed": seed, "exit_code": code,
                              "valid": info.get("valid"), "run_dir": str(run_dir)}
    if not oks:
        return result
    t0 = min(op.complete_ns for op in oks) + int(STEADY_SKIP_S * 1e9)
    t1 = max(op.complete_ns for op in ops) - int(STEADY_TAIL_S * 1e9)
    window_s = max(1e-9, (t1 - t0) / 1e9)
    steady = [op for op in ops if t0 <= op.complete_ns < t1]
    per_f: dict[str, dict[str, Any]] = {}
    for f in FS:
        mine = [op for op in steady if op.f == f]
        latencies_ms = sorted((op.complete_ns - op.invoke_ns) / 1e6 for op in mine
                              if op.type == "ok")
        per_f[f] = {
            "ok": len(latencies_ms),
            "not_ok": len(mine) - len(latencies_ms),
            "ok_per_s": len(latencies_ms) / window_s,
            "latency_ms_p50": percentile(latencies_ms, 0.50),
            "latency_ms_p99": percentile(latencies_ms, 0.99),
        }
    results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    kafka = results["results"].get("kafka", {})
    ok_count = sum(1 for op in steady if op.type == "ok")
    result.update({
        "window_s": window_s, "per_f": per_f, "ok_count": ok_count,
        "ok_per_s": ok_count / window_s,
        "lag_ms_p50": kafka.get("lag_ms_p50"), "lag_ms_p99": kafka.get("lag_ms_p99"),
        "lag_ms_max": kafka.get("lag_ms_max"), "lag_count": kafka.get("lag_count"),
        "final_only_count": kafka.get("final_only_count"),
        "cpu_s": cpu_in_window(samples, info["epoch_ns"] + t0, info["epoch_ns"] + t1),
        "load_before": load_before, "load_after": load_after,
    })
    return result


def show(r: dict[str, Any]) -> None:
    head = f"concurrency {r['concurrency']}, rate {r['rate']:g}, {r['keys']} keys"
    if "per_f" not in r:
        print(f"{head}: no ok operation (exit {r['exit_code']}), run {r['run_dir']}")
        return
    print(f"{head}: {r['ok_per_s']:,.0f} ok/s over {r['window_s']:.1f} s; "
          f"exit {r['exit_code']}, valid {r['valid']}")
    for f, s in r["per_f"].items():
        print(f"  {f:<23} {s['ok_per_s']:8,.0f} ok/s ({s['ok']} ok, {s['not_ok']} not); "
              f"latency p50 {s['latency_ms_p50']:.1f} ms, p99 {s['latency_ms_p99']:.1f} ms")
    print(f"  lag send -> first poll: p50 {r['lag_ms_p50']} ms, p99 {r['lag_ms_p99']} ms, "
          f"max {r['lag_ms_max']} ms over {r['lag_count']} messages "
          f"({r['final_only_count']} seen by final polls only)")
    print_cpu(r, ok_count=r["ok_count"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="4 s per concurrency")
    parser.add_argument("--rate", type=float, default=5000.0, help="--rate of the runs")
    parser.add_argument("--concurrency", default="10,50", help="comma-separated values")
    parser.add_argument("--seconds", type=float, default=10.0, help="client phase per run")
    parser.add_argument("--keys", type=int, default=3, help="the kafka workload's keys")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--interval-s", type=float, default=0.25, help="CPU sampling period")
    parser.add_argument("--keep", action="store_true", help="keep the run directories")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    if args.quick:
        args.seconds = 4.0
    concurrencies = [int(c) for c in args.concurrency.split(",") if c.strip()]
    print(machine_line())
    results = []
    with bench_workdir("bench-log-", keep=args.keep) as workdir:
        for concurrency in concurrencies:
            r = run(rate=args.rate, concurrency=concurrency, seconds=args.seconds,
                    keys=args.keys, seed=args.seed, workdir=workdir, interval_s=args.interval_s)
            show(r)
            results.append(r)
    write_figures(args.json, results)


if __name__ == "__main__":
    main()
