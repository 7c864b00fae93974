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

Each listed lost element is described in `lost_details` (for a report to show why it counts
as lost): when it became known (`known_ms`) and by what (`known_by`: the `ok` add, or the first
read that saw it; `known_index`, `process`, `node`), the final reads that lack it
(`missing_from_final`: node, invocation time and index, at most `FINAL_READS_LISTED`), the
latest read that lacked it (`latest_missing`), and the latest read that saw it (`last_seen`,
None if none did). `final_reads` lists the final reads that completed (node, invocation
time, index; at most `FINAL_READS_LISTED`), each with how many lost elements it lacks
(`lacks_count`).

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
adds) x log, not its length.

That is still quadratic during a partition: a minority node lacks every element the other side
took, thousands of them, in every read. So a history records most reads as deltas
(`IntRangesDelta`: what the node's set gained and lost since its previous read), and set-full
judges a node's deltas by what changes, never listing what a read lacks:

- Per node (and `f`: a *chain*), in the order its reads completed, one running set: the
  node's first delta builds it from its base (a read held as ranges, judged as above), and
  each delta (or a later read held whole) changes it. Its reads are numbered 0, 1, 2, ...
- `late` (seen, but known only after the read was invoked) comes from the newest known
  elements, by membership in the running set, as for lists; `new` elements (never known
  before) are among those the delta adds, since everything its base held was known by then.
- Missing elements. The chain keeps the known elements the node currently lacks, each with
  the number of the first read that lacked it: when the running set is built (everything
  known that the base lacks), when an element becomes known that the node does not hold, or
  when a delta removes one. When a delta adds one back (or at the end of the history), every
  read of that stretch lacked it, and the latest of them by invocation is the largest invoke
  position among them: a suffix maximum over the chain's invocations, answered by bisection on
  a monotonic stack. That read missed the element if it was invoked after the element was
  known (if it was not, none was). So an element costs a few steps each time a node gains or
  loses it, however many reads lacked it meanwhile; the maximum over nodes is its latest
  missing read.
- Final reads (one per node) are checked directly against the elements known before they were
  invoked: that is what makes a loss of a final read, whoever else saw the element.
- The latest read that saw a lost element (its lost latency) is found by a second replay of
  the chains, restricted to the lost elements, with the same stretches: a lost element's
  stretches of presence, each ended by a delta removing it, give the latest read holding it.

Reads held as lists, as ranges, or as deltas can be mixed in one history (the first two kinds
are judged one by one; a list's elements become one transient set, for membership and
duplicates). Beyond the history itself the checker holds a few values per element and per read,
and per node its running set and what it lacks: linear in the number of elements and
operations, not in the total size of the reads.
`tests/checker/test_setfull.py` compares it with the plain definition on random histories,
their reads held as lists, as ranges and as deltas.
"""

from __future__ import annotations

import json
import math
from bisect import bisect_left, insort
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from itertools import chain, compress, filterfalse, islice, repeat
from typing import Any

from checker.history import HistoryError, Op, base_problem, chain_key, client_ops, pair
from checker.intset import IntRanges, IntRangesDelta, absent_from, between, count_between
from checker.result import UNKNOWN, Validity, result

QUANTILES = (0.0, 0.5, 0.95, 0.99, 1.0)
LIST_LIMIT = 100  # elements listed per category in a result; the counts are always exact
FINAL_READS_LISTED = 16  # final reads listed per lost element as lacking it
HEADLINE = (
    "lost_count",
    "unexpected_count",
    "failed_but_read_count",
    "stale_count",
    "duplicated_count",
)


def set_full(
    history: Sequence[Op],
    *,
    add_f: str = "add",
    read_f: str = "read",
    linearizable: bool = False,
) -> dict[str, Any]:
    """Judge a set history; see the module docstring for every term."""
    pair(client_ops(history))  # raises HistoryError for a history no client could record

    judged = _Pass(history)
    chains = _Chains()
    open_: dict[Any, tuple[int, Op]] = {}
    for pos, op in enumerate(history):
        if op.process == "nemesis":
            continue
        if op.type == "invoke":
            open_[op.process] = (pos, op)
            if op.f == add_f:
                judged.attempted.add(_key(op.value))
            continue
        invoke_pos, inv = open_.pop(op.process)
        if inv.f == add_f:
            judged.add_completed(_key(inv.value), op, pos)
            continue
        if inv.f != read_f or op.type != "ok" or not isinstance(
            op.value, list | IntRanges | IntRangesDelta
        ):
            continue  # a value that is not a list: the replies checker reports malformed replies
        is_final = bool(inv.extra.get("final") or op.extra.get("final"))
        judged.read_count += 1
        judged.final_read_count += is_final
        if is_final and len(judged.final_reads) < FINAL_READS_LISTED:
            judged.final_reads.append(invoke_pos)
        judged.last_read_pos = max(judged.last_read_pos, invoke_pos)
        if isinstance(op.value, list):
            judged.read_list(op.value, invoke_pos, inv.time, pos, op.time, is_final)
            continue
        node = chains.find(op)
        if node.held is None and isinstance(op.value, IntRangesDelta):
            judged.track(node, node.start())
        changed = node.advance(op)
        if changed is None:  # ranges, on a node whose deltas have not begun: judged one by one
            assert isinstance(op.value, IntRanges)
            judged.read_ranges(op.value, invoke_pos, inv.time, pos, op.time, is_final)
        else:
            judged.read_changes(node, *changed, invoke_pos, inv.time, pos, op.time, is_final)
        node.push(invoke_pos)
    judged.finish()
    failed = judged.failed - judged.acked  # a fail, then an ok retry: not a failed add

    known = judged.known
    missing_from = judged.missing_from
    lost: list[Hashable] = []
    stable: list[Hashable] = []
    stale: list[Hashable] = []
    never_read: list[Hashable] = []
    stable_latencies_ms: list[float] = []
    for element, (known_pos, known_time) in known.items():
        missed = missing_from.get(element)
        if element in judged.missing_from_final or (
            missed is not None and missed[0] == judged.last_read_pos
        ):
            lost.append(element)
        elif element in judged.seen_early or known_pos < judged.last_read_pos:
            stable.append(element)
            stable_at = missed[1] + 1 if missed is not None else known_time
            stable_latencies_ms.append(_ms(stable_at - known_time))
            if missed is not None:
                stale.append(element)
        else:
            never_read.append(element)
    last_seen = _last_seen(judged.reads, lost)
    if judged.chains and lost:
        for element, seen_pos in _seen_by_chains(history, read_f, lost).items():
            if seen_pos > last_seen.get(element, -1):
                last_seen[element] = seen_pos
    lost_latencies_ms = [
        _ms(history[last_seen[e]].time + 1 - known[e][1] if e in last_seen else 0) for e in lost
    ]
    lost_listed = _listed(lost)
    lost_details = [_lost_detail(judged, e, last_seen.get(e)) for e in lost_listed]
    lacking = Counter(chain.from_iterable(judged.missing_from_final.values()))
    final_reads = [
        {**_read_at(history, pos), "lacks_count": lacking[pos]} for pos in judged.final_reads
    ]

    # Only reads make an element known without an ok add, so every such element was read.
    unexpected = [e for e in known if e not in judged.attempted]
    failed_but_read = [e for e in failed if e in known]

    valid: Validity
    if lost or unexpected or failed_but_read or (linearizable and stale):
        valid = False
    elif not judged.read_count or not (stable or lost):
        valid = UNKNOWN
    else:
        valid = True
    return result(
        "set-full",
        valid,
        headline=HEADLINE,
        attempt_count=len(judged.attempted),
        acknowledged_count=judged.acknowledged,
        known_count=len(known),
        read_count=judged.read_count,
        final_read_count=judged.final_read_count,
        final_reads=final_reads,
        stable_count=len(stable),
        lost_count=len(lost),
        lost=lost_listed,
        lost_details=lost_details,
        stale_count=len(stale),
        stale=_listed(stale),
        never_read_count=len(never_read),
        never_read=_listed(never_read),
        unexpected_count=len(unexpected),
        unexpected=_listed(unexpected),
        failed_but_read_count=len(failed_but_read),
        failed_but_read=_listed(failed_but_read),
        duplicated_count=judged.duplicated_count,
        stable_latency_ms=quantiles(stable_latencies_ms),
        lost_latency_ms=quantiles(lost_latencies_ms),
    )


@dataclass(frozen=True, slots=True)
class _Read:
    """A read judged on its own (a list, or ranges before its node's deltas begin)."""

    invoke_pos: int
    invoke_time: int
    value: list[Any] | IntRanges  # the history's own value, not a copy


class _Chain:
    """One node's reads held as ranges or deltas (of one `f`), numbered in the order they
    completed (module docstring): the running set, and the elements it tracks."""

    __slots__ = ("_numbers", "_positions", "held", "index", "pending", "reads", "tracked")

    def __init__(self) -> None:
        self.index = -1  # the history index of its latest read: what the next delta is against
        self.reads = 0  # its reads so far: the number of the next
        self.pending: IntRanges | None = None  # its latest read, until a delta needs a set
        self.held: set[int] | None = None  # the running set, from its first delta on
        # element -> the number of the read that began a stretch: of lacking it (the first
        # pass), of holding it (the second)
        self.tracked: dict[Hashable, int] = {}
        # A monotonic stack: reads (numbers, ascending) each invoked later than every read
        # after it, so the latest invocation among the reads from n on is the first entry of
        # number n or more.
        self._numbers: list[int] = []
        self._positions: list[int] = []

    def push(self, invoke_pos: int) -> None:
        """Count a read, invoked at `invoke_pos`, as the chain's next."""
        while self._positions and self._positions[-1] <= invoke_pos:
            self._positions.pop()
            self._numbers.pop()
        self._numbers.append(self.reads)
        self._positions.append(invoke_pos)
        self.reads += 1

    def latest_since(self, number: int) -> int:
        """The latest invocation (a history position) among reads `number`, `number + 1`, ...
        pushed so far; -1 when there are none."""
        i = bisect_left(self._numbers, number)
        return self._positions[i] if i < len(self._positions) else -1

    def start(self) -> set[int]:
        """Build the running set from the pending read: what the chain's first delta is
        against."""
        assert self.held is None, "the chain has its set already"
        assert self.pending is not None, "a delta with no base: _Chains.find refuses it"
        self.held, self.pending = set(self.pending), None
        return self.held

    def advance(self, op: Op) -> tuple[list[int], list[int]] | None:
        """Make `op` (an ok read of this chain, held as ranges or a delta) the latest read:
        (the elements it added, those it removed) since the previous one, or None while the
        chain has no running set (its ranges are then pending). Raises `HistoryError` naming
        the operation when its delta does not apply."""
        value = op.value
        if isinstance(value, IntRangesDelta):
            assert self.held is not None, "start() the chain before its first delta"
            try:
                changed = value.apply_to(self.held)
            except ValueError as e:
                raise HistoryError(f"operation {op.index}: {e}") from None
        elif self.held is None:
            self.pending = value
            changed = None
        else:  # a read written whole after deltas: what changed, from the sets
            new = set(value)
            changed = list(new - self.held), list(self.held - new)
            self.held = new
        self.index = op.index
        return changed


class _Chains:
    """The chains of a history, by `(node, f)` (`checker.history.chain_key`)."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[Hashable, str], _Chain] = {}

    def find(self, op: Op) -> _Chain:
        """The chain of `op`, an ok read held as ranges or a delta; a new one for ranges.
        Raises `HistoryError` when a delta is not against its node's previous read."""
        key = chain_key(op.node, op.f)
        found = self._by_key.get(key)
        if isinstance(op.value, IntRangesDelta):
            problem = base_problem(op, op.value, None if found is None else found.index)
            if problem is not None:
                raise HistoryError(f"operation {op.index}: {problem}")
            assert found is not None
            return found
        if found is None:
            found = self._by_key[key] = _Chain()
        return found


class _Pass:
    """The one pass in history order (module docstring): per element, what decides its
    verdict."""

    def __init__(self, history: Sequence[Op]) -> None:
        self.history = history
        self.attempted: set[Hashable] = set()
        self.failed: set[Hashable] = set()
        self.acked: set[Hashable] = set()
        self.acknowledged = 0
        # element -> (position, time) it became known; insertion order is position order
        self.known: dict[Hashable, tuple[int, int]] = {}
        self.known_positions: list[int] = []  # the positions of `known`, in its order
        self.known_set: set[Hashable] = set()  # the keys of `known`: sets differ faster
        self.known_ints: list[int] = []  # the integers of `known`, sorted (for ranges)
        self.known_other: list[Hashable] = []  # the rest of `known`
        self.missing_from: dict[Hashable, tuple[int, int]] = {}  # latest observing read lacking
        # element -> the invoke positions of final reads lacking it (the first few)
        self.missing_from_final: dict[Hashable, list[int]] = {}
        self.seen_early: set[Hashable] = set()  # seen by a read invoked before it was known
        self.reads: list[_Read] = []  # the reads judged one by one
        self.chains: list[_Chain] = []  # those with a running set: they track what they lack
        self.read_count = 0
        self.final_read_count = 0
        self.final_reads: list[int] = []  # invoke positions of the first few final reads
        self.last_read_pos = -1  # the latest invocation of any read
        self.duplicated_count = 0

    def learn(self, elements: Sequence[Hashable], pos: int, time: int) -> None:
        for element in elements:
            self.known[element] = (pos, time)
            self.known_positions.append(pos)
            self.known_set.add(element)
            if type(element) is int:
                if self.known_ints and element < self.known_ints[-1]:
                    insort(self.known_ints, element)
                else:
                    self.known_ints.append(element)
            else:
                self.known_other.append(element)
        for node in self.chains:  # a node that lacks it lacks it from its next read on
            assert node.held is not None
            missing = filterfalse(node.held.__contains__, elements)
            node.tracked.update(dict.fromkeys(missing, node.reads))

    def note_missing(self, element: Hashable, invoke_pos: int, invoke_time: int,
                     is_final: bool) -> None:
        if self.missing_from.get(element, (-1, 0))[0] < invoke_pos:
            self.missing_from[element] = (invoke_pos, invoke_time)
        if is_final:
            where = self.missing_from_final.setdefault(element, [])
            if len(where) < FINAL_READS_LISTED:
                where.append(invoke_pos)

    def add_completed(self, element: Hashable, op: Op, pos: int) -> None:
        if op.type == "ok":
            self.acknowledged += 1
            self.acked.add(element)
            if element not in self.known:
                self.learn([element], pos, op.time)
        elif op.type == "fail":
            self.failed.add(element)

    def read_list(self, value: list[Any], invoke_pos: int, invoke_time: int, pos: int,
                  time: int, is_final: bool) -> None:
        self.reads.append(_Read(invoke_pos, invoke_time, value))
        known = self.known
        before = bisect_left(self.known_positions, invoke_pos)  # known when it was invoked
        after = len(known) - before  # known since, while the read was in flight
        members = _members(value)
        self.duplicated_count += len(value) - len(members)
        late = members.intersection(islice(reversed(known), after)) if after else set()
        new = members.difference(self.known_set)
        missing = before - (len(members) - len(late) - len(new))
        if missing:
            newest_first = islice(reversed(known), after, None)
            for element in islice(filterfalse(members.__contains__, newest_first), missing):
                self.note_missing(element, invoke_pos, invoke_time, is_final)
        self.seen_early |= late
        self.seen_early |= new
        self.learn(list(new), pos, time)

    def read_ranges(self, held: IntRanges, invoke_pos: int, invoke_time: int, pos: int,
                    time: int, is_final: bool) -> None:
        """The same as `read_list`, by ranges (module docstring)."""
        self.reads.append(_Read(invoke_pos, invoke_time, held))
        known, known_ints = self.known, self.known_ints
        before = bisect_left(self.known_positions, invoke_pos)
        after = len(known) - before
        late: set[Hashable] = {e for e in islice(reversed(known), after) if e in held}
        short = [(lo, hi) for lo, hi in held.ranges()
                 if count_between(known_ints, lo, hi) < hi - lo + 1]
        added = [x for lo, hi in short for x in absent_from(known_ints, lo, hi)]  # ascending
        new: set[Hashable] = set(added)
        if before - (len(held) - len(late) - len(new)):
            lacking = chain.from_iterable(between(known_ints, lo, hi) for lo, hi in held.gaps())
            for element in chain(lacking, (e for e in self.known_other if e not in held)):
                if known[element][0] < invoke_pos:  # known before the read was invoked
                    self.note_missing(element, invoke_pos, invoke_time, is_final)
        self.seen_early |= late
        self.seen_early |= new
        self.learn(added, pos, time)

    def track(self, node: _Chain, base: set[int]) -> None:
        """A chain's running set was just built from `base`: from its next read on, it lacks
        whatever is known and not in `base`."""
        node.tracked = dict.fromkeys(self.known_set.difference(base), node.reads)
        self.chains.append(node)

    def read_changes(self, node: _Chain, added: list[int], removed: list[int], invoke_pos: int,
                     invoke_time: int, pos: int, time: int, is_final: bool) -> None:
        """A read of a chain with a running set, by what changed (module docstring)."""
        held = node.held
        assert held is not None
        number, lacking = node.reads, node.tracked
        if removed:  # lacking from this read on
            lacking.update(dict.fromkeys(removed, number))
        if added:  # lacking no more: the stretch of reads before this one lacked them
            since = list(map(lacking.pop, added, repeat(number)))
            lacked = list(map(number.__gt__, since))
            if any(lacked):
                for element, first in zip(compress(added, lacked), compress(since, lacked),
                                          strict=True):
                    self.missed_by(node, element, first)
        known = self.known
        before = bisect_left(self.known_positions, invoke_pos)
        after = len(known) - before
        late = {e for e in islice(reversed(known), after) if e in held}
        new: list[Hashable] = list(filterfalse(self.known_set.__contains__, added))
        if is_final:  # judged directly: a final read must hold everything known before it
            for absent in filterfalse(held.__contains__, islice(known, before)):
                self.note_missing(absent, invoke_pos, invoke_time, True)
        self.seen_early |= late
        self.seen_early.update(new)
        self.learn(new, pos, time)

    def missed_by(self, node: _Chain, element: Hashable, first: int) -> None:
        """`node`'s reads from number `first` to the latest lacked `element`: the latest of them
        by invocation missed it if it was invoked after it was known."""
        latest = node.latest_since(first)
        if latest > self.known[element][0]:
            self.note_missing(element, latest, self.history[latest].time, False)

    def finish(self) -> None:
        """End every stretch of lacking still open: the reads since lacked the element."""
        for node in self.chains:
            for element, first in node.tracked.items():
                self.missed_by(node, element, first)


def _lost_detail(judged: _Pass, element: Hashable, last_seen_pos: int | None) -> dict[str, Any]:
    """What a report shows of one lost element (module docstring): from a few positions."""
    history = judged.history
    known_pos, known_time = judged.known[element]
    done = history[known_pos]
    missed = judged.missing_from.get(element)
    return {
        "element": element,
        "known_ms": _ms(known_time),
        "known_by": done.f,
        "known_index": done.index,
        "process": done.process,
        "node": done.node if done.node is not None else _invoke_node(history, known_pos),
        "missing_from_final": [
            _read_at(history, pos) for pos in judged.missing_from_final.get(element, ())
        ],
        "latest_missing": None if missed is None else _read_at(history, missed[0]),
        "last_seen": None if last_seen_pos is None else _read_at(history, last_seen_pos),
    }


def _read_at(history: Sequence[Op], invoke_pos: int) -> dict[str, Any]:
    op = history[invoke_pos]
    return {"node": op.node, "at_ms": _ms(op.time), "index": op.index,
            "final": bool(op.extra.get("final"))}


def _invoke_node(history: Sequence[Op], completion_pos: int) -> str | None:
    """The node of the invocation that `history[completion_pos]` completes (the nearest
    earlier invoke of its process: a process has one operation outstanding)."""
    process = history[completion_pos].process
    for pos in range(completion_pos - 1, max(-1, completion_pos - 100_000), -1):
        op = history[pos]
        if op.process == process and op.type == "invoke":
            return op.node
    return None


def _last_seen(reads: list[_Read], elements: Iterable[Hashable]) -> dict[Hashable, int]:
    """Element -> invocation position of the latest read (by invocation) that saw it, among
    the reads judged one by one."""
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
            found[element] = r.invoke_pos
        pending -= hit
    return found


def _seen_by_chains(
    history: Sequence[Op], read_f: str, elements: Iterable[Hashable]
) -> dict[Hashable, int]:
    """Element -> invocation position of the latest read judged by its chain that held it: a
    second replay of the chains, tracking only `elements` (module docstring)."""
    wanted = {e for e in elements if type(e) is int}
    found: dict[Hashable, int] = {}
    started: list[_Chain] = []

    def held_by(node: _Chain, element: Hashable, first: int) -> None:
        latest = node.latest_since(first)
        if latest > found.get(element, -1):
            found[element] = latest

    chains = _Chains()
    open_: dict[Any, int] = {}
    for pos, op in enumerate(history):
        if op.process == "nemesis":
            continue
        if op.type == "invoke":
            open_[op.process] = pos
            continue
        invoke_pos = open_.pop(op.process)
        if (history[invoke_pos].f != read_f or op.type != "ok"
                or not isinstance(op.value, IntRanges | IntRangesDelta)):
            continue
        node = chains.find(op)
        if node.held is None and isinstance(op.value, IntRangesDelta):
            node.tracked = dict.fromkeys(wanted.intersection(node.start()), node.reads)
            started.append(node)
        changed = node.advance(op)
        if changed is not None:
            added, removed = changed
            for gone in wanted.intersection(removed):
                held_by(node, gone, node.tracked.pop(gone))
            node.tracked.update(dict.fromkeys(wanted.intersection(added), node.reads))
        node.push(invoke_pos)
    for node in started:
        for element, first in node.tracked.items():
            held_by(node, element, first)
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
