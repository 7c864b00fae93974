"""Availability: fractions overall, per f and per phase; phases follow the fault-kind table."""

from __future__ import annotations

from typing import Any

import pytest
from rows import h, op

from checker.availability import availability
from checker.result import brief


def test_availability_overall_per_f_and_per_phase() -> None:
    rows = [
        *op(0, "broadcast", 1),
        ("invoke", "nemesis", "partition", {"shape": "halves"}),
        ("ok", "nemesis", "partition", {"shape": "halves"}),
        *op(0, "broadcast", 2, outcome="info"),
        *op(1, "read", None, outcome="fail"),
        ("invoke", "nemesis", "heal", None),
        ("ok", "nemesis", "heal", None),
        *op(2, "read", None, [1]),
        *op(3, "read", None, [1], final=True),
    ]
    res = availability(h(*rows))
    assert res["valid"] is True
    assert (res["count"], res["ok_count"], res["fail_count"], res["info_count"]) == (5, 3, 1, 1)
    assert res["ok_fraction"] == 0.6
    assert res["by_f"]["broadcast"]["ok_count"] == 1
    assert res["by_f"]["read"]["count"] == 3
    phases = res["by_phase"]
    assert (phases["healthy"]["count"], phases["healthy"]["ok_count"]) == (2, 2)
    assert (phases["faulted"]["count"], phases["faulted"]["ok_fraction"]) == (2, 0.0)
    assert phases["final"]["ok_count"] == 1


def test_availability_phases_follow_process_faults_and_the_final_heal() -> None:
    rows = [
        ("invoke", "nemesis", "kill", {"nodes": ["n1"]}),
        ("ok", "nemesis", "kill", None),
        *op(0, "read", None, []),
        ("invoke", "nemesis", "restart", None),
        ("ok", "nemesis", "restart", None),
        *op(0, "read", None, []),
        ("invoke", "nemesis", "clock", {"offset_ms": 0, "rate": 1}),  # a reset is no fault
        ("ok", "nemesis", "clock", {"offset_ms": 0, "rate": 1}),
        *op(0, "read", None, []),
        ("invoke", "nemesis", "pause", None),
        ("ok", "nemesis", "pause", None),
        ("invoke", "nemesis", "heal", {"final": True}),
        ("ok", "nemesis", "heal", {"final": True}),
        *op(0, "read", None, []),
    ]
    phases = availability(h(*rows))["by_phase"]
    assert phases["faulted"]["count"] == 1
    assert phases["healthy"]["count"] == 3


def test_a_fault_that_failed_broke_nothing() -> None:
    rows = [
        ("invoke", "nemesis", "kill", {"target": "leader"}),
        ("fail", "nemesis", "kill", {"target": "leader"}),  # no leader found: nobody killed
        *op(0, "read", None, []),
        ("invoke", "nemesis", "kill", {"target": "leader"}),
        ("ok", "nemesis", "kill", {"nodes": ["n2"]}),
        *op(0, "read", None, []),
        ("invoke", "nemesis", "kill", {"target": "leader"}),
        ("fail", "nemesis", "kill", {"target": "leader"}),  # n2 is still down: still faulted
        *op(0, "read", None, []),
    ]
    phases = availability(h(*rows))["by_phase"]
    assert phases["healthy"]["count"] == 1
    assert phases["faulted"]["count"] == 2


def test_availability_never_completed_counts_as_info() -> None:
    res = availability(h(("invoke", 0, "broadcast", 1), *op(1, "read", None, [])))
    assert res["info_count"] == 1


@pytest.mark.parametrize(
    ("rows", "threshold", "valid"),
    [
        (op(0, "read", None, []) + op(1, "read", None, outcome="fail"), None, True),
        (op(0, "read", None, outcome="fail") + op(1, "read", None, outcome="fail"), None, False),
        (op(0, "read", None, []) + op(1, "read", None, outcome="fail"), 0.5, True),
        (op(0, "read", None, []) + op(1, "read", None, outcome="fail"), 0.9, False),
        ([], None, "unknown"),
        ([("invoke", "nemesis", "heal", None), ("ok", "nemesis", "heal", None)], 0.5, "unknown"),
    ],
    ids=["any-ok", "none-ok", "above", "below", "empty", "only-nemesis"],
)
def test_availability_verdicts(rows: list, threshold: float | None, valid: Any) -> None:
    assert availability(h(*rows), min_ok_fraction=threshold)["valid"] == valid


def test_availability_rejects_a_bad_threshold() -> None:
    with pytest.raises(ValueError, match="min_ok_fraction"):
        availability([], min_ok_fraction=1.5)


def test_availability_phases_read_the_fault_kind_table() -> None:
    # A link fault breaks the network like a partition; a resume heals only a pause; a clock
    # skew is a fault until a clock reset's ok; a stop is healed by a restart.
    rows = [
        ("invoke", "nemesis", "link", {"faults": []}),
        ("ok", "nemesis", "link", {"faults": []}),
        *op(0, "read", None, []),  # faulted: network
        ("invoke", "nemesis", "resume", None),
        ("ok", "nemesis", "resume", None),
        *op(0, "read", None, []),  # still faulted: a resume does not heal the network
        ("invoke", "nemesis", "heal", None),
        ("ok", "nemesis", "heal", None),
        *op(0, "read", None, []),  # healthy
        ("invoke", "nemesis", "clock", {"offset_ms": 500}),
        ("ok", "nemesis", "clock", {"offset_ms": 500}),
        *op(0, "read", None, []),  # faulted: clock
        ("invoke", "nemesis", "clock", {"offset_ms": 0, "rate": 1}),
        ("ok", "nemesis", "clock", {"offset_ms": 0, "rate": 1}),
        *op(0, "read", None, []),  # healthy
        ("invoke", "nemesis", "stop", {"nodes": ["n2"]}),
        *op(0, "read", None, []),  # faulted from the stop's invocation
        ("ok", "nemesis", "stop", {"nodes": ["n2"]}),
        ("invoke", "nemesis", "restart", None),
        *op(0, "read", None, []),  # faulted until the restart's ok
        ("ok", "nemesis", "restart", None),
        *op(0, "read", None, []),  # healthy
    ]
    phases = availability(h(*rows))["by_phase"]
    assert (phases["faulted"]["count"], phases["healthy"]["count"]) == (5, 3)


def test_availability_headline_is_the_ok_fraction() -> None:
    res = availability(h(*op(0, "read", None, []), *op(1, "read", None, outcome="fail")))
    assert res["headline"] == ["ok_fraction"]
    assert brief(res) == "ok_fraction=0.5"
