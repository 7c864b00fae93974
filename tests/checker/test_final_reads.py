"""Final reads: every node answered a final read after healing."""

from __future__ import annotations

from typing import Any

import pytest
from rows import NODES, h, op

from checker.final_reads import final_reads
from checker.result import brief


def final(p: int, node: str, outcome: str = "ok") -> list:
    return op(p, "read", None, [1] if outcome == "ok" else None, outcome, final=True, node=node)


@pytest.mark.parametrize(
    ("rows", "valid", "missing"),
    [
        (final(0, "n1") + final(1, "n2") + final(2, "n3"), True, []),
        (final(0, "n1") + final(1, "n2", "fail") + final(2, "n2") + final(3, "n3"), True, []),
        (final(0, "n1") + final(1, "n2", "fail") + final(2, "n3"), False, ["n2"]),
        (final(0, "n1") + final(1, "n2"), False, ["n3"]),
        (op(0, "read", None, [1], node="n1"), "unknown", ["n1", "n2", "n3"]),
    ],
    ids=["all", "retried", "one-failed", "one-missing", "no-final-reads"],
)
def test_final_reads(rows: list, valid: Any, missing: list[str]) -> None:
    res = final_reads(h(*rows), node_ids=NODES)
    assert res["valid"] == valid
    assert res["nodes_missing"] == missing


def test_final_reads_headline_names_the_missing_nodes() -> None:
    res = final_reads(h(*final(0, "n1"), *final(1, "n2")), node_ids=NODES)
    assert brief(res) == "nodes_missing=['n3']"
