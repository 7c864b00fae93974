"""Jepsen's long-fork checker on literal histories, good and bad.

The first case is elle-cli's test/test-data/long-fork.edn (ligurio/elle-cli), whose result
(long-fork-result.json) is invalid with one fork and 2 reads; the second is the example in
jepsen.tests.long-fork's docstring.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from checker.formats import load
from checker.history import Op
from checker.long_fork import long_fork

ELLE_CLI_LONG_FORK = """\
[{:type :invoke, :f :read, :value [[:r 0 nil] [:r 1 nil] [:r 2 nil]]},
{:type :ok, :f :read, :value [[:r 0 1] [:r 1 1] [:r 2 nil]]},
{:type :invoke, :f :read, :value [[:r 2 nil] [:r 0 nil] [:r 1 nil]]},
{:type :ok, :f :read, :value [[:r 2 1]   [:r 0 1]   [:r 1 nil]]}]
"""


def test_elle_cli_long_fork(tmp_path: Path) -> None:
    path = tmp_path / "long-fork.edn"
    path.write_text(ELLE_CLI_LONG_FORK)
    res = long_fork(load(path).ops)
    assert res["valid"] is False
    assert res["reads_count"] == 2
    assert (res["early_read_count"], res["late_read_count"]) == (0, 0)
    assert res["fork_count"] == 1
    ((a, b),) = res["forks"]
    assert (a["index"], b["index"]) == (1, 3)
    assert res["violations"][0]["text"] == (
        "long fork: operation 1 read 0=1, 1=1, 2=nil and operation 3 read 2=1, 0=1, 1=nil: "
        "each saw a write the other did not"
    )


def ops_of(*rows: tuple[str, int, str, list[list[Any]]]) -> list[Op]:
    ops = [Op(t, p, f, v, i, i) for i, (t, p, f, v) in enumerate(rows)]
    return ops


def _write(p: int, k: str) -> list[tuple[str, int, str, list[list[Any]]]]:
    return [("invoke", p, "write", [["w", k, 1]]), ("ok", p, "write", [["w", k, 1]])]


def _read(p: int, x: Any, y: Any) -> list[tuple[str, int, str, list[list[Any]]]]:
    return [
        ("invoke", p, "read", [["r", "x", None], ["r", "y", None]]),
        ("ok", p, "read", [["r", "x", x], ["r", "y", y]]),
    ]


def test_jepsen_docstring_example_is_a_fork() -> None:
    res = long_fork(
        ops_of(*_write(0, "x"), *_write(1, "y"), *_read(2, None, 1), *_read(3, 1, None))
    )
    assert res["valid"] is False
    assert res["fork_count"] == 1


def test_reads_in_one_order_are_valid() -> None:
    res = long_fork(ops_of(
        *_read(2, None, None), *_write(0, "x"), *_read(2, 1, None), *_write(1, "y"),
        *_read(3, 1, 1), *_read(3, 1, None),
    ))
    assert res["valid"] is True
    assert (res["reads_count"], res["early_read_count"], res["late_read_count"]) == (4, 1, 1)


def test_a_key_written_twice_cannot_be_judged() -> None:
    res = long_fork(ops_of(*_write(0, "x"), *_write(1, "x"), *_read(2, 1, None)))
    assert res["valid"] == "unknown"
    assert "written by both operation 0 and operation 2" in res["reason"]


def test_group_size_is_checked() -> None:
    res = long_fork(ops_of(*_read(2, None, None)), group_size=3)
    assert res["valid"] == "unknown"
    assert "should read a group of 3" in res["reason"]
    assert long_fork(ops_of(*_read(2, None, None)), group_size=2)["valid"] is True


@pytest.mark.parametrize("rows", [[], _write(0, "x")])
def test_nothing_to_judge_is_unknown(rows: list[tuple[str, int, str, list[list[Any]]]]) -> None:
    assert long_fork(ops_of(*rows))["valid"] == "unknown"
