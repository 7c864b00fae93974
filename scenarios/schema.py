"""The scenario schema: what a scenario TOML file may say, and its validation.

A scenario is data (DESIGN.md): a workload, a cluster size, a client load, and a fixed timeline
of faults. It says nothing about how faults are applied (the proxy and `Cluster` do that) or
which random node a "majority-minority" partition cuts off (the nemesis decides that from the
run's seed). A file looks like this:

    name = "partition-heal"          # optional; defaults to the file's stem
    description = "one line for `chaos list`"
    workload = "broadcast"           # default workload; `--workload` overrides
    nodes = 5
    time_limit_s = 20                # length of the fault phase; `--time-limit` rescales
    warmup_s = 2                     # clients only, before the fault phase
    recovery_s = 4                   # healed, clients still running, before the final reads
    rate = 20                        # ops/s, all clients together
    concurrency = 5                  # client processes
    request_timeout_s = 1.0

    [workload_params]                # optional, passed to `get_workload(workload, **params)`
    topology = "grid"

    [[timeline]]                     # at_s counts from the start of the fault phase
    at_s = 1
    fault = "partition"
    shape = "majority-minority"
    [[timeline]]
    at_s = 7
    fault = "heal"

Timeline entries (`at_s` plus the fault's keys):

- `partition`: `shape` (one of `SHAPES`), `clients` (bool: fault client links too), `node`
  (isolate only), `src`/`dest` (one-way only). Healed by `heal`.
- `link`: `drop_probability`, `duplicate_probability`, `reorder_probability` (each in [0, 1]),
  `delay` (`{distribution = "constant", ms}`, `{"uniform", low_ms, high_ms}`,
  `{"exponential", mean_ms}`, `{"normal", mean_ms, jitter_ms}`), `src`/`dest` (a node id or
  `"*"`), `clients`. Replaces the link-fault table. Healed by `heal`.
- `heal`: clears partitions and link faults. No keys.
- `kill`, `stop`, `pause`: `target` (one of `TARGETS`, a node id, or a list of node ids).
  `kill`/`stop` are healed by `restart`, `pause` by `resume` (`target` optional on those: by
  default the nodes the matching fault took down).
- `clock`: `target`, `offset_ms`, `rate` (> 0). Healed by `clock` with `offset_ms = 0`,
  `rate = 1` and `target = "all"`.

**Every run ends healed.** When a timeline leaves a fault unhealed, validation appends the
missing heals (`heal`, `resume`, `restart`, a clock reset) at `at_s = time_limit_s`, the end of
the fault phase, marked `implicit`. (The orchestrator heals everything there anyway; making it
part of the timeline keeps the schedule honest about it.) A `kill` or `pause` while nodes from
an earlier one are still down is an error: heal first, so that every fault has its own heal.

**Rescaling** (`--time-limit`): `Scenario.rescaled(t)` multiplies every `at_s` by
`t / time_limit_s`, so that `--time-limit 8` on a 20 s scenario keeps the same shape (a
partition over 30 % of the fault phase still covers 30 % of it). Warm-up, recovery, rates and
link delays do not scale: they are about the system (how long it needs to settle), not the
shape of the fault schedule.

Errors are `ScenarioError`, one line: the file (and line, where known), the key (e.g.
`timeline[2].shape`, counting entries from 0), what is wrong and how to fix it.

The fault and shape names mirror `chaos.nemesis.FAULTS` and `chaos.faults.build_grudge`; they
are repeated here rather than imported so that scenarios stay data that does not depend on the
fault machinery. A test keeps the two in step.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NoReturn

# Mirrors chaos.faults.SHAPES (build_grudge's names); kept here to avoid importing chaos/.
SHAPES = (
    "isolate",
    "halves",
    "random-halves",
    "majority-minority",
    "majorities-ring",
    "bridge",
    "one-way",
)
# The fewest nodes each shape can cut (chaos.faults raises below these).
SHAPE_MIN_NODES = {"majority-minority": 3, "majorities-ring": 3, "bridge": 3}
NETWORK_FAULTS = ("partition", "link", "heal")
PROCESS_FAULTS = ("kill", "stop", "pause", "restart", "resume")
FAULTS = (*NETWORK_FAULTS, *PROCESS_FAULTS, "clock")
TARGETS = ("one", "minority", "majority", "all")
DISTRIBUTIONS = {
    "constant": ("ms",),
    "uniform": ("low_ms", "high_ms"),
    "exponential": ("mean_ms",),
    "normal": ("mean_ms", "jitter_ms"),
}
DELAY_MS_MAX = 60_000.0

# Limits on everything (TigerBeetle): a typo of an extra zero is caught, not run for a day.
NODES_MAX = 64
CONCURRENCY_MAX = 1_000
RATE_MAX = 100_000.0
DURATION_S_MAX = 24 * 3600.0
REQUEST_TIMEOUT_S_MAX = 600.0

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_NODE_RE = re.compile(r"^n(\d+)$")

_TOP_KEYS = (
    "name",
    "description",
    "workload",
    "workload_params",
    "nodes",
    "time_limit_s",
    "warmup_s",
    "recovery_s",
    "rate",
    "concurrency",
    "request_timeout_s",
    "timeline",
)
_REQUIRED = ("workload", "nodes", "time_limit_s")
_DEFAULTS: dict[str, Any] = {
    "description": "",
    "warmup_s": 2.0,
    "recovery_s": 4.0,
    "rate": 10.0,
    "concurrency": 3,
    "request_timeout_s": 1.0,
}
_FAULT_KEYS: dict[str, tuple[str, ...]] = {
    "partition": ("shape", "clients", "node", "src", "dest"),
    "link": (
        "drop_probability",
        "duplicate_probability",
        "reorder_probability",
        "delay",
        "src",
        "dest",
        "clients",
    ),
    "heal": (),
    "kill": ("target",),
    "stop": ("target",),
    "pause": ("target",),
    "restart": ("target",),
    "resume": ("target",),
    "clock": ("target", "offset_ms", "rate"),
}


class ScenarioError(ValueError):
    """A scenario file or value is wrong. The message is one line naming the place and the fix."""


@dataclass(frozen=True)
class FaultEvent:
    """One timeline entry: `fault` at `at_s` seconds into the fault phase, with its keys.

    `implicit` marks a heal that validation added because the file left a fault unhealed.
    """

    at_s: float
    fault: str
    params: Mapping[str, Any] = field(default_factory=dict)
    implicit: bool = False

    def to_dict(self) -> dict[str, Any]:
        """`{"at_s", "fault", **params}`, the form `chaos.nemesis.plan` reads."""
        return {"at_s": self.at_s, "fault": self.fault, **_thaw(self.params)}


@dataclass(frozen=True)
class Scenario:
    """A validated scenario. Build one with `scenarios.load_scenario` or `parse_scenario`."""

    name: str
    description: str
    workload: str
    nodes: int
    time_limit_s: float
    warmup_s: float
    recovery_s: float
    rate: float
    concurrency: int
    request_timeout_s: float
    timeline: tuple[FaultEvent, ...]
    workload_params: Mapping[str, Any] = field(default_factory=dict)
    path: Path | None = None  # the file it came from
    is_file: bool = False  # True when named by a path rather than a packaged name

    @property
    def node_ids(self) -> list[str]:
        return [f"n{i}" for i in range(1, self.nodes + 1)]

    @property
    def duration_s(self) -> float:
        """Warm-up, faults and recovery: the run's length before its final reads."""
        return self.warmup_s + self.time_limit_s + self.recovery_s

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "workload": self.workload,
            "workload_params": _thaw(self.workload_params),
            "nodes": self.nodes,
            "time_limit_s": self.time_limit_s,
            "warmup_s": self.warmup_s,
            "recovery_s": self.recovery_s,
            "rate": self.rate,
            "concurrency": self.concurrency,
            "request_timeout_s": self.request_timeout_s,
            "timeline": [
                e.to_dict() | {"implicit": True} if e.implicit else e.to_dict()
                for e in self.timeline
            ],
            "path": str(self.path) if self.path else None,
        }

    def rescaled(self, time_limit_s: float) -> Scenario:
        """The same scenario with a fault phase `time_limit_s` long, every `at_s` scaled by
        the same factor so the schedule keeps its shape."""
        problem = _number_problem(time_limit_s, low=0.0, high=DURATION_S_MAX, low_open=True)
        if problem is not None:
            raise ScenarioError(f"{self.name}: --time-limit: {problem[0]}; {problem[1]}")
        new = float(time_limit_s)
        factor = new / self.time_limit_s
        timeline = tuple(
            replace(e, at_s=new if e.implicit else min(new, round(e.at_s * factor, 6)))
            for e in self.timeline
        )
        return replace(self, time_limit_s=new, timeline=timeline)

    def with_overrides(
        self,
        *,
        time_limit_s: float | None = None,
        nodes: int | None = None,
        workload: str | None = None,
        rate: float | None = None,
        concurrency: int | None = None,
        request_timeout_s: float | None = None,
    ) -> Scenario:
        """Apply command-line overrides, validated as the file's keys are (`--nodes 2` on a
        scenario that partitions majority-minority is a `ScenarioError`). A different
        workload drops `workload_params`, which belonged to the old one."""
        sc = self if time_limit_s is None else self.rescaled(time_limit_s)
        raw = sc.to_dict()
        raw["timeline"] = [e.to_dict() for e in sc.timeline if not e.implicit]
        overrides = {
            "nodes": nodes,
            "workload": workload,
            "rate": rate,
            "concurrency": concurrency,
            "request_timeout_s": request_timeout_s,
        }
        for key, value in overrides.items():
            if value is not None:
                raw[key] = value
        if workload is not None and workload != self.workload:
            raw["workload_params"] = {}
        raw.pop("path")
        where = f"{self.name} (with command-line overrides)"
        return replace(parse_scenario(raw, where=where), path=self.path, is_file=self.is_file)


