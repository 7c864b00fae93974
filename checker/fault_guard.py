"""The fault guard: a run whose faults changed nothing proved nothing (STYLE.md, habit 8).

    faults_effective(ops, proxy_stats)   # {"checker": "faults", "valid": True | "unknown", ...}

It reads the nemesis operations of a history and answers unknown, with a `reason` saying what
to change, when a fault could not be applied (`info`: it may have half happened), when every
attempt at a kind of fault failed (`fail`: nothing was done, e.g. a leader kill that found no
leader, each time), or when a fault that should cost messages cost none. One failed attempt
among several that worked is not vacuous: the others tested it. Otherwise it is valid. It
never says invalid: the system under test did nothing wrong; the run was vacuous.

Each fault window is judged on its own. The nemesis records, in the completion of the operation
that ends a network fault (the heal, the fault replacing it, or the final heal), the window's
`windows` entry: which fault (`fault_index`, its `ok` operation), when (`start_ns`, `end_ns`)
and the messages it cost (`partitioned`, `dropped`, `received`: deltas of the network's
counters over the window; see `chaos.nemesis`). Every partition window must have lost at least
one message to the grudge, and every lossy link window (some rule with a `drop_probability`)
must have dropped one: judged over the whole run, a 2 ms partition after a harness stall hides
behind the messages the other partitions cost. The reason names the first vacuous window
(its number among the judged windows, the fault and its shape, the operation, its start and
end in seconds since the run started); `vacuous_windows` lists them.

A fault with no window record (an imported Jepsen history, a run recorded before windows, a
nemesis without counters) falls back to the whole run: partitions were applied and the
network's `proxy_stats` (`results.json` "proxy" or "network") show no message `partitioned`,
or lossy links and none `dropped`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from checker.fault_kinds import OBSERVATIONS
from checker.history import Op
from checker.result import LIST_LIMIT, UNKNOWN, result

HEADLINE = ("reason",)
# What each judged kind of fault window must have cost: the counter that must have grown.
COST_OF = {"partition": "partitioned", "lossy link": "dropped"}
ADVICE = "the run tested nothing about it (raise the rate or the fault's length)"


def faults_effective(ops: Sequence[Op], proxy_stats: Mapping[str, Any]) -> dict[str, Any]:
    """Guard against a vacuous run: every planned fault was applied, and every partition or
    lossy link window actually cost messages. A fault that changed nothing proves nothing:
    unknown.

    `proxy_stats` are the network's counters at the end of the run, for faults whose windows
    the history does not record.
    """
    nemesis = [op for op in ops if op.process == "nemesis" and op.f not in OBSERVATIONS]
    applied = [op for op in nemesis if op.type == "ok"]
    failed = [op for op in nemesis if op.type == "info"]
    kinds = {op.f for op in applied}
    recorded = _windows(applied)
    judged: list[dict[str, Any]] = []
    unmeasured: set[str] = set()  # kinds of fault with some window not recorded
    for op in applied:
        kind = _judged_kind(op)
        if kind is None:
            continue
        window = recorded.get(op.index)
        if window is None:
            unmeasured.add(kind)
            continue
        judged.append(_describe(len(judged) + 1, kind, op, window))
    vacuous = [w for w in judged if w["cost"] <= 0]
    details = {"applied": len(applied), "failed": len(failed), "kinds": sorted(kinds),
               "windows_judged": len(judged), "vacuous_window_count": len(vacuous),
               "vacuous_windows": vacuous[:LIST_LIMIT],
               "messages_partitioned": proxy_stats.get("partitioned", 0),
               "messages_dropped": proxy_stats.get("dropped", 0)}
    if failed:
        return result("faults", UNKNOWN, headline=HEADLINE,
                      reason="a fault could not be applied", **details)
    refused = sorted({op.f for op in nemesis if op.type == "fail"} - kinds)
    if refused:  # e.g. every leader kill found no leader: nothing of that kind happened
        return result("faults", UNKNOWN, headline=HEADLINE, **details,
                      reason=f"every {refused[0]} of the run failed (nothing was done: no "
                             "leader found, or its target was already down); the run tested "
                             "nothing about it")
    if vacuous:
        first = vacuous[0]
        more = len(vacuous) - 1
        return result("faults", UNKNOWN, headline=HEADLINE, **details,
                      reason=f"{_name(first)} {_lost_nothing(first)}"
                             f"{f' (and {more} more such windows)' if more else ''}; {ADVICE}")
    lost = int(proxy_stats.get("partitioned", 0)) + int(proxy_stats.get("dropped", 0))
    if "partition" in unmeasured and lost == 0:
        return result("faults", UNKNOWN, headline=HEADLINE,
                      reason="partitions were applied but no message was lost to them; the run "
                             "tested nothing about them (raise the rate or the fault's length)",
                      **details)
    if "lossy link" in unmeasured and int(proxy_stats.get("dropped", 0)) == 0:
        return result("faults", UNKNOWN, headline=HEADLINE,
                      reason="lossy links were applied but no message was dropped; the run "
                             "tested nothing about them (raise the rate or the fault's length)",
                      **details)
    return result("faults", True, headline=HEADLINE, **details)


def _windows(applied: Sequence[Op]) -> dict[int, Mapping[str, Any]]:
    """fault_index -> its window, from the `windows` of the operations that closed them."""
    found: dict[int, Mapping[str, Any]] = {}
    for op in applied:
        windows = op.extra.get("windows")
        if not isinstance(windows, list):
            continue
        for window in windows:
            if isinstance(window, Mapping) and isinstance(window.get("fault_index"), int):
                found[window["fault_index"]] = window
    return found


def _judged_kind(op: Op) -> str | None:
    """`partition`, `lossy link`, or None for a fault whose window is not judged by messages."""
    if op.f == "partition":
        return "partition"
    value = op.value if isinstance(op.value, Mapping) else {}
    rules = value.get("faults") if op.f == "link" else None
    if isinstance(rules, list) and any(isinstance(rule, Mapping) and rule.get("drop_probability")
                                       for rule in rules):
        return "lossy link"
    return None


def _describe(number: int, kind: str, op: Op, window: Mapping[str, Any]) -> dict[str, Any]:
    value = op.value if isinstance(op.value, Mapping) else {}
    label = str(value.get("shape", "")) if kind == "partition" else str(window.get("label", ""))
    start_ns = window.get("start_ns")
    end_ns = window.get("end_ns")
    return {"window": number, "fault": kind, "label": label, "fault_index": op.index,
            "start_s": _s(start_ns if isinstance(start_ns, int) else op.time),
            "end_s": _s(end_ns) if isinstance(end_ns, int) else None,
            "cost": _int(window.get(COST_OF[kind])),
            "received": _int(window.get("received"))}


def _name(w: Mapping[str, Any]) -> str:
    label = f" {w['label']}" if w["label"] else ""
    if w["end_s"] is None:
        when = f"from {w['start_s']:.3f} s"
    else:
        when = f"{w['start_s']:.3f}-{w['end_s']:.3f} s, {w['end_s'] - w['start_s']:.3g} s long"
    return f"fault window {w['window']} ({w['fault']}{label}, op {w['fault_index']}, {when})"


def _lost_nothing(w: Mapping[str, Any]) -> str:
    what = "lost no message to the partition" if w["fault"] == "partition" else "dropped nothing"
    n = w["received"]
    return f"{what} ({n} message{'' if n == 1 else 's'} reached the network meanwhile)"


def _int(x: Any) -> int:
    return int(x) if isinstance(x, int | float) else 0


def _s(time_ns: int) -> float:
    return round(time_ns / 1e9, 6)
