"""The LWW-register checker: golden histories, good and bad, and a simulated register.

Rows are `tests/checker/rows.py`'s. Writes complete with `[value, ts]`, reads with
`[value, ts]` (or `[None, None]` for the empty register); stamps are `[wall_ms, counter]`.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rows import h, op

from checker.history import HistoryError, Op
from checker.lww import lww


def write(p: Any, v: Any, ts: Any, node: str, outcome: str = "ok") -> list:
    return op(p, "write", v, [v, ts] if outcome == "ok" else v, outcome, node=node)


def read(p: Any, v: Any, ts: Any, node: str, *, final: bool = False) -> list:
    kw: dict[str, Any] = {"node": node}
    if final:
        kw["final"] = True
    return op(p, "read", None, [v, ts], **kw)


def finals(v: Any, ts: Any, nodes: tuple[str, ...] = ("n1", "n2", "n3")) -> list:
    rows: list = []
    for i, n in enumerate(nodes):
        rows += read(100 + i, v, ts, n, final=True)
    return rows


def test_the_greatest_stamp_wins_everywhere() -> None:
    rows = [*write(0, 1, [10, 0], "n1"), *write(1, 2, [20, 0], "n2"), *read(2, 2, [20, 0], "n1"),
            *finals(2, [20, 0])]
    res = lww(h(*rows))
    assert res["valid"] is True
    assert res["winner"]["value"] == 2
    assert res["final_write"]["index"] == 2
    assert res["skew_lost_count"] == 0


def test_equal_stamps_are_broken_by_node_id() -> None:
    rows = [*write(0, 1, [10, 0], "n2"), *write(1, 2, [10, 0], "n1")]
    assert lww(h(*rows, *finals(1, [10, 0])))["valid"] is True
    res = lww(h(*rows, *finals(2, [10, 0])))
    assert res["valid"] is False
    assert "has the greater (ts, node)" in res["first_problem"]


def test_a_final_value_below_the_winner_is_invalid() -> None:
    rows = [*write(0, 1, [30, 0], "n1"), *write(1, 2, [20, 0], "n2"), *finals(2, [20, 0])]
    res = lww(h(*rows))
    assert res["valid"] is False
    assert res["problems"][0]["kind"] == "wrong final value"


def test_an_indefinite_write_with_a_greater_stamp_may_win() -> None:
    rows = [*write(0, 1, [30, 0], "n1"), *write(1, 2, None, "n2", "info")]
    assert lww(h(*rows, *finals(2, [40, 0])))["valid"] is True
    assert lww(h(*rows, *finals(1, [30, 0])))["valid"] is True
    res = lww(h(*rows, *finals(2, [25, 0])))  # it could not have beaten the winner
    assert res["valid"] is False


def test_final_reads_must_agree() -> None:
    rows = [*write(0, 1, [10, 0], "n1"), *write(1, 2, [20, 0], "n2"),
            *read(100, 2, [20, 0], "n1", final=True), *read(101, 1, [10, 0], "n2", final=True)]
    res = lww(h(*rows))
    assert res["valid"] is False
    assert res["convergence"] == "disagree"
    assert res["divergent_final_reads"] == 1


def test_an_empty_final_register_after_an_acknowledged_write_is_invalid() -> None:
    res = lww(h(*write(0, 1, [10, 0], "n1"), *finals(None, None)))
    assert res["valid"] is False
    assert "the register is empty" in res["first_problem"]
    assert lww(h(*write(0, 1, None, "n1", "info"), *finals(None, None)))["valid"] is True


def test_a_value_nothing_wrote_is_unexpected() -> None:
    res = lww(h(*read(0, 9, [1, 0], "n1"), *write(1, 9, [5, 0], "n1"), *finals(9, [5, 0])))
    assert res["valid"] is False
    assert res["problems"][0]["kind"] == "unexpected"
    failed = lww(h(*write(1, 9, None, "n1", "fail"), *finals(9, [5, 0])))
    assert failed["problems"][0]["kind"] == "unexpected"


def test_a_read_must_report_its_write_s_stamp() -> None:
    res = lww(h(*write(0, 1, [10, 0], "n1"), *read(1, 1, [11, 0], "n2"), *finals(1, [10, 0])))
    assert res["valid"] is False
    assert res["problems"][0]["kind"] == "stamp mismatch"


def test_a_node_must_not_stamp_below_what_it_has_shown() -> None:
    # n2 read the value stamped [50, 0], then stamped its own write [40, 0]: backwards.
    rows = [*write(0, 1, [50, 0], "n1"), *read(1, 1, [50, 0], "n2"), *write(1, 2, [40, 0], "n2"),
            *finals(1, [50, 0])]
    res = lww(h(*rows))
    assert res["valid"] is False
    assert res["problems"][0]["kind"] == "stamp went backwards"
    assert lww(h(*rows), monotonic=False)["valid"] is True


def test_writes_lost_to_clock_skew_are_reported_with_the_skew() -> None:
    # n1's clock runs 300 ms ahead: its write wins over n2's later one, which is legal LWW.
    rows = [*write(0, 1, [1300, 0], "n1"), *write(1, 2, [1100, 0], "n2"),
            *write(1, 3, [1250, 0], "n3"), *finals(1, [1300, 0])]
    res = lww(h(*rows))
    assert res["valid"] is True
    assert res["skew_lost_count"] == 2
    assert [s["skew_ms"] for s in res["skew_lost"]] == [200, 50]
    assert res["skew_ms_max"] == 200


def test_concurrent_writes_are_not_lost_to_skew() -> None:
    rows = [("invoke", 0, "write", 1, {"node": "n1"}), *write(1, 2, [1100, 0], "n2"),
            ("ok", 0, "write", [1, [1300, 0]], {"node": "n1"}), *finals(1, [1300, 0])]
    res = lww(h(*rows))
    assert res["valid"] is True
    assert res["skew_lost_count"] == 0


def test_convergence_is_not_judged_while_writes_run_during_the_final_reads() -> None:
    rows = [*write(0, 1, [10, 0], "n1"), *read(100, 1, [10, 0], "n1", final=True),
            *write(0, 2, [20, 0], "n1"), *read(101, 2, [20, 0], "n2", final=True)]
    res = lww(h(*rows))
    assert res["convergence"].startswith("not judged")


def test_nothing_to_judge_is_unknown() -> None:
    assert lww([])["valid"] == "unknown"
    res = lww(h(*write(0, 1, [10, 0], "n1"), *read(1, 1, [10, 0], "n1")))
    assert res["valid"] == "unknown"
    assert res["reason"].startswith("no final read")


def test_numeric_stamps_are_accepted() -> None:
    rows = [*write(0, 1, 10, "n1"), *write(1, 2, 20.5, "n2"), *finals(2, 20.5)]
    assert lww(h(*rows))["valid"] is True


def test_malformed_records_are_refused() -> None:
    with pytest.raises(HistoryError, match=r"recorded as \[value, ts\]"):
        lww(h(*op(0, "write", 1, 1, node="n1")))
    with pytest.raises(HistoryError, match="ts must be a number"):
        lww(h(*write(0, 1, "soon", "n1")))


# -- property: a simulated LWW register with hybrid logical clocks ------------------------------

NODES = ("n1", "n2", "n3")


@st.composite
def simulated(draw: st.DrawFn) -> list[Op]:
    """Three nodes whose clocks are skewed by up to 500 ms hold an LWW register each, merged by
    gossip; a write is stamped by a hybrid logical clock above what its node holds. Each
    operation takes effect at one instant between invocation and completion (an info write
    perhaps not at all). Final reads after a full exchange."""
    skew = {n: draw(st.integers(-500, 500)) for n in NODES}
    held: dict[str, tuple[tuple[int, int], str, int] | None] = {n: None for n in NODES}
    now = 1000
    rows: list[tuple[Any, ...]] = []
    open_: dict[int, dict[str, Any]] = {}
    value = 0
    for _ in range(draw(st.integers(0, 40))):
        now += draw(st.integers(0, 30))
        if draw(st.integers(0, 3)) == 0:
            a, b = draw(st.sampled_from(NODES)), draw(st.sampled_from(NODES))
            if held[a] is not None and (held[b] is None or held[a][:2] > held[b][:2]):
                held[b] = held[a]
            continue
        p = draw(st.integers(0, 3))
        o = open_.get(p)
        if o is None:
            f = draw(st.sampled_from(["write", "read"]))
            node = draw(st.sampled_from(NODES))
            value += 1
            outcome = "ok" if f == "read" else draw(st.sampled_from(["ok", "ok", "info"]))
            open_[p] = {"f": f, "node": node, "v": value, "outcome": outcome, "done": False}
            rows.append(("invoke", p, f, value if f == "write" else None, {"node": node}))
        elif not o["done"]:
            o["done"] = True
            node = o["node"]
            cur = held[node]
            if o["f"] == "read":
                o["result"] = [None, None] if cur is None else [cur[2], list(cur[0])]
            elif o["outcome"] == "ok" or draw(st.booleans()):
                wall = now + skew[node]
                ts = (wall, 0) if cur is None or wall > cur[0][0] else (cur[0][0], cur[0][1] + 1)
                held[node] = (ts, node, o["v"])
                o["result"] = [o["v"], list(ts)]
            else:
                o["result"] = o["v"]
                o["outcome"] = "info"
        else:
            result = o.get("result", o["v"]) if o["outcome"] == "ok" else o["v"]
            rows.append((o["outcome"], p, o["f"], result, {"node": o["node"]}))
            del open_[p]
    states = [s for s in held.values() if s is not None]
    best = max(states, key=lambda s: (s[0], s[1]), default=None)
    final = [None, None] if best is None else [best[2], list(best[0])]
    for i, n in enumerate(NODES):
        rows += [("invoke", 100 + i, "read", None, {"final": True, "node": n}),
                 ("ok", 100 + i, "read", final, {"final": True, "node": n})]
    return h(*rows)


@settings(max_examples=300, deadline=None)
@given(history=simulated())
def test_a_correct_lww_register_is_never_called_invalid(history: list[Op]) -> None:
    res = lww(history)
    assert res["valid"] is True, res["problems"]
