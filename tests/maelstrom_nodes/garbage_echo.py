#!/usr/bin/env python3
"""A Maelstrom echo node that garbles some of its replies: a node with a protocol bug.

Plain python3, nothing but the standard library, written the way an outsider writes a node:
a stand-in for a buggy third-party program run with
`chaos run echo --node-cmd "python3 tests/maelstrom_nodes/garbage_echo.py"`.

It answers `init` properly, then counts the echo requests it gets: the 5th, 10th, 15th, ...
are answered with a line that is not JSON at all, the 7th, 14th, 21st, ... (when not also a
5th) with a JSON list instead of a message object; every other one with a proper `echo_ok`.
The harness must count those lines and call the run invalid, naming this node.
"""

import json
import sys


class GarbageEcho:
    def __init__(self):
        self.node_id = None
        self.next_msg_id = 0
        self.echoes = 0

    def log(self, text):
        sys.stderr.write(text + "\n")
        sys.stderr.flush()

    def write_line(self, line):
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    def reply(self, request, body):
        self.next_msg_id += 1
        body = dict(body, msg_id=self.next_msg_id, in_reply_to=request["body"]["msg_id"])
        self.write_line(json.dumps({"src": self.node_id, "dest": request["src"], "body": body}))

    def handle(self, msg):
        body = msg["body"]
        if body["type"] == "init":
            self.node_id = body["node_id"]
            self.log(f"Node {self.node_id} initialized")
            self.reply(msg, {"type": "init_ok"})
        elif body["type"] == "echo":
            self.echoes += 1
            if self.echoes % 5 == 0:
                self.log(f"echo #{self.echoes}: answering with a line that is not JSON")
                self.write_line(f"echo_ok {body['echo']} (oops, not JSON)")
            elif self.echoes % 7 == 0:
                self.log(f"echo #{self.echoes}: answering with a JSON list")
                self.write_line(json.dumps(["echo_ok", body["echo"]]))
            else:
                self.reply(msg, {"type": "echo_ok", "echo": body["echo"]})
        else:
            self.reply(msg, {"type": "error", "code": 10, "text": f"unsupported: {body['type']}"})

    def main(self):
        for line in sys.stdin:
            self.handle(json.loads(line))


if __name__ == "__main__":
    GarbageEcho().main()
