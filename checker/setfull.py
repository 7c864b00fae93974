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
"""

from __future__ import annotations

import json
import math
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from checker.history import Op, client_ops, pair
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
    complete_pos: int
    complete_time: int
    elements: frozenset[Hashable]
    is_final: bool


def set_full(
    history: Sequence[Op],
    *,
    add_f: str = "add",
    read_f: str = "read",
    linearizable: bool = False,
) -> dict[str, Any]:
    """Judge a set history; see the module docstring for every term."""
    position = {id(op): i for i, op in enumerate(history)}
    pairs = pair(client_ops(history))

    attempted: set[Hashable] = set()
    failed: set[Hashable] = set()
    known: dict[Hashable, tuple[int, int]] = {}  # element -> (position, time) it became known
    acked: set[Hashable] = set()
    acknowledged = 0
    reads: list[_Read] = []
    duplicated_count = 0
    for inv, comp in pairs:
        if inv.f == add_f:
            element = _key(inv.value)
            attempted.add(element)
            if comp is not None and comp.type == "ok":
                acknowledged += 1
                acked.add(element)
                _learn(known, element, position[id(comp)], comp.time)
            elif comp is not None and comp.type == "fail":
                failed.add(element)
        elif inv.f == read_f and comp is not None and comp.type == "ok":
            if not isinstance(comp.value, list):
                continue  # not a read result; the replies checker reports malformed replies
            elements = [_key(v) for v in comp.value]
            as_set = frozenset(elements)
            duplicated_count += len(elements) - len(as_set)
            reads.append(
                _Read(
                    position[id(inv)],
                    inv.time,
                    position[id(comp)],
                    comp.time,
                    as_set,
                    bool(inv.extra.get("final") or comp.extra.get("final")),
                )
            )
    for r in reads:
        for element in r.elements:
            _learn(known, element, r.complete_pos, r.complete_time)
    failed -= acked  # an add that failed and then, retried, succeeded is not a failed add

    reads.sort(key=lambda r: r.invoke_pos)
    lost: list[Hashable] = []
    stable: list[Hashable] = []
    stale: list[Hashable] = []
    never_read: list[Hashable] = []
    stable_latencies_ms: list[float] = []
    lost_latencies_ms: list[float] = []
    for element, (known_pos, known_time) in known.items():
        last_present: _Read | None = None
        last_absent: _Read | None = None
        final_absent = False
        for r in reads:
            if element in r.elements:
                last_present = r
            elif r.invoke_pos > known_pos:
                last_absent = r
                final_absent = final_absent or r.is_final
        is_lost = final_absent or (
            last_absent is not None
            and (last_present is None or last_absent.invoke_pos > last_present.invoke_pos)
        )
        if is_lost:
            lost.append(element)
            lost_at = last_present.invoke_time + 1 if last_present else known_time
            lost_latencies_ms.append(_ms(lost_at - known_time))
        elif last_present is not None:
            stable.append(element)
            stable_at = last_absent.invoke_time + 1 if last_absent else known_time
            stable_latencies_ms.append(_ms(stable_at - known_time))
            if last_absent is not None:
                stale.append(element)
        else:
            never_read.append(element)

    seen = {e for r in reads for e in r.elements}
    unexpected = seen - attempted
    failed_but_read = (failed & seen) - unexpected

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
        final_read_count=sum(r.is_final for r in reads),
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


def quantiles(values: Iterable[float], qs: Sequence[float] = QUANTILES) -> dict[str, float] | None:
    """Nearest-rank quantiles, keyed `"0"`, `"0.5"`, ... (JSON keys); None for no values."""
    ordered = sorted(values)
    if not ordered:
        return None
    n = len(ordered)
    return {f"{q:g}": ordered[min(n - 1, max(0, math.ceil(q * n) - 1))] for q in qs}


def _learn(known: dict[Hashable, tuple[int, int]], element: Hashable, pos: int, time: int) -> None:
    if element not in known or pos < known[element][0]:
        known[element] = (pos, time)


def _key(value: Any) -> Hashable:
    """Elements as dict keys: JSON values that are not hashable become canonical JSON text."""
    if isinstance(value, list | dict):
        return json.dumps(value, sort_keys=True)
    hashable: Hashable = value
    return hashable


def _ms(ns: int) -> float:
    return round(max(0, ns) / 1e6, 3)


def _listed(elements: Iterable[Hashable]) -> list[Any]:
    items: list[Any] = list(elements)
    try:
        items.sort()
    except TypeError:  # mixed types: any stable order will do for a report
        items.sort(key=repr)
    return items[:LIST_LIMIT]
