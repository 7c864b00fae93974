"""The counter checker: golden histories, good and bad, and properties of simulated counters.

Rows are `tests/checker/rows.py`'s: `op(process, f, value, result, outcome, **extra)` is one
operation's invocation and completion, one position each, in the order written.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rows import h, op

from checker.counter import RANGES_MAX, counter
from checker.history import HistoryError, Op
from checker.result import brief


def add(p: Any, delta: int, outcome: str = "ok", **kw: Any) -> list:
    return op(p, "add", delta, delta, outcome, **kw)


def read(p: Any, value: Any, *, final: bool = False, node: str | None = None) -> list:
    kw: dict[str, Any] = {"final": True} if final else {}
    if node is not None:
        kw["node"] = node
    return op(p, "read", None, value, **kw)


def test_reads_between_the_bounds_are_valid() -> None:
    res = counter(h(*add(0, 1), *read(1, 1), *add(0, 2), *read(1, 3)))
    assert res["valid"] is True
    assert res["read_count"] == 2
    assert res["violation_count"] == 0


def test_a_read_above_every_add_that_might_have_happened_is_invalid() -> None:
    res = counter(h(*add(0, 1), *read(1, 5)))
    assert res["valid"] is False
    (v,) = res["violations"]
    assert (v["value"], v["lower"], v["upper"]) == (5, 1, 1)
    assert "above the upper bound 1" in res["first_violation"]
    assert "violation_count=1" in brief(res)


def test_a_read_that_misses_an_acknowledged_add_is_invalid() -> None:
    res = counter(h(*add(0, 3), *read(1, 0)))
    assert res["valid"] is False
    assert res["violations"][0]["lower"] == 3
    assert "below the lower bound 3" in res["first_violation"]


def test_eventual_mode_lets_reads_before_the_final_ones_miss_acknowledged_adds() -> None:
    stale = h(*add(0, 3), *read(1, 0), *read(2, 3, final=True))
    assert counter(stale, eventual=True)["valid"] is True
    assert counter(stale)["valid"] is False
    lost = h(*add(0, 3), *read(1, 3), *read(2, 0, final=True))
    res = counter(lost, eventual=True)
    assert res["valid"] is False
    assert res["violations"][0]["final"] is True
    too_many = h(*add(0, 3), *read(1, 4))
    assert counter(too_many, eventual=True)["valid"] is False


def test_a_concurrent_add_may_or_may_not_be_seen() -> None:
    for seen in (0, 2):
        rows = [("invoke", 0, "add", 2), *read(1, seen), ("ok", 0, "add", 2)]
        assert counter(h(*rows))["valid"] is True


def test_an_info_add_may_have_happened_and_a_failed_one_did_not() -> None:
    assert counter(h(*add(0, 2, "info"), *read(1, 2)))["valid"] is True
    assert counter(h(*add(0, 2, "info"), *read(1, 0)))["valid"] is True
    res = counter(h(*add(0, 2, "fail"), *read(1, 2)))
    assert res["valid"] is False
    assert res["violations"][0]["upper"] == 0


def test_a_never_completed_add_stays_possible() -> None:
    rows = [("invoke", 0, "add", 4), *read(1, 4), *read(1, 0)]
    assert counter(h(*rows))["valid"] is True


def test_decrements_are_counted_the_other_way() -> None:
    # +5 ok, -2 ok, -3 info: a read afterwards lies in [5 - 2 - 3, 5 - 2] = [0, 3] (not a final
    # read, so Maelstrom's acceptable set {0, 3} does not apply).
    rows = [*add(0, 5), *add(0, -2), *add(0, -3, "info")]
    for value, ok in ((3, True), (0, True), (1, True), (4, False), (-1, False)):
        assert counter(h(*rows, *read(1, value)))["valid"] is ok, value
    res = counter(h(*rows, *read(1, 4)))
    assert (res["violations"][0]["lower"], res["violations"][0]["upper"]) == (0, 3)


def test_final_reads_must_be_a_sum_of_acks_and_a_subset_of_the_indefinite() -> None:
    rows = [*add(0, 1), *add(1, 10, "info"), *add(2, 10, "info")]
    for value in (1, 11, 21):
        res = counter(h(*rows, *read(3, value, final=True)))
        assert res["valid"] is True, value
        assert res["acceptable"] == [[1, 1], [11, 11], [21, 21]]
    res = counter(h(*rows, *read(3, 6, final=True)))
    assert res["final_window"] == [1, 21]
    assert res["valid"] is False
    assert "outside the acceptable ranges" in res["first_violation"]


def test_final_reads_must_agree() -> None:
    rows = [*add(0, 1), *add(1, 10, "info")]
    agree = h(*rows, *read(2, 11, final=True, node="n1"), *read(3, 11, final=True, node="n2"))
    assert counter(agree)["agreement"] == "agree"
    assert counter(agree)["valid"] is True
    split = h(*rows, *read(2, 1, final=True, node="n1"), *read(3, 11, final=True, node="n2"),
              *read(4, 11, final=True, node="n3"))
    res = counter(split)
    assert res["valid"] is False
    assert res["agreement"] == "disagree"
    assert res["disagreeing_final_reads"] == 1
    assert res["final_values"] == [1, 11]
    assert [r["node"] for r in res["final_reads"]] == ["n1", "n2", "n3"]


def test_agreement_is_not_judged_when_adds_ran_during_the_final_reads() -> None:
    rows = [*read(2, 0, final=True), *add(0, 1), *read(3, 1, final=True)]
    res = counter(h(*rows))
    assert res["valid"] is True
    assert res["agreement"].startswith("not judged: 1 add(s) ran during")


def test_jepsen_final_marker_is_understood() -> None:
    ops = h(*add(0, 2), ("invoke", 1, "read", None, {"final?": True}), ("ok", 1, "read", 3))
    res = counter(ops)
    assert res["final_read_count"] == 1
    assert res["valid"] is False


def test_nothing_to_judge_is_unknown() -> None:
    assert counter([])["valid"] == "unknown"
    res = counter(h(*add(0, 1), *add(0, 2)))
    assert res["valid"] == "unknown"
    assert res["reason"].startswith("nothing to judge")
    assert counter(h(*op(1, "read", None, None, "fail")))["valid"] == "unknown"


def test_a_read_that_is_not_an_integer_is_invalid() -> None:
    res = counter(h(*read(1, "7")))
    assert res["valid"] is False
    assert "not an integer" in res["first_violation"]


def test_a_history_no_client_could_record_is_refused() -> None:
    with pytest.raises(HistoryError, match="invoked again"):
        counter(h(("invoke", 0, "add", 1), ("invoke", 0, "add", 1)))
    with pytest.raises(HistoryError, match="must be an integer delta"):
        counter(h(*add(0, "x")))  # type: ignore[arg-type]


def test_violations_are_bounded_and_counts_exact() -> None:
    rows = [r for _ in range(50) for r in read(1, 9)]
    res = counter(h(*rows))
    assert res["violation_count"] == 50
    assert len(res["violations"]) == 20


def test_acceptable_ranges_widen_to_their_hull_past_the_limit() -> None:
    # Powers of two make every subset sum distinct: 2^11 sums, each its own range.
    rows = [r for i in range(11) for r in add(i, 2 ** (i + 1), "info")]
    res = counter(h(*rows, *read(99, 2, final=True)))
    assert RANGES_MAX < 2**11
    assert res["acceptable_exact"] is False
    assert res["acceptable_range_count"] <= 2  # the hull, shifted once more at most
    assert res["valid"] is True  # inside the hull: sound, if no longer exact


def test_nemesis_operations_are_ignored() -> None:
    rows = [("invoke", "nemesis", "partition", None), *add(0, 1),
            ("info", "nemesis", "partition", None), *read(1, 1)]
    assert counter(h(*rows))["valid"] is True


# -- properties ---------------------------------------------------------------------------------

@st.composite
def simulated(draw: st.DrawFn, *, negative: bool, indefinite: bool) -> tuple[list[Op], int]:
    """A linearizable counter's history: each operation takes effect at one instant between its
    invocation and its completion (an `info` add perhaps never; a `fail` one never), and a final
    read per node at the end. Returns the history and the counter's final value."""
    processes = draw(st.integers(1, 4))
    outcomes = ["ok", "fail", "info"] if indefinite else ["ok", "fail"]
    deltas = st.integers(-5, 5) if negative else st.integers(0, 5)
    plans = [draw(st.lists(st.one_of(st.tuples(st.just("read"), st.none()),
                                      st.tuples(st.just("add"), deltas)), max_size=8))
             for _ in range(processes)]
    rows: list[tuple[Any, ...]] = []
    state = 0
    phase = [0] * processes  # 0 invoke, 1 take effect, 2 complete, per current operation
    current = [0] * processes
    pending: dict[int, tuple[str, Any]] = {}
    while True:
        live = [p for p in range(processes) if current[p] < len(plans[p])]
        if not live:
            break
        p = draw(st.sampled_from(live))
        f, arg = plans[p][current[p]]
        if phase[p] == 0:
            rows.append(("invoke", p, f, arg))
            outcome = "ok" if f == "read" else draw(st.sampled_from(outcomes))
            pending[p] = (outcome, None)
        elif phase[p] == 1:
            outcome, _ = pending[p]
            if f == "read":
                pending[p] = (outcome, state)
            elif outcome == "ok" or (outcome == "info" and draw(st.booleans())):
                state += arg
        else:
            outcome, seen = pending.pop(p)
            rows.append((outcome, p, f, seen if f == "read" else arg))
            current[p] += 1
        phase[p] = (phase[p] + 1) % 3
    for n in range(3):
        rows += [("invoke", 100 + n, "read", None, {"final": True, "node": f"n{n + 1}"}),
                 ("ok", 100 + n, "read", state, {"final": True, "node": f"n{n + 1}"})]
    return h(*rows), state


