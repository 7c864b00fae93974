"""Jepsen's set-full checker: is every element added to a set eventually, and stably, visible?

The history holds adds (`add_f`, value: the element) and reads (`read_f`, ok value: a list of
elements). Broadcast is such a set: `broadcast` adds a message, `read` returns every message a
node holds. Ordering is by position in the history (real time, one clock); latencies use
`Op.time` (ns) and are reported in ms.

For each element:

- **known**: the earliest completion that proves it exists: its `ok` add, or the first `ok`
  read that saw it (an `info` add may have happened; a read seeing it settles that).
- A read *observes* the element if it was **invoked after** the element was known; a read that
  began earlier may legally have missed it. A read that saw it counts as present whenever it
  began.
- **lost**: known, and the latest observing read (by invocation) lacks it, with no later read
  having seen it; *or* any final read lacks it. Final reads (`extra={"final": True}`) run after
  every fault has healed and the recovery phase has passed, so every node must hold every known
  element by then: one node missing it is a loss, even if another node's final read has it.
- **stable**: not lost, and some read saw it. **stale**: stable, but some observing read missed
  it first (allowed, unless `linearizable=True`); its stable latency is from known to just
  after the last read that missed it (0 when none did).
- **never read**: known, but no read observed it either way.
- **unexpected**: read, but never added: invalid. **failed but read**: its add was `fail`
  (definitely did not happen) yet a read saw it: invalid.

Valid is false if anything is lost, unexpected, or failed-but-read (or stale when
`linearizable`); unknown when no read succeeded or no element was known (stable + lost is zero:
nothing was judged); true otherwise. Duplicates within one read are counted, not judged (a set
may be returned as a list with repeats by some nodes).

Deviation from Jepsen: Jepsen's set-full judges loss only by the last read; the final-read rule
above is stronger, and matches what a broadcast service promises after healing.

How it stays linear. A broadcast history is quadratic in size to begin with (each read returns
the whole set so far); judging it must not multiply that. The plain definition (for each
element, scan every read) is quadratic in time, and keeping each read as a set costs several
times the history's size in memory. So one pass, in history order, keeps per element only what
decides its verdict, and per read only its position, time and the list the history holds:

- Elements are known in history order, so the elements known before a read was invoked are a
  prefix of the known elements (found by bisection on their positions). A read lacks some of
  them exactly when fewer of its elements fall in that prefix than the prefix holds; only then
  are the missing ones looked for, newest first (a read usually lacks only the newest few),
  each recording that read as its latest *missing* read (and whether it was final). A read
  that lacks an old element scans back to it, in C: only a history that loses elements early
  and keeps reading costs (elements x reads) set lookups again.
- Lost without a final read means the last read (by invocation) observed the element and
  lacked it: no other read is needed. The latest read that saw a lost element (for its lost
  latency) is found afterwards, by one scan of the reads from the last, for the lost only.
- A read that saw an element it could not have observed (invoked before it was known) marks it
  seen; every other read that saw an element observed it, and then so did the last read.

A read recorded as integer ranges (`checker.intset.IntRanges`, how the workloads record
reads of consecutive integers) is judged the same way without listing its elements: with the
integers known so far kept sorted, how many of them a read holds is a bisection per range, the
new ones in a range are found by bisecting on those counts, and the known ones it lacks are
exactly the known integers in its gaps. A read then costs (ranges + elements it lacks or
adds) x log, not its length, and ten minutes of broadcast are judged in seconds.

Each read's own elements become one transient set (for membership and duplicates). Beyond the
history itself the checker holds a few values per element and per read: linear in the number
of elements and operations, not in the total size of the reads. `tests/checker/test_setfull.py`
compares it with the plain definition on random histories.
"""

from __future__ import annotations

import json
import math
from bisect import bisect_left, insort
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from itertools import chain, filterfalse, islice
from typing import Any

from checker.history import Op, client_ops, pair
from checker.intset import IntRanges, absent_from, between, count_between
from checker.result import UNKNOWN, Validity, result

QUANTILES = (0.0, 0.5, 0.95, 0.99, 1.0)
LIST_LIMIT = 100  # elements listed per category in a result; the counts are always exact
HEADLINE = (
    "lost_count",
    "unexpected_count",
    "failed_but_read_count",
    "stale_count",
    "duplicated_count",
)


