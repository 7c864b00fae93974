"""The fault guard: a fault that changed nothing makes the run unknown, never valid."""

from __future__ import annotations

import pytest

from checker.fault_guard import faults_effective
from checker.history import Op
from checker.result import brief


def _nemesis(f: str, value: object = None, *, ok: bool = True) -> list[Op]:
    return [
        Op(type="invoke", process="nemesis", f=f, value=value),
        Op(type="ok" if ok else "info", process="nemesis", f=f, value=value),
    ]


PARTITION = {"shape": "halves", "grudge": {"n1": ["n2"], "n2": ["n1"]}}
LOSSY = {"faults": [{"src": "*", "dest": "*", "drop_probability": 0.3}]}


@pytest.mark.parametrize(
    ("ops", "stats", "valid"),
    [
        (_nemesis("partition", PARTITION) + _nemesis("heal"), {"partitioned": 12}, True),
        (_nemesis("partition", PARTITION) + _nemesis("heal"), {"partitioned": 0}, "unknown"),
        (_nemesis("partition", PARTITION, ok=False), {"partitioned": 5}, "unknown"),
        (_nemesis("link", LOSSY) + _nemesis("heal"), {"dropped": 3}, True),
        (_nemesis("link", LOSSY) + _nemesis("heal"), {"dropped": 0}, "unknown"),
        (_nemesis("kill", {"nodes": ["n1"]}) + _nemesis("restart", {"nodes": ["n1"]}), {}, True),
    ],
    ids=["partition-cost-messages", "partition-cost-nothing", "fault-not-applied",
         "lossy-link-dropped", "lossy-link-dropped-nothing", "process-faults"],
)
def test_faults_effective(ops: list[Op], stats: dict[str, int], valid: object) -> None:
    res = faults_effective(ops, stats)
    assert res["valid"] == valid
    if valid == "unknown":
        assert res["reason"]


def test_fault_guard_headline_is_the_reason() -> None:
    res = faults_effective(_nemesis("partition", PARTITION), {"partitioned": 0})
    assert brief(res).startswith("reason=partitions were applied but no message was lost")
    assert brief(faults_effective(_nemesis("partition", PARTITION), {"partitioned": 3})) == ""