# == Validation ==================================================================================


def parse_scenario(
    raw: Mapping[str, Any],
    *,
    where: str,
    default_name: str | None = None,
    text: str | None = None,
) -> Scenario:
    """Validate a decoded TOML document. `where` names the file in errors; `text`, when given,
    is the file's source, used to point errors at a line."""
    v = _Validator(where, text)
    for key in raw:
        if key not in _TOP_KEYS:
            v.fail(
                key,
                f"unknown key {key!r}{_suggest(key, _TOP_KEYS)}",
                f"valid keys: {', '.join(_TOP_KEYS)}",
            )
    for key in _REQUIRED:
        if key not in raw:
            v.fail(key, "missing", f"every scenario needs {', '.join(_REQUIRED)}")
    get = {**_DEFAULTS, **raw}.__getitem__

    name = raw.get("name", default_name)
    if name is None:
        v.fail("name", "missing", "give the scenario a name (letters, digits, '.', '_', '-')")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        v.fail(
            "name",
            f"{name!r} is not a usable name",
            "use letters, digits, '.', '_' and '-' (it names the run's directory)",
        )
    description = get("description")
    if not isinstance(description, str):
        v.fail("description", f"must be a string, not {description!r}", "quote it")

    from scenarios.workloads import WORKLOADS, get_workload

    workload = get("workload")
    if workload not in WORKLOADS:
        v.fail(
            "workload",
            f"unknown workload {workload!r}{_suggest(str(workload), WORKLOADS)}",
            f"use one of {', '.join(WORKLOADS)}",
        )
    params = raw.get("workload_params", {})
    if not isinstance(params, Mapping):
        v.fail(
            "workload_params",
            f"must be a table, not {params!r}",
            "write [workload_params] with key = value lines",
        )
    try:
        get_workload(workload, **params)
    except ValueError as e:
        v.fail("workload_params", str(e), "see the workload's docstring in scenarios/workloads.py")

    nodes = v.integer("nodes", get("nodes"), low=1, high=NODES_MAX)
    time_limit_s = v.number(
        "time_limit_s", get("time_limit_s"), low=0.0, high=DURATION_S_MAX, low_open=True
    )
    warmup_s = v.number("warmup_s", get("warmup_s"), low=0.0, high=DURATION_S_MAX)
    recovery_s = v.number("recovery_s", get("recovery_s"), low=0.0, high=DURATION_S_MAX)
    rate = v.number("rate", get("rate"), low=0.0, high=RATE_MAX, low_open=True)
    concurrency = v.integer("concurrency", get("concurrency"), low=1, high=CONCURRENCY_MAX)
    request_timeout_s = v.number(
        "request_timeout_s",
        get("request_timeout_s"),
        low=0.0,
        high=REQUEST_TIMEOUT_S_MAX,
        low_open=True,
    )

    entries = raw.get("timeline", [])
    if not isinstance(entries, list):
        v.fail(
            "timeline",
            f"must be an array of tables, not {entries!r}",
            "write each entry as a [[timeline]] table",
        )
    timeline = _timeline(v, entries, nodes=nodes, time_limit_s=time_limit_s)
    return Scenario(
        name=name,
        description=description,
        workload=workload,
        nodes=nodes,
        time_limit_s=time_limit_s,
        warmup_s=warmup_s,
        recovery_s=recovery_s,
        rate=rate,
        concurrency=concurrency,
        request_timeout_s=request_timeout_s,
        timeline=timeline,
        workload_params=dict(params),
    )


