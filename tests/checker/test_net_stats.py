"""Maelstrom's network statistics from our per-link counters."""

from __future__ import annotations

from checker.history import Op
from checker.net_stats import net_stats

NODES = ["n1", "n2", "n3"]


def history(invocations: int) -> list[Op]:
    ops = [Op("invoke", "nemesis", "partition", None, time=0, index=0)]
    for i in range(invocations):
        ops += [Op("invoke", i, "broadcast", i, time=10 * i + 1, index=2 * i + 1),
                Op("ok", i, "broadcast", i, time=10 * i + 5, index=2 * i + 2)]
    return ops


def link(received: int, delivered: int) -> dict[str, int]:
    return {"received": received, "delivered": delivered, "lost": received - delivered}


def test_messages_are_counted_per_group_and_per_operation() -> None:
    network = {"links": {
        "c1->n1": link(4, 4), "n1->c1": link(4, 4),  # four operations' requests and replies
        "n1->n2": link(6, 5),  # one dropped
        "n2->n3": link(2, 3),  # one duplicated
        "c0->n1": link(9, 9), "n1->c0": link(9, 9),  # the harness's admin client: not counted
    }}
    r = net_stats(history(4), network, NODES)
    assert r["valid"] is True
    assert r["servers"] == {"send_count": 8, "recv_count": 8, "msg_count": 8, "msgs_per_op": 2.0}
    assert r["clients"] == {"send_count": 8, "recv_count": 8, "msg_count": 8}
    assert r["all"] == {"send_count": 16, "recv_count": 16, "msg_count": 16, "msgs_per_op": 4.0}
    assert (r["servers_msgs_per_op"], r["all_msgs_per_op"], r["op_count"]) == (2.0, 4.0, 4)


def test_a_network_without_per_link_counts_is_unknown() -> None:
    for network in (None, {}, {"links": {}}, {"delivered": 3}):
        r = net_stats(history(2), network, NODES)
        assert r["valid"] == "unknown" and "per-link" in r["reason"]


def test_no_operation_leaves_the_ratio_out() -> None:
    r = net_stats(history(0), {"links": {"n1->n2": link(3, 3)}}, NODES)
    assert r["servers_msgs_per_op"] is None and r["servers"]["msg_count"] == 3
