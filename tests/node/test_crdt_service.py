"""The CRDT replica (`node.services.crdt`) fed literal events, and its pure parts.

The machine: updates written and fsynced before `<type>_ok`; batched pushes, one `crdt_delta`
per neighbour per tick and never back to where a delta came from; what gossip teaches synced
only when a reply reports it; anti-entropy by digest, silent when the digests agree, a whole
state and the part the peer lacks when they do not; requests the type cannot apply (error 12)
or does not take (error 10); each planted bug doing what its docstring says. Its parts:
`lattice.missing` against the lattice laws (Hypothesis, over states replicas really reach),
the digest, the overlay, and the journal's slots, compaction and restarts, including a
property test that a node killed at any point, losing any of its unsynced writes, keeps every
update it acknowledged and never stamps below, or reads less than, what it has shown.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.crdt import CRDTS, GCounter, GSet, LWWRegister, ORSet, PNCounter
from node.machine import Boot, Effects, Init, Receive, SetTimer, Tick
from node.services import SERVICES
from node.services.crdt import SERVICES as CRDT_SERVICES
from node.services.crdt.core import (
    ANTI_ENTROPY_INTERVAL_S,
    LOCAL_CLOCK_LWW,
    MERGE_BY_SUM,
    PUSH_INTERVAL_S,
    REMOVE_UNOBSERVED,
    Replica,
    overlay,
)
from node.services.crdt.journal import Journal
from node.services.crdt.lattice import digest, is_empty, missing
from tests.node.test_crdt_laws import states

NODES = ("n1", "n2", "n3")
KINDS = sorted(CRDTS)


def machine_of(workload: str) -> type[Replica]:
    machine = SERVICES[workload].machine
    assert isinstance(machine, type) and issubclass(machine, Replica)
    return machine


def rx(src: str, body: dict[str, Any], dest: str = "n1") -> Receive:
    return Receive({"src": src, "dest": dest, "body": json.loads(json.dumps(body))})


def started(workload: str = "g-counter", *, node: str = "n1", nodes: tuple[str, ...] = NODES,
            bug: str | None = None, durable: Mapping[str, Any] | None = None,
            params: Mapping[str, Any] | None = None) -> Replica:
    machine = machine_of(workload)(Boot(node, random.Random(1), bug=bug, durable=durable or {},
                                        params=params or {}))
    machine.step(Init(nodes), now_s=0.0)
    return machine


def sent(fx: Effects, kind: str) -> list[tuple[str, dict[str, Any]]]:
    return [(dest, body) for dest, body in fx.messages if body["type"] == kind]


# -- the declarations ----------------------------------------------------------------------------


def test_one_machine_serves_every_crdt_workload_under_its_name() -> None:
    assert sorted(spec.name for spec in CRDT_SERVICES) == KINDS
    for spec in CRDT_SERVICES:
        assert SERVICES[spec.name] is spec
        machine = machine_of(spec.name)
        assert machine.KIND is CRDTS[spec.name]
        assert spec.name == machine.WORKLOAD
        assert set(spec.canaries) == set(spec.bugs)
        for bug, canary in spec.canaries.items():
            assert canary.workload == spec.name, bug
    assert {b for spec in CRDT_SERVICES for b in spec.bugs} == {
        MERGE_BY_SUM, REMOVE_UNOBSERVED, LOCAL_CLOCK_LWW}


def test_each_workload_names_its_service() -> None:
    from scenarios.workloads import get_spec

    for kind in KINDS:
        assert get_spec(kind).service == kind


# -- the machine ---------------------------------------------------------------------------------


def test_init_arms_the_timers_once_the_first_round_staggered() -> None:
    machine = machine_of("g-counter")(Boot("n1", random.Random(1)))
    fx = machine.step(Init(NODES), now_s=0.0)
    first_round = random.Random(1).uniform(0.0, ANTI_ENTROPY_INTERVAL_S)
    assert fx == Effects(timers=[SetTimer("push", PUSH_INTERVAL_S),
                                 SetTimer("anti_entropy", first_round)])
    assert machine.neighbours == ["n2", "n3"]
    assert machine.step(Init(NODES), now_s=1.0) == Effects()


def test_an_update_is_written_and_synced_before_its_ok_then_pushed_in_a_batch() -> None:
    machine = started()
    fx = machine.step(rx("c1", {"type": "add", "delta": 3, "msg_id": 7}), now_s=0.01)
    assert fx == Effects(persist={"crdt/0": {"delta": {"n1": 3}}}, sync=True,
                         messages=[("c1", {"type": "add_ok", "in_reply_to": 7, "msg_id": 1})])
    fx = machine.step(rx("c2", {"type": "add", "delta": 2, "msg_id": 1}), now_s=0.02)
    assert (fx.persist, fx.sync) == ({"crdt/1": {"delta": {"n1": 5}}}, True)
    fx = machine.step(Tick("push"), now_s=PUSH_INTERVAL_S)
    assert fx == Effects(
        messages=[("n2", {"type": "crdt_delta", "delta": {"n1": 5}, "msg_id": 3}),
                  ("n3", {"type": "crdt_delta", "delta": {"n1": 5}, "msg_id": 4})],
        timers=[SetTimer("push", PUSH_INTERVAL_S)])
    assert machine.step(Tick("push"), now_s=0.2).messages == []  # sent once, never again
    read = machine.step(rx("c1", {"type": "read", "msg_id": 9}), now_s=0.3)
    assert read == Effects(messages=[("c1", {"type": "read_ok", "value": 5, "in_reply_to": 9,
                                             "msg_id": 5})])


@pytest.mark.parametrize(("workload", "body", "reply"), [
    ("g-set", {"type": "add", "element": 4}, {"type": "add_ok"}),
    ("pn-counter", {"type": "add", "delta": -2}, {"type": "add_ok"}),
    ("or-set", {"type": "remove", "element": 4}, {"type": "remove_ok"}),
    ("lww-register", {"type": "write", "value": "x"}, {"type": "write_ok", "ts": [1500, 0]}),
])
def test_every_workload_gets_its_reply(workload: str, body: dict[str, Any],
                                       reply: dict[str, Any]) -> None:
    machine = started(workload)
    fx = machine.step(rx("c1", {**body, "msg_id": 3}), now_s=1.5)
    assert fx.messages == [("c1", {**reply, "in_reply_to": 3, "msg_id": 1})]


@pytest.mark.parametrize(("workload", "value"), [
    ("g-set", []), ("g-counter", 0), ("pn-counter", 0), ("or-set", []),
])
def test_a_fresh_replica_reads_its_empty_value(workload: str, value: Any) -> None:
    fx = started(workload).step(rx("c1", {"type": "read", "msg_id": 1}), now_s=0)
    assert fx == Effects(messages=[("c1", {"type": "read_ok", "value": value,
                                           "in_reply_to": 1, "msg_id": 1})])


def test_a_fresh_register_reads_null_and_a_write_reads_back_with_its_stamp() -> None:
    machine = started("lww-register")
    fx = machine.step(rx("c1", {"type": "read", "msg_id": 1}), now_s=0)
    assert fx.messages[0][1] == {"type": "read_ok", "value": None, "ts": None,
                                 "in_reply_to": 1, "msg_id": 1}
    machine.step(rx("c1", {"type": "write", "value": 8, "msg_id": 2}), now_s=2.0)
    fx = machine.step(rx("c1", {"type": "write", "value": 9, "msg_id": 3}), now_s=2.0)
    assert fx.messages[0][1]["ts"] == [2000, 1]  # the same millisecond: one counter step up
    fx = machine.step(rx("c1", {"type": "read", "msg_id": 4}), now_s=0.5)  # a clock gone back
    assert fx.messages[0][1] == {"type": "read_ok", "value": 9, "ts": [2000, 1],
                                 "in_reply_to": 4, "msg_id": 4}


@pytest.mark.parametrize(("workload", "body", "code"), [
    ("g-counter", {"type": "add", "delta": -1}, 12),
    ("g-counter", {"type": "add"}, 12),
    ("g-set", {"type": "add", "element": 1.5}, 12),
    ("or-set", {"type": "remove", "element": True}, 12),
    ("lww-register", {"type": "write"}, 12),
    ("g-set", {"type": "remove", "element": 1}, 10),
    ("g-counter", {"type": "write", "value": 1}, 10),
    ("or-set", {"type": "cas", "element": 1}, 10),
])
def test_requests_the_type_cannot_apply_or_does_not_take_change_nothing(
        workload: str, body: dict[str, Any], code: int) -> None:
    machine = started(workload)
    before = machine.state
    fx = machine.step(rx("c1", {**body, "msg_id": 4}), now_s=0)
    [(dest, reply)] = fx.messages
    assert (dest, reply["type"], reply["code"], reply["in_reply_to"]) == ("c1", "error", code, 4)
    assert (fx.persist, fx.sync) == ({}, False)
    assert machine.state == before


def test_gossip_is_merged_unsynced_passed_on_but_not_back_and_a_duplicate_does_nothing() -> None:
    machine = started()
    push = {"type": "crdt_delta", "delta": {"n2": 4}, "msg_id": 1}
    assert machine.step(rx("n2", push), now_s=0.01) == Effects()  # no reply, nothing written
    assert machine.state == GCounter({"n2": 4})
    assert machine.unwritten == GCounter({"n2": 4})
    assert machine.step(rx("n3", {**push, "delta": {"n2": 3}}), now_s=0.02) == Effects()
    fx = machine.step(Tick("push"), now_s=0.1)
    assert sent(fx, "crdt_delta") == [("n3", {"type": "crdt_delta", "delta": {"n2": 4},
                                              "msg_id": 1})]
    # A read reports what gossip taught: it is written and synced first.
    fx = machine.step(rx("c1", {"type": "read", "msg_id": 2}), now_s=0.2)
    assert (fx.persist, fx.sync) == ({"crdt/0": {"delta": {"n2": 4}}}, True)
    assert fx.messages[0][1]["value"] == 4
    again = machine.step(rx("c1", {"type": "read", "msg_id": 3}), now_s=0.3)
    assert (again.persist, again.sync) == ({}, False)  # durable already


def test_an_anti_entropy_round_writes_what_gossip_taught_without_a_sync() -> None:
    machine = started("g-set")
    machine.step(rx("n2", {"type": "crdt_delta", "delta": [5], "msg_id": 1}), now_s=0)
    fx = machine.step(Tick("anti_entropy"), now_s=0.5)
    assert (fx.persist, fx.sync) == ({"crdt/0": {"delta": [5]}}, False)
    [(peer, body)] = fx.messages
    assert peer in ("n2", "n3")
    assert body == {"type": "crdt_sync", "digest": digest(GSet([5])), "msg_id": 1}
    assert fx.timers == [SetTimer("anti_entropy", ANTI_ENTROPY_INTERVAL_S)]
    # The write is unsynced: the next reply that shows it syncs, with nothing new to write.
    fx = machine.step(rx("c1", {"type": "add", "element": 5, "msg_id": 2}), now_s=0.6)
    assert (fx.persist, fx.sync) == ({}, True)
    assert fx.messages == [("c1", {"type": "add_ok", "in_reply_to": 2, "msg_id": 2})]


def test_anti_entropy_is_silent_when_digests_agree_and_repairs_both_sides_when_not() -> None:
    a, b = started("g-set"), started("g-set", node="n2")
    a.step(rx("c1", {"type": "add", "element": 1, "msg_id": 1}), now_s=0)
    b.step(rx("c1", {"type": "add", "element": 2, "msg_id": 1}, dest="n2"), now_s=0)
    sync = {"type": "crdt_sync", "digest": digest(a.state), "msg_id": 9}
    fx = b.step(rx("n1", sync, dest="n2"), now_s=0.5)
    [(dest, answer)] = fx.messages
    assert (dest, answer) == ("n1", {"type": "crdt_sync_ok", "state": [2], "in_reply_to": 9,
                                     "msg_id": 2})
    fx = a.step(rx("n2", answer), now_s=0.5)
    assert a.state == GSet([1, 2])
    [(dest, back)] = fx.messages
    assert (dest, back) == ("n2", {"type": "crdt_delta", "delta": [1], "msg_id": 2})
    b.step(rx("n1", back, dest="n2"), now_s=0.5)
    assert b.state == a.state
    silent = b.step(rx("n1", {**sync, "digest": digest(a.state)}, dest="n2"), now_s=1)
    assert silent == Effects()


def test_a_state_that_is_not_the_type_is_error_12_to_its_sender() -> None:
    machine = started("or-set")
    fx = machine.step(rx("n2", {"type": "crdt_delta", "delta": [1], "msg_id": 3}), now_s=0)
    assert [(d, b["type"], b["code"]) for d, b in fx.messages] == [("n2", "error", 12)]
    assert is_empty(machine.state)


def test_deltas_learnt_from_two_sources_go_to_every_other_neighbour_once() -> None:
    nodes = tuple(f"n{i}" for i in range(1, 8))  # 7 nodes: a circulant overlay
    machine = started("g-set", nodes=nodes)
    assert machine.neighbours == overlay(list(nodes), "n1") == ["n2", "n4", "n5", "n7"]
    machine.step(rx("n2", {"type": "crdt_delta", "delta": [1], "msg_id": 1}), now_s=0)
    machine.step(rx("n4", {"type": "crdt_delta", "delta": [1, 2], "msg_id": 1}), now_s=0)
    fx = machine.step(Tick("push"), now_s=0.1)
    assert [(d, b["delta"]) for d, b in sent(fx, "crdt_delta")] == [
        ("n2", [2]), ("n4", [1]), ("n5", [1, 2]), ("n7", [1, 2])]


def test_overlay_is_everyone_in_small_clusters_and_a_symmetric_torus_in_large_ones() -> None:
    five = [f"n{i}" for i in range(1, 6)]
    assert overlay(five, "n3") == ["n1", "n2", "n4", "n5"]
    nodes = [f"n{i}" for i in range(1, 26)]
    graph = {n: overlay(nodes, n) for n in nodes}
    assert graph["n1"] == ["n2", "n6", "n21", "n25"]
    assert all(len(near) == 4 for near in graph.values())
    assert all(a in graph[b] for a in nodes for b in graph[a])
    reached, frontier, hops = {"n1"}, {"n1"}, 0
    while len(reached) < len(nodes):
        frontier = {m for n in frontier for m in graph[n]} - reached
        reached |= frontier
        hops += 1
    assert hops == 4  # the diameter from n1


def test_unknown_params_are_refused() -> None:
    with pytest.raises(AssertionError, match="unknown crdt params"):
        machine_of("g-set")(Boot("n1", random.Random(1), params={"retry_s": 1}))


# -- storage and restarts ------------------------------------------------------------------------


def test_deltas_fill_slots_then_compact_into_a_synced_snapshot_and_a_restart_joins_them() -> None:
    machine = started("g-set", params={"log_slots": 2})
    writes = []
    for e in (1, 2, 3):
        fx = machine.step(rx("c1", {"type": "add", "element": e, "msg_id": e}), now_s=0)
        writes.append((fx.persist, fx.sync))
    assert writes == [
        ({"crdt/0": {"delta": [1]}}, True),
        ({"crdt/1": {"delta": [2]}}, True),
        ({"crdt": {"type": "g-set", "state": [1, 2, 3]}, "crdt/0": None, "crdt/1": None}, True),
    ]
    durable = {"crdt": {"type": "g-set", "state": [1, 2]}, "crdt/0": None,
               "crdt/3": {"delta": [7]}}
    reborn = started("g-set", durable=durable, params={"log_slots": 8})
    assert reborn.state == GSet([1, 2, 7])
    fx = reborn.step(rx("c1", {"type": "add", "element": 9, "msg_id": 1}), now_s=0)
    assert set(fx.persist) == {"crdt/4"}  # after the highest slot found


def test_a_data_directory_of_another_type_is_refused_at_boot() -> None:
    with pytest.raises(AssertionError, match="holds a g-set replica, not or-set"):
        started("or-set", durable={"crdt": {"type": "g-set", "state": [1]}})


def test_a_restarted_or_set_node_adds_with_a_fresh_tag() -> None:
    machine = started("or-set")
    durable: dict[str, Any] = {}
    for msg_id in (1, 2):
        fx = machine.step(rx("c1", {"type": "add", "element": 1, "msg_id": msg_id}), now_s=0)
        durable.update(fx.persist)
    machine.step(rx("c1", {"type": "remove", "element": 1, "msg_id": 3}), now_s=0)
    reborn = started("or-set", durable=durable)
    reborn.step(rx("c1", {"type": "add", "element": 1, "msg_id": 1}), now_s=0)
    assert reborn.state.added == {(1, "n1", 1), (1, "n1", 2), (1, "n1", 3)}
    assert reborn.state.merge(machine.state).value() == [1]  # the new add survives the remove


class Disk:
    """A disk as a crash sees it: synced keys survive, unsynced ones may or may not."""

    def __init__(self) -> None:
        self.synced: dict[str, Any] = {}
        self.unsynced: dict[str, Any] = {}

    def apply(self, fx: Effects) -> None:
        self.unsynced.update(json.loads(json.dumps(fx.persist)))
        if fx.sync:
            self.synced.update(self.unsynced)
            self.unsynced.clear()

    def crash(self, keep: list[bool]) -> dict[str, Any]:
        # Unsynced writes reach the disk in order, if at all (as one store sync would).
        kept = len(list(itertools.takewhile(bool, keep)))
        for key in list(self.unsynced)[:kept]:
            self.synced[key] = self.unsynced[key]
        self.unsynced.clear()
        return json.loads(json.dumps(self.synced))


def bodies(workload: str) -> st.SearchStrategy[dict[str, Any]]:
    element = st.integers(0, 3)
    if workload == "or-set":
        return st.builds(lambda f, e: {"type": f, "element": e},
                         st.sampled_from(["add", "remove"]), element)
    if workload == "lww-register":
        return st.builds(lambda v: {"type": "write", "value": v}, st.integers(0, 99))
    if workload == "g-set":
        return st.builds(lambda e: {"type": "add", "element": e}, element)
    return st.builds(lambda d: {"type": "add", "delta": d}, st.integers(-3 if workload ==
                                                                         "pn-counter" else 0, 3))


@st.composite
def lives(draw: st.DrawFn, workload: str) -> list[tuple[Any, ...]]:
    """A node's history: client updates and reads, gossip from a peer, anti-entropy rounds,
    clock moves, and crashes that keep some unsynced writes."""
    step = st.one_of(
        st.tuples(st.just("update"), bodies(workload)),
        st.tuples(st.just("read")),
        st.tuples(st.just("gossip"), st.lists(bodies(workload), max_size=3)),
        st.tuples(st.just("tick")),
        st.tuples(st.just("clock"), st.integers(-50, 50)),
        st.tuples(st.just("crash"), st.lists(st.booleans(), max_size=6)),
    )
    return draw(st.lists(step, max_size=40))


@pytest.mark.parametrize("workload", KINDS)
@settings(max_examples=100, deadline=None)
@given(data=st.data(), log_slots=st.integers(1, 3))
def test_a_restart_keeps_every_acknowledged_update_and_what_replies_showed(
        workload: str, data: st.DataObject, log_slots: int) -> None:
    params = {"log_slots": log_slots}
    disk = Disk()
    machine = started(workload, params=params)
    peer = CRDTS[workload].empty()  # the state n2 gossips, grown by its own updates
    acknowledged = CRDTS[workload].empty()  # the join of what n1's ok replies vouched for
    now_ms, stamp_shown = 10_000, None
    for step in data.draw(lives(workload)):
        if step[0] == "crash":
            machine = started(workload, durable=disk.crash(step[1]), params=params)
            assert acknowledged.leq(machine.state), "an acknowledged update was lost"
            continue
        if step[0] == "clock":
            now_ms += step[1]
            continue
        if step[0] == "tick":
            fx = machine.step(Tick("anti_entropy"), now_s=now_ms / 1000)
        elif step[0] == "gossip":
            for body in step[1]:
                peer, _ = peer.update(body, node="n2", now_ms=float(now_ms))
            fx = machine.step(rx("n2", {"type": "crdt_delta", "delta": peer.to_json(),
                                        "msg_id": 1}), now_s=now_ms / 1000)
        else:
            body = step[1] if step[0] == "update" else {"type": "read"}
            fx = machine.step(rx("c1", {**body, "msg_id": 1}), now_s=now_ms / 1000)
            [(_, reply)] = fx.messages
            if reply["type"] != "error":
                acknowledged = acknowledged.merge(machine.state)  # what the reply reported
                stamp = reply.get("ts")
                if workload == "lww-register" and body["type"] == "write":
                    assert stamp_shown is None or stamp > stamp_shown, "a stamp went back"
                if stamp is not None:
                    stamp_shown = max(stamp, stamp_shown or stamp)
        disk.apply(fx)
        visible = {**disk.synced, **disk.unsynced}
        if machine.unwritten is None:  # storage holds everything the node knows
            rebuilt = machine_of(workload)(Boot("n1", random.Random(1), durable=visible))
            assert rebuilt.state == machine.state


# -- the lattice helpers -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_missing_is_the_part_the_other_state_lacks(kind: str, data: st.DataObject) -> None:
    a, b = data.draw(states(kind)), data.draw(states(kind))
    part = missing(a, b)
    assert b.merge(part) == b.merge(a)
    assert part.leq(a)
    assert is_empty(part) == a.leq(b)
    assert is_empty(missing(a, a))
    assert is_empty(CRDTS[kind].empty())


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_equal_states_have_equal_digests_and_the_wire_keeps_them(kind: str,
                                                                 data: st.DataObject) -> None:
    a, b = data.draw(states(kind)), data.draw(states(kind))
    assert digest(a.merge(b)) == digest(b.merge(a))
    wired = CRDTS[kind].from_json(json.loads(json.dumps(a.to_json())))
    assert digest(wired) == digest(a)
    if a != b:
        assert digest(a) != digest(b)


def test_digests_differ_on_literal_neighbours() -> None:
    assert digest(GSet([1])) != digest(GSet(["1"]))
    assert digest(GCounter({"n1": 1})) != digest(GCounter({"n1": 2}))
    assert digest(PNCounter(GCounter({"n1": 1}))) != digest(
        PNCounter(decrements=GCounter({"n1": 1})))
    assert digest(ORSet([(1, "n1", 1)])) != digest(ORSet([(1, "n1", 1)], [(1, "n1", 1)]))
    assert digest(LWWRegister(1, (5, 0), "n1")) != digest(LWWRegister(1, (5, 0), "n2"))


def test_the_journal_refuses_a_slot_it_did_not_write() -> None:
    with pytest.raises(AssertionError, match="crdt/x: not a delta slot"):
        Journal(GSet, "g-set").load({"crdt/x": {"delta": [1]}})


# -- the planted bugs ----------------------------------------------------------------------------


def test_merge_by_sum_counts_a_duplicated_push_twice() -> None:
    for bug, expected in ((None, 4), (MERGE_BY_SUM, 8)):
        machine = started("g-counter", bug=bug)
        push = {"type": "crdt_delta", "delta": {"n2": 4}, "msg_id": 1}
        machine.step(rx("n2", push), now_s=0)
        machine.step(rx("n2", push), now_s=0)
        assert machine.state.value() == expected, bug


def test_remove_unobserved_kills_unseen_and_later_adds_of_the_element() -> None:
    for bug, expected in ((None, [1]), (REMOVE_UNOBSERVED, [])):
        machine = started("or-set", bug=bug)
        machine.step(rx("c1", {"type": "add", "element": 1, "msg_id": 1}), now_s=0)
        machine.step(rx("c1", {"type": "remove", "element": 1, "msg_id": 2}), now_s=0)
        unseen = {"added": [[1, "n2", 1]], "removed": []}
        machine.step(rx("n2", {"type": "crdt_delta", "delta": unseen, "msg_id": 1}), now_s=0)
        assert machine.state.value() == expected, bug
        machine.step(rx("c1", {"type": "add", "element": 1, "msg_id": 3}), now_s=0)
        assert machine.state.value() == ([1] if bug is None else []), bug


def test_local_clock_lww_stamps_below_what_it_has_shown() -> None:
    for bug, stamp in ((None, [5000, 1]), (LOCAL_CLOCK_LWW, [3000, 0])):
        machine = started("lww-register", bug=bug)
        ahead = {"value": 1, "ts": [5000, 0], "node": "n2"}
        machine.step(rx("n2", {"type": "crdt_delta", "delta": ahead, "msg_id": 1}), now_s=3)
        read = machine.step(rx("c1", {"type": "read", "msg_id": 1}), now_s=3)
        assert read.messages[0][1]["ts"] == [5000, 0]
        fx = machine.step(rx("c1", {"type": "write", "value": 2, "msg_id": 2}), now_s=3)
        assert fx.messages[0][1]["ts"] == stamp, bug


def test_local_clock_lww_breaks_no_ties() -> None:
    a, b = started("lww-register", bug=LOCAL_CLOCK_LWW), started("lww-register", node="n2",
                                                                 bug=LOCAL_CLOCK_LWW)
    a.step(rx("c1", {"type": "write", "value": "a", "msg_id": 1}), now_s=1)
    b.step(rx("c1", {"type": "write", "value": "b", "msg_id": 1}, dest="n2"), now_s=1)
    a.step(rx("n2", {"type": "crdt_delta", "delta": b.state.to_json(), "msg_id": 1}), now_s=1)
    b.step(rx("n1", {"type": "crdt_delta", "delta": a.state.to_json(), "msg_id": 1},
              dest="n2"), now_s=1)
    assert (a.state.value(), b.state.value()) == ("a", "b")  # diverged for good