def _timeline(
    v: _Validator, entries: Sequence[Any], *, nodes: int, time_limit_s: float
) -> tuple[FaultEvent, ...]:
    events: list[FaultEvent] = []
    # What is still broken, and which entry broke it: every fault must have a heal.
    network_open: int | None = None
    down: dict[str, int] = {}  # "kill" / "pause" -> the entry that took nodes down
    clock_open: int | None = None
    previous_at_s = 0.0
    for i, entry in enumerate(entries):
        at = f"timeline[{i}]"
        if not isinstance(entry, Mapping):
            v.fail(
                at, f"must be a table, not {entry!r}", "write it as a [[timeline]] table", entry=i
            )
        fault = entry.get("fault")
        if fault is None:
            v.fail(f"{at}.fault", "missing", f"use one of {', '.join(FAULTS)}", entry=i)
        if fault not in FAULTS:
            v.fail(
                f"{at}.fault",
                f"unknown fault {fault!r}{_suggest(str(fault), FAULTS)}",
                f"use one of {', '.join(FAULTS)}",
                entry=i,
            )
        allowed = ("at_s", "fault", *_FAULT_KEYS[fault])
        for key in entry:
            if key not in allowed:
                v.fail(
                    f"{at}.{key}",
                    f"unknown key {key!r} for a {fault} fault{_suggest(key, allowed)}",
                    f"valid keys: {', '.join(allowed)}",
                    entry=i,
                )
        if "at_s" not in entry:
            v.fail(f"{at}.at_s", "missing", "say when, in seconds into the fault phase", entry=i)
        at_s = v.number(f"{at}.at_s", entry["at_s"], low=0.0, high=time_limit_s, entry=i)
        if at_s < previous_at_s:
            v.fail(
                f"{at}.at_s",
                f"{at_s:g} comes before the previous entry's {previous_at_s:g}",
                "sort the timeline by at_s",
                entry=i,
            )
        previous_at_s = at_s
        params = {k: val for k, val in entry.items() if k not in ("at_s", "fault")}
        check = _CHECKS[fault]
        check(v, at, params, nodes=nodes, entry=i)

        if fault in ("partition", "link"):
            network_open = i
        elif fault == "heal":
            network_open = None
        elif fault in ("kill", "stop", "pause"):
            kind = "pause" if fault == "pause" else "kill"
            if kind in down:
                heal = "resume" if kind == "pause" else "restart"
                v.fail(
                    at,
                    f"{fault} while nodes from timeline[{down[kind]}] are still down",
                    f"add a {heal} before it, so every fault has its own heal",
                    entry=i,
                )
            down[kind] = i
        elif fault in ("restart", "resume"):
            kind = "pause" if fault == "resume" else "kill"
            if kind not in down and "target" not in params:
                v.fail(
                    at,
                    f"{fault} with nothing to {fault}",
                    f"add a {'pause' if kind == 'pause' else 'kill'} before it, or a target",
                    entry=i,
                )
            down.pop(kind, None)
        elif fault == "clock":
            is_reset = (
                params.get("offset_ms", 0) == 0
                and params.get("rate", 1) == 1
                and params.get("target") == "all"
            )
            clock_open = None if is_reset else i
        if fault not in ("heal", "restart", "resume", "clock") and at_s >= time_limit_s:
            v.fail(
                f"{at}.at_s",
                f"a {fault} at the very end of the fault phase ({at_s:g} s) is healed at once",
                f"start it before time_limit_s = {time_limit_s:g}",
                entry=i,
            )
        events.append(FaultEvent(at_s=at_s, fault=fault, params=params))

    def implicit(fault: str, **params: Any) -> FaultEvent:
        return FaultEvent(at_s=time_limit_s, fault=fault, params=params, implicit=True)

    if network_open is not None:
        events.append(implicit("heal"))
    if "pause" in down:
        events.append(implicit("resume"))
    if "kill" in down:
        events.append(implicit("restart"))
    if clock_open is not None:
        events.append(implicit("clock", target="all", offset_ms=0.0, rate=1.0))
    return tuple(events)


