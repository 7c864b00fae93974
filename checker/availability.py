"""Availability: the fraction of client operations that ended `ok`, overall, per `f` and per
phase.

Phases: `healthy` (no fault active when the operation was invoked), `faulted` (some fault
active, worked out from the nemesis operations in the history with the fault-kind table,
`checker.fault_kinds`, or the op's own `phase` field where the recorder sets one) and `final`
(the final operations, `extra={"final": True}`). A fault counts from its invocation (it may
already be in effect), a heal from its `ok`; the orchestrator's final heal mends everything.

Availability is not a safety property: by default the checker only reports, and is valid if any
operation succeeded; a run in which not one did is invalid (the system never made progress, not
even healed). With `min_ok_fraction` the overall fraction must reach it. Operations that never
completed count as `info`. No client operation at all: unknown.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from checker.fault_kinds import breaks, heals
from checker.history import Op, client_ops, pair
from checker.result import UNKNOWN, Validity, result

HEADLINE = ("ok_fraction",)


def availability(history: Sequence[Op], *, min_ok_fraction: float | None = None) -> dict[str, Any]:
    """The fraction of client operations that succeeded, overall, per f and per phase."""
    if min_ok_fraction is not None and not 0.0 <= min_ok_fraction <= 1.0:
        raise ValueError(f"min_ok_fraction must be from 0 to 1, not {min_ok_fraction!r}")
    phases = _phases(history)
    total: Counter[str] = Counter()
    by_f: dict[str, Counter[str]] = defaultdict(Counter)
    by_phase: dict[str, Counter[str]] = defaultdict(Counter)
    for inv, comp in pair(client_ops(history)):
        outcome = "info" if comp is None else comp.type
        for counter in (total, by_f[inv.f], by_phase[phases[id(inv)]]):
            counter[outcome] += 1
    n = sum(total.values())
    valid: Validity
    if n == 0:
        valid = UNKNOWN
    elif min_ok_fraction is None:
        valid = total["ok"] > 0
    else:
        valid = total["ok"] / n >= min_ok_fraction
    return result(
        "availability",
        valid,
        headline=HEADLINE,
        **_summary(total),
        min_ok_fraction=min_ok_fraction,
        by_f={k: _summary(v) for k, v in sorted(by_f.items())},
        by_phase={k: _summary(v) for k, v in sorted(by_phase.items())},
    )


def _phases(history: Sequence[Op]) -> dict[int, str]:
    """id(invocation) -> `healthy`, `faulted` or `final`, from the nemesis operations before it.

    What is broken is a set of conditions (`checker.fault_kinds.CONDITIONS`): a fault's
    invocation adds the condition it breaks, a heal's `ok` removes those it mends, and a
    fault that failed (`fail`: it did nothing) takes back what its invocation added.
    """
    active: set[str] = set()
    phases: dict[int, str] = {}
    opened: str | None = None  # the condition the pending nemesis invocation newly broke
    for op in history:
        if op.process == "nemesis":
            if op.type == "invoke":
                condition = breaks(op.f, op.value)
                opened = condition if condition not in active else None
                if condition is not None:
                    active.add(condition)
            elif op.type == "ok":
                active -= heals(op.f, op.value)
            elif op.type == "fail" and opened is not None:
                active.discard(opened)  # it did nothing (no leader found): nothing broke
        elif op.type == "invoke":
            if op.extra.get("final"):
                phases[id(op)] = "final"
            elif isinstance(op.extra.get("phase"), str):
                phases[id(op)] = op.extra["phase"]
            else:
                phases[id(op)] = "faulted" if active else "healthy"
    return phases


def _summary(c: Counter[str]) -> dict[str, Any]:
    n = sum(c.values())
    return {
        "count": n,
        "ok_count": c["ok"],
        "fail_count": c["fail"],
        "info_count": c["info"],
        "ok_fraction": round(c["ok"] / n, 4) if n else None,
    }
