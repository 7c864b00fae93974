#!/usr/bin/env python3
"""A Maelstrom txn node that keeps its whole database in the cluster's lin-kv service.

Written as an outsider writes one (stdlib only, nothing of this project imported), in the style
of Maelstrom's "Datomic" tutorial: the database is one JSON map under the lin-kv key "root";
a transaction reads it, applies its micro-operations to a copy, and swaps it in with a
compare-and-set from the value it read (creating the key the first time). A cas that loses a
race (error 22) is retried from a fresh read, so transactions are serializable through lin-kv.
Handles both txn workloads: ["r", k, null], ["append", k, v] and ["w", k, v].

With --no-cas it writes the new map back with a plain write instead: concurrent transactions
then overwrite each other's appends (a lost update the checker must catch).
"""

import json
import sys
import threading

NO_CAS = "--no-cas" in sys.argv
lock = threading.Lock()
node_id = None
next_id = 0
waiting = {}  # msg_id -> callback(body)


def send(dest, body):
    with lock:
        sys.stdout.write(json.dumps({"src": node_id, "dest": dest, "body": body}) + "\n")
        sys.stdout.flush()


def rpc(dest, body, callback):
    global next_id
    with lock:
        next_id += 1
        body = dict(body, msg_id=next_id)
        waiting[next_id] = callback
    send(dest, body)


def apply(db, txn):
    db = {k: (list(v) if isinstance(v, list) else v) for k, v in db.items()}
    out = []
    for f, k, v in txn:
        key = str(k)
        if f == "r":
            out.append([f, k, db.get(key)])
        elif f == "append":
            db.setdefault(key, [])
            db[key] = db[key] + [v]
            out.append([f, k, v])
        else:  # "w"
            db[key] = v
            out.append([f, k, v])
    return db, out


def run_txn(req):
    body = req["body"]

    def attempt():
        rpc("lin-kv", {"type": "read", "key": "root"}, on_read)

    def on_read(reply):
        if reply.get("type") == "read_ok":
            old = reply["value"]
        elif reply.get("code") == 20:
            old = None
        else:
            return send(req["src"], {"type": "error", "code": 11, "in_reply_to": body["msg_id"],
                                     "text": "lin-kv unavailable"})
        new, result = apply(json.loads(old) if old else {}, body["txn"])

        def on_swap(swap):
            if swap.get("type") in ("cas_ok", "write_ok"):
                send(req["src"], {"type": "txn_ok", "txn": result,
                                  "in_reply_to": body["msg_id"]})
            elif swap.get("code") in (20, 22):
                attempt()  # someone else swapped first: start again from what is there now
            else:
                send(req["src"], {"type": "error", "code": 14, "in_reply_to": body["msg_id"],
                                  "text": "commit state unknown"})

        encoded = json.dumps(new, sort_keys=True)
        if NO_CAS:
            rpc("lin-kv", {"type": "write", "key": "root", "value": encoded}, on_swap)
        else:
            rpc("lin-kv", {"type": "cas", "key": "root", "from": old, "to": encoded,
                           "create_if_not_exists": True}, on_swap)

    attempt()


def main():
    global node_id
    for line in sys.stdin:
        msg = json.loads(line)
        body = msg["body"]
        if "in_reply_to" in body:
            with lock:
                callback = waiting.pop(body["in_reply_to"], None)
            if callback:
                callback(body)
        elif body["type"] == "init":
            node_id = body["node_id"]
            send(msg["src"], {"type": "init_ok", "in_reply_to": body["msg_id"]})
        elif body["type"] == "txn":
            run_txn(msg)
        else:
            send(msg["src"], {"type": "error", "code": 10, "in_reply_to": body["msg_id"],
                              "text": "unsupported"})


main()