@settings(max_examples=150, deadline=None)
@given(sim=simulated(negative=True, indefinite=True))
def test_a_linearizable_counter_is_always_valid(sim: tuple[list[Op], int]) -> None:
    history, _ = sim
    res = counter(history)
    assert res["valid"] is True, res["violations"]
    assert counter(history, eventual=True)["valid"] is True


@settings(max_examples=150, deadline=None)
@given(sim=simulated(negative=True, indefinite=False), data=st.data())
def test_final_reads_off_by_anything_are_caught_without_indefinite_adds(
    sim: tuple[list[Op], int], data: st.DataObject
) -> None:
    history, state = sim
    wrong = state + data.draw(st.integers(-20, 20).filter(bool))
    for op_ in history[-6:]:
        if op_.type == "ok":
            op_.value = wrong
    res = counter(history, eventual=True)
    assert res["valid"] is False
    assert res["violation_count"] >= 3


@settings(max_examples=100, deadline=None)
@given(sim=simulated(negative=False, indefinite=True), data=st.data())
def test_one_node_missing_an_update_breaks_agreement(
    sim: tuple[list[Op], int], data: st.DataObject
) -> None:
    history, state = sim
    history[-1].value = state + data.draw(st.integers(1, 5))
    res = counter(history, eventual=True)
    assert res["valid"] is False
