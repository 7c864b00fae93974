"""The scenario schema: what a scenario TOML file may say, and its validation.

A scenario is data (DESIGN.md): a workload, a cluster size, a client load, and its faults:
either a fixed timeline or a seeded random mix. It says nothing about how faults are applied
(the proxy and `Cluster` do that) or which random node a "majority-minority" partition cuts off
(the nemesis decides that from the run's seed). A file looks like this:

    name = "partition-heal"          # optional; defaults to the file's stem
    description = "one line for `chaos list`"
    workload = "broadcast"           # default workload; `--workload` overrides
    nodes = 5
    time_limit_s = 20                # length of the fault phase; `--time-limit` rescales
    warmup_s = 2                     # clients only, before the fault phase
    recovery_s = 4                   # healed, clients still running, before the final reads
    settle_s = 2                     # then clients stopped, quiet, before the final reads
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

The timeline's entries (their targets, among them `leader`, and the clock modes `bump`,
`drift` and `strobe`), the implicit final heals, and their validation are in
`scenarios.timeline`, against the one fault-kind table `checker.fault_kinds`.

Instead of a timeline, a scenario may ask for a random mix, as Maelstrom's `--nemesis`
(`chaos run --nemesis ... --nemesis-interval S` does the same from the command line, replacing
whatever the file says):

    nemesis = ["partition", "kill", "pause", "clock", "link"]   # or stop; at least one
    nemesis_interval_s = 5       # optional; a fault starts every 5 s of the fault phase

Every `nemesis_interval_s` from the start of the fault phase a fault of a kind drawn from the
list starts (its shape, targets, probabilities, clock mode drawn too) and is healed after
50-80 % of the interval, before the next one; the last is healed by the end of the fault phase.
The schedule is drawn from the run's seed before the run (`chaos.nemesis.plan_mix`) and written
to `schedule.jsonl`, so a replay repeats it. The default interval is Maelstrom's 10 s, or a
quarter of the fault phase when that is shorter (`default_nemesis_interval_s`), so that a short
run still sees four faults; an interval must be above 0 and at most `time_limit_s`, and it
rescales with `--time-limit` as the timeline does. A scenario has a timeline or a mix, not both.

The services the cluster offers its nodes (`seq-kv`, `lin-kv`, `lww-kv`, `lin-tso`: Maelstrom's,
hosted by the proxy; node/cluster_services.py) are reliable unless the scenario says

    fault_service_links = true   # link faults and partitions reach the services' links too

(default false, as Maelstrom's services are reliable): then a `link` fault's `*` matches them
as it matches nodes, and a partition cuts them off from the nodes that cannot hear (or be
heard by) the node they stand with (`node.cluster_services.service_grudge`).

A scenario may give the network a baseline latency, as Maelstrom's `--latency` (`chaos run
--latency MS --latency-dist D` does the same from the command line):

    latency_ms = 100             # default 0: none; at most 10,000
    latency_dist = "constant"    # or "uniform" (on [0, 2 * latency_ms]) or "exponential";
                                 # each has mean latency_ms

Every message of the run waits that long in the proxy (or the simulated network), node to
node, client to node and back, service links too; only the orchestrator's admin client `c0`
is exempt, as it is from every fault. It is not a fault: faults come on top of it, and no heal
removes it. A request and its reply each wait, so `2 * latency_ms` must stay below
`request_timeout_s`, or a typical operation could not finish in time.

A scenario may ask for availability, as Maelstrom's `--availability` (`chaos run --availability
total|F` does the same from the command line):

    availability = "total"       # every client operation must succeed; or a fraction, 0.99

Without it the availability checker only requires that some operation succeeded.

Errors are `ScenarioError`, one line: the file (and line, where known), the key (e.g.
`timeline[2].shape`, counting entries from 0), what is wrong and how to fix it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from checker.fault_kinds import MIX_FAULTS
from scenarios.timeline import FaultEvent, leader_entry, parse_timeline, thaw
from scenarios.validation import ScenarioError, Validator, number_problem, suggest

# Limits on everything (TigerBeetle): a typo of an extra zero is caught, not run for a day.
NODES_MAX = 64
CONCURRENCY_MAX = 1_000
RATE_MAX = 100_000.0
DURATION_S_MAX = 24 * 3600.0
REQUEST_TIMEOUT_S_MAX = 600.0
NEMESIS_INTERVAL_S_DEFAULT = 10.0  # Maelstrom's --nemesis-interval
NEMESIS_INTERVALS_MIN = 4  # a shorter fault phase gets a shorter default interval
LATENCY_MS_MAX = 10_000.0  # a baseline latency beyond 10 s is a typo, not a network
# The baseline latency's distributions, each of mean `latency_ms` (`chaos.faults.BASELINES`
# makes each a `Delay`; scenarios/ cannot import chaos/, so the names are stated here too).
LATENCY_DISTRIBUTIONS = ("constant", "uniform", "exponential")

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

_TOP_KEYS = (
    "name",
    "description",
    "workload",
    "workload_params",
    "nodes",
    "time_limit_s",
    "warmup_s",
    "recovery_s",
    "settle_s",
    "rate",
    "concurrency",
    "request_timeout_s",
    "timeline",
    "nemesis",
    "nemesis_interval_s",
    "fault_service_links",
    "latency_ms",
    "latency_dist",
    "availability",
)
_REQUIRED = ("workload", "nodes", "time_limit_s")
_DEFAULTS: dict[str, Any] = {
    "description": "",
    "warmup_s": 2.0,
    "recovery_s": 4.0,
    # Quiet before the final reads (Maelstrom waits 10 s): an element acknowledged just before
    # the clients stop must have had time to spread, or set-full would call it lost.
    "settle_s": 2.0,
    "rate": 10.0,
    "concurrency": 3,
    "request_timeout_s": 1.0,
}


def default_nemesis_interval_s(time_limit_s: float) -> float:
    """Maelstrom's 10 s, or a quarter of the fault phase when that is shorter."""
    return min(NEMESIS_INTERVAL_S_DEFAULT, time_limit_s / NEMESIS_INTERVALS_MIN)


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
    settle_s: float
    rate: float
    concurrency: int
    request_timeout_s: float
    timeline: tuple[FaultEvent, ...]
    workload_params: Mapping[str, Any] = field(default_factory=dict)
    path: Path | None = None  # the file it came from
    is_file: bool = False  # True when named by a path rather than a packaged name
    nemesis: tuple[str, ...] = ()  # a random mix's fault kinds (then the timeline is empty)
    nemesis_interval_s: float | None = None  # as given; None: the default (`mix_interval_s`)
    fault_service_links: bool = False  # faults reach seq-kv, lin-kv, lww-kv, lin-tso too
    latency_ms: float = 0.0  # the network's baseline latency, its mean (0: none)
    latency_dist: str = "constant"  # one of LATENCY_DISTRIBUTIONS
    # The fraction of client operations that must succeed ("total": 1.0); None: any one.
    availability: float | None = None
    # The workload parameters the command line set (`--param`), as (name, value as JSON)
    # pairs: the reproduce command and `chaos replay` repeat them (the file's come from it).
    param_overrides: tuple[tuple[str, str], ...] = ()

    @property
    def params_set(self) -> dict[str, Any]:
        """The workload parameters the command line set (`param_overrides`), as values."""
        return {name: json.loads(value) for name, value in self.param_overrides}

    @property
    def node_ids(self) -> list[str]:
        return [f"n{i}" for i in range(1, self.nodes + 1)]

    @property
    def mix_interval_s(self) -> float:
        """The random mix's interval: as given, or `default_nemesis_interval_s`."""
        if self.nemesis_interval_s is not None:
            return self.nemesis_interval_s
        return default_nemesis_interval_s(self.time_limit_s)

    @property
    def duration_s(self) -> float:
        """Warm-up, faults and recovery: the run's length before its final reads."""
        return self.warmup_s + self.time_limit_s + self.recovery_s + self.settle_s

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "workload": self.workload,
            "workload_params": thaw(self.workload_params),
            "nodes": self.nodes,
            "time_limit_s": self.time_limit_s,
            "warmup_s": self.warmup_s,
            "recovery_s": self.recovery_s,
            "settle_s": self.settle_s,
            "rate": self.rate,
            "concurrency": self.concurrency,
            "request_timeout_s": self.request_timeout_s,
            "timeline": [
                e.to_dict() | {"implicit": True} if e.implicit else e.to_dict()
                for e in self.timeline
            ],
            "nemesis": list(self.nemesis) or None,
            "nemesis_interval_s": self.nemesis_interval_s,
            "fault_service_links": self.fault_service_links,
            "latency_ms": self.latency_ms,
            "latency_dist": self.latency_dist,
            "availability": self.availability,
            "path": str(self.path) if self.path else None,
        }

    def rescaled(self, time_limit_s: float) -> Scenario:
        """The same scenario with a fault phase `time_limit_s` long, every `at_s` scaled by
        the same factor so the schedule keeps its shape."""
        problem = number_problem(time_limit_s, low=0.0, high=DURATION_S_MAX, low_open=True)
        if problem is not None:
            raise ScenarioError(f"{self.name}: --time-limit: {problem[0]}; {problem[1]}")
        new = float(time_limit_s)
        factor = new / self.time_limit_s
        timeline = tuple(
            replace(e, at_s=new if e.implicit else min(new, round(e.at_s * factor, 6)))
            for e in self.timeline
        )
        interval = self.nemesis_interval_s
        if interval is not None:
            interval = min(new, round(interval * factor, 6))
        return replace(self, time_limit_s=new, timeline=timeline, nemesis_interval_s=interval)

    def check_stdio_nodes(self, option: str = "--node-cmd") -> None:
        """Raise `ScenarioError` (naming the file, line and entry) if the scenario needs what a
        program given with `option` cannot do: answer `chaos_status`, to find the leader."""
        i = leader_entry(self.timeline)
        if i is None:
            return
        text = None
        if self.path is not None:
            try:
                text = self.path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                text = None
        where = str(self.path) if self.path is not None else self.name
        Validator(where, text).fail(
            f"timeline[{i}].target",
            f"'leader' is found by asking the nodes (chaos_status), and a {option} program "
            "cannot be asked",
            "aim it at one, minority, majority, all, random or node ids, or run the built-in "
            f"service instead of {option}",
            entry=i,
        )

    def with_overrides(
        self,
        *,
        time_limit_s: float | None = None,
        nodes: int | None = None,
        workload: str | None = None,
        rate: float | None = None,
        concurrency: int | None = None,
        request_timeout_s: float | None = None,
        nemesis: Sequence[str] | None = None,
        nemesis_interval_s: float | None = None,
        latency_ms: float | None = None,
        latency_dist: str | None = None,
        availability: float | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> Scenario:
        """Apply command-line overrides, validated as the file's keys are (`--nodes 2` on a
        scenario that partitions majority-minority is a `ScenarioError`). A different
        workload drops `workload_params`, which belonged to the old one. `nemesis` replaces
        the timeline (or the file's mix) with a random mix; `nemesis_interval_s`, in seconds
        of the fault phase as given (never rescaled), sets its interval. `latency_ms` and
        `latency_dist` set the baseline latency (each on its own: the other stays as it was);
        `availability` the fraction of operations that must succeed; `params` (`--param`)
        are laid over the workload's parameters, and kept in `param_overrides`."""
        sc = self if time_limit_s is None else self.rescaled(time_limit_s)
        raw = sc.to_dict()
        raw["timeline"] = [e.to_dict() for e in sc.timeline if not e.implicit]
        overrides = {
            "nodes": nodes,
            "workload": workload,
            "rate": rate,
            "concurrency": concurrency,
            "request_timeout_s": request_timeout_s,
            "latency_ms": latency_ms,
            "latency_dist": latency_dist,
            "availability": availability,
        }
        for key, value in overrides.items():
            if value is not None:
                raw[key] = value
        if nemesis is not None:
            raw["nemesis"] = list(nemesis)
            raw["timeline"] = []
        if nemesis_interval_s is not None:
            raw["nemesis_interval_s"] = nemesis_interval_s
        if workload is not None and workload != self.workload:
            raw["workload_params"] = {}
        overridden = self.params_set
        if workload is not None and workload != self.workload:
            overridden = {}
        if params:
            raw["workload_params"] = {**raw["workload_params"], **params}
            overridden.update(params)
        raw.pop("path")
        where = f"{self.name} (with command-line overrides)"
        return replace(parse_scenario(raw, where=where), path=self.path, is_file=self.is_file,
                       param_overrides=freeze_params(overridden))


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
    v = Validator(where, text)
    for key in raw:
        if key not in _TOP_KEYS:
            v.fail(
                key,
                f"unknown key {key!r}{suggest(key, _TOP_KEYS)}",
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
    workload = v.choice("workload", workload, WORKLOADS, what="workload")
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
        module = workload.replace("-", "_")
        v.fail("workload_params", str(e), f"see the docstring of scenarios/workloads/{module}.py")

    nodes = v.integer("nodes", get("nodes"), low=1, high=NODES_MAX)
    time_limit_s = v.number(
        "time_limit_s", get("time_limit_s"), low=0.0, high=DURATION_S_MAX, low_open=True
    )
    warmup_s = v.number("warmup_s", get("warmup_s"), low=0.0, high=DURATION_S_MAX)
    recovery_s = v.number("recovery_s", get("recovery_s"), low=0.0, high=DURATION_S_MAX)
    settle_s = v.number("settle_s", get("settle_s"), low=0.0, high=DURATION_S_MAX)
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
    timeline = parse_timeline(v, entries, nodes=nodes, time_limit_s=time_limit_s)
    mix, interval = _parse_mix(v, raw, nodes=nodes, time_limit_s=time_limit_s,
                               has_timeline=bool(entries))
    fault_service_links = raw.get("fault_service_links", False)
    v.boolean("fault_service_links", fault_service_links)
    latency_ms, latency_dist = _parse_latency(v, raw, request_timeout_s=request_timeout_s)
    availability = _parse_availability(v, raw.get("availability"))
    return Scenario(
        name=name,
        description=description,
        workload=workload,
        nodes=nodes,
        time_limit_s=time_limit_s,
        warmup_s=warmup_s,
        recovery_s=recovery_s,
        settle_s=settle_s,
        rate=rate,
        concurrency=concurrency,
        request_timeout_s=request_timeout_s,
        timeline=timeline,
        workload_params=dict(params),
        nemesis=mix,
        nemesis_interval_s=interval,
        fault_service_links=bool(fault_service_links),
        latency_ms=latency_ms,
        latency_dist=latency_dist,
        availability=availability,
    )


def freeze_params(params: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """Workload parameters as sorted (name, value as compact JSON) pairs."""
    return tuple(sorted((str(k), json.dumps(thaw(v), separators=(",", ":")))
                        for k, v in params.items()))


def _parse_availability(v: Validator, value: Any) -> float | None:
    """`availability`: "total" (1.0), a fraction from 0 to 1, or absent (None)."""
    if value is None:
        return None
    if value == "total":
        return 1.0
    if isinstance(value, str):
        v.fail("availability", f"must be \"total\" or a fraction from 0 to 1, not {value!r}",
               'write availability = "total", or a fraction such as 0.99')
    return v.number("availability", value, low=0.0, high=1.0)


def _parse_latency(v: Validator, raw: Mapping[str, Any], *,
                   request_timeout_s: float) -> tuple[float, str]:
    """`latency_ms` and `latency_dist`: the network's baseline latency (0: none)."""
    if "latency_dist" in raw and "latency_ms" not in raw:
        v.fail("latency_dist", "a latency distribution without a latency",
               "add latency_ms = 100 (its mean, in ms), or remove latency_dist")
    latency_ms = v.number("latency_ms", raw.get("latency_ms", 0.0), low=0.0,
                          high=LATENCY_MS_MAX)
    latency_dist = v.choice("latency_dist", raw.get("latency_dist", "constant"),
                            LATENCY_DISTRIBUTIONS, what="latency distribution")
    round_trip_ms = 2 * latency_ms
    if round_trip_ms >= request_timeout_s * 1000:
        v.fail("latency_ms",
               f"a request and its reply each wait {latency_ms:g} ms, so a typical operation "
               f"takes {round_trip_ms:g} ms and cannot finish within request_timeout_s "
               f"({request_timeout_s:g} s)",
               f"lower the latency below {request_timeout_s * 500:g} ms, or raise "
               f"request_timeout_s above {round_trip_ms / 1000:g} s in a scenario file")
    return latency_ms, latency_dist


def _parse_mix(v: Validator, raw: Mapping[str, Any], *, nodes: int, time_limit_s: float,
               has_timeline: bool) -> tuple[tuple[str, ...], float | None]:
    """`nemesis` and `nemesis_interval_s`: a random mix instead of a timeline."""
    mix = raw.get("nemesis")
    interval = raw.get("nemesis_interval_s")
    if mix is None:
        if interval is not None:
            v.fail("nemesis_interval_s", "an interval without a nemesis mix",
                   f"add nemesis = [...] with some of {', '.join(MIX_FAULTS)}, or remove it")
        return (), None
    if not isinstance(mix, list) or not mix:
        v.fail("nemesis", f"must be a non-empty list of faults, not {mix!r}",
               f'write nemesis = ["partition", "kill"] with some of {", ".join(MIX_FAULTS)}')
    for i, name in enumerate(mix):
        v.choice(f"nemesis[{i}]", name, MIX_FAULTS, what="nemesis fault")
        if name in mix[:i]:
            v.fail(f"nemesis[{i}]", f"{name!r} is listed twice", "list each fault once")
    if has_timeline:
        v.fail("nemesis", "a scenario has a timeline or a nemesis mix, not both",
               "remove the [[timeline]] entries or the nemesis key")
    if "partition" in mix and nodes < 2:
        v.fail("nemesis", f"a partition needs at least 2 nodes, the scenario has {nodes}",
               "raise nodes or take partition out of the list")
    if interval is not None:
        interval = v.number("nemesis_interval_s", interval, low=0.0, high=time_limit_s,
                            low_open=True)
    return tuple(mix), interval
