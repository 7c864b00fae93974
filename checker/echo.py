"""Echo equality: every `ok` echo returned exactly what was sent (Maelstrom's echo workload).

`echo_equality(history)` pairs each `echo` invocation with its completion; an `ok` whose value
differs from the invocation's (a lost or altered payload) is invalid. Echoes that failed or
timed out are not judged; with no `ok` echo at all the answer is unknown, never true.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from checker.history import Op, client_ops, pair
from checker.result import LIST_LIMIT, UNKNOWN, Validity, result

HEADLINE = ("mismatched_count",)


def echo_equality(history: Sequence[Op]) -> dict[str, Any]:
    """Each `ok` echo's value equals its invocation's value."""
    checked = 0
    mismatched: list[dict[str, Any]] = []
    for inv, comp in pair(client_ops(history)):
        if inv.f != "echo" or comp is None or comp.type != "ok":
            continue
        checked += 1
        if comp.value != inv.value:
            mismatched.append({"index": comp.index, "sent": inv.value, "received": comp.value})
    valid: Validity = UNKNOWN if not checked else not mismatched
    return result(
        "echo",
        valid,
        headline=HEADLINE,
        ok_count=checked,
        mismatched_count=len(mismatched),
        mismatched=mismatched[:LIST_LIMIT],
    )
