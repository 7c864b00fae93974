"""The election-safety section: a lane per node, its terms as leader, two-leader terms in red."""

from __future__ import annotations

from typing import Any

import pytest
from view_helpers import context, marks, svgs, words

from checker.elections import elections
from checker.sections import FaultWindow
from checker.views import elections as view

MS = 1_000_000


def role(at_ms: int, node: str, role: str, term: int) -> dict[str, Any]:
    return {"time": at_ms * MS, "node": node, "event": "raft_role", "role": role, "term": term,
            "leader": node if role == "leader" else None}


# n1 leads term 1 from 110 ms; n2, cut off, also becomes leader of term 1 at 130 ms; n3 logs
# term 2 at 500 ms (both are superseded) and leads it from 540 ms to the end (1000 ms).
SPLIT_BRAIN = [
    role(0, "n1", "follower", 0), role(0, "n2", "follower", 0), role(0, "n3", "follower", 0),
    role(100, "n1", "candidate", 1), role(110, "n1", "leader", 1), role(130, "n2", "leader", 1),
    role(500, "n3", "candidate", 2), role(540, "n3", "leader", 2),
]
PARTITION = FaultWindow(120 * MS, 450 * MS, "partition isolate n2")


def render(records: list[dict[str, Any]], **kw: Any) -> tuple[dict[str, Any], str]:
    result = elections(records, end_ns=1000 * MS)
    return result, view.render(result, context(faults=[PARTITION], end_ns=1000 * MS, **kw))


def test_two_leaders_of_one_term_are_named_in_words_and_red() -> None:
    result, fragment = render(SPLIT_BRAIN)
    assert result["valid"] is False
    text = words(fragment)
    assert ("n1 and n2 were both leader in term 1: n1 from 0.110 s to 0.500 s, n2 from 0.130 s "
            "to 0.500 s; the second was elected during partition isolate n2 (from 0.120 s to "
            "0.450 s).") in text
    assert text.startswith("Election safety violated: 1 term(s) with two leaders.")
    (svg,) = svgs(fragment)
    red = marks(svg, "rect", "two-leaders")
    assert sorted((r.get("data-node"), r.get("data-term")) for r in red) == [
        ("n1", "1"), ("n2", "1")]


def test_a_lane_per_node_a_bar_per_leadership_and_leaderless_time_shaded() -> None:
    result, fragment = render(SPLIT_BRAIN)
    (svg,) = svgs(fragment)
    lanes = [lane.get("data-node") for lane in marks(svg, "rect", "lane")]
    assert lanes == ["n1", "n2", "n3", "no leader"]
    width = view.WIDTH_PX - view.LABEL_PX - 10

    def x(at_ms: float) -> float:
        return view.LABEL_PX + at_ms / 1000 * width

    bars = {(b.get("data-node"), b.get("data-term")): b for b in marks(svg, "rect", "leader")}
    assert set(bars) == {("n1", "1"), ("n2", "1"), ("n3", "2")}
    n3 = bars[("n3", "2")]
    assert float(n3.get("x")) == pytest.approx(x(540), abs=0.1)
    assert float(n3.get("width")) == pytest.approx(x(1000) - x(540), abs=0.2)
    assert result["leaderless_intervals"] == [{"start_ms": 0.0, "end_ms": 110.0},
                                              {"start_ms": 500.0, "end_ms": 540.0}]
    shaded = marks(svg, "rect", "leaderless")
    assert [(round(float(r.get("x")), 1), round(float(r.get("width")), 1)) for r in shaded] == [
        (round(x(0), 1), round(x(110) - x(0), 1)), (round(x(500), 1), round(x(540) - x(500), 1))]
    assert len(marks(svg, "rect", "fault")) == 1


def test_a_safe_run_is_summarised_and_an_unjudged_one_says_why() -> None:
    safe = [r for r in SPLIT_BRAIN if not (r["node"] == "n2" and r["role"] == "leader")]
    result, fragment = render(safe)
    assert result["valid"] is True
    assert words(fragment).startswith("At most one leader per term: 2 election(s), terms up to 2")
    assert not marks(svgs(fragment)[0], "rect", "two-leaders")
    unknown, fragment = render([])
    assert unknown["valid"] == "unknown"
    assert words(fragment).startswith("Election safety is unknown: no well-formed raft_role")


def test_node_names_are_escaped() -> None:
    evil = "<script>alert(1)</script>"
    records = [role(10, evil, "leader", 1), role(20, "n2", "leader", 1)]
    _, fragment = render(records)
    assert "<script>alert" not in fragment
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in fragment
    assert f"{evil} and n2 were both leader in term 1" in words(fragment)
    assert len(svgs(fragment)) == 1
