"""set-full: golden histories, good and bad, and a property: acknowledged and read means not lost.

Histories are written as literal rows `(type, process, f, value)` (time = 1 ms per row) or with
`final=True` for the final reads after healing.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checker.history import Op, client_ops, pair
from checker.intset import IntRanges
from checker.result import brief
from checker.setfull import _key, _listed, _ms, quantiles, set_full

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


# -- the one-pass checker against the plain definition -------------------------------------------


def plain_set_full(history: list[Op], *, linearizable: bool = False) -> dict[str, Any]:
    """The module docstring's definition, written as plainly as possible: for every element,
    scan every read (quadratic, and a set per read). `set_full` must agree with it exactly."""
    position = {id(op): i for i, op in enumerate(history)}
    attempted: set[Any] = set()
    failed: set[Any] = set()
    acked: set[Any] = set()
    known: dict[Any, tuple[int, int]] = {}
    reads: list[tuple[int, int, frozenset[Any], bool]] = []
    duplicated = 0

    def learn(element: Any, pos: int, time: int) -> None:
        if element not in known or pos < known[element][0]:
            known[element] = (pos, time)

    for inv, comp in pair(client_ops(history)):
        if inv.f == "add":
            element = _key(inv.value)
            attempted.add(element)
            if comp is not None and comp.type == "ok":
                acked.add(element)
                learn(element, position[id(comp)], comp.time)
            elif comp is not None and comp.type == "fail":
                failed.add(element)
        elif inv.f == "read" and comp is not None and comp.type == "ok":
            if not isinstance(comp.value, list):
                continue
            elements = frozenset(_key(v) for v in comp.value)
            duplicated += len(comp.value) - len(elements)
            final = bool(inv.extra.get("final") or comp.extra.get("final"))
            reads.append((position[id(inv)], inv.time, elements, final))
            for element in elements:
                learn(element, position[id(comp)], comp.time)
    failed -= acked
    lost, stable, stale, never_read, stable_ms, lost_ms = [], [], [], [], [], []
    for element, (known_pos, known_time) in known.items():
        present = [r for r in reads if element in r[2]]
        absent = [r for r in reads if element not in r[2] and r[0] > known_pos]
        last_present = max(present, default=None, key=lambda r: r[0])
        last_absent = max(absent, default=None, key=lambda r: r[0])
        if any(r[3] for r in absent) or (
            last_absent is not None
            and (last_present is None or last_absent[0] > last_present[0])
        ):
            lost.append(element)
            lost_at = last_present[1] + 1 if last_present else known_time
            lost_ms.append(_ms(lost_at - known_time))
        elif last_present is not None:
            stable.append(element)
            stable_at = last_absent[1] + 1 if last_absent else known_time
            stable_ms.append(_ms(stable_at - known_time))
            if last_absent is not None:
                stale.append(element)
        else:
            never_read.append(element)
    seen = {e for r in reads for e in r[2]}
    unexpected = seen - attempted
    failed_but_read = (failed & seen) - unexpected
    if lost or unexpected or failed_but_read or (linearizable and stale):
        valid: Any = False
    elif not reads or not (stable or lost):
        valid = "unknown"
    else:
        valid = True
    return {
        "valid": valid,
        "attempt_count": len(attempted),
        "acknowledged_count": sum(
            1 for inv, comp in pair(client_ops(history))
            if inv.f == "add" and comp is not None and comp.type == "ok"
        ),
        "known_count": len(known),
        "read_count": len(reads),
        "final_read_count": sum(r[3] for r in reads),
        "stable_count": len(stable),
        "lost": _listed(lost),
        "lost_count": len(lost),
        "stale": _listed(stale),
        "stale_count": len(stale),
        "never_read": _listed(never_read),
        "never_read_count": len(never_read),
        "unexpected": _listed(unexpected),
        "unexpected_count": len(unexpected),
        "failed_but_read": _listed(failed_but_read),
        "failed_but_read_count": len(failed_but_read),
        "duplicated_count": duplicated,
        "stable_latency_ms": quantiles(stable_ms),
        "lost_latency_ms": quantiles(lost_ms),
    }


ELEMENTS = st.one_of(st.integers(0, 7), st.sampled_from(["a", [1], {"k": 1}]))


@st.composite
def concurrent_histories(draw: st.DrawFn) -> list[Op]:
    """Up to four clients with overlapping operations, adds of a few elements that may repeat
    (ok, fail, info or never completed), reads of any list (elements never added, repeats,
    unhashable JSON values), some final, some failed or not lists; nemesis operations between;
    times that need not follow positions."""
    ops: list[Op] = []
    open_: dict[int, Op] = {}
    added: list[Any] = []  # reads mostly show what was added, so that few are unexpected
    for _ in range(draw(st.integers(0, 40))):
        if draw(st.integers(0, 9)) == 0:
            ops.append(Op("info", "nemesis", "partition", None, time=len(ops)))
            continue
        p = draw(st.integers(0, 3))
        time = len(ops) * MS + draw(st.sampled_from([0, 0, 0, -3 * MS]))
        if p in open_:
            inv = open_.pop(p)
            if inv.f == "add":
                outcome = draw(st.sampled_from(["ok", "ok", "fail", "info"]))
                value = inv.value
            else:
                outcome = draw(st.sampled_from(["ok", "ok", "ok", "fail"]))
                value = draw(
                    st.one_of(
                        st.lists(st.sampled_from(added), max_size=8) if added else st.nothing(),
                        st.lists(ELEMENTS, max_size=8),
                        st.just("garbage"),
                    )
                )
            extra = {"final": True} if inv.extra.get("final") and draw(st.booleans()) else {}
            ops.append(Op(outcome, p, inv.f, value, time=time, extra=extra))
        else:
            f = draw(st.sampled_from(["add", "read"]))
            value = draw(ELEMENTS) if f == "add" else None
            if f == "add":
                added.append(value)
            extra = {"final": True} if f == "read" and draw(st.integers(0, 4)) == 0 else {}
            open_[p] = Op("invoke", p, f, value, time=time, extra=extra)
            ops.append(open_[p])
    for i, op_ in enumerate(ops):
        op_.index = i
    return ops


@settings(max_examples=500, deadline=None)
@given(concurrent_histories(), st.booleans())
def test_set_full_agrees_with_the_plain_definition(ops: list[Op], linearizable: bool) -> None:
    res = set_full(ops, linearizable=linearizable)
    expected = plain_set_full(ops, linearizable=linearizable)
    assert {k: res[k] for k in expected} == expected


@settings(max_examples=500, deadline=None)
@given(concurrent_histories(), st.booleans())
def test_reads_held_as_ranges_are_judged_as_the_lists_they_encode(
    ops: list[Op], linearizable: bool
) -> None:
    """The same histories with every read the recorder would encode held as `IntRanges`
    (checker.intset): the verdict and every figure are those of the plain definition."""
    encoded = [
        dataclasses.replace(op, value=ranges)
        if op.type == "ok" and op.f == "read" and isinstance(op.value, list)
        and (ranges := IntRanges.encode(op.value)) is not None
        else op
        for op in ops
    ]
    res = set_full(encoded, linearizable=linearizable)
    expected = plain_set_full(ops, linearizable=linearizable)
    assert {k: res[k] for k in expected} == expected
