"""broadcast: gossip dissemination with acknowledged retries and anti-entropy.

Client messages (PROTOCOL.md, Maelstrom's broadcast workload):
    topology{topology: {node: [neighbours]}}  ->  topology_ok
    broadcast{message}                        ->  broadcast_ok   (after the message is fsynced)
    read{}                                    ->  read_ok{messages: [...]}   every message known

Between nodes:
    gossip{messages: [...]}        ->  gossip_ok{messages: [...]}   (acknowledges exactly those)
    gossip_sync{messages: [...]}   ->  gossip_sync_ok{messages: [...]}   (what the sender lacks)

How it works. A node gossips along the topology (`topology[node_id]`; every other node when no
topology arrived or it does not name us). A new message, from a client or a neighbour, is pushed
at once to every neighbour except the one it came from, and each neighbour then *owes* an
acknowledgement for it. Every `RETRY_INTERVAL_S` the node resends to each neighbour what it
still owes (in batches of `BATCH_MAX`) until a `gossip_ok` settles it; a partition only delays
delivery. Retries cannot help a node that lost what it knew (killed before its state was
gossiped, or one that never was a neighbour's neighbour under a changed topology), so every
`ANTI_ENTROPY_INTERVAL_S` the node also does a push-pull with one random neighbour: it sends its
whole set, the neighbour merges it and answers with what the sender lacks. Together: after any
partition heals, every acknowledged message reaches every node. Client-acknowledged messages
are fsynced before `broadcast_ok` and reloaded on restart.

`GossipState` is the pure core (which messages are known, which neighbour owes which ack);
`install` is the thin shell of handlers and timers.

Bugs:
    no-retry   each new message is sent once to each neighbour; no retries, no anti-entropy.
               Messages gossiped while a link is partitioned never reach the far side: the
               set-full checker reports them lost.

Limits: anti-entropy sends the whole set (fine for the thousands of messages of a test run; a
digest exchange would be the next step); messages are JSON scalars (int, float, string).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from node.runtime import MALFORMED_REQUEST, Node, RpcError, field
from node.wire import Message

BUGS = {
    "no-retry": "gossip is sent once to each neighbour, never retried, no anti-entropy: messages "
    "dropped in a partition never reach some nodes",
}

RETRY_INTERVAL_S = 0.2
ANTI_ENTROPY_INTERVAL_S = 1.0
BATCH_MAX = 1000  # messages per gossip message

Value = int | float | str


def sort_values(values: Iterable[Value]) -> list[Value]:
    """A stable order for mixed values (numbers before strings)."""
    return sorted(values, key=lambda v: (isinstance(v, str), v))


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
    values = field(msg, name, list)
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int | float | str):
            raise RpcError(MALFORMED_REQUEST, f"{name}: messages must be numbers or strings")
    return values


def install(
    node: Node,
    *,
    bug: str | None,
    retry_interval_s: float = RETRY_INTERVAL_S,
    anti_entropy_interval_s: float = ANTI_ENTROPY_INTERVAL_S,
) -> None:
    assert bug is None or bug in BUGS, bug
    is_retrying = bug != "no-retry"
    state = GossipState(is_retrying=is_retrying)
    storage = node.storage
    if storage is not None:
        state.add(storage.get("messages", []))

    def neighbours() -> list[str]:
        if state.neighbours is None:
            state.set_neighbours(node.other_node_ids())
        assert state.neighbours is not None
        return state.neighbours

    async def push(new: set[Value], *, src: str | None) -> None:
        neighbours()
        body = {"type": "gossip", "messages": sort_values(new)}
        for n in state.push_targets(src=src):
            await node.send(n, body)

    def remember() -> None:
        if storage is not None:
            storage.set("messages", sort_values(state.messages))

    async def topology(msg: Message) -> None:
        topo = field(msg, "topology", dict)
        mine = topo.get(node.node_id)
        known = set(node.other_node_ids())
        if isinstance(mine, list) and all(isinstance(n, str) for n in mine):
            unknown = [n for n in mine if n not in known]
            if unknown:
                node.log.warning("topology_unknown_nodes", nodes=unknown)
            state.set_neighbours(n for n in mine if n in known)
        else:
            node.log.warning("topology_without_us", why="gossiping to every node")
            state.set_neighbours(known)
        node.log.info("topology", neighbours=state.neighbours)
        await node.reply(msg, {"type": "topology_ok"})

    async def broadcast(msg: Message) -> None:
        value = field(msg, "message", (int, float, str))
        neighbours()
        new = state.add([value])
        if new:
            remember()
            if storage is not None:
                await storage.sync_async()
        await node.reply(msg, {"type": "broadcast_ok"})
        if new:
            await push(new, src=None)

    async def read(msg: Message) -> None:
        await node.reply(msg, {"type": "read_ok", "messages": sort_values(state.messages)})

    async def gossip(msg: Message) -> None:
        values = _values(msg, "messages")
        neighbours()
        new = state.add(values, src=msg["src"])
        await node.reply(msg, {"type": "gossip_ok", "messages": values})
        if new:
            remember()
            await push(new, src=msg["src"])

    async def gossip_ok(msg: Message) -> None:
        state.acknowledge(msg["src"], _values(msg, "messages"))

    async def gossip_sync(msg: Message) -> None:
        values = _values(msg, "messages")
        neighbours()
        missing = state.missing_from(values)
        new = state.add(values, src=msg["src"])
        await node.reply(msg, {"type": "gossip_sync_ok", "messages": sort_values(missing)})
        if new:
            remember()
            await push(new, src=msg["src"])

    async def gossip_sync_ok(msg: Message) -> None:
        values = _values(msg, "messages")
        new = state.add(values, src=msg["src"])
        if new:
            remember()
            await push(new, src=msg["src"])

    async def retry() -> None:
        neighbours()
        for n, values in state.due().items():
            await node.send(n, {"type": "gossip", "messages": values})

    async def anti_entropy() -> None:
        candidates = neighbours()
        if candidates:
            peer = node.rng.choice(candidates)
            body: dict[str, Any] = {
                "type": "gossip_sync",
                "messages": sort_values(state.messages),
            }
            await node.send(peer, body)

    node.on("topology", topology)
    node.on("broadcast", broadcast)
    node.on("read", read)
    node.on("gossip", gossip)
    node.on("gossip_ok", gossip_ok)
    if is_retrying:
        node.on("gossip_sync", gossip_sync)
        node.on("gossip_sync_ok", gossip_sync_ok)
        node.every(retry_interval_s, retry)
        node.every(anti_entropy_interval_s, anti_entropy)
