"""The report sections of checker/views register themselves, and take any result."""

from __future__ import annotations

from typing import Any

from view_helpers import context

from checker.sections import discover, renderer_for


def test_discover_registers_every_view() -> None:
    discover()
    from checker.views import elections, linearizability, setfull

    assert renderer_for("linearizability") is linearizability.render
    assert renderer_for("set-full") is setfull.render
    assert renderer_for("election-safety") is elections.render


def test_every_view_takes_any_result_without_raising() -> None:
    discover()
    junk: list[dict[str, Any]] = [
        {},
        {"valid": "unknown"},
        {"valid": True},
        {"valid": False},
        {"valid": False, "failure": "junk", "failed_keys": "x", "lost_details": [1, None],
         "elections": [None, {"at_ms": "soon"}], "two_leader_terms": [{"leaders": "n1"}],
         "leaderless_intervals": [{"start_ms": None}], "final_reads": [3]},
        {"valid": False, "failure": {"key": 1, "op": {"index": 3, "f": "read"}}},
    ]
    for name in ("linearizability", "set-full", "election-safety"):
        render = renderer_for(name)
        assert render is not None
        for result in junk:
            fragment = render({**result, "checker": name}, context())
            assert fragment.startswith("<div"), (name, result)
