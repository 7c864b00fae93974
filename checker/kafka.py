"""The log checker: Jepsen's kafka checker for histories of Maelstrom's `kafka` workload.

A Kafka-style log is, per key, an append-only sequence of messages at increasing (perhaps
sparse) offsets. Producers `send` a message and are told its offset; consumers `poll` from an
offset per key and are given `[offset, message]` pairs in offset order; they `commit_offsets`
they have consumed and read them back with `list_committed_offsets`. This module judges such a
history as `jepsen.tests.kafka/analysis` does (jepsen-io/jepsen, jepsen/src/jepsen/tests/
kafka.clj), for the non-transactional form Maelstrom runs (`:txn? false`, `:sub-via
#{:assign}`: one send or one poll per operation, consumers that assign keys themselves).

    from checker.kafka import kafka
    kafka(history)   # -> checker.result.result("kafka", valid, headline=HEADLINE, ...)

## The history (scenarios/workloads/kafka.py writes it)
    send                    invoke [k, msg]        ok [k, [offset, msg]]
    poll                    invoke {k: offset}     ok {k: [[offset, msg], ...]}  (keys with none
                                                   left out)
    commit_offsets          invoke {k: offset}     ok {k: offset}
    list_committed_offsets  invoke [k, ...]        ok {k: offset}
    assign                  invoke [k, ...]        ok/info: the same (Jepsen's consumers; see
                                                   "poll-skip" below; ours never assign)
Keys are strings (an integer key in a send is read as its decimal string, as Maelstrom turns
its integer keys into strings); offsets are integers; messages any JSON value (the workload
sends unique integers). Final polls carry `"final": true` (Jepsen's `:final? true` too). Only
`ok` polls carry observations; `fail` and `info` sends carry what was attempted.

## What is known
A message is *at* an offset of a key when an `ok` send was acknowledged with that offset, or an
`ok` poll returned the pair. An offset is *known* when some message is at it (Jepsen's version
order: offsets nobody observed are holes, which the log may legally have). A message is
*committed* when its send was `ok`, or was `info` and some poll returned it (Jepsen's
`must-have-committed?`).

## Anomalies (each invalid; listed with the operations that show it, by history index)
- `lost-write`: a committed message that no poll ever returned although a poll returned a
  higher offset of its key (Jepsen's lost write: the reader read past it); or a committed
  message that no final poll returned although some final poll covered its offset (ours, after
  the heal every message must still be there). A final poll of a key from offset r covers
  `[r, last offset it returned]`, or `[r, infinity)` when it returned nothing for the key: it
  says the log held nothing more. `read_past` quotes the poll that read the highest offset,
  `final_poll` a final poll that covered the message.
- `unseen`: an acknowledged message no poll ever returned, and not provably lost (Jepsen's
  `:unseen`, which Jepsen also counts as an error: after the final polls every acknowledged
  message should have been seen). `unseen_by_key` counts them per key.
- `duplicate`: one message at two or more offsets of a key.
- `inconsistent-offsets`: two or more messages at one offset of a key (a send and a poll, or
  two polls, disagree).
- `int-poll-skip` / `int-nonmonotonic-poll`: within one poll's pairs for a key, consecutive
  offsets o1, o2 with a known offset strictly between them / with o2 <= o1.
- `poll-skip` / `nonmonotonic-poll`: a poll whose first offset for a key is above the offset
  it asked for with a known offset in between / below the offset it asked for (Maelstrom: the
  reply's messages begin at the requested offset). For a poll that does not say what it asked
  for (its invocation value is not a map), the offset after the same process's previous read of
  the key stands for it, as in Jepsen's per-process check. An `assign` that ended `ok` or
  `info` ends that tracking for the keys it does not name, as Jepsen's
  `poll-skip+nonmonotonic-cases` does (a client keeps its offset of a key it assigns again,
  but starts a newly assigned one wherever the committed offset is); one whose invocation
  carries `seek-to-beginning?` ends it for every key (ours: the client rewinds every key to 0;
  Jepsen's final polls seek only on a fresh process, after a crash, so Jepsen never needs it).
- `nonmonotonic-send`: an acknowledged send given an offset at or below that of a send to the
  same key acknowledged before it was invoked: by the same process (Jepsen's) or by another
  (`scope: "realtime"`, which Jepsen finds only with `:ww-deps`, as an Elle cycle).
- `nonmonotonic-commit` (ours): a `list_committed_offsets` that returned, for a key, less than
  (or nothing, instead of) an offset established before it was invoked: by an `ok`
  commit_offsets or by an earlier `ok` list_committed_offsets. Maelstrom's commit_offsets
  "advances" the committed offset, so a service keeps the highest offset committed.
- `unexpected-commit` (ours): a committed offset listed for a key that no commit_offsets
  invoked before the list completed asked for.
- `G1a` (aborted read): a poll returned a message whose send definitely failed.
- `unexpected`: a poll returned a message never sent to that key (Jepsen refuses such a
  history, `:no-writer-of-value`).
- `future-read`: a poll completed before the send of a message it returned was invoked
  (Jepsen finds these as G1c-realtime / G1c-process cycles through Elle).

Counts are exact; each list holds the first `LIST_LIMIT` cases in history order.
`error_types` names the anomalies found, in Jepsen's words.

## Latency
`lag_ms_p50`, `lag_ms_p99`, `lag_ms_max` (nearest rank) over acknowledged messages that a
consumer polled: from the send's invocation to the completion of the first non-final poll that
returned the message: what a producer-to-consumer pipeline waits. `final_only_count` counts
acknowledged messages first returned by a final poll (never consumed during the run).

## Verdict
False with any anomaly; unknown when no send was acknowledged (nothing to judge); else true.

## Not done (Jepsen has them; Maelstrom's workload cannot produce them)
Transactions (`:txn`, precommitted reads, internal send order), `subscribe` (consumer-group
rebalancing), and Elle's cycle search beyond the future reads above.

## Cost
One pass over the history records what each operation observed (a few dict operations per
returned pair), then the polls are judged against the known offsets, kept sorted per key
(a bisection per gap): O(pairs + operations x log). bench/log_checker.py judges a generated
100,000-operation history.
"""

