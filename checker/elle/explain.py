"""Anomalies in words, as Elle writes them.

A cycle is explained as Elle explains one (elle.core/explain-cycle): the transactions are
named T1, T2, ... in cycle order and shown with their history index, then each edge gives its
reason, the last one closing the contradiction:

    Let:
      T1 = operation 7 (process 1): [[append 250 10] [r 253 [1 3 4]] [r 255 [2 3 4 5]] ...]
      T2 = operation 3 (process 1): [[append 255 8] [r 253 [1 3 4]]]
      ...
    Then:
      - T1 < T2, because T1 read 255 = [2 3 4 5] and did not see T2's append of 8, ...
      - However, T3 < T1, because ...: a contradiction!

A step's reason is given by the workload (list-append, rw-register) for data edges, and here
for the two orders that do not come from data (`realtime_step`, `process_step`). Each reason
is a pair: the step as data (Elle's fields: `type`, `key`, `value`, `value'`, `a-mop-index`,
`b-mop-index`) and a function of the two transactions' names that says it in words.

Values are written as Jepsen writes them: lists as `[1 2 3]` (a long one as its last
`TAIL` elements after `...`, since its end is what matters), null as `nil`, strings quoted.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from checker.elle.txns import Txn

TAIL = 8  # elements shown of a long list

Render = Callable[[str, str], str]
Reason = tuple[dict[str, Any], Render]


def show(value: Any) -> str:
    """A value as Jepsen writes it (module docstring)."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        head = "... " if len(value) > TAIL else ""
        return "[" + head + " ".join(show(v) for v in value[-TAIL:]) + "]"
    if isinstance(value, str):
        return json.dumps(value)
    return str(value)


def show_txn(mops: Sequence[Sequence[Any]]) -> str:
    """A transaction's micro-operations: `[[append 1 2] [r 1 [1 2]]]`."""
    return "[" + " ".join(f"[{f} {show(k)} {show(v)}]" for f, k, v in mops) + "]"


def name_line(name: str, txn: Txn) -> str:
    outcome = "" if txn.type == "ok" else f", {txn.type}"
    return f"{name} = operation {txn.index} (process {txn.process}{outcome}): {show_txn(txn.mops)}"


def realtime_step(a: Txn, b: Txn) -> Reason:
    """Why `a` precedes `b` in real time: it completed before `b` was invoked."""
    assert a.completion is not None
    a_index, b_index = a.completion.index, b.invoke.index
    gap = ""
    if a.completion.time >= 0 and b.invoke.time >= 0:
        # Times are approximate: what matters is the order of the indexes.
        dt_s = (b.invoke.time - a.completion.time) / 1e9
        gap = f" {dt_s:.3f} s" if dt_s >= 0.0005 else " just"
    data = {"type": "realtime", "a-index": a_index, "b-invoke-index": b_index}
    said = f"completed at index {a_index},{gap} before the invocation of"
    return data, lambda x, y: f"{x} {said} {y}, at index {b_index}"


def process_step(a: Txn, b: Txn) -> Reason:
    """Why `a` precedes `b` in its process: the process ran it first."""
    data = {"type": "process", "process": a.process}
    return data, lambda x, y: f"process {a.process} executed {x} before {y}"


def cycle_text(txns: Sequence[Txn], renders: Sequence[Render]) -> str:
    """The whole explanation of a cycle through `txns`, edge `i` said by `renders[i]`."""
    names = [f"T{i + 1}" for i in range(len(txns))]
    lines = ["Let:"]
    lines.extend("  " + name_line(n, t) for n, t in zip(names, txns, strict=True))
    lines.extend(["", "Then:"])
    for i, render in enumerate(renders):
        a, b = names[i], names[(i + 1) % len(names)]
        said = f"{a} < {b}, because {render(a, b)}"
        last = i == len(renders) - 1
        lines.append(f"  - However, {said}: a contradiction!" if last else f"  - {said}.")
    return "\n".join(lines)


def cycle_line(kind: str, txns: Sequence[Txn], renders: Sequence[Render]) -> str:
    """The cycle on one line, for a terminal: its name, its operations, and why."""
    names = [f"T{i + 1}" for i in range(len(txns))]
    ops = ", ".join(f"{n}=op {t.index}" for n, t in zip(names, txns, strict=True))
    why = "; ".join(
        render(names[i], names[(i + 1) % len(names)]) for i, render in enumerate(renders)
    )
    return f"{kind} ({ops}): {why}"
