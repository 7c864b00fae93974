"""Well-formed replies: no node broke the protocol.

A workload records a reply of the wrong type, or without its fields, as an operation whose
error string starts with `MALFORMED_REPLY` (`info`, or `fail` for a read). Such a reply is not
a fault the network could cause: the node sent garbage. `well_formed_replies(history)` is
invalid when any completion carries one, so a node cannot hide behind garbage; unknown when
nothing completed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from checker.history import Op, client_ops
from checker.result import LIST_LIMIT, UNKNOWN, Validity, result

MALFORMED_REPLY = "malformed reply"
HEADLINE = ("malformed_count",)


def well_formed_replies(history: Sequence[Op]) -> dict[str, Any]:
    """No completion records a reply that broke the protocol."""
    completions = 0
    bad: list[dict[str, Any]] = []
    for op in client_ops(history):
        if op.type == "invoke":
            continue
        completions += 1
        if isinstance(op.error, str) and op.error.startswith(MALFORMED_REPLY):
            bad.append({"index": op.index, "f": op.f, "node": op.node, "error": op.error})
    valid: Validity = UNKNOWN if not completions else not bad
    return result(
        "replies",
        valid,
        headline=HEADLINE,
        completion_count=completions,
        malformed_count=len(bad),
        malformed=bad[:LIST_LIMIT],
    )
