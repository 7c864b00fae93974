"""The txn service on real processes: `chaos run SCENARIO --workload txn-list-append` exits 0.

All of it is nightly (`pytest -m nightly`): partition-heal, kill-restart and pause-resume with
both txn workloads on seeds 1 to 3, 5 node processes behind the proxy, transactions by
two-phase commit across shards, judged by Elle's list-append checker, with `chaos check`
agreeing. The default tier runs the txn workload on real processes through --node-cmd
(tests/system/test_kv_services.py) and the service over many seeds in simulation. The planted
bugs run on real processes in tests/system/test_canaries.py (nightly, seeds 1 to 5, read from
the service's declared canaries); the same runs over more seeds in simulation in
tests/simulation/.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.system.conftest import chaos, read_jsonl

pytestmark = pytest.mark.cluster

TIME_LIMIT_S = 5.0
SCENARIOS = ("partition-heal", "kill-restart", "pause-resume")
WORKLOADS = {"txn-list-append": "list-append", "txn-rw-register": "rw-register"}
SEEDS = (1, 2, 3)


def _cases() -> list[object]:
    return [pytest.param(scenario, workload, seed, id=f"{scenario}-{workload}-{seed}",
                         marks=(pytest.mark.nightly,))
            for scenario in SCENARIOS for workload in WORKLOADS for seed in SEEDS]


@pytest.mark.parametrize(("scenario", "workload", "seed"), _cases())
def test_the_txn_service_passes_its_scenarios_on_real_processes(
        store: Path, scenario: str, workload: str, seed: int) -> None:
    done = chaos("run", scenario, "--workload", workload, "--seed", str(seed),
                 "--time-limit", f"{TIME_LIMIT_S:g}", "--json", store=store)
    assert done.returncode == 0, done.explain()
    run = json.loads((done.run_dir / "run.json").read_text())
    assert run["service"] == "txn", run
    history = read_jsonl(done.run_dir / "history.jsonl")
    applied = [op["f"] for op in history if op["process"] == "nemesis" and op["type"] == "ok"]
    assert applied, f"no fault took effect\n{done.explain()}"
    results = json.loads((done.run_dir / "results.json").read_text())["results"]
    elle = results[WORKLOADS[workload]]
    assert elle["valid"] is True and elle["ok_count"] > 0, elle
    assert sum(elle["edge_counts"].values()) > 0, elle  # something was judged
    again = chaos("check", str(done.run_dir), store=store)
    assert again.returncode == 0, again.explain()
