"""`results.json`, versioned: what a run's verdict file holds, for people and for programs.

    results = describe(judged, run_info=run_info, ops=ops)   # before writing results.json

The schema is documented in docs/results.md; `SCHEMA_VERSION` changes when a field changes
meaning or goes away (adding a field does not change it: readers ignore what they do not know).
Version 1 holds:

- `schema` (`"chaos-cluster/results"`) and `schema_version` (1);
- `valid` (`true`, `false` or `"unknown"`) and `results`: each checker's result under its name,
  with `checker`, `valid`, `headline` (the fields that summarise it) and its own details;
- `run`: the run's parameters (scenario, workload, service or node command, bug, seed, nodes,
  timing, rate, concurrency, whether simulated, the reproduce command), from `run.json`;
- `counts`: the clients' operations by type and the replies that matched nothing;
- `proxy` (real processes) or `network` (a simulated run): the network's counters;
- `fault_windows`: each fault that took effect, `{f, label, value, start_s, end_s}` in seconds
  since the run started (`end_s` null when nothing healed it);
- `counterexamples`: for each checker that found an anomaly, where to look:
  `{checker, pointer, operations}`, `pointer` a JSON pointer (RFC 6901) to its details in this
  file and `operations` the history indexes (`history.jsonl` "index") of the operations those
  details quote, in order (at most `MAX_OPERATIONS`);
- `harness_error` when the harness failed (then `valid` is `"unknown"` and `results` empty), and
  `node_log_warnings` when node logs had lines that could not be read.

Pure: no trio, no zmq, no processes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from checker.fault_kinds import fault_windows
from checker.history import Op

SCHEMA = "chaos-cluster/results"
SCHEMA_VERSION = 1
MAX_OPERATIONS = 1000  # history indexes listed per counterexample
# The parameters of run.json that `run` repeats: what a reader needs to know what was tested.
RUN_PARAMETERS = (
    "scenario", "scenario_file", "workload", "workload_params", "service", "node_cmd", "bug",
    "seed", "nodes", "simulated", "time_limit_s", "warmup_s", "recovery_s", "settle_s", "rate",
    "concurrency", "request_timeout_s", "nemesis", "nemesis_interval_s", "latency_ms",
    "latency_dist", "availability", "started_at", "reproduce",
)


def describe(
    judged: Mapping[str, Any], *, run_info: Mapping[str, Any], ops: Iterable[Op]
) -> dict[str, Any]:
    """`judged` (what `scenarios.judge.judge` returned, plus counts and network counters) with
    the schema's fields added: version, run parameters, fault windows, counterexamples."""
    out: dict[str, Any] = {"schema": SCHEMA, "schema_version": SCHEMA_VERSION}
    out.update(judged)
    out["run"] = {key: run_info.get(key) for key in RUN_PARAMETERS}
    out["fault_windows"] = [
        {"f": w.f, "label": w.label, "value": w.value, "start_s": round(w.start_ns / 1e9, 6),
         "end_s": None if w.end_ns is None else round(w.end_ns / 1e9, 6)}
        for w in fault_windows(ops)
    ]
    out["counterexamples"] = counterexamples(judged.get("results") or {})
    return out


def counterexamples(results: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Where each invalid checker's anomaly is: a JSON pointer to its result and the history
    indexes of the operations its details quote (any object with `index`, `process` and `f`,
    the shape of an operation, at any depth; a `completion_index` beside it is listed too)."""
    found = []
    for name, res in results.items():
        if res.get("valid") is not False:
            continue
        indexes: list[int] = []
        seen: set[int] = set()
        for i in _quoted_operations(res):
            if i not in seen and len(indexes) < MAX_OPERATIONS:
                seen.add(i)
                indexes.append(i)
        found.append({"checker": name, "pointer": "/results/" + _escape_pointer(name),
                      "operations": indexes})
    return found


def _quoted_operations(value: Any) -> Iterable[int]:
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, Mapping):
            if isinstance(v.get("index"), int) and "process" in v and "f" in v:
                yield v["index"]
                if isinstance(v.get("completion_index"), int):
                    yield v["completion_index"]
            stack.extend(reversed(list(v.values())))
        elif isinstance(v, list | tuple):
            stack.extend(reversed(v))


def _escape_pointer(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")
