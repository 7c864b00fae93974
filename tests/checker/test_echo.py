"""Echo equality: an ok echo returns what was sent; nothing to judge is unknown."""

from __future__ import annotations

from typing import Any

import pytest
from rows import h, op

from checker.echo import echo_equality
from checker.result import brief


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


def test_echo_headline_is_the_mismatch_count() -> None:
    res = echo_equality(h(*op(0, "echo", "a", "a"), *op(1, "echo", "b", "B")))
    assert res["headline"] == ["mismatched_count"]
    assert brief(res) == "mismatched_count=1"
    assert brief(echo_equality(h(*op(0, "echo", "a", "a")))) == ""  # zero tells nothing
