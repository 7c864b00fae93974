#!/usr/bin/env python3
"""A Maelstrom g-counter node that keeps the total in seq-kv, as Gossip Glomers solutions do.

Plain python3, nothing but the standard library: a stand-in for a third-party program, run as

    chaos run partition-heal --workload g-counter
        --node-cmd "python3 tests/maelstrom_nodes/gcounter_seqkv.py"

The nodes never talk to each other: the whole counter is one key, "counter", in the cluster's
seq-kv service. seq-kv is only sequentially consistent: a read may return an old value. So:

- add{delta}: read the counter, then cas it from what was read to that plus delta (creating
  it if absent); when the cas fails (the read was stale, or someone added meanwhile), read
  again and retry. Only then add_ok.
- read{}: first write a fresh value to a key of this node's own, which moves this node's view
  of seq-kv to its newest state, then read the counter (a plain read could be stale).

With --race, add reads and then *writes* read + delta: two adds that read the same value lose
one of them (a lost update), and a stale read loses many. That is the bug the counter checker
must catch.
"""

import json
import sys

COUNTER_KEY = "counter"


class Node:
    def __init__(self, race):
        self.race = race
        self.node_id = None
        self.next_msg_id = 0
        self.callbacks = {}  # msg_id -> function(reply body)
        self.syncs = 0

    def log(self, text):
        sys.stderr.write(text + "\n")
        sys.stderr.flush()

    def send(self, dest, body):
        self.next_msg_id += 1
        body = dict(body, msg_id=self.next_msg_id)
        sys.stdout.write(json.dumps({"src": self.node_id, "dest": dest, "body": body}) + "\n")
        sys.stdout.flush()
        return self.next_msg_id

    def reply(self, request, body):
        body = dict(body, in_reply_to=request["body"]["msg_id"])
        self.send(request["src"], body)

    def rpc(self, dest, body, callback):
        self.callbacks[self.send(dest, body)] = callback

    # -- the counter ---------------------------------------------------------------------------

    def add(self, request):
        delta = request["body"]["delta"]

        def after_read(reply):
            if reply["type"] == "read_ok":
                current = reply["value"]
            elif reply.get("code") == 20:
                current = 0
            else:
                self.log(f"read failed: {reply}; retrying")
                return attempt()
            if self.race:
                self.rpc("seq-kv", {"type": "write", "key": COUNTER_KEY,
                                    "value": current + delta}, after_update)
            else:
                self.rpc("seq-kv", {"type": "cas", "key": COUNTER_KEY, "from": current,
                                    "to": current + delta, "create_if_not_exists": True},
                         after_update)

        def after_update(reply):
            if reply["type"] in ("cas_ok", "write_ok"):
                return self.reply(request, {"type": "add_ok"})
            attempt()  # 22: someone got there first, or our read was stale

        def attempt():
            self.rpc("seq-kv", {"type": "read", "key": COUNTER_KEY}, after_read)

        attempt()

    def read(self, request):
        def after_sync(reply):
            self.rpc("seq-kv", {"type": "read", "key": COUNTER_KEY}, after_read)

        def after_read(reply):
            value = reply["value"] if reply["type"] == "read_ok" else 0
            self.reply(request, {"type": "read_ok", "value": value})

        self.syncs += 1
        self.rpc("seq-kv", {"type": "write", "key": f"sync-{self.node_id}",
                            "value": self.syncs}, after_sync)

    # -- the loop ------------------------------------------------------------------------------

    def handle(self, msg):
        body = msg["body"]
        callback = self.callbacks.pop(body.get("in_reply_to"), None)
        if callback is not None:
            return callback(body)
        kind = body["type"]
        if kind == "init":
            self.node_id = body["node_id"]
            self.log(f"{self.node_id} up (race={self.race})")
            return self.reply(msg, {"type": "init_ok"})
        if kind == "add":
            return self.add(msg)
        if kind == "read":
            return self.read(msg)
        if "in_reply_to" not in body:
            self.reply(msg, {"type": "error", "code": 10, "text": f"unknown type {kind}"})

    def run(self):
        for line in sys.stdin:
            if line.strip():
                self.handle(json.loads(line))


if __name__ == "__main__":
    Node(race="--race" in sys.argv[1:]).run()
