"""The nemesis: decides which faults happen when, and has a `FaultTarget` carry them out.

Policy and mechanism are apart (STYLE.md #5). `plan` is pure: from a scenario's timeline, the
node ids and a seeded `random.Random` it works out the whole schedule before the run starts,
every random choice made (which nodes a "majority-minority" partition cuts off, which node
"one" means), so the schedule can be written to `schedule.jsonl`, read by a person, and
replayed exactly. `Nemesis.run_schedule` then walks the schedule in real time and applies each
step to a `FaultTarget`, recording it as a nemesis operation in the history: an `invoke` and
then `ok`; `fail` when the step could not be aimed (below: it did not happen, and the run goes
on); or `info` if applying it raised, since it may have half happened (and the run fails).

The nemesis depends on nothing but the two small protocols it declares here, `FaultTarget`
(the real cluster in `chaos.supervisor`, or a simulator's) and `HistoryRecorder`. `plan`,
`plan_mix`, `Step`, `read_schedule` and `write_schedule` are pure and need no trio: a simulator
plans a schedule exactly as a real run does. `Nemesis.apply` awaits only the target, so it runs
under any event loop; only `run_schedule` imports trio (to wait for each step's time).

The fault vocabulary is `checker.fault_kinds.FAULTS` (one table for the schema, the nemesis and
the checkers); each kind's `breaks`/`heals` conditions pair a fault with its heal:
- `partition` {shape, ...}: a grudge from `chaos.faults.build_grudge`; replaces the current one.
- `link` {drop_probability, delay, duplicate_probability, reorder_probability, src, dest}:
  replaces the link-fault table with one rule (src/dest default to every link).
- `heal`: clears partitions and link faults.
- `kill`, `stop`, `pause` {target}: SIGKILL, SIGTERM, SIGSTOP the target nodes;
  `restart`, `resume` {target}: bring them back, by default the nodes that the last fault
  breaking the condition they heal took down.
- `clock` {target, mode, offset_ms, rate, period_ms}: skews nodes' clocks: `bump` (an offset),
  `drift` (a rate), `strobe` (an offset that comes and goes every `period_ms`, kept by the
  node's own clock, `node.clock`); offset 0, rate 1 and no period reset them.

Targets (`checker.fault_kinds.TARGETS`): `one`, `minority`, `majority`, `all`, `random` (a
non-empty subset of any size) and explicit node ids are chosen at planning time and written to
the schedule as `{"nodes": [...]}`. `leader` cannot be: who leads changes during the run. Its
step is written `{"target": "leader"}` and resolved when it runs: the nemesis asks the target
for every running node's status (`FaultTarget.node_statuses`, `chaos_status` on a real node)
and takes the node reporting role "leader" with the highest term (`find_leader`). A heal planned
after it (`restart`/`resume` without a target) is written `{"target": "last"}`: the nodes that
fault took down, as it resolved them. The completion's value carries the resolved `nodes`, so
the history says whom it hit. When a step cannot be aimed (no leader found) or is aimed at a
node already down for it (a kill or stop of a node killed or stopped, a pause of a node down or
paused, a resume of a node killed since), it completes `fail` with the reason as `error`,
nothing of it is applied, and the run goes on: a randomly aimed fault can find its node already
down (Jepsen's nemeses record the same). A clock fault skips the nodes that are not running (a
stopped node restarts with a true clock; `heal_all` resets the paused ones once resumed). A
restart or resume of a node that is running is a mistake in the schedule, refused by the
target: `info`, a harness failure.

A random mix (`plan_mix`, `chaos run --nemesis partition,kill --nemesis-interval S`, or a
scenario's `nemesis = [...]`) is Maelstrom's `--nemesis`: every `interval_s` from the start of
the fault phase a fault of a kind drawn from the list starts, with its shape, target and
parameters drawn too, and is healed after a drawn 50-80 % of the interval (30-50 % for a kill
or stop, so that the restart, which takes real time, is done before the next fault is due):
before the next one starts, and the last by the end of the fault phase at the latest. The mix
is turned into timeline entries and planned like any timeline, from the same seeded
`random.Random`, so its schedule is written to `schedule.jsonl` and replays exactly. It never
aims at `leader` (a mix cannot know whether the nodes report one), and draws no partition that
may cut only links nobody uses (`MIX_SHAPES`), which the fault guard would call vacuous.

Every fault has a heal, and `heal_all` ends every run healed: network healed, paused nodes
resumed, stopped nodes restarted, clocks reset, before recovery and final reads.

When each fault really happened is in the history, for the checkers to judge (they read only
the history, DESIGN.md):
- An operation's `invoke` and `ok` times are when it actually began and took effect. A step of
  the schedule also records `planned_at_s` (its `at_s` in `schedule.jsonl`: seconds after the
  schedule's start) and `late_s` (how much later than that it began), so a harness that woke
  late is visible (`checker.stalls` judges it, with `chaos.watchdog`'s stall records).
- Given a `counters` callable (`Cluster.network_stats`, the proxy's counters, or the simulated
  network's `statistics`: anything returning those counters, awaitable or not), every network
  fault's window is measured: the counters are read right after the fault took effect and
  right before the operation that ends it (a `partition` replacing it, a `link` replacing a
  link fault, a `heal`, the final heal) is applied, and that operation's completion lists the
  windows it closed: `"windows": [{"fault_index", "f", "label", "start_ns", "end_ns",
  "received", "partitioned", "dropped"}]`, the counts being deltas over the window. Reading
  inside the window, never at its edges, errs on the side of too few messages: a window can
  be judged vacuous that lost one message at its very edge, never effective for a message
  another window lost. `checker.fault_guard` judges each window on its own: a 2 ms partition
  after a stall that cost nothing is not hidden by the messages other partitions cost.
  Without `counters` no window is recorded, and the guard falls back to the run's totals.
"""

