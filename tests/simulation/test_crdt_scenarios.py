"""The CRDT services in simulation: every CRDT workload passes partition-heal, flaky-network and
kill-restart on its built-in service, over several seeds, judged as `chaos run` judges.

The planted bugs and the runs their canaries name (merge-by-sum on flaky-network, remove-
unobserved on partition-heal, local-clock-lww on clock-skew, and the correct services on those
same runs over 20 seeds) are run by tests/simulation/test_canaries.py, which reads them from
the declarations; this file runs the rest of the matrix, so no run is paid for twice. A run
only passes if its faults took effect (the judge's fault guard) and there was something to
judge: acknowledged updates and a final read on every node.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from checker.history import load_jsonl
from node.services import SERVICES
from tests.simulation.test_canaries import simulate_seed

WORKLOADS = ("g-set", "g-counter", "pn-counter", "or-set", "lww-register")
SCENARIOS = ("partition-heal", "flaky-network", "kill-restart")
SEEDS = range(1, 6)
COVERED = {(w, c.scenario) for w in WORKLOADS for c in SERVICES[w].canaries.values()}
MATRIX = [(w, s) for w in WORKLOADS for s in SCENARIOS if (w, s) not in COVERED]
NODES = 5


def test_the_canary_runs_are_the_ones_this_file_leaves_out() -> None:
    canary_runs = {("g-counter", "flaky-network"), ("pn-counter", "flaky-network"),
                   ("or-set", "partition-heal"), ("lww-register", "clock-skew")}
    assert canary_runs == COVERED
    assert len(MATRIX) == len(WORKLOADS) * len(SCENARIOS) - 3


@pytest.mark.parametrize(("workload", "scenario"), MATRIX, ids=[f"{w}-{s}" for w, s in MATRIX])
def test_every_crdt_workload_passes_its_scenarios(tmp_path: Path, workload: str,
                                                  scenario: str) -> None:
    for seed in SEEDS:
        verdict, result = simulate_seed(tmp_path, scenario, seed, workload=workload)
        assert verdict["valid"] is True, (
            f"chaos run {scenario} --workload {workload} --simulate --seed {seed} "
            f"--time-limit 8: {verdict}")
        assert result.counts["ok"] > 0
        run_dir = next(tmp_path.glob(f"{scenario}-None-None-{seed}"))
        finals = [op for op in load_jsonl(run_dir / "history.jsonl")
                  if op.extra.get("final") and op.type == "ok"]
        assert len({op.node for op in finals}) == NODES, "a final read on every node"
