"""Whole lin-kv runs: `chaos run` judges linearizable workloads with the linearizability checker
(issue 3), and `chaos check RUN_DIR` agrees with it.

The nodes here are third-party Maelstrom programs run with --node-cmd (the built-in Raft runs
through every shipped scenario in test_scenarios.py): a forwarding single-leader store that is
linearizable (the control: it must pass through the partitions), and per-node local maps that
are not (the canary: every seed must be caught).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.system.conftest import MAELSTROM_NODES, Completed, chaos, read_jsonl

pytestmark = pytest.mark.cluster


def run_lin_kv(store: Path, program: str, seed: int) -> Completed:
    node_cmd = f"{sys.executable} {MAELSTROM_NODES / program}"
    return chaos("run", "lin-kv", "--node-cmd", node_cmd, "--seed", str(seed),
                 "--time-limit", "6", "--json", store=store)  # fmt: skip


def results_of(done: Completed) -> dict[str, Any]:
    return json.loads((done.run_dir / "results.json").read_text())


def test_a_single_leader_store_is_linearizable_through_partitions(store: Path) -> None:
    done = run_lin_kv(store, "lin_kv_leader.py", seed=1)
    assert done.returncode == 0, done.explain()
    assert done.summary["checkers"]["linearizability"] is True
    results = results_of(done)
    lin = results["results"]["linearizability"]
    assert lin["valid"] is True, lin
    assert lin["model"] == "kv"
    assert lin["op_count"] >= 150, f"too little was checked: {lin}\n{done.explain()}"
    assert lin["key_count"] == 3
    # Not vacuous: the partitions cost forwarded requests.
    assert results["results"]["faults"]["valid"] is True
    assert results["proxy"]["partitioned"] > 0
    history = read_jsonl(done.run_dir / "history.jsonl")
    completed = [op for op in history if op["process"] != "nemesis" and op["type"] != "invoke"]
    assert {op["f"] for op in completed if op["type"] == "ok"} == {"read", "write", "cas"}
    # The encoding checker/linearizability.py documents.
    for op in completed:
        key, value = op["value"]
        assert key in (0, 1, 2), op
        if op["f"] == "cas":
            assert len(value) == 2, op
    # chaos check of the run directory agrees.
    check = chaos("check", str(done.run_dir), "--json", store=store)
    assert check.returncode == 0, check.explain()
    checked = json.loads(check.stdout)["files"][str(done.run_dir)]
    assert checked["results"]["linearizability"]["op_count"] == lin["op_count"]


@pytest.mark.parametrize(
    "seed", [1, *(pytest.param(s, marks=pytest.mark.nightly) for s in (2, 3, 4))]
)
def test_per_node_local_maps_are_caught(store: Path, seed: int) -> None:
    done = run_lin_kv(store, "lin_kv_local.py", seed=seed)
    assert done.returncode == 1, done.explain()
    assert done.summary["checkers"]["linearizability"] is False
    lin = results_of(done)["results"]["linearizability"]
    assert lin["valid"] is False
    failure = lin["failure"]
    assert failure["text"], failure
    assert failure["minimal_ops"], failure
    assert failure["op"]["f"] == "read"  # a stale read (or a read of a key it never saw)
    check = chaos("check", str(done.run_dir), store=store)
    assert check.returncode == 1, check.explain()
    assert "linearizability: INVALID" in check.stdout
    assert "could not be placed" in check.stdout  # the explanation, not just the verdict
