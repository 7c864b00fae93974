"""The broadcast machine (see the package docstring for the protocol) and its pure state.

`MessageSet` is the set of messages a node knows, kept in the shapes its uses need as it grows:
membership, the read order, and the integers as ranges (for anti-entropy and snapshots).
`GossipState` is the bookkeeping: that set, and what each neighbour has not been pushed yet.
`MessageLog` plans the storage writes: each new batch in a delta slot of its own, compacted
into one snapshot now and then. `Broadcast` is the machine the driver and the simulator run:
its handlers turn messages and the two periodic timers into effects.

    m = Broadcast(Boot("n1", random.Random(1), durable={"messages": [3]}))
    m.step(Init(("n1", "n2")), now_s=0.0)        # sets the timers "push" and "anti_entropy"
    fx = m.step(Receive({"src": "c1", "dest": "n1",
                         "body": {"type": "broadcast", "message": 7, "msg_id": 1}}), now_s=0.1)
    fx.persist == {"messages/0": [7]} and fx.sync   # durable before broadcast_ok goes out
    fx.messages == [("c1", broadcast_ok)]
    fx = m.step(Tick("push"), now_s=0.1)         # [("n2", gossip{messages: [7]})]

Periodic work is a one-shot timer re-armed by its own tick: `tick_push` every
`push_interval_s`, `tick_anti_entropy` every `anti_entropy_interval_s` (the first round at a
random fraction of it, so that the nodes' rounds interleave), both first set by the first
`on_init` (a repeated init leaves them running). With the `no-retry` bug the anti-entropy
timer is never set.

Costs, for a node holding N messages of which a batch of k is new: a broadcast or gossip step
costs O(k log N) plus memory moves, and persists k values (every `log_slots`-th write instead
persists the snapshot: O(ranges) for the workloads' integers); a read copies the kept sorted
list, O(N) only because the reply holds N values; a digest costs O(ranges) once per change of
the set; an anti-entropy round between sets that differ sends O(ranges) and answers
O(ranges + what is missing).
"""

from __future__ import annotations

import bisect
import hashlib
import heapq
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeGuard

from node.machine import Boot, Machine, Malformed, Message, field_of

NO_RETRY = "no-retry"
BUGS = {
    NO_RETRY: "gossip is pushed once to each neighbour and never repaired: no anti-entropy, so "
    "messages pushed into a partition (or dropped) never reach some nodes",
}

PUSH_INTERVAL_S = 0.1
ANTI_ENTROPY_INTERVAL_S = 0.5
BATCH_MAX = 1000  # messages per gossip message
LOG_SLOTS = 32  # delta keys written before they are compacted into the snapshot
PARAMS = {
    "push_interval_s": PUSH_INTERVAL_S,
    "anti_entropy_interval_s": ANTI_ENTROPY_INTERVAL_S,
    "batch_max": BATCH_MAX,
    "log_slots": LOG_SLOTS,
}
DIGEST_BYTES = 8
# Integers one gossip_sync may teach from its ranges, lowest first: bounds one step's work (a
# bogus range [0, 10**12]); a larger gap is filled by the next rounds.
RANGE_LEARN_MAX = 100_000
INSORT_MAX = 16  # a batch up to this size is inserted one by one; a larger one is merged
SPARSE_RATIO = 4  # a set with more than 1/4 as many integer ranges as values is sparse

SNAPSHOT_KEY = "messages"  # what earlier versions kept as one sorted list: still read as such
SLOT_PREFIX = "messages/"

Value = int | float | str
Range = tuple[int, int]  # lo..hi, both included


def _order(v: Value) -> tuple[bool, Value]:
    return (isinstance(v, str), v)


def sort_values(values: Iterable[Value]) -> list[Value]:
    """A stable order for mixed values (numbers before strings)."""
    return sorted(values, key=_order)


def is_value(v: Any) -> bool:
    return not isinstance(v, bool) and isinstance(v, int | float | str)


