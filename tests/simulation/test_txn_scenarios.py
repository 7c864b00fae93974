"""The txn service in simulation: partition-heal, kill-restart and pause-resume with both txn
workloads are valid and say something, over seeds 1 to 5.

Each planted bug caught on its canary run over 10 seeds is tests/simulation/test_canaries.py's
(read from the service's declaration). Here the correct service must pass the three runs, and
the runs must show that what they judge happened: transactions committed across shards, a
dependency graph to search, partitions that made transactions abort (error 30, definite), and
a kill after which the nodes came back serving.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from checker.history import load_jsonl
from tests.simulation.test_canaries import simulate_seed

SEEDS = range(1, 6)
SCENARIOS = ("partition-heal", "kill-restart", "pause-resume")
WORKLOADS = {"txn-list-append": "list-append", "txn-rw-register": "rw-register"}


@pytest.mark.parametrize("workload", sorted(WORKLOADS))
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_txn_service_passes_its_scenarios(tmp_path: Path, scenario: str,
                                              workload: str) -> None:
    for seed in SEEDS:
        verdict, _ = simulate_seed(tmp_path, scenario, seed, service="txn",
                                        workload=workload)
        how = f"chaos run {scenario} --workload {workload} --simulate --seed {seed} --time-limit 8"
        assert verdict["valid"] is True, f"{how}: {verdict}"
        elle = verdict["results"][WORKLOADS[workload]]
        assert elle["ok_count"] > 100, f"{how}: {elle}"
        assert sum(elle["edge_counts"].values()) > 100, f"{how}: {elle}"
        history = load_jsonl(tmp_path / f"{scenario}-txn-None-{seed}" / "history.jsonl")
        multi = [op for op in history if op.type == "ok" and op.f == "txn"
                 and len({m[1] for m in op.value}) > 1]
        assert multi, f"{how}: no transaction over two keys committed"
        nemesis = [op for op in history if op.process == "nemesis" and op.type == "ok"]
        assert nemesis, f"{how}: no fault took effect"
        if scenario == "partition-heal":
            aborted = [op for op in history if op.type == "fail" and isinstance(op.error, dict)
                       and op.error.get("code") == 30]
            assert aborted, f"{how}: no transaction aborted during the partitions"
        if scenario == "kill-restart":
            kill = next(op.time for op in nemesis if op.f == "kill")
            after = [op for op in history if op.type == "ok" and op.f == "txn"
                     and op.time > kill]
            assert after, f"{how}: nothing committed after the kill"
