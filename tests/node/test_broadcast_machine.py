"""The broadcast machine (`node.services.broadcast.core`) fed literal events, and its pure
parts: persist-and-sync before `broadcast_ok`, pushes along the topology batched per tick,
sent once and never back to where they came from, anti-entropy by digest (silent when the sets
agree) then summary, the `no-retry` bug; the delta slots and their compaction, and restarts
from what a crash leaves durable (property tests against a disk that loses unsynced writes,
wholly or piecemeal); `MessageSet` compared with a plain set, and the range arithmetic on
literal cases."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.machine import Boot, CancelTimer, Effects, Init, Receive, SetTimer, Tick
from node.services.broadcast.core import (
    ANTI_ENTROPY_INTERVAL_S,
    INSORT_MAX,
    PUSH_INTERVAL_S,
    Broadcast,
    GossipState,
    IntRanges,
    MessageSet,
    Range,
    difference,
    expand,
    ranges_of,
    sort_values,
    union,
)

NODES = ("n1", "n2", "n3")
FIRST_ROUND_S = random.Random(1).uniform(0.0, ANTI_ENTROPY_INTERVAL_S)  # the machine's first draw
TIMERS: list[SetTimer | CancelTimer] = [
    SetTimer("push", PUSH_INTERVAL_S), SetTimer("anti_entropy", FIRST_ROUND_S)]


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
    assert buggy.step(Init(NODES), now_s=0.0) == Effects(timers=TIMERS[:1])  # no anti-entropy


def test_broadcast_syncs_then_acknowledges_and_the_next_tick_pushes() -> None:
    machine = started()
    fx = machine.step(rx("c1", {"type": "broadcast", "message": 7, "msg_id": 5}), now_s=0.01)
    assert fx == Effects(
        persist={"messages/0": [7]},  # only the new value, in the first delta slot
        sync=True,
        messages=[("c1", {"type": "broadcast_ok", "in_reply_to": 5, "msg_id": 1})],
    )
    again = machine.step(rx("c2", {"type": "broadcast", "message": 7, "msg_id": 1}), now_s=0.02)
    assert again == Effects(
        messages=[("c2", {"type": "broadcast_ok", "in_reply_to": 1, "msg_id": 2})]
    )
    fx = machine.step(Tick("push"), now_s=0.1)
    assert fx == Effects(
        messages=[("n2", {"type": "gossip", "messages": [7], "msg_id": 3}),
                  ("n3", {"type": "gossip", "messages": [7], "msg_id": 4})],
        timers=[SetTimer("push", PUSH_INTERVAL_S)],
    )
    read = machine.step(rx("c1", {"type": "read", "msg_id": 6}), now_s=0.3)
    assert read.messages == [
        ("c1", {"type": "read_ok", "messages": [7], "in_reply_to": 6, "msg_id": 5})
    ]


def test_a_broadcast_of_a_value_learnt_unsynced_is_synced_before_broadcast_ok() -> None:
    # Found by the restart property below; earlier versions acknowledged without a sync.
    machine = started()
    fx = machine.step(rx("n2", {"type": "gossip", "messages": [4], "msg_id": 1}), now_s=0)
    assert (fx.persist, fx.sync) == ({"messages/0": [4]}, False)
    fx = machine.step(rx("c1", {"type": "broadcast", "message": 4, "msg_id": 2}), now_s=0)
    assert (fx.persist, fx.sync) == ({"messages/1": [4]}, True)  # written again, synced
    assert fx.messages == [("c1", {"type": "broadcast_ok", "in_reply_to": 2, "msg_id": 1})]
    again = machine.step(rx("c1", {"type": "broadcast", "message": 4, "msg_id": 3}), now_s=0)
    assert (again.persist, again.sync) == ({}, False)  # durable already


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
    assert [dest for dest, _ in fx.messages] == ["c1"]
    fx = machine.step(Tick("push"), now_s=0.1)
    assert [dest for dest, _ in fx.messages] == ["n2"]


def test_a_topology_without_us_gossips_to_every_node() -> None:
    machine = started()
    fx = machine.step(
        rx("c0", {"type": "topology", "topology": {"n2": ["n3"]}, "msg_id": 1}), now_s=0
    )
    assert fx.logs[0] == ("warning", "topology_without_us", {"why": "gossiping to every node"})
    assert machine.state.neighbours == ["n2", "n3"]


def test_gossip_is_kept_unsynced_unanswered_and_pushed_on_but_not_back() -> None:
    machine = started()
    fx = machine.step(rx("n2", {"type": "gossip", "messages": [3, 1], "msg_id": 9}), now_s=0)
    assert fx == Effects(persist={"messages/0": [1, 3]}, sync=False)  # no acknowledgement
    known = machine.step(rx("n3", {"type": "gossip", "messages": [1], "msg_id": 4}), now_s=0)
    assert known == Effects()
    fx = machine.step(Tick("push"), now_s=0.1)
    assert fx.messages == [("n3", {"type": "gossip", "messages": [1, 3], "msg_id": 1})]


def test_pushes_are_batched_per_tick_sent_once_and_forgotten() -> None:
    machine = started()
    machine.step(rx("c1", {"type": "broadcast", "message": 8, "msg_id": 1}), now_s=0)
    machine.step(rx("n2", {"type": "gossip", "messages": [9, 7], "msg_id": 1}), now_s=0)
    fx = machine.step(Tick("push"), now_s=0.1)
    assert fx == Effects(
        messages=[("n2", {"type": "gossip", "messages": [8], "msg_id": 2}),
                  ("n3", {"type": "gossip", "messages": [7, 8, 9], "msg_id": 3})],
        timers=[SetTimer("push", PUSH_INTERVAL_S)],
    )
    assert machine.step(Tick("push"), now_s=0.2) == Effects(
        timers=[SetTimer("push", PUSH_INTERVAL_S)])  # nothing is ever resent: anti-entropy is


def test_pushes_go_in_bounded_batches() -> None:
    machine = started(params={"batch_max": 2, "push_interval_s": 0.5})
    machine.step(rx("c0", {"type": "topology", "topology": {"n1": ["n2"]}, "msg_id": 1}), now_s=0)
    for value in (5, 4, 3):
        machine.step(rx("c1", {"type": "broadcast", "message": value, "msg_id": 1}), now_s=0)
    fx = machine.step(Tick("push"), now_s=0.5)
    assert [(dest, body["messages"]) for dest, body in fx.messages] == [
        ("n2", [3, 4]), ("n2", [5])]
    assert fx.timers == [SetTimer("push", 0.5)]


def test_the_no_retry_bug_pushes_once_and_never_repairs() -> None:
    machine = started(bug="no-retry")
    fx = machine.step(rx("c1", {"type": "broadcast", "message": 7, "msg_id": 1}), now_s=0)
    assert [(dest, body["type"]) for dest, body in fx.messages] == [("c1", "broadcast_ok")]
    assert fx.sync
    fx = machine.step(Tick("push"), now_s=0.1)
    assert [(dest, body["type"]) for dest, body in fx.messages] == [
        ("n2", "gossip"), ("n3", "gossip")]
    assert fx.timers == [SetTimer("push", PUSH_INTERVAL_S)]  # and no anti_entropy, ever


def test_anti_entropy_sends_one_node_a_digest_and_a_differing_one_answers_a_summary() -> None:
    held = [2, 1, 3, 4, 7, 9, 10, "a", 2.5]
    machine = started(durable={"messages": held})
    fx = machine.step(Tick("anti_entropy"), now_s=1.0)
    [(peer, body)] = fx.messages
    assert peer in ("n2", "n3")
    assert body == {"type": "gossip_digest", "digest": machine.digest(), "msg_id": 1}
    assert fx.timers == [SetTimer("anti_entropy", ANTI_ENTROPY_INTERVAL_S)]
    same = started(durable={"messages": list(reversed(held))})
    assert same.digest() == machine.digest()
    assert same.step(rx("n2", body), now_s=1) == Effects()  # the sets agree: silence
    other = started(durable={"messages": [1]})
    fx = other.step(rx("n2", body), now_s=1)
    assert fx.messages == [("n2", {"type": "gossip_sync", "ranges": [], "messages": [1],
                                   "msg_id": 1})]
    summary = machine.step(rx("n3", {**body, "digest": "0"}), now_s=1)
    assert summary.messages[0][1] == {  # runs of integers as ranges, every other value listed
        "type": "gossip_sync", "ranges": [[1, 4], [9, 10]], "messages": [2.5, 7, "a"],
        "msg_id": 2,
    }


def test_gossip_sync_answers_what_the_sender_lacks_and_pushes_what_is_new() -> None:
    # The format of earlier versions: no ranges, `messages` is the sender's whole set.
    machine = started(durable={"messages": [1, 2]})
    fx = machine.step(rx("n2", {"type": "gossip_sync", "messages": [2, 3], "msg_id": 4}), now_s=0)
    assert fx == Effects(
        persist={"messages/0": [3]},
        messages=[
            ("n2", {"type": "gossip_sync_ok", "messages": [1], "in_reply_to": 4, "msg_id": 1}),
        ],
    )
    fx = machine.step(
        rx("n3", {"type": "gossip_sync_ok", "messages": [9], "in_reply_to": 1}), now_s=0
    )
    assert fx == Effects(persist={"messages/1": [9]})
    fx = machine.step(Tick("push"), now_s=0.1)
    assert [(dest, body["messages"]) for dest, body in fx.messages] == [("n2", [9]), ("n3", [3])]


def test_gossip_sync_with_ranges_teaches_their_integers_and_answers_only_what_is_missing() -> None:
    machine = started(durable={"messages": [1, 2, 3, 4, 10, "x"]})
    fx = machine.step(rx("n2", {
        "type": "gossip_sync", "ranges": [[5, 6], [2, 4]], "messages": [8, "x"], "msg_id": 4,
    }), now_s=0)
    assert fx == Effects(
        persist={"messages/0": [5, 6, 8]},
        messages=[
            ("n2", {"type": "gossip_sync_ok", "messages": [1, 10], "in_reply_to": 4,
                    "msg_id": 1}),
        ],
    )
    assert machine.state.outbox == {"n3": [5, 6, 8]}  # n2 has them: not pushed back
    in_sync = machine.step(rx("n3", {
        "type": "gossip_sync", "ranges": [[1, 6]], "messages": [8, 10, "x"], "msg_id": 5,
    }), now_s=0)
    assert in_sync == Effects()  # nothing lacking: no answer


def test_new_messages_fill_delta_slots_then_compact_into_a_synced_snapshot() -> None:
    machine = started(params={"log_slots": 2})
    fx = machine.step(rx("c1", {"type": "broadcast", "message": 1, "msg_id": 1}), now_s=0)
    assert (fx.persist, fx.sync) == ({"messages/0": [1]}, True)
    fx = machine.step(rx("n2", {"type": "gossip", "messages": [3, 2], "msg_id": 1}), now_s=0)
    assert (fx.persist, fx.sync) == ({"messages/1": [2, 3]}, False)
    fx = machine.step(rx("n2", {"type": "gossip", "messages": [5], "msg_id": 2}), now_s=0)
    assert fx.persist == {  # the slots are used up: the whole set, compactly, and slots emptied
        "messages": {"ranges": [[1, 3]], "messages": [5]},
        "messages/0": [],
        "messages/1": [],
    }
    assert fx.sync  # learnt from gossip, but the emptied slots held a promised message
    fx = machine.step(rx("n2", {"type": "gossip", "messages": [4], "msg_id": 3}), now_s=0)
    assert (fx.persist, fx.sync) == ({"messages/0": [4]}, False)
    known = machine.step(rx("n3", {"type": "gossip", "messages": [4, 5], "msg_id": 4}), now_s=0)
    assert known.persist == {}


def test_a_restart_rebuilds_the_set_from_the_snapshot_and_every_slot() -> None:
    durable = {  # slot 1 was lost to the crash (unsynced), slot 2 was synced
        "messages": {"ranges": [[1, 3]], "messages": ["a"]},
        "messages/0": [7], "messages/1": [], "messages/2": [4, 9],
    }
    machine = started(durable=durable, params={"log_slots": 4})
    read = machine.step(rx("c1", {"type": "read", "msg_id": 1}), now_s=0)
    assert read.messages[0][1]["messages"] == [1, 2, 3, 4, 7, 9, "a"]
    fx = machine.step(rx("c1", {"type": "broadcast", "message": 11, "msg_id": 2}), now_s=0)
    assert fx.persist == {"messages/3": [11]}  # after the highest slot taken, never over it
    fx = machine.step(rx("c1", {"type": "broadcast", "message": 12, "msg_id": 3}), now_s=0)
    assert fx.persist == {
        "messages": {"ranges": [[1, 4], [11, 12]], "messages": [7, 9, "a"]},
        "messages/0": [], "messages/2": [], "messages/3": [],
    }


def test_a_restart_reloads_durable_messages_and_leaves_their_spreading_to_anti_entropy() -> None:
    machine = started(durable={"messages": [1, "a"]})
    read = machine.step(rx("c1", {"type": "read", "msg_id": 1}), now_s=0)
    assert read.messages[0][1]["messages"] == [1, "a"]
    assert machine.step(Tick("push"), now_s=0.1).messages == []
    [(_, opening)] = machine.step(Tick("anti_entropy"), now_s=0.5).messages
    assert opening["type"] == "gossip_digest"


@pytest.mark.parametrize(
    "body",
    [
        {"type": "broadcast", "msg_id": 1},
        {"type": "broadcast", "message": [1], "msg_id": 1},
        {"type": "broadcast", "message": True, "msg_id": 1},
        {"type": "gossip", "messages": [True], "msg_id": 1},
        {"type": "gossip", "messages": 3, "msg_id": 1},
        {"type": "topology", "topology": [], "msg_id": 1},
        {"type": "gossip_sync", "messages": [], "ranges": 3, "msg_id": 1},
        {"type": "gossip_sync", "messages": [], "ranges": [[3, 1]], "msg_id": 1},
        {"type": "gossip_sync", "messages": [], "ranges": [[1]], "msg_id": 1},
        {"type": "gossip_sync", "messages": [], "ranges": [[True, 2]], "msg_id": 1},
        {"type": "gossip_sync", "messages": [], "ranges": [[1.0, 2]], "msg_id": 1},
    ],
)
def test_malformed_requests_are_error_12_and_change_nothing(body: dict[str, Any]) -> None:
    machine = started()
    fx = machine.step(rx("c1", body), now_s=0)
    [(dest, reply)] = fx.messages
    assert (dest, reply["type"], reply["code"], reply["in_reply_to"]) == ("c1", "error", 12, 1)
    assert fx.persist == {}
    assert len(machine.state.messages) == 0


def test_unknown_params_are_refused() -> None:
    with pytest.raises(AssertionError, match="unknown broadcast params"):
        started(params={"retry_s": 1})


# -- GossipState, the pure bookkeeping -------------------------------------------------------


def test_gossip_new_messages_are_queued_for_every_neighbour_but_the_source() -> None:
    state = GossipState()
    assert state.add([1]) == [1]  # no topology yet: nobody to push to
    state.set_neighbours(["n3", "n2"])
    assert state.neighbours == ["n2", "n3"]
    assert state.add([2, 1]) == [2]
    assert state.add([2, 3], src="n2") == [3]
    assert state.add([3]) == []  # known: queued for nobody again
    assert state.outbox == {"n2": [2], "n3": [2, 3]}
    assert state.take_due() == [("n2", [2]), ("n3", [2, 3])]
    assert state.take_due() == []


def test_gossip_batches_are_bounded_and_a_dropped_neighbour_is_not_pushed_to() -> None:
    state = GossipState()
    state.set_neighbours(["n2", "n3"])
    state.add([4, 0, 3, 1, 2])
    state.set_neighbours(["n3", "n4"])
    assert state.take_due(batch_max=3) == [("n3", [0, 1, 2]), ("n3", [3, 4])]


def test_sort_values_orders_mixed_values() -> None:
    assert sort_values(["b", 2, "a", 1.5]) == [1.5, 2, "a", "b"]


# -- MessageSet and the range arithmetic -----------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "a_minus_b", "a_or_b"),
    [
        ([], [(1, 2)], [], [(1, 2)]),
        ([(1, 10)], [], [(1, 10)], [(1, 10)]),
        ([(1, 10)], [(3, 4), (6, 12)], [(1, 2), (5, 5)], [(1, 12)]),
        ([(1, 2), (5, 9), (20, 20)], [(0, 5), (7, 7)], [(6, 6), (8, 9), (20, 20)],
         [(0, 9), (20, 20)]),
        ([(1, 2)], [(3, 4)], [(1, 2)], [(1, 4)]),  # adjacent ranges join
        ([(5, 6)], [(1, 2), (8, 9)], [(5, 6)], [(1, 2), (5, 6), (8, 9)]),
    ],
)
def test_range_difference_and_union(
    a: list[Range], b: list[Range], a_minus_b: list[Range], a_or_b: list[Range]
) -> None:
    assert difference(a, b) == a_minus_b
    assert union(a, b) == a_or_b


def test_int_ranges_grow_one_value_at_a_time_and_by_the_batch() -> None:
    ints = IntRanges()
    for v in (5, 7, 3, 6, 1, 2, 7):
        ints.add(v)
    assert ints.ranges() == [(1, 3), (5, 7)]
    ints.update([*range(20, 20 + INSORT_MAX + 1), 4])  # a batch: merged in one sweep
    assert ints.ranges() == [(1, 7), (20, 20 + INSORT_MAX)]
    assert ranges_of([9, 1, 2, 2, 4]) == [(1, 2), (4, 4), (9, 9)]


def test_message_set_summary_and_what_either_side_lacks() -> None:
    mine = MessageSet()
    assert mine.add([3, "b", 1, 2, 2.5, 8, "a", 3]) == [1, 2, 2.5, 3, 8, "a", "b"]
    assert mine.sorted() == [1, 2, 2.5, 3, 8, "a", "b"]
    summary = mine.summary()
    assert summary == {"ranges": [[1, 3]], "messages": [2.5, 8, "a", "b"]}
    assert sort_values(expand(summary)) == mine.sorted()
    assert mine.missing_from([(2, 9)], ["a", 2.5]) == [1, "b"]
    assert mine.lacking([(0, 10)], limit=100) == [0, 4, 5, 6, 7, 9, 10]
    assert mine.lacking([(0, 10**12)], limit=3) == [0, 4, 5]  # a bound on one step's work
    assert 3.0 in mine  # the set's equality: 3 and 3.0 are one message
    assert mine.add([3.0]) == []


values = st.one_of(
    st.integers(0, 60), st.integers(0, 60), st.integers(-5, 10**6),
    st.sampled_from([0.5, 2.0, 7.25, "a", "b", "zz"]),
)
batches = st.lists(st.lists(values, max_size=2 * INSORT_MAX + 4), max_size=8)


@settings(max_examples=150, deadline=None)
@given(mine=batches, theirs=batches)
def test_message_set_agrees_with_a_plain_set(
    mine: list[list[Any]], theirs: list[list[Any]]
) -> None:
    model: set[Any] = set()
    kept = MessageSet()
    for batch in mine:
        fresh = {v for v in batch if v not in model}
        assert kept.add(batch) == sort_values(fresh)
        model |= fresh
        assert kept.sorted() == sort_values(model)
        assert sorted(map(str, expand(kept.summary()))) == sorted(map(str, model))
    other = MessageSet()
    for batch in theirs:
        other.add(batch)
    their_ranges = [(lo, hi) for lo, hi in other.summary()["ranges"]]
    their_listed = other.summary()["messages"]
    missing = kept.missing_from(their_ranges, their_listed)
    assert set(missing) >= model - set(other.sorted())  # nothing they lack is left out
    assert set(missing) <= model
    learnt = set(kept.lacking(their_ranges, limit=10**7)) | set(their_listed)
    assert learnt | model == model | set(other.sorted())


# -- restarts: what a crash leaves durable -----------------------------------------------------


class Disk:
    """A store as a crash leaves it: synced writes stay; unsynced ones are lost, all of them
    (as node.storage and the simulator's disk do) or, stricter, any of them."""

    def __init__(self) -> None:
        self.synced: dict[str, Any] = {}
        self.unsynced: dict[str, Any] = {}

    def apply(self, fx: Effects) -> None:
        for key, value in fx.persist.items():
            self.unsynced[key] = json.loads(json.dumps(value))
        if fx.sync:
            self.synced.update(self.unsynced)
            self.unsynced.clear()

    def crash(self, keep: list[bool]) -> dict[str, Any]:
        survivors = [k for k, kept in zip(sorted(self.unsynced), keep, strict=False) if kept]
        self.synced.update({k: self.unsynced[k] for k in survivors})
        self.unsynced.clear()
        return json.loads(json.dumps(self.synced))


ops = st.lists(
    st.one_of(
        st.tuples(st.just("broadcast"), st.integers(0, 40)),
        st.tuples(st.just("gossip"), st.lists(st.integers(0, 40), max_size=6)),
        st.tuples(st.just("crash"), st.lists(st.booleans(), max_size=8)),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(ops=ops, log_slots=st.integers(1, 4))
def test_a_restart_keeps_every_acknowledged_message_whatever_unsynced_writes_are_lost(
    ops: list[tuple[str, Any]], log_slots: int
) -> None:
    params = {"log_slots": log_slots}
    disk = Disk()
    machine = started(params=params)
    acknowledged: set[int] = set()
    known: set[int] = set()
    for op, arg in ops:
        if op == "crash":
            machine = started(durable=disk.crash(arg), params=params)
            reborn = set(machine.state.messages)
            assert acknowledged <= reborn
            assert reborn <= known
            assert len(disk.synced) <= log_slots + 1  # the document stays small
            continue
        if op == "broadcast":
            fx = machine.step(rx("c1", {"type": "broadcast", "message": arg, "msg_id": 1}), now_s=0)
            acknowledged.add(arg)
        else:
            fx = machine.step(rx("n2", {"type": "gossip", "messages": arg, "msg_id": 1}), now_s=0)
        known |= {arg} if op == "broadcast" else set(arg)
        disk.apply(fx)
        visible = {**disk.synced, **disk.unsynced}
        assert set(Broadcast(Boot("n1", random.Random(1), durable=visible)).state.messages) == (
            set(machine.state.messages))  # storage holds everything the node knows


@settings(max_examples=100, deadline=None)
@given(mine=batches, theirs=batches)
def test_one_anti_entropy_round_leaves_both_sides_with_the_union(
    mine: list[list[Any]], theirs: list[list[Any]]
) -> None:
    a, b = started(), Broadcast(Boot("n2", random.Random(2)))
    b.step(Init(NODES), now_s=0)
    for batch in mine:
        a.step(rx("c1", {"type": "gossip", "messages": batch, "msg_id": 1}), now_s=0)
    for batch in theirs:
        b.step(Receive({"src": "c1", "dest": "n2",
                        "body": {"type": "gossip", "messages": batch, "msg_id": 1}}), now_s=0)
    union_of_both = sort_values(set(a.state.messages) | set(b.state.messages))
    a.rng = random.Random(0)
    while True:  # until n1's random pick is n2
        [(peer, opening)] = a.step(Tick("anti_entropy"), now_s=1).messages
        if peer == "n2":
            break
    wire = json.loads(json.dumps(opening))
    answer = b.step(Receive({"src": "n1", "dest": "n2", "body": wire}), now_s=1).messages
    if not answer:  # the digests agreed
        assert a.state.messages.sorted() == b.state.messages.sorted()
        return
    [(dest, summary)] = answer
    assert (dest, summary["type"]) == ("n1", "gossip_sync")
    rest = a.step(rx("n2", json.loads(json.dumps(summary))), now_s=1).messages
    for _, body in rest:
        assert body["type"] == "gossip_sync_ok"
        b.step(Receive({"src": "n1", "dest": "n2", "body": json.loads(json.dumps(body))}),
               now_s=1)
    assert a.state.messages.sorted() == b.state.messages.sorted() == union_of_both
