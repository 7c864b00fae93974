"""The fault vocabulary, in one pure table: every nemesis operation, what it breaks, what heals it.

The scenario schema validates timelines against it, the nemesis plans and applies by it, and
the checkers read nemesis operations in a history by it (which phase an operation ran in,
whether faults took effect). It lives in `checker/` because it is part of the history format:
a nemesis operation in `history.jsonl` is `{"process": "nemesis", "f": <fault name>, ...}`,
and a checker must understand it without importing the machinery that applied it.

    from checker.fault_kinds import FAULTS, FAULT_NAMES, breaks, heals
    FAULTS["kill"].breaks      # "down": kill takes nodes down
    FAULTS["restart"].heals    # frozenset({"down"})
    FAULTS["link"].keys        # the keys a timeline entry of this fault may carry

Conditions (what a fault breaks and a heal mends): `network` (partitions and link faults),
`down` (killed or stopped nodes), `paused` (SIGSTOPped nodes), `clock` (skewed clocks; a
`clock` operation with offset 0, rate 1 and no strobe period is its heal). The orchestrator's
final heal-everything is recorded as `heal` with value `{"final": true}` and mends every
condition.

Targets (`TARGETS`) say which nodes a process or clock fault hits: `one`, `minority`,
`majority`, `all`, `random` (a non-empty subset of any size) are chosen at planning time from
the seed; `leader` (`RUNTIME_TARGETS`) only when the step runs, by asking the nodes. A nemesis
operation whose target could not be found, or whose nodes were not in a state it could act on
(a kill of a node already down), completes as `fail`: it did not happen.

Clock faults come in `CLOCK_MODES`: `bump` (a one-off offset), `drift` (a rate other than 1),
`strobe` (the clock flips between true time and `offset_ms` ahead every `period_ms`).
`MIX_FAULTS` are the faults a random mix (`--nemesis`) draws from: those that break something,
each followed by its heal.
A network fault's window (its `ok` until the operation that replaces or heals it) is recorded in
that closing operation's completion, with the messages the window cost (`WINDOW_COUNTERS`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

NETWORK = "network"
DOWN = "down"
PAUSED = "paused"
CLOCK = "clock"
CONDITIONS = (NETWORK, DOWN, PAUSED, CLOCK)

LEADER = "leader"
# Besides explicit node ids. All but the runtime ones are resolved when the schedule is planned.
TARGETS = ("one", "minority", "majority", "all", "random", LEADER)
RUNTIME_TARGETS = (LEADER,)  # resolved when the step runs: written to the schedule as is
CLOCK_MODES = ("bump", "drift", "strobe")
SHAPES = (
    "isolate",
    "halves",
    "random-halves",
    "majority-minority",
    "majorities-ring",
    "bridge",
    "one-way",
)
SHAPE_MIN_NODES = {"majority-minority": 3, "majorities-ring": 3, "bridge": 3}  # others: 2
LINK_KEYS = ("drop_probability", "duplicate_probability", "reorder_probability", "delay")
DELAY_DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "constant": ("ms",),
    "uniform": ("low_ms", "high_ms"),
    "exponential": ("mean_ms",),
    "normal": ("mean_ms", "jitter_ms"),
}


@dataclass(frozen=True)
class FaultKind:
    """One nemesis operation. `breaks` is the condition it creates (None for heals);
    `heals` the conditions it mends; `keys` what a timeline entry of it may carry;
    `category` who applies it: the proxy (`network`), process control (`process`), or the
    node's clock (`clock`)."""

    name: str
    category: str
    keys: tuple[str, ...]
    breaks: str | None = None
    heals: frozenset[str] = frozenset()
    summary: str = ""


FAULTS: dict[str, FaultKind] = {
    k.name: k
    for k in (
        FaultKind("partition", "network", ("shape", "clients", "node", "src", "dest"),
                  breaks=NETWORK, summary="cut links along a grudge of the given shape"),
        FaultKind("link", "network", (*LINK_KEYS, "src", "dest", "clients"), breaks=NETWORK,
                  summary="drop, delay, duplicate or reorder messages on links"),
        FaultKind("heal", "network", (), heals=frozenset({NETWORK}),
                  summary="clear partitions and link faults"),
        FaultKind("kill", "process", ("target",), breaks=DOWN,
                  summary="SIGKILL nodes: unsynced writes are lost"),
        FaultKind("stop", "process", ("target",), breaks=DOWN,
                  summary="stop nodes gracefully (SIGTERM)"),
        FaultKind("pause", "process", ("target",), breaks=PAUSED, summary="SIGSTOP nodes"),
        FaultKind("restart", "process", ("target",), heals=frozenset({DOWN}),
                  summary="start killed or stopped nodes again, same id and data"),
        FaultKind("resume", "process", ("target",), heals=frozenset({PAUSED}),
                  summary="SIGCONT paused nodes"),
        FaultKind("clock", "clock", ("target", "mode", "offset_ms", "rate", "period_ms"),
                  breaks=CLOCK,
                  summary="bump, drift or strobe native nodes' clocks (offset 0, rate 1 resets)"),
    )
}
FAULT_NAMES: tuple[str, ...] = tuple(FAULTS)
# What a random mix draws from: every fault that breaks a condition (each has its heal).
MIX_FAULTS: tuple[str, ...] = tuple(name for name, k in FAULTS.items() if k.breaks is not None)
# The fault each condition is healed by, for messages such as "add a restart before it".
HEAL_OF: dict[str, str] = {NETWORK: "heal", DOWN: "restart", PAUSED: "resume", CLOCK: "clock"}