from __future__ import annotations

import inspect
import json
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from chaos import faults
from checker.fault_kinds import (
    CLOCK_MODES,
    DOWN,
    FAULT_NAMES,
    FAULTS,
    LEADER,
    LINK_KEYS,
    MIX_FAULTS,
    PAUSED,
    RUNTIME_TARGETS,
    SHAPE_MIN_NODES,
    SHAPES,
    TARGETS,
    WINDOW_COUNTERS,
    heals,
)

__all__ = ["FAULTS", "LINK_KEYS", "MIX_FAULTS", "TARGETS", "Counters", "FaultTarget",
           "HistoryRecorder", "Nemesis", "PlannedScenario", "Step", "choose_targets",
           "find_leader", "mix_timeline", "plan", "plan_mix", "plan_scenario", "read_schedule",
           "write_schedule"]

# The network's counters now (`chaos.proxy.ProxyStatistics` keys), awaitable or not, so that
# both `Cluster.network_stats` (the proxy's) and the simulated network's `statistics` fit as is.
Counters = Callable[[], Awaitable[Mapping[str, Any]] | Mapping[str, Any]]
# The faults whose windows are measured, and which operations end them: a partition replaces
# the grudge, a link fault the link-fault table, and a heal clears both.
WINDOW_FAULTS = ("partition", "link")
CLOSES: dict[str, tuple[str, ...]] = {"partition": ("partition",), "link": ("link",),
                                      "heal": WINDOW_FAULTS}
# A restart or resume planned after a fault aimed at a runtime target: the nodes that fault
# took down, known only once it ran.
LAST = "last"
# The faults that act on nodes, and so have targets to resolve and states to check.
NODE_FAULTS = ("kill", "stop", "pause", "restart", "resume", "clock")


