"""Final reads: after healing, every node answered a final read (the liveness phase).

Final operations (`extra={"final": True}`) run after every fault has healed and the recovery
phase has passed: the healed system must make progress (STYLE.md, TigerBeetle's liveness
phase). `final_reads(history, node_ids=..., f="read")` is invalid when some node answered none
of its final reads, and unknown when the history has no final reads (an imported history).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from checker.history import Op, client_ops, pair
from checker.result import UNKNOWN, Validity, result

HEADLINE = ("nodes_missing",)


def final_reads(
    history: Sequence[Op], *, node_ids: Sequence[str], f: str = "read"
) -> dict[str, Any]:
    """Every node answered at least one final read."""
    attempts: Counter[str] = Counter()
    answered: set[str] = set()
    for inv, comp in pair(client_ops(history)):
        if inv.f != f or not inv.extra.get("final"):
            continue
        node = inv.node if inv.node is not None else "?"
        attempts[node] += 1
        if comp is not None and comp.type == "ok":
            answered.add(node)
    missing = [n for n in node_ids if n not in answered]
    valid: Validity = UNKNOWN if not attempts else not missing
    return result(
        "final-reads",
        valid,
        headline=HEADLINE,
        attempt_count=sum(attempts.values()),
        nodes_answered=sorted(answered),
        nodes_missing=missing,
    )
