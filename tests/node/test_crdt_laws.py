"""node.crdt: the lattice laws for every CRDT, their wire form, and each type's semantics.

States are drawn as what replicas really hold: a few nodes apply random client updates
(`update(body, node=..., now_ms=...)`, as the service will) and merge each other's states now
and then. The laws are then checked on any two or three such states: merge commutative,
associative and idempotent, an upper bound of both arguments, `leq` agreeing with merge, and
every update inflationary. Literal cases pin what each type means (add-wins, max per node).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.crdt import CRDTS, CrdtError, GCounter, GSet, LWWRegister, ORSet, PNCounter

NODES = ("n1", "n2", "n3")
elements = st.integers(0, 5) | st.sampled_from(["a", "b"])


def update_bodies(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    if kind == "g-set":
        return st.builds(lambda e: {"type": "add", "element": e}, elements)
    if kind == "g-counter":
        return st.builds(lambda d: {"type": "add", "delta": d}, st.integers(0, 9))
    if kind == "pn-counter":
        return st.builds(lambda d: {"type": "add", "delta": d}, st.integers(-9, 9))
    if kind == "or-set":
        return st.builds(lambda f, e: {"type": f, "element": e},
                         st.sampled_from(["add", "remove"]), elements)
    assert kind == "lww-register"
    return st.builds(lambda v: {"type": "write", "value": v}, st.integers(0, 3) | st.none())


# One step of a replicated run: (replica, update body, clock ms) or (replica, merge from).
def steps(kind: str) -> st.SearchStrategy[list[tuple[Any, ...]]]:
    update = st.tuples(st.sampled_from(NODES), update_bodies(kind), st.integers(0, 20))
    merge = st.tuples(st.sampled_from(NODES), st.sampled_from(NODES))
    return st.lists(update | merge, max_size=25)


def replay(kind: str, run: list[tuple[Any, ...]]) -> dict[str, Any]:
    replicas = {n: CRDTS[kind].empty() for n in NODES}
    for step in run:
        if len(step) == 3:
            node, body, now_ms = step
            replicas[node], _ = replicas[node].update(body, node=node, now_ms=float(now_ms))
        else:
            into, source = step
            replicas[into] = replicas[into].merge(replicas[source])
    return replicas


@st.composite
def states(draw: st.DrawFn, kind: str) -> Any:
    return draw(st.sampled_from(list(replay(kind, draw(steps(kind))).values())))


KINDS = list(CRDTS)


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_merge_is_commutative_associative_and_idempotent(kind: str, data: st.DataObject) -> None:
    a, b, c = (data.draw(states(kind)) for _ in range(3))
    assert a.merge(b) == b.merge(a)
    assert a.merge(b).merge(c) == a.merge(b.merge(c))
    assert a.merge(a) == a


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_merge_is_the_least_upper_bound_in_the_leq_order(kind: str, data: st.DataObject) -> None:
    a, b = data.draw(states(kind)), data.draw(states(kind))
    joined = a.merge(b)
    assert a.leq(joined)
    assert b.leq(joined)
    assert a.leq(b) == (a.merge(b) == b)  # leq is the order merge induces
    assert a.leq(a)


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_every_update_is_inflationary(kind: str, data: st.DataObject) -> None:
    x = data.draw(states(kind))
    body = data.draw(update_bodies(kind))
    node = data.draw(st.sampled_from(NODES))
    y, reply = x.update(body, node=node, now_ms=float(data.draw(st.integers(0, 20))))
    assert x.leq(y)
    assert json.loads(json.dumps(reply)) == reply


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_the_wire_form_round_trips_through_json(kind: str, data: st.DataObject) -> None:
    x = data.draw(states(kind))
    wire = json.loads(json.dumps(x.to_json()))
    assert CRDTS[kind].from_json(wire) == x
    assert json.loads(json.dumps(x.read())) == x.read()


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_replicas_that_merged_everything_agree(kind: str, data: st.DataObject) -> None:
    replicas = replay(kind, data.draw(steps(kind)))
    everything = CRDTS[kind].empty()
    for state in replicas.values():
        everything = everything.merge(state)
    for state in replicas.values():  # gossip in any order reaches the same state
        assert state.merge(everything) == everything
    orders = [list(replicas.values()), list(reversed(replicas.values()))]
    finals = []
    for order in orders:
        acc = CRDTS[kind].empty()
        for state in order:
            acc = acc.merge(state)
        finals.append(acc.read())
    assert finals[0] == finals[1] == everything.read()


# -- each type's meaning, against a plain model --------------------------------------------------

@settings(max_examples=100, deadline=None)
@given(run=steps("pn-counter"))
def test_counters_converge_on_the_sum_of_every_delta(run: list[tuple[Any, ...]]) -> None:
    replicas = replay("pn-counter", run)
    total = sum(step[1]["delta"] for step in run if len(step) == 3)
    merged = PNCounter()
    for state in replicas.values():
        merged = merged.merge(state)
    assert merged.value() == total  # merged twice or not, never counted twice


@settings(max_examples=100, deadline=None)
@given(run=steps("g-set"))
def test_g_set_converges_on_every_element_added(run: list[tuple[Any, ...]]) -> None:
    replicas = replay("g-set", run)
    merged = GSet()
    for state in replicas.values():
        merged = merged.merge(state)
    assert set(merged.value()) == {step[1]["element"] for step in run if len(step) == 3}


def test_g_counter_merges_by_maximum_per_node_not_by_sum() -> None:
    a = GCounter().add("n1", 3)
    assert a.merge(a).value() == 3  # a duplicated gossip message changes nothing
    b = a.add("n2", 4)
    assert a.merge(b).value() == 7
    assert b.to_json() == {"n1": 3, "n2": 4}
    with pytest.raises(CrdtError, match="delta must be at least 0"):
        a.add("n1", -1)


def test_pn_counter_counts_decrements_apart() -> None:
    x = PNCounter().add("n1", 5).add("n1", -2)
    y = PNCounter().add("n2", -4)
    assert x.merge(y).value() == -1
    assert x.merge(y).to_json() == {"p": {"n1": 5}, "n": {"n1": 2, "n2": 4}}


def test_or_set_add_wins_over_a_concurrent_remove() -> None:
    base = ORSet().add(1, node="n1")
    n2 = ORSet().merge(base)  # n2 has observed n1's add
    n1 = base.add(1, node="n1")  # meanwhile n1 adds 1 again (a tag n2 has not seen)
    n2 = n2.remove(1)  # n2 removes what it observed
    assert n2.value() == []
    assert n1.merge(n2).value() == [1]  # the unobserved add survives
    assert n2.merge(n1).remove(1).value() == []  # once observed, a remove removes it


def test_or_set_remove_of_an_unobserved_element_removes_nothing() -> None:
    n1 = ORSet().add("x", node="n1")
    n2 = ORSet().remove("x")
    assert n1.merge(n2).value() == ["x"]
    assert n2.removed == frozenset()


def test_or_set_tags_are_fresh_per_node() -> None:
    s = ORSet().add(1, node="n1").remove(1).add(1, node="n1")
    assert s.value() == [1]
    assert sorted(s.added) == [(1, "n1", 1), (1, "n1", 2)]
    assert s.to_json() == {"added": [[1, "n1", 1], [1, "n1", 2]], "removed": [[1, "n1", 1]]}


def test_lww_register_orders_by_stamp_then_writer() -> None:
    a = LWWRegister().assign("a", ts=(10, 0), node="n2")
    b = LWWRegister().assign("b", ts=(10, 0), node="n1")
    assert a.merge(b).value() == b.merge(a).value() == "a"  # equal stamps: "n2" > "n1"
    c = LWWRegister().assign("c", ts=(9, 5), node="n3")
    assert a.merge(c).value() == "a"
    assert a.read() == {"value": "a", "ts": [10, 0]}
    assert LWWRegister().read() == {"value": None, "ts": None}


def test_lww_register_stamps_above_what_it_holds_even_when_its_clock_lags() -> None:
    held = LWWRegister().assign("ahead", ts=(1000, 3), node="n1")
    later, reply = held.update({"type": "write", "value": "mine"}, node="n2", now_ms=10.0)
    assert reply == {"ts": [1000, 4]}
    assert later.value() == "mine"
    _, reply = held.update({"type": "write", "value": "now"}, node="n2", now_ms=2000.7)
    assert reply == {"ts": [2000, 0]}


@pytest.mark.parametrize(
    ("kind", "body", "match"),
    [
        ("g-set", {"type": "add"}, "lacks the field 'element'"),
        ("g-set", {"type": "add", "element": True}, "integer or string"),
        ("g-set", {"type": "add", "element": 1.5}, "integer or string"),
        ("g-counter", {"type": "add", "delta": -1}, "at least 0"),
        ("g-counter", {"type": "add", "delta": "1"}, "must be an integer"),
        ("pn-counter", {"type": "remove", "delta": 1}, "it takes add and read"),
        ("or-set", {"type": "write", "element": 1}, "it takes add, remove and read"),
        ("lww-register", {"type": "write"}, "lacks the field 'value'"),
    ],
)
def test_malformed_updates_are_refused_with_the_fix(kind: str, body: dict[str, Any],
                                                     match: str) -> None:
    with pytest.raises(CrdtError, match=match):
        CRDTS[kind].empty().update(body, node="n1", now_ms=0.0)


@pytest.mark.parametrize(
    ("kind", "wire"),
    [("g-set", {"a": 1}), ("g-counter", {"n1": -1}), ("pn-counter", {"p": {}}),
     ("or-set", {"added": [[1, "n1"]], "removed": []}), ("lww-register", {"value": 1}),
     ("lww-register", {"value": 1, "ts": [1], "node": "n1"})],
)
def test_malformed_wire_values_are_refused(kind: str, wire: Any) -> None:
    with pytest.raises(CrdtError):
        CRDTS[kind].from_json(wire)
