"""Client throughput: how many operations per second the orchestrator's clients get through.

It runs a real `chaos run` (the orchestrator, the proxy and three native echo nodes, every
process as in a user's run) on a healthy cluster: a scenario file written to a temporary
directory, the `echo` workload with no fault timeline, a high `--rate` and several
`--concurrency` values in turn. From the run's `history.jsonl` it counts the acknowledged
(`ok`) client operations and the latency of each (invoke to completion), over the window from
the first invocation to the last completion (final operations excluded). While the run goes it
samples, every `--interval-s`, the CPU time (user + system) of each of the run's processes (the
orchestrator, the proxy and the nodes, named by their command lines), and reports what each
spent inside that window as a share of one core (the process near 100% is the bottleneck) and
per acknowledged operation; and, per operation, how much of it was libzmq's I/O thread and
how many times the process's threads were switched out (sleeps and wake-ups: on a VM a
wake-up on the other core costs far more than the work it wakes for). On a shared machine
the throughput is whatever CPU the others leave, so the CPU microseconds per operation are
the figure to compare between versions; the load average before and after each run is
printed with them.

    .venv/bin/python bench/clients.py [--rate 20000] [--concurrency 10,50,100] [--seconds 10]
                                      [--nodes 3] [--seed 1] [--keep] [--json FILE]
                                      [--profile DIR]

`--profile DIR` runs the orchestrator under cProfile (`python -m cProfile -o DIR/c<N>.prof -m
chaos run ...`) for looking into where its time goes; its figures are then slower than a plain
run's. It prints figures and asserts nothing (performance is never checked by timed tests).

Target (the issue): at least 5,000 acknowledged operations per second against echo on 3 nodes,
so that the harness is never what limits a service.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from runprocs import (
    IO_SUFFIX,
    SWITCHES_SUFFIX,
    bench_workdir,
    machine_line,
    run_sampled,
    write_figures,
)

REPO = Path(__file__).resolve().parents[1]
TARGET_OPS_S = 5000.0
HANG_TIMEOUT_S = 120.0

SCENARIO = """\
# bench/clients.py: echo on a healthy cluster, no faults, clients as fast as they go.
name = "echo-healthy"
description = "echo with no faults: client throughput"
workload = "echo"
nodes = {nodes}
time_limit_s = {seconds}
warmup_s = 0.5
recovery_s = 0
settle_s = 0
request_timeout_s = 1.0
"""


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[k]


def analyse(run_dir: Path) -> dict[str, Any]:
    """Acknowledged ops/s and latency over the client window of the run's history."""
    info = json.loads((run_dir / "run.json").read_text())
    invoked: dict[Any, int] = {}
    latencies_ms: list[float] = []
    counts = {"invoke": 0, "ok": 0, "fail": 0, "info": 0}
    first_ns = last_ns = None
    with (run_dir / "history.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            op = json.loads(line)
            if op["process"] == "nemesis" or op.get("final"):
                continue
            counts[op["type"]] += 1
            if op["type"] == "invoke":
                invoked[op["process"]] = op["time"]
                first_ns = op["time"] if first_ns is None else first_ns
                continue
            last_ns = op["time"]
            start = invoked.pop(op["process"], None)
            if start is not None and op["type"] == "ok":
                latencies_ms.append((op["time"] - start) / 1e6)
    window_s = ((last_ns or 0) - (first_ns or 0)) / 1e9
    latencies_ms.sort()
    return {
        "epoch_ns": info["epoch_ns"],
        "exit_code": info.get("exit_code"),
        "valid": info.get("valid"),
        "counts": counts,
        "window_ns": (info["epoch_ns"] + (first_ns or 0), info["epoch_ns"] + (last_ns or 0)),
        "window_s": window_s,
        "ok_per_s": counts["ok"] / window_s if window_s > 0 else 0.0,
        "latency_ms_p50": percentile(latencies_ms, 0.50),
        "latency_ms_p99": percentile(latencies_ms, 0.99),
        "latency_ms_max": latencies_ms[-1] if latencies_ms else float("nan"),
    }


def run_one(
    *, rate: float, concurrency: int, seconds: float, nodes: int, seed: int, workdir: Path,
    interval_s: float, profile_dir: Path | None,
) -> dict[str, Any]:
    scenario = workdir / "echo-healthy.toml"
    scenario.write_text(SCENARIO.format(nodes=nodes, seconds=seconds), encoding="utf-8")
    store = workdir / f"store-c{concurrency}"
    args = ["run", str(scenario), "--seed", str(seed), "--rate", f"{rate:g}",
            "--concurrency", str(concurrency), "--store", str(store), "--json"]
    if profile_dir is not None:
        profile_dir.mkdir(parents=True, exist_ok=True)
        prof = profile_dir / f"c{concurrency}.prof"
        argv = [sys.executable, "-m", "cProfile", "-o", str(prof), "-m", "chaos", *args]
    else:
        argv = [sys.executable, "-m", "chaos", *args]
    run = run_sampled(argv, cwd=REPO, limit_s=seconds + HANG_TIMEOUT_S,
                      interval_s=interval_s, threads=True)
    samples, load_before, load_after, run_dir = (run.samples, run.load_before, run.load_after,
                                                  run.run_dir)
    figures = analyse(run_dir)
    t0, t1 = figures["window_ns"]
    window_s = max(1e-9, (t1 - t0) / 1e9)
    per_s = {name: (s.at(t1) - s.at(t0)) / window_s for name, s in samples.items()}
    cpu = {name: share for name, share in per_s.items()
           if not name.endswith((IO_SUFFIX, SWITCHES_SUFFIX))}
    cpu = {name: share for name, share in cpu.items() if share >= 0.005}  # not a fork's blink
    io = {name: per_s.get(name + IO_SUFFIX, 0.0) for name in cpu}
    switches = {name: per_s.get(name + SWITCHES_SUFFIX, 0.0) for name in cpu}
    return {
        "rate": rate, "concurrency": concurrency, "seconds": seconds, "nodes": nodes,
        "seed": seed, "exit_code": run.returncode, "run_dir": str(run_dir),
        "load_before": load_before, "load_after": load_after,
        "cpu_share": dict(sorted(cpu.items())), "io_thread_share": dict(sorted(io.items())),
        "switches_per_s": dict(sorted(switches.items())), **figures,
    }


def show(r: dict[str, Any]) -> None:
    c = r["counts"]
    print(f"concurrency {r['concurrency']}, rate {r['rate']:g}: "
          f"{r['ok_per_s']:,.0f} ok/s over {r['window_s']:.1f} s "
          f"({c['ok']} ok, {c['fail']} fail, {c['info']} info), "
          f"latency p50 {r['latency_ms_p50']:.2f} ms p99 {r['latency_ms_p99']:.2f} ms "
          f"max {r['latency_ms_max']:.1f} ms; exit {r['exit_code']}, valid {r['valid']}")
    cpu = ", ".join(f"{k} {v * 100:.0f}%" for k, v in r["cpu_share"].items())
    print(f"  CPU (share of one core): {cpu}")
    per_op = r["ok_per_s"] or float("nan")
    cost = ", ".join(f"{k} {v / per_op * 1e6:.0f}" for k, v in r["cpu_share"].items())
    total = sum(r["cpu_share"].values()) / per_op * 1e6
    print(f"  CPU µs per ok operation: {cost}; all {total:.0f}")
    io = ", ".join(f"{k} {v / per_op * 1e6:.0f}" for k, v in r["io_thread_share"].items())
    switches = ", ".join(f"{k} {v / per_op:.2f}" for k, v in r["switches_per_s"].items())
    print(f"  of which libzmq's I/O thread: {io}; context switches per op: {switches}")
    lb, la = r["load_before"], r["load_after"]
    print(f"  load average before {lb[0]:.2f} {lb[1]:.2f} {lb[2]:.2f}, "
          f"after {la[0]:.2f} {la[1]:.2f} {la[2]:.2f}")
    verdict = "met" if r["ok_per_s"] >= TARGET_OPS_S else "NOT met"
    print(f"  target {TARGET_OPS_S:,.0f} ok/s: {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=20000.0, help="--rate of the run")
    parser.add_argument("--concurrency", default="10,50,100", help="comma-separated values")
    parser.add_argument("--seconds", type=float, default=10.0, help="client phase (time limit)")
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--interval-s", type=float, default=0.25, help="CPU sampling period")
    parser.add_argument("--keep", action="store_true", help="keep the run directories")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--profile", type=Path, default=None,
                        help="run the orchestrator under cProfile, profiles into this dir")
    args = parser.parse_args()
    concurrencies = [int(c) for c in args.concurrency.split(",") if c.strip()]
    print(machine_line())
    results = []
    with bench_workdir("bench-clients-", keep=args.keep) as workdir:
        for concurrency in concurrencies:
            r = run_one(rate=args.rate, concurrency=concurrency, seconds=args.seconds,
                        nodes=args.nodes, seed=args.seed, workdir=workdir,
                        interval_s=args.interval_s, profile_dir=args.profile)
            show(r)
            results.append(r)
    write_figures(args.json, results)


if __name__ == "__main__":
    main()
