"""The state machine the log service replicates: a log per key, and the committed offsets.

Pure and deterministic (`node.services.raft.core.StateMachine`): every node applies the same
committed commands in the same order and holds the same logs. A command is what a Raft entry
carries:

    {"f": "send", "key": k, "msg": m, "client": [src, msg_id]}        -> send_ok{offset}
    {"f": "commit", "offsets": {k: o, ...}, "client": [src, msg_id]}  -> commit_offsets_ok

A message's offset is the index of the Raft entry that carries it, so offsets are unique (in
every key), increase with the order in which sends commit, and leave gaps: offset 7 of key "a"
may be followed by offset 12 (Maelstrom's kafka allows sparse offsets). Nothing about an
offset has to be agreed beyond the entry itself, and a leader knows it when it appends the
entry, before it commits (which is exactly what the `ack-before-replicate` bug exploits). A
command may name its `offset` itself (the `local-offsets` bug's nodes do): the message is then
put at that offset, replacing whatever was there.

A committed offset only moves forward: committing 3 after 5 leaves 5 (two consumers of one
key, one behind the other, must not drag it back; Jepsen's kafka checker calls a committed
offset that goes backwards an anomaly).

Queries, served by read index (never from the log's uncommitted tail):

    {"f": "poll", "offsets": {k: o, ...}}  -> poll_ok{msgs: {k: [[offset, msg], ...]}}
    {"f": "list", "keys": [k, ...]}        -> list_committed_offsets_ok{offsets: {k: o}}

A poll returns, for each key asked, the messages at or after its offset in offset order, at
most `poll_max` of them (a consumer asks again from the last offset it saw plus one); a key
with none there is left out, as Maelstrom allows. A listed key that was never committed is
left out too.

Exactly once: a command carrying `client` ([src, msg_id]) whose msg_id is not above the last
one applied from that client is a duplicate delivery of a request (a duplicated message, or a
forward that arrived twice): skipped, on every node alike (`kv.KvStore` does the same).

Keys are strings (JSON object keys, as Maelstrom's kafka says); messages any JSON value.

    logs = Logs()
    logs.apply({"f": "send", "key": "a", "msg": 9}, index=4)     # {"type": "send_ok", "offset": 4}
    logs.query({"f": "poll", "offsets": {"a": 0}})               # {..., "msgs": {"a": [[4, 9]]}}
"""

from __future__ import annotations

import bisect
from typing import Any

from node.machine import Body, Malformed
from node.services.raft.core import Request
from node.services.raft.kv import Command

POLL_MAX = 1000  # messages of one key in one poll_ok: a catching-up consumer asks again


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _offsets_of(body: Body, name: str) -> dict[str, int]:
    offsets = body.get(name)
    if not isinstance(offsets, dict):
        raise Malformed(f"{name} must be an object of key -> offset")
    for key, offset in offsets.items():
        if not _is_int(offset):
            raise Malformed(f"{name}: the offset of key {key!r} must be an integer")
    return dict(offsets)


def request_of(body: Body, *, with_offset: bool = False) -> Request:
    """A client request body as a command to log or a query; raises `Malformed` naming the
    field that is missing or of the wrong kind. A send's `offset` field is taken only
    `with_offset` (the local-offsets bug's nodes add one); a client's is ignored."""
    f = body.get("type")
    if f == "send":
        if not isinstance(body.get("key"), str):
            raise Malformed("send: key must be a string")
        if "msg" not in body:
            raise Malformed("send: missing field 'msg'")
        command: dict[str, Any] = {"f": "send", "key": body["key"], "msg": body["msg"]}
        if with_offset and "offset" in body:
            if not _is_int(body["offset"]):
                raise Malformed("send: offset must be an integer")
            command["offset"] = body["offset"]
        return Request(command=command)
    if f == "commit_offsets":
        return Request(command={"f": "commit", "offsets": _offsets_of(body, "offsets")})
    if f == "poll":
        return Request(query={"f": "poll", "offsets": _offsets_of(body, "offsets")})
    if f == "list_committed_offsets":
        keys = body.get("keys")
        if not (isinstance(keys, list) and all(isinstance(k, str) for k in keys)):
            raise Malformed("list_committed_offsets: keys must be a list of strings")
        return Request(query={"f": "list", "keys": keys})
    raise Malformed(f"the log service has no request {f!r}")


class Logs:
    """Per key, its messages in offset order; the committed offsets; the client sessions."""

    def __init__(self, *, poll_max: int = POLL_MAX) -> None:
        assert poll_max > 0, poll_max
        self.poll_max = poll_max
        self.offsets: dict[str, list[int]] = {}  # key -> its offsets, ascending
        self.msgs: dict[str, list[Any]] = {}  # key -> the message at each of those offsets
        self.committed: dict[str, int] = {}
        self.sessions: dict[str, int] = {}  # client -> the highest msg_id applied

    def last_offset(self, key: str) -> int:
        """The highest offset `key` holds, or 0 for an empty log."""
        offsets = self.offsets.get(key)
        return offsets[-1] if offsets else 0

    def apply(self, command: Command, *, index: int) -> Body | None:
        """Apply the committed command of entry `index`; its reply body (None for a no-op
        or a duplicate)."""
        if command is None:
            return None
        if command.get("client") is not None:
            src, msg_id = command["client"]
            if msg_id <= self.sessions.get(src, 0):
                return None
            self.sessions[src] = msg_id
        if command["f"] == "commit":
            for key, offset in command["offsets"].items():
                self.committed[key] = max(offset, self.committed.get(key, offset))
            return {"type": "commit_offsets_ok"}
        assert command["f"] == "send", command
        key, offset = command["key"], command.get("offset", index)
        offsets = self.offsets.setdefault(key, [])
        msgs = self.msgs.setdefault(key, [])
        at = bisect.bisect_left(offsets, offset)
        if at < len(offsets) and offsets[at] == offset:
            msgs[at] = command["msg"]  # only a command naming its offset can land here
        else:
            offsets.insert(at, offset)
            msgs.insert(at, command["msg"])
        return {"type": "send_ok", "offset": offset}

    def query(self, query: dict[str, Any]) -> Body:
        if query["f"] == "poll":
            found: dict[str, list[list[Any]]] = {}
            for key, start in query["offsets"].items():
                offsets = self.offsets.get(key, [])
                at = bisect.bisect_left(offsets, start)
                end = min(len(offsets), at + self.poll_max)
                if at < end:
                    msgs = self.msgs[key]
                    found[key] = [[offsets[i], msgs[i]] for i in range(at, end)]
            return {"type": "poll_ok", "msgs": found}
        assert query["f"] == "list", query
        return {"type": "list_committed_offsets_ok",
                "offsets": {k: self.committed[k] for k in query["keys"] if k in self.committed}}
