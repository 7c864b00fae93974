"""The dependency graph's components and the cycle search, on literal graphs.

A graph is written as edges (a, b, relation); vertices are integers.
"""

from __future__ import annotations

import pytest

from checker.elle.cycles import SPECS, Budget, any_cycle, classify, search
from checker.elle.graph import PROCESS, REALTIME, RW, SHIFT, WR, WW, DepGraph, components
from checker.elle.txns import Txn
from checker.elle.verdict import Cases, Inference, judge
from checker.history import Op


def graph(n: int, *edges: tuple[int, int, int]) -> list[list[int]]:
    out: list[list[int]] = [[] for _ in range(n)]
    for a, b, rel in edges:
        out[a].append(b << SHIFT | rel)
    return out


def test_components_of_two_or_more_in_order() -> None:
    out = graph(7, (0, 1, WW), (1, 0, WR), (2, 3, WW), (3, 4, RW), (4, 2, WR), (5, 6, WW))
    assert components(out) == [[0, 1], [2, 3, 4]]
    assert components(out, WW | WR) == [[0, 1]]
    assert components(graph(3)) == []


def test_components_need_no_recursion() -> None:
    """A cycle of 200,000 transactions is one component: the search is iterative."""
    n = 200_000
    out = graph(n, *((i, (i + 1) % n, WW) for i in range(n)))
    (comp,) = components(out)
    assert len(comp) == n
    found = search(out, SPECS["G0"], Budget(10 * n))
    assert found is not None
    assert len(found.vertices) == n


@pytest.mark.parametrize(
    ("rels", "name"),
    [
        ([WW, WW], "G0"),
        ([WW, WR], "G1c"),
        ([WR, WR, WW], "G1c"),
        ([RW, WR], "G-single"),
        ([RW, WW, WR], "G-single"),
        ([RW, WR, RW, WW], "G-nonadjacent"),
        ([RW, RW], "G2-item"),
        ([RW, WR, WR, RW], "G2-item"),  # adjacent around the cycle
        ([WW, PROCESS], "G0-process"),
        ([WR, PROCESS, REALTIME], "G1c-realtime"),
        ([RW, REALTIME], "G-single-realtime"),
        ([RW, PROCESS, RW, WR], "G-nonadjacent-process"),
        ([PROCESS, REALTIME], None),
    ],
)
def test_classify(rels: list[int], name: str | None) -> None:
    assert classify(rels) == name


def test_shortest_cycle_of_each_name() -> None:
    # A long G0 cycle 0 -> 1 -> 2 -> 3 -> 0, and a short one 2 <-> 3; a G-single 0 -> 4 -> 0.
    out = graph(
        5, (0, 1, WW), (1, 2, WW), (2, 3, WW), (3, 0, WW), (3, 2, WW), (0, 4, RW), (4, 0, WR)
    )
    g0 = search(out, SPECS["G0"], Budget())
    assert g0 is not None
    assert sorted(g0.vertices) == [2, 3]
    assert g0.shortest
    single = search(out, SPECS["G-single"], Budget())
    assert single is not None
    assert sorted(single.vertices) == [0, 4]
    assert search(out, SPECS["G2-item"], Budget()) is None


def test_nonadjacent_needs_a_non_rw_edge_between_rw_edges() -> None:
    nonadjacent = graph(4, (0, 1, RW), (1, 2, WR), (2, 3, RW), (3, 0, WR))
    found = search(nonadjacent, SPECS["G-nonadjacent"], Budget())
    assert found is not None
    assert classify(found.rels) == "G-nonadjacent"
    adjacent = graph(4, (0, 1, RW), (1, 2, RW), (2, 3, WR), (3, 0, WR))
    assert search(adjacent, SPECS["G-nonadjacent"], Budget()) is None
    found = search(adjacent, SPECS["G2-item"], Budget())
    assert found is not None
    assert classify(found.rels) == "G2-item"


def test_an_edge_of_several_relations_is_taken_as_any() -> None:
    # 0 -> 1 is both ww and rw: a G0 with 1 -> 0 (ww), or a G-single with it.
    out = graph(2, (0, 1, WW), (0, 1, RW), (1, 0, WW))
    g0 = search(out, SPECS["G0"], Budget())
    single = search(out, SPECS["G-single"], Budget())
    assert g0 is not None
    assert single is not None
    assert sorted(g0.rels) == [WW, WW]
    assert sorted(single.rels) == [WW, RW]


def test_variants_need_their_edge() -> None:
    out = graph(3, (0, 1, WW), (1, 2, PROCESS), (2, 0, WR))
    assert search(out, SPECS["G0"], Budget()) is None
    found = search(out, SPECS["G1c-process"], Budget())
    assert found is not None
    assert classify(found.rels) == "G1c-process"
    assert search(out, SPECS["G1c-realtime"], Budget()) is None


def test_budget_runs_out() -> None:
    # Many G2-item cycles, no G-single: a tiny budget cannot rule G-single out.
    n = 50
    edges = [(i, (i + 1) % n, RW) for i in range(n)] + [(i, (i + 2) % n, RW) for i in range(n)]
    out = graph(n, *edges)
    budget = Budget(20)
    assert search(out, SPECS["G-single"], budget) is None
    assert budget.spent
    fallback = any_cycle(out)
    assert fallback is not None
    assert classify(fallback.rels) == "G2-item"


def _txns(n: int) -> list[Txn]:
    txns = []
    for i in range(n):
        inv, comp = Op("invoke", i, "txn", [], 0, 2 * i), Op("ok", i, "txn", [], 0, 2 * i + 1)
        txns.append(Txn(i, "ok", i, inv, comp, [], i, n + i))
    return txns


def test_a_search_out_of_budget_is_unknown_with_a_fallback_cycle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Elle's cycle-search-timeout: the verdict says unknown unless a forbidden anomaly was
    found, and some cycle of the component is still reported (as Elle's fallback is)."""
    monkeypatch.setattr("checker.elle.cycles.STEP_BUDGET", 3)
    n = 30

    def why(a: Txn, b: Txn, rel: int) -> tuple[dict[str, object], object]:
        return {"type": "rw"}, lambda x, y: f"{x} before {y}"

    res = judge(
        Inference("test", _txns(n), _rw_ring(n), Cases(), why),  # type: ignore[arg-type]
        ["serializable"],
    )
    assert res["anomaly_counts"]["cycle-search-timeout"] == 1
    (timeout,) = res["anomalies"]["cycle-search-timeout"]
    assert timeout["scc-size"] == n
    assert res["valid"] is False  # the fallback cycle is a G2-item, which serializable forbids
    assert "G2-item" in res["anomaly-types"]
    assert res["anomalies"]["G2-item"][0]["shortest"] is False
    read_committed = judge(
        Inference("test", _txns(n), _rw_ring(n), Cases(), why),  # type: ignore[arg-type]
        ["read-committed"],
    )
    assert read_committed["valid"] == "unknown"
    assert "ran out of its budget in 1 component" in read_committed["reason"]


def _rw_ring(n: int) -> DepGraph:
    dep = DepGraph(n)
    for i in range(n):
        dep.link(i, (i + 1) % n, RW)
        dep.link(i, (i + 3) % n, RW)
    return dep
