"""Well-formed replies: a reply that broke the protocol makes the run invalid."""

from __future__ import annotations

from rows import h, op

from checker.replies import MALFORMED_REPLY, well_formed_replies
from checker.result import brief


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


def test_replies_headline_is_the_malformed_count() -> None:
    bad = h(*op(1, "echo", "b", outcome="info", error=f"{MALFORMED_REPLY}: no echo"))
    assert brief(well_formed_replies(bad)) == "malformed_count=1"
