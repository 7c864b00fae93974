"""The services a cluster offers its nodes, as Maelstrom does: seq-kv, lin-kv, lww-kv, lin-tso.

A node program calls them by name, as if they were nodes (PROTOCOL.md, "Services a cluster
offers to nodes"; Maelstrom's doc/services.md):

    {"src": "n1", "dest": "seq-kv", "body": {"type": "cas", "msg_id": 4, "key": "counter",
                                             "from": 3, "to": 5, "create_if_not_exists": true}}
    {"src": "seq-kv", "dest": "n1", "body": {"type": "cas_ok", "in_reply_to": 4}}

- `lin-kv`, `seq-kv`, `lww-kv` take the lin-kv messages: `read{key}` -> `read_ok{value}` or
  error 20 (key-does-not-exist); `write{key, value}` -> `write_ok`; `cas{key, from, to,
  create_if_not_exists?}` -> `cas_ok`, error 22 (precondition-failed) when the value is not
  `from`, error 20 when the key is absent (unless `create_if_not_exists` is true: then the key
  is created holding `to`). Keys and values are any JSON; they are compared as JSON (`1` and
  `1.0` and `true` are three different values, as in Maelstrom, whose Clojure `=` tells them
  apart).
- `lin-tso`: `ts{}` -> `ts_ok{ts}`, 0, 1, 2, ...: strictly increasing over all callers.
- Replies carry `in_reply_to` (none when the request had no `msg_id`) and no `msg_id`, and
  go to the request's `src` (Maelstrom's behaviour). A request of a type the service does not
  know, or that is not an envelope, gets no reply (as Maelstrom's); one missing a field gets
  error 12 (malformed-request).

## Semantics (Maelstrom's src/maelstrom/service.clj, re-derived, not copied)
- `lin-kv`: one map, each request applied at once: linearizable, since the host (the proxy, or
  the simulator) handles one request at a time, at an instant between its send and its reply.
- `seq-kv`: sequentially consistent. The service keeps the last `SEQ_STATES_MAX` states of the
  map in a ring (index 0, 1, 2, ...) and, per caller (`src`: a session), the index it last saw.
  A request is first tried against a state drawn (seeded) between that index and the newest:
  if it changes nothing there (a read, a failed cas, a write of the value already held) it is
  answered from that state and the caller's index moves to it: a stale answer, but never older
  than what this caller saw before. If it would change that state it is applied to the newest
  state instead, which makes a new newest state, and the caller's index moves there. So every
  caller sees one total order, monotonically, and reads (and failed cas) may be stale across
  callers: the classic trap of Gossip Glomers' counter, where a read-then-cas loop must retry
  and a read must first write to catch up. A caller not seen before (or forgotten, beyond
  `SESSIONS_MAX` callers) starts at the oldest state the ring still holds, but never below the
  newest state at the time a session was forgotten, so a forgotten caller never goes backwards.
- `lww-kv`: eventually consistent, last write wins: `LWW_REPLICAS` replicas, each with a
  Lamport clock; each request first merges one replica (drawn) into another (drawn), then is
  served by a third draw. A merge keeps, per key, the value with the greater stamp, and on equal
  stamps the greater value in canonical JSON text order (Maelstrom takes the greater value).
  A write can be lost to a concurrent one and reads can go backwards: that is its contract.
- `lin-tso`: a counter from 0.

The seeded draws come from one `random.Random` per service, each a child of the run's seed, so a
run's answers depend only on the seed and the order requests arrive in.

## Where the services run, and faults
They are not processes: the chaos proxy hosts `KvServices` (chaos/proxy.py), and the simulator
does the same in its network's place (chaos/simulation.py). A message to a service id goes
through the proxy's fault table and grudge like any other, then is handed to the service at
its delivery instant; the reply enters the proxy as a message from the service and goes through
the faults again. By default service links are never faulted (as Maelstrom's services are
reliable), whatever the nemesis does; a scenario with `fault_service_links = true` lets link
faults reach them (rules with `*` match service ids as nodes) and partitions cut them off:
the services then stand with one node, `service_home`, the node the fewest nodes cannot hear
(a majority node in a majority/minority split; ties to the first in the run's node order), and
a node that cannot hear it, or that it cannot hear, is cut off from every service the same way
(`service_grudge`). No process logs in as a service id: the proxy's login admits only nodes and
client ids, so nobody can pretend to be `seq-kv`.

What it does not do: keep state across a proxy restart (there is none: the proxy lives as long
as the run), nor offer Maelstrom's `lin-kv`-only extras beyond `create_if_not_exists`.
"""

