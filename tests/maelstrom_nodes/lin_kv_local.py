#!/usr/bin/env python3
"""A Maelstrom lin-kv node that is NOT linearizable: each node keeps its own map.

Plain python3, nothing but the standard library: a stand-in for a third-party program (the
first thing people write for lin-kv, before they add replication), run with
`chaos run lin-kv --node-cmd "python3 tests/maelstrom_nodes/lin_kv_local.py"`.

Every node answers from its local dict and never talks to the others, so a write acknowledged
by n1 is invisible to a read on n2: stale reads (or "key does not exist") that a
linearizability checker must reject.
"""

import json
import sys


class LocalKV:
    def __init__(self):
        self.node_id = None
        self.next_msg_id = 0
        self.data = {}

    def send(self, dest, body):
        self.next_msg_id += 1
        body = dict(body, msg_id=self.next_msg_id)
        sys.stdout.write(json.dumps({"src": self.node_id, "dest": dest, "body": body}) + "\n")
        sys.stdout.flush()

    def reply(self, request, body):
        self.send(request["src"], dict(body, in_reply_to=request["body"]["msg_id"]))

    def handle(self, msg):
        body = msg["body"]
        kind = body["type"]
        if kind == "init":
            self.node_id = body["node_id"]
            sys.stderr.write(f"Node {self.node_id} initialized\n")
            sys.stderr.flush()
            self.reply(msg, {"type": "init_ok"})
        elif kind == "read":
            if body["key"] in self.data:
                self.reply(msg, {"type": "read_ok", "value": self.data[body["key"]]})
            else:
                self.reply(msg, {"type": "error", "code": 20, "text": "key does not exist"})
        elif kind == "write":
            self.data[body["key"]] = body["value"]
            self.reply(msg, {"type": "write_ok"})
        elif kind == "cas":
            key = body["key"]
            if key not in self.data:
                self.reply(msg, {"type": "error", "code": 20, "text": "key does not exist"})
            elif self.data[key] != body["from"]:
                self.reply(msg, {"type": "error", "code": 22, "text": "precondition failed"})
            else:
                self.data[key] = body["to"]
                self.reply(msg, {"type": "cas_ok"})
        else:
            self.reply(msg, {"type": "error", "code": 10, "text": "unsupported"})

    def main(self):
        for line in sys.stdin:
            if line.strip():
                self.handle(json.loads(line))


if __name__ == "__main__":
    LocalKV().main()
