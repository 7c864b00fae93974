"""IntRanges and IntRangesDelta: a read as ranges, or as a delta against its node's previous read,
and their lines in a history: written by `ValueEncoder`, checked by the loader, resolved."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checker.formats import dump_elle_json
from checker.history import (
    HistoryError,
    Op,
    ValueEncoder,
    dump_jsonl,
    encoded,
    load_jsonl,
    parse_jsonl,
    resolved_values,
)
from checker.intset import (
    DELTA_ENCODING,
    EMPTY,
    IntRanges,
    IntRangesDelta,
    absent_from,
    changes,
    count_between,
)

DELTA = DELTA_ENCODING


def test_encode_keeps_exactly_the_set() -> None:
    r = IntRanges.encode([5, 1, 2, 3, 9, 4, 11, 10])
    assert r is not None
    assert r.to_json() == [[1, 5], [9, 11]]
    assert list(r) == [1, 2, 3, 4, 5, 9, 10, 11] and len(r) == 8
    assert list(reversed(r)) == [11, 10, 9, 5, 4, 3, 2, 1]
    assert r[0] == 1 and r[5] == 9 and r[-1] == 11 and r[2:4] == [3, 4]
    assert 9 in r and 6 not in r and 0 not in r and 12 not in r and "1" not in r
    assert list(r.gaps()) == [(float("-inf"), 0), (6, 8), (12, float("inf"))]


def test_encode_refuses_what_it_would_lose() -> None:
    assert IntRanges.encode([1, 2, 2]) is None  # a repeat is counted by set-full
    assert IntRanges.encode([1, "2"]) is None
    assert IntRanges.encode([True, 2]) is None  # a bool is not an integer message
    assert IntRanges.encode([1.0]) is None
    empty = IntRanges.encode([])
    assert empty is not None and len(empty) == 0 and list(empty.gaps()) == [
        (float("-inf"), float("inf"))]


@given(st.sets(st.integers(-50, 50)))
def test_a_set_and_its_ranges_agree(values: set[int]) -> None:
    r = IntRanges.encode(list(values))
    assert r is not None
    assert list(r) == sorted(values) and len(r) == len(values)
    assert [r[i] for i in range(len(r))] == sorted(values)
    assert all((x in r) == (x in values) for x in range(-52, 53))
    assert IntRanges.from_json(json.loads(json.dumps(r.to_json()))) == r
    ordered = sorted(values)
    assert list(absent_from(ordered, -10, 10)) == [x for x in range(-10, 11) if x not in values]
    assert count_between(ordered, -5, 5) == len([x for x in values if -5 <= x <= 5])


@pytest.mark.parametrize(("value", "says"), [
    ({"a": 1}, "must be a list"),
    ([[1, 2, 3]], "not a [lo, hi] pair"),
    ([[1, "2"]], "not a [lo, hi] pair"),
    ([[3, 1]], "lo is above hi"),
    ([[1, 3], [2, 5]], "sorted, disjoint and not adjacent"),
    ([[1, 3], [4, 5]], "sorted, disjoint and not adjacent"),
])
def test_a_bad_encoded_value_is_an_error_naming_the_line(value: object, says: str) -> None:
    line = json.dumps({"index": 0, "type": "ok", "process": 0, "f": "read", "value": value,
                       "value_encoding": "int-ranges"})
    with pytest.raises(HistoryError, match=r"h\.jsonl:1: ") as e:
        parse_jsonl(line + "\n", where="h.jsonl")
    assert says in str(e.value)


def test_an_unknown_encoding_is_an_error() -> None:
    text = json.dumps({"index": 0, "type": "ok", "process": 0, "f": "read", "value": [],
                       "value_encoding": "gzip"})
    with pytest.raises(HistoryError, match=r"h\.jsonl:1: value_encoding 'gzip' is not known"):
        parse_jsonl(text + "\n", where="h.jsonl")


def test_a_history_line_round_trips(tmp_path: Path) -> None:
    r = IntRanges.encode([*range(1000), 1002])
    assert r is not None
    ops = [Op("invoke", 0, "read", None, time=1, index=0),
           Op("ok", 0, "read", r, time=2, index=1)]
    path = tmp_path / "h.jsonl"
    dump_jsonl(ops, path)
    text = path.read_text()
    assert '"value":[[0,999],[1002,1002]],"value_encoding":"int-ranges"' in text
    loaded = load_jsonl(path)
    assert loaded[1].value == r and loaded[1].extra == {}
    value, fields = encoded(r)
    assert value == [[0, 999], [1002, 1002]] and fields == {"value_encoding": "int-ranges"}
    assert encoded([1, 2]) == ([1, 2], {})


def test_values_beyond_64_bits_stay_lists_and_are_refused_as_ranges() -> None:
    assert IntRanges.encode([2**63]) is None
    assert IntRanges.encode([-(2**63), 2**63 - 1]) is not None
    with pytest.raises(ValueError, match=r"range 0 .* is beyond 64-bit integers"):
        IntRanges.from_json([[0, 2**63]])


SETS = st.sets(st.integers(-20, 60), max_size=40)


@given(SETS, SETS, st.integers(0, 3))
def test_changes_between_two_sets_are_what_set_differences_say(
    old: set[int], new: set[int], shared: int
) -> None:
    """Sets that share ranges at their start (as successive reads of a node do) or not."""
    common = set(range(-100, -100 + 3 * shared, 2))
    old, new = old | common, new | common
    a, b = IntRanges.encode(list(old)), IntRanges.encode(list(new))
    assert a is not None and b is not None
    added, removed = changes(a, b)
    assert list(added) == sorted(new - old) and list(removed) == sorted(old - new)
    assert a.union(b) == IntRanges.encode(list(old | new))
    delta = IntRangesDelta.between(7, a, b)
    assert delta == IntRangesDelta(7, added, removed, len(new))
    assert delta.apply(a) == b
    held = set(old)
    assert sorted(delta.apply_to(held)[0]) == sorted(new - old) and held == new
    assert IntRangesDelta.from_json(json.loads(json.dumps(delta.to_json()))) == delta


@given(SETS, SETS, SETS)
def test_a_delta_that_does_not_apply_is_refused_by_both_resolvers(
    base: set[int], add: set[int], remove: set[int]
) -> None:
    a, plus, minus = (IntRanges.encode(list(s)) for s in (base, add, remove))
    assert a is not None and plus is not None and minus is not None
    applies = not (add & base) and remove <= base
    delta = IntRangesDelta(3, plus, minus, len((base - remove) | add))
    held = set(base)
    if applies:
        assert list(delta.apply(a)) == sorted(held - remove | add)
        delta.apply_to(held)
        assert held == (base - remove) | add
        return
    for resolve in (lambda: delta.apply(a), lambda: delta.apply_to(held)):
        with pytest.raises(ValueError, match=r"its delta (adds|removes) -?\d+, which its base "
                                             r"\(operation 3\) (already holds|does not hold)"):
            resolve()
    assert held == base  # refused, and left as it was


def line(index: int, type_: str, value: object, *, node: str = "n1", encoding: str = DELTA,
         f: str = "read") -> str:
    return json.dumps({"index": index, "time": index, "type": type_, "process": 0, "f": f,
                       "value": value, "value_encoding": encoding, "node": node})


def delta(base: int, add: list[list[int]], remove: list[list[int]], count: int) -> object:
    return {"base": base, "add": add, "remove": remove, "count": count}


BASE = line(0, "ok", [[1, 3]], encoding="int-ranges")  # n1 holds 1, 2, 3


@pytest.mark.parametrize(("lines", "says"), [
    ([line(1, "ok", [[1, 3]])], "must be an object with base, add, remove and count, not list"),
    ([line(1, "ok", {"base": 0, "add": []})], "lacks ['count', 'remove'] and has []"),
    ([line(1, "ok", delta(-1, [], [], 3))], "base is an integer from 0, not -1"),
    ([line(1, "ok", delta(0, [], [], True))], "count is an integer from 0, not True"),
    ([line(1, "ok", delta(0, [[5, 4]], [], 3))], "int-ranges-delta add range 0 is [5, 4]"),
    ([line(1, "ok", delta(0, [], [[1, 1], [2, 2]], 1))],
     "int-ranges-delta remove range 1 [2, 2] does not start after"),
    ([line(1, "ok", delta(0, [[4, 9]], [], 3))], "that adds 6 elements cannot hold only 3"),
    ([line(1, "info", delta(0, [], [], 3))], "only an ok read is written as a delta"),
    ([line(1, "ok", delta(1, [], [], 3))], "against operation 1, which is not before it"),
    ([line(1, "ok", delta(0, [], [], 3), node="n2")],
     "node 'n2' has no earlier ok read held as ranges; a node's first one must be written whole"),
    ([line(1, "ok", delta(0, [], [], 3), f="get")], "no earlier ok get held as ranges"),
    ([line(1, "ok", delta(0, [[4, 4]], [], 4)), line(2, "ok", delta(0, [], [], 3))],
     "the previous ok read of node 'n1' held as ranges is operation 1: a delta is against that "
     "one"),
    ([line(1, "ok", delta(0, [[4, 4]], [[1, 1]], 4))],
     "says count 4, but its base (operation 0) held 3, and 3 + 1 added - 1 removed is 3"),
])
def test_a_bad_delta_is_an_error_naming_the_line(lines: list[str], says: str) -> None:
    text = "".join(x + "\n" for x in [BASE, *lines])
    with pytest.raises(HistoryError, match=rf"h\.jsonl:{len(lines) + 1}: ") as e:
        parse_jsonl(text, where="h.jsonl")
    assert says in str(e.value)


@pytest.mark.parametrize(("value", "says"), [
    (delta(0, [[3, 4]], [], 5), "operation 1: its delta adds 3, which its base (operation 0) "
                                "already holds"),
    (delta(0, [[4, 4]], [[5, 5]], 3), "operation 1: its delta removes 5, which its base "
                                      "(operation 0) does not hold"),
])
def test_a_delta_that_does_not_apply_is_an_error_when_resolved(value: object, says: str) -> None:
    """The loader checks what is cheap (the counts add up here); resolving names the rest."""
    ops = parse_jsonl(f"{BASE}\n{line(1, 'ok', value)}\n", where="h")
    with pytest.raises(HistoryError) as e:
        list(resolved_values(ops))
    assert str(e.value) == says


def test_a_recorded_delta_history_loads_resolves_and_writes_back_the_same_lines(
    tmp_path: Path,
) -> None:
    """A recorder's lines through `ValueEncoder` (as `chaos.clients.Recorder` writes them):
    deltas against each node's previous ok read, whole after a read that is not ranges."""
    def r(*values: int) -> IntRanges:
        ranges = IntRanges.encode(list(values))
        assert ranges is not None
        return ranges

    recorded = [  # (type, node, f, value)
        ("invoke", "n1", "read", None),
        ("ok", "n1", "read", r(1, 2, 3)),  # n1's first: whole
        ("ok", "n2", "read", r(1)),  # n2's first: whole
        ("ok", "n1", "read", r(1, 2, 3, 4, 6)),  # +4, 6
        ("info", "n1", "read", r(9)),  # not ok: whole, and not a base
        ("ok", "n1", "broadcast", 7),  # another f: no matter
        ("ok", "n1", "read", r(2, 3, 4, 6, 7)),  # -1 +7
        ("ok", "n2", "read", r(1, 5)),  # against n2's own
        ("ok", "n1", "read", [1, 1]),  # a list that cannot be ranges: n1 starts afresh
        ("ok", "n1", "read", r(1, 2)),  # whole
        ("ok", "n1", "read", r()),  # -1..2
    ]
    encoder = ValueEncoder()
    lines = []
    for index, (type_, node, f, value) in enumerate(recorded):
        held, how = encoder.encode(type=type_, f=f, node=node, index=index, value=value)
        lines.append(json.dumps({"index": index, "time": index, "type": type_, "process": 0,
                                 "f": f, "value": held, **how, "node": node},
                                separators=(",", ":")))
    kinds = [json.loads(x).get("value_encoding") for x in lines]
    assert kinds == [None, "int-ranges", "int-ranges", DELTA, "int-ranges", None, DELTA,
                     DELTA, None, "int-ranges", DELTA]
    assert json.loads(lines[6])["value"] == delta(3, [[7, 7]], [[1, 1]], 5)
    assert json.loads(lines[10])["value"] == delta(9, [], [[1, 2]], 0)
    path = tmp_path / "history.jsonl"
    path.write_text("".join(x + "\n" for x in lines))
    loaded = load_jsonl(path)
    assert loaded[6].value == IntRangesDelta(3, r(7), r(1), 5)
    # Written back as they were read, byte for byte.
    assert [json.dumps(op.to_json(), separators=(",", ":")) for op in loaded] == lines
    dump_jsonl(loaded, tmp_path / "again.jsonl")
    assert (tmp_path / "again.jsonl").read_text() == path.read_text()
    assert [value for _, value in resolved_values(loaded)] == [v for *_, v in recorded]


def test_a_delta_is_written_as_such_by_encoded() -> None:
    d = IntRangesDelta(4, IntRanges([(5, 6)]), EMPTY, 9)
    assert encoded(d) == ({"base": 4, "add": [[5, 6]], "remove": [], "count": 9},
                          {"value_encoding": DELTA})


def test_an_elle_export_writes_every_read_whole() -> None:
    encoder = ValueEncoder()
    reads = [IntRanges.encode(v) for v in ([1, 2], [1, 2, 3, 5], [2, 3, 5])]
    lines = []
    for index, value in enumerate(reads):
        held, how = encoder.encode(type="ok", f="read", node="n1", index=index, value=value)
        lines.append(json.dumps({"index": index, "type": "ok", "process": 0, "f": "read",
                                 "value": held, **how, "node": "n1"}) + "\n")
    ops = parse_jsonl("".join(lines), where="h")
    assert isinstance(ops[2].value, IntRangesDelta)
    rows = json.loads(dump_elle_json(ops))
    assert [row["value"] for row in rows] == [[1, 2], [1, 2, 3, 5], [2, 3, 5]]
    assert not any("value_encoding" in row for row in rows)