from __future__ import annotations

import json
import random
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from node.protocol import KEY_DOES_NOT_EXIST, MALFORMED_REQUEST, PRECONDITION_FAILED

LIN_KV, SEQ_KV, LWW_KV, LIN_TSO = "lin-kv", "seq-kv", "lww-kv", "lin-tso"
SERVICE_IDS: tuple[str, ...] = (LIN_KV, SEQ_KV, LWW_KV, LIN_TSO)
SEQ_STATES_MAX = 32  # states a seq-kv read may go back over (Maelstrom's ring buffer)
SESSIONS_MAX = 100_000  # seq-kv callers remembered; clients come and go under fresh ids
LWW_REPLICAS = 5  # Maelstrom's eventual service's replicas

Body = dict[str, Any]
Data = Mapping[str, Any]  # canonical key text -> value


class MalformedRequest(ValueError):
    """A request missing a field, or with one of the wrong type: answered with error 12."""


def canonical(value: Any) -> str:
    """JSON text that equal JSON values share: the identity of keys and values."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _same(a: Any, b: Any) -> bool:
    return canonical(a) == canonical(b)


def _field(body: Body, name: str) -> Any:
    if name not in body:
        raise MalformedRequest(f"{body.get('type')}: missing field {name!r}")
    return body[name]


def _error(code: int, text: str) -> Body:
    return {"type": "error", "code": code, "text": text}


def kv_step(data: Data, body: Body) -> tuple[dict[str, Any] | None, Body]:
    """One lin-kv request against a map: `(new map, or None when unchanged; reply body)`.

    Pure: `data` is never modified. Raises `MalformedRequest`, and `KeyError` for a type that is
    not read, write or cas."""
    kind = body.get("type")
    if kind not in ("read", "write", "cas"):
        raise KeyError(kind)
    key = canonical(_field(body, "key"))
    if kind == "read":
        if key not in data:
            return None, _error(KEY_DOES_NOT_EXIST, "key does not exist")
        return None, {"type": "read_ok", "value": data[key]}
    if kind == "write":
        value = _field(body, "value")
        if key in data and _same(data[key], value):
            return None, {"type": "write_ok"}
        return {**data, key: value}, {"type": "write_ok"}
    from_value, to_value = _field(body, "from"), _field(body, "to")
    if key not in data:
        if body.get("create_if_not_exists") is True:
            return {**data, key: to_value}, {"type": "cas_ok"}
        return None, _error(KEY_DOES_NOT_EXIST, "key does not exist")
    if not _same(data[key], from_value):
        held, wanted = canonical(data[key]), canonical(from_value)
        return None, _error(PRECONDITION_FAILED, f"current value {held} is not {wanted}")
    if _same(from_value, to_value):
        return None, {"type": "cas_ok"}
    return {**data, key: to_value}, {"type": "cas_ok"}


class LinKv:
    """Linearizable: one map, each request applied when it is handled."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def handle(self, src: str, body: Body) -> Body:
        new, reply = kv_step(self.data, body)
        if new is not None:
            self.data = new
        return reply