def _check_partition(
    v: _Validator, at: str, params: dict[str, Any], *, nodes: int, entry: int
) -> None:
    shape = params.get("shape")
    if shape is None:
        v.fail(f"{at}.shape", "missing", f"use one of {', '.join(SHAPES)}", entry=entry)
    if shape not in SHAPES:
        v.fail(
            f"{at}.shape",
            f"unknown shape {shape!r}{_suggest(str(shape), SHAPES)}",
            f"use one of {', '.join(SHAPES)}",
            entry=entry,
        )
    need = SHAPE_MIN_NODES.get(shape, 2)
    if nodes < need:
        v.fail(
            f"{at}.shape",
            f"{shape} needs at least {need} nodes, the scenario has {nodes}",
            f"raise nodes to {need} or pick another shape",
            entry=entry,
        )
    per_shape = {"node": "isolate", "src": "one-way", "dest": "one-way"}
    for key, owner in per_shape.items():
        if key in params:
            if shape != owner:
                v.fail(
                    f"{at}.{key}",
                    f"only a {owner} partition takes {key!r}",
                    f"remove it, or use shape = {owner!r}",
                    entry=entry,
                )
            v.node_id(f"{at}.{key}", params[key], nodes=nodes, entry=entry)
    if params.get("src") is not None and params.get("src") == params.get("dest"):
        v.fail(f"{at}.dest", "one-way needs two different nodes", "pick another dest", entry=entry)
    v.boolean(f"{at}.clients", params.get("clients", False), entry=entry)