@dataclass(frozen=True, slots=True)
class _Read:
    invoke_pos: int
    invoke_time: int
    value: list[Any] | IntRanges  # the history's own value, not a copy


def set_full(
    history: Sequence[Op],
    *,
    add_f: str = "add",
    read_f: str = "read",
    linearizable: bool = False,
) -> dict[str, Any]:
    """Judge a set history; see the module docstring for every term."""
    pair(client_ops(history))  # raises HistoryError for a history no client could record

    attempted: set[Hashable] = set()
    failed: set[Hashable] = set()
    acked: set[Hashable] = set()
    acknowledged = 0
    # element -> (position, time) it became known; insertion order is position order
    known: dict[Hashable, tuple[int, int]] = {}
    known_positions: list[int] = []  # the positions of `known`, in its order
    known_set: set[Hashable] = set()  # the keys of `known`: a set differs from a set faster
    missing_from: dict[Hashable, tuple[int, int]] = {}  # latest observing read that lacked it
    missing_from_final: set[Hashable] = set()
    seen_early: set[Hashable] = set()  # seen by a read invoked before it was known
    reads: list[_Read] = []
    final_read_count = 0
    duplicated_count = 0

    known_ints: list[int] = []  # the integers of `known`, sorted (for reads held as ranges)
    known_other: list[Hashable] = []  # the rest of `known`

    def learn(elements: Iterable[Hashable], pos: int, time: int) -> None:
        for element in elements:
            known[element] = (pos, time)
            known_positions.append(pos)
            known_set.add(element)
            if type(element) is int:
                if known_ints and element < known_ints[-1]:
                    insort(known_ints, element)
                else:
                    known_ints.append(element)
            else:
                known_other.append(element)

    def note_missing(element: Hashable, invoke_pos: int, invoke_time: int, is_final: bool) -> None:
        if missing_from.get(element, (-1, 0))[0] < invoke_pos:
            missing_from[element] = (invoke_pos, invoke_time)
        if is_final:
            missing_from_final.add(element)

    open_: dict[Any, tuple[int, Op]] = {}
    for pos, op in enumerate(history):
        if op.process == "nemesis":
            continue
        if op.type == "invoke":
            open_[op.process] = (pos, op)
            if op.f == add_f:
                attempted.add(_key(op.value))
            continue
        invoke_pos, inv = open_.pop(op.process)
        if inv.f == add_f:
            element = _key(inv.value)
            if op.type == "ok":
                acknowledged += 1
                acked.add(element)
                if element not in known:
                    learn((element,), pos, op.time)
            elif op.type == "fail":
                failed.add(element)
            continue
        if inv.f != read_f or op.type != "ok" or not isinstance(op.value, list | IntRanges):
            continue  # a value that is not a list: the replies checker reports malformed replies
        is_final = bool(inv.extra.get("final") or op.extra.get("final"))
        final_read_count += is_final
        reads.append(_Read(invoke_pos, inv.time, op.value))
        before = bisect_left(known_positions, invoke_pos)  # known when the read was invoked
        after = len(known) - before  # known since, while the read was in flight
        if isinstance(op.value, IntRanges):  # the same, by ranges (module docstring)
            held = op.value
            late: set[Hashable] = {e for e in islice(reversed(known), after) if e in held}
            short = [(lo, hi) for lo, hi in held.ranges()
                     if count_between(known_ints, lo, hi) < hi - lo + 1]
            added = [x for lo, hi in short for x in absent_from(known_ints, lo, hi)]  # ascending
            new: set[Hashable] = set(added)
            if before - (len(held) - len(late) - len(new)):
                lacking = chain.from_iterable(between(known_ints, lo, hi) for lo, hi in held.gaps())
                for element in chain(lacking, (e for e in known_other if e not in held)):
                    if known[element][0] < invoke_pos:  # known before the read was invoked
                        note_missing(element, invoke_pos, inv.time, is_final)
            seen_early |= late
            seen_early |= new
            learn(added, pos, op.time)
            continue
        members = _members(op.value)
        duplicated_count += len(op.value) - len(members)
        late = members.intersection(islice(reversed(known), after)) if after else set()
        new = members.difference(known_set)
        missing = before - (len(members) - len(late) - len(new))
        if missing:
            newest_first = islice(reversed(known), after, None)
            for element in islice(filterfalse(members.__contains__, newest_first), missing):
                note_missing(element, invoke_pos, inv.time, is_final)
        seen_early |= late
        seen_early |= new
        learn(new, pos, op.time)
    failed -= acked  # an add that failed and then, retried, succeeded is not a failed add

    last_read_pos = max((r.invoke_pos for r in reads), default=-1)
    lost: list[Hashable] = []
    stable: list[Hashable] = []
    stale: list[Hashable] = []
    never_read: list[Hashable] = []
    stable_latencies_ms: list[float] = []
    for element, (known_pos, known_time) in known.items():
        missed = missing_from.get(element)
        if element in missing_from_final or (missed is not None and missed[0] == last_read_pos):
            lost.append(element)
        elif element in seen_early or known_pos < last_read_pos:
            stable.append(element)
            stable_at = missed[1] + 1 if missed is not None else known_time
            stable_latencies_ms.append(_ms(stable_at - known_time))
            if missed is not None:
                stale.append(element)
        else:
            never_read.append(element)
    last_seen = _last_seen(reads, lost)
    lost_latencies_ms = [_ms(last_seen[e] + 1 - known[e][1] if e in last_seen else 0) for e in lost]

    # Only reads make an element known without an ok add, so every such element was read.
    unexpected = [e for e in known if e not in attempted]
    failed_but_read = [e for e in failed if e in known]

    valid: Validity
    if lost or unexpected or failed_but_read or (linearizable and stale):
        valid = False
    elif not reads or not (stable or lost):
        valid = UNKNOWN
    else:
        valid = True
    return result(
        "set-full",
        valid,
        headline=HEADLINE,
        attempt_count=len(attempted),
        acknowledged_count=acknowledged,
        known_count=len(known),
        read_count=len(reads),
        final_read_count=final_read_count,
        stable_count=len(stable),
        lost_count=len(lost),
        lost=_listed(lost),
        stale_count=len(stale),
        stale=_listed(stale),
        never_read_count=len(never_read),
        never_read=_listed(never_read),
        unexpected_count=len(unexpected),
        unexpected=_listed(unexpected),
        failed_but_read_count=len(failed_but_read),
        failed_but_read=_listed(failed_but_read),
        duplicated_count=duplicated_count,
        stable_latency_ms=quantiles(stable_latencies_ms),
        lost_latency_ms=quantiles(lost_latencies_ms),
    )