from __future__ import annotations

import json
import math
from bisect import bisect_left
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from checker.history import HistoryError, Op, client_ops, pair
from checker.result import LIST_LIMIT, UNKNOWN, Validity, result

SEND, POLL, COMMIT, LIST = "send", "poll", "commit_offsets", "list_committed_offsets"
ASSIGN = "assign"
SEEK = "seek-to-beginning?"  # an assign's flag: the client rewinds every key to offset 0
SKIPPED_LISTED = 8  # skipped offsets listed per skip case; `skipped_count` is exact

# Anomaly (Jepsen's name where Jepsen has one) -> the result's field prefix.
ANOMALIES = {
    "lost-write": "lost",
    "unseen": "unseen",
    "duplicate": "duplicate",
    "inconsistent-offsets": "inconsistent_offsets",
    "poll-skip": "poll_skip",
    "int-poll-skip": "int_poll_skip",
    "nonmonotonic-poll": "nonmonotonic_poll",
    "int-nonmonotonic-poll": "int_nonmonotonic_poll",
    "nonmonotonic-send": "nonmonotonic_send",
    "nonmonotonic-commit": "nonmonotonic_commit",
    "unexpected-commit": "unexpected_commit",
    "G1a": "aborted_read",
    "unexpected": "unexpected",
    "future-read": "future_read",
}
HEADLINE = (*(f"{prefix}_count" for prefix in ANOMALIES.values()), "lag_ms_p99")

Ref = tuple[Op, Op]  # a completed operation: its invocation and its completion
SendRef = tuple[Op, Op | None]  # a send, perhaps never completed (None)


