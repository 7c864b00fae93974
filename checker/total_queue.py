"""Jepsen's total-queue checker: what goes in must come out.

    from checker.total_queue import total_queue
    total_queue(history)   # -> checker.result.result("total-queue", valid, headline=...)

`jepsen.checker/total-queue` (jepsen-io/jepsen, jepsen/src/jepsen/checker.clj), for queues that
promise not order but delivery: every acknowledged enqueue is dequeued, and nothing comes out
that never went in. It is O(n) and judges multisets of values, not the order of operations, so
it needs a history that drains the queue completely at the end (Jepsen's `:drain`).

The history holds `enqueue` (value: the element), `dequeue` (`ok` value: the element taken) and
`drain` (`ok` value: the list of elements a client took until the queue was empty). Ours and
Jepsen's alike: `chaos check FILE --model total-queue` reads EDN (`:f :enqueue`) and JSON.

Definitions, with multiplicity (each a multiset, as Jepsen's):
- attempts: the values of every enqueue invocation; acknowledged: of every `ok` enqueue;
- dequeues: the values of every `ok` dequeue, and every element of every `ok` drain (Jepsen's
  `expand-queue-drain-ops`: a drain is one `ok` dequeue per element; invoked or failed drains
  say nothing; a drain that ended `info` cannot be judged and is an error, as in Jepsen);
- ok: dequeues that were attempted (dequeues intersected with attempts);
- **unexpected**: dequeued values never attempted at all (every copy);
- **duplicated**: dequeued more times than attempted (dequeues minus attempts, less the
  unexpected);
- **lost**: acknowledged, but dequeued fewer times (acknowledged minus dequeues);
- **recovered**: dequeued, though their enqueue was not acknowledged (ok minus acknowledged).

Valid when nothing is lost and nothing unexpected, exactly as Jepsen's: duplicates are reported
(`duplicated_count`, in the headline) but allowed, since an at-least-once queue redelivers.
Unknown when no enqueue was acknowledged and nothing was dequeued: nothing to judge.

Ours, beyond Jepsen's: each list (`lost`, `unexpected`, `duplicated`, `recovered`: the distinct
values, at most `LIST_LIMIT`, their counts exact in `*_count`) comes with `<name>_ops`, the
operations that show them (the acknowledged enqueues of a lost value, the dequeues or drains of
an unexpected or duplicated one, the dequeues of a recovered one), so a report can point at
them. A dequeue whose `ok` value is nil (an empty queue, as some clients record it) took
nothing and is left out, where Jepsen would count nil as unexpected.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Hashable, Sequence
from typing import Any

from checker.history import HistoryError, Op, client_ops, pair
from checker.result import LIST_LIMIT, UNKNOWN, Validity, result

HEADLINE = ("lost_count", "unexpected_count", "duplicated_count", "recovered_count")
OPS_LISTED = 3  # operations listed per value


def _hkey(value: Any) -> Hashable:
    if isinstance(value, list | dict):
        return json.dumps(value, sort_keys=True)
    hashable: Hashable = value
    return hashable


def _quote(op: Op) -> dict[str, Any]:
    return {"index": op.index, "process": op.process, "f": op.f, "type": op.type,
            "node": op.node}


def total_queue(
    history: Sequence[Op],
    *,
    enqueue_f: str = "enqueue",
    dequeue_f: str = "dequeue",
    drain_f: str = "drain",
) -> dict[str, Any]:
    """Judge a queue history; the module docstring defines every term."""
    ops = client_ops(history)
    pair(ops)  # raises HistoryError for a history no client could record
    attempts: Counter[Hashable] = Counter()
    acknowledged: Counter[Hashable] = Counter()
    dequeues: Counter[Hashable] = Counter()
    shown: dict[Hashable, Any] = {}  # key -> the value as the history holds it
    enqueued_by: dict[Hashable, list[Op]] = {}
    dequeued_by: dict[Hashable, list[Op]] = {}

    def note(by: dict[Hashable, list[Op]], key: Hashable, op: Op) -> None:
        listed = by.setdefault(key, [])
        if len(listed) < OPS_LISTED and (not listed or listed[-1] is not op):
            listed.append(op)

    for op in ops:
        if op.f == enqueue_f:
            key = _hkey(op.value)
            shown.setdefault(key, op.value)
            if op.type == "invoke":
                attempts[key] += 1
            elif op.type == "ok":
                acknowledged[key] += 1
                note(enqueued_by, key, op)
        elif op.f == dequeue_f and op.type == "ok" and op.value is not None:
            key = _hkey(op.value)
            shown.setdefault(key, op.value)
            dequeues[key] += 1
            note(dequeued_by, key, op)
        elif op.f == drain_f and op.type in ("ok", "info"):
            if op.type == "info":
                raise HistoryError(
                    f"operation {op.index}: a drain that ended info cannot be judged (it may "
                    "have taken any elements); Jepsen's total-queue refuses it too")
            if not isinstance(op.value, list | tuple):
                raise HistoryError(
                    f"operation {op.index}: an ok drain's value must be the list of elements "
                    f"it took, not {op.value!r}")
            for element in op.value:
                key = _hkey(element)
                shown.setdefault(key, element)
                dequeues[key] += 1
                note(dequeued_by, key, op)

    ok = dequeues & attempts
    unexpected = Counter({k: n for k, n in dequeues.items() if k not in attempts})
    duplicated = dequeues - attempts - unexpected
    lost = acknowledged - dequeues
    recovered = ok - acknowledged

    valid: Validity
    details: dict[str, Any] = {}
    if lost or unexpected:
        valid = False
    elif not acknowledged and not dequeues:
        valid = UNKNOWN
        details["reason"] = "nothing to judge: no enqueue was acknowledged and nothing dequeued"
    else:
        valid = True

    def listed(name: str, values: Counter[Hashable], by: dict[Hashable, list[Op]]) -> None:
        keys = sorted(values, key=repr)[:LIST_LIMIT]
        details[f"{name}_count"] = sum(values.values())
        details[name] = [shown[k] for k in keys]
        details[f"{name}_ops"] = [_quote(op) for k in keys for op in by.get(k, ())]

    listed("lost", lost, enqueued_by)
    listed("unexpected", unexpected, dequeued_by)
    listed("duplicated", duplicated, dequeued_by)
    listed("recovered", recovered, dequeued_by)
    return result(
        "total-queue",
        valid,
        headline=HEADLINE,
        attempt_count=sum(attempts.values()),
        acknowledged_count=sum(acknowledged.values()),
        dequeued_count=sum(dequeues.values()),
        ok_count=sum(ok.values()),
        **details,
    )