def _is_int(v: Any) -> TypeGuard[int]:
    return type(v) is int  # not bool, not float: the values ranges can stand for


# -- integer ranges (pure) ---------------------------------------------------------------------


def ranges_of(ints: Iterable[int]) -> list[Range]:
    """The sorted, disjoint, non-adjacent ranges covering exactly `ints`."""
    out: list[Range] = []
    for v in sorted(set(ints)):
        if out and out[-1][1] + 1 == v:
            out[-1] = (out[-1][0], v)
        else:
            out.append((v, v))
    return out


def union(a: Iterable[Range], b: Iterable[Range]) -> list[Range]:
    """Two sorted range lists (overlaps allowed) as one normal list (`ranges_of`'s shape)."""
    out: list[Range] = []
    for lo, hi in heapq.merge(a, b):
        if out and lo <= out[-1][1] + 1:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


def difference(a: list[Range], b: list[Range]) -> list[Range]:
    """The integers of `a` not in `b`, both normal range lists: one sweep, O(len(a) + len(b))."""
    out: list[Range] = []
    j = 0
    for lo, hi in a:
        while j < len(b) and b[j][1] < lo:
            j += 1
        k = j
        while lo <= hi and k < len(b) and b[k][0] <= hi:
            if b[k][0] > lo:
                out.append((lo, b[k][0] - 1))
            lo = max(lo, b[k][1] + 1)
            k += 1
        if lo <= hi:
            out.append((lo, hi))
    return out


def covers(ranges: list[Range], starts: list[int], v: Value) -> bool:
    """Whether `v` is an integer in `ranges` (`starts` is their list of lower bounds)."""
    if not _is_int(v):
        return False
    i = bisect.bisect_right(starts, v) - 1
    return i >= 0 and v <= ranges[i][1]


class IntRanges:
    """A set of integers as sorted, disjoint, non-adjacent ranges, grown one value at a time
    in O(log ranges) (plus a memory move when a new range opens) or merged in by the batch."""

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []

    def __len__(self) -> int:
        return len(self._starts)

    def ranges(self) -> list[Range]:
        return list(zip(self._starts, self._ends, strict=True))

    def has(self, v: int) -> bool:
        i = bisect.bisect_right(self._starts, v) - 1
        return i >= 0 and self._ends[i] >= v

    def add(self, v: int) -> None:
        i = bisect.bisect_right(self._starts, v)  # ranges[i - 1] starts at or below v
        if i > 0 and self._ends[i - 1] >= v:
            return
        joins_left = i > 0 and self._ends[i - 1] == v - 1
        joins_right = i < len(self._starts) and self._starts[i] == v + 1
        if joins_left and joins_right:
            self._ends[i - 1] = self._ends[i]
            del self._starts[i], self._ends[i]
        elif joins_left:
            self._ends[i - 1] = v
        elif joins_right:
            self._starts[i] = v
        else:
            self._starts.insert(i, v)
            self._ends.insert(i, v)

    def gaps(self, lo: int, hi: int) -> Iterator[Range]:
        """The parts of lo..hi not in the set: O(log ranges + the ranges inside lo..hi)."""
        i = bisect.bisect_right(self._starts, lo) - 1
        if i >= 0 and self._ends[i] >= lo:
            lo = self._ends[i] + 1
        i += 1
        while lo <= hi and i < len(self._starts) and self._starts[i] <= hi:
            if self._starts[i] > lo:
                yield (lo, self._starts[i] - 1)
            lo = max(lo, self._ends[i] + 1)
            i += 1
        if lo <= hi:
            yield (lo, hi)

    def update(self, ints: list[int]) -> None:
        if len(ints) <= INSORT_MAX:
            for v in ints:
                self.add(v)
            return
        merged = union(self.ranges(), ranges_of(ints))
        self._starts = [lo for lo, _ in merged]
        self._ends = [hi for _, hi in merged]


# -- the set of messages -----------------------------------------------------------------------


