"""Services as pure state machines: events in, effects out (etcd/raft's `Step` and `Ready`).

A service's protocol logic never awaits, never touches a socket, a file or a clock. It is an
object that is fed one event at a time and answers each with an `Effects` value saying what to
do next, in order:

1. `persist`: key -> value writes to durable storage; when `sync` is true they must be made
   durable (fsynced) **before** any message of this step goes out (a vote granted, a write
   acknowledged). Writes without `sync` reach memory only: a SIGKILL loses them.
2. `messages`: `(dest, body)` pairs to send, in order. Bodies carry their `msg_id` (assigned by
   the machine, unique per process life, from 1) and `in_reply_to` for replies.
3. `timers`: one-shot timers to set (`SetTimer(name, after_s)`, which replaces a pending timer
   of that name: set it again to reset it) or to cancel (`CancelTimer(name)`). A timer fires
   once as `Tick(name)`; a periodic task sets itself again when it fires. Durations are in the
   node's own time, so clock faults (a fast or slow clock) reach the protocol.
4. `logs`: structured log events for the node's log (role and term changes, anomalies).

The events (`Event`):
- `Init(node_ids)`: Maelstrom's `init` reached the node (again after a restart). The driver
  has validated it and answers `init_ok` after applying this step's effects. Messages other
  than `init` reach the machine only after its first `Init`.
- `Receive(msg)`: any other message, requests and replies alike; the machine correlates
  replies with its own requests by `in_reply_to`.
- `Tick(name)`: the timer `name` fired.

Every `step` also receives `now_s`, the node's clock (skewed by the nemesis), for services
that reason about time (leases, hybrid logical clocks). A machine is built by its service's
factory from a `Boot` value: the node id, a seeded `random.Random`, the bug to plant, and
`durable`, what storage held when the process started (after a SIGKILL: only what was synced).

The same machine runs under the real driver (`node.driver`, one event at a time on trio and
ZeroMQ) and under the simulator (`chaos.simulation`, seeded network, disk and clock). Tests
feed literal events:

    m = Broadcast(Boot("n1", random.Random(1), bug=None, durable={}))
    fx = m.step(Init(["n1", "n2"]), now_s=0.0)
    fx = m.step(Receive({"src": "c1", "dest": "n1",
                         "body": {"type": "broadcast", "message": 7, "msg_id": 1}}), now_s=0.1)
    assert fx.sync and ("c1", {...}) in fx.messages

`Machine` is a small base class with that dispatch: `on_<type>` methods for message types
(`broadcast` -> `on_broadcast`), `tick_<name>` for timers, `on_init`. A request of a type
with no handler is answered with error 10 (not-supported); a reply nobody awaits is dropped
and counted; a handler that raises `Malformed` has its request answered with error 12.
Services need not subclass it: anything with `step(event, *, now_s) -> Effects` is a machine.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from node.protocol import MALFORMED_REQUEST, NOT_SUPPORTED

Message = dict[str, Any]
Body = dict[str, Any]


# -- events --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Init:
    node_ids: tuple[str, ...]


@dataclass(frozen=True)
class Receive:
    msg: Message


@dataclass(frozen=True)
class Tick:
    name: str


Event = Init | Receive | Tick


@dataclass(frozen=True)
class Boot:
    """What a machine is built from when its process starts."""

    node_id: str
    rng: random.Random
    bug: str | None = None
    durable: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)  # service tunables (tests)


# -- effects -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SetTimer:
    name: str
    after_s: float


@dataclass(frozen=True)
class CancelTimer:
    name: str


@dataclass
class Effects:
    """What one step asks the driver to do, in this order: persist (and sync), send, timers."""

    persist: dict[str, Any] = field(default_factory=dict)
    sync: bool = False
    messages: list[tuple[str, Body]] = field(default_factory=list)
    timers: list[SetTimer | CancelTimer] = field(default_factory=list)
    logs: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # level, event, kv

    def is_empty(self) -> bool:
        return not (self.persist or self.sync or self.messages or self.timers or self.logs)


class StepMachine(Protocol):
    def step(self, event: Event, *, now_s: float) -> Effects: ...


class Malformed(Exception):
    """Raised by a handler when its request is malformed: answered with error 12."""


class Machine:
    """Base class: dispatch by message type and timer name, msg ids, effect builders.

    Within a handler, `self.fx` is the `Effects` of the step being taken and `self.now_s` the
    node's time. Builders: `send`, `reply`, `reply_error`, `persist`, `set_timer`,
    `cancel_timer`, `log`.
    """

    def __init__(self, boot: Boot) -> None:
        self.node_id = boot.node_id
        self.rng = boot.rng
        self.bug = boot.bug
        self.node_ids: list[str] = []
        self.now_s = 0.0
        self.fx = Effects()
        self._msg_ids = itertools.count(1)
        self.unmatched_replies = 0

    # -- the step ------------------------------------------------------------------------------

    def step(self, event: Event, *, now_s: float) -> Effects:
        self.fx = Effects()
        self.now_s = now_s
        if isinstance(event, Init):
            self.node_ids = list(event.node_ids)
            self.on_init()
        elif isinstance(event, Tick):
            handler = getattr(self, "tick_" + event.name.replace("-", "_"), None)
            assert handler is not None, f"{type(self).__name__} set a timer it cannot handle"
            handler()
        else:
            self._receive(event.msg)
        fx, self.fx = self.fx, Effects()
        return fx

    def _receive(self, msg: Message) -> None:
        body = msg["body"]
        msg_type = body["type"]
        handler = getattr(self, "on_" + msg_type.replace("-", "_"), None)
        if handler is None or msg_type == "init":
            if body.get("in_reply_to") is not None or msg_type == "error" or (
                msg_type.endswith("_ok")
            ):
                self.unmatched_replies += 1
                return
            self.reply_error(msg, NOT_SUPPORTED, f"this node does not support {msg_type!r}")
            return
        try:
            handler(msg)
        except Malformed as e:
            if "msg_id" in body and body.get("in_reply_to") is None:
                self.reply_error(msg, MALFORMED_REQUEST, f"{msg_type}: {e}")
            self.log("info", "malformed_request", type=msg_type, why=str(e))

    def on_init(self) -> None:
        """The node was (re)initialised; `self.node_ids` is set. Set timers here."""

    # -- builders ------------------------------------------------------------------------------

    def other_node_ids(self) -> list[str]:
        return [n for n in self.node_ids if n != self.node_id]

    def send(self, dest: str, body: Body) -> int:
        """Queue `body` for `dest` with a fresh msg_id; return the msg_id."""
        assert isinstance(body.get("type"), str), body
        msg_id = next(self._msg_ids)
        self.fx.messages.append((dest, {**body, "msg_id": msg_id}))
        return msg_id

    def reply(self, request: Message, body: Body) -> None:
        body = dict(body)
        if "msg_id" in request["body"]:
            body["in_reply_to"] = request["body"]["msg_id"]
        self.send(request["src"], body)

    def reply_error(self, request: Message, code: int, text: str) -> None:
        self.reply(request, {"type": "error", "code": code, "text": text})

    def persist(self, key: str, value: Any, *, sync: bool = True) -> None:
        self.fx.persist[key] = value
        self.fx.sync = self.fx.sync or sync

    def set_timer(self, name: str, after_s: float) -> None:
        assert after_s >= 0, after_s
        self.fx.timers.append(SetTimer(name, after_s))

    def cancel_timer(self, name: str) -> None:
        self.fx.timers.append(CancelTimer(name))

    def log(self, level: str, event: str, **fields: Any) -> None:
        self.fx.logs.append((level, event, fields))


def init_problem(node_id: str, body: Body) -> str | None:
    """Why an `init` body cannot initialise node `node_id`, or None if it can. The driver and
    the simulator both answer such an init with error 12: the routing id is fixed by the
    node's start and cannot change, and `node_ids` must be a list of ids that includes ours."""
    if body.get("node_id") != node_id:
        return f"init for {body.get('node_id')!r} reached node {node_id!r}"
    node_ids = body.get("node_ids")
    if not (isinstance(node_ids, list) and all(isinstance(n, str) for n in node_ids)) or (
        node_id not in node_ids
    ):
        return "init: node_ids must be a list of ids including ours"
    return None


def field_of(msg: Message, name: str, kind: type | tuple[type, ...], *,
             optional: bool = False) -> Any:
    """`msg["body"][name]` checked against `kind`; raises `Malformed` naming the field.

    JSON `true` is a Python int: refused where a number is asked for and a bool is not."""
    body = msg["body"]
    if name not in body:
        if optional:
            return None
        raise Malformed(f"missing field {name!r}")
    value = body[name]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds and ({int, float} & set(kinds)):
        raise Malformed(f"field {name!r} must not be a bool")
    if not isinstance(value, kind):
        raise Malformed(f"field {name!r} has the wrong type")
    return value
