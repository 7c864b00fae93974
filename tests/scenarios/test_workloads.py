"""Workloads: request/complete round trips, error mapping, topologies, and their checks."""

from __future__ import annotations

import random
from typing import Any

import pytest

from checker.history import Op
from checker.intset import IntRanges
from node.protocol import DEFINITE_CODES, ERROR_NAMES
from scenarios.workload import MALFORMED
from scenarios.workloads import WORKLOADS, get_workload
from scenarios.workloads.broadcast import TOPOLOGIES, make_topology

NODES = ["n1", "n2", "n3", "n4", "n5"]

# (workload, f, value, the request body, a good reply, the ok value)
ROUND_TRIPS: list[tuple[str, str, Any, dict[str, Any], dict[str, Any], Any]] = [
    ("echo", "echo", "hi", {"type": "echo", "echo": "hi"}, {"type": "echo_ok", "echo": "hi"}, "hi"),
    ("unique-ids", "generate", None, {"type": "generate"}, {"type": "generate_ok", "id": "n1-7"},
     "n1-7"),
    ("unique-ids", "generate", None, {"type": "generate"}, {"type": "generate_ok", "id": [1, 2]},
     [1, 2]),
    ("broadcast", "broadcast", 0, {"type": "broadcast", "message": 0}, {"type": "broadcast_ok"},
     0),
    # a read of distinct integers is recorded as ranges (checker.intset); any other as sent
    ("broadcast", "read", None, {"type": "read"}, {"type": "read_ok", "messages": [3, 1, 2, 7]},
     IntRanges([(1, 3), (7, 7)])),
    ("broadcast", "read", None, {"type": "read"}, {"type": "read_ok", "messages": [3, 1, 3]},
     [3, 1, 3]),
    ("broadcast", "read", None, {"type": "read"}, {"type": "read_ok", "messages": [3, "x"]},
     [3, "x"]),
]  # fmt: skip


@pytest.mark.parametrize(("name", "f", "value", "body", "reply", "result"), ROUND_TRIPS)
def test_request_and_complete_round_trip(
    name: str, f: str, value: Any, body: dict[str, Any], reply: dict[str, Any], result: Any
) -> None:
    w = get_workload(name)
    assert w.request(f, value) == body
    assert "msg_id" not in w.request(f, value)  # the client numbers its own messages
    assert w.complete(f, value, {**reply, "in_reply_to": 4}) == ("ok", result, None)


# (workload, f, idempotent)
OPS = [("echo", "echo", False), ("unique-ids", "generate", False),
       ("broadcast", "broadcast", False), ("broadcast", "read", True)]  # fmt: skip


@pytest.mark.parametrize(("name", "f", "idempotent"), OPS)
@pytest.mark.parametrize("code", [0, 1, 10, 11, 12, 13, 14, 20, 21, 22, 30, 1000, 1234, 7])
def test_error_replies_map_definite_to_fail_and_indefinite_to_info(
    name: str, f: str, idempotent: bool, code: int
) -> None:
    w = get_workload(name)
    assert w.is_idempotent(f) is idempotent
    type_, value, error = w.complete(f, "v", {"type": "error", "code": code, "text": "why"})
    definite = code in DEFINITE_CODES
    assert type_ == ("fail" if definite or idempotent else "info")
    assert value == "v"  # a failed or indefinite op keeps its invocation's value
    assert error["code"] == code
    assert error["text"] == "why"
    assert error.get("name") == ERROR_NAMES.get(code)


def test_the_definite_codes_are_protocol_mds() -> None:
    assert {1, 10, 11, 12, 14, 20, 21, 22, 30} == DEFINITE_CODES
    assert not {0, 13} & DEFINITE_CODES