def _check_link(v: _Validator, at: str, params: dict[str, Any], *, nodes: int, entry: int) -> None:
    for key in ("drop_probability", "duplicate_probability", "reorder_probability"):
        if key in params:
            params[key] = v.number(f"{at}.{key}", params[key], low=0.0, high=1.0, entry=entry)
    for key in ("src", "dest"):
        if key in params and params[key] != "*":
            v.node_id(f"{at}.{key}", params[key], nodes=nodes, entry=entry, star=True)
    v.boolean(f"{at}.clients", params.get("clients", False), entry=entry)
    delay = params.get("delay")
    if delay is not None:
        dk = f"{at}.delay"
        if not isinstance(delay, Mapping):
            v.fail(
                dk,
                f"must be a table, not {delay!r}",
                'write delay = { distribution = "uniform", low_ms = 1, high_ms = 10 }',
                entry=entry,
            )
        dist = delay.get("distribution")
        if dist not in DISTRIBUTIONS:
            v.fail(
                f"{dk}.distribution",
                f"unknown distribution {dist!r}{_suggest(str(dist), tuple(DISTRIBUTIONS))}",
                f"use one of {', '.join(DISTRIBUTIONS)}",
                entry=entry,
            )
        keys = ("distribution", *DISTRIBUTIONS[dist])
        for key in delay:
            if key not in keys:
                v.fail(
                    f"{dk}.{key}",
                    f"unknown key {key!r} for a {dist} delay{_suggest(key, keys)}",
                    f"a {dist} delay takes {', '.join(keys)}",
                    entry=entry,
                )
        for key in DISTRIBUTIONS[dist]:
            if key not in delay:
                v.fail(
                    f"{dk}.{key}", "missing", f"a {dist} delay takes {', '.join(keys)}", entry=entry
                )
            v.number(f"{dk}.{key}", delay[key], low=0.0, high=DELAY_MS_MAX, entry=entry)
        if dist == "uniform" and delay["low_ms"] > delay["high_ms"]:
            v.fail(
                f"{dk}.high_ms",
                f"high_ms {delay['high_ms']:g} is below low_ms {delay['low_ms']:g}",
                "swap them",
                entry=entry,
            )
        params["delay"] = dict(delay)
    if not any(params.get(k) for k in _FAULT_KEYS["link"] if k not in ("src", "dest", "clients")):
        v.fail(
            at,
            "a link fault that changes nothing",
            "set drop_probability, duplicate_probability, reorder_probability or delay",
            entry=entry,
        )


