"""The nemesis: decides which faults happen when, and has a `FaultTarget` carry them out.

Policy and mechanism are apart (STYLE.md #5). `plan` is pure: from a scenario's timeline, the
node ids and a seeded `random.Random` it works out the whole schedule before the run starts,
every random choice made (which nodes a "majority-minority" partition cuts off, which node
"one" means), so the schedule can be written to `schedule.jsonl`, read by a person, and
replayed exactly. `Nemesis.run_schedule` then walks the schedule in real time and applies each
step to a `FaultTarget`, recording it as a nemesis operation in the history: an `invoke` and
then `ok` (or `info` if applying it failed, since it may have half happened).

The nemesis depends on nothing but the two small protocols it declares here, `FaultTarget`
(the real cluster in `chaos.supervisor`, or a simulator's) and `HistoryRecorder`. `plan`,
`Step`, `read_schedule` and `write_schedule` are pure and need no trio: a simulator plans a
schedule exactly as a real run does. `Nemesis.apply` awaits only the target, so it runs under
any event loop; only `run_schedule` imports trio (to wait for each step's time).

The fault vocabulary is `checker.fault_kinds.FAULTS` (one table for the schema, the nemesis and
the checkers); each kind's `breaks`/`heals` conditions pair a fault with its heal:
- `partition` {shape, ...}: a grudge from `chaos.faults.build_grudge`; replaces the current one.
- `link` {drop_probability, delay, duplicate_probability, reorder_probability, src, dest}:
  replaces the link-fault table with one rule (src/dest default to every link).
- `heal`: clears partitions and link faults.
- `kill`, `stop`, `pause` {target}: SIGKILL, SIGTERM, SIGSTOP the target nodes;
  `restart`, `resume` {target}: bring them back, by default the nodes that the last fault
  breaking the condition they heal took down. Targets (`checker.fault_kinds.TARGETS`): `one`,
  `minority`, `majority`, `all`, or explicit node ids; chosen at planning time.
- `clock` {target, offset_ms, rate}: skews nodes' clocks (offset 0, rate 1 resets them).

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

Not yet: targeting "the leader" (nodes do not report leadership yet), and random fault mixes
(a schedule is a fixed timeline, possibly with random shapes and targets).
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
    DOWN,
    FAULT_NAMES,
    FAULTS,
    LINK_KEYS,
    PAUSED,
    TARGETS,
    WINDOW_COUNTERS,
    heals,
)

__all__ = ["FAULTS", "LINK_KEYS", "TARGETS", "Counters", "FaultTarget", "HistoryRecorder",
           "Nemesis", "Step", "choose_targets", "plan", "read_schedule", "write_schedule"]

# The network's counters now (`chaos.proxy.ProxyStatistics` keys), awaitable or not, so that
# both `Cluster.network_stats` (the proxy's) and the simulated network's `statistics` fit as is.
Counters = Callable[[], Awaitable[Mapping[str, Any]] | Mapping[str, Any]]
# The faults whose windows are measured, and which operations end them: a partition replaces
# the grudge, a link fault the link-fault table, and a heal clears both.
WINDOW_FAULTS = ("partition", "link")
CLOSES: dict[str, tuple[str, ...]] = {"partition": ("partition",), "link": ("link",),
                                      "heal": WINDOW_FAULTS}


class FaultTarget(Protocol):
    """What the nemesis needs of a cluster: the mechanisms, one call per fault and node.

    Network faults replace the proxy's (or simulated network's) grudge or link-fault table;
    process faults act on one node and assert its state (a running node to kill, a paused one
    to resume); `set_clock` must do nothing for nodes that cannot take `chaos_` control
    (a `--node-cmd` program)."""

    async def partition(self, grudge: Mapping[str, Sequence[str]], *, clients: bool) -> None: ...
    async def link_faults(self, rules: Sequence[Mapping[str, Any]], *, clients: bool) -> None: ...
    async def heal(self) -> None: ...
    async def kill(self, node_id: str) -> None: ...
    async def stop(self, node_id: str) -> None: ...
    async def pause(self, node_id: str) -> None: ...
    async def resume(self, node_id: str) -> None: ...
    async def restart(self, node_id: str) -> None: ...
    async def set_clock(self, node_id: str, *, offset_ms: float, rate: float) -> None: ...
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
    """Resolve a target spec to node ids. Raises ValueError naming the valid targets."""
    if isinstance(target, list):
        unknown = [t for t in target if t not in nodes]
        if unknown:
            raise ValueError(f"target names unknown nodes {unknown}; the nodes are {list(nodes)}")
        return list(target)
    if target in nodes:
        return [target]
    n = len(nodes)
    counts = {"one": 1, "minority": (n - 1) // 2, "majority": n // 2 + 1, "all": n}
    assert set(counts) == set(TARGETS), "a target of checker.fault_kinds has no count here"
    if target not in counts:
        raise ValueError(f"unknown target {target!r}; use one of {', '.join(TARGETS)} or node ids")
    return sorted(rng.sample(list(nodes), max(counts[target], 1 if n else 0)))


def plan(
    timeline: Sequence[Mapping[str, Any]],
    nodes: Sequence[str],
    rng: random.Random,
    *,
    offset_s: float = 0.0,
) -> list[Step]:
    """Work out the schedule: each timeline entry `{"at_s", "fault", ...}` becomes a `Step`
    `offset_s + at_s` after the start, with every random choice made now."""
    steps: list[Step] = []
    down: dict[str, list[str]] = {}  # condition -> the nodes the last fault breaking it took down
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
            targets = choose_targets(params.get("target", "one"), nodes, rng)
            down[kind.breaks] = targets
            value = {"nodes": targets}
        elif kind.category == "process":  # restart, resume: by default what their fault downed
            (condition,) = kind.heals
            previous = down.pop(condition, None)
            target = params.get("target")
            targets = choose_targets(target, nodes, rng) if target else (previous or [])
            value = {"nodes": targets}
        elif fault == "clock":
            targets = choose_targets(params.get("target", "one"), nodes, rng)
            value = {"nodes": targets, "offset_ms": float(params.get("offset_ms", 0.0)),
                     "rate": float(params.get("rate", 1.0))}
        else:
            raise ValueError(f"the nemesis cannot plan fault {fault!r} yet")
        steps.append(Step(at_s=offset_s + float(entry["at_s"]), f=fault, value=value))
    return steps


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
        self._down: dict[str, None] = {}  # killed or stopped nodes, in order, for heal_all
        self._paused: dict[str, None] = {}
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
        """Apply one operation and record it: `invoke`, then `ok` (or `info` and raise).
        `planned_at_s` and `late_s` (a scheduled step's) are recorded with the invocation."""
        timing = {} if planned_at_s is None else {"planned_at_s": round(planned_at_s, 6)}
        if late_s is not None:
            timing["late_s"] = round(late_s, 6)
        invoke = self.recorder.record("invoke", "nemesis", f, value, **timing)
        try:
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
            for nid in nodes:
                await (target.kill(nid) if f == "kill" else target.stop(nid))
                self._down[nid] = None
                self._paused.pop(nid, None)  # a paused node can be killed: it is down now
            self.active["kill"] = list(self._down)
            _set_or_pop(self.active, "pause", list(self._paused))
        elif f == "pause":
            for nid in nodes:
                await target.pause(nid)
                self._paused[nid] = None
            self.active["pause"] = list(self._paused)
        elif f == "restart":
            for nid in nodes:
                await target.restart(nid)
                self._down.pop(nid, None)
            _set_or_pop(self.active, "kill", list(self._down))
        elif f == "resume":
            for nid in nodes:
                await target.resume(nid)
                self._paused.pop(nid, None)
            _set_or_pop(self.active, "pause", list(self._paused))
        elif f == "clock":
            for nid in nodes:
                await target.set_clock(nid, offset_ms=value["offset_ms"], rate=value["rate"])
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
            for nid in list(self._down):
                await self.target.restart(nid)
                del self._down[nid]
            if "clock" in self.active:
                for nid in self.target.running_nodes():
                    await self.target.set_clock(nid, offset_ms=0.0, rate=1.0)
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
