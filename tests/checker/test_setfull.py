"""set-full: golden histories, good and bad, and a property: acknowledged and read means not lost.

Histories are written as literal rows `(type, process, f, value)` (time = 1 ms per row) or with
`final=True` for the final reads after healing.
"""

from __future__ import annotations

import dataclasses
import json
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checker.history import HistoryError, Op, ValueEncoder, client_ops, pair, parse_jsonl
from checker.intset import EMPTY, IntRanges, IntRangesDelta
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


# -- reads held as deltas (checker.intset.IntRangesDelta) -----------------------------------------

NODES = ("n1", "n2")


@st.composite
def histories_on_nodes(draw: st.DrawFn) -> list[Op]:
    """`concurrent_histories` with every client operation served by one of two nodes (so two
    reads of one node may overlap), and most reads' values made distinct integers, which the
    recorder writes as ranges or deltas; the rest stay lists that cannot be encoded."""
    ops = draw(concurrent_histories())
    node_of: dict[Any, str] = {}
    for op_ in ops:
        if op_.process == "nemesis":
            continue
        if op_.type == "invoke":
            op_.node = node_of[op_.process] = draw(st.sampled_from(NODES))
            continue
        op_.node = node_of.pop(op_.process)
        if op_.f == "read" and isinstance(op_.value, list) and draw(st.integers(0, 3)):
            op_.value = sorted({v for v in op_.value if type(v) is int})
    return ops


def recorded(ops: list[Op]) -> list[Op]:
    """`ops` as the recorder writes them (every read of distinct integers as ranges, through a
    `ValueEncoder`: deltas against the node's previous read) and the loader reads them back."""
    encoder = ValueEncoder()
    lines = []
    for op_ in ops:
        value = op_.value
        if op_.type == "ok" and op_.f == "read" and isinstance(value, list):
            ranges = IntRanges.encode(value)
            value = value if ranges is None else ranges
        d = dataclasses.replace(op_, value=None).to_json()
        d["value"], how = encoder.encode(type=op_.type, f=op_.f, node=op_.node,
                                         index=op_.index, value=value)
        lines.append(json.dumps({**d, **how}))
    return parse_jsonl("".join(line + "\n" for line in lines), where="h")


@settings(max_examples=500, deadline=None)
@given(histories_on_nodes(), st.booleans())
def test_reads_held_as_deltas_are_judged_as_the_lists_they_encode(
    ops: list[Op], linearizable: bool
) -> None:
    """Reads written as deltas against their node's previous read (sets that grow and shrink,
    overlapping reads of one node, final reads, elements never added), mixed with lists: the
    verdict and every figure are those of the plain definition."""
    res = set_full(recorded(ops), linearizable=linearizable)
    expected = plain_set_full(ops, linearizable=linearizable)
    assert {k: res[k] for k in expected} == expected


def random_node_history(rng: random.Random, *, operations: int) -> list[Op]:
    """A longer history than Hypothesis draws: three nodes, each holding a set of integers that
    mostly grows with the adds and sometimes loses or gains elements at random (elements never
    added among them), read by five clients at once, the last reads final."""
    held: dict[str, set[int]] = {n: set() for n in ("n1", "n2", "n3")}
    ops: list[Op] = []
    open_: dict[int, Op] = {}
    next_element = 0

    def emit(op_: Op) -> None:
        op_.index = len(ops)
        op_.time = len(ops) * MS
        ops.append(op_)

    for i in range(operations):
        p = rng.randrange(5)
        final = i >= operations - 10
        if p in open_:
            inv = open_.pop(p)
            node = inv.node
            assert node is not None
            if inv.f == "add":
                outcome = rng.choice(["ok", "ok", "ok", "info", "fail"])
                if outcome != "fail":
                    for n in held:
                        if rng.random() < 0.6:
                            held[n].add(inv.value)
                emit(Op(outcome, p, "add", inv.value, node=node))
            else:
                if rng.random() < 0.05 and held[node]:  # a node forgets some
                    held[node] -= set(rng.sample(sorted(held[node]), 2 if len(held[node]) > 1
                                                 else 1))
                if rng.random() < 0.05:
                    held[node].add(1000 + rng.randrange(5))  # an element never added
                for n in held:  # catching up
                    if rng.random() < 0.3:
                        held[n] |= set(range(next_element))
                emit(Op("ok", p, "read", sorted(held[node]), node=node,
                        extra={"final": True} if inv.extra else {}))
        else:
            node = rng.choice(list(held))
            if rng.random() < 0.4 and not final:
                inv = Op("invoke", p, "add", next_element, node=node)
                next_element += 1
            else:
                inv = Op("invoke", p, "read", None, node=node,
                         extra={"final": True} if final else {})
            open_[p] = inv
            emit(inv)
    return ops


@pytest.mark.parametrize("seed", range(12))
def test_long_histories_of_deltas_are_judged_by_the_plain_definition(seed: int) -> None:
    ops = random_node_history(random.Random(seed), operations=600)
    loaded = recorded(ops)
    assert sum(isinstance(op_.value, IntRangesDelta) for op_ in loaded) > 50
    expected = plain_set_full(ops)
    res = set_full(loaded)
    assert {k: res[k] for k in expected} == expected


def test_a_delta_that_does_not_apply_is_an_error_naming_the_operation() -> None:
    ops = [
        Op("invoke", 0, "read", None, index=0, node="n1"),
        Op("ok", 0, "read", IntRanges.encode([1, 2]), index=1, node="n1"),
        Op("invoke", 0, "read", None, index=2, node="n1"),
        Op("ok", 0, "read", IntRangesDelta(1, EMPTY, IntRanges.encode([5]), 1), index=3,
           node="n1"),
    ]
    with pytest.raises(HistoryError, match="operation 3: its delta removes 5, which its base "
                                           r"\(operation 1\) does not hold"):
        set_full(ops)
    ops[3].node = "n2"
    with pytest.raises(HistoryError, match=r"operation 3: .* node 'n2' has no earlier ok read"):
        set_full(ops)


def test_each_listed_lost_element_says_when_and_where_it_was_known_and_who_lacks_it() -> None:
    ops = h(*add(0, 1), *read(1, [1]), *add(2, 2), *read(3, [1], final=True),
            *read(4, [1, 2], final=True))
    ops[4].node = "n2"  # the add of 2: its invocation names the node, its completion does not
    ops[6].node = ops[7].node = "n1"
    ops[8].node = ops[9].node = "n2"
    res = set_full(ops)
    assert res["lost"] == [2]
    (detail,) = res["lost_details"]
    assert detail == {
        "element": 2, "known_ms": 5.0, "known_by": "add", "known_index": 5, "process": 2,
        "node": "n2",
        "missing_from_final": [{"node": "n1", "at_ms": 6.0, "index": 6, "final": True}],
        "latest_missing": {"node": "n1", "at_ms": 6.0, "index": 6, "final": True},
        "last_seen": {"node": "n2", "at_ms": 8.0, "index": 8, "final": True},
    }
    assert res["final_reads"] == [
        {"node": "n1", "at_ms": 6.0, "index": 6, "final": True, "lacks_count": 1},
        {"node": "n2", "at_ms": 8.0, "index": 8, "final": True, "lacks_count": 0},
    ]
    json.dumps(res)  # still JSON
