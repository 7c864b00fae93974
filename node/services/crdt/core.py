"""The CRDT replica: one machine, generic over the CRDT type, that serves every CRDT workload.

A subclass names the type and its workload (`KIND = GCounter`, `WORKLOAD = "g-counter"`, and
the `BUGS` it can plant); everything else is here, written against `node.crdt`'s protocol and
`lattice.missing`. See the package docstring for the protocol; this module is its mechanics.

    m = GCounterReplica(Boot("n1", random.Random(1)))
    m.step(Init(("n1", "n2")), now_s=0.0)              # sets the timers "push", "anti_entropy"
    fx = m.step(Receive({"src": "c1", "dest": "n1",
                         "body": {"type": "add", "delta": 3, "msg_id": 1}}), now_s=0.1)
    fx.persist == {"crdt/0": {"delta": {"n1": 3}}} and fx.sync   # durable before add_ok
    fx.messages == [("c1", {"type": "add_ok", "in_reply_to": 1, "msg_id": 1})]
    fx = m.step(Tick("push"), now_s=0.1)               # the batch: one crdt_delta per neighbour

The state the machine keeps, besides the CRDT value itself:
- `outbox`: neighbour -> the join of the deltas it has not been sent yet (each flushed by the
  next `push` tick as one `crdt_delta`, then forgotten: pushes are not acknowledged);
- `unwritten`: the join of what gossip taught the node and it has not written to storage yet
  (written, unsynced, each anti-entropy tick, and synced before any reply reports it);
- `is_synced`: whether every write so far has been synced.

Every reply to a client reports only durable state: an update's own delta, and anything it
shows that gossip taught, is synced before `<type>_ok` or `read_ok` leaves (the driver fsyncs
before it sends). So a node killed and restarted never loses an acknowledged update, never
stamps an LWW write below a stamp it has reported, and never reads less than it did before
the kill. Gossip-learnt state costs no fsync until a client sees it.

Bugs are planted here, next to the code they break (`_join`, `_apply`), each described in
`BUGS` and in the package docstring.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

from node.crdt import CrdtError, GCounter, LWWRegister, ORSet, PNCounter
from node.machine import Boot, Machine, Malformed, Message, field_of
from node.protocol import NOT_SUPPORTED
from node.services.crdt.journal import LOG_SLOTS, Journal
from node.services.crdt.lattice import digest, is_empty, missing

MERGE_BY_SUM = "merge-by-sum"
REMOVE_UNOBSERVED = "remove-unobserved"
LOCAL_CLOCK_LWW = "local-clock-lww"
BUGS = {
    MERGE_BY_SUM: "a counter merges a received state by adding each node's count to its own "
    "instead of taking the maximum: a state that arrives twice (a duplicated message, an "
    "anti-entropy exchange) is counted twice",
    REMOVE_UNOBSERVED: "an OR-set remove tombstones the element itself rather than the adds "
    "it observed: it deletes concurrent adds it never saw, and every later add of the element",
    LOCAL_CLOCK_LWW: "an LWW register stamps a write with the node's own clock alone (no "
    "hybrid logical clock over what it holds) and breaks no ties: a node whose clock lags "
    "stamps below what it has already shown, and equal stamps keep whichever arrived first",
}

PUSH_INTERVAL_S = 0.1
ANTI_ENTROPY_INTERVAL_S = 0.5
PARAMS = {
    "push_interval_s": PUSH_INTERVAL_S,
    "anti_entropy_interval_s": ANTI_ENTROPY_INTERVAL_S,
    "log_slots": LOG_SLOTS,
}
COMPLETE_MAX = 5  # a cluster this small gossips to every node: its mesh is no bigger
WILDCARD = "*"  # remove-unobserved's tombstone of an element: the tag (element, "*", 1)


def overlay(node_ids: list[str], node_id: str) -> list[str]:
    """The neighbours `node_id` pushes deltas to: every other node in a cluster of up to
    `COMPLETE_MAX`; else a circulant graph on `node_ids` in the order init gave them, each
    node linked to those 1 and about sqrt(n) places away on either side (a torus for 25 nodes:
    degree 4, diameter 4). Every node computes the same graph, and it is symmetric."""
    n = len(node_ids)
    i = node_ids.index(node_id)
    if n <= COMPLETE_MAX:
        return [m for m in node_ids if m != node_id]
    step = max(2, round(math.sqrt(n)))
    near = {node_ids[(i + k) % n] for d in (1, step) for k in (d, -d)}
    near.discard(node_id)
    return [m for m in node_ids if m in near]


# -- the planted bugs' merges --------------------------------------------------------------------


def merge_by_sum(a: Any, b: Any) -> Any:
    """`merge-by-sum`: each node's count added, not maxed (a g-counter or a pn-counter)."""
    if isinstance(a, PNCounter):
        return PNCounter(merge_by_sum(a.increments, b.increments),
                         merge_by_sum(a.decrements, b.decrements))
    if isinstance(a, GCounter):
        counts = dict(a.counts)
        for n, c in b.counts.items():
            counts[n] = counts.get(n, 0) + c
        return GCounter(counts)
    return a.merge(b)


