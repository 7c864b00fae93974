"""Jepsen's long-fork checker: do all reads agree on one order of the writes?

    long_fork(history)                 # groups inferred from the reads
    long_fork(history, group_size=3)   # every read must cover 3 keys, as Jepsen's does

A long fork is the anomaly that parallel snapshot isolation allows and snapshot isolation
forbids: two transactions write different keys, and two readers see them in opposite orders.

    T1: w(x, 1)    T2: w(y, 1)    T3: r(x) = nil, r(y) = 1    T4: r(x) = 1, r(y) = nil

T3 says T2 came first, T4 says T1 did. This follows jepsen.tests.long-fork: write transactions
are one write, `[["w", k, v]]`, each key written at most once; read transactions read only,
`[["r", k, v]...]`, a group of keys each. Under any one order of the writes, reads of the same
group are totally ordered by "saw every write the other saw, and more"; two reads each of
which saw a write the other missed are a fork. The operations' `f` is not looked at (Jepsen's
generator says `read` and `write`, Elle's `txn`): the value's shape decides.

Reads are grouped by the set of keys they read, and distinct reads of a group compared
pairwise (each key is null or its one written value, so a group of n keys has at most 2^n
distinct reads, whatever the history's length). `group_size`, when given, is checked as
Jepsen checks it: a read of another number of keys cannot be judged.

The result has Jepsen's counts (`reads_count`, `early_read_count`: reads that saw nothing,
`late_read_count`: reads that saw everything) and `forks`, pairs of reads (the first
`LIST_LIMIT`; `fork_count` exact), each pair shown as the two operations, and `violations`
in words. Valid is false on a fork; unknown when a key was written twice, two reads saw
different values of one key, a read's group has the wrong size, or no read succeeded (Jepsen
says valid then: here nothing judged is unknown).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

from checker.elle.txns import freeze, is_txn_value
from checker.history import Op
from checker.result import LIST_LIMIT, UNKNOWN, result

HEADLINE = ("fork_count", "reads_count")


class _Illegal(Exception):
    """A history this checker cannot judge; the message says why."""


def long_fork(history: Sequence[Op], *, group_size: int | None = None) -> dict[str, Any]:
    """Judge a long-fork history (module docstring)."""
    client = [op for op in history if op.process != "nemesis"]
    reads = [op for op in client if op.type == "ok" and _is_read(op.value)]
    counts = {
        "reads_count": len(reads),
        "early_read_count": sum(1 for op in reads if all(m[2] is None for m in op.value)),
        "late_read_count": sum(1 for op in reads if all(m[2] is not None for m in op.value)),
    }
    try:
        _single_writes(client)
        forks = _forks(reads, group_size)
    except _Illegal as e:
        return result("long-fork", UNKNOWN, headline=HEADLINE, reason=str(e), **counts)
    if not reads:
        return result(
            "long-fork",
            UNKNOWN,
            headline=HEADLINE,
            reason="no read succeeded: nothing to judge",
            **counts,
        )
    shown = forks[:LIST_LIMIT]
    return result(
        "long-fork",
        not forks,
        headline=HEADLINE,
        fork_count=len(forks),
        forks=[[_describe(a), _describe(b)] for a, b in shown],
        violations=[{"type": "long-fork", "text": _text(a, b)} for a, b in shown],
        **counts,
    )


def _is_read(value: Any) -> bool:
    return is_txn_value(value) and bool(value) and all(len(m) == 3 and m[0] == "r" for m in value)


def _single_writes(client: list[Op]) -> None:
    written: dict[Hashable, int] = {}
    for op in client:
        value = op.value
        if op.type != "invoke" or not is_txn_value(value) or len(value) != 1:
            continue
        mop = value[0]
        if len(mop) != 3 or mop[0] != "w":
            continue
        k = freeze(mop[1])
        if k in written:
            raise _Illegal(
                f"key {mop[1]!r} is written by both operation {written[k]} and operation "
                f"{op.index}; long-fork needs each key written at most once"
            )
        written[k] = op.index


def _forks(reads: list[Op], group_size: int | None) -> list[tuple[Op, Op]]:
    groups: dict[frozenset[Hashable], dict[tuple[Any, ...], Op]] = {}
    for op in reads:
        state = {freeze(k): freeze(v) for _, k, v in op.value}
        keys = frozenset(state)
        if group_size is not None and len(keys) != group_size:
            raise _Illegal(
                f"operation {op.index} read {len(keys)} keys; every read of this history "
                f"should read a group of {group_size}"
            )
        distinct = groups.setdefault(keys, {})
        distinct.setdefault(tuple(sorted(state.items(), key=repr)), op)
    forks: list[tuple[Op, Op]] = []
    for distinct in groups.values():
        items = list(distinct.items())
        for i, (a_state, a) in enumerate(items):
            for b_state, b in items[i + 1 :]:
                if _compare(dict(a_state), dict(b_state), a, b) is None:
                    forks.append((a, b) if a.index < b.index else (b, a))
    forks.sort(key=lambda p: (p[0].index, p[1].index))
    return forks


def _compare(a: dict[Any, Any], b: dict[Any, Any], op_a: Op, op_b: Op) -> int | None:
    """-1 if read a saw more, 1 if b did, 0 if the same, None if each saw something the other
    missed (Jepsen's read-compare)."""
    res = 0
    for k, va in a.items():
        vb = b[k]
        if va == vb:
            continue
        if vb is None:
            if res > 0:
                return None
            res = -1
        elif va is None:
            if res < 0:
                return None
            res = 1
        else:
            raise _Illegal(
                f"operations {op_a.index} and {op_b.index} read different values of key "
                f"{k!r} ({va!r} and {vb!r}); long-fork assumes one write per key"
            )
    return res


def _describe(op: Op) -> dict[str, Any]:
    return {"index": op.index, "process": op.process, "f": op.f, "value": op.value}


def _text(a: Op, b: Op) -> str:
    def seen(op: Op) -> str:
        return ", ".join(f"{k}={'nil' if v is None else v}" for _, k, v in op.value)

    return (
        f"long fork: operation {a.index} read {seen(a)} and operation {b.index} read "
        f"{seen(b)}: each saw a write the other did not"
    )
