#!/usr/bin/env python3
"""A Maelstrom echo node that is slow to start and strict about init, like a JVM program.

Plain python3, nothing but the standard library: a stand-in for a third-party program run with
`chaos run echo --node-cmd "python3 tests/maelstrom_nodes/slow_start.py"`.

It sleeps before it reads its first line (a JVM warming up takes seconds; --delay S, default
2), and it answers a second `init` with error 10, as Maelstrom programs do: Maelstrom sends
`init` once. Every init it receives is logged on stderr as "init #N ...", so a test can count
them in the node's log.
"""

import json
import sys
import time


class SlowEchoServer:
    def __init__(self):
        self.node_id = None
        self.next_msg_id = 0
        self.inits = 0

    def log(self, text):
        sys.stderr.write(text + "\n")
        sys.stderr.flush()

    def send(self, dest, body):
        self.next_msg_id += 1
        msg = {"src": self.node_id, "dest": dest, "body": dict(body, msg_id=self.next_msg_id)}
        sys.stdout.write(json.dumps(msg) + "\n")
        sys.stdout.flush()

    def reply(self, request, body):
        self.send(request["src"], dict(body, in_reply_to=request["body"]["msg_id"]))

    def handle(self, msg):
        body = msg["body"]
        if body["type"] == "init":
            self.inits += 1
            self.log(f"init #{self.inits} from {msg['src']} (msg_id {body['msg_id']})")
            if self.inits > 1:
                self.reply(msg, {"type": "error", "code": 10, "text": "already initialized"})
                return
            self.node_id = body["node_id"]
            self.reply(msg, {"type": "init_ok"})
        elif body["type"] == "echo":
            self.reply(msg, {"type": "echo_ok", "echo": body["echo"]})
        else:
            self.reply(
                msg, {"type": "error", "code": 10, "text": "unsupported: {}".format(body["type"])}
            )

    def main(self):
        delay = float(sys.argv[sys.argv.index("--delay") + 1]) if "--delay" in sys.argv else 2.0
        self.log(f"starting up; reading stdin in {delay} s")
        time.sleep(delay)
        for line in sys.stdin:
            self.handle(json.loads(line))


if __name__ == "__main__":
    SlowEchoServer().main()