def quote(ref: SendRef) -> dict[str, Any]:
    """An operation as a result quotes it: its invocation's index (its completion's beside)."""
    inv, comp = ref
    return {"index": inv.index, "completion_index": None if comp is None else comp.index,
            "process": inv.process, "f": inv.f, "type": "info" if comp is None else comp.type,
            "node": inv.node}


def _hkey(message: Any) -> Hashable:
    """A message as a dict key: JSON lists and maps as canonical text."""
    if isinstance(message, list | dict):
        return json.dumps(message, sort_keys=True)
    hashable: Hashable = message
    return hashable


def _key(k: Any, op: Op) -> str:
    if isinstance(k, str):
        return k
    if isinstance(k, int) and not isinstance(k, bool):
        return str(k)
    raise HistoryError(f"operation {op.index}: key {k!r} is not a string; kafka keys are strings")


def _offset(o: Any, op: Op) -> int:
    if isinstance(o, int) and not isinstance(o, bool):
        return o
    raise HistoryError(f"operation {op.index}: offset {o!r} is not an integer")


def _send_value(op: Op) -> tuple[str, Any]:
    """`[k, msg]` of a send's invocation."""
    v = op.value
    if not (isinstance(v, list | tuple) and len(v) == 2):
        raise HistoryError(f"operation {op.index}: a send's value must be [key, msg], not {v!r}")
    return _key(v[0], op), v[1]


def _ok_send_value(op: Op) -> tuple[str, int, Any]:
    """`[k, [offset, msg]]` of an acknowledged send."""
    v = op.value
    if not (isinstance(v, list | tuple) and len(v) == 2 and isinstance(v[1], list | tuple)
            and len(v[1]) == 2):
        raise HistoryError(
            f"operation {op.index}: an ok send's value must be [key, [offset, msg]], not {v!r}")
    return _key(v[0], op), _offset(v[1][0], op), v[1][1]


def _offsets_map(op: Op) -> dict[str, int]:
    v = op.value
    if not isinstance(v, dict):
        raise HistoryError(
            f"operation {op.index}: {op.f}'s value must be a map of keys to offsets, not {v!r}")
    return {_key(k, op): _offset(o, op) for k, o in v.items()}


def _poll_msgs(op: Op) -> dict[str, list[Any]]:
    v = op.value
    if not isinstance(v, dict):
        raise HistoryError(
            f"operation {op.index}: an ok poll's value must be a map of keys to [[offset, msg], "
            f"...], not {v!r}")
    out: dict[str, list[Any]] = {}
    for k, pairs in v.items():
        if not isinstance(pairs, list | tuple):
            raise HistoryError(f"operation {op.index}: the messages of key {k!r} are not a list")
        for p in pairs:
            if not (isinstance(p, list | tuple) and len(p) == 2):
                raise HistoryError(
                    f"operation {op.index}: {p!r} in key {k!r} is not an [offset, msg] pair")
            _offset(p[0], op)
        out[_key(k, op)] = list(pairs)
    return out


def _assigned(op: Op) -> list[str]:
    """The keys of an assign's invocation."""
    if not isinstance(op.value, list | tuple):
        raise HistoryError(
            f"operation {op.index}: an assign's value must be the list of keys it assigns, "
            f"not {op.value!r}")
    return [_key(k, op) for k in op.value]


def _is_final(op: Op) -> bool:
    return bool(op.extra.get("final") or op.extra.get("final?"))


@dataclass(slots=True)
class _Poll:
    ref: Ref
    requested: dict[str, int] | None
    msgs: dict[str, list[Any]]
    final: bool


