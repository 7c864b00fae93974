"""Well-formed replies: no node broke the protocol.

A workload records a reply that broke the protocol as an operation whose error string starts
with `MALFORMED_REPLY` (`info`, or `fail` for a read): a reply of the wrong type or without its
fields (from any node), or, from a stdio node, a stdout line that was not a message at all,
which its adapter reported in the reply's place (`node.stdio`; the error then names the node,
the stdout line number and the line, truncated). Such a reply is not a fault the network could
cause: the node sent garbage. `well_formed_replies(history)` is invalid when any completion
carries one, so a node cannot hide behind garbage; unknown when nothing completed. The result
counts them in all and per node (`malformed_by_node`), lists the first `LIST_LIMIT`, and its
headline shows the count, the nodes and the first one.

Not judged here, and said so in the result (`not_judged`): replies whose `in_reply_to`
matched no waiting request. A client drops those and counts them (`results.json` "counts":
`unmatched_replies`), since they are normal under faults: a reply that arrived after its
request timed out, or a copy the proxy duplicated on purpose. They are not in the history, and
a checker judges only the history.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from checker.history import Op, client_ops
from checker.result import LIST_LIMIT, UNKNOWN, Validity, result

MALFORMED_REPLY = "malformed reply"
HEADLINE = ("malformed_count", "malformed_by_node", "first_malformed")
NOT_JUDGED = (
    "replies whose in_reply_to matched no waiting request (late after a timeout, or duplicated "
    "by the proxy) are normal under faults: clients drop them and count them in results.json "
    "counts.unmatched_replies, they are not judged here"
)
EXAMPLE_CHARS = 240  # of the first malformed reply's error, in the headline


def well_formed_replies(history: Sequence[Op]) -> dict[str, Any]:
    """No completion records a reply that broke the protocol."""
    completions = 0
    bad: list[dict[str, Any]] = []
    by_node: Counter[str] = Counter()
    for op in client_ops(history):
        if op.type == "invoke":
            continue
        completions += 1
        if isinstance(op.error, str) and op.error.startswith(MALFORMED_REPLY):
            bad.append({"index": op.index, "f": op.f, "node": op.node, "error": op.error})
            by_node[str(op.node)] += 1
    valid: Validity = UNKNOWN if not completions else not bad
    first = None
    if bad:
        first = f"operation {bad[0]['index']} on {bad[0]['node']}: {bad[0]['error']}"
        if len(first) > EXAMPLE_CHARS:
            first = first[:EXAMPLE_CHARS] + "..."
    return result(
        "replies",
        valid,
        headline=HEADLINE,
        completion_count=completions,
        malformed_count=len(bad),
        malformed_by_node=dict(sorted(by_node.items())) or None,
        first_malformed=first,
        malformed=bad[:LIST_LIMIT],
        not_judged=NOT_JUDGED,
    )
