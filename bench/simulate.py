"""Deterministic simulation speed: wall time per simulated run, seeds per minute, and a real run.

For each seed it does what `chaos run SCENARIO --simulate --seed N` does in its core: plans the
fault schedule from the seed, simulates the whole run (warm-up, faults, heal, recovery, final
reads) with the built-in service's machines, writes `history.jsonl` and the node logs into a
temporary directory, and judges the history with the workload's checkers. It times the
simulation and the judging apart (`time.perf_counter`). Then, unless `--no-real`, it times one
real run of the same scenario (`.venv/bin/chaos run SCENARIO --seed 1 --store TMP`, real node
and proxy processes) with `time.monotonic`, for comparison.

    .venv/bin/python bench/simulate.py [--scenario partition-heal] [--seeds 20] [--no-real]

Target (issue 6): partition-heal on broadcast, 5 nodes, 20 s of simulated faults: under 1 s of
wall time per seed. It prints figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chaos.nemesis import plan
from chaos.simulation import simulate
from checker.history import load_jsonl
from scenarios.judge import judge
from scenarios.loader import load_scenario
from scenarios.workloads import get_workload

ROOT = Path(__file__).resolve().parents[1]


def one_seed(scenario: str, service: str | None, bug: str | None, seed: int,
             root: Path) -> tuple[float, float, bool | str, int, float]:
    """(simulate s, judge s, verdict, events, simulated s) for one seed."""
    sc = load_scenario(scenario)
    steps = plan([e.to_dict() for e in sc.timeline], sc.node_ids,
                 random.Random(f"{seed}/nemesis"), offset_s=sc.warmup_s)
    workload = get_workload(sc.workload, **dict(sc.workload_params))
    run_dir = Path(tempfile.mkdtemp(dir=root))
    history = run_dir / "history.jsonl"
    start = time.perf_counter()
    result = simulate(scenario=sc, service=service or sc.workload, bug=bug, seed=seed,
                      steps=steps, workload=workload, history_path=history,
                      log_dir=run_dir / "nodes")
    simulate_s = time.perf_counter() - start
    start = time.perf_counter()
    verdict = judge(load_jsonl(history), workload=workload, node_ids=sc.node_ids,
                    network=result.network)
    judge_s = time.perf_counter() - start
    return simulate_s, judge_s, verdict["valid"], result.events, result.simulated_s


def real_run(scenario: str, root: Path) -> tuple[float, int]:
    start = time.monotonic()
    proc = subprocess.run([str(ROOT / ".venv" / "bin" / "chaos"), "run", scenario, "--seed", "1",
                           "--store", str(root / "real")], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    return time.monotonic() - start, proc.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", default="partition-heal")
    parser.add_argument("--service", default=None, help="default: the scenario's workload's")
    parser.add_argument("--bug", default=None)
    parser.add_argument("--seeds", type=int, default=20, help="seeds 1..N")
    parser.add_argument("--no-real", action="store_true", help="skip the real run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        sim, judged, events, simulated = [], [], [], []
        verdicts: dict[str, int] = {}
        for seed in range(1, args.seeds + 1):
            sim_s, judge_s, valid, n_events, simulated_s = one_seed(
                args.scenario, args.service, args.bug, seed, root)
            sim.append(sim_s)
            judged.append(judge_s)
            events.append(n_events)
            simulated.append(simulated_s)
            verdicts[str(valid)] = verdicts.get(str(valid), 0) + 1
        total = [a + b for a, b in zip(sim, judged, strict=True)]
        print(f"scenario {args.scenario}, service {args.service or 'default'}, bug {args.bug}, "
              f"seeds 1..{args.seeds}, verdicts {verdicts}")
        print(f"simulate s/seed: mean {statistics.mean(sim):.3f}, median "
              f"{statistics.median(sim):.3f}, max {max(sim):.3f}")
        print(f"judge s/seed:    mean {statistics.mean(judged):.3f}, max {max(judged):.3f}")
        print(f"events/seed {statistics.mean(events):.0f}, simulated s/seed "
              f"{statistics.mean(simulated):.1f}, events/s "
              f"{sum(events) / sum(sim):,.0f}, speed-up over real time "
              f"{sum(simulated) / sum(sim):.0f}x")
        print(f"seeds per minute (simulate + judge): {60 * len(total) / sum(total):.0f}")
        if not args.no_real:
            wall_s, code = real_run(args.scenario, root)
            print(f"real run (chaos run {args.scenario} --seed 1): {wall_s:.1f} s wall, "
                  f"exit {code}")


if __name__ == "__main__":
    main()
