"""The stall guard: a run during which the harness itself stalled proves nothing either way.

    stalls(ops)                      # {"checker": "stalls", "valid": True | "unknown", ...}
    stalls(ops, threshold_s=0.5)

Two records in a history say the harness was not keeping time:
- a `stall` operation of the `nemesis` process (`chaos.watchdog`): the orchestrator's timer woke
  `slip_s` seconds later than it should have, so clients and nemesis were frozen that long;
- a nemesis step that began more than `threshold_s` after it was due (`late_s`, recorded by
  `chaos.nemesis.Nemesis.run_schedule` with the step's `planned_at_s`), when the lateness is
  not explained by the nemesis's previous operation still running then. Its due time is its
  invocation's `time` minus `late_s`; if the previous operation completed after that, the step
  waited for it (a restart that took long: the pace of the system under test, reported as
  `overrun_steps` but not held against the run) and only the time since is slip.

Either makes the result unknown, with a `reason` naming the first stall (when, how long) and
the count: the faults did not run as planned (a partition cut short to 2 ms), and timeouts
around the stall are the harness's, not the nodes'. It is never invalid: the system under test
did nothing wrong. A history with neither record (a simulated run, which runs on virtual time
and never stalls; an imported Jepsen history) is valid here: this guard only vouches that no
stall was seen, and the other checkers judge whether there was anything to check.

A stall is unknown (exit 3), not a harness failure (exit 4): the run completed and its history
is sound; only whether its faults and timeouts meant what they should is in doubt.

Pure: reads only the history.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from checker.fault_kinds import OBSERVATIONS, STALL
from checker.history import Op
from checker.result import LIST_LIMIT, UNKNOWN, result

HEADLINE = ("stall_count", "late_step_count")
# A timer slip above this is a stall (`chaos.watchdog` records with it by default, and a
# nemesis step later than this is judged late). Loaded machines slip by milliseconds, and a
# second is long next to the request timeouts and fault windows of a run.
STALL_THRESHOLD_S = 1.0


def stalls(ops: Sequence[Op], *, threshold_s: float = STALL_THRESHOLD_S) -> dict[str, Any]:
    """Unknown if the harness stalled (a `stall` record, or a nemesis step applied late by
    more than `threshold_s`), else valid."""
    found: list[dict[str, Any]] = []
    late: list[dict[str, Any]] = []
    overruns: list[dict[str, Any]] = []
    previous_end_ns: int | None = None  # completion of the nemesis's previous operation
    for op in ops:
        if op.process != "nemesis":
            continue
        if op.f == STALL:
            if op.type == "invoke":
                found.append(_stall(op))
            continue
        if op.f in OBSERVATIONS:
            continue
        if op.type != "invoke":
            previous_end_ns = op.time
            continue
        late_s = op.extra.get("late_s")
        if not isinstance(late_s, int | float) or late_s <= threshold_s:
            continue
        due_ns = op.time - round(late_s * 1e9)
        slip_s = (op.time - max(due_ns, previous_end_ns or due_ns)) / 1e9
        entry = {"index": op.index, "f": op.f, "at_s": _s(op.time), "late_s": late_s,
                 "planned_at_s": op.extra.get("planned_at_s"), "slip_s": round(slip_s, 6)}
        (late if slip_s > threshold_s else overruns).append(entry)
    details: dict[str, Any] = {"threshold_s": threshold_s, "stall_count": len(found),
                               "late_step_count": len(late), "stalls": found[:LIST_LIMIT],
                               "late_steps": late[:LIST_LIMIT]}
    if overruns:
        details["overrun_steps"] = overruns[:LIST_LIMIT]
    if found:
        first = found[0]
        reason = (f"the harness stalled for {first['slept_s']:.2f} s until {first['at_s']:.3f} s "
                  f"(op {first['index']}){_more(len(found) - 1, 'stall')}")
    elif late:
        first = late[0]
        reason = (f"nemesis step {first['f']} (op {first['index']}) began {first['late_s']:.2f} s "
                  f"after it was due, at {first['at_s']:.3f} s{_more(len(late) - 1, 'late step')}")
    else:
        return result("stalls", True, headline=HEADLINE, **details)
    return result("stalls", UNKNOWN, headline=HEADLINE, **details,
                  reason=f"{reason}: faults and timeouts around it did not run as planned, so "
                         "the run proves nothing (rerun on a less loaded machine)")


def _stall(op: Op) -> dict[str, Any]:
    value = op.value if isinstance(op.value, dict) else {}
    slip_s = value.get("slip_s")
    slept_s = value.get("slept_s", slip_s)
    return {"index": op.index, "at_s": _s(op.time), "slip_s": slip_s,
            "slept_s": slept_s if isinstance(slept_s, int | float) else 0.0}


def _s(time_ns: int) -> float:
    return round(time_ns / 1e9, 6)


def _more(n: int, noun: str) -> str:
    return "" if n == 0 else f", and {n} more {noun}{'s' if n > 1 else ''}"
