"""A scenario's fault timeline: validated against the one fault-kind table.

Each `[[timeline]]` entry is `at_s` (seconds into the fault phase) plus a fault from
`checker.fault_kinds.FAULTS` and the keys that fault takes:

- `partition`: `shape` (one of `SHAPES`), `clients` (bool: fault client links too), `node`
  (isolate only), `src`/`dest` (one-way only). Healed by `heal`.
- `link`: `drop_probability`, `duplicate_probability`, `reorder_probability` (each in [0, 1]),
  `delay` (`{distribution = "constant", ms}`, `{"uniform", low_ms, high_ms}`,
  `{"exponential", mean_ms}`, `{"normal", mean_ms, jitter_ms}`), `src`/`dest` (a node id or
  `"*"`), `clients`. Replaces the link-fault table. Healed by `heal`.
- `heal`: clears partitions and link faults. No keys.
- `kill`, `stop`, `pause`: `target` (default `"one"`): `one`, `minority`, `majority`, `all`,
  `random` (a random non-empty subset), `leader` (the node reporting itself leader with the
  highest term when the step runs; if none does, the step is recorded as a failed nemesis
  operation and the run goes on; refused for a `--node-cmd` program, which cannot be asked), a
  node id, or a list of node ids. `kill`/`stop` are healed by `restart`, `pause` by `resume`
  (`target` optional on those, and never `leader`: by default the nodes the matching fault
  took down, whoever they turned out to be).
- `clock`: `target` (as above), and a `mode`:
  - `mode = "bump"`: `offset_ms` (not 0): the clock jumps by that much and stays there;
  - `mode = "drift"`: `rate` (> 0, not 1): the clock runs that much fast or slow;
  - `mode = "strobe"`: `offset_ms` (not 0) and `period_ms` (1 to 60000): the clock flips
    between true time and `offset_ms` ahead every `period_ms`, until healed;
  - no `mode`: `offset_ms` and/or `rate`, as given.
  Healed by `clock` with `offset_ms = 0`, `rate = 1` and `target = "all"`.

A fault aimed at nodes that cannot take it when it runs (a kill of a node already down, a pause
of one already paused) is recorded as a failed nemesis operation, and the run goes on.

**Every run ends healed.** When a timeline leaves a fault unhealed, `parse_timeline` appends
the missing heals at `at_s = time_limit_s`, marked `implicit`. A `kill` or `pause` while nodes
from an earlier one are still down is an error: heal first, so that every fault has its own heal.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from checker.fault_kinds import (
    CLOCK,
    CLOCK_MODES,
    DELAY_DISTRIBUTIONS,
    DOWN,
    FAULT_NAMES,
    FAULTS,
    HEAL_OF,
    LEADER,
    LINK_KEYS,
    NETWORK,
    PAUSED,
    SHAPE_MIN_NODES,
    SHAPES,
    is_clock_reset,
)
from scenarios.validation import Validator, suggest

DELAY_MS_MAX = 60_000.0
OFFSET_MS_MAX = 24 * 3600 * 1000.0
PERIOD_MS_MIN = 1.0  # node.clock's limits on a strobe's period
PERIOD_MS_MAX = 60_000.0


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
        return {"at_s": self.at_s, "fault": self.fault, **thaw(self.params)}


def thaw(value: Any) -> Any:
    """A deep copy of plain data, so callers cannot change a frozen scenario's tables."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [thaw(v) for v in value]
    return value


