"""Jepsen's bank checker on literal histories, good and bad.

Reads are `{:f :read, :value {account balance}}`; transfers are not judged. The cases follow
jepsen.tests.bank/check-op's four errors, and elle-cli's defaults (accounts and total from
the first read); the first case is elle-cli's test/test-data/bank-neg.edn.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from checker.bank import bank
from checker.formats import load
from checker.history import HistoryError, Op


def history(*reads: dict[Any, Any] | None, transfers: int = 1) -> list[Op]:
    ops: list[Op] = []
    for _ in range(transfers):
        value = {"from": 0, "to": 1, "amount": 5}
        ops += [Op("invoke", 0, "transfer", value, 0), Op("ok", 0, "transfer", value, 0)]
    for balances in reads:
        ops += [Op("invoke", 1, "read", None, 0), Op("ok", 1, "read", balances, 0)]
    for i, op in enumerate(ops):
        op.index = op.time = i
    return ops


def test_elle_cli_bank_neg_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "bank-neg.edn"
    path.write_text(
        "{:type :invoke, :f :read, :process 0, :time 11142323154, :index 0}\n"
        "{:type :ok, :f :read, :process 0, :time 11245205834, :value {0 10, 1 10, 2 10}, "
        ":index 1}\n"
    )
    res = bank(load(path).ops)
    assert res["valid"] is True
    assert res["read_count"] == 1
    assert res["error_count"] == 0
    assert res["first_error"] is None
    assert res["total"] == 30


def test_every_read_sees_the_total() -> None:
    res = bank(history({"0": 10, "1": 20}, {"0": 5, "1": 25}, {"0": 0, "1": 30}))
    assert res["valid"] is True
    assert res["read_count"] == 3


@pytest.mark.parametrize(
    ("reads", "options", "error"),
    [
        (({"0": 10, "1": 20}, {"0": 5, "1": 20}), {}, "wrong-total"),
        (({"0": 10, "1": 20}, {"0": -5, "1": 35}), {}, "negative-value"),
        (({"0": 10, "1": 20}, {"0": None, "1": 30}), {}, "nil-balance"),
        (({"0": 10, "1": 20}, {"0": 10, "1": 20, "9": 0}), {}, "unexpected-key"),
        (({"0": 10, "1": 20},), {"accounts": [0]}, "unexpected-key"),
        (({"0": 10, "1": 20},), {"total": 40}, "wrong-total"),
    ],
)
def test_errors(reads: tuple[dict[str, Any], ...], options: dict[str, Any], error: str) -> None:
    res = bank(history(*reads), **options)
    assert res["valid"] is False
    assert list(res["errors"]) == [error]
    summary = res["errors"][error]
    assert summary["count"] == 1
    assert summary["first"] is summary["worst"]
    assert res["first_error"]["type"] == error
    assert res["violations"][0]["text"].startswith(f"{error}: operation ")
    json.dumps(res)


def test_negative_balances_allowed() -> None:
    res = bank(history({"0": 10, "1": 20}, {"0": -5, "1": 35}), negative_balances=True)
    assert res["valid"] is True


def test_wrong_totals_lowest_highest_worst() -> None:
    res = bank(history({"a": 50, "b": 50}, {"a": 50, "b": 40}, {"a": 70, "b": 50},
                       {"a": 10, "b": 50}))
    wrong = res["errors"]["wrong-total"]
    assert wrong["count"] == 3
    assert (wrong["lowest"]["total"], wrong["highest"]["total"]) == (60, 120)
    assert wrong["worst"]["total"] == 60  # |60 - 100| / 100 is the largest error
    assert wrong["last"]["op"]["index"] == 9
    assert res["first_error"]["op"]["index"] == 5


def test_nothing_to_judge_is_unknown() -> None:
    res = bank(history())
    assert res["valid"] == "unknown"
    assert "nothing to judge" in res["reason"]


def test_a_read_that_is_not_a_map_is_an_error() -> None:
    with pytest.raises(HistoryError, match="operation 3: a bank read's value is a map"):
        bank(history([1, 2]))  # type: ignore[arg-type]