class FaultTarget(Protocol):
    """What the nemesis needs of a cluster: the mechanisms, one call per fault and node.

    Network faults replace the proxy's (or simulated network's) grudge or link-fault table;
    process faults act on one node and assert its state (a running node to kill, a paused one
    to resume: the nemesis checks states first, and records a step it cannot apply as `fail`);
    `set_clock` must do nothing for nodes that cannot take `chaos_` control (a `--node-cmd`
    program). `restart_nodes` starts stopped nodes again, all at once where the target can (a
    real node takes a fraction of a second to start and answer `init`: one after another, a
    restart of five would push the next steps of a schedule seconds late, squeezing their
    windows to nothing). `node_statuses` asks every running node for its status (`chaos_status`) and
    returns those that answered, by node id in node order: a node that cannot be asked (a
    `--node-cmd` program), does not answer in a short time, or reports no status is left
    out."""

    async def partition(self, grudge: Mapping[str, Sequence[str]], *, clients: bool) -> None: ...
    async def link_faults(self, rules: Sequence[Mapping[str, Any]], *, clients: bool) -> None: ...
    async def heal(self) -> None: ...
    async def kill(self, node_id: str) -> None: ...
    async def stop(self, node_id: str) -> None: ...
    async def pause(self, node_id: str) -> None: ...
    async def resume(self, node_id: str) -> None: ...
    async def restart_nodes(self, node_ids: Sequence[str]) -> None: ...
    async def set_clock(self, node_id: str, *, offset_ms: float, rate: float,
                        period_ms: float = 0.0) -> None: ...
    async def node_statuses(self) -> dict[str, dict[str, Any]]: ...
    def running_nodes(self) -> list[str]: ...


class HistoryRecorder(Protocol):
    """Where nemesis operations go (`chaos.clients.Recorder` writes `history.jsonl`).

    `record` returns the operation as written (with its `index` and `time`, which a fault
    window names); extra keyword arguments are extra fields of the operation."""

    def record(self, type: str, process: Any, f: str, value: Any, *, error: Any = None,
               **extra: Any) -> Any: ...


@dataclass(frozen=True)
class Step:
    """One planned nemesis operation, `at_s` seconds after the run started."""

    at_s: float
    f: str
    value: Any

    def to_json(self) -> dict[str, Any]:
        return {"at_s": round(self.at_s, 6), "f": self.f, "value": self.value}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Step:
        return cls(at_s=float(d["at_s"]), f=str(d["f"]), value=d["value"])


def choose_targets(target: Any, nodes: Sequence[str], rng: random.Random) -> list[str]:
    """Resolve a target spec to node ids, now. Raises ValueError naming the valid targets, and
    for a runtime target (`leader`), which only `Nemesis` can resolve, when its step runs."""
    if isinstance(target, list):
        unknown = [t for t in target if t not in nodes]
        if unknown:
            raise ValueError(f"target names unknown nodes {unknown}; the nodes are {list(nodes)}")
        return list(target)
    if target in nodes:
        return [target]
    if target in RUNTIME_TARGETS:
        raise ValueError(f"target {target!r} is resolved when its step runs, not when planned")
    n = len(nodes)
    counts = {"one": 1, "minority": (n - 1) // 2, "majority": n // 2 + 1, "all": n,
              "random": rng.randint(1, n) if target == "random" and n else 0}
    assert set(counts) | set(RUNTIME_TARGETS) == set(TARGETS), (
        "a target of checker.fault_kinds has no count here")
    if target not in counts:
        raise ValueError(f"unknown target {target!r}; use one of {', '.join(TARGETS)} or node ids")
    return sorted(rng.sample(list(nodes), max(counts[target], 1 if n else 0)))