def kill_removed_elements(s: ORSet) -> ORSet:
    """`remove-unobserved`: every tag of an element with a wildcard tombstone is removed."""
    dead = {e for e, n, _ in s.removed if n == WILDCARD}
    if not dead:
        return s
    doomed = {t for t in s.added if t[0] in dead} - s.removed
    return ORSet(s.added, s.removed | doomed) if doomed else s


def merge_without_tie_break(a: LWWRegister, b: LWWRegister) -> LWWRegister:
    """`local-clock-lww`: the greater stamp wins; on a tie the register keeps its own."""
    if b.ts is None:
        return a
    if a.ts is None:
        return b
    return b if b.ts > a.ts else a


# -- the machine ---------------------------------------------------------------------------------


class Replica(Machine):
    KIND: ClassVar[Any]  # a node.crdt type (the Crdt protocol)
    WORKLOAD: ClassVar[str]
    BUGS: ClassVar[Mapping[str, str]] = {}

    def __init__(self, boot: Boot) -> None:
        assert boot.bug is None or boot.bug in self.BUGS, boot.bug
        unknown = set(boot.params) - set(PARAMS)
        assert not unknown, f"unknown crdt params {sorted(unknown)}; use {sorted(PARAMS)}"
        super().__init__(boot)
        params = {**PARAMS, **boot.params}
        self.push_interval_s = float(params["push_interval_s"])
        self.anti_entropy_interval_s = float(params["anti_entropy_interval_s"])
        assert self.push_interval_s > 0, self.push_interval_s
        assert self.anti_entropy_interval_s > 0, self.anti_entropy_interval_s
        self.journal = Journal(self.KIND, self.WORKLOAD, slots=int(params["log_slots"]))
        self.state: Any = self.journal.load(boot.durable)
        self.unwritten: Any = None  # learnt from gossip, not yet written to storage
        self.is_synced = True  # every write so far has been synced
        self.neighbours: list[str] = []
        self.outbox: dict[str, Any] = {}
        self.is_ticking = False
        self._digest: tuple[Any, str] | None = None  # (state, its digest): a cache

    # -- init and timers -----------------------------------------------------------------------

    def on_init(self) -> None:
        if not self.neighbours:
            self.neighbours = overlay(self.node_ids, self.node_id)
        if not self.is_ticking:
            self.is_ticking = True
            self.set_timer("push", self.push_interval_s)
            # Staggered, so that the nodes' rounds interleave; soon, so that a restarted node
            # catches up at once.
            self.set_timer("anti_entropy", self.rng.uniform(0.0, self.anti_entropy_interval_s))

    def tick_push(self) -> None:
        for n in self.neighbours:
            delta = self.outbox.pop(n, None)
            if delta is not None:
                self.send(n, {"type": "crdt_delta", "delta": delta.to_json()})
        self.set_timer("push", self.push_interval_s)

    def tick_anti_entropy(self) -> None:
        others = self.other_node_ids()
        if others:
            peer = self.rng.choice(others)
            self.send(peer, {"type": "crdt_sync", "digest": self._digest_now()})
        if self.unwritten is not None:
            self._write(None, sync=False)  # kept by a graceful stop; no fsync until a reply
        self.set_timer("anti_entropy", self.anti_entropy_interval_s)

    # -- client requests -----------------------------------------------------------------------

    def on_add(self, msg: Message) -> None:
        self._update(msg)

    def on_remove(self, msg: Message) -> None:
        self._update(msg)

    def on_write(self, msg: Message) -> None:
        self._update(msg)

    def on_read(self, msg: Message) -> None:
        self._make_durable()
        self.reply(msg, {"type": "read_ok", **self.state.read()})

    def _update(self, msg: Message) -> None:
        body = msg["body"]
        kind = body["type"]
        if kind not in self.KIND.UPDATES:
            self.reply_error(msg, NOT_SUPPORTED, f"{self.WORKLOAD} takes "
                             f"{', '.join(sorted(self.KIND.UPDATES))} and read, not {kind!r}")
            return
        try:
            after, fields, delta = self._apply(body)
        except CrdtError as e:
            raise Malformed(str(e)) from None
        if is_empty(delta):
            self._make_durable()  # nothing changed, but the reply vouches for what is held
        else:
            self.state = after
            self._enqueue(delta, src=None)
            self._write(delta, sync=True)  # durable before <type>_ok
        self.reply(msg, {"type": f"{kind}_ok", **fields})

    def _apply(self, body: Message) -> tuple[Any, dict[str, Any], Any]:
        """A client's update: the state after it, its reply's fields, and its delta."""
        if self.bug == LOCAL_CLOCK_LWW:
            # The bug: the node's clock alone stamps the write, which replaces what is held
            # even when that was stamped later; a lagging clock writes backwards.
            if "value" not in body:
                raise CrdtError("'write' lacks the field 'value'")
            written = LWWRegister(body["value"], (math.floor(self.now_s * 1000), 0), self.node_id)
            assert written.ts is not None
            return written, {"ts": list(written.ts)}, written
        after, fields = self.state.update(body, node=self.node_id, now_ms=self.now_s * 1000)
        if self.bug == REMOVE_UNOBSERVED:
            # The bug: the element itself is tombstoned, so every add of it, seen or not, now
            # or later, is dead.
            if body["type"] == "remove":
                after = ORSet(after.added, after.removed | {(body["element"], WILDCARD, 1)})
            after = kill_removed_elements(after)
        return after, fields, missing(after, self.state)

    # -- between nodes -------------------------------------------------------------------------

    def on_crdt_delta(self, msg: Message) -> None:
        self._absorb(self._state_field(msg, "delta"), src=msg["src"])

    def on_crdt_sync(self, msg: Message) -> None:
        theirs = field_of(msg, "digest", str)
        if theirs != self._digest_now():
            self.reply(msg, {"type": "crdt_sync_ok", "state": self.state.to_json()})

    def on_crdt_sync_ok(self, msg: Message) -> None:
        theirs = self._state_field(msg, "state")
        self._absorb(theirs, src=msg["src"])
        lacking = missing(self.state, theirs)
        if not is_empty(lacking):
            self.send(msg["src"], {"type": "crdt_delta", "delta": lacking.to_json()})

    # -- helpers -------------------------------------------------------------------------------

    def _state_field(self, msg: Message, name: str) -> Any:
        if name not in msg["body"]:
            raise Malformed(f"missing field {name!r}")
        try:
            return self.KIND.from_json(msg["body"][name])
        except CrdtError as e:
            raise Malformed(f"{name}: {e}") from None

    def _join(self, a: Any, b: Any) -> Any:
        if self.bug == MERGE_BY_SUM:
            return merge_by_sum(a, b)  # the bug: counts added, so overlaps count twice
        if self.bug == LOCAL_CLOCK_LWW:
            return merge_without_tie_break(a, b)  # the bug: no (ts, node) order
        joined = a.merge(b)
        if self.bug == REMOVE_UNOBSERVED:
            joined = kill_removed_elements(joined)  # the bug: tombstones kill unseen adds
        return joined

    def _absorb(self, incoming: Any, *, src: str) -> None:
        """Merge a state or delta from `src`; pass on what it taught to the other neighbours."""
        if self.bug != MERGE_BY_SUM:  # (the bug merges even what is already held)
            incoming = missing(incoming, self.state)
            if is_empty(incoming):
                return
        after = self._join(self.state, incoming)
        delta = missing(after, self.state)
        if is_empty(delta):
            return
        self.state = after
        self._enqueue(delta, src=src)
        self.unwritten = delta if self.unwritten is None else self.unwritten.merge(delta)

    def _enqueue(self, delta: Any, *, src: str | None) -> None:
        for n in self.neighbours:
            if n != src:
                pending = self.outbox.get(n)
                self.outbox[n] = delta if pending is None else pending.merge(delta)

    def _write(self, delta: Any, *, sync: bool) -> None:
        """Write `delta` and whatever gossip taught that is not written yet."""
        if self.unwritten is not None:
            delta = self.unwritten if delta is None else self.unwritten.merge(delta)
            self.unwritten = None
        assert delta is not None, "nothing to write"
        writes, must_sync = self.journal.record(delta, self.state)
        for key, value in writes.items():
            self.persist(key, value, sync=sync or must_sync)
        self.is_synced = sync or must_sync

    def _make_durable(self) -> None:
        """Before a reply: what the node holds must survive a crash (module docstring)."""
        if self.unwritten is not None:
            self._write(None, sync=True)
        elif not self.is_synced:
            self.fx.sync = True  # an fsync of what is already written; nothing new to write
            self.is_synced = True

    def _digest_now(self) -> str:
        if self._digest is None or self._digest[0] is not self.state:
            self._digest = (self.state, digest(self.state))
        return self._digest[1]
