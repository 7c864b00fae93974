"""The linearizability section: the failing key's timeline, the prefix, the unplaceable op."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from view_helpers import context, marks, svgs, words

from checker.formats import load
from checker.history import Op
from checker.linearizability import check
from checker.models import make
from checker.sections import FaultWindow
from checker.views import linearizability as view

S = 1_000_000_000
LOCAL = Path(__file__).resolve().parent / "data"
PORCUPINE = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "porcupine"


def timed(*events: tuple[Any, str, str, Any, float]) -> list[Op]:
    """A history from (process, type, f, value, time in seconds) tuples, in order."""
    return [
        Op(type=t, process=p, f=f, value=v, time=round(at * S), index=i)
        for i, (p, t, f, v, at) in enumerate(events)
    ]


# Key "k": write 1 [0, 1 s], write 2 [2, 3 s], then a read [4, 5 s] that returns 1: stale.
# Key "other" is fine and must not be drawn. Process 2's write 7 is indeterminate.
STALE = timed(
    (0, "invoke", "write", ["k", 1], 0.0), (0, "ok", "write", ["k", 1], 1.0),
    (3, "invoke", "write", ["other", 5], 1.5), (3, "ok", "write", ["other", 5], 1.6),
    (0, "invoke", "write", ["k", 2], 2.0), (0, "ok", "write", ["k", 2], 3.0),
    (2, "invoke", "write", ["k", 7], 2.5), (2, "info", "write", ["k", 7], 3.5),
    (1, "invoke", "read", ["k", None], 4.0), (1, "ok", "read", ["k", 1], 5.0),
)  # fmt: skip
READ_INDEX = 8
PARTITION = FaultWindow(3_800_000_000, 6 * S, "partition isolate n3")


def render(ops: list[Op], **kw: Any) -> tuple[dict[str, Any], str]:
    result = check(ops, make("kv"))
    return result, view.render(result, context(ops, **kw))


def test_the_failing_key_gets_one_lane_per_process_and_a_bar_per_operation() -> None:
    result, fragment = render(STALE)
    assert result["valid"] is False
    (svg,) = svgs(fragment)
    lanes = marks(svg, "rect", "lane")
    assert [lane.get("data-process") for lane in lanes] == ["0", "1", "2"]  # not process 3
    bars = {int(b.get("data-index")): b for b in marks(svg, "rect", "op")}
    assert sorted(bars) == [0, 4, 6, 8]  # key "other" (index 2) is not drawn
    assert [c for c in bars[6].get("class").split() if c in ("ok", "info")] == ["info"]
    # Geometry: the axis spans the drawn operations with 3% padding on each side.
    t0, t1 = 0.0, 5.0
    pad = (t1 - t0) * 0.03
    width = view.WIDTH_PX - view.LABEL_PX - view.RIGHT_PX

    def x(at: float) -> float:
        return view.LABEL_PX + (at - (t0 - pad)) / (t1 - t0 + 2 * pad) * width

    for index, (start, end) in {0: (0.0, 1.0), 4: (2.0, 3.0), 8: (4.0, 5.0)}.items():
        bar = bars[index]
        assert float(bar.get("x")) == pytest.approx(x(start), abs=0.11)
        assert float(bar.get("width")) == pytest.approx(x(end) - x(start), abs=0.2)
    lane_of = {lane.get("data-process"): float(lane.get("y")) for lane in lanes}
    assert float(bars[8].get("y")) > lane_of["1"]
    assert float(bars[8].get("y")) < lane_of["1"] + view.LANE_PX


def test_the_unplaceable_operation_is_marked_and_the_prefix_numbered() -> None:
    result, fragment = render(STALE)
    (svg,) = svgs(fragment)
    (unplaceable,) = marks(svg, "rect", "unplaceable")
    assert unplaceable.get("data-index") == str(READ_INDEX)
    (line,) = marks(svg, "line", "cannot-place")
    assert float(line.get("x1")) == pytest.approx(
        float(unplaceable.get("x")) + float(unplaceable.get("width")), abs=0.2
    )  # at the read's completion
    prefix = result["failure"]["longest_prefix"]
    points = marks(svg, "circle", "lin-point")
    assert [int(p.get("data-index")) for p in points] == [p["index"] for p in prefix]
    ys = [float(p.get("cy")) for p in points]
    xs = [float(p.get("cx")) for p in points]
    assert xs == sorted(xs)  # the linearization points move forward in time
    assert len(ys) == len(prefix)
    minimal = {int(b.get("data-index")) for b in marks(svg, "rect", "minimal")}
    assert minimal == {op["index"] for op in result["failure"]["minimal_ops"]} == {0, 4, 8}


def test_the_story_says_what_was_read_after_what_and_during_which_fault() -> None:
    _, fragment = render(STALE, faults=[PARTITION])
    text = words(fragment)
    assert "Not linearizable on key k." in text
    assert (
        "Key k: after write 2 by process 0 (ok at 3.000 s), read by process 1 (invoked at "
        "4.000 s, ok at 5.000 s) returned 1, but no linearization allows it: it needs the value "
        "to be 1"
    ) in text
    assert "What it needed could only come from write 1 by process 0" in text
    assert "It ran during partition isolate n3 (from 3.800 s to 6.000 s)." in text
    (svg,) = svgs(fragment)
    (band,) = marks(svg, "rect", "fault")
    assert float(band.get("x")) > float(marks(svg, "rect", "op")[0].get("x"))


def test_values_from_the_run_are_escaped() -> None:
    key = "<script>alert(1)</script>"
    written, read = "<img src=x onerror=alert(2)>", "<i id=x>"
    ops = timed(
        (0, "invoke", "write", [key, written], 0.0), (0, "ok", "write", [key, written], 1.0),
        (1, "invoke", "read", [key, None], 2.0), (1, "ok", "read", [key, read], 3.0),
    )  # fmt: skip
    _, fragment = render(ops)
    assert "<script>alert" not in fragment
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in fragment
    assert "<img" not in fragment and "<i id" not in fragment
    assert "returned <i id=x>" in words(fragment)  # readable once unescaped
    assert svgs(fragment)  # still well-formed


@pytest.mark.parametrize(
    ("path", "model", "expected"),
    [
        # Porcupine's etcd log: a cas register; the read of 2 near the end cannot be placed.
        (LOCAL / "etcd_000.log", "cas-register",
         ["Not linearizable on the cas-register.", "read by process 11 (invoked at position 84,",
          "returned 2, but no linearization allows it"]),
        # Porcupine's kv log with ten clients (from ../shared/data): key 0.
        (PORCUPINE / "kv" / "c10-bad.txt", "kv",
         ["Not linearizable on key 0.", "Key 0: after append x 7 6 y by process 7 (ok at "
          "position 140), get by process 8 (invoked at position 157, ok at position 158) "
          "returned x 9 0 yx 0 0 yx 8 0 y, but no linearization allows it"]),
        # Porcupine's kv log with one client: a get of key 7 misses the append before it.
        (LOCAL / "c01-bad.txt", "kv",
         ["Not linearizable on key 7.", "Key 7: after append x 0 3 y by process 0 (ok at "
          "position 55), get by process 0 (invoked at position 58, ok at position 59) returned "
          "x 0 0 y, but no linearization allows it"]),
    ],
)
def test_a_real_failing_history_names_its_key_and_operation(
    path: Path, model: str, expected: list[str]
) -> None:
    if not path.exists():
        pytest.skip(f"{path} is missing: the reference histories live in ../shared/data")
    loaded = load(path)
    assert loaded.default_model == model
    result = check(loaded.ops, make(model, loaded.default_init), semantics=loaded.semantics)
    assert result["valid"] is False
    fragment = view.render(result, context(loaded.ops))
    text = words(fragment)
    for phrase in expected:
        assert phrase in text
    op = result["failure"]["op"]
    assert f"process {op['process']}" in text
    (svg,) = svgs(fragment)
    (unplaceable,) = marks(svg, "rect", "unplaceable")
    assert unplaceable.get("data-index") == str(op["index"])
    assert "This history has no times: operations are drawn by their position." in text


def test_a_valid_result_is_one_line_and_an_unknown_one_says_why() -> None:
    ok_ops = STALE[:6]
    text = words(view.render(check(ok_ops, make("kv")), context(ok_ops)))
    assert text.startswith("Linearizable: each of the 3 operations on 2 key(s)")
    assert "configurations explored" in text
    unknown = {
        "checker": "linearizability", "valid": "unknown",
        "unknown": {"reason": "the time budget ran out before a verdict",
                    "keys_unfinished": {"k": {"stopped_by": "time", "returns_placed": 3,
                                              "returns_total": 9, "configs_explored": 100}}},
    }
    text = words(view.render(unknown, context()))
    assert "Linearizability is unknown: the time budget ran out before a verdict." in text
    assert "k 3 of 9 100 time" in text


def test_a_failure_without_an_explanation_still_renders() -> None:
    result = check(STALE, make("kv"), explain=False)  # the failure names no operation
    text = words(view.render(result, context(STALE)))
    assert text.startswith("Not linearizable on key k.")
    assert "did not explain it" in text
