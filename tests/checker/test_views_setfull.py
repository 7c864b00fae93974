"""The set-full section: each lost element, when and by whom acknowledged, who lacks it."""

from __future__ import annotations

from typing import Any

import pytest
from view_helpers import context, marks, svgs, words

from checker.history import Op
from checker.sections import FaultWindow
from checker.setfull import set_full
from checker.views import setfull as view

S = 1_000_000_000
PARTITION = FaultWindow(1_500_000_000, 3 * S, "partition n2 | n1 n3")


def broadcast_history(lost: Any = 2, *, lacking: tuple[str, ...] = ("n1", "n3")) -> list[Op]:
    """n1 takes 1, n2 takes `lost` during the partition: the final reads of the nodes in
    `lacking` lack it."""

    def final(node: str) -> list[Any]:
        return [1] if node in lacking else [1, lost]

    rows: list[tuple[str, Any, str, Any, float, str, bool]] = [
        ("invoke", 0, "broadcast", 1, 0.9, "n1", False),
        ("ok", 0, "broadcast", 1, 1.0, "n1", False),
        ("invoke", 1, "broadcast", lost, 1.9, "n2", False),
        ("ok", 1, "broadcast", lost, 2.0, "n2", False),
        ("invoke", 5, "read", None, 10.0, "n1", True),
        ("ok", 5, "read", final("n1"), 10.05, "n1", True),
        ("invoke", 6, "read", None, 10.1, "n2", True),
        ("ok", 6, "read", final("n2"), 10.15, "n2", True),
        ("invoke", 7, "read", None, 10.2, "n3", True),
        ("ok", 7, "read", final("n3"), 10.25, "n3", True),
    ]  # fmt: skip
    return [
        Op(t, p, f, v, time=round(at * S), index=i, node=node,
           extra={"final": True} if final else {})
        for i, (t, p, f, v, at, node, final) in enumerate(rows)
    ]


def render(ops: list[Op]) -> tuple[dict[str, Any], str]:
    result = set_full(ops, add_f="broadcast")
    return result, view.render(result, context(ops, faults=[PARTITION]))


def test_each_lost_element_is_a_row_saying_when_where_and_who_lacks_it() -> None:
    result, fragment = render(broadcast_history())
    assert result["valid"] is False
    assert result["lost"] == [2]
    rows = [words(r) for r in fragment.split('<tr class="lost"')[1:]]
    assert len(rows) == 1
    assert rows[0].startswith(
        'data-element="2"> 2 2.000 s ok broadcast n2 1 partition n2 | n1 n3 '
        "n1 (10.000 s), n3 (10.200 s) n2 at 10.100 s (final)"
    )
    text = words(fragment)
    assert "1 lost of 2 known elements, judged by 3 reads (3 final)" in text
    assert ("1 element(s) [2] acknowledged at 2.000 s by n2 (1 of them during partition n2 | "
            "n1 n3) are missing from the final reads of n1 and n3.") in text


def test_the_timeline_marks_the_acknowledgement_and_the_final_reads() -> None:
    _, fragment = render(broadcast_history())
    (svg,) = svgs(fragment)
    lanes = marks(svg, "rect", "lane")
    assert [lane.get("data-node") for lane in lanes] == ["n1", "n2", "n3"]
    (tick,) = marks(svg, "line", "ack")
    assert tick.get("data-element") == "2"
    width = view.WIDTH_PX - view.LABEL_PX - 10
    end_s = 10.25  # the last operation
    assert float(tick.get("x1")) == pytest.approx(view.LABEL_PX + 2.0 / end_s * width, abs=0.1)
    n2 = next(lane for lane in lanes if lane.get("data-node") == "n2")
    assert float(n2.get("y")) < float(tick.get("y1")) < float(tick.get("y2")) < float(
        n2.get("y")
    ) + view.LANE_PX
    finals = marks(svg, "rect", "final-read")
    assert sorted(f.get("data-node") for f in finals) == ["n1", "n2", "n3"]
    assert sorted(f.get("data-node") for f in marks(svg, "rect", "lacking")) == ["n1", "n3"]
    (band,) = marks(svg, "rect", "fault")
    assert float(band.get("x")) == pytest.approx(view.LABEL_PX + 1.5 / end_s * width, abs=0.1)


def test_elements_from_the_run_are_escaped() -> None:
    element = "<script>alert(1)</script>"
    _, fragment = render(broadcast_history(lost=element))
    assert "<script>alert" not in fragment
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in fragment
    assert element in words(fragment)
    assert len(svgs(fragment)) == 1


def test_valid_unknown_and_other_categories_read_as_words() -> None:
    healed = broadcast_history(lacking=())
    result = set_full(healed, add_f="broadcast")
    assert result["valid"] is True
    text = words(view.render(result, context(healed)))
    assert text.startswith("Every one of the 2 known elements was read stably: 2 stable")
    unknown = set_full(healed[:4], add_f="broadcast")
    assert unknown["valid"] == "unknown"
    assert "set-full is unknown: no read succeeded." in words(view.render(unknown, context()))
    odd = {"checker": "set-full", "valid": False, "lost": [3, 4], "lost_count": 7,
           "stale": ["a"], "stale_count": 1, "never_read": [9], "never_read_count": 1}
    text = words(view.render(odd, context()))
    assert "Lost: 7: 3, 4, ... (7 in all)" in text  # an older result: elements only
    assert "Stale (allowed: read late at first, then stably): 1: a" in text
    assert "Never read (known, but no read could have seen it): 1: 9" in text
