"""The CRDT workloads as pure objects: wire round trips, error mapping, the operation mix,
final reads, and their checks catching a bad node on literal histories.

No service is involved: a "node" here is a small function from request to reply, run by the
same invoke / request / complete loop a client runs (`drive`).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from checker.history import Op
from checker.intset import IntRanges
from node.crdt import CRDTS
from scenarios.workload import MALFORMED
from scenarios.workloads import WORKLOADS, get_spec, get_workload

NODES = ["n1", "n2", "n3"]
CRDT_WORKLOADS = ["g-counter", "g-set", "lww-register", "or-set", "pn-counter"]

# (workload, f, value, the request body, a good reply, the ok value)
ROUND_TRIPS: list[tuple[str, str, Any, dict[str, Any], dict[str, Any], Any]] = [
    ("g-set", "add", 3, {"type": "add", "element": 3}, {"type": "add_ok"}, 3),
    ("g-set", "read", None, {"type": "read"}, {"type": "read_ok", "value": [2, 0, 1]},
     IntRanges([(0, 2)])),
    ("g-set", "read", None, {"type": "read"}, {"type": "read_ok", "value": ["a"]}, ["a"]),
    ("g-counter", "add", 4, {"type": "add", "delta": 4}, {"type": "add_ok"}, 4),
    ("g-counter", "read", None, {"type": "read"}, {"type": "read_ok", "value": 9}, 9),
    ("pn-counter", "add", -3, {"type": "add", "delta": -3}, {"type": "add_ok"}, -3),
    ("pn-counter", "read", None, {"type": "read"}, {"type": "read_ok", "value": -2}, -2),
    ("or-set", "add", 1, {"type": "add", "element": 1}, {"type": "add_ok"}, 1),
    ("or-set", "remove", 1, {"type": "remove", "element": 1}, {"type": "remove_ok"}, 1),
    ("or-set", "read", None, {"type": "read"}, {"type": "read_ok", "value": [1, 4]}, [1, 4]),
    ("lww-register", "write", 7, {"type": "write", "value": 7},
     {"type": "write_ok", "ts": [1500, 2]}, [7, [1500, 2]]),
    ("lww-register", "read", None, {"type": "read"},
     {"type": "read_ok", "value": 7, "ts": [1500, 2]}, [7, [1500, 2]]),
    ("lww-register", "read", None, {"type": "read"},
     {"type": "read_ok", "value": None, "ts": None}, [None, None]),
    ("lww-register", "write", 8, {"type": "write", "value": 8}, {"type": "write_ok", "ts": 12.5},
     [8, 12.5]),
]  # fmt: skip


@pytest.mark.parametrize(("name", "f", "value", "body", "reply", "result"), ROUND_TRIPS)
def test_request_and_complete_round_trip(
    name: str, f: str, value: Any, body: dict[str, Any], reply: dict[str, Any], result: Any
) -> None:
    w = get_workload(name)
    assert w.request(f, value) == body
    assert w.complete(f, value, {**reply, "in_reply_to": 3}) == ("ok", result, None)


@pytest.mark.parametrize(
    ("name", "f", "reply"),
    [
        ("g-set", "read", {"type": "read_ok", "value": 5}),
        ("g-set", "read", {"type": "read_ok", "messages": [1]}),  # broadcast's field, not g-set's
        ("g-counter", "read", {"type": "read_ok", "value": "7"}),
        ("pn-counter", "read", {"type": "read_ok", "value": True}),
        ("pn-counter", "add", {"type": "read_ok"}),
        ("or-set", "remove", {"type": "add_ok"}),
        ("or-set", "read", {"type": "read_ok"}),
        ("lww-register", "write", {"type": "write_ok"}),
        ("lww-register", "write", {"type": "write_ok", "ts": "now"}),
        ("lww-register", "read", {"type": "read_ok", "value": 3, "ts": None}),
        ("lww-register", "read", {"type": "read_ok", "value": 3, "ts": []}),
    ],
)
def test_malformed_replies_are_flagged(name: str, f: str, reply: dict[str, Any]) -> None:
    w = get_workload(name)
    type_, _, error = w.complete(f, 1, reply)
    assert type_ == ("fail" if w.is_idempotent(f) else "info")
    assert error.startswith(MALFORMED)


@pytest.mark.parametrize("name", CRDT_WORKLOADS)
@pytest.mark.parametrize("code", [0, 11, 12, 13, 1000])
def test_errors_map_definite_to_fail_and_indefinite_to_info(name: str, code: int) -> None:
    w = get_workload(name)
    update = "write" if name == "lww-register" else "add"
    definite = code in (11, 12)
    assert w.complete(update, 1, {"type": "error", "code": code})[0] == (
        "fail" if definite else "info")
    assert w.complete("read", None, {"type": "error", "code": code})[0] == "fail"


def test_every_crdt_workload_is_registered_with_its_built_in_service() -> None:
    assert set(CRDT_WORKLOADS) <= set(WORKLOADS)
    assert set(CRDT_WORKLOADS) == set(CRDTS)  # one CRDT value type per workload (node.crdt)
    for name in CRDT_WORKLOADS:
        spec = get_spec(name)
        assert spec.service == name  # node/services/crdt declares one replica per type
        assert spec.model is None


def test_the_operation_mix_is_maelstrom_s() -> None:
    rng = random.Random(7)
    g = [get_workload("g-counter").invoke(rng, 0) for _ in range(400)]
    assert {v for f, v in g if f == "add"} == set(range(0, 5))
    pn = [get_workload("pn-counter").invoke(rng, 0) for _ in range(400)]
    assert {v for f, v in pn if f == "add"} == set(range(-5, 5))
    assert 150 < sum(f == "read" for f, _ in pn) < 250  # an even mix
    s = get_workload("g-set")
    adds = [v for f, v in (s.invoke(rng, 0) for _ in range(100)) if f == "add"]
    assert adds == list(range(len(adds)))  # 0, 1, 2, ... each once
    o = get_workload("or-set", elements=3)
    ops = [o.invoke(rng, 0) for _ in range(300)]
    assert {f for f, _ in ops} == {"add", "remove", "read"}
    assert {v for f, v in ops if f != "read"} == {0, 1, 2}
    w = get_workload("lww-register")
    writes = [v for f, v in (w.invoke(rng, 0) for _ in range(100)) if f == "write"]
    assert writes == sorted(set(writes))


def test_invocations_are_seeded() -> None:
    for name in CRDT_WORKLOADS:
        runs = [[get_workload(name).invoke(random.Random(5), p) for p in range(50)]
                for _ in range(2)]
        assert runs[0] == runs[1]


def test_final_ops_read_every_node() -> None:
    for name in CRDT_WORKLOADS:
        assert get_workload(name).final_ops(NODES) == [(n, "read", None) for n in NODES]
        assert get_workload(name).setup(NODES) == []


@pytest.mark.parametrize(
    ("name", "params", "match"),
    [
        ("g-set", {"read_probability": 2}, "read_probability must be a number from 0 to 1"),
        ("pn-counter", {"strict_reads": "yes"}, "strict_reads must be true or false"),
        ("or-set", {"elements": 0}, "elements must be an integer from 1 to 1000"),
        ("or-set", {"read_probability": 0.7, "remove_probability": 0.5}, "at most 1"),
        ("lww-register", {"fanout": 2}, "it takes read_probability, monotonic"),
    ],
)
def test_bad_parameters_say_what_to_pass(name: str, params: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        get_workload(name, **params)


# -- checks on histories driven through the workloads -----------------------------------------

Node = Callable[[str, dict[str, Any]], dict[str, Any]]


def drive(name: str, node: Node, *, ops: int = 60, seed: int = 1,
          last: tuple[str, str, Any] | None = None, **params: Any) -> list[Op]:
    """A sequential client on rotating nodes (then the operation `last`, if given), then a final
    read of each node, recorded as the run records them (invoke, then the completion
    `complete` makes of the reply)."""
    w = get_workload(name, **params)
    rng = random.Random(seed)
    history: list[Op] = []

    def record(process: int, node_id: str, f: str, value: Any, *, final: bool = False) -> None:
        extra = {"final": True} if final else {}
        history.append(Op("invoke", process, f, value, node=node_id, extra=dict(extra)))
        type_, result, error = w.complete(f, value, node(node_id, w.request(f, value)))
        history.append(Op(type_, process, f, result, error=error, node=node_id, extra=extra))

    for i in range(ops):
        f, value = w.invoke(rng, 0)
        record(0, NODES[i % len(NODES)], f, value)
    if last is not None:
        record(0, *last)
    for i, (node_id, f, value) in enumerate(w.final_ops(NODES)):
        record(100 + i, node_id, f, value, final=True)
    for i, op in enumerate(history):
        op.index, op.time = i, i * 1000
    return history


def crdt_node(kind: str, *, forget: str | None = None) -> Node:
    """Replicas of node.crdt's type that merge on every request (perfect gossip); `forget`
    names a node that drops its own updates (a lost acknowledged write)."""
    replicas = {n: CRDTS[kind].empty() for n in NODES}
    clock = iter(range(1000, 10**9, 7))

    def serve(node_id: str, body: dict[str, Any]) -> dict[str, Any]:
        for other in NODES:
            replicas[node_id] = replicas[node_id].merge(replicas[other])
        if body["type"] == "read":
            return {"type": "read_ok", **replicas[node_id].read()}
        updated, fields = replicas[node_id].update(body, node=node_id, now_ms=float(next(clock)))
        if node_id != forget:
            replicas[node_id] = updated
        return {"type": f"{body['type']}_ok", **fields}

    return serve


@pytest.mark.parametrize("name", CRDT_WORKLOADS)
def test_a_correct_replicated_crdt_passes_its_workload_checks(name: str) -> None:
    checked = get_workload(name).check(drive(name, crdt_node(name)), node_ids=NODES)
    assert checked["valid"] is True, checked


@pytest.mark.parametrize("name", CRDT_WORKLOADS)
def test_a_node_that_drops_acknowledged_updates_is_caught(name: str) -> None:
    # The last update goes to the forgetful node, so nothing after it can hide the loss.
    last = {"g-set": ("n2", "add", 10**6), "g-counter": ("n2", "add", 1000),
            "pn-counter": ("n2", "add", 1000), "or-set": ("n2", "add", 99),
            "lww-register": ("n2", "write", 10**6)}[name]
    history = drive(name, crdt_node(name, forget="n2"), ops=90, last=last)
    checked = get_workload(name).check(history, node_ids=NODES)
    assert checked["valid"] is False
    main = {"g-set": "set-full", "g-counter": "counter", "pn-counter": "counter",
            "or-set": "or-set", "lww-register": "lww-register"}[name]
    assert checked["results"][main]["valid"] is False


def test_a_counter_that_merges_by_sum_is_caught() -> None:
    # The planted `merge-by-sum` bug: a node adds what gossip tells it, so a state merged twice
    # counts twice; the final reads then exceed every add that might have happened.
    totals = dict.fromkeys(NODES, 0)

    def node(node_id: str, body: dict[str, Any]) -> dict[str, Any]:
        if body["type"] == "add":
            for n in NODES:  # gossip applied as a sum, twice (a duplicated message)
                totals[n] += body["delta"] * (2 if n != node_id else 1)
            return {"type": "add_ok"}
        return {"type": "read_ok", "value": totals[node_id]}

    checked = get_workload("g-counter").check(drive("g-counter", node), node_ids=NODES)
    assert checked["results"]["counter"]["valid"] is False
    assert "above the upper bound" in checked["results"]["counter"]["first_violation"]


def test_nothing_to_judge_is_unknown() -> None:
    for name in CRDT_WORKLOADS:
        assert get_workload(name).check([], node_ids=NODES)["valid"] == "unknown"
