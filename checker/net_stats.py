"""Network statistics per operation, as Maelstrom's `net` checker reports them.

    net_stats(history, network, node_ids)   # {"checker": "net", "valid": True, ...}

Maelstrom (jepsen-io/maelstrom, src/maelstrom/net/checker.clj) counts the messages of a test's
network three ways: `all`, `clients` (a message with a client at either end) and `servers`
(both ends servers), each as `send_count` (messages sent), `recv_count` (messages delivered)
and `msg_count` (distinct messages); and divides `msg_count` by the number of client
operations invoked (the history's `invoke`s, the nemesis left out) for `msgs_per_op`, of all
messages and of the servers' ones. `servers_msgs_per_op` is the figure Maelstrom's users
watch: what one operation costs the cluster in messages between its nodes (Fly.io's broadcast
challenge asks for fewer than 30 on 25 nodes).

From our network's per-link counters (`links` in results.json "proxy" or "network": for each
directed link `src->dest`, `received` by the proxy and `delivered` to `dest`): a message sent
is one the proxy received, a message delivered one it handed on (a duplicate counts twice, a
dropped or partitioned one not at all), and a distinct message one it received, as a sender
sends each once. The orchestrator's admin client (`c0`: init, topology, the `chaos_` control
bodies) is the harness talking, not the workload: its links are left out, where Maelstrom's
`init` messages do not go through its network either.

Statistics, not a property: always valid; unknown only when the network kept no per-link
counts (an imported history, a run recorded before they existed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from checker.history import Op
from checker.result import UNKNOWN, result

HEADLINE = ("servers_msgs_per_op", "all_msgs_per_op")
ADMIN_CLIENT = "c0"  # chaos.faults.ADMIN_ID (checker/ imports nothing of chaos/)


def net_stats(
    history: Sequence[Op], network: Mapping[str, Any] | None, node_ids: Iterable[str]
) -> dict[str, Any]:
    """Messages sent, delivered and distinct, for all, clients and servers, per operation."""
    links = (network or {}).get("links")
    if not isinstance(links, Mapping) or not links:
        return result("net", UNKNOWN, headline=("reason",),
                      reason="the network kept no per-link counts")
    nodes = set(node_ids)
    totals = {group: {"send_count": 0, "recv_count": 0, "msg_count": 0}
              for group in ("all", "clients", "servers")}
    for link, counts in links.items():
        src, _, dest = str(link).partition("->")
        if ADMIN_CLIENT in (src, dest) or not isinstance(counts, Mapping):
            continue
        groups = ("all", "servers") if src in nodes and dest in nodes else ("all", "clients")
        for group in groups:
            totals[group]["send_count"] += int(counts.get("received", 0))
            totals[group]["recv_count"] += int(counts.get("delivered", 0))
            totals[group]["msg_count"] += int(counts.get("received", 0))
    ops = sum(1 for op in history if op.type == "invoke" and op.process != "nemesis")
    per_op = {group: round(t["msg_count"] / ops, 3) if ops else None
              for group, t in totals.items()}
    return result(
        "net",
        True,
        headline=HEADLINE,
        servers_msgs_per_op=per_op["servers"],
        all_msgs_per_op=per_op["all"],
        op_count=ops,
        **{group: {**t, **({"msgs_per_op": per_op[group]} if group != "clients" else {})}
           for group, t in totals.items()},
    )