def _check_heal(v: _Validator, at: str, params: dict[str, Any], *, nodes: int, entry: int) -> None:
    pass  # unknown keys are already refused


def _check_process(
    v: _Validator, at: str, params: dict[str, Any], *, nodes: int, entry: int
) -> None:
    if "target" in params:
        v.target(f"{at}.target", params["target"], nodes=nodes, entry=entry)


def _check_clock(v: _Validator, at: str, params: dict[str, Any], *, nodes: int, entry: int) -> None:
    _check_process(v, at, params, nodes=nodes, entry=entry)
    if "offset_ms" in params:
        v.number(
            f"{at}.offset_ms",
            params["offset_ms"],
            low=-DURATION_S_MAX * 1000,
            high=DURATION_S_MAX * 1000,
            entry=entry,
        )
    if "rate" in params:
        v.number(f"{at}.rate", params["rate"], low=0.01, high=100.0, entry=entry)


_CHECKS = {
    "partition": _check_partition,
    "link": _check_link,
    "heal": _check_heal,
    "kill": _check_process,
    "stop": _check_process,
    "pause": _check_process,
    "restart": _check_process,
    "resume": _check_process,
    "clock": _check_clock,
}


class _Validator:
    """Raises `ScenarioError`s that name the file, the line where it can find one, and the key."""

    def __init__(self, where: str, text: str | None) -> None:
        self.where = where
        self.text = text

    def fail(self, key: str, problem: str, fix: str, *, entry: int | None = None) -> NoReturn:
        line = _line_of(self.text, key, entry) if self.text is not None else None
        place = f"{self.where}:{line}" if line else self.where
        raise ScenarioError(f"{place}: {key}: {problem}; {fix}")

    def number(
        self,
        key: str,
        value: Any,
        *,
        low: float,
        high: float,
        low_open: bool = False,
        entry: int | None = None,
    ) -> float:
        problem = _number_problem(value, low=low, high=high, low_open=low_open)
        if problem is not None:
            self.fail(key, *problem, entry=entry)
        return float(value)

    def integer(self, key: str, value: Any, *, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(
                key,
                f"must be a whole number, not {value!r}",
                f"write an integer from {low} to {high}",
            )
        if not low <= value <= high:
            self.fail(key, f"{value} is out of range", f"use {low} to {high}")
        return int(value)

    def boolean(self, key: str, value: Any, *, entry: int | None = None) -> None:
        if not isinstance(value, bool):
            self.fail(
                key, f"must be true or false, not {value!r}", "write true or false", entry=entry
            )

    def node_id(self, key: str, value: Any, *, nodes: int, entry: int, star: bool = False) -> None:
        m = _NODE_RE.match(value) if isinstance(value, str) else None
        if m is None or not 1 <= int(m.group(1)) <= nodes:
            extra = " or '*'" if star else ""
            self.fail(
                key,
                f"{value!r} is not a node of this scenario",
                f"use n1 to n{nodes}{extra}",
                entry=entry,
            )

    def target(self, key: str, value: Any, *, nodes: int, entry: int) -> None:
        if isinstance(value, str) and value in TARGETS:
            return
        if isinstance(value, list):
            if not value:
                self.fail(key, "an empty list of nodes", "name at least one node", entry=entry)
            for j, node in enumerate(value):
                self.node_id(f"{key}[{j}]", node, nodes=nodes, entry=entry)
            return
        if isinstance(value, str) and _NODE_RE.match(value):
            self.node_id(key, value, nodes=nodes, entry=entry)
            return
        self.fail(
            key,
            f"unknown target {value!r}{_suggest(str(value), TARGETS)}",
            f"use one of {', '.join(TARGETS)}, a node id (n1 to n{nodes}) or a list of them",
            entry=entry,
        )


def _number_problem(
    value: Any, *, low: float, high: float, low_open: bool = False
) -> tuple[str, str] | None:
    """What is wrong with `value` as a number in its range, and the fix; None if nothing."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return f"must be a number, not {value!r}", f"write a number {_range(low, high, low_open)}"
    if value < low or value > high or (low_open and value == low):
        return f"{value:g} is out of range", f"use a number {_range(low, high, low_open)}"
    return None


def _range(low: float, high: float, low_open: bool) -> str:
    return f"above {low:g} and at most {high:g}" if low_open else f"from {low:g} to {high:g}"


def _suggest(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _line_of(text: str | None, key: str, entry: int | None) -> int | None:
    """Best effort: the line of the `entry`-th `[[timeline]]` header, or of a top-level `key =`.
    Inline tables and arrays are not traced; the key path alone then names the place."""
    if text is None:
        return None
    lines = text.splitlines()
    if entry is not None:
        headers = [
            i for i, line in enumerate(lines, 1) if re.match(r"^\s*\[\[\s*timeline\s*\]\]", line)
        ]
        if entry >= len(headers):
            return None
        start = headers[entry]
        # Point at the key inside the entry when it is written there.
        leaf = key.rsplit(".", 1)[-1].split("[", 1)[0]
        end = headers[entry + 1] if entry + 1 < len(headers) else len(lines) + 1
        for i in range(start, end - 1):
            if re.match(rf"^\s*{re.escape(leaf)}\s*=", lines[i]):
                return i + 1
        return start
    top = key.split(".", 1)[0].split("[", 1)[0]
    for i, line in enumerate(lines, 1):
        if re.match(r"^\s*\[", line):
            break  # past the top-level keys
        if re.match(rf"^\s*{re.escape(top)}\s*=", line):
            return i
    return None


def _thaw(value: Any) -> Any:
    """A deep copy of plain data, so callers cannot change a frozen scenario's tables."""
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_thaw(v) for v in value]
    return value