def parse_timeline(
    v: Validator, entries: Sequence[Any], *, nodes: int, time_limit_s: float
) -> tuple[FaultEvent, ...]:
    events: list[FaultEvent] = []
    open_at: dict[str, int] = {}  # condition (fault_kinds) -> the entry that broke it
    previous_at_s = 0.0
    for i, entry in enumerate(entries):
        at = f"timeline[{i}]"
        if not isinstance(entry, Mapping):
            v.fail(
                at, f"must be a table, not {entry!r}", "write it as a [[timeline]] table", entry=i
            )
        fault = v.choice(f"{at}.fault", entry.get("fault"), FAULT_NAMES, what="fault", entry=i)
        kind = FAULTS[fault]
        allowed = ("at_s", "fault", *kind.keys)
        for key in entry:
            if key not in allowed:
                v.fail(
                    f"{at}.{key}",
                    f"unknown key {key!r} for a {fault} fault{suggest(key, allowed)}",
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
        _CHECKS[fault](v, at, params, nodes=nodes, entry=i)
        _track(v, at, fault, params, open_at, entry=i)
        if kind.breaks not in (None, CLOCK) and at_s >= time_limit_s:
            v.fail(
                f"{at}.at_s",
                f"a {fault} at the very end of the fault phase ({at_s:g} s) is healed at once",
                f"start it before time_limit_s = {time_limit_s:g}",
                entry=i,
            )
        events.append(FaultEvent(at_s=at_s, fault=fault, params=params))

    implicit = {
        NETWORK: {},
        PAUSED: {},
        DOWN: {},
        CLOCK: {"target": "all", "offset_ms": 0.0, "rate": 1.0},
    }
    for condition, params in implicit.items():  # heal, resume, restart, clock reset
        if condition in open_at:
            events.append(FaultEvent(at_s=time_limit_s, fault=HEAL_OF[condition],
                                     params=params, implicit=True))
    return tuple(events)


def _track(v: Validator, at: str, fault: str, params: dict[str, Any],
           open_at: dict[str, int], *, entry: int) -> None:
    """Every fault has its own heal: keep which conditions are open, refuse a second kill or
    pause over nodes still down, and a restart or resume with nothing to bring back."""
    kind = FAULTS[fault]
    if fault == "clock":
        if is_clock_reset(params) and params.get("target") == "all":
            open_at.pop(CLOCK, None)
        elif not is_clock_reset(params):
            open_at[CLOCK] = entry
        return
    condition = kind.breaks
    if condition in (DOWN, PAUSED) and condition in open_at:
        v.fail(
            at,
            f"{fault} while nodes from timeline[{open_at[condition]}] are still down",
            f"add a {HEAL_OF[condition]} before it, so every fault has its own heal",
            entry=entry,
        )
    if condition is not None:
        open_at[condition] = entry
    for healed in kind.heals:
        if healed in (DOWN, PAUSED) and healed not in open_at and "target" not in params:
            v.fail(
                at,
                f"{fault} with nothing to {fault}",
                f"add a {'pause' if healed == PAUSED else 'kill'} before it, or a target",
                entry=entry,
            )
        open_at.pop(healed, None)


def _check_partition(
    v: Validator, at: str, params: dict[str, Any], *, nodes: int, entry: int
) -> None:
    shape = v.choice(f"{at}.shape", params.get("shape"), SHAPES, what="shape", entry=entry)
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


def _check_link(v: Validator, at: str, params: dict[str, Any], *, nodes: int, entry: int) -> None:
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
        dist = v.choice(f"{dk}.distribution", delay.get("distribution"),
                        tuple(DELAY_DISTRIBUTIONS), what="distribution", entry=entry)
        keys = ("distribution", *DELAY_DISTRIBUTIONS[dist])
        for key in delay:
            if key not in keys:
                v.fail(
                    f"{dk}.{key}",
                    f"unknown key {key!r} for a {dist} delay{suggest(key, keys)}",
                    f"a {dist} delay takes {', '.join(keys)}",
                    entry=entry,
                )
        for key in DELAY_DISTRIBUTIONS[dist]:
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
    if not any(params.get(k) for k in LINK_KEYS):
        v.fail(
            at,
            "a link fault that changes nothing",
            "set drop_probability, duplicate_probability, reorder_probability or delay",
            entry=entry,
        )


def _check_heal(v: Validator, at: str, params: dict[str, Any], *, nodes: int, entry: int) -> None:
    pass  # unknown keys are already refused


def _check_process(
    v: Validator, at: str, params: dict[str, Any], *, nodes: int, entry: int, fault: str = ""
) -> None:
    if "target" in params:
        v.target(f"{at}.target", params["target"], nodes=nodes, entry=entry)
        if params["target"] == LEADER and FAULTS[fault].heals:  # restart, resume
            v.fail(
                f"{at}.target",
                f"a {fault} brings back nodes that are down, and the leader is running",
                "leave target out (it takes what the matching fault took down) or name nodes",
                entry=entry,
            )


_CLOCK_MODE_KEYS: dict[str | None, tuple[str, ...]] = {
    "bump": ("offset_ms",),
    "drift": ("rate",),
    "strobe": ("offset_ms", "period_ms"),
    None: ("offset_ms", "rate"),
}


def _check_clock(v: Validator, at: str, params: dict[str, Any], *, nodes: int, entry: int) -> None:
    _check_process(v, at, params, nodes=nodes, entry=entry, fault="clock")
    mode = None
    if "mode" in params:
        mode = v.choice(f"{at}.mode", params["mode"], CLOCK_MODES, what="clock mode", entry=entry)
    takes = _CLOCK_MODE_KEYS[mode]
    what = f"a {mode} clock fault" if mode else "a clock fault without a mode"
    for key in ("offset_ms", "rate", "period_ms"):
        if key in params and key not in takes:
            fix = ('add mode = "strobe"' if key == "period_ms" else
                   f"remove it; {what} takes {', '.join(takes)}")
            v.fail(f"{at}.{key}", f"{what} takes no {key}", fix, entry=entry)
    if mode is not None:
        for key in takes:
            if key not in params:
                v.fail(f"{at}.{key}", "missing", f"{what} takes {', '.join(takes)}", entry=entry)
    if "offset_ms" in params:
        offset = v.number(f"{at}.offset_ms", params["offset_ms"], low=-OFFSET_MS_MAX,
                          high=OFFSET_MS_MAX, entry=entry)
        if mode is not None and offset == 0:
            v.fail(f"{at}.offset_ms", f"{what} of 0 ms changes nothing",
                   "give it an offset, or heal with offset_ms = 0, rate = 1 and no mode",
                   entry=entry)
    if "rate" in params:
        rate = v.number(f"{at}.rate", params["rate"], low=0.01, high=100.0, entry=entry)
        if mode == "drift" and rate == 1:
            v.fail(f"{at}.rate", "a drift at rate 1 changes nothing",
                   "give a rate such as 0.5 (slow) or 2 (fast)", entry=entry)
    if "period_ms" in params:
        v.number(f"{at}.period_ms", params["period_ms"], low=PERIOD_MS_MIN, high=PERIOD_MS_MAX,
                 entry=entry)


def leader_entry(events: Sequence[FaultEvent]) -> int | None:
    """The index of the first timeline entry aimed at the leader, if any: such a scenario
    needs nodes that can be asked who leads (not a `--node-cmd` program)."""
    for i, event in enumerate(events):
        if event.params.get("target") == LEADER:
            return i
    return None


_CHECKS: dict[str, Callable[..., None]] = {
    "partition": _check_partition,
    "link": _check_link,
    "heal": _check_heal,
    "kill": functools.partial(_check_process, fault="kill"),
    "stop": functools.partial(_check_process, fault="stop"),
    "pause": functools.partial(_check_process, fault="pause"),
    "restart": functools.partial(_check_process, fault="restart"),
    "resume": functools.partial(_check_process, fault="resume"),
    "clock": _check_clock,
}