def _merge_sorted(kept: list[Any], new: list[Any]) -> None:
    """Merge sorted `new` into sorted `kept`, in place."""
    if len(new) <= INSORT_MAX:
        for v in new:
            bisect.insort(kept, v)
    else:
        kept.extend(new)
        kept.sort()  # two sorted runs: timsort merges them in linear time


class MessageSet:
    """The messages a node knows, kept as it grows in the shapes its uses need: numbers and
    strings in sorted lists (a read copies them, never sorts), the integers also as
    `IntRanges` (anti-entropy's summary and the snapshot, compact when the values are the
    workloads' consecutive integers) and the other values in a set. Those two answer
    membership, so the memory beyond the values themselves is a list slot (8 bytes) per
    message and the ranges: no hash set of every message.

    Equality is a Python set's: 3 and 3.0 are one message, the first one kept."""

    def __init__(self) -> None:
        self._numbers: list[int | float] = []
        self._strings: list[str] = []
        self._ints = IntRanges()
        self._others: set[Value] = set()  # the values ranges cannot stand for

    def __len__(self) -> int:
        return len(self._numbers) + len(self._strings)

    def __contains__(self, v: object) -> bool:
        if _is_int(v):
            return self._ints.has(v) or v in self._others
        if isinstance(v, float) and v.is_integer() and self._ints.has(int(v)):
            return True
        return v in self._others

    def __iter__(self) -> Iterator[Value]:
        return iter(self.sorted())

    def add(self, values: Iterable[Value]) -> list[Value]:
        """Add `values`; return the new ones, once each, sorted."""
        new: list[Value] = []
        batch: set[Value] = set()
        for v in values:
            if v not in batch and v not in self:
                batch.add(v)
                new.append(v)
        if not new:
            return new
        new = sort_values(new)
        strings = [v for v in new if isinstance(v, str)]
        numbers = new[: len(new) - len(strings)]  # numbers sort before strings
        _merge_sorted(self._numbers, numbers)
        _merge_sorted(self._strings, strings)
        self._ints.update([v for v in numbers if _is_int(v)])
        self._others.update(v for v in new if not _is_int(v))
        return new

    def sorted(self) -> list[Value]:
        """Every value, numbers before strings: a fresh list."""
        return [*self._numbers, *self._strings]

    def summary(self) -> dict[str, list[Any]]:
        """The set as `{"ranges": [[lo, hi], ...], "messages": [...]}`: every integer in a run
        of two or more as a range, every other value listed (anti-entropy's and the snapshot's
        shape; `expand` reverses it)."""
        ranges = self._ints.ranges()
        singles: list[Value] = [lo for lo, hi in ranges if lo == hi]
        return {
            "ranges": [[lo, hi] for lo, hi in ranges if lo < hi],
            "messages": sort_values([*singles, *self._others]) if self._others else singles,
        }

    def missing_from(self, ranges: list[Range], values: Iterable[Value]) -> list[Value]:
        """What we know and a holder of `ranges` (normal) and `values` does not, sorted.

        It may include a value equal to one the holder has in another type (3 and 3.0): the
        holder's merge drops it."""
        theirs = set(values)
        if len(self._ints) * SPARSE_RATIO > len(self):
            # Sparse: nearly a range per value, so sweeping ranges would not pay. One pass over
            # what they do not list, the few left checked against their ranges (if any).
            starts = [lo for lo, _ in ranges]
            left = [v for v in self.sorted() if v not in theirs]
            return [v for v in left if not covers(ranges, starts, v)]
        out: list[Value] = [
            v
            for lo, hi in difference(self._ints.ranges(), ranges)
            for v in range(lo, hi + 1)
            if v not in theirs
        ]
        others = [v for v in self._others if v not in theirs]
        return sort_values(out + others) if others else out

    def lacking(self, ranges: list[Range], *, limit: int) -> list[int]:
        """The integers of `ranges` (normal) we do not know: the lowest `limit` of them."""
        out: list[int] = []
        for lo, hi in (gap for r in ranges for gap in self._ints.gaps(*r)):
            out.extend(range(lo, min(hi, lo + limit - len(out) - 1) + 1))
            if len(out) >= limit:
                break
        return out


