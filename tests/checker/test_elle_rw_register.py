"""The rw-register checker on literal histories: what can and cannot be inferred.

Notation after Elle's own tests (jepsen-io/elle test/elle/rw_register_test.clj): "wx1" writes
1 to x, "rx1" reads x = 1, "rx_" reads x = nil. Each transaction is on its own process, all
invoked before any completes (no real-time order), unless a test says otherwise.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from checker.elle import rw_register
from checker.history import Op


def txn(spec: str) -> list[list[Any]]:
    return [
        [f, k, None if v == "_" else int(v)] for f, k, v in re.findall(r"([rw])([a-z])(\d|_)", spec)
    ]


def concurrent(*specs: str | tuple[str, str]) -> list[Op]:
    done = [s if isinstance(s, tuple) else ("ok", s) for s in specs]
    ops = [
        Op("invoke", p, "txn", [[f, k, None if f == "r" else v] for f, k, v in txn(s)], 0)
        for p, (_, s) in enumerate(done)
    ]
    ops += [Op(kind, p, "txn", txn(s), 0) for p, (kind, s) in enumerate(done)]
    for i, op in enumerate(ops):
        op.index = op.time = i
    return ops


def check(ops: list[Op], *models: str, wfr_keys: bool = False) -> dict[str, Any]:
    return rw_register.check(ops, consistency_models=list(models) or None, wfr_keys=wfr_keys)


CASES = [
    # Elle's wr-graph-test "chain on one register": each read the other's write.
    ("G1c, one register", concurrent("rx0wx1", "rx1wx0"), ("read-committed",), False,
     ["G1c"], ["read-committed"], False),
    ("G1c, two registers", concurrent("rx0wy1", "ry1wx0"), ("read-committed",), False,
     ["G1c"], ["read-committed"], False),
    # Write skew: both read the initial state of both keys and wrote one each. The initial
    # state precedes every write, so each anti-depends on the other: G2-item.
    ("write skew", concurrent("rx_ry_wx1", "rx_ry_wy1"), ("serializable",), False,
     ["G2-item"], ["repeatable-read"], False),
    ("write skew allowed by snapshot isolation", concurrent("rx_ry_wx1", "rx_ry_wy1"),
     ("snapshot-isolation",), False, [], ["repeatable-read"], True),
    ("G-single", concurrent("wx1wy1", "rx1ry_"), ("serializable",), False,
     ["G-single"], ["consistent-view", "repeatable-read"], False),
    ("G1a", concurrent("rx2", ("fail", "wx2")), ("read-committed",), False,
     ["G1a", "empty-transaction-graph"], ["read-committed"], False),
    ("G1b", concurrent("wx1wx2", "rx1"), ("read-committed",), False,
     ["G1b", "empty-transaction-graph"], ["read-committed"], False),
    ("internal, stale", concurrent("rx1wx2rx1", "wx1"), ("serializable",), False,
     ["internal"], ["read-atomic"], False),
    # Elle leaves a nil read followed by another value alone; two reads must agree.
    ("internal, non-repeatable", concurrent("rx_rx5", "wx5"), ("serializable",), False,
     ["internal"], ["read-atomic"], False),
    ("lost update", concurrent("wx1", "rx1wx2", "rx1wx3"), ("serializable",), False,
     ["lost-update"], ["ROLA", "cursor-stability"], False),
    # Elle's G0 case: no version order is known, so the would-be write cycle is invisible.
    ("G0 unseen", concurrent("wx1wy2", "wx2wy1"), ("read-uncommitted",), False,
     ["empty-transaction-graph"], [], "unknown"),
    # With writes-follow-reads, T2 read x = 1 before writing 2 (1 < 2 on x), and T1 read
    # y = 2 before writing 1 (2 < 1 on y): a write cycle.
    ("G0 by writes-follow-reads", concurrent("ry2wx1wy1", "rx1wx2wy2"), ("read-uncommitted",),
     True, ["G0"], ["read-uncommitted"], False),
    ("cyclic versions", concurrent("rx2wx3", "rx3wx2"), ("read-uncommitted",), True,
     ["cyclic-versions"], ["read-uncommitted"], False),
]


@pytest.mark.parametrize(
    ("history", "models", "wfr", "types", "weakest", "valid"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_anomaly_detected_and_named(
    history: list[Op], models: tuple[str, ...], wfr: bool, types: list[str],
    weakest: list[str], valid: object,
) -> None:
    res = check(history, *models, wfr_keys=wfr)
    assert res["anomaly-types"] == types
    assert res["not"] == weakest
    assert res["valid"] == valid
    json.dumps(res)


def test_write_skew_explained() -> None:
    res = check(concurrent("rx_ry_wx1", "rx_ry_wy1"), "serializable")
    (cycle,) = res["anomalies"]["G2-item"]
    text = cycle["explanation"]
    assert 'because T1 read "y" = nil, its initial state, and T2 set it to 1.' in text
    assert 'because T2 read "x" = nil, its initial state, and T1 set it to 1: a contr' in text
    assert [s["type"] for s in cycle["steps"]] == ["rw", "rw"]


def test_wr_explained() -> None:
    res = check(concurrent("rx0wx1", "rx1wx0"), "read-committed")
    (cycle,) = res["anomalies"]["G1c"]
    assert 'T1 < T2, because T2 read "x" = 1, which T1 wrote.' in cycle["explanation"]


def test_info_writes_count_when_read() -> None:
    """An info transaction's write that was read committed: its wr edge is drawn."""
    res = check(concurrent(("info", "rx_wx1"), "rx1wy1", "ry1wz1"), "serializable")
    assert res["valid"] is True
    assert res["edge_counts"]["wr"] == 2


def test_info_reads_are_not_observations() -> None:
    """An info transaction's read of nil does not anti-depend on later writers."""
    res = check(concurrent(("info", "rx_wy1"), "ry1wx1"), "serializable")
    assert res["valid"] is True
    assert res["edge_counts"]["rw"] == 0


def test_realtime_stale_read() -> None:
    """A read of nil after a write of the key completed: G-single-realtime under strict
    serializability, fine under serializability."""
    ops = [
        Op("invoke", 0, "txn", [["w", "x", 1]], 0), Op("ok", 0, "txn", [["w", "x", 1]], 1),
        Op("invoke", 1, "txn", [["r", "x", None]], 2), Op("ok", 1, "txn", [["r", "x", None]], 3),
    ]
    for i, op in enumerate(ops):
        op.index = i
    assert check(ops, "serializable")["valid"] is True
    res = check(ops)
    assert res["anomaly-types"] == ["G-single-realtime"]
    assert res["not"] == ["strong-snapshot-isolation"]


@pytest.mark.parametrize(
    ("specs", "reason"),
    [
        (("wx1", "wx1"), 'value 1 is written to key "x" by both operation 0 and operation 1'),
        (("wx_",), 'operation 0 writes null to key "x"'),
    ],
)
def test_unjudgeable_writes_are_unknown(specs: tuple[str, ...], reason: str) -> None:
    res = check(concurrent(*specs))
    assert res["valid"] == "unknown"
    assert reason in res["reason"]
