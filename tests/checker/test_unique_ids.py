"""Unique ids: no id acknowledged twice; ids compare by canonical JSON."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rows import h, op

from checker.result import brief
from checker.unique_ids import unique_ids


@pytest.mark.parametrize(
    ("rows", "valid", "duplicated"),
    [
        (op(0, "generate", None, 1) + op(1, "generate", None, 2), True, 0),
        (op(0, "generate", None, "n1-1") + op(1, "generate", None, "n2-1"), True, 0),
        (op(0, "generate", None, 5) + op(1, "generate", None, 5), False, 1),
        (op(0, "generate", None, [1, "a"]) + op(1, "generate", None, [1, "a"]), False, 1),
        # An info generate may have handed the id out, but nobody saw it: nothing to compare.
        (op(0, "generate", None, 5) + op(1, "generate", None, 5, outcome="info"), True, 0),
        (op(0, "generate", None, outcome="info"), "unknown", 0),
        ([], "unknown", 0),
    ],
    ids=["ints", "strings", "duplicate", "duplicate-lists", "info-ignored", "none-ok", "empty"],
)
def test_unique_ids(rows: list, valid: Any, duplicated: int) -> None:
    res = unique_ids(h(*rows))
    assert res["checker"] == "unique-ids"
    assert res["valid"] == valid
    assert res["duplicated_count"] == duplicated


def test_unique_ids_reports_the_duplicate_and_the_range() -> None:
    rows = op(0, "generate", None, 3) + op(1, "generate", None, 9) + op(2, "generate", None, 3)
    res = unique_ids(h(*rows))
    assert res["duplicated"] == [{"id": 3, "count": 2, "indices": [1, 5]}]
    assert res["range"] == [3, 9]
    assert (res["attempted_count"], res["acknowledged_count"]) == (3, 3)


@given(st.lists(st.integers(), max_size=30))
def test_unique_ids_is_valid_exactly_when_the_ids_are_distinct(ids: list[int]) -> None:
    rows = [row for i, v in enumerate(ids) for row in op(i, "generate", None, v)]
    res = unique_ids(h(*rows))
    if not ids:
        assert res["valid"] == "unknown"
    else:
        assert res["valid"] is (len(set(ids)) == len(ids))


def test_unique_ids_headline_is_the_duplicate_count() -> None:
    res = unique_ids(h(*op(0, "generate", None, 5), *op(1, "generate", None, 5)))
    assert brief(res) == "duplicated_count=1"