@dataclass(slots=True)
class _Key:
    """What one key's operations showed."""

    at: dict[int, tuple[Hashable, Ref]] = field(default_factory=dict)  # offset -> first msg
    where: dict[Hashable, tuple[int, Ref]] = field(default_factory=dict)  # msg -> first offset
    attempts: dict[Hashable, Op] = field(default_factory=dict)  # msg -> first send invocation
    read_first: dict[Hashable, Ref] = field(default_factory=dict)  # msg -> first ok poll
    consumed_ns: dict[Hashable, int] = field(default_factory=dict)  # msg -> first non-final poll
    max_read: tuple[int, Ref] | None = None  # the highest offset an ok poll returned
    max_acked: tuple[int, Ref] | None = None  # the highest offset an ok send was given
    established: tuple[int, Ref] | None = None  # the highest committed offset known
    commit_attempts: set[int] = field(default_factory=set)
    final_seen: set[Hashable] = field(default_factory=set)
    final_cover: list[tuple[int, float, Ref]] = field(default_factory=list)  # [lo, hi] of finals
    known: list[int] = field(default_factory=list)  # sorted known offsets (after the sweep)


class _Analysis:
    def __init__(self) -> None:
        self.keys: dict[str, _Key] = {}
        self.found: dict[str, list[dict[str, Any]]] = {name: [] for name in ANOMALIES}
        self.counts: dict[str, int] = dict.fromkeys(ANOMALIES, 0)
        self.acked: list[tuple[str, int, Any, Ref]] = []
        self.info_sends: list[tuple[str, Any, SendRef]] = []
        self.failed_sends: list[tuple[str, Any, Ref]] = []
        self.polls: list[_Poll] = []
        # (how many polls completed before it, process, the keys it keeps tracking: None for
        # none) for each assign that ended ok or info (module docstring, "poll-skip")
        self.assigns: list[tuple[int, Any, frozenset[str] | None]] = []
        self.attempt_count = 0
        self.commit_count = 0
        self.list_count = 0
        self.conflicts: dict[tuple[str, int], dict[Hashable, Ref]] = {}
        self.dups: dict[tuple[str, Hashable], dict[int, Ref]] = {}
        self.messages: dict[tuple[str, Hashable], Any] = {}  # for messages that were lists
        self.unseen_by_key: dict[str, int] = {}
        self.recovered_count = 0  # info sends some poll returned (Jepsen's "recovered")

    def key(self, k: str) -> _Key:
        state = self.keys.get(k)
        if state is None:
            state = self.keys[k] = _Key()
        return state

    def add(self, name: str, case: dict[str, Any]) -> None:
        self.counts[name] += 1
        if len(self.found[name]) < LIST_LIMIT:
            self.found[name].append(case)

    # -- the sweep, in history order ------------------------------------------------------------

    def sweep(self, ops: list[Op]) -> None:
        open_: dict[Any, Op] = {}
        send_floor: dict[Any, tuple[int, Ref] | None] = {}
        list_floor: dict[Any, dict[str, tuple[int, Ref]]] = {}
        for op in ops:
            f = op.f
            if op.type == "invoke":
                open_[op.process] = op
                if f == SEND:
                    k, m = _send_value(op)
                    self.attempt_count += 1
                    self.key(k).attempts.setdefault(_hkey(m), op)
                    send_floor[op.process] = self.key(k).max_acked
                elif f == COMMIT:
                    for k, o in _offsets_map(op).items():
                        self.key(k).commit_attempts.add(o)
                elif f == LIST:
                    keys = op.value if isinstance(op.value, list | tuple) else list(self.keys)
                    floor = {}
                    for k in keys:
                        est = self.key(_key(k, op)).established
                        if est is not None:
                            floor[_key(k, op)] = est
                    list_floor[op.process] = floor
                continue
            inv = open_.pop(op.process)  # pair() has checked that it is there
            if f == SEND:
                self._send(inv, op, send_floor.pop(op.process, None))
            elif f == ASSIGN:
                if op.type != "fail":
                    keep = None if inv.extra.get(SEEK) else frozenset(_assigned(inv))
                    self.assigns.append((len(self.polls), op.process, keep))
            elif op.type != "ok":
                list_floor.pop(op.process, None)
            elif f == POLL:
                self._poll(inv, op)
            elif f == COMMIT:
                self.commit_count += 1
                for k, o in _offsets_map(op).items():
                    self._establish(k, o, (inv, op))
            elif f == LIST:
                self._list((inv, op), list_floor.pop(op.process, {}))
        for inv in open_.values():  # never completed: indefinite
            if inv.f == SEND:
                k, m = _send_value(inv)
                self.info_sends.append((k, m, (inv, None)))

    def _send(self, inv: Op, comp: Op, floor: tuple[int, Ref] | None) -> None:
        if comp.type != "ok":
            k, m = _send_value(inv)
            if comp.type == "fail":
                self.failed_sends.append((k, m, (inv, comp)))
            else:
                self.info_sends.append((k, m, (inv, comp)))
            return
        k, o, m = _ok_send_value(comp)
        ref = (inv, comp)
        self._observe(k, o, m, ref)
        self.acked.append((k, o, m, ref))
        state = self.key(k)
        if floor is not None and o <= floor[0]:
            earlier = floor[1]
            self.add("nonmonotonic-send", {
                "key": k, "offsets": [floor[0], o], "ops": [quote(earlier), quote(ref)],
                "scope": "process" if earlier[0].process == inv.process else "realtime"})
        if state.max_acked is None or o > state.max_acked[0]:
            state.max_acked = (o, ref)

    def _observe(self, k: str, o: int, m: Any, ref: Ref) -> None:
        state = self.key(k)
        h = _hkey(m)
        if h is not m:
            self.messages[(k, h)] = m
        cur = state.at.get(o)
        if cur is None:
            state.at[o] = (h, ref)
        elif cur[0] != h:
            self.conflicts.setdefault((k, o), {cur[0]: cur[1]}).setdefault(h, ref)
        w = state.where.get(h)
        if w is None:
            state.where[h] = (o, ref)
        elif w[0] != o:
            self.dups.setdefault((k, h), {w[0]: w[1]}).setdefault(o, ref)

    def _poll(self, inv: Op, comp: Op) -> None:
        msgs = _poll_msgs(comp)
        requested = _offsets_map(inv) if isinstance(inv.value, dict) else None
        final = _is_final(inv)
        ref = (inv, comp)
        self.polls.append(_Poll(ref, requested, msgs, final))
        at_time = comp.time
        for k, pairs in msgs.items():
            state = self.key(k)
            at, where, read_first = state.at, state.where, state.read_first
            consumed = state.consumed_ns
            top = -1
            for o, m in pairs:
                h = _hkey(m) if isinstance(m, list | dict) else m
                if h is not m:
                    self.messages[(k, h)] = m
                cur = at.get(o)
                if cur is None:
                    at[o] = (h, ref)
                elif cur[0] != h:
                    self.conflicts.setdefault((k, o), {cur[0]: cur[1]}).setdefault(h, ref)
                w = where.get(h)
                if w is None:
                    where[h] = (o, ref)
                elif w[0] != o:
                    self.dups.setdefault((k, h), {w[0]: w[1]}).setdefault(o, ref)
                if h not in read_first:
                    read_first[h] = ref
                if not final and h not in consumed:
                    consumed[h] = at_time
                if o > top:
                    top = o
            if pairs and (state.max_read is None or top > state.max_read[0]):
                state.max_read = (top, ref)
            if final:
                state.final_seen.update(_hkey(m) for _, m in pairs)
        if final and requested is not None:
            for k, lo in requested.items():
                returned = msgs.get(k)
                hi = float(max(o for o, _ in returned)) if returned else math.inf
                self.key(k).final_cover.append((lo, hi, ref))

    def _establish(self, k: str, o: int, ref: Ref) -> None:
        state = self.key(k)
        if state.established is None or o > state.established[0]:
            state.established = (o, ref)

    def _list(self, ref: Ref, floor: dict[str, tuple[int, Ref]]) -> None:
        self.list_count += 1
        listed = _offsets_map(ref[1])
        for k, (o, by) in floor.items():
            got = listed.get(k)
            if got is None or got < o:
                self.add("nonmonotonic-commit", {
                    "key": k, "established": o, "listed": got, "ops": [quote(by), quote(ref)]})
        for k, o in listed.items():
            if o not in self.key(k).commit_attempts:
                self.add("unexpected-commit", {"key": k, "offset": o, "op": quote(ref)})
            self._establish(k, o, ref)

    # -- judging, once everything known is known ------------------------------------------------

    def judge(self) -> None:
        for (k, o), by_message in self.conflicts.items():
            self.add("inconsistent-offsets", {
                "key": k, "offset": o, "messages": [self._show(k, h) for h in by_message],
                "ops": [quote(r) for r in by_message.values()]})
        for (k, h), by_offset in self.dups.items():
            self.add("duplicate", {
                "key": k, "message": self._show(k, h), "offsets": sorted(by_offset),
                "ops": [quote(r) for _, r in sorted(by_offset.items())]})
        for state in self.keys.values():
            state.known = sorted(state.at)
        self._judge_polls()
        self._judge_messages()

    def _show(self, k: str, h: Hashable) -> Any:
        return self.messages.get((k, h), h)

    def _skipped(self, state: _Key, lo: int, hi: int) -> list[int]:
        """The known offsets in [lo, hi)."""
        known = state.known
        return known[bisect_left(known, lo):bisect_left(known, hi)]

    def _judge_polls(self) -> None:
        last_read: dict[Any, dict[str, tuple[int, Ref]]] = {}  # process -> key -> last read
        assigns = iter(self.assigns)
        assign = next(assigns, None)
        for n, poll in enumerate(self.polls):
            while assign is not None and assign[0] <= n:  # the assigns completed before it
                _, assigner, keep = assign
                tracked = last_read.pop(assigner, {})
                if keep is not None:
                    last_read[assigner] = {k: r for k, r in tracked.items() if k in keep}
                assign = next(assigns, None)
            ref = poll.ref
            process = ref[0].process
            reads = last_read.setdefault(process, {})
            for k, pairs in poll.msgs.items():
                if not pairs:
                    continue
                state = self.keys[k]
                prev = pairs[0][0]
                for o, _ in pairs[1:]:
                    if o <= prev:
                        self.add("int-nonmonotonic-poll", {
                            "key": k, "offsets": [prev, o], "op": quote(ref)})
                    elif o > prev + 1:
                        skipped = self._skipped(state, prev + 1, o)
                        if skipped:
                            self.add("int-poll-skip", {
                                "key": k, "offsets": [prev, o],
                                "skipped": skipped[:SKIPPED_LISTED],
                                "skipped_count": len(skipped), "op": quote(ref)})
                    prev = o
                first = pairs[0][0]
                before = reads.get(k)
                if poll.requested is not None:
                    expected = poll.requested.get(k)
                    ops = [quote(ref)]
                else:
                    expected = None if before is None else before[0] + 1
                    ops = [quote(ref)] if before is None else [quote(before[1]), quote(ref)]
                if expected is not None:
                    if first < expected:
                        self.add("nonmonotonic-poll", {
                            "key": k, "expected": expected, "first": first, "ops": ops})
                    elif first > expected:
                        skipped = self._skipped(state, expected, first)
                        if skipped:
                            self.add("poll-skip", {
                                "key": k, "expected": expected, "first": first,
                                "skipped": skipped[:SKIPPED_LISTED],
                                "skipped_count": len(skipped), "ops": ops})
                reads[k] = (max(o for o, _ in pairs), ref)

    def _judge_messages(self) -> None:
        committed: list[tuple[str, int, Hashable, SendRef]] = [
            (k, o, _hkey(m), ref) for k, o, m, ref in self.acked]
        for k, m, ref in self.info_sends:  # committed if some poll returned the message
            state = self.key(k)
            h = _hkey(m)
            if h in state.read_first:
                self.recovered_count += 1
                committed.append((k, state.where[h][0], h, ref))
        for k, o, h, ref in committed:
            state = self.keys[k]
            read_past = None
            if h not in state.read_first and state.max_read is not None and o <= state.max_read[0]:
                read_past = state.max_read[1]
            final_poll = None
            if h not in state.final_seen:
                final_poll = next((r for lo, hi, r in state.final_cover if lo <= o <= hi), None)
            if read_past is not None or final_poll is not None:
                self.add("lost-write", {
                    "key": k, "offset": o, "message": self._show(k, h), "send": quote(ref),
                    "read_past": None if read_past is None else quote(read_past),
                    "final_poll": None if final_poll is None else quote(final_poll)})
            elif h not in state.read_first:  # only an acknowledged send can be unseen
                self.add("unseen", {"key": k, "offset": o, "message": self._show(k, h),
                                    "send": quote(ref)})
                self.unseen_by_key[k] = self.unseen_by_key.get(k, 0) + 1
        for k, m, ref in self.failed_sends:
            seen = self.keys[k].read_first.get(_hkey(m))
            if seen is not None:
                self.add("G1a", {"key": k, "message": m, "send": quote(ref), "poll": quote(seen)})
        for k, state in self.keys.items():
            for h, reader in state.read_first.items():
                writer = state.attempts.get(h)
                if writer is None:
                    self.add("unexpected", {"key": k, "message": self._show(k, h),
                                            "offset": state.where[h][0], "poll": quote(reader)})
                elif reader[1].index < writer.index:
                    self.add("future-read", {
                        "key": k, "message": self._show(k, h), "send_index": writer.index,
                        "poll": quote(reader)})

    def lags_ms(self) -> list[float]:
        lags = []
        for k, _, m, (inv, _) in self.acked:
            t = self.keys[k].consumed_ns.get(_hkey(m))
            if t is not None and inv.time >= 0:
                lags.append(max(0, t - inv.time) / 1e6)
        return lags


