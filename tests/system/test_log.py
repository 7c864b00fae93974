"""The log service on real processes: `chaos run SCENARIO --workload kafka` exits 0.

All of it is nightly (`pytest -m nightly`): partition-heal, leader-kill and kill-restart on
seeds 1 to 3, 5 node processes behind the proxy, sends, polls and commits through Raft
elections and forwarding, judged by the kafka checker, with `chaos check` agreeing. The default
tier runs the same Raft core as node processes in every shipped scenario (lin-kv), and the log
service over many seeds in simulation: a real run of it would add 16 s to CI's 6 minutes and
prove no process machinery those runs do not. The planted bugs run on real
processes in tests/system/test_canaries.py (nightly, seeds 1 to 5, read from the service's
declared canaries); the same runs over more seeds in simulation in tests/simulation/.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.system.conftest import chaos, read_jsonl

pytestmark = pytest.mark.cluster

TIME_LIMIT_S = 5.0
SCENARIOS = ("partition-heal", "leader-kill", "kill-restart")
SEEDS = (1, 2, 3)
NODES = 5


def _cases() -> list[object]:
    return [pytest.param(scenario, seed, id=f"{scenario}-{seed}", marks=(pytest.mark.nightly,))
            for scenario in SCENARIOS for seed in SEEDS]


@pytest.mark.parametrize(("scenario", "seed"), _cases())
def test_the_log_service_passes_its_scenarios_on_real_processes(store: Path, scenario: str,
                                                                 seed: int) -> None:
    done = chaos("run", scenario, "--workload", "kafka", "--seed", str(seed),
                 "--time-limit", f"{TIME_LIMIT_S:g}", "--json", store=store)
    assert done.returncode == 0, done.explain()
    run = json.loads((done.run_dir / "run.json").read_text())
    assert run["service"] == "log", run  # the kafka workload's built-in service
    history = read_jsonl(done.run_dir / "history.jsonl")
    planned = [step["f"] for step in read_jsonl(done.run_dir / "schedule.jsonl")]
    applied = [op["f"] for op in history if op["process"] == "nemesis" and op["type"] == "ok"]
    assert planned and all(f in applied for f in planned), (planned, applied, done.explain())
    results = json.loads((done.run_dir / "results.json").read_text())["results"]
    kafka = results["kafka"]
    assert kafka["acknowledged_count"] > 0 and kafka["lag_count"] > 0, kafka
    assert results["election-safety"]["valid"] is True  # the nodes logged their Raft roles
    finals = {op["node"] for op in history if op.get("final") and op["type"] == "ok"}
    assert len(finals) == NODES, f"final polls on {sorted(finals)} only\n{done.explain()}"
    again = chaos("check", str(done.run_dir), store=store)
    assert again.returncode == 0, again.explain()
