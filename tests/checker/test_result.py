"""Three-valued results, their composition, and each checker's declared headline."""

from __future__ import annotations

import json

import pytest
from lin_helpers import history, inv, ok

from checker.linearizability import check
from checker.result import UNKNOWN, brief, compose, exit_code, merge_valid, result


def test_merge_is_false_over_unknown_over_true() -> None:
    assert merge_valid([True, UNKNOWN, False]) is False
    assert merge_valid([True, UNKNOWN]) == UNKNOWN
    assert merge_valid([True, True]) is True
    assert merge_valid([]) == UNKNOWN  # nothing judged
    with pytest.raises(ValueError, match="validity"):
        merge_valid([None])  # type: ignore[list-item]


def test_exit_codes() -> None:
    assert [exit_code(v) for v in (True, False, UNKNOWN)] == [0, 1, 3]


def test_a_result_carries_its_headline_as_json() -> None:
    res = result("x", False, headline=("lost_count", "reason"), lost_count=2, reason="")
    assert res["headline"] == ["lost_count", "reason"]
    assert json.loads(json.dumps(res)) == res
    assert brief(res) == "lost_count=2"  # empty and zero fields tell nothing
    assert result("x", True)["headline"] == []
    with pytest.raises(ValueError, match="headline"):
        result("x", True, headline="lost_count")  # a string is not a list of names
    with pytest.raises(ValueError, match="validity"):
        result("x", None)  # type: ignore[arg-type]


def test_brief_shows_only_the_declared_fields_in_order() -> None:
    res = result("x", False, headline=("b", "a", "missing"), a=1, b=[2], c=3)
    assert brief(res) == "b=[2] a=1"
    assert brief(compose({"x": res})) == ""  # a composed result has no headline of its own
    assert brief({"valid": True, "lost_count": 3}) == ""  # only what the checker declared


def test_brief_always_shows_why_a_result_is_unknown() -> None:
    res = result("set-full", UNKNOWN, headline=("lost_count",), lost_count=1, reason="no end")
    assert brief(res) == "lost_count=1 reason=no end"
    assert brief(result("faults", UNKNOWN, headline=("reason",), reason="x")) == "reason=x"


def test_linearizability_headline() -> None:
    h = history(inv(0, "write", ["k", 1]), ok(0, "write", ["k", 1]),
                inv(1, "read", ["k", None]), ok(1, "read", ["k", 2]))  # fmt: skip
    assert brief(check(h, "kv")) == "op_count=2 key_count=1 failed_keys=['k']"
    h[-1].value = ["k", 1]
    assert brief(check(h, "kv")) == "op_count=2 key_count=1"
