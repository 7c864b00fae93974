"""Judging a run: one function for `chaos run` and `chaos check RUN_DIR` alike.

    judge(ops, workload=w, node_ids=["n1", "n2"], network=proxy_stats)   # a run just ended
    judge_run(run_dir / "history.jsonl", ops, run_info)                   # a stored run

`judge` is the workload's own checkers (`workload.check`) plus the fault guard
(`faults_effective`: a fault that cost no message proves nothing, so it makes the verdict
unknown), the network's messages per operation as Maelstrom reports them (`net`, always
valid), availability against the run's `availability` when it set one (Maelstrom's
`--availability`), and, when the nodes' logs (`nodes/<id>.log`, `checker.elections.load_node_logs`)
hold Raft role changes, election safety (`checker.elections`: never two leaders in a term),
composed with `checker.result.compose` (false > unknown > true). `network` is the
proxy's counters at the end of the run, or the simulated network's (the same keys:
`delivered`, `dropped`, `partitioned`, ...); None when they are not known, and then the guard
is left out rather than guessed.

`judge_run` rebuilds a stored run's workload from its `run.json`, reads the network counters
from its `results.json` ("proxy", or "network" for a simulated run), and calls `judge`. A run
that did not finish (no exit code in `run.json`, exit 4 or 130, or no final reads in a history
whose workload has them) is judged `unknown`, with the reason, unless an anomaly is certain
regardless: reads made during a partition are not final reads, and an element they miss is not
lost; but a duplicate id, a non-linearizable history or a read of a value never written stays
an anomaly however the run ended (DESIGN.md, non-negotiables).

Pure: no trio, no zmq, no processes; `scenarios.workloads` are pure too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from checker.availability import availability as check_availability
from checker.elections import elections, load_node_logs
from checker.fault_guard import faults_effective
from checker.history import Op
from checker.net_stats import net_stats
from checker.result import UNKNOWN, compose
from checker.stalls import stalls
from scenarios.workload import Workload
from scenarios.workloads import get_workload

# Exit codes of runs that did not reach their verdict: the harness failed, or was interrupted.
UNFINISHED_EXIT_CODES = (4, 130)
# Checkers whose `false` rests on the run having reached its end (final reads after healing).
NEEDS_THE_END = frozenset({"final-reads", "availability"})


def judge(
    ops: Sequence[Op],
    *,
    workload: Workload,
    node_ids: Iterable[str],
    network: Mapping[str, Any] | None,
    node_logs: Sequence[Mapping[str, Any]] | None = None,
    availability: float | None = None,
) -> dict[str, Any]:
    """The workload's checkers, the fault guard and, when the nodes logged Raft roles, election
    safety (its last leaderless interval closed at the history's last operation), composed
    into one result."""
    node_ids = list(node_ids)
    checked = workload.check(list(ops), node_ids=node_ids)
    named = dict(checked["results"])
    if availability is not None:  # the run asked for it (`--availability`, Maelstrom's)
        named["availability"] = check_availability(ops, min_ok_fraction=availability)
    if network is not None:  # a run of ours, not an imported history: judge its faults
        named["faults"] = faults_effective(ops, network)
        named["stalls"] = stalls(ops)
        if network.get("links"):  # Maelstrom's message statistics (always valid)
            named["net"] = net_stats(ops, network, node_ids)
    if node_logs and any(r.get("event") == "raft_role" for r in node_logs):
        end_ns = max((op.time for op in ops), default=None)
        named["election-safety"] = elections(node_logs, end_ns=end_ns)
    return compose(named)


def judge_run(history_path: Path, ops: Sequence[Op], run_info: Mapping[str, Any]) -> dict[str, Any]:
    """Judge a stored run exactly as `chaos run` did; `unknown` if it did not finish.

    Raises ValueError (one line, with what to do) when the run's workload cannot be rebuilt.
    """
    run_dir = Path(history_path).parent
    try:
        workload = get_workload(run_info["workload"], **dict(run_info.get("workload_params") or {}))
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(
            f"{run_dir / 'run.json'}: cannot rebuild the run's workload ({e}); pass --model to "
            "check linearizability against a model instead"
        ) from None
    node_ids = [str(n) for n in run_info.get("nodes") or []]
    node_logs, _ = load_node_logs(run_dir)
    required = run_info.get("availability")
    judged = judge(ops, workload=workload, node_ids=node_ids,
                   availability=(float(required) if isinstance(required, int | float)
                                 and not isinstance(required, bool) else None),
                   network=network_counters(run_dir / "results.json"), node_logs=node_logs)
    reason = unfinished_reason(run_info, ops, has_final_ops=bool(workload.final_ops(node_ids)))
    return judged if reason is None else as_unfinished(judged, reason)


def network_counters(results_path: Path) -> dict[str, Any] | None:
    """The proxy's (or simulated network's) counters from a run's `results.json`, if any."""
    try:
        results = json.loads(results_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(results, dict):
        return None
    for key in ("proxy", "network"):
        if isinstance(results.get(key), dict):
            counters: dict[str, Any] = results[key]
            return counters
    return None


def unfinished_reason(
    run_info: Mapping[str, Any], ops: Sequence[Op], *, has_final_ops: bool
) -> str | None:
    """Why the run did not reach its end, or None if it did."""
    if "exit_code" not in run_info or run_info["exit_code"] is None:
        return "the run did not finish (run.json has no exit code: it was killed, or runs still)"
    code = run_info["exit_code"]
    if code in UNFINISHED_EXIT_CODES:
        how = "was interrupted" if code == 130 else "ended in a harness failure"
        return f"the run {how} (exit {code}) before its final reads"
    if has_final_ops and not any(op.extra.get("final") for op in ops if op.process != "nemesis"):
        return "the history has no final reads: the run did not reach its end"
    return None


def is_certain(name: str, result: Mapping[str, Any]) -> bool:
    """Is this invalid result an anomaly whatever happened after the history ends?"""
    if name in NEEDS_THE_END:
        return False
    if result.get("checker") == "set-full":  # "lost" needs final reads; these do not
        return bool(result.get("unexpected_count") or result.get("failed_but_read_count"))
    return True


def as_unfinished(judged: Mapping[str, Any], reason: str) -> dict[str, Any]:
    """An unfinished run's verdict: invalid only for certain anomalies, else unknown."""
    results: dict[str, dict[str, Any]] = {}
    for name, r in judged["results"].items():
        if r.get("valid") is False and not is_certain(name, r):
            r = {**r, "valid": UNKNOWN, "reason": f"{reason}; not judged invalid without it"}
        results[name] = dict(r)
    composed = compose(results)
    if composed["valid"] is not False:
        composed["valid"] = UNKNOWN
        composed["reason"] = reason
    else:
        composed["reason"] = f"{reason}, but an anomaly is certain regardless"
    composed["unfinished"] = reason
    return composed