def nearest_rank(ordered: Sequence[float], q: float) -> float:
    """The q-quantile of sorted values, nearest rank."""
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def kafka(history: Sequence[Op]) -> dict[str, Any]:
    """Judge a kafka/log history; the module docstring defines every term."""
    ops = client_ops(history)
    pair(ops)  # raises HistoryError for a history no client could record
    a = _Analysis()
    a.sweep(ops)
    a.judge()
    lags = sorted(a.lags_ms())
    consumed = sum(1 for k, _, m, _ in a.acked if _hkey(m) in a.keys[k].consumed_ns)
    final_only = sum(1 for k, _, m, _ in a.acked
                     if _hkey(m) in a.keys[k].read_first and _hkey(m) not in a.keys[k].consumed_ns)
    error_types = [name for name in ANOMALIES if a.counts[name]]
    valid: Validity
    details: dict[str, Any] = {}
    if error_types:
        valid = False
    elif not a.acked:
        valid = UNKNOWN
        details["reason"] = "nothing to judge: no send was acknowledged"
    else:
        valid = True
    for name, prefix in ANOMALIES.items():
        details[f"{prefix}_count"] = a.counts[name]
        details[prefix] = a.found[name]
    return result(
        "kafka",
        valid,
        headline=HEADLINE,
        error_types=error_types,
        send_count=a.attempt_count,
        acknowledged_count=len(a.acked),
        info_send_count=len(a.info_sends),
        failed_send_count=len(a.failed_sends),
        recovered_count=a.recovered_count,
        poll_count=len(a.polls),
        final_poll_count=sum(1 for p in a.polls if p.final),
        commit_count=a.commit_count,
        list_count=a.list_count,
        key_count=len(a.keys),
        consumed_count=consumed,
        final_only_count=final_only,
        unseen_by_key=dict(sorted(a.unseen_by_key.items())),
        lag_count=len(lags),
        lag_ms_p50=round(nearest_rank(lags, 0.5), 3) if lags else None,
        lag_ms_p99=round(nearest_rank(lags, 0.99), 3) if lags else None,
        lag_ms_max=round(lags[-1], 3) if lags else None,
        **details,
    )
