"""set-full: golden histories, good and bad, and a property: acknowledged and read means not lost.

Histories are written as literal rows `(type, process, f, value)` (time = 1 ms per row) or with
`final=True` for the final reads after healing.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checker.history import Op
from checker.result import brief
from checker.setfull import quantiles, set_full

MS = 1_000_000


def h(*rows: tuple[Any, ...]) -> list[Op]:
    ops = []
    for i, row in enumerate(rows):
        type_, process, f, value, *rest = row
        extra = {"final": True} if rest and rest[0] == "final" else {}
        ops.append(Op(type_, process, f, value, time=i * MS, index=i, extra=extra))
    return ops


def add(p: int, e: Any, outcome: str = "ok") -> list[tuple[Any, ...]]:
    return [("invoke", p, "add", e), (outcome, p, "add", e)]


def read(p: int, seen: list[Any] | None, *, final: bool = False) -> list[tuple[Any, ...]]:
    tag = ("final",) if final else ()
    outcome = "ok" if seen is not None else "fail"
    return [("invoke", p, "read", None, *tag), (outcome, p, "read", seen, *tag)]


GOLDEN: dict[str, tuple[list[tuple[Any, ...]], Any, dict[str, Any]]] = {
    "all seen": (
        add(0, 1) + add(0, 2) + read(1, [1, 2]) + read(1, [1, 2], final=True),
        True,
        {"stable_count": 2, "lost_count": 0, "stale_count": 0, "final_read_count": 1},
    ),
    "stale then seen": (
        add(0, 1) + read(1, []) + read(1, [1]) + read(2, [1], final=True),
        True,
        {"stable_count": 1, "stale": [1], "lost_count": 0},
    ),
    "lost: acknowledged, never read back": (
        add(0, 1) + add(0, 2) + read(1, [1]) + read(1, [1], final=True),
        False,
        {"lost": [2], "lost_count": 1, "stable_count": 1},
    ),
    "lost: seen, then gone": (
        add(0, 1) + read(1, [1]) + read(1, []),
        False,
        {"lost": [1]},
    ),
    "lost: missing from one node's final read": (
        add(0, 1) + read(1, [1], final=True) + read(2, [], final=True) + read(3, [1], final=True),
        False,
        {"lost": [1]},
    ),
    "unexpected element": (
        add(0, 1) + read(1, [1, 99]),
        False,
        {"unexpected": [99], "unexpected_count": 1},
    ),
    "a failed add that is read": (
        add(0, 1) + add(0, 2, "fail") + read(1, [1, 2]),
        False,
        {"failed_but_read": [2]},
    ),
    "an info add may or may not appear": (
        add(0, 1) + add(0, 2, "info") + read(1, [1]) + read(1, [1], final=True),
        True,
        {"known_count": 1, "attempt_count": 2, "acknowledged_count": 1},
    ),
    "an info add that appears must stay": (
        add(0, 1) + add(0, 2, "info") + read(1, [1, 2]) + read(1, [1], final=True),
        False,
        {"lost": [2]},
    ),
    "a read that began before the add was known may miss it": (
        [("invoke", 1, "read", None), *add(0, 1), ("ok", 1, "read", []), *read(1, [1])],
        True,
        {"stale_count": 0, "stable_count": 1},
    ),
    "nothing read: unknown": (add(0, 1) + add(0, 2), "unknown", {"never_read": [1, 2]}),
    "every read failed: unknown": (add(0, 1) + read(1, None), "unknown", {"read_count": 0}),
    "reads of nothing: unknown": (read(1, []) + read(1, []), "unknown", {"known_count": 0}),
    "empty history: unknown": ([], "unknown", {"attempt_count": 0}),
    "duplicates in a read are counted, not judged": (
        add(0, 1) + read(1, [1, 1]),
        True,
        {"duplicated_count": 1},
    ),
    "nemesis operations are ignored": (
        [
            ("invoke", "nemesis", "partition", {"shape": "halves"}),
            *add(0, 1),
            ("ok", "nemesis", "partition", {"shape": "halves"}),
            *read(1, [1]),
        ],
        True,
        {"stable_count": 1},
    ),
}


@pytest.mark.parametrize("case", list(GOLDEN))
def test_golden_histories(case: str) -> None:
    rows, valid, expected = GOLDEN[case]
    res = set_full(h(*rows))
    assert res["checker"] == "set-full"
    assert res["valid"] == valid, res
    for key, value in expected.items():
        assert res[key] == value, (key, res)


def test_headline_shows_what_went_wrong() -> None:
    res = set_full(h(*add(0, 1), *add(0, 2), *read(1, []), *read(1, [1, 3], final=True)))
    assert res["headline"][0] == "lost_count"
    assert brief(res) == "lost_count=1 unexpected_count=1 stale_count=1"
    assert brief(set_full(h(*add(0, 1), *read(1, [1], final=True)))) == ""


def test_linearizable_mode_rejects_stale_reads() -> None:
    rows = add(0, 1) + read(1, []) + read(1, [1])
    assert set_full(h(*rows))["valid"] is True
    assert set_full(h(*rows), linearizable=True)["valid"] is False


def test_broadcast_names_and_latencies() -> None:
    # Known at t=1 ms (broadcast ok); a read invoked at 2 ms misses it; one at 4 ms sees it.
    ops = h(
        ("invoke", 0, "broadcast", 7),
        ("ok", 0, "broadcast", 7),
        ("invoke", 1, "read", None),
        ("ok", 1, "read", []),
        ("invoke", 1, "read", None),
        ("ok", 1, "read", [7]),
    )
    res = set_full(ops, add_f="broadcast", read_f="read")
    assert res["valid"] is True
    assert res["stale"] == [7]
    latency = res["stable_latency_ms"]
    assert latency["0"] == latency["1"] == pytest.approx(1.0, abs=1e-3)
    assert set(latency) == {"0", "0.5", "0.95", "0.99", "1"}
    assert res["lost_latency_ms"] is None


def test_quantiles_are_nearest_rank() -> None:
    assert quantiles([]) is None
    q = quantiles([float(x) for x in range(1, 101)])
    assert q == {"0": 1.0, "0.5": 50.0, "0.95": 95.0, "0.99": 99.0, "1": 100.0}


@st.composite
def healed_histories(draw: st.DrawFn) -> list[Op]:
    """Adds (ok, info or fail) and reads of any subset of what might be there; then final reads
    on three nodes that hold every acknowledged element and everything any read saw."""
    n = draw(st.integers(1, 12))
    outcomes = draw(st.lists(st.sampled_from(["ok", "info", "fail"]), min_size=n, max_size=n))
    rows: list[tuple[Any, ...]] = []
    possible: list[int] = []  # elements a read may legally show
    seen: set[int] = set()
    for e, outcome in enumerate(outcomes):
        rows += add(0, e, outcome)
        if outcome != "fail":
            possible.append(e)
        if draw(st.booleans()):
            shown = draw(st.lists(st.sampled_from(possible), unique=True)) if possible else []
            seen |= set(shown)
            rows += read(1, shown)
    acked = {e for e, outcome in enumerate(outcomes) if outcome == "ok"}
    extra = draw(st.lists(st.sampled_from(possible), unique=True)) if possible else []
    final = sorted(acked | seen | set(extra))
    for p in (2, 3, 4):
        rows += read(p, final, final=True)
    return h(*rows)


@settings(max_examples=200, deadline=None)
@given(healed_histories())
def test_every_acknowledged_element_in_every_final_read_is_never_lost(ops: list[Op]) -> None:
    res = set_full(ops)
    assert res["lost_count"] == 0, res
    assert res["unexpected_count"] == 0
    assert res["failed_but_read_count"] == 0
    assert res["valid"] is not False
    if res["acknowledged_count"]:
        assert res["valid"] is True
        assert res["never_read_count"] == 0


@settings(max_examples=200, deadline=None)
@given(healed_histories(), st.data())
def test_dropping_an_acknowledged_element_from_a_final_read_is_lost(
    ops: list[Op], data: st.DataObject
) -> None:
    acked = [op.value for op in ops if op.f == "add" and op.type == "ok"]
    finals = [op for op in ops if op.f == "read" and op.type == "ok" and op.extra.get("final")]
    if not acked:
        return
    victim = data.draw(st.sampled_from(acked))
    target = data.draw(st.sampled_from(finals))
    target.value = [e for e in target.value if e != victim]
    res = set_full(ops)
    assert res["valid"] is False
    assert victim in res["lost"]