@pytest.mark.parametrize(
    ("name", "f", "reply"),
    [
        ("echo", "echo", {"type": "echo_ok"}),  # missing field
        ("echo", "echo", {"type": "generate_ok", "id": 1}),  # wrong type
        ("unique-ids", "generate", {"type": "generate_ok"}),
        ("broadcast", "read", {"type": "read_ok", "messages": 5}),
        ("broadcast", "read", {"type": "read_ok"}),
        ("broadcast", "broadcast", {}),
        ("broadcast", "broadcast", {"type": "error", "code": "eleven"}),  # not a code: indefinite
    ],
)
def test_malformed_replies_are_flagged_and_indefinite(
    name: str, f: str, reply: dict[str, Any]
) -> None:
    w = get_workload(name)
    type_, _, error = w.complete(f, None, reply)
    assert type_ == ("fail" if w.is_idempotent(f) else "info")
    if reply.get("type") != "error":
        assert isinstance(error, str)
        assert error.startswith(MALFORMED)


def test_invoke_values_are_unique_and_seeded() -> None:
    def values(name: str, seed: int) -> list[Any]:
        w, rng = get_workload(name), random.Random(seed)
        return [w.invoke(rng, p % 3) for p in range(200)]

    for name in WORKLOADS:
        assert values(name, 1) == values(name, 1)
    echoes = [v for _, v in values("echo", 1)]
    assert len(set(echoes)) == len(echoes)
    ops = values("broadcast", 1)
    messages = [v for f, v in ops if f == "broadcast"]
    assert len(set(messages)) == len(messages)
    assert all(isinstance(m, int) for m in messages)
    assert {f for f, _ in ops} == {"broadcast", "read"}
    assert all(v is None for f, v in ops if f == "read")


def test_read_probability_steers_the_mix() -> None:
    rng = random.Random(3)
    only_reads = get_workload("broadcast", read_probability=1.0)
    assert {only_reads.invoke(rng, 0)[0] for _ in range(50)} == {"read"}
    no_reads = get_workload("broadcast", read_probability=0.0)
    assert {no_reads.invoke(rng, 0)[0] for _ in range(50)} == {"broadcast"}


def test_setup_and_final_ops() -> None:
    assert get_workload("echo").setup(NODES) == []
    assert get_workload("echo").final_ops(NODES) == []
    b = get_workload("broadcast")
    setup = b.setup(NODES)
    assert [node for node, _ in setup] == NODES
    assert all(body["type"] == "topology" for _, body in setup)
    assert setup[0][1]["topology"] == make_topology("grid", NODES)
    assert b.final_ops(NODES) == [(n, "read", None) for n in NODES]


def test_topologies_are_literal_maps() -> None:
    nodes = ["n1", "n2", "n3", "n4", "n5"]
    # Maelstrom's grid: rows of ceil(sqrt(5)) = 3: n1 n2 n3 / n4 n5.
    assert make_topology("grid", nodes) == {
        "n1": ["n2", "n4"],
        "n2": ["n1", "n3", "n5"],
        "n3": ["n2"],
        "n4": ["n1", "n5"],
        "n5": ["n2", "n4"],
    }
    assert make_topology("line", nodes[:3]) == {"n1": ["n2"], "n2": ["n1", "n3"], "n3": ["n2"]}
    assert make_topology("ring", nodes[:3])["n1"] == ["n2", "n3"]
    assert make_topology("tree2", nodes)["n1"] == ["n2", "n3"]
    assert make_topology("tree2", nodes)["n2"] == ["n1", "n4", "n5"]
    assert make_topology("total", nodes[:3])["n2"] == ["n1", "n3"]
    assert make_topology("grid", ["n1"]) == {"n1": []}


@pytest.mark.parametrize("kind", TOPOLOGIES)
@pytest.mark.parametrize("n", [1, 2, 3, 5, 7, 9, 16])
def test_every_topology_is_symmetric_and_connected(kind: str, n: int) -> None:
    nodes = [f"n{i}" for i in range(1, n + 1)]
    graph = make_topology(kind, nodes)
    assert set(graph) == set(nodes)
    for node, neighbours in graph.items():
        assert node not in neighbours
        for other in neighbours:
            assert node in graph[other]
    seen, todo = {nodes[0]}, [nodes[0]]
    while todo:
        for other in graph[todo.pop()]:
            if other not in seen:
                seen.add(other)
                todo.append(other)
    assert seen == set(nodes)


