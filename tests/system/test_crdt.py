"""The CRDT services on real processes: `chaos run SCENARIO --workload W` exits 0.

The default tier runs one short real run (g-counter through kills) to prove the replicas run as
node processes behind the proxy; `pytest -m nightly` runs every
workload through partition-heal, flaky-network and kill-restart on seeds 1 to 3. The planted
bugs are run on real processes by tests/system/test_canaries.py (nightly, seeds 1 to 5, from
the services' declared canaries), and the whole matrix over more seeds by the simulation tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.system.conftest import chaos, read_jsonl

pytestmark = pytest.mark.cluster

TIME_LIMIT_S = 4.0
WORKLOADS = ("g-set", "g-counter", "pn-counter", "or-set", "lww-register")
SCENARIOS = ("partition-heal", "flaky-network", "kill-restart")
# The default tier's real run: the five workloads are one machine (`crdt.core.Replica`) over
# five value types, which the simulation tests run through every scenario; this one proves the
# replica as node processes through kills (its storage). The rest is nightly (CI has 6 minutes
# on 2 cores).
DEFAULT_RUNS = {"g-counter": "kill-restart"}
NIGHTLY_SEEDS = (1, 2, 3)


def _cases() -> list[object]:
    cases: list[object] = []
    for workload in WORKLOADS:
        for scenario in SCENARIOS:
            for seed in NIGHTLY_SEEDS:
                is_default = seed == 1 and DEFAULT_RUNS.get(workload) == scenario
                marks = () if is_default else (pytest.mark.nightly,)
                cases.append(pytest.param(workload, scenario, seed, marks=marks,
                                          id=f"{workload}-{scenario}-{seed}"))
    return cases


@pytest.mark.parametrize(("workload", "scenario", "seed"), _cases())
def test_every_crdt_workload_passes_on_real_processes(store: Path, workload: str, scenario: str,
                                                      seed: int) -> None:
    done = chaos("run", scenario, "--workload", workload, "--seed", str(seed),
                 "--time-limit", f"{TIME_LIMIT_S:g}", "--json", store=store)
    assert done.returncode == 0, done.explain()
    run = json.loads((done.run_dir / "run.json").read_text())
    assert run["service"] == workload, run  # the workload's built-in service by default
    history = read_jsonl(done.run_dir / "history.jsonl")
    nemesis = [op for op in history if op["process"] == "nemesis"]
    planned = [step["f"] for step in read_jsonl(done.run_dir / "schedule.jsonl")]
    applied = [op["f"] for op in nemesis if op["type"] == "ok"]
    assert planned and all(f in applied for f in planned), (planned, applied, done.explain())
    updates = [op for op in history if op["type"] == "ok" and op["f"] != "read"
               and op["process"] != "nemesis"]
    finals = {op["node"] for op in history if op.get("final") and op["type"] == "ok"}
    assert updates, "nothing was acknowledged: the run judged nothing"
    assert len(finals) == 5, f"final reads on {sorted(finals)} only\n{done.explain()}"
