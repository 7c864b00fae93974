"""The broadcast machine (see the package docstring for the protocol) and its pure state.

`GossipState` is the bookkeeping: which messages this node knows and which neighbour still owes
an acknowledgement for which. `Broadcast` is the machine the driver and the simulator run: its
handlers turn messages and the two periodic timers into effects.

    m = Broadcast(Boot("n1", random.Random(1), durable={"messages": [3]}))
    m.step(Init(("n1", "n2")), now_s=0.0)        # sets the timers "retry" and "anti_entropy"
    fx = m.step(Receive({"src": "c1", "dest": "n1",
                         "body": {"type": "broadcast", "message": 7, "msg_id": 1}}), now_s=0.1)
    fx.persist == {"messages": [3, 7]} and fx.sync      # durable before broadcast_ok goes out
    fx.messages == [("c1", broadcast_ok), ("n2", gossip{messages: [7]})]

Periodic work is a one-shot timer re-armed by its own tick: `tick_retry` every
`retry_interval_s`, `tick_anti_entropy` every `anti_entropy_interval_s`, both first set by
the first `on_init` (a repeated init leaves them running). With the `no-retry` bug neither is
ever set.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from node.machine import Boot, Machine, Malformed, Message, field_of

NO_RETRY = "no-retry"
BUGS = {
    NO_RETRY: "gossip is sent once to each neighbour, never retried, no anti-entropy: messages "
    "dropped in a partition never reach some nodes",
}

RETRY_INTERVAL_S = 0.2
ANTI_ENTROPY_INTERVAL_S = 1.0
BATCH_MAX = 1000  # messages per gossip message
PARAMS = {
    "retry_interval_s": RETRY_INTERVAL_S,
    "anti_entropy_interval_s": ANTI_ENTROPY_INTERVAL_S,
    "batch_max": BATCH_MAX,
}

Value = int | float | str


def sort_values(values: Iterable[Value]) -> list[Value]:
    """A stable order for mixed values (numbers before strings)."""
    return sorted(values, key=lambda v: (isinstance(v, str), v))


def is_value(v: Any) -> bool:
    return not isinstance(v, bool) and isinstance(v, int | float | str)


class GossipState:
    """What one node knows and what each neighbour still owes an acknowledgement for.

    `is_retrying=False` (the no-retry bug) keeps no debts: each message is pushed once."""

    def __init__(self, *, is_retrying: bool = True) -> None:
        self.is_retrying = is_retrying
        self.messages: set[Value] = set()
        self.neighbours: list[str] | None = None  # None until the topology is known
        self.owed: dict[str, set[Value]] = {}

    def set_neighbours(self, neighbours: Iterable[str]) -> None:
        """A new topology. A new neighbour may lack everything we know, so it owes it all."""
        self.neighbours = sorted(set(neighbours))
        old = self.owed
        self.owed = {}
        for n in self.neighbours:
            if n in old:
                self.owed[n] = old[n]
            else:
                self.owed[n] = set(self.messages) if self.is_retrying else set()

    def add(self, values: Iterable[Value], *, src: str | None = None) -> set[Value]:
        """Merge `values` (from `src`, a node that therefore has them); return the new ones.

        Every neighbour other than `src` now owes an acknowledgement for the new ones."""
        values = set(values)
        new = values - self.messages
        self.messages |= new
        if src in self.owed:
            self.owed[src] -= values
        if self.is_retrying:
            for n, debt in self.owed.items():
                if n != src:
                    debt |= new
        return new

    def acknowledge(self, neighbour: str, values: Iterable[Value]) -> None:
        if neighbour in self.owed:
            self.owed[neighbour] -= set(values)

    def due(self, *, batch_max: int = BATCH_MAX) -> dict[str, list[Value]]:
        """What to (re)send now: neighbour -> up to `batch_max` values it has not acknowledged."""
        return {n: sort_values(debt)[:batch_max] for n, debt in self.owed.items() if debt}

    def push_targets(self, *, src: str | None) -> list[str]:
        """Neighbours to push new messages to: all but the one they came from."""
        return [n for n in self.neighbours or [] if n != src]

    def missing_from(self, values: Iterable[Value]) -> set[Value]:
        """What we know and the holder of `values` does not (the pull half of anti-entropy)."""
        return self.messages - set(values)


def _values(msg: Message, name: str) -> list[Value]:
    values = field_of(msg, name, list)
    if not all(is_value(v) for v in values):
        raise Malformed(f"{name}: messages must be numbers or strings")
    return values


class Broadcast(Machine):
    def __init__(self, boot: Boot) -> None:
        assert boot.bug is None or boot.bug in BUGS, boot.bug
        unknown = set(boot.params) - set(PARAMS)
        assert not unknown, f"unknown broadcast params {sorted(unknown)}; use {sorted(PARAMS)}"
        super().__init__(boot)
        params = {**PARAMS, **boot.params}
        self.retry_interval_s = float(params["retry_interval_s"])
        self.anti_entropy_interval_s = float(params["anti_entropy_interval_s"])
        self.batch_max = int(params["batch_max"])
        assert self.retry_interval_s > 0, self.retry_interval_s
        assert self.anti_entropy_interval_s > 0, self.anti_entropy_interval_s
        assert self.batch_max > 0, self.batch_max
        # The bug: no debts are kept, and on_init arms no retry or anti-entropy timer.
        self.is_retrying = boot.bug != NO_RETRY
        self.state = GossipState(is_retrying=self.is_retrying)
        durable = boot.durable.get("messages", [])
        assert isinstance(durable, list) and all(map(is_value, durable)), "a bad messages list"
        self.state.add(durable)
        self.is_ticking = False  # the periodic timers are armed

    # -- init and timers -----------------------------------------------------------------------

    def on_init(self) -> None:
        if self.state.neighbours is None:
            self.state.set_neighbours(self.other_node_ids())
        if self.is_retrying and not self.is_ticking:
            self.is_ticking = True
            self.set_timer("retry", self.retry_interval_s)
            self.set_timer("anti_entropy", self.anti_entropy_interval_s)

    def tick_retry(self) -> None:
        for n, values in self.state.due(batch_max=self.batch_max).items():
            self.send(n, {"type": "gossip", "messages": values})
        self.set_timer("retry", self.retry_interval_s)

    def tick_anti_entropy(self) -> None:
        candidates = self.state.neighbours or []
        if candidates:
            peer = self.rng.choice(candidates)
            self.send(peer, {"type": "gossip_sync", "messages": sort_values(self.state.messages)})
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
        if new:
            self._remember(sync=True)  # durable before broadcast_ok: the client was promised
        self.reply(msg, {"type": "broadcast_ok"})
        self._push(new, src=None)

    def on_read(self, msg: Message) -> None:
        self.reply(msg, {"type": "read_ok", "messages": sort_values(self.state.messages)})

    # -- between nodes -------------------------------------------------------------------------

    def on_gossip(self, msg: Message) -> None:
        values = _values(msg, "messages")
        new = self.state.add(values, src=msg["src"])
        self.reply(msg, {"type": "gossip_ok", "messages": values})
        self._learnt(new, src=msg["src"])

    def on_gossip_ok(self, msg: Message) -> None:
        self.state.acknowledge(msg["src"], _values(msg, "messages"))

    def on_gossip_sync(self, msg: Message) -> None:
        values = _values(msg, "messages")
        missing = self.state.missing_from(values)
        new = self.state.add(values, src=msg["src"])
        self.reply(msg, {"type": "gossip_sync_ok", "messages": sort_values(missing)})
        self._learnt(new, src=msg["src"])

    def on_gossip_sync_ok(self, msg: Message) -> None:
        new = self.state.add(_values(msg, "messages"), src=msg["src"])
        self._learnt(new, src=msg["src"])

    # -- helpers -------------------------------------------------------------------------------

    def _learnt(self, new: set[Value], *, src: str) -> None:
        """New messages from a neighbour: kept (unsynced: the neighbour has them) and pushed."""
        if new:
            self._remember(sync=False)
        self._push(new, src=src)

    def _remember(self, *, sync: bool) -> None:
        self.persist("messages", sort_values(self.state.messages), sync=sync)

    def _push(self, new: set[Value], *, src: str | None) -> None:
        if not new:
            return
        body = {"type": "gossip", "messages": sort_values(new)}
        for n in self.state.push_targets(src=src):
            self.send(n, body)
