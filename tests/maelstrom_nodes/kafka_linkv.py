#!/usr/bin/env python3
"""A Maelstrom kafka node that keeps everything in the cluster's lin-kv service.

Written as an outsider writes one (stdlib only, nothing of this project imported), in the style
of the Gossip Glomers solutions: the nodes share no state of their own. For each key K, lin-kv
holds "next/K" (the next offset to hand out), "msg/K/<offset>" (each message) and
"committed/K" (the committed offset). A send takes an offset by compare-and-set on "next/K"
(retrying when another node won the race), then writes its message there, then answers. A poll
reads "next/K" and then the messages from the requested offset on, up to POLL_MAX, stopping at
the first offset whose message is not written yet (it will be there for the next poll). A
commit raises "committed/K" by compare-and-set, never lowers it.

With --local-offsets each node hands out offsets from a counter of its own instead: two nodes
give the same offset to different messages, and the later write erases the earlier message
(lost writes, inconsistent offsets: the checker must catch it).
"""

import json
import sys

LOCAL_OFFSETS = "--local-offsets" in sys.argv
POLL_MAX = 10
node_id = None
next_id = 0
waiting = {}  # msg_id -> callback(body)
local_next = {}  # key -> next offset (the --local-offsets bug)


def send(dest, body):
    sys.stdout.write(json.dumps({"src": node_id, "dest": dest, "body": body}) + "\n")
    sys.stdout.flush()


def rpc(dest, body, callback):
    global next_id
    next_id += 1
    waiting[next_id] = callback
    send(dest, dict(body, msg_id=next_id))


def kv(body, callback):
    rpc("lin-kv", body, callback)


def reply(req, body):
    send(req["src"], dict(body, in_reply_to=req["body"]["msg_id"]))


def fail(req, code, text):
    reply(req, {"type": "error", "code": code, "text": text})


def take_offset(key, then, give_up):
    if LOCAL_OFFSETS:
        offset = local_next.get(key, 0)
        local_next[key] = offset + 1
        return then(offset)

    def on_read(r):
        if r.get("type") == "read_ok":
            current = r["value"]
        elif r.get("code") == 20:
            current = None
        else:
            return give_up()

        def on_cas(c):
            if c.get("type") == "cas_ok":
                then(current or 0)
            elif c.get("code") in (20, 22):
                take_offset(key, then, give_up)  # another send won: try again
            else:
                give_up()

        kv({"type": "cas", "key": f"next/{key}", "from": current, "to": (current or 0) + 1,
            "create_if_not_exists": True}, on_cas)

    kv({"type": "read", "key": f"next/{key}"}, on_read)


def on_send(req):
    key, msg = req["body"]["key"], req["body"]["msg"]

    def written(offset):
        def done(w):
            if w.get("type") == "write_ok":
                reply(req, {"type": "send_ok", "offset": offset})
            else:
                fail(req, 14, "message may or may not be written")

        kv({"type": "write", "key": f"msg/{key}/{offset}", "value": msg}, done)

    take_offset(key, written, lambda: fail(req, 11, "lin-kv unavailable"))


def on_poll(req):
    wanted = dict(req["body"]["offsets"])
    msgs = {}
    pending = list(wanted)
    if not pending:
        return reply(req, {"type": "poll_ok", "msgs": {}})

    def finish_key():
        pending.pop(0)
        if pending:
            poll_key(pending[0])
        else:
            reply(req, {"type": "poll_ok", "msgs": msgs})

    def poll_key(key):
        def on_next(r):
            if r.get("type") == "read_ok":
                end = r["value"]
            elif r.get("code") == 20:
                return finish_key()
            else:
                return fail(req, 11, "lin-kv unavailable")
            offset = max(0, int(wanted[key]))
            read_from(key, offset, min(end, offset + POLL_MAX))

        kv({"type": "read", "key": f"next/{key}"}, on_next)

    def read_from(key, offset, end):
        if offset >= end:
            return finish_key()

        def on_msg(r):
            if r.get("type") == "read_ok":
                msgs.setdefault(key, []).append([offset, r["value"]])
                read_from(key, offset + 1, end)
            elif r.get("code") == 20:
                finish_key()  # not written yet: the next poll gets it
            else:
                fail(req, 11, "lin-kv unavailable")

        kv({"type": "read", "key": f"msg/{key}/{offset}"}, on_msg)

    poll_key(pending[0])


def on_commit(req):
    offsets = list(req["body"]["offsets"].items())

    def commit_next():
        if not offsets:
            return reply(req, {"type": "commit_offsets_ok"})
        key, offset = offsets[0]

        def on_read(r):
            if r.get("type") == "read_ok":
                current = r["value"]
            elif r.get("code") == 20:
                current = None
            else:
                return fail(req, 14, "commit state unknown")
            if current is not None and current >= offset:
                offsets.pop(0)
                return commit_next()

            def on_cas(c):
                if c.get("type") == "cas_ok":
                    offsets.pop(0)
                    commit_next()
                elif c.get("code") in (20, 22):
                    commit_next()  # raced: read again
                else:
                    fail(req, 14, "commit state unknown")

            kv({"type": "cas", "key": f"committed/{key}", "from": current, "to": offset,
                "create_if_not_exists": True}, on_cas)

        kv({"type": "read", "key": f"committed/{key}"}, on_read)

    commit_next()


def on_list(req):
    keys = list(req["body"]["keys"])
    found = {}

    def next_key():
        if not keys:
            return reply(req, {"type": "list_committed_offsets_ok", "offsets": found})
        key = keys.pop(0)

        def on_read(r):
            if r.get("type") == "read_ok":
                found[key] = r["value"]
            elif r.get("code") != 20:
                return fail(req, 11, "lin-kv unavailable")
            next_key()

        kv({"type": "read", "key": f"committed/{key}"}, on_read)

    next_key()


HANDLERS = {"send": on_send, "poll": on_poll, "commit_offsets": on_commit,
            "list_committed_offsets": on_list}


def main():
    global node_id
    for line in sys.stdin:
        msg = json.loads(line)
        body = msg["body"]
        if "in_reply_to" in body:
            callback = waiting.pop(body["in_reply_to"], None)
            if callback:
                callback(body)
        elif body["type"] == "init":
            node_id = body["node_id"]
            reply(msg, {"type": "init_ok"})
        elif body["type"] in HANDLERS:
            HANDLERS[body["type"]](msg)
        else:
            fail(msg, 10, "unsupported")


main()
