"""Jepsen's bank checker: every read of all the accounts sees the same total.

    bank(history)                                      # accounts and total from the first read
    bank(history, accounts=[0, 1, 2], total=30, negative_balances=True)

A bank test moves money between accounts with transactions (`transfer`, value
`{"from": a, "to": b, "amount": n}`) and reads every account at once (`read`, ok value a map
account -> balance). Transfers preserve the total, so under snapshot isolation (or anything
stronger) every read must sum to it; a read that does not saw part of some transfer (a read
skew, or a lost or duplicated update). This follows jepsen.tests.bank/checker, with
elle-cli's defaults (elle-cli's bank.clj): when `accounts` or `total` is not given, they are
the first `ok` read's accounts and the sum of its balances.

Each `ok` read is judged by the first rule it breaks, in Jepsen's order:

| error | the read... |
|---|---|
| `unexpected-key` | names an account that is not one of `accounts` |
| `nil-balance` | has a null balance |
| `wrong-total` | sums to other than `total` |
| `negative-value` | has a negative balance (unless `negative_balances`) |

Only reads are judged; transfers are not (a transfer's own outcome is the database's
business). Account ids are compared as strings, since a JSON object's keys are strings (and
the EDN reader turns map keys into strings too): account `0` and `"0"` are the same account.

The result has Jepsen's fields (`read_count`, `error_count`, `first_error`, and `errors` by
type with `count`, `first`, `worst`, `last`, and for wrong totals `lowest` and `highest`),
plus `violations` (the first errors in words). Valid is false on any error; unknown when no
read succeeded (Jepsen says valid: nothing broke; here nothing judged is unknown).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from checker.history import HistoryError, Op
from checker.result import LIST_LIMIT, UNKNOWN, Validity, result

HEADLINE = ("error_count", "read_count", "total")
ORDER = ("unexpected-key", "nil-balance", "wrong-total", "negative-value")


def bank(
    history: Sequence[Op],
    *,
    accounts: Iterable[Any] | None = None,
    total: int | float | None = None,
    negative_balances: bool = False,
    read_f: str = "read",
) -> dict[str, Any]:
    """Judge a bank history (module docstring)."""
    reads = [op for op in history if op.type == "ok" and op.f == read_f and op.process != "nemesis"]
    for op in reads:
        if not isinstance(op.value, dict):
            raise HistoryError(
                f"operation {op.index}: a bank read's value is a map of account to balance, "
                f"not {op.value!r}; is --model right?"
            )
    if not reads:
        return result(
            "bank",
            UNKNOWN,
            headline=HEADLINE,
            read_count=0,
            error_count=0,
            reason="no read succeeded: nothing to judge",
        )
    first = reads[0].value
    known = {str(a) for a in accounts} if accounts is not None else {str(a) for a in first}
    if total is None:
        total = sum(v for v in first.values() if isinstance(v, int | float))
    errors: dict[str, list[dict[str, Any]]] = {}
    for op in reads:
        error = _error(op, known, total, negative_balances)
        if error is not None:
            errors.setdefault(error["type"], []).append(error)
    summary = {kind: _summary(kind, errs, total) for kind, errs in errors.items()}
    firsts = [errs[0] for errs in errors.values()]
    violations = sorted(
        (e for kind in ORDER for e in errors.get(kind, ())[:LIST_LIMIT]),
        key=lambda e: e["op"]["index"],
    )[:LIST_LIMIT]
    valid: Validity = not errors
    return result(
        "bank",
        valid,
        headline=HEADLINE,
        read_count=len(reads),
        error_count=sum(len(e) for e in errors.values()),
        total=total,
        accounts=sorted(known),
        first_error=min(firsts, key=lambda e: e["op"]["index"]) if firsts else None,
        errors=summary,
        violations=[{"type": e["type"], "text": e["text"]} for e in violations],
    )


def _error(op: Op, known: set[str], total: int | float, negative_ok: bool) -> dict[str, Any] | None:
    balances: dict[Any, Any] = op.value
    where = {"index": op.index, "process": op.process, "f": op.f, "value": balances}
    unexpected = [a for a in balances if str(a) not in known]
    if unexpected:
        return {
            "type": "unexpected-key",
            "unexpected": unexpected,
            "op": where,
            "text": f"unexpected-key: operation {op.index} read accounts {unexpected}, "
            "which are not among the accounts",
        }
    nils = [a for a, v in balances.items() if v is None]
    if nils:
        return {
            "type": "nil-balance",
            "nils": nils,
            "op": where,
            "text": f"nil-balance: operation {op.index} read no balance for accounts {nils}",
        }
    if not all(isinstance(v, int | float) for v in balances.values()):
        raise HistoryError(f"operation {op.index}: a balance is not a number: {balances!r}")
    seen = sum(balances.values())
    if seen != total:
        return {
            "type": "wrong-total",
            "total": seen,
            "op": where,
            "text": f"wrong-total: operation {op.index} read balances summing to {seen}, "
            f"not {total}",
        }
    negative = [v for v in balances.values() if v < 0]
    if negative and not negative_ok:
        return {
            "type": "negative-value",
            "negative": negative,
            "op": where,
            "text": f"negative-value: operation {op.index} read negative balances {negative}",
        }
    return None


def _badness(error: dict[str, Any], total: int | float) -> float:
    """How bad an error is, as Jepsen ranks them (its err-badness)."""
    kind = error["type"]
    if kind == "unexpected-key":
        return len(error["unexpected"])
    if kind == "nil-balance":
        return len(error["nils"])
    if kind == "wrong-total":
        return abs((error["total"] - total) / total) if total > 0 else 0.0
    return float(-sum(error["negative"]))


def _summary(kind: str, errs: list[dict[str, Any]], total: int | float) -> dict[str, Any]:
    out = {
        "count": len(errs),
        "first": errs[0],
        "worst": max(errs, key=lambda e: _badness(e, total)),
        "last": errs[-1],
    }
    if kind == "wrong-total":
        out["lowest"] = min(errs, key=lambda e: e["total"])
        out["highest"] = max(errs, key=lambda e: e["total"])
    return out
