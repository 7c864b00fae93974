#!/usr/bin/env python3
"""A Maelstrom lin-kv node that is linearizable the simple way: one node holds all the data.

Plain python3, nothing but the standard library: a stand-in for a third-party program run with
`chaos run lin-kv --node-cmd "python3 tests/maelstrom_nodes/lin_kv_leader.py"`.

The first node in node_ids (n1) is the leader and keeps the only copy of the map. Every other
node forwards each client request to the leader unchanged, keeping the client's "src" (as
Maelstrom's Python Raft demo does), so the leader answers the client directly. When the leader
is cut off, forwarded requests are lost and the client times out: that is unavailability, never
a wrong answer, so every history it produces is linearizable.
"""

import json
import sys


class LeaderKV:
    def __init__(self):
        self.node_id = None
        self.node_ids = []
        self.next_msg_id = 0
        self.data = {}

    def log(self, text):
        sys.stderr.write(text + "\n")
        sys.stderr.flush()

    def emit(self, msg):
        sys.stdout.write(json.dumps(msg) + "\n")
        sys.stdout.flush()

    def reply(self, request, body):
        self.next_msg_id += 1
        body = dict(body, msg_id=self.next_msg_id, in_reply_to=request["body"]["msg_id"])
        self.emit({"src": self.node_id, "dest": request["src"], "body": body})

    def error(self, request, code, text):
        self.reply(request, {"type": "error", "code": code, "text": text})

    def leader(self):
        return self.node_ids[0] if self.node_ids else self.node_id

    def apply(self, msg):
        body = msg["body"]
        key = body["key"]
        kind = body["type"]
        if kind == "read":
            if key not in self.data:
                return self.error(msg, 20, "key does not exist")
            return self.reply(msg, {"type": "read_ok", "value": self.data[key]})
        if kind == "write":
            self.data[key] = body["value"]
            return self.reply(msg, {"type": "write_ok"})
        # cas
        if key not in self.data:
            if body.get("create_if_not_exists"):
                self.data[key] = body["to"]
                return self.reply(msg, {"type": "cas_ok"})
            return self.error(msg, 20, "key does not exist")
        if self.data[key] != body["from"]:
            return self.error(
                msg, 22, "expected {}, but had {}".format(body["from"], self.data[key])
            )
        self.data[key] = body["to"]
        return self.reply(msg, {"type": "cas_ok"})

    def handle(self, msg):
        body = msg["body"]
        kind = body["type"]
        if kind == "init":
            self.node_id = body["node_id"]
            self.node_ids = body["node_ids"]
            self.log(f"Node {self.node_id} initialized; leader is {self.leader()}")
            self.reply(msg, {"type": "init_ok"})
        elif kind in ("read", "write", "cas"):
            if self.node_id == self.leader():
                self.apply(msg)
            else:
                # Forward as is: same src, same msg_id, so the leader's reply goes to the client.
                self.emit({"src": msg["src"], "dest": self.leader(), "body": body})
        else:
            self.error(msg, 10, f"unsupported: {kind}")

    def main(self):
        for line in sys.stdin:
            line = line.strip()
            if line:
                self.handle(json.loads(line))


if __name__ == "__main__":
    LeaderKV().main()
