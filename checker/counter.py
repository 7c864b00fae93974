"""The counter checker: every read lies between what surely happened and what might have.

    counter(history)                  # Jepsen's counter: every read is judged by both bounds
    counter(history, eventual=True)   # a CRDT counter: only final reads must include every ack

A counter starts at 0; `add` (value: the delta, any integer) adds to it; `read` returns it
(ok value: an integer). This follows Jepsen's `jepsen.checker/counter`, extended to deltas of
either sign as Maelstrom's pn-counter needs, judging positions in history order (real time):

- a read's **lower bound** is the sum of the positive deltas of `ok` adds that completed before
  the read was invoked, less every negative delta that might have happened by the time it
  completed (an `ok`, `info` or never-completed add invoked before the read completed);
- its **upper bound** is the sum of every positive delta that might have happened by the time
  it completed, less the negative deltas of `ok` adds that completed before it was invoked.

A `fail` add did not happen and counts nowhere. An `info` add may happen at any later time, so
it stays possible to the end. (Jepsen computes the same with increments only: its lower bound is
"acknowledged increments completed before the read began", its upper "all increments invoked
before the read completed".)

`eventual=True` is for eventually consistent counters (g-counter and pn-counter CRDTs): a read
served by a node that has not heard of an acknowledged add yet is legal there, so a read that
is not final is judged only against what might have happened (lower bound: every possible
decrement and no increment; upper: every possible increment and no decrement). Final reads are
judged by both bounds in either mode.

**Final reads** (`"final": true` on the op, as our runs record them after the heal; Jepsen's
and Maelstrom's `:final? true` too) must also:
- lie in Maelstrom's acceptable set: the sum of the `ok` adds that completed before the first
  final read was invoked, plus any subset of the other adds that might have happened before the
  last final read completed (Maelstrom's pn-counter checker, which keeps the set as integer
  ranges). The set is kept as at most `RANGES_MAX` ranges; past that it is widened to its hull,
  which is still sound (`acceptable_exact` is then false);
- agree with each other: after the heal and the quiet settle every node must hold every update.
  This assumes no add ran during the final reads (none invoked, and none acknowledged, after the
  first final read was invoked), as in our runs; otherwise agreement is not judged and
  `agreement` says why. An `info` add from before the final reads must have reached every node
  or none.

The result lists each violating read with its bounds (`violations`, at most `LIST_LIMIT`; the
counts are exact), the final window and the acceptable ranges. Valid is false on any violation,
disagreement or read of a non-integer; unknown when no read succeeded; true otherwise.
Deviation from Jepsen: a history without reads is unknown (Jepsen says valid: nothing broke).

It is one pass to pair operations and one to judge them, so 100,000 operations take a fraction
of a second (bench/crdt_checker.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from checker.history import HistoryError, Op
from checker.result import LIST_LIMIT, UNKNOWN, Validity, result

HEADLINE = ("violation_count", "disagreeing_final_reads", "first_violation")
RANGES_MAX = 1000  # acceptable ranges kept before widening to their hull (module docstring)
_NEVER = 1 << 62  # the completion position of an operation that never completed


def is_final(inv: Op, comp: Op | None = None) -> bool:
    """Whether an operation is a final read: `final` (ours) or `final?` (Jepsen's EDN)."""
    return any(
        bool(op.extra.get("final") or op.extra.get("final?"))
        for op in (inv, comp) if op is not None
    )


def counter(
    history: Sequence[Op],
    *,
    add_f: str = "add",
    read_f: str = "read",
    eventual: bool = False,
) -> dict[str, Any]:
    """Judge a counter history; see the module docstring for every rule."""
    adds, reads = _operations(history, add_f=add_f, read_f=read_f)
    judged = _judge(adds, reads, eventual=eventual)
    finals = [r for r in reads if r.final and r.ok]
    window, acceptable, exact = _final_window(adds, finals)
    flagged = {v["index"] for v in judged}
    for r in finals:
        if r.index in flagged or not isinstance(r.value, int) or _within(r.value, acceptable):
            continue
        judged.append(_violation(r, f"{r.value} is no sum of the acknowledged adds and a subset "
                                    "of the indefinite ones (outside the acceptable ranges)"))
    agreement, disagreeing = _agreement(adds, finals)

    read_count = sum(1 for r in reads if r.ok)
    valid: Validity
    if judged or disagreeing:
        valid = False
    elif not read_count:
        valid = UNKNOWN
    else:
        valid = True
    ordered = sorted(judged, key=lambda v: v["index"])
    extra: dict[str, Any] = {}
    if valid is UNKNOWN:
        extra["reason"] = "nothing to judge: no read succeeded"
    return result(
        "counter",
        valid,
        headline=HEADLINE,
        mode="eventual" if eventual else "every read",
        add_ok_count=sum(1 for a in adds if a.type == "ok"),
        add_indefinite_count=sum(1 for a in adds if a.type != "ok"),
        read_count=read_count,
        final_read_count=len(finals),
        violation_count=len(ordered),
        violations=ordered[:LIST_LIMIT],
        first_violation=ordered[0]["text"] if ordered else None,
        final_window=window,
        acceptable=acceptable[:LIST_LIMIT],
        acceptable_range_count=len(acceptable),
        acceptable_exact=exact,
        final_values=sorted({r.value for r in finals if isinstance(r.value, int)}),
        agreement=agreement,
        disagreeing_final_reads=disagreeing,
        final_reads=[{"node": r.node, "index": r.index, "value": r.value}
                     for r in finals[:LIST_LIMIT]],
        **extra,
    )


class _Add:
    __slots__ = ("complete_pos", "delta", "invoke_pos", "type")

    def __init__(self, invoke_pos: int, delta: int) -> None:
        self.invoke_pos = invoke_pos
        self.complete_pos = _NEVER
        self.delta = delta
        self.type = "info"  # until it completes: never completing is indefinite


class _Read:
    __slots__ = ("complete_pos", "final", "index", "invoke_index", "invoke_pos", "node", "ok",
                 "process", "value")

    def __init__(self, invoke_pos: int, inv: Op) -> None:
        self.invoke_pos = invoke_pos
        self.invoke_index = inv.index
        self.complete_pos = _NEVER
        self.index = inv.index
        self.process = inv.process
        self.node = inv.node
        self.final = is_final(inv)
        self.ok = False
        self.value: Any = None


def _operations(
    history: Sequence[Op], *, add_f: str, read_f: str
) -> tuple[list[_Add], list[_Read]]:
    """The adds (without `fail`s) and reads, with positions, in invocation order."""
    adds: list[_Add] = []
    reads: list[_Read] = []
    open_: dict[Any, tuple[Op, _Add | _Read | None]] = {}
    for pos, op in enumerate(history):
        if op.process == "nemesis":
            continue
        if op.type == "invoke":
            if op.process in open_:
                raise HistoryError(f"operation {op.index}: process {op.process!r} invoked again "
                                   f"while operation {open_[op.process][0].index} is still open")
            rec: _Add | _Read | None = None
            if op.f == add_f:
                rec = _Add(pos, _delta(op.value, op))
                adds.append(rec)
            elif op.f == read_f:
                rec = _Read(pos, op)
                reads.append(rec)
            open_[op.process] = (op, rec)
            continue
        if op.process not in open_:
            raise HistoryError(f"operation {op.index}: process {op.process!r} completed "
                               f"({op.type}) with no open invocation")
        inv, rec = open_.pop(op.process)
        if isinstance(rec, _Add):
            rec.type = op.type
            rec.complete_pos = pos
            if op.type == "ok" and inv.value is None and op.value is not None:
                rec.delta = _delta(op.value, op)  # a history that names the delta on completion
        elif isinstance(rec, _Read):
            rec.complete_pos = pos
            rec.index = op.index
            rec.final = rec.final or is_final(inv, op)
            rec.ok = op.type == "ok"
            rec.value = op.value
    return [a for a in adds if a.type != "fail"], reads


def _delta(value: Any, op: Op) -> int:
    if value is None:
        return 0  # named on the completion, if anywhere (`_operations`)
    if isinstance(value, bool) or not isinstance(value, int):
        raise HistoryError(f"operation {op.index}: an add's value must be an integer delta, "
                           f"not {value!r}")
    return value


def _judge(adds: list[_Add], reads: list[_Read], *, eventual: bool) -> list[dict[str, Any]]:
    """Every ok read outside its bounds (module docstring), by one sweep over positions."""
    # Events in position order: an add becomes possible at its invocation and surely happened
    # at its ok completion; a read snapshots the sure sums at its invocation and the possible
    # ones at its completion.
    possible = sorted((a.invoke_pos, a.delta) for a in adds)
    sure = sorted((a.complete_pos, a.delta) for a in adds if a.type == "ok")
    by_invoke = sorted((r for r in reads if r.ok), key=lambda r: r.invoke_pos)
    sure_at_invoke: dict[int, tuple[int, int]] = {}
    i = sure_pos = sure_neg = 0
    for r in by_invoke:
        while i < len(sure) and sure[i][0] < r.invoke_pos:
            d = sure[i][1]
            if d >= 0:
                sure_pos += d
            else:
                sure_neg -= d
            i += 1
        sure_at_invoke[r.invoke_pos] = (sure_pos, sure_neg)
    violations: list[dict[str, Any]] = []
    j = maybe_pos = maybe_neg = 0
    for r in sorted(by_invoke, key=lambda r: r.complete_pos):
        while j < len(possible) and possible[j][0] < r.complete_pos:
            d = possible[j][1]
            if d >= 0:
                maybe_pos += d
            else:
                maybe_neg -= d
            j += 1
        if eventual and not r.final:
            lower, upper = -maybe_neg, maybe_pos
        else:
            ok_pos, ok_neg = sure_at_invoke[r.invoke_pos]
            lower, upper = ok_pos - maybe_neg, maybe_pos - ok_neg
        v = r.value
        if isinstance(v, bool) or not isinstance(v, int):
            violations.append(_violation(r, f"read {v!r}, not an integer", lower, upper))
        elif v < lower:
            violations.append(_violation(r, f"{v} is below the lower bound {lower}", lower, upper))
        elif v > upper:
            violations.append(_violation(r, f"{v} is above the upper bound {upper}", lower, upper))
    return violations


def _violation(r: _Read, why: str, lower: int | None = None,
               upper: int | None = None) -> dict[str, Any]:
    where = f" at {r.node}" if r.node is not None else ""
    kind = "final read" if r.final else "read"
    return {
        "index": r.index,
        "invoke_index": r.invoke_index,
        "process": r.process,
        "node": r.node,
        "final": r.final,
        "value": r.value,
        "lower": lower,
        "upper": upper,
        "text": f"{kind}{where} (operation {r.index}): {why}",
    }


def _final_window(
    adds: list[_Add], finals: list[_Read]
) -> tuple[list[int] | None, list[list[int]], bool]:
    """The final reads' window `[lower, upper]` and Maelstrom's acceptable ranges (module
    docstring); whether those ranges are exact."""
    if not finals:
        return None, [], True
    first_invoke = min(r.invoke_pos for r in finals)
    last_complete = max(r.complete_pos for r in finals)
    definite = 0
    optional: list[int] = []
    for a in adds:
        if a.type == "ok" and a.complete_pos < first_invoke:
            definite += a.delta
        elif a.invoke_pos < last_complete:
            optional.append(a.delta)
    lower = definite + sum(d for d in optional if d < 0)
    upper = definite + sum(d for d in optional if d > 0)
    ranges = [[definite, definite]]
    exact = True
    for d in optional:
        if d == 0:
            continue
        ranges = _union(ranges, [[lo + d, hi + d] for lo, hi in ranges])
        if len(ranges) > RANGES_MAX:
            ranges = [[ranges[0][0], ranges[-1][1]]]
            exact = False
    return [lower, upper], ranges, exact


def _union(a: list[list[int]], b: list[list[int]]) -> list[list[int]]:
    """Two sorted lists of disjoint inclusive integer ranges, merged (adjacent ones joined)."""
    out: list[list[int]] = []
    for lo, hi in sorted(a + b):
        if out and lo <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return out


def _within(value: int, ranges: list[list[int]]) -> bool:
    return any(lo <= value <= hi for lo, hi in ranges)


def _agreement(adds: list[_Add], finals: list[_Read]) -> tuple[str, int]:
    """Whether the final reads agree (module docstring): a word for the result, and how many
    final reads disagree with the most common value (0 when not judged)."""
    if len(finals) < 2:
        return ("not judged: fewer than two final reads", 0)
    first_invoke = min(r.invoke_pos for r in finals)
    during = sum(1 for a in adds if a.invoke_pos > first_invoke
                 or (a.type == "ok" and a.complete_pos > first_invoke))
    if during:
        return (f"not judged: {during} add(s) ran during the final reads", 0)
    counts: dict[str, int] = {}
    for r in finals:
        counts[repr(r.value)] = counts.get(repr(r.value), 0) + 1
    if len(counts) == 1:
        return ("agree", 0)
    return ("disagree", len(finals) - max(counts.values()))