def test_get_workload_errors_list_the_choices() -> None:
    with pytest.raises(ValueError, match="use one of broadcast, echo, g-counter, g-set, kafka, "
                       "lin-kv, lww-register, or-set, pn-counter, txn-list-append, "
                       "txn-rw-register, unique-ids"):
        get_workload("queue")
    with pytest.raises(ValueError, match="it takes topology, read_probability"):
        get_workload("broadcast", fanout=3)
    with pytest.raises(ValueError, match="unknown topology"):
        get_workload("broadcast", topology="star")
    with pytest.raises(ValueError, match="it takes no parameters"):
        get_workload("echo", topology="grid")


def simulate(name: str, replies: dict[str, Any], *, final: bool = False) -> list[Op]:
    """A history the way the client loop records it: invoke, request, complete."""
    w = get_workload(name)
    rng = random.Random(0)
    history: list[Op] = []
    t = 0
    for process in range(6):
        f, value = w.invoke(rng, process)
        history.append(Op("invoke", process, f, value, time=t, node="n1"))
        type_, result, error = w.complete(f, value, replies[f](value))
        history.append(Op(type_, process, f, result, time=t + 1, error=error, node="n1"))
        t += 2
    for i, op in enumerate(history):
        op.index = i
    return history


def test_echo_check_catches_a_node_that_answers_wrong() -> None:
    w = get_workload("echo")
    good = simulate("echo", {"echo": lambda v: {"type": "echo_ok", "echo": v}})
    assert w.check(good, node_ids=NODES)["valid"] is True
    bad = simulate("echo", {"echo": lambda v: {"type": "echo_ok", "echo": v[:-1] + "?"}})
    checked = w.check(bad, node_ids=NODES)
    assert checked["valid"] is False
    assert checked["results"]["echo"]["valid"] is False


def test_a_node_that_breaks_the_protocol_is_invalid() -> None:
    w = get_workload("echo")
    garbage = simulate("echo", {"echo": lambda v: {"type": "echo_ok"}})
    checked = w.check(garbage, node_ids=NODES)
    assert checked["results"]["replies"]["valid"] is False
    assert checked["valid"] is False


def test_unique_ids_check_catches_a_duplicate() -> None:
    w = get_workload("unique-ids")
    counter = iter(range(100))
    good = simulate(
        "unique-ids", {"generate": lambda v: {"type": "generate_ok", "id": next(counter)}}
    )
    assert w.check(good, node_ids=NODES)["valid"] is True
    bad = simulate("unique-ids", {"generate": lambda v: {"type": "generate_ok", "id": 7}})
    assert w.check(bad, node_ids=NODES)["valid"] is False


def test_nothing_to_judge_is_unknown_for_every_workload() -> None:
    for name in WORKLOADS:
        assert get_workload(name).check([], node_ids=NODES)["valid"] == "unknown"


def test_convergent_workloads_wait_as_maelstrom_does_before_their_final_reads() -> None:
    """Maelstrom waits 10 s between healing and the final reads; a scenario's shorter settle is
    raised to that for the workloads that judge convergence, and left alone for the others."""
    from scenarios.loader import load_scenario
    from scenarios.workload import MAELSTROM_SETTLE_S
    from scenarios.workloads import settle_s

    sc = load_scenario("partition-heal")
    assert sc.settle_s < MAELSTROM_SETTLE_S
    for workload in ("broadcast", "g-set", "g-counter", "pn-counter", "or-set", "lww-register"):
        assert settle_s(sc.with_overrides(workload=workload)) == MAELSTROM_SETTLE_S, workload
    for workload in ("lin-kv", "kafka", "txn-list-append", "unique-ids", "echo"):
        assert settle_s(sc.with_overrides(workload=workload)) == sc.settle_s, workload
