"""The OR-set checker: golden histories, good and bad, and properties of a simulated OR-set.

Rows are `tests/checker/rows.py`'s. The property runs a plain model of replicas (each a set of
live tags, merged by union with tombstones) under random gossip, so every history it makes is
one a correct OR-set could produce; the same run with a remove that deletes adds it never saw
is caught whenever that remove destroyed an acknowledged add that no remove could have seen.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rows import h, op

from checker.history import HistoryError, Op
from checker.orset import or_set


def add(p: Any, e: Any, outcome: str = "ok", **kw: Any) -> list:
    return op(p, "add", e, e, outcome, **kw)


def remove(p: Any, e: Any, outcome: str = "ok", **kw: Any) -> list:
    return op(p, "remove", e, e, outcome, **kw)


def read(p: Any, value: list[Any], *, final: bool = False, node: str | None = None) -> list:
    kw: dict[str, Any] = {"final": True} if final else {}
    if node is not None:
        kw["node"] = node
    return op(p, "read", None, value, **kw)


def finals(*values: list[Any]) -> list:
    rows: list = []
    for i, value in enumerate(values):
        rows += read(100 + i, value, final=True, node=f"n{i + 1}")
    return rows


def test_adds_and_observed_removes_converge() -> None:
    rows = [*add(0, 1), *add(0, 2), *remove(1, 1), *read(2, [2]), *finals([2], [2], [2])]
    res = or_set(h(*rows))
    assert res["valid"] is True
    assert res["convergence"] == "agree"
    assert res["lost_count"] == 0


def test_an_acknowledged_add_no_remove_could_have_seen_is_lost() -> None:
    # The remove completed before the add was invoked: it cannot have observed it.
    rows = [*add(0, 1), *remove(1, 1), *add(0, 1, node="n1"), *finals([], [])]
    res = or_set(h(*rows))
    assert res["valid"] is False
    assert res["lost_count"] == 1
    (lost,) = res["lost"]
    assert lost["add_index"] == 4
    assert lost["latest_remove_index"] == 2  # indexes are of invocations
    assert [m["node"] for m in lost["missing_from_final"]] == ["n1", "n2"]
    assert "completed before the add was invoked" in res["first_lost"]


def test_an_add_never_removed_and_missing_from_one_final_read_is_lost() -> None:
    res = or_set(h(*add(0, "x"), *finals(["x"], [], ["x"])))
    assert res["valid"] is False
    assert res["lost_count"] == 1
    assert res["convergence"] == "disagree"
    assert res["divergent_final_reads"] == 1
    assert "no remove of it took effect" in res["first_lost"]


def test_a_remove_concurrent_with_the_add_may_have_observed_it() -> None:
    rows = [("invoke", 0, "add", 1), *remove(1, 1), ("ok", 0, "add", 1), *finals([], [])]
    assert or_set(h(*rows))["valid"] is True
    # ... and if it did not, the element stays: also valid.
    assert or_set(h(*rows[:-4], *finals([1], [1])))["valid"] is True


def test_an_indefinite_remove_may_observe_any_add() -> None:
    rows = [*remove(1, 1, "info"), *add(0, 1), *finals([], [])]
    assert or_set(h(*rows))["valid"] is True
    pending = [("invoke", 1, "remove", 1), *add(0, 1), *finals([], [])]
    assert or_set(h(*pending))["valid"] is True


def test_a_failed_remove_observed_nothing() -> None:
    rows = [*add(0, 1), *remove(1, 1, "fail"), *finals([], [])]
    res = or_set(h(*rows))
    assert res["valid"] is False
    assert res["lost_count"] == 1


def test_unacknowledged_adds_need_not_survive() -> None:
    assert or_set(h(*add(0, 1, "info"), *finals([], [])))["valid"] is True
    assert or_set(h(*add(0, 1, "info"), *finals([1], [1])))["valid"] is True


def test_an_element_nothing_could_have_added_is_unexpected() -> None:
    res = or_set(h(*read(1, [7]), *add(0, 7), *finals([7], [7])))
    assert res["valid"] is False
    assert res["unexpected"] == [{"element": 7, "read_index": 1, "node": None}]
    failed = or_set(h(*add(0, 7, "fail"), *finals([7], [7])))
    assert failed["unexpected_count"] == 1


def test_convergence_is_not_judged_while_updates_run_during_the_final_reads() -> None:
    rows = [*add(0, 1), *read(100, [1], final=True), *add(0, 2), *read(101, [1, 2], final=True)]
    res = or_set(h(*rows))
    assert res["convergence"].startswith("not judged: 1 update(s)")
    assert res["valid"] is True


def test_nothing_to_judge_is_unknown() -> None:
    assert or_set([])["valid"] == "unknown"
    res = or_set(h(*add(0, 1), *read(1, [1])))
    assert res["valid"] == "unknown"
    assert res["reason"].startswith("no final read")


def test_duplicates_are_counted_not_judged() -> None:
    res = or_set(h(*add(0, 1), *finals([1, 1], [1])))
    assert res["duplicated_count"] == 1
    assert res["valid"] is True


def test_a_history_no_client_could_record_is_refused() -> None:
    with pytest.raises(HistoryError, match="no open invocation"):
        or_set(h(("ok", 0, "add", 1)))


def test_jepsen_final_marker_is_understood() -> None:
    rows = [*add(0, 1), ("invoke", 9, "read", None, {"final?": True}), ("ok", 9, "read", [])]
    assert or_set(h(*rows))["lost_count"] == 1


# -- properties: a simulated OR-set ---------------------------------------------------------------

NODES = ("n1", "n2", "n3")


@st.composite
def simulated(draw: st.DrawFn) -> list[Op]:
    """Clients on three nodes add, remove and read elements 0-2, while nodes gossip their
    whole state to each other now and then. Each operation takes effect at its node at one
    instant between its invocation and its completion (an `info` one perhaps not at all, a
    `fail` one never); an operation may never complete. Final reads after a full exchange."""
    added: dict[str, set[tuple[int, str, int]]] = {n: set() for n in NODES}
    removed: dict[str, set[tuple[int, str, int]]] = {n: set() for n in NODES}
    seq = 0
    rows: list[tuple[Any, ...]] = []
    open_: dict[int, dict[str, Any]] = {}

    for _ in range(draw(st.integers(0, 50))):
        if draw(st.integers(0, 3)) == 0:  # gossip: b merges a's state
            a, b = draw(st.sampled_from(NODES)), draw(st.sampled_from(NODES))
            added[b] |= added[a]
            removed[b] |= removed[a]
            continue
        p = draw(st.integers(0, 3))
        o = open_.get(p)
        if o is None:
            f = draw(st.sampled_from(["add", "remove", "read"]))
            node, e = draw(st.sampled_from(NODES)), draw(st.integers(0, 2))
            outcome = "ok" if f == "read" else draw(st.sampled_from(["ok", "ok", "info", "fail"]))
            open_[p] = {"f": f, "node": node, "e": e, "outcome": outcome, "result": None,
                        "effected": False}
            rows.append(("invoke", p, f, None if f == "read" else e, {"node": node}))
        elif not o["effected"]:
            f, node, e = o["f"], o["node"], o["e"]
            o["effected"] = True
            o["result"] = e
            if f == "read":
                o["result"] = sorted({t[0] for t in added[node] - removed[node]})
            elif o["outcome"] == "ok" or (o["outcome"] == "info" and draw(st.booleans())):
                if f == "add":
                    seq += 1
                    added[node].add((e, node, seq))
                else:  # observed-remove: the tags of e this node holds
                    removed[node] |= {t for t in added[node] if t[0] == e}
        else:
            rows.append((o["outcome"], p, o["f"], o["result"], {"node": o["node"]}))
            del open_[p]
    live = set().union(*added.values()) - set().union(*removed.values())
    final = sorted({t[0] for t in live})
    for i, n in enumerate(NODES):
        rows += [("invoke", 100 + i, "read", None, {"final": True, "node": n}),
                 ("ok", 100 + i, "read", final, {"final": True, "node": n})]
    return h(*rows)


@settings(max_examples=300, deadline=None)
@given(history=simulated())
def test_a_correct_or_set_is_never_called_invalid(history: list[Op]) -> None:
    res = or_set(history)
    assert res["valid"] is True, (res["lost"], res["unexpected"], res["convergence"])


@settings(max_examples=200, deadline=None)
@given(history=simulated())
def test_dropping_an_acknowledged_never_removed_element_is_caught(history: list[Op]) -> None:
    removed = {o.value for o in history if o.f == "remove" and o.type != "fail"}
    acked = {o.value for o in history if o.f == "add" and o.type == "ok"}
    victims = sorted(acked - removed)
    if not victims:
        return
    for o in history[-6:]:
        if o.type == "ok":
            o.value = [e for e in o.value if e != victims[0]]
    res = or_set(history)
    assert res["valid"] is False
    assert res["lost_count"] >= 1


def test_the_buggy_remove_is_caught_in_a_partition_heal_shape() -> None:
    # n1 removes 1 while partitioned from n2, before n2's later add; the buggy remove is a
    # tombstone of the element that also deletes the later add once states merge.
    rows = [*add(0, 1, node="n2"), *remove(1, 1, node="n1"), *add(0, 1, node="n2"),
            *finals([], [], [])]
    assert or_set(h(*rows))["valid"] is False
