"""Grudge builders against literal maps (Jepsen's nemesis/combined style) and properties."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chaos.faults import (
    SHAPES,
    blocked_links,
    bridge,
    build_grudge,
    complete_grudge,
    components,
    grudge_from_json,
    grudge_to_json,
    halves,
    heal,
    isolate,
    majorities_ring,
    majority_minority,
    one_way,
    random_halves,
    validate_grudge,
)

N5 = ["n1", "n2", "n3", "n4", "n5"]


def fs(*names: str) -> frozenset[str]:
    return frozenset(names)


def test_complete_grudge_literal() -> None:
    assert complete_grudge([["n1", "n2"], ["n3"]]) == {
        "n1": fs("n3"),
        "n2": fs("n3"),
        "n3": fs("n1", "n2"),
    }


def test_complete_grudge_of_one_component_is_healed() -> None:
    assert complete_grudge([N5]) == heal() == {}


def test_complete_grudge_rejects_overlap() -> None:
    with pytest.raises(ValueError, match="overlap"):
        complete_grudge([["n1", "n2"], ["n2", "n3"]])


def test_isolate_literal() -> None:
    assert isolate(N5, "n3") == {
        "n1": fs("n3"),
        "n2": fs("n3"),
        "n3": fs("n1", "n2", "n4", "n5"),
        "n4": fs("n3"),
        "n5": fs("n3"),
    }


def test_isolate_unknown_node() -> None:
    with pytest.raises(ValueError, match="n9"):
        isolate(N5, "n9")


def test_halves_literal() -> None:
    assert halves(N5) == {
        "n1": fs("n3", "n4", "n5"),
        "n2": fs("n3", "n4", "n5"),
        "n3": fs("n1", "n2"),
        "n4": fs("n1", "n2"),
        "n5": fs("n1", "n2"),
    }


def test_bridge_literal() -> None:
    # n3 is the bridge: it hears everyone and everyone hears it.
    assert bridge(N5) == {
        "n1": fs("n4", "n5"),
        "n2": fs("n4", "n5"),
        "n4": fs("n1", "n2"),
        "n5": fs("n1", "n2"),
    }


def test_one_way_literal() -> None:
    assert one_way(N5, src="n1", dest="n2") == {"n2": fs("n1")}
    assert blocked_links(one_way(N5, src="n1", dest="n2")) == {("n1", "n2")}


def test_one_way_rejects_same_and_unknown() -> None:
    with pytest.raises(ValueError, match="different"):
        one_way(N5, src="n1", dest="n1")
    with pytest.raises(ValueError, match="dest"):
        one_way(N5, src="n1", dest="x")


def test_majorities_ring_literal_for_seed() -> None:
    rng = random.Random(1)
    order = list(N5)
    random.Random(1).shuffle(order)
    grudge = majorities_ring(N5, rng)
    # Each node hears its two ring neighbours and itself; it cannot hear the other two.
    for i, node in enumerate(order):
        assert grudge[node] == fs(order[(i + 2) % 5], order[(i + 3) % 5])


def test_majorities_ring_three_nodes_is_a_chain() -> None:
    grudge = majorities_ring(["a", "b", "c"], random.Random(0))
    assert len(blocked_links(grudge)) == 2
    views = {n: frozenset({"a", "b", "c"}) - grudge.get(n, frozenset()) for n in "abc"}
    assert len(set(views.values())) == 3


def test_grudge_json_round_trip() -> None:
    grudge = halves(N5)
    as_json = grudge_to_json(grudge)
    assert as_json == {
        "n1": ["n3", "n4", "n5"],
        "n2": ["n3", "n4", "n5"],
        "n3": ["n1", "n2"],
        "n4": ["n1", "n2"],
        "n5": ["n1", "n2"],
    }
    assert grudge_from_json(as_json, nodes=N5) == grudge


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ([], "must be an object"),
        ({"n1": "n2"}, r"grudge\['n1'\] must be a list"),
        ({"n1": ["n9"]}, "'n9' is not a node"),
        ({"x": ["n1"]}, "grudge key 'x' is not a node"),
        ({"n1": ["n1"]}, "against itself"),
    ],
)
def test_grudge_from_json_rejects(obj: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        grudge_from_json(obj, nodes=N5)


def test_clients_may_be_named_only_when_allowed() -> None:
    validate_grudge({"c1": ["n1"]}, N5, clients=True)
    with pytest.raises(ValueError, match="clients"):
        validate_grudge({"c1": ["n1"]}, N5)


def test_build_grudge_by_name() -> None:
    assert build_grudge("halves", N5, random.Random(0)) == halves(N5)
    assert build_grudge("isolate", N5, random.Random(0), node="n2") == isolate(N5, "n2")
    assert build_grudge("one-way", N5, random.Random(0), src="n1", dest="n5") == {"n5": fs("n1")}
    assert build_grudge("random-halves", N5, random.Random(3)) == random_halves(
        N5, random.Random(3)
    )


def test_build_grudge_unknown_shape_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="valid shapes: isolate, halves, random-halves"):
        build_grudge("triangle", N5, random.Random(0))
    with pytest.raises(ValueError, match="unknown parameter"):
        build_grudge("halves", N5, random.Random(0), node="n1")
    with pytest.raises(ValueError, match="at least 2 nodes"):
        build_grudge("one-way", ["n1"], random.Random(0))


node_lists = st.integers(min_value=3, max_value=11).map(
    lambda n: [f"n{i}" for i in range(1, n + 1)]
)


def is_symmetric(grudge: dict[str, frozenset[str]]) -> bool:
    cut = blocked_links(grudge)
    return all((b, a) in cut for a, b in cut)


@given(node_lists, st.sampled_from(sorted(SHAPES)), st.integers(0, 2**32))
def test_every_shape_is_valid_symmetric_except_one_way(
    nodes: list[str], shape: str, seed: int
) -> None:
    grudge = build_grudge(shape, nodes, random.Random(seed))
    validate_grudge(grudge, nodes)  # known names, nobody against itself
    assert all(others for others in grudge.values())  # normalised
    assert is_symmetric(grudge) == (shape != "one-way")


@given(node_lists, st.integers(0, 2**32))
def test_majority_minority_leaves_exactly_one_majority(nodes: list[str], seed: int) -> None:
    grudge = majority_minority(nodes, random.Random(seed))
    parts = components(grudge, nodes)
    assert len(parts) == 2
    assert sum(1 for p in parts if len(p) > len(nodes) // 2) == 1


@given(node_lists, st.integers(0, 2**32))
def test_majorities_ring_each_sees_a_distinct_majority(nodes: list[str], seed: int) -> None:
    grudge = majorities_ring(nodes, random.Random(seed))
    views = [frozenset(nodes) - grudge.get(n, frozenset()) for n in nodes]
    assert all(len(v) > len(nodes) // 2 for v in views)
    assert len(set(views)) == len(nodes)


@given(node_lists, st.integers(0, 2**32))
def test_halves_split_into_two_components(nodes: list[str], seed: int) -> None:
    parts = components(random_halves(nodes, random.Random(seed)), nodes)
    assert sorted(len(p) for p in parts) == [len(nodes) // 2, len(nodes) - len(nodes) // 2]


@given(node_lists, st.integers(0, 2**32))
def test_bridge_node_hears_everyone(nodes: list[str], seed: int) -> None:
    grudge = build_grudge("bridge", nodes, random.Random(seed))
    hated = set().union(*grudge.values())
    bridges = [n for n in nodes if n not in grudge and n not in hated]
    assert len(bridges) == 1
    assert len(components(grudge, nodes)) == 1  # joined through the bridge