def expand(summary: Mapping[str, Any]) -> list[Value]:
    """The values of a `MessageSet.summary` (already validated)."""
    out: list[Value] = [v for lo, hi in summary["ranges"] for v in range(lo, hi + 1)]
    return out + list(summary["messages"])


# -- gossip bookkeeping ------------------------------------------------------------------------


class GossipState:
    """What one node knows, and what each neighbour has not been pushed yet.

    Pushes are not acknowledged (anti-entropy repairs what they lose), so a value stays in a
    neighbour's outbox only until the next push tick takes it: an outbox holds one interval's
    news, never a partition's backlog."""

    def __init__(self) -> None:
        self.messages = MessageSet()
        self.neighbours: list[str] | None = None  # None until the topology is known
        self.outbox: dict[str, list[Value]] = {}

    def set_neighbours(self, neighbours: Iterable[str]) -> None:
        """A new topology: pushes go to these nodes from now on. A new neighbour is not sent
        what it may lack: anti-entropy finds that out."""
        self.neighbours = sorted(set(neighbours))
        self.outbox = {n: values for n, values in self.outbox.items() if n in self.neighbours}

    def add(self, values: Iterable[Value], *, src: str | None = None) -> list[Value]:
        """Merge `values` (from `src`, a node that therefore has them); return the new ones,
        sorted. Each is queued for every neighbour but `src`, once: a value is new only once."""
        new = self.messages.add(values)
        if new:
            for n in self.neighbours or []:
                if n != src:
                    self.outbox.setdefault(n, []).extend(new)
        return new

    def take_due(self, *, batch_max: int = BATCH_MAX) -> list[tuple[str, list[Value]]]:
        """What to push now, and forget: (neighbour, batch of at most `batch_max` values, in
        order) pairs, neighbours in order."""
        due: list[tuple[str, list[Value]]] = []
        for n in sorted(self.outbox):
            values = sort_values(self.outbox[n])
            due += [(n, values[i:i + batch_max]) for i in range(0, len(values), batch_max)]
        self.outbox = {}
        return due


# -- storage -----------------------------------------------------------------------------------


def _check_values(values: Any, where: str) -> list[Value]:
    assert isinstance(values, list) and all(map(is_value, values)), f"{where}: a bad list"
    return values


def _check_summary(summary: Any, where: str) -> list[Value]:
    """The values of a stored set: a plain list (earlier versions) or a summary."""
    if isinstance(summary, list):
        return _check_values(summary, where)
    assert isinstance(summary, dict) and set(summary) == {"ranges", "messages"}, where
    for r in summary["ranges"]:
        assert isinstance(r, list) and len(r) == 2 and all(map(_is_int, r)), where
        assert r[0] <= r[1], where
    _check_values(summary["messages"], where)
    return expand(summary)


class MessageLog:
    """Where new messages go in storage, in writes proportional to what changed.

    Each batch of new messages goes to the next delta slot (`messages/0`, `messages/1`, ...,
    up to `slots`, each one step's new values). When the slots are used up, the write is a
    compaction instead: the snapshot (`messages`, the whole set as a `MessageSet.summary`)
    plus an emptying of every slot; it is synced, so that no slot is emptied or reused before
    the snapshot holding its values is durable, whatever a crash keeps of unsynced writes.
    Booting, a node reads the snapshot (or an earlier version's plain sorted list under the
    same key) and every slot: their union is what it knew."""

    def __init__(self, *, slots: int) -> None:
        assert slots > 0, slots
        self.slots = slots
        self.filled: set[int] = set()  # slots holding values in storage
        self.next_slot = 0

    def load(self, durable: Mapping[str, Any]) -> list[Value]:
        """What `durable` holds; notes which slots are taken (the next write goes after the
        highest: one lost to a crash in between is not trusted to be empty)."""
        values = list(_check_summary(durable.get(SNAPSHOT_KEY, []), SNAPSHOT_KEY))
        for key, slot in durable.items():
            if key.startswith(SLOT_PREFIX):
                index = key[len(SLOT_PREFIX) :]
                assert index.isdigit(), f"{key}: not a broadcast delta slot"
                if _check_values(slot, key):
                    self.filled.add(int(index))
                    values.extend(slot)
        self.next_slot = max(self.filled, default=-1) + 1
        return values

    def record(self, new: list[Value], everything: MessageSet) -> tuple[dict[str, Any], bool]:
        """The writes that make `new` (just added to `everything`) durable, and whether they
        must be synced whatever the step's own need (a compaction must)."""
        assert new, "nothing new to record"
        if self.next_slot < self.slots:
            self.filled.add(self.next_slot)
            self.next_slot += 1
            return {f"{SLOT_PREFIX}{self.next_slot - 1}": list(new)}, False
        writes: dict[str, Any] = {SNAPSHOT_KEY: everything.summary()}
        writes.update({f"{SLOT_PREFIX}{i}": [] for i in sorted(self.filled)})
        self.filled.clear()
        self.next_slot = 0
        return writes, True


