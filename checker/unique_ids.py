"""Unique ids: no id was handed out by two `ok` generates (Jepsen's unique-ids checker).

`unique_ids(history, f="generate")` counts the attempted and acknowledged generates and lists
the ids acknowledged more than once. Ids are any JSON value; two ids are the same when their
canonical JSON is. The `range` is [min, max] when every id is a number, as Jepsen reports it.
A generate that failed or timed out hands out nothing; with no acknowledged id the answer is
unknown.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from checker.history import Op, client_ops, pair
from checker.result import LIST_LIMIT, UNKNOWN, Validity, result

HEADLINE = ("duplicated_count",)


def unique_ids(history: Sequence[Op], *, f: str = "generate") -> dict[str, Any]:
    """No id handed out twice among the `ok` generates."""
    attempted = 0
    by_id: dict[str, list[int]] = defaultdict(list)
    values: dict[str, Any] = {}
    for inv, comp in pair(client_ops(history)):
        if inv.f != f:
            continue
        attempted += 1
        if comp is None or comp.type != "ok":
            continue
        key = json.dumps(comp.value, sort_keys=True)
        by_id[key].append(comp.index)
        values[key] = comp.value
    acknowledged = sum(len(v) for v in by_id.values())
    duplicated = [
        {"id": values[k], "count": len(v), "indices": v[:LIST_LIMIT]}
        for k, v in by_id.items()
        if len(v) > 1
    ]
    valid: Validity = UNKNOWN if not acknowledged else not duplicated
    return result(
        "unique-ids",
        valid,
        headline=HEADLINE,
        attempted_count=attempted,
        acknowledged_count=acknowledged,
        duplicated_count=len(duplicated),
        duplicated=duplicated[:LIST_LIMIT],
        range=_range(values.values()),
    )


def _range(ids: Any) -> list[Any] | None:
    """[min, max] of the ids when they are all numbers, which is how Jepsen reports them."""
    numbers = [v for v in ids if isinstance(v, int | float) and not isinstance(v, bool)]
    return [min(numbers), max(numbers)] if numbers else None
