"""`scenarios.judge`: one verdict for `chaos run` and `chaos check RUN_DIR`, from literal
histories of a two-node broadcast run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from checker.history import Op, op_from_json
from scenarios.judge import judge, judge_run, network_counters
from scenarios.workloads import get_workload

NODES = ["n1", "n2"]
PARTITION = {"shape": "halves", "grudge": {"n1": ["n2"], "n2": ["n1"]}, "clients": False}


def history(*rows: tuple[Any, ...]) -> list[Op]:
    """Rows `(type, process, f, value, node, extra)` with index and time filled in."""
    ops = []
    for i, (type_, process, f, value, node, extra) in enumerate(rows):
        d = {"index": i, "time": i * 1_000_000, "type": type_, "process": process, "f": f,
             "value": value, **({"node": node} if node else {}), **extra}
        ops.append(op_from_json(d))
    return ops


FINAL = {"final": True}
Rows = list[tuple[Any, ...]]
ADD_1: Rows = [("invoke", 0, "broadcast", 1, "n1", {}), ("ok", 0, "broadcast", 1, "n1", {})]
FAULTS: Rows = [("invoke", "nemesis", "partition", PARTITION, None, {}),
          ("ok", "nemesis", "partition", PARTITION, None, {})]
# n2 cannot hear n1, so a read of n2 during the partition misses 1: legal while faulted.
READ_DURING_FAULTS: Rows = [("invoke", 1, "read", None, "n2", {}), ("ok", 1, "read", [], "n2", {})]
HEAL: Rows = [("invoke", "nemesis", "heal", FINAL, None, {}),
              ("ok", "nemesis", "heal", FINAL, None, {})]
FINAL_READS: Rows = [
    ("invoke", 1_000_000, "read", None, "n1", FINAL), ("ok", 1_000_000, "read", [1], "n1", FINAL),
    ("invoke", 1_000_001, "read", None, "n2", FINAL), ("ok", 1_000_001, "read", [1], "n2", FINAL),
]
COMPLETE = history(*ADD_1, *FAULTS, *READ_DURING_FAULTS, *HEAL, *FINAL_READS)
CUT_SHORT = history(*ADD_1, *FAULTS, *READ_DURING_FAULTS)  # Ctrl-C during the partition


def broadcast_judge(ops: list[Op], network: dict[str, Any] | None) -> dict[str, Any]:
    return judge(ops, workload=get_workload("broadcast"), node_ids=NODES, network=network)


def test_a_complete_run_whose_partition_cost_messages_is_valid() -> None:
    judged = broadcast_judge(COMPLETE, {"partitioned": 12, "dropped": 0})
    assert judged["valid"] is True, judged
    assert judged["results"]["faults"]["valid"] is True
    assert judged["results"]["set-full"]["stale_count"] == 1  # missed during faults: stale


def test_a_partition_that_cost_no_message_is_unknown() -> None:
    judged = broadcast_judge(COMPLETE, {"partitioned": 0, "dropped": 0, "delivered": 40})
    assert judged["valid"] == "unknown"
    assert judged["results"]["faults"]["valid"] == "unknown"
    assert "no message was lost" in judged["results"]["faults"]["reason"]


def test_without_network_counters_the_guard_is_left_out() -> None:
    judged = broadcast_judge(COMPLETE, None)
    assert "faults" not in judged["results"]
    assert judged["valid"] is True


def test_a_cut_short_history_judged_as_complete_would_be_invalid() -> None:
    # Why judge_run must know whether the run finished: set-full takes the last read as final.
    assert broadcast_judge(CUT_SHORT, {"partitioned": 3})["results"]["set-full"]["lost_count"] == 1


def write_run(tmp_path: Path, ops: list[Op], **info: Any) -> Path:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    path = run_dir / "history.jsonl"
    path.write_text("".join(json.dumps(op.to_json()) + "\n" for op in ops))
    (run_dir / "results.json").write_text(json.dumps({"proxy": {"partitioned": 3}}))
    return path


RUN_INFO = {"workload": "broadcast", "workload_params": {}, "nodes": NODES}


@pytest.mark.parametrize(
    ("run_info", "why"),
    [
        ({}, "no exit code"),
        ({"exit_code": None}, "no exit code"),
        ({"exit_code": 130}, "interrupted"),
        ({"exit_code": 4}, "harness failure"),
        ({"exit_code": 1}, "no final reads"),
    ],
)
def test_an_unfinished_run_is_not_invalid_for_reads_during_faults(
    tmp_path: Path, run_info: dict[str, Any], why: str
) -> None:
    path = write_run(tmp_path, CUT_SHORT)
    judged = judge_run(path, CUT_SHORT, {**RUN_INFO, **run_info})
    assert judged["valid"] == "unknown", judged
    assert why in judged["reason"]
    assert judged["results"]["set-full"]["valid"] == "unknown"
    assert judged["results"]["set-full"]["lost_count"] == 1  # the details stay, for the report


def test_an_unfinished_run_with_a_certain_anomaly_is_invalid(tmp_path: Path) -> None:
    # 99 was never broadcast: no later read can make that right.
    ops = history(*ADD_1, *FAULTS, ("invoke", 1, "read", None, "n2", {}),
                  ("ok", 1, "read", [1, 99], "n2", {}))
    judged = judge_run(write_run(tmp_path, ops), ops, {**RUN_INFO, "exit_code": 130})
    assert judged["valid"] is False
    assert judged["results"]["set-full"]["unexpected_count"] == 1
    assert "certain regardless" in judged["reason"]


def test_a_finished_run_is_judged_exactly_as_chaos_run_did(tmp_path: Path) -> None:
    path = write_run(tmp_path, COMPLETE)
    judged = judge_run(path, COMPLETE, {**RUN_INFO, "exit_code": 0})
    assert judged == broadcast_judge(COMPLETE, {"partitioned": 3})
    assert judged["valid"] is True


def test_a_workload_that_cannot_be_rebuilt_says_what_to_do(tmp_path: Path) -> None:
    path = write_run(tmp_path, COMPLETE)
    with pytest.raises(ValueError, match=r"run\.json: cannot rebuild .*pass --model") as info:
        judge_run(path, COMPLETE, {**RUN_INFO, "workload": "no-such-workload", "exit_code": 0})
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("content", "counters"),
    [
        ({"proxy": {"dropped": 2}}, {"dropped": 2}),
        ({"network": {"partitioned": 5}}, {"partitioned": 5}),  # a simulated run
        ({"valid": True}, None),
        ([], None),
    ],
)
def test_network_counters_come_from_results_json(
    tmp_path: Path, content: Any, counters: dict[str, Any] | None
) -> None:
    path = tmp_path / "results.json"
    path.write_text(json.dumps(content))
    assert network_counters(path) == counters
    assert network_counters(tmp_path / "missing.json") is None


def test_a_run_with_per_link_counts_reports_maelstroms_messages_per_operation() -> None:
    network = {"partitioned": 12, "dropped": 0,
               "links": {"n1->n2": {"received": 3, "delivered": 3},
                         "c0->n1": {"received": 5, "delivered": 5}}}
    judged = broadcast_judge(COMPLETE, network)
    net = judged["results"]["net"]
    # 3 messages between the nodes over 4 client operations; the admin client's left out.
    assert (net["valid"], net["servers_msgs_per_op"]) == (True, 0.75)
    assert judged["valid"] is True
    assert "net" not in broadcast_judge(COMPLETE, {"partitioned": 12})["results"]
