#!/usr/bin/env python3
"""A Maelstrom broadcast node in the style of a Fly.io "Gossip Glomers" solution (challenge 3e).

Plain python3, nothing but the standard library: a stand-in for a third-party program run with
`chaos run partition-heal --workload broadcast --node-cmd "python3 .../broadcast.py"`.

Nodes re-send a new message to their neighbours as an ordinary `broadcast` RPC and retry every
RETRY_S until each neighbour answers `broadcast_ok`, which is how most solutions survive
partitions. A reader thread feeds a queue; the main loop handles messages and retries.
"""

import json
import queue
import sys
import threading
import time

RETRY_S = 0.3


class Node:
    def __init__(self):
        self.node_id = None
        self.node_ids = []
        self.neighbours = []
        self.messages = set()
        self.msg_id = 0
        self.unacked = {}  # msg_id -> (dest, body, last_sent)
        self.lock = threading.Lock()

    def send(self, dest, body):
        with self.lock:
            self.msg_id += 1
            body = dict(body, msg_id=self.msg_id)
            out = {"src": self.node_id, "dest": dest, "body": body}
            print(json.dumps(out), flush=True)
            return self.msg_id

    def reply(self, req, body):
        self.send(req["src"], dict(body, in_reply_to=req["body"].get("msg_id")))

    def gossip(self, value, exclude):
        for n in self.neighbours:
            if n != exclude:
                body = {"type": "broadcast", "message": value}
                mid = self.send(n, body)
                self.unacked[mid] = (n, body, time.monotonic())

    def handle(self, req):
        body = req["body"]
        t = body["type"]
        if t == "init":
            self.node_id = body["node_id"]
            self.node_ids = body["node_ids"]
            self.neighbours = [n for n in self.node_ids if n != self.node_id]
            self.reply(req, {"type": "init_ok"})
        elif t == "topology":
            self.neighbours = body["topology"].get(self.node_id, self.neighbours)
            self.reply(req, {"type": "topology_ok"})
        elif t == "broadcast":
            value = body["message"]
            if value not in self.messages:
                self.messages.add(value)
                self.gossip(value, exclude=req["src"])
            self.reply(req, {"type": "broadcast_ok"})
        elif t == "broadcast_ok":
            self.unacked.pop(body.get("in_reply_to"), None)
        elif t == "read":
            self.reply(req, {"type": "read_ok", "messages": sorted(self.messages)})

    def retry(self):
        now = time.monotonic()
        for mid, (dest, body, sent) in list(self.unacked.items()):
            if now - sent > RETRY_S:
                del self.unacked[mid]
                new_mid = self.send(dest, body)
                self.unacked[new_mid] = (dest, body, now)


def read_stdin(q):
    for line in sys.stdin:
        q.put(json.loads(line))
    q.put(None)


def main():
    node = Node()
    q = queue.Queue()
    threading.Thread(target=read_stdin, args=(q,), daemon=True).start()
    while True:
        try:
            req = q.get(timeout=RETRY_S / 3)
        except queue.Empty:
            req = ""
        if req is None:
            return
        if req:
            node.handle(req)
        node.retry()


if __name__ == "__main__":
    main()