# -- the machine -------------------------------------------------------------------------------


def _values(msg: Message, name: str) -> list[Value]:
    values = field_of(msg, name, list)
    if not all(is_value(v) for v in values):
        raise Malformed(f"{name}: messages must be numbers or strings")
    return values


def _ranges(msg: Message) -> list[Range]:
    """The optional `ranges` field, normalised (sorted, overlaps merged)."""
    raw = field_of(msg, "ranges", list, optional=True) or []
    for r in raw:
        if not (isinstance(r, list) and len(r) == 2 and all(map(_is_int, r)) and r[0] <= r[1]):
            raise Malformed("ranges: each must be [lo, hi], integers with lo <= hi")
    return union(sorted((lo, hi) for lo, hi in raw), [])


class Broadcast(Machine):
    def __init__(self, boot: Boot) -> None:
        assert boot.bug is None or boot.bug in BUGS, boot.bug
        unknown = set(boot.params) - set(PARAMS)
        assert not unknown, f"unknown broadcast params {sorted(unknown)}; use {sorted(PARAMS)}"
        super().__init__(boot)
        params = {**PARAMS, **boot.params}
        self.push_interval_s = float(params["push_interval_s"])
        self.anti_entropy_interval_s = float(params["anti_entropy_interval_s"])
        self.batch_max = int(params["batch_max"])
        assert self.push_interval_s > 0, self.push_interval_s
        assert self.anti_entropy_interval_s > 0, self.anti_entropy_interval_s
        assert self.batch_max > 0, self.batch_max
        # The bug: on_init arms no anti-entropy timer, so nothing repairs a lost push.
        self.is_repairing = boot.bug != NO_RETRY
        self.state = GossipState()
        self.message_log = MessageLog(slots=int(params["log_slots"]))
        self.state.add(self.message_log.load(boot.durable))
        # Values written without a sync since the last compaction: learnt from gossip, not
        # promised to a client (a later sync of other writes is not counted on to cover
        # them). Bounded: a compaction, synced, comes every `log_slots` writes.
        self.unsynced: set[Value] = set()
        self.is_ticking = False  # the periodic timers are armed
        self._digest: tuple[int, str] | None = None  # (set size, digest): the set only grows

    # -- init and timers -----------------------------------------------------------------------

    def on_init(self) -> None:
        if self.state.neighbours is None:
            self.state.set_neighbours(self.other_node_ids())
        if not self.is_ticking:
            self.is_ticking = True
            self.set_timer("push", self.push_interval_s)
            if self.is_repairing:
                # Staggered, so that rounds interleave; soon, so a restarted node catches up.
                self.set_timer("anti_entropy",
                               self.rng.uniform(0.0, self.anti_entropy_interval_s))

    def tick_push(self) -> None:
        for n, values in self.state.take_due(batch_max=self.batch_max):
            self.send(n, {"type": "gossip", "messages": values})
        self.set_timer("push", self.push_interval_s)

    def tick_anti_entropy(self) -> None:
        others = self.other_node_ids()
        if others:
            peer = self.rng.choice(others)
            self.send(peer, {"type": "gossip_digest", "digest": self.digest()})
        self.set_timer("anti_entropy", self.anti_entropy_interval_s)

    # -- client requests -----------------------------------------------------------------------

    def on_topology(self, msg: Message) -> None:
        topo = field_of(msg, "topology", dict)
        mine = topo.get(self.node_id)
        known = set(self.other_node_ids())
        if isinstance(mine, list) and all(isinstance(n, str) for n in mine):
            unknown = [n for n in mine if n not in known]
            if unknown:
                self.log("warning", "topology_unknown_nodes", nodes=unknown)
            self.state.set_neighbours(n for n in mine if n in known)
        else:
            self.log("warning", "topology_without_us", why="gossiping to every node")
            self.state.set_neighbours(known)
        self.log("info", "topology", neighbours=self.state.neighbours)
        self.reply(msg, {"type": "topology_ok"})

    def on_broadcast(self, msg: Message) -> None:
        value = field_of(msg, "message", (int, float, str))
        new = self.state.add([value])
        if new or value in self.unsynced:
            # Durable before broadcast_ok: the client was promised. A value learnt from gossip
            # may not be synced yet: it is written again, synced.
            self._remember([value], sync=True)
        self.reply(msg, {"type": "broadcast_ok"})

    def on_read(self, msg: Message) -> None:
        self.reply(msg, {"type": "read_ok", "messages": self.state.messages.sorted()})

    # -- between nodes -------------------------------------------------------------------------

    def on_gossip(self, msg: Message) -> None:
        new = self.state.add(_values(msg, "messages"), src=msg["src"])
        self._learnt(new)

    def on_gossip_digest(self, msg: Message) -> None:
        # Anti-entropy's opening: silence if the sets agree, else our summary, which the
        # sender answers (gossip_sync_ok) with what we lack.
        if field_of(msg, "digest", str) != self.digest():
            self.send(msg["src"], {"type": "gossip_sync", **self.state.messages.summary()})

    def on_gossip_sync(self, msg: Message) -> None:
        # The sender holds `ranges` and `messages` (an earlier version sends no ranges: its
        # `messages` is its whole set, and the same code answers it).
        values = _values(msg, "messages")
        ranges = _ranges(msg)
        missing = self.state.messages.missing_from(ranges, values)
        lacking = self.state.messages.lacking(ranges, limit=RANGE_LEARN_MAX)
        new = self.state.add([*values, *lacking], src=msg["src"])
        if missing:
            self.reply(msg, {"type": "gossip_sync_ok", "messages": missing})
        self._learnt(new)

    def on_gossip_sync_ok(self, msg: Message) -> None:
        new = self.state.add(_values(msg, "messages"), src=msg["src"])
        self._learnt(new)

    # -- helpers -------------------------------------------------------------------------------

    def digest(self) -> str:
        """A short hash of the set's summary (a normal form: equal sets, equal digests)."""
        if self._digest is None or self._digest[0] != len(self.state.messages):
            text = json.dumps(self.state.messages.summary(), separators=(",", ":"))
            self._digest = (len(self.state.messages), hashlib.blake2b(
                text.encode(), digest_size=DIGEST_BYTES).hexdigest())
        return self._digest[1]

    def _learnt(self, new: list[Value]) -> None:
        """New messages from a neighbour: kept, unsynced (the neighbour has them)."""
        if new:
            self._remember(new, sync=False)

    def _remember(self, new: list[Value], *, sync: bool) -> None:
        writes, must_sync = self.message_log.record(new, self.state.messages)
        for key, value in writes.items():
            self.persist(key, value, sync=sync or must_sync)
        if must_sync:
            self.unsynced.clear()  # the synced snapshot holds everything
        elif sync:
            self.unsynced.difference_update(new)
        else:
            self.unsynced.update(new)
