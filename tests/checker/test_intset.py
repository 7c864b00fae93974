"""IntRanges: a read of consecutive integers as ranges, and its line in a history."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checker.history import HistoryError, Op, dump_jsonl, encoded, load_jsonl, parse_jsonl
from checker.intset import IntRanges, absent_from, count_between


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
    line = json.dumps({"index": 0, "type": "ok", "process": 0, "f": "read", "value": [],
                       "value_encoding": "gzip"})
    with pytest.raises(HistoryError, match=r"h\.jsonl:1: value_encoding 'gzip' is not known"):
        parse_jsonl(line + "\n", where="h.jsonl")


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
