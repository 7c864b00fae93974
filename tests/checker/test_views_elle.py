"""The Elle section (checker/views/elle.py): a cycle drawn as a ring of transactions with
labelled edges and explained in words, from a real list-append result; bounded and escaped."""

from __future__ import annotations

from typing import Any

from checker.elle import list_append
from checker.history import Op
from checker.sections import discover, renderer_for
from checker.views.elle import CYCLES_MAX, RING_MAX, render_elle
from tests.checker.view_helpers import context, marks, svgs, words


def txn(index: int, process: int, typ: str, value: list[list[Any]], time: int) -> Op:
    return Op(index=index, time=time, type=typ, process=process, f="txn", value=value)


def g_single_history() -> list[Op]:
    """T1 appends 1 to x and 1 to y; T2 reads x=[1] and y=nil: it saw half of T1 (G-single)."""
    return [
        txn(0, 0, "invoke", [["append", "x", 1], ["append", "y", 1]], 1),
        txn(1, 1, "invoke", [["r", "x", None], ["r", "y", None]], 2),
        txn(2, 0, "ok", [["append", "x", 1], ["append", "y", 1]], 3),
        txn(3, 1, "ok", [["r", "x", [1]], ["r", "y", None]], 4),
        txn(4, 2, "invoke", [["r", "y", None]], 5),
        txn(5, 2, "ok", [["r", "y", [1]]], 6),
    ]


def test_both_elle_checkers_have_this_section() -> None:
    discover()
    assert renderer_for("list-append") is render_elle
    assert renderer_for("rw-register") is render_elle


def test_a_cycle_is_a_ring_with_labelled_edges_and_the_explanation() -> None:
    result = list_append.check(g_single_history())
    assert result["valid"] is False
    fragment = render_elle(result, context())
    [ring] = svgs(fragment)
    assert len(marks(ring, "circle")) == 2
    edges = marks(ring, "path", "edge")
    labels = sorted(e.get("class", "").split()[1] for e in edges)
    assert labels == ["edge-rw", "edge-wr"]
    text = words(fragment)
    assert "G-single" in text
    assert "T1 < T2, because" in text and "a contradiction" in text


def test_values_from_the_run_are_escaped() -> None:
    result = {"checker": "list-append", "valid": False, "anomaly_counts": {"G0": 1},
              "anomalies": {"G0": [{
                  "cycle": [{"index": "<b>", "process": 0, "type": "ok", "value": "<x>"},
                            {"index": 2, "process": 1, "type": "ok", "value": []},
                            {"index": "<b>", "process": 0, "type": "ok", "value": "<x>"}],
                  "steps": [{"type": "ww<script>"}, {"type": "ww"}],
                  "explanation": "<script>alert(1)</script>"}]}}
    fragment = render_elle(result, context())
    assert "<script>" not in fragment
    assert "&lt;script&gt;" in fragment
    svgs(fragment)  # still well-formed


def test_cycles_and_rings_are_bounded() -> None:
    long_cycle = [{"index": i, "process": i, "type": "ok", "value": []} for i in range(30)]
    case = {"cycle": [*long_cycle, long_cycle[0]], "steps": [{"type": "ww"}] * 30,
            "explanation": "..."}
    result = {"checker": "list-append", "valid": False, "anomaly_counts": {"G0": 20},
              "anomalies": {"G0": [case] * 20}}
    fragment = render_elle(result, context())
    rings = svgs(fragment)
    assert len(rings) == CYCLES_MAX
    assert all(len(marks(r, "circle")) == RING_MAX for r in rings)
    assert f"the first {RING_MAX} drawn" in words(fragment)


def test_a_valid_result_says_so_and_other_anomalies_are_listed() -> None:
    valid = render_elle({"checker": "rw-register", "valid": True,
                         "consistency_models": ["serializable"]}, context())
    assert "No anomaly" in words(valid) and "serializable" in words(valid)
    g1a = render_elle({"checker": "list-append", "valid": False, "anomaly_counts": {"G1a": 1},
                       "anomalies": {"G1a": [{"text": "G1a: op 3 read an aborted append"}]}},
                      context())
    assert "op 3 read an aborted append" in words(g1a)
    assert not svgs(g1a)