class SeqKv:
    """Sequentially consistent, with seeded stale answers (module docstring)."""

    def __init__(self, rng: random.Random, *, states_max: int = SEQ_STATES_MAX,
                 sessions_max: int = SESSIONS_MAX) -> None:
        assert states_max >= 1, states_max
        self.rng = rng
        self.states: deque[dict[str, Any]] = deque([{}], maxlen=states_max)
        self.newest_index = 0
        self.sessions: dict[str, int] = {}  # src -> index of the state it saw last
        self.sessions_max = sessions_max
        self.floor_index = 0  # where a new (or forgotten) session starts, at least
        self.stale_answers = 0  # answered from a state older than the newest: shown in tests

    def oldest_index(self) -> int:
        return self.newest_index - len(self.states) + 1

    def _state(self, index: int) -> dict[str, Any]:
        return self.states[index - self.oldest_index()]

    def handle(self, src: str, body: Body) -> Body:
        seen = self.sessions.get(src)
        if seen is None:
            seen = self.floor_index
        seen = max(seen, self.oldest_index())  # the ring forgot older states
        index = self.rng.randint(seen, self.newest_index)
        new, reply = kv_step(self._state(index), body)
        if new is None:
            if index < self.newest_index:
                self.stale_answers += 1
        else:  # it would change the past: apply it to the newest state instead
            new, reply = kv_step(self.states[-1], body)
            if new is not None:
                self.states.append(new)
                self.newest_index += 1
            index = self.newest_index
        self._remember(src, index)
        return reply

    def _remember(self, src: str, index: int) -> None:
        if src not in self.sessions and len(self.sessions) >= self.sessions_max:
            # Forget them all at once (bounded memory), but nobody may go back: each starts
            # again no earlier than the newest state.
            self.sessions.clear()
            self.floor_index = self.newest_index
        self.sessions[src] = index


@dataclass(frozen=True)
class Stamped:
    ts: int
    value: Any


class LwwReplica:
    """One replica of lww-kv: a Lamport clock and key -> stamped value."""

    def __init__(self, clock: int = 0, data: Mapping[str, Stamped] | None = None) -> None:
        self.clock = clock
        self.data: dict[str, Stamped] = dict(data or {})

    def handle(self, body: Body) -> Body:
        plain = {k: s.value for k, s in self.data.items()}
        new, reply = kv_step(plain, body)
        if new is not None:
            for key, value in new.items():
                if key not in plain or plain[key] is not value:
                    self.data[key] = Stamped(self.clock, value)
            self.clock += 1
        return reply

    def merge(self, other: LwwReplica) -> None:
        """Take `other`'s state in: the greater stamp wins, then the greater value (JSON text)."""
        self.clock = max(self.clock, other.clock)
        for key, theirs in other.data.items():
            ours = self.data.get(key)
            if ours is None or (theirs.ts, canonical(theirs.value)) > (
                ours.ts, canonical(ours.value)
            ):
                self.data[key] = theirs


class LwwKv:
    """Eventually consistent, last write wins: replicas merged at random (module docstring)."""

    def __init__(self, rng: random.Random, *, replicas: int = LWW_REPLICAS) -> None:
        assert replicas >= 1, replicas
        self.rng = rng
        self.replicas = [LwwReplica() for _ in range(replicas)]

    def handle(self, src: str, body: Body) -> Body:
        source = self.replicas[self.rng.randrange(len(self.replicas))]
        dest = self.replicas[self.rng.randrange(len(self.replicas))]
        if source is not dest:
            dest.merge(source)
        return self.replicas[self.rng.randrange(len(self.replicas))].handle(body)


class LinTso:
    """A timestamp oracle: 0, 1, 2, ... to whoever asks."""

    def __init__(self) -> None:
        self.next_ts = 0

    def handle(self, src: str, body: Body) -> Body:
        if body.get("type") != "ts":
            raise KeyError(body.get("type"))
        ts = self.next_ts
        self.next_ts += 1
        return {"type": "ts_ok", "ts": ts}


@dataclass(frozen=True)
class ServicesStatistics:
    requests: int = 0  # messages handed to a service
    replies: int = 0
    unanswered: int = 0  # not JSON, not an envelope, or of a type the service does not know
    malformed: int = 0  # answered with error 12


