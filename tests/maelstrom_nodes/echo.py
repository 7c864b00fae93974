#!/usr/bin/env python3
"""A Maelstrom echo node, written the way Maelstrom's own Python demo writes one.

Plain python3, nothing but the standard library: a stand-in for a third-party program run with
`chaos run echo --node-cmd "python3 tests/maelstrom_nodes/echo.py"`.

Quirks, on purpose, to prove the harness tolerates what real programs do:
- every message it writes carries an extra top-level "id" key (Maelstrom's own envelopes do);
- with --debug-stdout it prints a plain-text banner on stdout before its first message.
"""

import json
import sys


class EchoServer:
    def __init__(self):
        self.node_id = None
        self.next_msg_id = 0
        self.envelope_id = 0

    def log(self, text):
        sys.stderr.write(text + "\n")
        sys.stderr.flush()

    def send(self, dest, body):
        self.next_msg_id += 1
        self.envelope_id += 1
        msg = {
            "id": self.envelope_id,
            "src": self.node_id,
            "dest": dest,
            "body": dict(body, msg_id=self.next_msg_id),
        }
        sys.stdout.write(json.dumps(msg) + "\n")
        sys.stdout.flush()

    def reply(self, request, body):
        body = dict(body, in_reply_to=request["body"]["msg_id"])
        self.send(request["src"], body)

    def handle(self, msg):
        body = msg["body"]
        if body["type"] == "init":
            self.node_id = body["node_id"]
            self.log(f"Node {self.node_id} initialized")
            self.reply(msg, {"type": "init_ok"})
        elif body["type"] == "echo":
            self.log(f"Echoing {body}")
            self.reply(msg, {"type": "echo_ok", "echo": body["echo"]})
        else:
            self.reply(
                msg, {"type": "error", "code": 10, "text": "unsupported: {}".format(body["type"])}
            )

    def main(self):
        if "--debug-stdout" in sys.argv:
            print("echo server starting up", flush=True)
        for line in sys.stdin:
            self.handle(json.loads(line))


if __name__ == "__main__":
    EchoServer().main()
