"""The broadcast machine (`node.services.broadcast.core`) fed literal events, and its pure
`GossipState`: persist-and-sync before `broadcast_ok`, pushes along the topology, debts settled
by `gossip_ok` and resent by the retry tick, anti-entropy's push-pull, the `no-retry` bug."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import pytest

from node.machine import Boot, CancelTimer, Effects, Init, Receive, SetTimer, Tick
from node.services.broadcast.core import Broadcast, GossipState, sort_values

NODES = ("n1", "n2", "n3")
TIMERS: list[SetTimer | CancelTimer] = [SetTimer("retry", 0.2), SetTimer("anti_entropy", 1.0)]


def rx(src: str, body: dict[str, Any]) -> Receive:
    return Receive({"src": src, "dest": "n1", "body": body})


def started(
    *, bug: str | None = None, durable: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
) -> Broadcast:
    machine = Broadcast(
        Boot("n1", random.Random(1), bug=bug, durable=durable or {}, params=params or {})
    )
    machine.step(Init(NODES), now_s=0.0)
    return machine


def test_init_arms_the_periodic_timers_once_and_the_bug_arms_none() -> None:
    machine = Broadcast(Boot("n1", random.Random(1)))
    assert machine.step(Init(NODES), now_s=0.0) == Effects(timers=TIMERS)
    assert machine.state.neighbours == ["n2", "n3"]  # no topology yet: every other node
    assert machine.step(Init(NODES), now_s=0.5) == Effects()
    buggy = Broadcast(Boot("n1", random.Random(1), bug="no-retry"))
    assert buggy.step(Init(NODES), now_s=0.0) == Effects()


def test_broadcast_syncs_then_acknowledges_then_pushes() -> None:
    machine = started()
    fx = machine.step(rx("c1", {"type": "broadcast", "message": 7, "msg_id": 5}), now_s=0.1)
    assert fx == Effects(
        persist={"messages": [7]},
        sync=True,
        messages=[
            ("c1", {"type": "broadcast_ok", "in_reply_to": 5, "msg_id": 1}),
            ("n2", {"type": "gossip", "messages": [7], "msg_id": 2}),
            ("n3", {"type": "gossip", "messages": [7], "msg_id": 3}),
        ],
    )
    again = machine.step(rx("c2", {"type": "broadcast", "message": 7, "msg_id": 1}), now_s=0.2)
    assert again == Effects(
        messages=[("c2", {"type": "broadcast_ok", "in_reply_to": 1, "msg_id": 4})]
    )
    read = machine.step(rx("c1", {"type": "read", "msg_id": 6}), now_s=0.3)
    assert read.messages == [
        ("c1", {"type": "read_ok", "messages": [7], "in_reply_to": 6, "msg_id": 5})
    ]


def test_topology_picks_the_neighbours() -> None:
    machine = started()
    topology = {"n1": ["n2", "n9"], "n2": ["n1", "n3"], "n3": ["n2"]}
    fx = machine.step(rx("c0", {"type": "topology", "topology": topology, "msg_id": 1}), now_s=0)
    assert fx.messages == [("c0", {"type": "topology_ok", "in_reply_to": 1, "msg_id": 1})]
    assert fx.logs == [
        ("warning", "topology_unknown_nodes", {"nodes": ["n9"]}),
        ("info", "topology", {"neighbours": ["n2"]}),
    ]
    fx = machine.step(rx("c1", {"type": "broadcast", "message": 1, "msg_id": 2}), now_s=0)
    assert [dest for dest, _ in fx.messages] == ["c1", "n2"]


def test_a_topology_without_us_gossips_to_every_node() -> None:
    machine = started()
    fx = machine.step(
        rx("c0", {"type": "topology", "topology": {"n2": ["n3"]}, "msg_id": 1}), now_s=0
    )
    assert fx.logs[0] == ("warning", "topology_without_us", {"why": "gossiping to every node"})
    assert machine.state.neighbours == ["n2", "n3"]


def test_gossip_is_acknowledged_kept_unsynced_and_pushed_on_but_not_back() -> None:
    machine = started()
    fx = machine.step(rx("n2", {"type": "gossip", "messages": [3, 1], "msg_id": 9}), now_s=0)
    assert fx == Effects(
        persist={"messages": [1, 3]},
        sync=False,
        messages=[
            ("n2", {"type": "gossip_ok", "messages": [3, 1], "in_reply_to": 9, "msg_id": 1}),
            ("n3", {"type": "gossip", "messages": [1, 3], "msg_id": 2}),
        ],
    )
    known = machine.step(rx("n3", {"type": "gossip", "messages": [1], "msg_id": 4}), now_s=0)
    assert known.persist == {}
    assert [body["type"] for _, body in known.messages] == ["gossip_ok"]


def test_gossip_ok_settles_debts_and_the_retry_tick_resends_the_rest() -> None:
    machine = started()
    machine.step(rx("c1", {"type": "broadcast", "message": 7, "msg_id": 1}), now_s=0)
    machine.step(rx("c1", {"type": "broadcast", "message": 8, "msg_id": 2}), now_s=0)
    settled = machine.step(
        rx("n2", {"type": "gossip_ok", "messages": [7, 8], "in_reply_to": 2}), now_s=0.1
    )
    assert settled == Effects()
    machine.step(rx("n3", {"type": "gossip_ok", "messages": [8], "in_reply_to": 3}), now_s=0.1)
    fx = machine.step(Tick("retry"), now_s=0.2)
    assert fx == Effects(
        messages=[("n3", {"type": "gossip", "messages": [7], "msg_id": 7})],
        timers=[SetTimer("retry", 0.2)],
    )
    machine.step(rx("n3", {"type": "gossip_ok", "messages": [7], "in_reply_to": 7}), now_s=0.3)
    assert machine.step(Tick("retry"), now_s=0.4) == Effects(timers=[SetTimer("retry", 0.2)])


def test_retries_go_in_bounded_batches() -> None:
    machine = started(params={"batch_max": 2, "retry_interval_s": 0.5})
    machine.step(rx("c0", {"type": "topology", "topology": {"n1": ["n2"]}, "msg_id": 1}), now_s=0)
    for value in (5, 4, 3):
        machine.step(rx("c1", {"type": "broadcast", "message": value, "msg_id": 1}), now_s=0)
    fx = machine.step(Tick("retry"), now_s=0.5)
    assert [body["messages"] for _, body in fx.messages] == [[3, 4]]
    assert fx.timers == [SetTimer("retry", 0.5)]


def test_the_no_retry_bug_sends_once() -> None:
    machine = started(bug="no-retry")
    fx = machine.step(rx("c1", {"type": "broadcast", "message": 7, "msg_id": 1}), now_s=0)
    assert [(dest, body["type"]) for dest, body in fx.messages] == [
        ("c1", "broadcast_ok"), ("n2", "gossip"), ("n3", "gossip"),
    ]
    assert fx.sync
    assert machine.state.due() == {}  # nothing owed, so nothing would ever be resent
    assert fx.timers == []


def test_anti_entropy_pushes_everything_to_one_neighbour_and_rearms() -> None:
    machine = started(durable={"messages": [2, 1]})
    fx = machine.step(Tick("anti_entropy"), now_s=1.0)
    [(peer, body)] = fx.messages
    assert peer in ("n2", "n3")
    assert body == {"type": "gossip_sync", "messages": [1, 2], "msg_id": 1}
    assert fx.timers == [SetTimer("anti_entropy", 1.0)]


def test_gossip_sync_answers_what_the_sender_lacks_and_pushes_what_is_new() -> None:
    machine = started(durable={"messages": [1, 2]})
    fx = machine.step(rx("n2", {"type": "gossip_sync", "messages": [2, 3], "msg_id": 4}), now_s=0)
    assert fx == Effects(
        persist={"messages": [1, 2, 3]},
        messages=[
            ("n2", {"type": "gossip_sync_ok", "messages": [1], "in_reply_to": 4, "msg_id": 1}),
            ("n3", {"type": "gossip", "messages": [3], "msg_id": 2}),
        ],
    )
    fx = machine.step(
        rx("n3", {"type": "gossip_sync_ok", "messages": [9], "in_reply_to": 1}), now_s=0
    )
    assert fx == Effects(
        persist={"messages": [1, 2, 3, 9]},
        messages=[("n2", {"type": "gossip", "messages": [9], "msg_id": 3})],
    )


def test_a_restart_reloads_durable_messages_and_owes_them_to_every_neighbour() -> None:
    machine = started(durable={"messages": [1, "a"]})
    read = machine.step(rx("c1", {"type": "read", "msg_id": 1}), now_s=0)
    assert read.messages[0][1]["messages"] == [1, "a"]
    fx = machine.step(Tick("retry"), now_s=0.2)
    assert [(dest, body["messages"]) for dest, body in fx.messages] == [
        ("n2", [1, "a"]), ("n3", [1, "a"]),
    ]


@pytest.mark.parametrize(
    "body",
    [
        {"type": "broadcast", "msg_id": 1},
        {"type": "broadcast", "message": [1], "msg_id": 1},
        {"type": "broadcast", "message": True, "msg_id": 1},
        {"type": "gossip", "messages": [True], "msg_id": 1},
        {"type": "gossip", "messages": 3, "msg_id": 1},
        {"type": "topology", "topology": [], "msg_id": 1},
    ],
)
def test_malformed_requests_are_error_12_and_change_nothing(body: dict[str, Any]) -> None:
    machine = started()
    fx = machine.step(rx("c1", body), now_s=0)
    [(dest, reply)] = fx.messages
    assert (dest, reply["type"], reply["code"], reply["in_reply_to"]) == ("c1", "error", 12, 1)
    assert fx.persist == {}
    assert machine.state.messages == set()


def test_unknown_params_are_refused() -> None:
    with pytest.raises(AssertionError, match="unknown broadcast params"):
        started(params={"retry_s": 1})


# -- GossipState, the pure bookkeeping -------------------------------------------------------


def test_gossip_new_messages_are_owed_by_every_neighbour_but_the_source() -> None:
    state = GossipState()
    state.set_neighbours(["n2", "n3"])
    assert state.add([1, 2]) == {1, 2}
    assert state.owed == {"n2": {1, 2}, "n3": {1, 2}}
    assert state.add([2, 3], src="n2") == {3}
    assert state.owed == {"n2": {1}, "n3": {1, 2, 3}}
    state.acknowledge("n3", [1, 2])
    assert state.due() == {"n2": [1], "n3": [3]}
    state.acknowledge("n2", [1])
    state.acknowledge("n3", [3])
    state.acknowledge("n9", [3])  # not a neighbour: ignored
    assert state.due() == {}
    assert state.push_targets(src="n2") == ["n3"]


def test_gossip_a_new_neighbour_owes_everything_and_batches_are_bounded() -> None:
    state = GossipState()
    state.set_neighbours(["n2"])
    state.add(range(5))
    state.acknowledge("n2", range(5))
    state.set_neighbours(["n2", "n3"])
    assert state.due(batch_max=3) == {"n3": [0, 1, 2]}
    assert state.missing_from([0, 1]) == {2, 3, 4}


def test_gossip_without_retries_owes_nothing() -> None:
    state = GossipState(is_retrying=False)
    state.set_neighbours(["n2", "n3"])
    assert state.add([1]) == {1}
    assert state.due() == {}
    assert state.push_targets(src=None) == ["n2", "n3"]


def test_sort_values_orders_mixed_values() -> None:
    assert sort_values(["b", 2, "a", 1.5]) == [1.5, 2, "a", "b"]
