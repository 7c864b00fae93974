"""Linearizability: could every operation have taken effect at one instant inside its interval?

Use `check(ops, model, time_limit_s=10)` on a history (a list of `checker.history.Op`) and a
`checker.models.Model` (or a model's name); it returns a `checker.result.result(...)` dict
whose `valid` is `True`, `False`, or `"unknown"` when the time or memory budget ran out before
a verdict (never `True` on a guess). An invalid result carries a `failure` (see
`checker.explain`).

This module is the checker: it composes the search (`checker.search`: Wing and Gong's
depth-first search with Lowe's memoisation, as Porcupine's, split per key where the model
allows) and, for an invalid history, the explanation (`checker.explain`, which reruns the
failing key with Lowe's just-in-time breadth-first search). The search imports neither.

Our lin-kv histories (PROTOCOL.md) encode every operation per key, as Jepsen's `independent`
tuples: `f` is `read`, `write` or `cas`; the invocation's value is `[key, null]` for a read,
`[key, v]` for a write and `[key, [from, to]]` for a cas; an `ok` read completes with
`[key, v]`. A definite error (a read of an absent key, error 20; a cas whose compare failed,
error 22) completes `fail`, a timeout or indefinite error on a write or cas completes `info`.

Semantics, per source format (`semantics=`):
- `"knossos"`, for our `history.jsonl` and Jepsen's `history.edn`: a `fail` did not happen and is
  ignored; a read that completed with `nil` constrains nothing; a cas that completed `ok`
  succeeded.
- `"porcupine"`, for Porcupine's logs: a failed cas is an observation that the compare failed at
  some instant inside the operation (nothing was written); a failed read observed nothing; a read
  that completed with `nil` observed the register absent.
In both, `info` operations and never-completed invocations are open until the end.

The budget: `time_limit_s` bounds the wall time (None: no bound) and `memory_limit_mb` bounds
the configurations held at once (about 100 bytes each). When either runs out the answer is
`unknown`, with how far the search got per key.

Not done: models whose step is nondeterministic, and witness output for valid histories.
"""

from __future__ import annotations

import time
from typing import Any

from checker.explain import explain_failure
from checker.history import Op
from checker.models import Model, make
from checker.result import UNKNOWN, Validity, merge_valid, result
from checker.search import (
    BYTES_PER_CONFIG,
    SEMANTICS,
    entries_from_history,
    op_json,
    partition,
    run_keys,
    show_key,
)

__all__ = ["SEMANTICS", "check"]

# The fields `brief` shows for this checker: how much was judged, and which keys failed.
HEADLINE = ("op_count", "key_count", "failed_keys")


def check(
    ops: list[Op],
    model: Model | str,
    *,
    time_limit_s: float | None = 10.0,
    memory_limit_mb: float | None = 1024.0,
    semantics: str = "knossos",
    explain: bool = True,
) -> dict[str, Any]:
    """Check a history against a model (a `Model`, or a model name starting from nil).

    Returns a `checker.result` dict.
    `valid` is True, False, or "unknown" (budget ran out, or nothing to judge). Details:
    `model`, `semantics`, `op_count` (operations judged), `key_count`, `configs_explored`,
    `time_s`; when invalid `failure` (see `checker.explain.explain_failure`); when unknown
    `unknown` (why, and how far each unfinished key got). Raises `HistoryError` for a
    malformed history.
    """
    started = time.monotonic()
    if isinstance(model, str):
        model = make(model)
    deadline = None if time_limit_s is None else started + time_limit_s
    max_configs = None
    if memory_limit_mb is not None:
        max_configs = max(1000, int(memory_limit_mb * 1e6 / BYTES_PER_CONFIG))
    entries = entries_from_history(ops, model, semantics=semantics)
    groups = partition(entries, model)
    outcomes = run_keys(groups, model, deadline=deadline, max_configs=max_configs)
    verdicts: list[Validity] = [o.valid for o in outcomes.values()]
    explored = sum(o.configs_explored for o in outcomes.values())
    failures = [(k, o) for k, o in outcomes.items() if o.valid is False]
    unfinished: dict[str, Any] = {
        show_key(key): {
            "stopped_by": o.stopped_by,
            "returns_placed": o.events_done,
            "returns_total": o.events_total,
            "configs_explored": o.configs_explored,
        }
        for key, o in outcomes.items()
        if o.valid == UNKNOWN
    }
    if failures:
        verdicts = [False]  # the other keys were stopped early: one invalid key is enough
    valid = merge_valid(verdicts) if entries else UNKNOWN
    details: dict[str, Any] = {
        "model": model.name,
        "semantics": semantics,
        "op_count": len(entries),
        "key_count": len(groups) if entries else 0,
        "configs_explored": explored,
    }
    if not entries:
        details["unknown"] = {"reason": "nothing to judge: no operation the model understands"}
    elif unfinished and not failures:
        stopped = {u["stopped_by"] for u in unfinished.values()}
        details["unknown"] = {
            "reason": f"the {' and '.join(sorted(stopped))} budget ran out before a verdict",
            "keys_done": len(outcomes) - len(unfinished),
            "keys_unfinished": unfinished,
        }
    if failures:
        details["failed_keys"] = [show_key(k) for k, _ in failures]
        key, outcome = failures[0]
        if explain:
            budget_s = 5.0 if deadline is None else max(0.0, min(5.0, deadline - time.monotonic()))
            details["failure"] = explain_failure(
                groups[key], model, outcome, key=key, time_limit_s=budget_s
            )
        else:
            details["failure"] = {"key": show_key(key), "op": op_json(outcome.failed)}
    details["time_s"] = round(time.monotonic() - started, 6)
    return result("linearizability", valid, headline=HEADLINE, **details)