def find_leader(statuses: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The node reporting role "leader" with the highest term (the first in node order among
    equals; two leaders of one term break Raft, not this choice), or None. A stale leader cut
    off by a partition may still say "leader": the higher term is the one the others follow."""
    best: tuple[float, str] | None = None
    for nid, status in statuses.items():
        if not isinstance(status, Mapping) or status.get("role") != "leader":
            continue
        term = status.get("term", 0)
        term = term if isinstance(term, int | float) and not isinstance(term, bool) else 0
        if best is None or term > best[0]:
            best = (term, nid)
    return best[1] if best is not None else None


def plan(
    timeline: Sequence[Mapping[str, Any]],
    nodes: Sequence[str],
    rng: random.Random,
    *,
    offset_s: float = 0.0,
) -> list[Step]:
    """Work out the schedule: each timeline entry `{"at_s", "fault", ...}` becomes a `Step`
    `offset_s + at_s` after the start, with every random choice made now (a runtime target,
    `leader`, is left for the step to resolve when it runs)."""
    steps: list[Step] = []
    # condition -> the nodes the last fault breaking it took down (LAST: known when it ran)
    down: dict[str, list[str] | str] = {}
    for entry in timeline:
        fault = entry["fault"]
        kind = FAULTS.get(fault)
        if kind is None:
            raise ValueError(f"unknown fault {fault!r}; use one of {', '.join(FAULT_NAMES)}")
        params = {k: v for k, v in entry.items() if k not in ("at_s", "fault")}
        value: Any
        if fault == "partition":
            shape = params.pop("shape")
            clients = bool(params.pop("clients", False))
            grudge = faults.build_grudge(shape, list(nodes), rng, **params)
            value = {"shape": shape, "grudge": faults.grudge_to_json(grudge), "clients": clients}
        elif fault == "link":
            clients = bool(params.pop("clients", False))
            rule = {"src": params.pop("src", "*"), "dest": params.pop("dest", "*")}
            rule.update({k: params[k] for k in LINK_KEYS if k in params})
            value = {"faults": [rule], "clients": clients}
        elif fault == "heal":
            value = None
        elif kind.category == "process" and kind.breaks in (DOWN, PAUSED):  # kill, stop, pause
            value = _aim(params.get("target", "one"), nodes, rng)
            down[kind.breaks] = value.get("nodes", LAST)
        elif kind.category == "process":  # restart, resume: by default what their fault downed
            (condition,) = kind.heals
            previous = down.pop(condition, [])
            target = params.get("target")
            if target:
                value = _aim(target, nodes, rng)
            else:
                value = {"target": LAST} if previous == LAST else {"nodes": list(previous)}
        elif fault == "clock":
            value = _aim(params.get("target", "one"), nodes, rng)
            value.update(offset_ms=float(params.get("offset_ms", 0.0)),
                         rate=float(params.get("rate", 1.0)))
            if "mode" in params:
                value["mode"] = params["mode"]
            if params.get("period_ms"):
                value["period_ms"] = float(params["period_ms"])
        else:
            raise ValueError(f"the nemesis cannot plan fault {fault!r} yet")
        steps.append(Step(at_s=offset_s + float(entry["at_s"]), f=fault, value=value))
    return steps


def _aim(target: Any, nodes: Sequence[str], rng: random.Random) -> dict[str, Any]:
    """A step's nodes: chosen now, or a runtime target left for the step to resolve."""
    if isinstance(target, str) and target in RUNTIME_TARGETS:
        return {"target": target}
    return {"nodes": choose_targets(target, nodes, rng)}


# == Random mixes (Maelstrom's --nemesis) ========================================================

FAULT_SHARE = (0.5, 0.8)  # a fault lasts this share of its interval; healed before the next
# A kill or stop is healed by a restart, which takes real time (a process to spawn, `init` to
# answer: most of a second for five nodes on a loaded machine): healed earlier, so the restart
# has finished when the next fault is due, and that fault's window is not squeezed.
DOWN_SHARE = (0.3, 0.5)
# What the mix aims process and clock faults at; `leader` is for timelines, which know whether
# their nodes report one.
MIX_TARGETS = ("one", "minority", "majority", "all")
# Partitions a mix draws: every shape that cuts some node off from a majority or more, so that
# whoever leads loses messages. Not one-way (it may cut a link that carries nothing), nor
# bridge (when the leader is the bridge, every link it uses stays up): `checker.fault_guard`
# would rightly call such a window vacuous, and the run unknown.
MIX_SHAPES = tuple(s for s in SHAPES if s not in ("one-way", "bridge"))
MIX_HEALS: dict[str, dict[str, Any]] = {
    "partition": {"fault": "heal"},
    "link": {"fault": "heal"},
    "kill": {"fault": "restart"},
    "stop": {"fault": "restart"},
    "pause": {"fault": "resume"},
    "clock": {"fault": "clock", "target": "all", "offset_ms": 0.0, "rate": 1.0},
}
assert tuple(MIX_HEALS) == MIX_FAULTS, "every fault a mix may draw needs its heal here"


def mix_shapes(node_count: int) -> tuple[str, ...]:
    """The partition shapes a mix may draw for this many nodes."""
    return tuple(s for s in MIX_SHAPES if node_count >= SHAPE_MIN_NODES.get(s, 2))


def mix_timeline(
    kinds: Sequence[str],
    nodes: Sequence[str],
    rng: random.Random,
    *,
    interval_s: float,
    time_limit_s: float,
) -> list[dict[str, Any]]:
    """A random mix as timeline entries (`{"at_s", "fault", ...}`, seconds into the fault
    phase): a fault of a kind drawn from `kinds` every `interval_s` from 0, each healed after
    `FAULT_SHARE` of the interval (`DOWN_SHARE` for a kill or stop, whose restart takes time)
    and by `time_limit_s` at the latest; a fault that could not last its shortest share before
    `time_limit_s` is not drawn. Raises ValueError for an unknown kind, an empty list, or an
    interval that is not in (0, time_limit_s]."""
    unknown = [k for k in kinds if k not in MIX_FAULTS]
    if unknown or not kinds:
        raise ValueError(f"a nemesis mix takes one or more of {', '.join(MIX_FAULTS)}, not "
                         f"{list(kinds)}")
    if not 0 < interval_s <= time_limit_s:
        raise ValueError(f"the nemesis interval must be above 0 and at most the fault phase "
                         f"({time_limit_s:g} s), not {interval_s!r}")
    if "partition" in kinds and not mix_shapes(len(nodes)):
        raise ValueError("a partition needs at least 2 nodes")
    entries: list[dict[str, Any]] = []
    k = 0
    while (at := k * interval_s) + FAULT_SHARE[0] * interval_s <= time_limit_s + 1e-9:
        kind = rng.choice(list(kinds))
        fault = {"at_s": round(at, 6), "fault": kind, **_mix_params(kind, len(nodes), rng)}
        share = DOWN_SHARE if FAULTS[kind].breaks == DOWN else FAULT_SHARE
        heal_at = min(at + rng.uniform(*share) * interval_s, time_limit_s)
        entries += [fault, {"at_s": round(heal_at, 6), **MIX_HEALS[kind]}]
        k += 1
    return entries


def _mix_params(kind: str, node_count: int, rng: random.Random) -> dict[str, Any]:
    """A drawn fault's keys, as a timeline entry would give them."""
    if kind == "partition":
        return {"shape": rng.choice(mix_shapes(node_count))}
    if kind == "link":
        params: dict[str, Any] = {"drop_probability": round(rng.uniform(0.2, 0.5), 3)}
        extra = rng.choice(("none", "delay", "duplicate", "reorder"))
        if extra == "delay":
            params["delay"] = {"distribution": "exponential",
                               "mean_ms": round(rng.uniform(5.0, 50.0), 1)}
        elif extra != "none":
            params[f"{extra}_probability"] = round(rng.uniform(0.1, 0.3), 3)
        return params
    if kind == "clock":
        mode = rng.choice(CLOCK_MODES)
        target = rng.choice(MIX_TARGETS)
        if mode == "bump":
            return {"target": target, "mode": mode,
                    "offset_ms": rng.choice((-1, 1)) * float(rng.randint(100, 2000))}
        if mode == "drift":
            rate = rng.uniform(0.5, 0.9) if rng.random() < 0.5 else rng.uniform(1.1, 2.0)
            return {"target": target, "mode": mode, "rate": round(rate, 3)}
        return {"target": target, "mode": mode, "offset_ms": float(rng.randint(100, 500)),
                "period_ms": float(rng.randint(10, 100))}
    return {"target": rng.choice(MIX_TARGETS)}  # kill, stop, pause


def plan_mix(
    kinds: Sequence[str],
    nodes: Sequence[str],
    rng: random.Random,
    *,
    interval_s: float,
    time_limit_s: float,
    offset_s: float = 0.0,
) -> list[Step]:
    """The schedule of a random mix: `mix_timeline`, planned as any timeline is, with the same
    `rng` (so one seed gives one schedule)."""
    timeline = mix_timeline(kinds, nodes, rng, interval_s=interval_s, time_limit_s=time_limit_s)
    return plan(timeline, nodes, rng, offset_s=offset_s)


class PlannedScenario(Protocol):
    """What `plan_scenario` reads of a `scenarios.schema.Scenario`."""

    @property
    def node_ids(self) -> list[str]: ...
    @property
    def warmup_s(self) -> float: ...
    @property
    def time_limit_s(self) -> float: ...
    @property
    def timeline(self) -> Sequence[Any]: ...  # FaultEvents: `.to_dict()` is a timeline entry
    @property
    def nemesis(self) -> Sequence[str]: ...
    @property
    def mix_interval_s(self) -> float: ...


def plan_scenario(sc: PlannedScenario, rng: random.Random) -> list[Step]:
    """A scenario's schedule, from the start of the run (its warm-up included): its random mix
    if it has one, else its timeline."""
    if sc.nemesis:
        return plan_mix(sc.nemesis, sc.node_ids, rng, interval_s=sc.mix_interval_s,
                        time_limit_s=sc.time_limit_s, offset_s=sc.warmup_s)
    return plan([e.to_dict() for e in sc.timeline], sc.node_ids, rng, offset_s=sc.warmup_s)


AT_END_S = 1e-3  # a step this close to the end of the fault phase is a closing heal


def steps_before(steps: Sequence[Step], fault_end_s: float) -> list[Step]:
    """The steps the nemesis applies on schedule: all but those at the very end of the fault
    phase, which are the timeline's closing heals that `Nemesis.heal_all` performs anyway.
    (The rest run to completion, never cancelled half-way: a restart cut off mid-init would
    leave a node neither running nor stopped.)"""
    return [s for s in steps if s.at_s < fault_end_s - AT_END_S]


def write_schedule(steps: Sequence[Step], path: Path) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for step in steps:
            fh.write(json.dumps(step.to_json(), separators=(",", ":")) + "\n")


def read_schedule(path: Path) -> list[Step]:
    with open(path, encoding="utf-8") as fh:
        return [Step.from_json(json.loads(line)) for line in fh if line.strip()]


@dataclass(frozen=True)
class _Window:
    """An open network fault: its `ok` operation as recorded, and the counters after it."""

    f: str
    label: str
    op: Mapping[str, Any]
    counters: Mapping[str, Any]


class Nemesis:
    """Applies steps to a `FaultTarget` and records them in the history.

    `active` (fault kind -> a short description) is what the status line shows. `counters`
    (optional) reads the network's counters, so that each network fault's window records the
    messages it cost (see the module docstring)."""

    def __init__(self, target: FaultTarget, recorder: HistoryRecorder, *,
                 counters: Counters | None = None) -> None:
        self.target = target
        self.recorder = recorder
        self.counters = counters
        self.active: dict[str, Any] = {}
        self.applied_count = 0
        self.failed_count = 0  # steps recorded `fail`: not applied, the run went on
        self._down: dict[str, None] = {}  # killed or stopped nodes, in order, for heal_all
        self._paused: dict[str, None] = {}
        self._last: dict[str, list[str]] = {}  # condition -> what its last fault took down
        self._windows: dict[str, _Window] = {}  # "partition"/"link" -> its open window

    async def run_schedule(self, steps: Sequence[Step], *, start: float) -> None:
        """Apply each step at `start + at_s` (trio time), each to completion, recording how
        late it began (a stalled harness, or a previous step that ran long, makes it late)."""
        import trio  # here, so that planning and applying need no event loop of trio's

        for step in steps:
            due = start + step.at_s
            await trio.sleep_until(due)
            late_s = max(0.0, trio.current_time() - due)
            await self.apply(step.f, step.value, planned_at_s=step.at_s, late_s=late_s)

    async def apply(self, f: str, value: Any, *, planned_at_s: float | None = None,
                    late_s: float | None = None) -> None:
        """Apply one operation and record it: `invoke`, then `ok`; `fail` if its nodes could
        not be found or cannot take it (nothing applied, nothing raised); `info` and raise if
        applying it failed. `planned_at_s` and `late_s` (a scheduled step's) are recorded with
        the invocation."""
        timing = {} if planned_at_s is None else {"planned_at_s": round(planned_at_s, 6)}
        if late_s is not None:
            timing["late_s"] = round(late_s, 6)
        invoke = self.recorder.record("invoke", "nemesis", f, value, **timing)
        try:
            value, problem = await self._resolve(f, value)
            if problem is not None:
                self.recorder.record("fail", "nemesis", f, value, error=problem)
                self.failed_count += 1
                return
            closed = await self._close_windows(CLOSES.get(f, ()), invoke)
            await self._apply(f, value)
            opened = await self._read_counters() if f in WINDOW_FAULTS else None
        except Exception as e:  # the fault may have half happened: indefinite
            self.recorder.record("info", "nemesis", f, value, error=f"{type(e).__name__}: {e}")
            raise
        ok = self.recorder.record("ok", "nemesis", f, value, **_windows_field(closed))
        if opened is not None:
            self._windows[f] = _Window(f, self._label(f, value), _as_op(ok), opened)
        self.applied_count += 1

    async def _resolve(self, f: str, value: Any) -> tuple[Any, str | None]:
        """The step's value with a runtime target resolved to `nodes`, and why its nodes cannot
        take it (None if they can)."""
        if f not in NODE_FAULTS or not isinstance(value, Mapping):
            return value, None
        condition = FAULTS[f].breaks
        if condition in (DOWN, PAUSED):
            self._last[condition] = []  # what it takes down, once applied; nothing if it fails
        target = value.get("target")
        if target == LEADER:
            statuses = await self.target.node_statuses()
            leader = find_leader(statuses)
            if leader is None:
                return value, f"no leader found: {_describe_statuses(statuses, self.target)}"
            value = {**value, "nodes": [leader]}
        elif target == LAST:
            (condition,) = FAULTS[f].heals
            value = {**value, "nodes": self._last.pop(condition, [])}
        return value, self._state_problem(f, value)

    def _state_problem(self, f: str, value: Mapping[str, Any]) -> str | None:
        """Why a node of the step is already down (or paused) for the fault, or None: a kill
        or stop of a node down, a pause of a node down or paused, a resume of a node killed
        since its pause. (A clock fault skips nodes not running; a restart or resume of a
        running node is a mistake in the schedule, which the target refuses: `info`.)"""
        if f not in ("kill", "stop", "pause", "resume"):
            return None
        running = set(self.target.running_nodes())
        for nid in value.get("nodes", []):
            state = "paused" if nid in self._paused else "running" if nid in running else "down"
            if state == "down" or (f == "pause" and state == "paused"):
                already = "down (killed or stopped)" if state == "down" else "paused already"
                return f"{nid} is {already}: cannot {f} it"
        return None

    async def _read_counters(self) -> Mapping[str, Any] | None:
        if self.counters is None:
            return None
        counters = self.counters()
        if inspect.isawaitable(counters):
            counters = await counters
        assert isinstance(counters, Mapping), f"counters() returned {counters!r}"
        return counters

    async def _close_windows(self, kinds: Sequence[str], closer: Any) -> list[dict[str, Any]]:
        """Close the open windows of `kinds` just before `closer` (an invocation) changes the
        network: read the counters once, and describe each window with its deltas."""
        windows = [self._windows.pop(kind) for kind in kinds if kind in self._windows]
        if not windows:
            return []
        now = await self._read_counters()
        assert now is not None, "a window is open only when there are counters"
        end_ns = _as_op(closer).get("time")
        return [{"fault_index": w.op.get("index"), "f": w.f, "label": w.label,
                 "start_ns": w.op.get("time"), "end_ns": end_ns,
                 **{key: int(now.get(key, 0)) - int(w.counters.get(key, 0))
                    for key in WINDOW_COUNTERS}}
                for w in windows]

    def _label(self, f: str, value: Any) -> str:
        if f == "partition":
            return str(value.get("shape", "?"))
        return _describe_link(value["faults"][0]) if value.get("faults") else "none"

    async def _apply(self, f: str, value: Any) -> None:
        target = self.target
        nodes: list[str] = value.get("nodes", []) if isinstance(value, Mapping) else []
        if f == "partition":
            await target.partition(value["grudge"], clients=bool(value.get("clients", False)))
            self.active["partition"] = value["shape"]
        elif f == "link":
            await target.link_faults(value["faults"], clients=bool(value.get("clients", False)))
            self.active["link"] = _describe_link(value["faults"][0])
        elif f == "heal":
            await target.heal()
            self.active.pop("partition", None)
            self.active.pop("link", None)
        elif f in ("kill", "stop"):
            self._last[DOWN] = list(nodes)
            for nid in nodes:
                await (target.kill(nid) if f == "kill" else target.stop(nid))
                self._down[nid] = None
                self._paused.pop(nid, None)  # a paused node can be killed: it is down now
            self.active["kill"] = list(self._down)
            _set_or_pop(self.active, "pause", list(self._paused))
        elif f == "pause":
            self._last[PAUSED] = list(nodes)
            for nid in nodes:
                await target.pause(nid)
                self._paused[nid] = None
            self.active["pause"] = list(self._paused)
        elif f == "restart":
            self._last.pop(DOWN, None)
            await target.restart_nodes(nodes)
            for nid in nodes:
                self._down.pop(nid, None)
            _set_or_pop(self.active, "kill", list(self._down))
        elif f == "resume":
            self._last.pop(PAUSED, None)
            for nid in nodes:
                await target.resume(nid)
                self._paused.pop(nid, None)
            _set_or_pop(self.active, "pause", list(self._paused))
        elif f == "clock":
            period_ms = float(value.get("period_ms", 0.0))
            for nid in nodes:
                await target.set_clock(nid, offset_ms=value["offset_ms"], rate=value["rate"],
                                       period_ms=period_ms)
            if heals(f, value):
                self.active.pop("clock", None)
            else:
                self.active["clock"] = nodes
        else:
            raise ValueError(f"unknown fault {f!r}; use one of {', '.join(FAULT_NAMES)}")

    async def heal_all(self) -> None:
        """End healed: network, processes, clocks. Recorded as one nemesis `heal` operation,
        whose completion closes the network faults' windows still open."""
        value = {"final": True}
        invoke = self.recorder.record("invoke", "nemesis", "heal", value)
        try:
            closed = await self._close_windows(WINDOW_FAULTS, invoke)
            await self.target.heal()
            for nid in list(self._paused):
                await self.target.resume(nid)
                del self._paused[nid]
            await self.target.restart_nodes(list(self._down))
            self._down.clear()
            self._last.clear()
            if "clock" in self.active:
                for nid in self.target.running_nodes():
                    await self.target.set_clock(nid, offset_ms=0.0, rate=1.0, period_ms=0.0)
        except Exception as e:
            self.recorder.record("info", "nemesis", "heal", value,
                                 error=f"{type(e).__name__}: {e}")
            raise
        self.active.clear()
        self.recorder.record("ok", "nemesis", "heal", value, **_windows_field(closed))


def _windows_field(closed: list[dict[str, Any]]) -> dict[str, Any]:
    return {"windows": closed} if closed else {}


def _as_op(recorded: Any) -> Mapping[str, Any]:
    """The recorded operation (a `chaos.clients.Recorder` returns it), or nothing known."""
    return recorded if isinstance(recorded, Mapping) else {}


def _describe_statuses(statuses: Mapping[str, Mapping[str, Any]], target: FaultTarget) -> str:
    """What each running node said, for a `fail`'s error: `n1 follower term 3, n2 no status`."""
    said = []
    for nid in target.running_nodes():
        status = statuses.get(nid)
        if status is None:
            said.append(f"{nid} no status")
        else:
            said.append(f"{nid} {status.get('role', '?')} term {status.get('term', '?')}")
    return ", ".join(said) or "no node is running"


def _set_or_pop(active: dict[str, Any], key: str, nodes: list[str]) -> None:
    if nodes:
        active[key] = nodes
    else:
        active.pop(key, None)


def _describe_link(rule: Mapping[str, Any]) -> str:
    parts = []
    for key, label in (("drop_probability", "drop"), ("duplicate_probability", "dup"),
                       ("reorder_probability", "reorder")):
        if rule.get(key):
            parts.append(f"{label} {rule[key]:g}")
    if rule.get("delay"):
        parts.append(f"delay {rule['delay'].get('distribution', '?')}")
    return ", ".join(parts) or "none"