def _last_seen(reads: list[_Read], elements: Iterable[Hashable]) -> dict[Hashable, int]:
    """Element -> invocation time of the latest read (by invocation) that saw it."""
    pending = set(elements)
    found: dict[Hashable, int] = {}
    for r in sorted(reads, key=lambda r: r.invoke_pos, reverse=True):
        if not pending:
            break
        if isinstance(r.value, IntRanges):
            hit = {e for e in pending if e in r.value}
        else:
            hit = pending.intersection(_members(r.value))
        for element in hit:
            found[element] = r.invoke_time
        pending -= hit
    return found


def quantiles(values: Iterable[float], qs: Sequence[float] = QUANTILES) -> dict[str, float] | None:
    """Nearest-rank quantiles, keyed `"0"`, `"0.5"`, ... (JSON keys); None for no values."""
    ordered = sorted(values)
    if not ordered:
        return None
    n = len(ordered)
    return {f"{q:g}": ordered[min(n - 1, max(0, math.ceil(q * n) - 1))] for q in qs}


def _key(value: Any) -> Hashable:
    """Elements as dict keys: JSON values that are not hashable become canonical JSON text."""
    if isinstance(value, list | dict):
        return json.dumps(value, sort_keys=True)
    hashable: Hashable = value
    return hashable


def _members(value: list[Any]) -> set[Hashable]:
    """The elements of a read as a set of keys (see `_key`)."""
    try:
        return set(value)
    except TypeError:  # lists or dicts among them
        return {_key(v) for v in value}


def _ms(ns: int) -> float:
    return round(max(0, ns) / 1e6, 3)


def _listed(elements: Iterable[Hashable]) -> list[Any]:
    items: list[Any] = list(elements)
    try:
        items.sort()
    except TypeError:  # mixed types: any stable order will do for a report
        items.sort(key=repr)
    return items[:LIST_LIMIT]
