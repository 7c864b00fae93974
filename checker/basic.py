"""Small checkers: echo equality, unique ids, availability, final reads, well-formed replies.

Each takes a history (a list of `Op`, nemesis operations included; they are ignored where they
do not matter) and returns a `checker.result.result` dict. Each says `"unknown"` when there was
nothing to judge, never `True`.

- `echo_equality`: every `ok` echo returned exactly what was sent.
- `unique_ids`: no id was handed out by two `ok` generates (Jepsen's unique-ids). Ids are any
  JSON value; two ids are the same when their canonical JSON is.
- `availability`: the fraction of client operations that ended `ok`, overall, per `f`, and
  per phase: `healthy` (no fault active), `faulted` (a fault active when the operation was
  invoked, worked out from the nemesis operations in the history, or the op's own `phase`
  field where the recorder sets one) and `final` (the final operations). Availability is not a
  safety property: by default the checker only reports, and is valid if any operation
  succeeded; a run in which not one did is invalid (the system never made progress, not even
  healed). With `min_ok_fraction` the overall fraction must reach it.
- `final_reads`: every node answered a final read (`extra={"final": True}`) after healing:
  the healed system must make progress (STYLE.md, TigerBeetle's liveness phase). Unknown when
  the history has no final reads (an imported history, say).
- `well_formed_replies`: no node broke the protocol. Workloads record a reply of the wrong type
  or without its fields as an error string starting `MALFORMED_REPLY`; any such is invalid.

Operations that never completed count as `info`: they may have happened.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from checker.history import Op, client_ops, pair
from checker.result import UNKNOWN, Validity, result

MALFORMED_REPLY = "malformed reply"
LIST_LIMIT = 20  # examples listed in a result; counts are always exact

# How nemesis operations change what is broken (see chaos/nemesis.py): kind -> what heals it.
_FAULT_KINDS = {
    "partition": "network",
    "link": "network",
    "kill": "down",
    "stop": "down",
    "pause": "paused",
    "clock": "clock",
}
_HEALS = {"heal": {"network"}, "restart": {"down"}, "resume": {"paused"}}


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
        ok_count=checked,
        mismatched_count=len(mismatched),
        mismatched=mismatched[:LIST_LIMIT],
    )


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
        attempted_count=attempted,
        acknowledged_count=acknowledged,
        duplicated_count=len(duplicated),
        duplicated=duplicated[:LIST_LIMIT],
        range=_range(values.values()),
    )


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
        **_summary(total),
        min_ok_fraction=min_ok_fraction,
        by_f={k: _summary(v) for k, v in sorted(by_f.items())},
        by_phase={k: _summary(v) for k, v in sorted(by_phase.items())},
    )


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
        attempt_count=sum(attempts.values()),
        nodes_answered=sorted(answered),
        nodes_missing=missing,
    )


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
        completion_count=completions,
        malformed_count=len(bad),
        malformed=bad[:LIST_LIMIT],
    )


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
        return result("faults", UNKNOWN, reason="a fault could not be applied", **details)
    if "partition" in kinds and lost == 0:
        return result("faults", UNKNOWN,
                      reason="partitions were applied but no message was lost to them; the run "
                             "tested nothing about them (raise the rate or the fault's length)",
                      **details)
    lossy = any(rule.get("drop_probability")
                for op in applied if op.f == "link" and isinstance(op.value, dict)
                for rule in op.value.get("faults", []) if isinstance(rule, dict))
    if lossy and int(proxy_stats.get("dropped", 0)) == 0:
        return result("faults", UNKNOWN,
                      reason="lossy links were applied but no message was dropped; the run "
                             "tested nothing about them (raise the rate or the fault's length)",
                      **details)
    return result("faults", True, **details)


def _phases(history: Sequence[Op]) -> dict[int, str]:
    """id(invocation) -> `healthy`, `faulted` or `final`, from the nemesis operations before it.

    A fault counts from its invocation (it may already be in effect), a heal from its `ok`.
    """
    active: set[str] = set()
    phases: dict[int, str] = {}
    for op in history:
        if op.process == "nemesis":
            is_fault = op.f in _FAULT_KINDS and not (op.f == "clock" and _is_clock_reset(op))
            if op.type == "invoke" and is_fault:
                active.add(_FAULT_KINDS[op.f])
            elif op.type == "ok":
                if op.f == "heal" and isinstance(op.value, dict) and op.value.get("final"):
                    active.clear()  # the orchestrator's heal-everything at the end of faults
                elif op.f == "clock" and _is_clock_reset(op):
                    active.discard("clock")
                else:
                    active -= _HEALS.get(op.f, set())
        elif op.type == "invoke":
            if op.extra.get("final"):
                phases[id(op)] = "final"
            elif isinstance(op.extra.get("phase"), str):
                phases[id(op)] = op.extra["phase"]
            else:
                phases[id(op)] = "faulted" if active else "healthy"
    return phases


def _is_clock_reset(op: Op) -> bool:
    v = op.value if isinstance(op.value, dict) else {}
    return v.get("offset_ms", 0) == 0 and v.get("rate", 1) == 1


def _summary(c: Counter[str]) -> dict[str, Any]:
    n = sum(c.values())
    return {
        "count": n,
        "ok_count": c["ok"],
        "fail_count": c["fail"],
        "info_count": c["info"],
        "ok_fraction": round(c["ok"] / n, 4) if n else None,
    }


def _range(ids: Any) -> list[Any] | None:
    """[min, max] of the ids when they are all numbers, which is how Jepsen reports them."""
    numbers = [v for v in ids if isinstance(v, int | float) and not isinstance(v, bool)]
    return [min(numbers), max(numbers)] if numbers else None
