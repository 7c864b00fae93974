"""The log machine: `raft.core.RaftCore` replicating `logs.Logs`, and the planted bugs.

Everything Raft (elections, replication, commit, read index, forwarding, giving up relayed
requests, exactly-once sessions, storage) is the core's; this module names the requests, builds
the state machine and plants the log's own bugs next to the hooks they break (see the package
docstring for what each bug does and which run catches it). The Raft bugs of lin-kv (`raft`)
are not offered here: they are the core's, caught by lin-kv's canaries.

    m = Log(Boot("n1", random.Random(1)))
    m.step(Init(("n1", "n2", "n3")), now_s=0.0)    # a follower, election timer set
"""

from __future__ import annotations

from typing import Any

from node.machine import Body, Boot, Message
from node.services.log.logs import POLL_MAX, Logs, request_of
from node.services.raft.core import LEADER, RaftCore, Request
from node.services.raft.core import PARAMS as RAFT_PARAMS

ACK_BEFORE_REPLICATE = "ack-before-replicate"
LOCAL_OFFSETS = "local-offsets"
VOLATILE_COMMITS = "volatile-commits"
BUGS = {
    ACK_BEFORE_REPLICATE: "the leader answers send_ok when it appends the entry, before a "
    "majority (or even its own disk) holds it, and ships entries to the followers lazily "
    "(every 0.5 s): a killed leader takes acknowledged messages with it",
    LOCAL_OFFSETS: "the node a send reaches picks the offset itself, one past the highest it "
    "knows of for that key: two nodes give one offset to two messages, and the later "
    "overwrites the earlier",
    VOLATILE_COMMITS: "committed offsets are kept in the leader's memory, not logged: a new "
    "or restarted leader knows none, and consumers start over",
}

PARAMS: dict[str, Any] = {
    **RAFT_PARAMS,
    "poll_max": POLL_MAX,
    # ack-before-replicate: how long new entries wait before they are sent to the followers
    # (Kafka's replica.fetch.wait.max.ms is 0.5 s).
    "ship_interval_s": 0.5,
}


class Log(RaftCore[Logs]):
    """One node of the replicated log (package docstring)."""

    bugs = BUGS
    params = PARAMS

    def __init__(self, boot: Boot) -> None:
        super().__init__(boot)
        params = {**PARAMS, **boot.params}
        self.state.poll_max = int(params["poll_max"])
        self.ship_interval_s = float(params["ship_interval_s"])
        # local-offsets: the last offset this node gave each key.
        self.assigned: dict[str, int] = {}
        # volatile-commits: the committed offsets, in this leader's memory only.
        self.volatile_committed: dict[str, int] = {}
        # ack-before-replicate: the first entry held back from the followers (0: none).
        self.held_from = 0

    def make_state(self) -> Logs:
        return Logs()

    def parse(self, body: Body) -> Request:
        return request_of(body, with_offset=self.bug == LOCAL_OFFSETS)

    on_poll = on_commit_offsets = on_list_committed_offsets = RaftCore.on_request

    def on_send(self, msg: Message) -> None:
        body = msg["body"]
        if self.bug == LOCAL_OFFSETS and isinstance(body.get("key"), str):
            # The bug: this node's own idea of the key's next offset travels with the send.
            key = body["key"]
            offset = max(self.state.last_offset(key), self.assigned.get(key, 0)) + 1
            self.assigned[key] = offset
            body = {**body, "offset": offset}
        self.serve(msg, body)

    def accept(self, route: Message, command: dict[str, Any]) -> None:
        if self.bug == VOLATILE_COMMITS and command["f"] == "commit":
            for key, offset in command["offsets"].items():  # the bug: memory, not the log
                self.volatile_committed[key] = max(offset,
                                                   self.volatile_committed.get(key, offset))
            self._answer(route, {"type": "commit_offsets_ok"})
            return
        super().accept(route, command)
        if self.bug == ACK_BEFORE_REPLICATE and command["f"] == "send":
            assert self.role == LEADER, self.role
            del self.pending[self.last_index]  # the bug: acknowledged before it commits
            self._answer(route, {"type": "send_ok", "offset": self.last_index})
            if not self.held_from:  # and since nobody waits, the followers can wait too
                self.held_from = self.last_index
                self.set_timer("ship", self.ship_interval_s)

    def shippable_index(self) -> int:
        if self.held_from:
            return min(self.last_index, self.held_from - 1)
        return self.last_index

    def tick_ship(self) -> None:
        """ack-before-replicate: let the followers have what was held back."""
        self.held_from = 0
        if self.role == LEADER:
            self._arm_replicate()

    def answer_query(self, query: Any) -> Body:
        if self.bug == VOLATILE_COMMITS and query["f"] == "list":
            return {"type": "list_committed_offsets_ok",
                    "offsets": {k: self.volatile_committed[k] for k in query["keys"]
                                if k in self.volatile_committed}}
        return super().answer_query(query)
