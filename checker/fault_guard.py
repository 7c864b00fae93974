"""The fault guard: a run whose faults changed nothing proved nothing (STYLE.md, habit 8).

`faults_effective(ops, proxy_stats)` reads the nemesis operations of a history and the proxy's
counters at the end of the run (`results.json` "proxy": messages `partitioned` and `dropped`)
and answers unknown, with a `reason` saying what to change, when a fault could not be applied,
when partitions were applied but no message was lost to them, or when lossy links were applied
but dropped nothing. Otherwise it is valid. It never says invalid: the system under test did
nothing wrong; the run was vacuous.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from checker.history import Op
from checker.result import UNKNOWN, result

HEADLINE = ("reason",)


def faults_effective(ops: Sequence[Op], proxy_stats: Mapping[str, Any]) -> dict[str, Any]:
    """Guard against a vacuous run: every planned fault was applied, and a partition or a
    lossy link actually cost messages. A fault that changed nothing proves nothing: unknown.

    `proxy_stats` are the proxy's counters at the end of the run (`results.json` "proxy").
    """
    nemesis = [op for op in ops if op.process == "nemesis"]
    applied = [op for op in nemesis if op.type == "ok"]
    failed = [op for op in nemesis if op.type == "info"]
    kinds = {op.f for op in applied}
    lost = int(proxy_stats.get("partitioned", 0)) + int(proxy_stats.get("dropped", 0))
    details = {"applied": len(applied), "failed": len(failed), "kinds": sorted(kinds),
               "messages_partitioned": proxy_stats.get("partitioned", 0),
               "messages_dropped": proxy_stats.get("dropped", 0)}
    if failed:
        return result("faults", UNKNOWN, headline=HEADLINE,
                      reason="a fault could not be applied", **details)
    if "partition" in kinds and lost == 0:
        return result("faults", UNKNOWN, headline=HEADLINE,
                      reason="partitions were applied but no message was lost to them; the run "
                             "tested nothing about them (raise the rate or the fault's length)",
                      **details)
    lossy = any(rule.get("drop_probability")
                for op in applied if op.f == "link" and isinstance(op.value, dict)
                for rule in op.value.get("faults", []) if isinstance(rule, dict))
    if lossy and int(proxy_stats.get("dropped", 0)) == 0:
        return result("faults", UNKNOWN, headline=HEADLINE,
                      reason="lossy links were applied but no message was dropped; the run "
                             "tested nothing about them (raise the rate or the fault's length)",
                      **details)
    return result("faults", True, headline=HEADLINE, **details)