class KvServices:
    """All four services, as their host (the proxy, the simulator) calls them.

        services = KvServices(seed=7)
        reply = services.handle("seq-kv", {"src": "n1", "dest": "seq-kv", "body": {...}})
        # -> {"src": "seq-kv", "dest": "n1", "body": {..., "in_reply_to": 4}}, or None
    """

    def __init__(self, *, seed: int | str) -> None:
        self.lin_kv = LinKv()
        self.seq_kv = SeqKv(random.Random(f"{seed}/{SEQ_KV}"))
        self.lww_kv = LwwKv(random.Random(f"{seed}/{LWW_KV}"))
        self.lin_tso = LinTso()
        self._by_id: dict[str, LinKv | SeqKv | LwwKv | LinTso] = {
            LIN_KV: self.lin_kv, SEQ_KV: self.seq_kv, LWW_KV: self.lww_kv, LIN_TSO: self.lin_tso,
        }
        self._counts = {"requests": 0, "replies": 0, "unanswered": 0, "malformed": 0}

    def statistics(self) -> ServicesStatistics:
        return ServicesStatistics(**self._counts)

    def handle(self, service_id: str, msg: Any) -> dict[str, Any] | None:
        """The reply envelope to `msg` (a decoded envelope sent to `service_id`), or None."""
        service = self._by_id[service_id]
        self._counts["requests"] += 1
        body = msg.get("body") if isinstance(msg, dict) else None
        src = msg.get("src") if isinstance(msg, dict) else None
        if not isinstance(body, dict) or not isinstance(src, str) or not src:
            self._counts["unanswered"] += 1
            return None
        try:
            reply = service.handle(src, body)
        except KeyError:  # a type it does not know: Maelstrom's services stay silent
            self._counts["unanswered"] += 1
            return None
        except MalformedRequest as e:
            self._counts["malformed"] += 1
            reply = _error(MALFORMED_REQUEST, str(e))
        msg_id = body.get("msg_id")
        if msg_id is not None:
            reply["in_reply_to"] = msg_id
        self._counts["replies"] += 1
        return {"src": service_id, "dest": src, "body": reply}

    def handle_json(self, service_id: str, data: bytes | str) -> tuple[str, str] | None:
        """`handle` on JSON text: `(reply's dest, reply as JSON text)`, or None."""
        try:
            msg = json.loads(data)
        except (ValueError, RecursionError):
            self._counts["requests"] += 1
            self._counts["unanswered"] += 1
            return None
        reply = self.handle(service_id, msg)
        if reply is None:
            return None
        return reply["dest"], json.dumps(reply, separators=(",", ":"))


# -- where the services stand in a partition -------------------------------------------------


def service_home(grudge: Mapping[str, Iterable[str]], nodes: Sequence[str]) -> str:
    """The node the services stand with while `grudge` holds: the one the fewest nodes
    cannot hear; ties go to the first in `nodes` order."""
    assert nodes, "a cluster has nodes"
    unheard_by = dict.fromkeys(nodes, 0)
    for srcs in grudge.values():
        for src in srcs:
            if src in unheard_by:
                unheard_by[src] += 1
    return min(nodes, key=lambda n: (unheard_by[n], nodes.index(n)))


def service_grudge(
    grudge: Mapping[str, Iterable[str]], nodes: Sequence[str], services: Iterable[str]
) -> dict[str, frozenset[str]]:
    """`grudge` with every service placed at `service_home`: a service cannot hear the nodes
    its home cannot hear, and a node that cannot hear the home cannot hear the services."""
    out = {name: frozenset(srcs) for name, srcs in grudge.items()}
    services = list(services)
    if not any(out.values()):
        return out
    home = service_home(out, nodes)
    home_deaf_to = frozenset(n for n in out.get(home, frozenset()) if n in nodes)
    for service in services:
        if home_deaf_to:
            out[service] = home_deaf_to
    for node in nodes:
        if home in out.get(node, frozenset()):
            out[node] = out[node] | frozenset(services)
    return out
