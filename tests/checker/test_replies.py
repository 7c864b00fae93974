"""Well-formed replies: a reply that broke the protocol makes the run invalid, naming the node.

Golden histories, good and bad, as literal rows. The bad replies are the ones the workloads
record: a wrong type or a missing field from any node, and a stdio program's line that was not
a message at all, which its adapter reported in the reply's place (the error then names the
node, its stdout line and the line).
"""

from __future__ import annotations

from typing import Any

import pytest
from rows import h, op

from checker.history import Op
from checker.replies import MALFORMED_REPLY, NOT_JUDGED, well_formed_replies
from checker.result import brief

NOT_JSON = (
    f"{MALFORMED_REPLY}: n2 wrote stdout line 7, not a message (not JSON: Expecting value: line "
    "1 column 1 (char 0)): 'echo_ok a (oops, not JSON)'"
)
A_LIST = (
    f"{MALFORMED_REPLY}: n3 wrote stdout line 9, not a message (a message must be a JSON "
    "object, not list): '[\"echo_ok\", \"b\"]'"
)
WRONG_FIELD = f"{MALFORMED_REPLY}: echo_ok lacks the field 'echo'"

GOLDEN: dict[str, tuple[list[Op], Any, dict[str, int]]] = {
    "ok replies and errors": (
        h(
            *op(0, "echo", "a", "a", node="n1"),
            *op(1, "read", None, outcome="fail", error={"code": 11}, node="n2"),
            *op(2, "echo", "b", outcome="info", error="timeout", node="n3"),
        ),
        True,
        {},
    ),
    "a native node's reply without its field": (
        h(
            *op(0, "echo", "a", "a", node="n1"),
            *op(1, "echo", "b", outcome="info", error=WRONG_FIELD, node="n1"),
        ),
        False,
        {"n1": 1},
    ),
    "a stdio program's lines that are not messages": (
        h(
            *op(0, "echo", "a", outcome="info", error=NOT_JSON, node="n2"),
            *op(1, "echo", "c", "c", node="n2"),
            ("invoke", "nemesis", "partition", None),
            *op(2, "read", None, outcome="fail", error=A_LIST, node="n3"),
            ("info", "nemesis", "partition", None),
            *op(3, "echo", "d", outcome="info", error=NOT_JSON, node="n2"),
        ),
        False,
        {"n2": 2, "n3": 1},
    ),
    "nothing completed": (h(("invoke", 0, "echo", "a")), "unknown", {}),
    "empty": ([], "unknown", {}),
}


@pytest.mark.parametrize("name", GOLDEN)
def test_golden_histories(name: str) -> None:
    history, valid, by_node = GOLDEN[name]
    res = well_formed_replies(history)
    assert res["valid"] == valid
    assert res["malformed_count"] == sum(by_node.values())
    assert (res["malformed_by_node"] or {}) == by_node
    assert res["not_judged"] == NOT_JUDGED  # unmatched replies: reported, said so


def test_each_malformed_reply_is_listed_with_its_node_and_line() -> None:
    history, _, _ = GOLDEN["a stdio program's lines that are not messages"]
    res = well_formed_replies(history)
    assert res["malformed"][:2] == [
        {"index": 1, "f": "echo", "node": "n2", "error": NOT_JSON},
        {"index": 6, "f": "read", "node": "n3", "error": A_LIST},
    ]
    assert res["first_malformed"] == f"operation 1 on n2: {NOT_JSON}"
    assert "unmatched" in res["not_judged"] and "not judged" in res["not_judged"]


def test_the_headline_names_the_count_the_nodes_and_the_first_line() -> None:
    history, _, _ = GOLDEN["a stdio program's lines that are not messages"]
    assert brief(well_formed_replies(history)) == (
        "malformed_count=3 malformed_by_node={'n2': 2, 'n3': 1} "
        f"first_malformed=operation 1 on n2: {NOT_JSON}"
    )
    good, _, _ = GOLDEN["ok replies and errors"]
    assert brief(well_formed_replies(good)) == ""  # nothing to say about a valid result


def test_a_long_first_line_is_cut_in_the_headline() -> None:
    error = f"{MALFORMED_REPLY}: n1 wrote stdout line 1, not a message (...): '{'x' * 500}'"
    res = well_formed_replies(h(*op(0, "echo", "a", outcome="info", error=error, node="n1")))
    assert res["first_malformed"].endswith("...")
    assert len(res["first_malformed"]) < 300
    assert res["malformed"][0]["error"] == error  # the list keeps it whole
