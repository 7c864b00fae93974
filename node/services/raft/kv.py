"""The state machine Raft replicates: lin-kv's key-value map, and the commands that change it.

A command is what a log entry carries: `None` (a leader's no-op), or a dict

    {"f": "write", "key": k, "value": v, "client": [src, msg_id]}
    {"f": "cas", "key": k, "from": a, "to": b, "create": bool, "client": [src, msg_id]}

`client` names the request (Raft paper §8, client sessions): the network may deliver a request
twice (a duplicated `forward`), and the leader then logs it twice; the map applies it once.
A client has one request outstanding and numbers its requests upward (PROTOCOL.md; ours and
Maelstrom's clients count from 1), so a command whose msg_id is not above the last applied
from its client is a duplicate: skipped, on every node alike (the session table is part of
the replicated state, rebuilt by replaying the log).

Reads are not commands (they never enter the log: the leader serves them by read index).
Keys and values are any JSON values. Two keys are the same key when their canonical JSON text
is (so `1` and `"1"` differ, `{"a": 1, "b": 2}` and `{"b": 2, "a": 1}` do not), and cas compares
values the same way: JSON `1` and `true` are different values, as they are to a JSON client,
although Python's `==` says otherwise.

    kv = KvStore()
    kv.apply({"f": "write", "key": 1, "value": 3})   # {"type": "write_ok"}
    kv.read(1)                                       # {"type": "read_ok", "value": 3}
"""

from __future__ import annotations

import json
from typing import Any

from node.machine import Body, Malformed
from node.protocol import KEY_DOES_NOT_EXIST, PRECONDITION_FAILED

Command = dict[str, Any] | None


def canonical(value: Any) -> str:
    """The JSON text that identifies a key or value: sorted keys, no spaces."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def error(code: int, text: str) -> Body:
    return {"type": "error", "code": code, "text": text}


def request_of(body: Body) -> tuple[str, Any, Command]:
    """A client request body as `(f, key, command)`; the command is None for a read. Raises
    `Malformed` naming the missing field."""
    f = body.get("type")
    for name in ("key", *{"write": ("value",), "cas": ("from", "to")}.get(str(f), ())):
        if name not in body:
            raise Malformed(f"{f}: missing field {name!r}")
    key = body["key"]
    if f == "read":
        return "read", key, None
    if f == "write":
        return "write", key, {"f": "write", "key": key, "value": body["value"]}
    if f == "cas":
        create = body.get("create_if_not_exists", False)
        if not isinstance(create, bool):
            raise Malformed("cas: create_if_not_exists must be a boolean")
        command = {"f": "cas", "key": key, "from": body["from"], "to": body["to"],
                   "create": create}
        return "cas", key, command
    raise Malformed(f"lin-kv has no request {f!r}")


class KvStore:
    """The map, keyed by canonical key text. `apply` must see committed commands in log
    order, once each: the same sequence gives the same map on every node."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.sessions: dict[str, int] = {}  # client -> the highest msg_id applied

    def read(self, key: Any) -> Body:
        text = canonical(key)
        if text not in self.values:
            return error(KEY_DOES_NOT_EXIST, f"key {text} does not exist")
        return {"type": "read_ok", "value": self.values[text]}

    def query(self, key: Any) -> Body:
        """A read, as `core.RaftCore` serves queries (by read index)."""
        return self.read(key)

    def apply(self, command: Command, *, index: int = 0) -> Body | None:
        """Apply one committed command (entry `index` of the log: the map has no use for it);
        its reply body (None for a no-op or a duplicate)."""
        if command is None:
            return None
        if command.get("client") is not None:
            src, msg_id = command["client"]
            if msg_id <= self.sessions.get(src, 0):
                return None  # applied already: a duplicate delivery of the request
            self.sessions[src] = msg_id
        text = canonical(command["key"])
        if command["f"] == "write":
            self.values[text] = command["value"]
            return {"type": "write_ok"}
        assert command["f"] == "cas", command
        if text not in self.values:
            if not command.get("create", False):
                return error(KEY_DOES_NOT_EXIST, f"key {text} does not exist")
        elif canonical(self.values[text]) != canonical(command["from"]):
            current = canonical(self.values[text])
            return error(PRECONDITION_FAILED,
                         f"expected {canonical(command['from'])}, but had {current}")
        self.values[text] = command["to"]
        return {"type": "cas_ok"}