# Operations of the `nemesis` process that are not faults but what the harness observed about
# itself: `chaos.watchdog` records a `stall` (an `invoke` and its `ok`, value `{"slip_s",
# "slept_s", "threshold_s"}`) when its timer woke late, and `checker.stalls` judges them. They
# break and heal nothing, and a timeline cannot name them (they are not in `FAULTS`).
STALL = "stall"
OBSERVATIONS: tuple[str, ...] = (STALL,)
# The network counters (`chaos.proxy.ProxyStatistics`) a fault window records, as deltas over
# the window, in the `windows` of the operation that closes it (`chaos.nemesis`): messages that
# reached the proxy, and those lost to the grudge and to lossy links.
WINDOW_COUNTERS: tuple[str, ...] = ("received", "partitioned", "dropped")


def is_clock_reset(params: Mapping[str, Any] | None) -> bool:
    """A `clock` fault that sets offset 0, rate 1 and no strobe heals the clock condition."""
    p = params if isinstance(params, Mapping) else {}
    return p.get("offset_ms", 0) == 0 and p.get("rate", 1) == 1 and not p.get("period_ms")


def breaks(f: str, value: Any = None) -> str | None:
    """The condition a nemesis operation `f` (with its value) creates, if any."""
    kind = FAULTS.get(f)
    if kind is None or (f == "clock" and is_clock_reset(value)):
        return None
    return kind.breaks


def heals(f: str, value: Any = None) -> frozenset[str]:
    """The conditions a nemesis operation `f` (with its value) mends."""
    if f == "heal" and isinstance(value, Mapping) and value.get("final"):
        return frozenset(CONDITIONS)  # the orchestrator's heal-everything
    if f == "clock" and is_clock_reset(value):
        return frozenset({CLOCK})
    kind = FAULTS.get(f)
    return kind.heals if kind is not None else frozenset()


@dataclass(frozen=True, slots=True)
class FaultWindow:
    """One fault as a span of the history: from its `ok` (`start_ns`) until the `ok` of the
    operation that heals what it broke (`end_ns`, None if nothing did), with its name `f`, what
    it hit (`value`) and a label for people, e.g. `partition majority-minority n1,n2`."""

    start_ns: int
    end_ns: int | None
    label: str
    f: str = ""
    value: Any = None


def fault_label(f: str, value: Any) -> str:
    """`f` with its shape, nodes, target or clock mode, as a page or a table shows a fault."""
    v = value if isinstance(value, Mapping) else {}
    parts = [f]
    for key in ("shape", "mode"):
        if v.get(key):
            parts.append(str(v[key]))
    if v.get("nodes"):
        parts.append(",".join(map(str, v["nodes"])))
    elif isinstance(v.get("grudge"), Mapping) and v["grudge"]:
        parts.append(" | ".join(",".join(side) for side in _sides(v["grudge"])))
    elif v.get("target") is not None:
        parts.append(str(v["target"]))
    for link in v.get("faults") or ():  # a link fault's rules
        if isinstance(link, Mapping):
            parts.append(_link_label(link))
    return " ".join(parts)


_LINK_WORDS = {"drop_probability": "drop", "duplicate_probability": "dup",
               "reorder_probability": "reorder"}


def _link_label(link: Mapping[str, Any]) -> str:
    """`n1->*: drop 0.3 dup 0.29 delay exponential` for one rule of a link fault."""
    words = [f"{link.get('src', '*')}->{link.get('dest', '*')}:"]
    for key, word in _LINK_WORDS.items():
        if link.get(key):
            words.append(f"{word} {link[key]}")
    delay = link.get("delay")
    if isinstance(delay, Mapping):
        words.append("delay " + " ".join(f"{k} {v}" for k, v in delay.items()))
    return " ".join(words)


def _sides(grudge: Mapping[str, Any]) -> list[list[str]]:
    """The groups of nodes a grudge (node -> the nodes it hears nothing from) leaves talking:
    the connected components of the links it leaves in both directions."""
    nodes = sorted({str(n) for n in grudge} | {str(m) for ms in grudge.values() for m in ms})
    cut = {(str(a), str(b)) for a, ms in grudge.items() for b in ms}
    sides: list[list[str]] = []
    seen: set[str] = set()
    for start in nodes:
        if start in seen:
            continue
        side, todo = [], [start]
        seen.add(start)
        while todo:
            a = todo.pop()
            side.append(a)
            for b in nodes:
                if b not in seen and (a, b) not in cut and (b, a) not in cut:
                    seen.add(b)
                    todo.append(b)
        sides.append(sorted(side))
    return sides


def fault_windows(ops: Iterable[Any]) -> list[FaultWindow]:
    """The fault windows of a history (any iterable of `checker.history.Op`), in order of
    their start: each `ok` nemesis operation that breaks a condition opens one, and the next
    `ok` operation that heals that condition closes every window open on it (a network heal
    ends partitions and link faults, a restart kills and stops, the final heal all). Failed
    faults (`fail`: they did not happen) open nothing."""
    windows: list[FaultWindow] = []
    open_: dict[str, list[tuple[int, str, Any]]] = {}
    for op in ops:
        if op.process != "nemesis" or op.type != "ok":
            continue
        for condition in sorted(heals(op.f, op.value)):
            for start, f, value in open_.pop(condition, []):
                windows.append(FaultWindow(start, op.time, fault_label(f, value), f, value))
        broken = breaks(op.f, op.value)
        if broken is not None:
            open_.setdefault(broken, []).append((op.time, op.f, op.value))
    for bands in open_.values():
        windows.extend(FaultWindow(start, None, fault_label(f, value), f, value)
                       for start, f, value in bands)
    windows.sort(key=lambda w: w.start_ns)
    return windows
