"""The nemesis: decides which faults happen when, and has the mechanisms carry them out.

Policy and mechanism are apart (STYLE.md #5). `plan` is pure: from a scenario's timeline, the
node ids and a seeded `random.Random` it works out the whole schedule before the run starts,
every random choice made (which nodes a "majority-minority" partition cuts off, which node
"one" means), so the schedule can be written to `schedule.jsonl`, read by a person, and
replayed exactly. `run_schedule` then walks the schedule in real time, applying each fault
through the proxy's control socket (network) or the `Cluster` (processes), and records each as
a nemesis operation in the history: an `invoke` and then `ok` (or `info` if applying it failed,
since it may have half happened).

Faults:
- `partition` {shape, ...}: a grudge from `chaos.faults.build_grudge`; replaces the current one.
- `link` {drop_probability, delay, duplicate_probability, reorder_probability, src, dest}:
  replaces the link-fault table with one rule (src/dest default to every link).
- `heal`: clears partitions and link faults.
- `kill`, `stop`, `pause` {target}: SIGKILL, SIGTERM, SIGSTOP the target nodes;
  `restart`, `resume` {target}: bring them back. Targets: `one`, `minority`, `majority`,
  `all`, or explicit node ids; chosen at planning time.
- `clock` {target, offset_ms, rate}: skews native nodes' clocks through `chaos_clock`.

Every fault has a heal, and `heal_all` ends every run healed: network healed, paused nodes
resumed, stopped nodes restarted, clocks reset, before recovery and final reads.

Not yet: targeting "the leader" (nodes do not report leadership yet), and random fault mixes
(a schedule is a fixed timeline, possibly with random shapes and targets).
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from chaos import faults

if TYPE_CHECKING:
    from chaos.clients import Recorder
    from orchestrator import Cluster

NETWORK_FAULTS = ("partition", "link", "heal")
PROCESS_FAULTS = ("kill", "stop", "pause", "restart", "resume")
CLOCK_FAULTS = ("clock",)
FAULTS = NETWORK_FAULTS + PROCESS_FAULTS + CLOCK_FAULTS
TARGETS = ("one", "minority", "majority", "all")
LINK_KEYS = ("drop_probability", "duplicate_probability", "reorder_probability", "delay")


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
    down: dict[str, list[str]] = {}  # fault -> nodes it took down, so the matching heal finds them
    for entry in timeline:
        fault = entry["fault"]
        params = {k: v for k, v in entry.items() if k not in ("at_s", "fault")}
        at_s = offset_s + float(entry["at_s"])
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
        elif fault in ("kill", "stop", "pause"):
            targets = choose_targets(params.get("target", "one"), nodes, rng)
            down["pause" if fault == "pause" else "kill"] = targets
            value = {"nodes": targets}
        elif fault in ("restart", "resume"):
            previous = down.pop("pause" if fault == "resume" else "kill", None)
            target = params.get("target")
            targets = choose_targets(target, nodes, rng) if target else (previous or [])
            value = {"nodes": targets}
        elif fault == "clock":
            targets = choose_targets(params.get("target", "one"), nodes, rng)
            value = {"nodes": targets, "offset_ms": float(params.get("offset_ms", 0.0)),
                     "rate": float(params.get("rate", 1.0))}
        else:
            raise ValueError(f"unknown fault {fault!r}; use one of {', '.join(FAULTS)}")
        steps.append(Step(at_s=at_s, f=fault, value=value))
    return steps


def write_schedule(steps: Sequence[Step], path: Path) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for step in steps:
            fh.write(json.dumps(step.to_json(), separators=(",", ":")) + "\n")


def read_schedule(path: Path) -> list[Step]:
    with open(path, encoding="utf-8") as fh:
        return [Step.from_json(json.loads(line)) for line in fh if line.strip()]


class Nemesis:
    """Applies steps to a running cluster and records them in the history."""

    def __init__(self, cluster: Cluster, recorder: Recorder) -> None:
        self.cluster = cluster
        self.recorder = recorder
        self.active: dict[str, Any] = {}  # fault kind -> description, for the status line
        self.applied_count = 0

    async def run_schedule(self, steps: Sequence[Step], *, start: float) -> None:
        """Apply each step at `start + at_s` (trio time)."""
        for step in steps:
            await trio.sleep_until(start + step.at_s)
            await self.apply(step.f, step.value)

    async def apply(self, f: str, value: Any) -> None:
        self.recorder.record("invoke", "nemesis", f, value)
        try:
            await self._apply(f, value)
        except Exception as e:  # the fault may have half happened: indefinite
            self.recorder.record("info", "nemesis", f, value, error=f"{type(e).__name__}: {e}")
            raise
        self.recorder.record("ok", "nemesis", f, value)
        self.applied_count += 1

    async def _apply(self, f: str, value: Any) -> None:
        cluster = self.cluster
        control = cluster.control
        assert control is not None
        if f == "partition":
            await control.partition(value["grudge"], clients=value.get("clients", False))
            self.active["partition"] = value["shape"]
        elif f == "link":
            await control.link_faults(value["faults"], clients=value.get("clients", False))
            self.active["link"] = _describe_link(value["faults"][0])
        elif f == "heal":
            await control.heal()
            self.active.pop("partition", None)
            self.active.pop("link", None)
        elif f == "kill":
            for nid in value["nodes"]:
                await cluster.kill_node(nid)
            self.active["kill"] = value["nodes"]
        elif f == "stop":
            for nid in value["nodes"]:
                await cluster.stop_node(nid)
            self.active["kill"] = value["nodes"]
        elif f == "pause":
            for nid in value["nodes"]:
                cluster.pause_node(nid)
            self.active["pause"] = value["nodes"]
        elif f == "restart":
            for nid in value["nodes"]:
                await cluster.restart_node(nid)
            self.active.pop("kill", None)
        elif f == "resume":
            for nid in value["nodes"]:
                cluster.resume_node(nid)
            self.active.pop("pause", None)
        elif f == "clock":
            if cluster.is_native:
                for nid in value["nodes"]:
                    await cluster.send_setup(nid, {"type": "chaos_clock",
                                                   "offset_ms": value["offset_ms"],
                                                   "rate": value["rate"]})
            self.active["clock"] = value["nodes"]
        else:
            raise ValueError(f"unknown fault {f!r}")

    async def heal_all(self) -> None:
        """End healed: network, processes, clocks. Recorded as one nemesis `heal` operation."""
        self.recorder.record("invoke", "nemesis", "heal", {"final": True})
        assert self.cluster.control is not None
        await self.cluster.control.heal()
        await self.cluster.heal_processes()
        if "clock" in self.active and self.cluster.is_native:
            for nid in self.cluster.running_nodes():
                await self.cluster.send_setup(nid, {"type": "chaos_clock", "offset_ms": 0.0,
                                                    "rate": 1.0})
        self.active.clear()
        self.recorder.record("ok", "nemesis", "heal", {"final": True})


def _describe_link(rule: Mapping[str, Any]) -> str:
    parts = []
    for key, label in (("drop_probability", "drop"), ("duplicate_probability", "dup"),
                       ("reorder_probability", "reorder")):
        if rule.get(key):
            parts.append(f"{label} {rule[key]:g}")
    if rule.get("delay"):
        parts.append(f"delay {rule['delay'].get('distribution', '?')}")
    return ", ".join(parts) or "none"
