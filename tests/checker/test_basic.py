"""The small checkers: each accepts a good history, rejects a bad one, and has nothing-to-judge
as unknown. Histories are literal rows `(type, process, f, value[, extra])`."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checker.basic import (
    MALFORMED_REPLY,
    availability,
    echo_equality,
    faults_effective,
    final_reads,
    unique_ids,
    well_formed_replies,
)
from checker.history import Op

NODES = ["n1", "n2", "n3"]


def h(*rows: tuple[Any, ...]) -> list[Op]:
    ops = []
    for i, row in enumerate(rows):
        type_, process, f, value, *rest = row
        kw: dict[str, Any] = dict(rest[0]) if rest else {}
        node = kw.pop("node", None)
        error = kw.pop("error", None)
        ops.append(Op(type_, process, f, value, time=i, index=i, node=node, error=error, extra=kw))
    return ops


def op(p: Any, f: str, value: Any, result: Any = None, outcome: str = "ok", **kw: Any) -> list:
    extra = {k: v for k, v in kw.items() if k != "error"}
    done = dict(kw)
    return [("invoke", p, f, value, extra), (outcome, p, f, result, done)]


# -- echo -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "valid", "mismatched"),
    [
        (op(0, "echo", "a", "a") + op(1, "echo", "b", "b"), True, 0),
        (op(0, "echo", "a", "a") + op(1, "echo", "b", "B"), False, 1),
        (op(0, "echo", "a", None), False, 1),  # an ok echo_ok that lost its payload
        (op(0, "echo", "a", outcome="info") + op(1, "echo", "b", outcome="fail"), "unknown", 0),
        ([], "unknown", 0),
    ],
    ids=["equal", "mismatch", "empty-echo", "none-ok", "empty"],
)
def test_echo_equality(rows: list, valid: Any, mismatched: int) -> None:
    res = echo_equality(h(*rows))
    assert res["checker"] == "echo"
    assert res["valid"] == valid
    assert res["mismatched_count"] == mismatched


def test_echo_mismatch_names_what_was_sent_and_received() -> None:
    res = echo_equality(h(*op(0, "echo", "hello", "hellp")))
    assert res["mismatched"] == [{"index": 1, "sent": "hello", "received": "hellp"}]


# -- unique-ids -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "valid", "duplicated"),
    [
        (op(0, "generate", None, 1) + op(1, "generate", None, 2), True, 0),
        (op(0, "generate", None, "n1-1") + op(1, "generate", None, "n2-1"), True, 0),
        (op(0, "generate", None, 5) + op(1, "generate", None, 5), False, 1),
        (op(0, "generate", None, [1, "a"]) + op(1, "generate", None, [1, "a"]), False, 1),
        # An info generate may have handed the id out, but nobody saw it: nothing to compare.
        (op(0, "generate", None, 5) + op(1, "generate", None, 5, outcome="info"), True, 0),
        (op(0, "generate", None, outcome="info"), "unknown", 0),
        ([], "unknown", 0),
    ],
    ids=["ints", "strings", "duplicate", "duplicate-lists", "info-ignored", "none-ok", "empty"],
)
def test_unique_ids(rows: list, valid: Any, duplicated: int) -> None:
    res = unique_ids(h(*rows))
    assert res["checker"] == "unique-ids"
    assert res["valid"] == valid
    assert res["duplicated_count"] == duplicated


def test_unique_ids_reports_the_duplicate_and_the_range() -> None:
    rows = op(0, "generate", None, 3) + op(1, "generate", None, 9) + op(2, "generate", None, 3)
    res = unique_ids(h(*rows))
    assert res["duplicated"] == [{"id": 3, "count": 2, "indices": [1, 5]}]
    assert res["range"] == [3, 9]
    assert (res["attempted_count"], res["acknowledged_count"]) == (3, 3)


@given(st.lists(st.integers(), max_size=30))
def test_unique_ids_is_valid_exactly_when_the_ids_are_distinct(ids: list[int]) -> None:
    rows = [row for i, v in enumerate(ids) for row in op(i, "generate", None, v)]
    res = unique_ids(h(*rows))
    if not ids:
        assert res["valid"] == "unknown"
    else:
        assert res["valid"] is (len(set(ids)) == len(ids))


# -- availability -----------------------------------------------------------------------------


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


# -- final reads ------------------------------------------------------------------------------


def final(p: int, node: str, outcome: str = "ok") -> list:
    return op(p, "read", None, [1] if outcome == "ok" else None, outcome, final=True, node=node)


@pytest.mark.parametrize(
    ("rows", "valid", "missing"),
    [
        (final(0, "n1") + final(1, "n2") + final(2, "n3"), True, []),
        (final(0, "n1") + final(1, "n2", "fail") + final(2, "n2") + final(3, "n3"), True, []),
        (final(0, "n1") + final(1, "n2", "fail") + final(2, "n3"), False, ["n2"]),
        (final(0, "n1") + final(1, "n2"), False, ["n3"]),
        (op(0, "read", None, [1], node="n1"), "unknown", ["n1", "n2", "n3"]),
    ],
    ids=["all", "retried", "one-failed", "one-missing", "no-final-reads"],
)
def test_final_reads(rows: list, valid: Any, missing: list[str]) -> None:
    res = final_reads(h(*rows), node_ids=NODES)
    assert res["valid"] == valid
    assert res["nodes_missing"] == missing


# -- well-formed replies ----------------------------------------------------------------------


def test_well_formed_replies() -> None:
    good = h(*op(0, "echo", "a", "a"), *op(1, "read", None, outcome="fail", error={"code": 11}))
    assert well_formed_replies(good)["valid"] is True
    bad_error = f"{MALFORMED_REPLY}: echo_ok lacks the field 'echo'"
    bad = h(*op(0, "echo", "a", "a"), *op(1, "echo", "b", outcome="info", error=bad_error))
    res = well_formed_replies(bad)
    assert res["valid"] is False
    assert res["malformed"] == [{"index": 3, "f": "echo", "node": None, "error": bad_error}]
    assert well_formed_replies(h(("invoke", 0, "echo", "a")))["valid"] == "unknown"
    assert well_formed_replies([])["valid"] == "unknown"


# -- faults_effective: the guard against a vacuous run -------------------------------------------


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
