"""The fault model: link faults, the fault table, and partitions as grudges.

Everything here is plain data and pure functions (no zmq, no trio, no files), so the proxy
applies it, the nemesis builds it, and tests check it against literal maps.

## Link faults
A `LinkFault` is a rule for a directed link `src -> dest` (either may be `"*"`): each message
is dropped with `drop_probability`; otherwise it is held back by a `Delay` drawn from a
distribution (constant, uniform, exponential, or normal with jitter; never negative, never more
than `DELAY_MS_MAX`), delivered a second time with `duplicate_probability` (the copy draws its
own delay), and with `reorder_probability` held back by an extra `reorder_hold_ms` (a uniform
draw between half and all of it) so that later messages on the link overtake it. Independent
delays with jitter reorder messages too, as on a real network (netem does the same).

`FaultTable.fate(src, dest, rng)` resolves the most specific rule (src+dest, then src, then
dest, then `*`/`*`) and returns a `Fate`: the delivery delays of the copies, in ms. No copies
means dropped; two means duplicated. A link no rule covers, or whose rule does nothing, costs one
dict lookup and draws nothing from `rng`, which is what keeps the proxy's hot path cheap.

By default rules apply to node<->node links only: a link with a client end (an id that is not a
node) is faulted only in a table built with `clients=True`.

## The baseline latency (not a fault)
A run may give its network a latency in normal operation, as Maelstrom's `--latency`: the
scenario's `latency_ms` and `latency_dist`, made a `Delay` by `baseline_delay` (constant;
uniform on [0, 2 * latency_ms]; exponential with mean latency_ms: each has mean latency_ms).
`network_fate` is the one decision the proxy and the simulated network both make per message:
the fault table's fate (unless an end is exempt from faults), then, on every copy that fate
delivers, the baseline on top (`with_baseline`: one draw per copy, so each copy of a duplicate
draws its own; a drop stays a drop and draws nothing). Every link carries the baseline, client
and service links too, except the admin client's (`ADMIN_ID`: its `init` and `chaos_` control
are the harness's control plane, not the system's network). The baseline lives beside the
fault table, not in it, so a heal or a new link-fault table leaves it in force. `Fate` keeps the
two apart (`delays_ms` the fault's, `baseline_ms` the baseline's) so that the counters do:
`delayed` counts copies a fault held back, `baseline_delayed` those the baseline held back.
With no baseline (`None`, latency 0) nothing is drawn: the hot path stays as cheap as above.

## Grudges
A grudge is `dict[str, frozenset[str]]`: node -> the nodes it cannot hear from (Jepsen's
representation). The builders below make the usual shapes; `build_grudge(shape, nodes, rng)`
calls one by its scenario name. A grudge is normalised: nodes with nothing against anyone are
left out, so `heal()` is `{}`. All shapes are symmetric except `one_way`.

    >>> halves(["n1", "n2", "n3", "n4", "n5"])["n1"]
    frozenset({'n3', 'n4', 'n5'})

## Not done yet
Bandwidth limits and per-message-type rules: every rule applies to all messages of a link.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

ANY = "*"
# What happens to messages, counted by the proxy (and by the simulated network, with the same
# names): the statistics a run keeps in results.json and the fault guard reads.
COUNTER_NAMES = (
    "received",
    "delivered",
    "dropped",
    "partitioned",
    "duplicated",
    "delayed",  # copies a fault rule held back (never the baseline latency alone)
    "baseline_delayed",  # copies the run's baseline latency held back
    "reordered",
    "unroutable",
    "overflow",
    "malformed",
    "control_errors",
    "refused",  # connections that failed the run's login (strangers)
    "forbidden",  # chaos_ control bodies from anyone but the admin client
)
# The orchestrator's admin client: it sends init, setup and chaos_ control, and its links are
# never faulted (a dropped init would fail the run as a harness error, not test the system).
ADMIN_ID = "c0"
DELAY_MS_MAX = 60_000.0  # a limit on everything: no distribution holds a message longer
REORDER_HOLD_MS_DEFAULT = 10.0
DISTRIBUTIONS = ("constant", "uniform", "exponential", "normal")

Grudge = dict[str, frozenset[str]]


# --------------------------------------------------------------------------------------------
# Delays


def _number(value: Any, field: str, *, low: float = 0.0, high: float = DELAY_MS_MAX) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{field} must be a number in [{low:g}, {high:g}], not {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{field} must be in [{low:g}, {high:g}], not {value!r}")
    return float(value)


@dataclass(frozen=True)
class Delay:
    """A delay distribution, in milliseconds. Build one with the class methods.

    Fields that a distribution does not use stay 0. `sample_ms` never returns a negative value
    or more than `DELAY_MS_MAX` (a normal draw below zero becomes zero).
    """

    distribution: str
    ms: float = 0.0
    low_ms: float = 0.0
    high_ms: float = 0.0
    mean_ms: float = 0.0
    jitter_ms: float = 0.0

    def __post_init__(self) -> None:
        if self.distribution not in DISTRIBUTIONS:
            raise ValueError(
                f"delay.distribution must be one of {', '.join(DISTRIBUTIONS)}, "
                f"not {self.distribution!r}"
            )
        for name in ("ms", "low_ms", "high_ms", "mean_ms", "jitter_ms"):
            _number(getattr(self, name), f"delay.{name}")
        if self.low_ms > self.high_ms:
            raise ValueError(
                f"delay.low_ms ({self.low_ms:g}) must not exceed delay.high_ms ({self.high_ms:g})"
            )

    @classmethod
    def constant(cls, ms: float) -> Delay:
        return cls("constant", ms=ms)

    @classmethod
    def uniform(cls, *, low_ms: float, high_ms: float) -> Delay:
        return cls("uniform", low_ms=low_ms, high_ms=high_ms)

    @classmethod
    def exponential(cls, mean_ms: float) -> Delay:
        return cls("exponential", mean_ms=mean_ms)

    @classmethod
    def normal(cls, *, mean_ms: float, jitter_ms: float) -> Delay:
        """Normal around `mean_ms` with standard deviation `jitter_ms`, clipped at zero."""
        return cls("normal", mean_ms=mean_ms, jitter_ms=jitter_ms)

    @property
    def is_zero(self) -> bool:
        """True when every sample is 0 ms (such a delay needs no random draw)."""
        if self.distribution == "constant":
            return self.ms == 0
        if self.distribution == "uniform":
            return self.high_ms == 0
        if self.distribution == "exponential":
            return self.mean_ms == 0
        return self.mean_ms == 0 and self.jitter_ms == 0

    def sample_ms(self, rng: random.Random) -> float:
        if self.distribution == "constant":
            value = self.ms
        elif self.distribution == "uniform":
            value = rng.uniform(self.low_ms, self.high_ms)
        elif self.distribution == "exponential":
            value = rng.expovariate(1.0 / self.mean_ms) if self.mean_ms > 0 else 0.0
        else:
            value = rng.gauss(self.mean_ms, self.jitter_ms)
        return min(max(value, 0.0), DELAY_MS_MAX)

    def to_json(self) -> dict[str, Any]:
        fields = {
            "constant": ("ms",),
            "uniform": ("low_ms", "high_ms"),
            "exponential": ("mean_ms",),
            "normal": ("mean_ms", "jitter_ms"),
        }[self.distribution]
        return {"distribution": self.distribution, **{f: getattr(self, f) for f in fields}}

    @classmethod
    def from_json(cls, obj: Any, *, where: str = "delay") -> Delay:
        """Parse `{"distribution": "uniform", "low_ms": 1, "high_ms": 10}` and the like.

        Errors name the field, prefixed with `where` (say `faults[2].delay`).
        """
        if not isinstance(obj, Mapping):
            raise ValueError(f"{where} must be an object or null, not {obj!r}")
        distribution: Any = obj.get("distribution")
        required = {
            "constant": ("ms",),
            "uniform": ("low_ms", "high_ms"),
            "exponential": ("mean_ms",),
            "normal": ("mean_ms", "jitter_ms"),
        }.get(distribution)
        if required is None:
            raise ValueError(
                f"{where}.distribution must be one of {', '.join(DISTRIBUTIONS)}, "
                f"not {distribution!r}"
            )
        unknown = set(obj) - {"distribution", *required}
        if unknown:
            raise ValueError(
                f"{where}: unknown field(s) {', '.join(sorted(unknown))} for a {distribution} "
                f"delay (it takes {', '.join(required)})"
            )
        values = {}
        for name in required:
            if name not in obj:
                raise ValueError(f"{where}.{name} is required for a {distribution} delay")
            values[name] = _number(obj[name], f"{where}.{name}")
        try:
            return cls(distribution, **values)
        except ValueError as e:
            raise ValueError(str(e).replace("delay.", f"{where}.", 1)) from None


# --------------------------------------------------------------------------------------------
# Link faults and the fault table


@dataclass(frozen=True)
class LinkFault:
    """A fault rule for the directed link `src -> dest`; `"*"` matches any id."""

    src: str = ANY
    dest: str = ANY
    drop_probability: float = 0.0
    duplicate_probability: float = 0.0
    reorder_probability: float = 0.0
    delay: Delay | None = None
    reorder_hold_ms: float = REORDER_HOLD_MS_DEFAULT

    def __post_init__(self) -> None:
        for name in ("src", "dest"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name} must be a node id or '*', not {value!r}")
        for name in ("drop_probability", "duplicate_probability", "reorder_probability"):
            _number(getattr(self, name), name, low=0.0, high=1.0)
        _number(self.reorder_hold_ms, "reorder_hold_ms")
        if self.delay is not None and not isinstance(self.delay, Delay):
            raise ValueError(f"delay must be a Delay or None, not {self.delay!r}")

    @property
    def is_noop(self) -> bool:
        """True when the rule changes nothing: every message is delivered at once."""
        return (
            self.drop_probability == 0
            and self.duplicate_probability == 0
            and self.reorder_probability == 0
            and (self.delay is None or self.delay.is_zero)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "src": self.src,
            "dest": self.dest,
            "drop_probability": self.drop_probability,
            "duplicate_probability": self.duplicate_probability,
            "reorder_probability": self.reorder_probability,
            "reorder_hold_ms": self.reorder_hold_ms,
            "delay": None if self.delay is None else self.delay.to_json(),
        }

    @classmethod
    def from_json(cls, obj: Any, *, where: str = "rule") -> LinkFault:
        """Parse one RULE of docs/internals.md. Errors name the field, prefixed by `where`."""
        if not isinstance(obj, Mapping):
            raise ValueError(f"{where} must be an object, not {obj!r}")
        known = {
            "src",
            "dest",
            "drop_probability",
            "duplicate_probability",
            "reorder_probability",
            "reorder_hold_ms",
            "delay",
        }
        unknown = set(obj) - known
        if unknown:
            raise ValueError(
                f"{where}: unknown field(s) {', '.join(sorted(unknown))}; "
                f"a rule takes {', '.join(sorted(known))}"
            )
        kwargs: dict[str, Any] = {}
        for name in ("src", "dest"):
            value = obj.get(name, ANY)
            if not isinstance(value, str) or not value:
                raise ValueError(f"{where}.{name} must be a node id or '*', not {value!r}")
            kwargs[name] = value
        for name in ("drop_probability", "duplicate_probability", "reorder_probability"):
            kwargs[name] = _number(obj.get(name, 0.0), f"{where}.{name}", low=0.0, high=1.0)
        hold = obj.get("reorder_hold_ms", REORDER_HOLD_MS_DEFAULT)
        kwargs["reorder_hold_ms"] = _number(hold, f"{where}.reorder_hold_ms")
        delay = obj.get("delay")
        kwargs["delay"] = None if delay is None else Delay.from_json(delay, where=f"{where}.delay")
        return cls(**kwargs)


@dataclass(frozen=True)
class Fate:
    """What happens to one message: the delay of each copy to deliver, in ms.

    `delays_ms == ()` is a drop; two entries are a duplicate. `reordered` says the first copy
    was held back on purpose so that later messages overtake it. `baseline_ms`, empty or one
    entry per copy, is the baseline latency each copy waits on top of its fault delay (see
    `with_baseline`): a copy is delivered after `held_ms`, both added.
    """

    delays_ms: tuple[float, ...]
    reordered: bool = False
    baseline_ms: tuple[float, ...] = ()

    @property
    def is_dropped(self) -> bool:
        return not self.delays_ms

    @property
    def is_duplicated(self) -> bool:
        return len(self.delays_ms) > 1

    @property
    def held_ms(self) -> tuple[float, ...]:
        """Each copy's whole wait: its fault delay plus its baseline latency."""
        if not self.baseline_ms:
            return self.delays_ms
        return tuple(d + b for d, b in zip(self.delays_ms, self.baseline_ms, strict=True))


DELIVER_NOW = Fate((0.0,))
DROP = Fate(())


def parse_rules(obj: Any, *, where: str = "faults") -> list[LinkFault]:
    """Parse the `faults` list of a `link_faults` command."""
    if not isinstance(obj, list):
        raise ValueError(f"{where} must be a list of rules, not {obj!r}")
    return [LinkFault.from_json(rule, where=f"{where}[{i}]") for i, rule in enumerate(obj)]


class FaultTable:
    """The link-fault rules in force, resolved per directed link and cached.

    `nodes` are the cluster's node ids; any other id is a client. With `clients=False` a link
    with a client end is never faulted, and a rule may name only nodes (or `*`).
    """

    LINK_CACHE_MAX = 100_000  # clients come and go under fresh ids; bound the cache

    def __init__(
        self, rules: Iterable[LinkFault] = (), *, nodes: Iterable[str], clients: bool = False
    ) -> None:
        self.nodes = frozenset(nodes)
        self.clients = clients
        self.rules = tuple(rules)
        self._by_link: dict[tuple[str, str], LinkFault] = {}
        for i, rule in enumerate(self.rules):
            for name in ("src", "dest"):
                value = getattr(rule, name)
                if value != ANY and value not in self.nodes and not clients:
                    raise ValueError(
                        f"faults[{i}].{name}: {value!r} is not a node "
                        f"(nodes: {', '.join(sorted(self.nodes))}); "
                        'name clients only with "clients": true'
                    )
            key = (rule.src, rule.dest)
            if key in self._by_link:
                raise ValueError(f"faults[{i}]: a second rule for {rule.src} -> {rule.dest}")
            self._by_link[key] = rule
        self._cache: dict[tuple[str, str], LinkFault | None] = {}

    @property
    def is_empty(self) -> bool:
        return not self.rules

    def rule_for(self, src: str, dest: str) -> LinkFault | None:
        """The most specific rule for `src -> dest`, or None when the link is not faulted."""
        key = (src, dest)
        try:
            return self._cache[key]
        except KeyError:
            pass
        rule: LinkFault | None = None
        if self.clients or (src in self.nodes and dest in self.nodes):
            by_link = self._by_link
            rule = (
                by_link.get(key)
                or by_link.get((src, ANY))
                or by_link.get((ANY, dest))
                or by_link.get((ANY, ANY))
            )
        if len(self._cache) >= self.LINK_CACHE_MAX:
            self._cache.clear()
        self._cache[key] = rule
        return rule

    def fate(self, src: str, dest: str, rng: random.Random) -> Fate:
        """Decide one message's fate. Draws from `rng` only when a rule can change something."""
        rule = self.rule_for(src, dest)
        if rule is None or rule.is_noop:
            return DELIVER_NOW
        return decide(rule, rng)

    def to_json(self) -> dict[str, Any]:
        return {"faults": [rule.to_json() for rule in self.rules], "clients": self.clients}


def decide(rule: LinkFault, rng: random.Random) -> Fate:
    """One message's fate under `rule`. Draw order is fixed so a seed replays the same fates."""
    if rule.drop_probability and rng.random() < rule.drop_probability:
        return DROP
    copies = 2 if rule.duplicate_probability and rng.random() < rule.duplicate_probability else 1
    delays = [rule.delay.sample_ms(rng) if rule.delay else 0.0 for _ in range(copies)]
    reordered = bool(rule.reorder_probability) and rng.random() < rule.reorder_probability
    if reordered:
        delays[0] = min(delays[0] + rng.uniform(0.5, 1.0) * rule.reorder_hold_ms, DELAY_MS_MAX)
    return Fate(tuple(delays), reordered)


# --------------------------------------------------------------------------------------------
# The baseline latency, and the decision for one message


# A scenario's `latency_dist` -> the `Delay` of mean `latency_ms` it names.
BASELINES: dict[str, Callable[[float], Delay]] = {
    "constant": Delay.constant,
    "uniform": lambda ms: Delay.uniform(low_ms=0.0, high_ms=2 * ms),
    "exponential": Delay.exponential,
}


def baseline_delay(latency_ms: float, distribution: str = "constant") -> Delay | None:
    """The network's baseline latency as a `Delay` of mean `latency_ms`, or None for 0 ms (no
    baseline: nothing to draw). Raises ValueError naming `latency_ms` or `latency_dist`."""
    if distribution not in BASELINES:
        raise ValueError(
            f"latency_dist must be one of {', '.join(BASELINES)}, not {distribution!r}"
        )
    ms = _number(latency_ms, "latency_ms", high=DELAY_MS_MAX / 2)  # uniform reaches 2x
    return BASELINES[distribution](ms) if ms > 0 else None


def with_baseline(fate: Fate, baseline: Delay, rng: random.Random) -> Fate:
    """`fate` with every copy also held back by its own draw from `baseline`, in copy order,
    so that a seed replays the same waits. A drop stays a drop (and draws nothing); a copy's
    whole wait stays within `DELAY_MS_MAX`."""
    if not fate.delays_ms:
        return fate
    base = tuple(min(baseline.sample_ms(rng), DELAY_MS_MAX - d) for d in fate.delays_ms)
    return Fate(fate.delays_ms, fate.reordered, base)


def network_fate(
    table: FaultTable,
    src: str,
    dest: str,
    rng: random.Random,
    *,
    exempt: frozenset[str],
    baseline: Delay | None,
) -> Fate:
    """One message's fate on a run's network, as the proxy and the simulated network decide it:
    the fault table's (no rule applies when `src` or `dest` is in `exempt`), then `baseline` on
    every copy unless an end is the admin client. Draws nothing without rules or baseline."""
    if table.rules and src not in exempt and dest not in exempt:
        fate = table.fate(src, dest, rng)
    else:
        fate = DELIVER_NOW
    if baseline is not None and src != ADMIN_ID and dest != ADMIN_ID:
        return with_baseline(fate, baseline, rng)
    return fate


# --------------------------------------------------------------------------------------------
# Grudges


def _names(nodes: Iterable[str]) -> list[str]:
    names = list(nodes)
    if len(set(names)) != len(names):
        raise ValueError(f"node ids must be distinct: {names}")
    return names


def normalise(grudge: Mapping[str, Iterable[str]]) -> Grudge:
    """Frozen sets, and nodes without a grudge left out."""
    out = {node: frozenset(others) for node, others in grudge.items()}
    return {node: others for node, others in out.items() if others}


def heal() -> Grudge:
    """No grudges: everyone hears everyone."""
    return {}


def complete_grudge(components: Iterable[Iterable[str]]) -> Grudge:
    """Each node cannot hear from any node outside its own component."""
    parts = [frozenset(c) for c in components]
    everyone = frozenset().union(*parts)
    if sum(len(p) for p in parts) != len(everyone):
        raise ValueError(f"components overlap: {[sorted(p) for p in parts]}")
    return normalise({node: everyone - part for part in parts for node in part})


def isolate(nodes: Iterable[str], node: str) -> Grudge:
    """`node` alone on one side, everyone else on the other."""
    names = _names(nodes)
    if node not in names:
        raise ValueError(f"cannot isolate {node!r}: not one of {', '.join(names)}")
    return complete_grudge([[node], [n for n in names if n != node]])


def halves(nodes: Iterable[str]) -> Grudge:
    """The first floor(n/2) nodes, in the given order, against the rest (Jepsen's bisect)."""
    names = _names(nodes)
    cut = len(names) // 2
    return complete_grudge([names[:cut], names[cut:]])


def random_halves(nodes: Iterable[str], rng: random.Random) -> Grudge:
    names = _names(nodes)
    rng.shuffle(names)
    return halves(names)


def majority_minority(nodes: Iterable[str], rng: random.Random) -> Grudge:
    """A random minority (1 to floor((n-1)/2) nodes) cut off from the majority."""
    names = _names(nodes)
    if len(names) < 3:
        raise ValueError(f"majority-minority needs at least 3 nodes, got {len(names)}")
    size = rng.randint(1, (len(names) - 1) // 2)
    minority = rng.sample(names, size)
    return complete_grudge([minority, [n for n in names if n not in minority]])


def majorities_ring(nodes: Iterable[str], rng: random.Random) -> Grudge:
    """Each node hears a majority, and no two nodes hear the same set (Jepsen's majorities ring).

    Nodes are shuffled onto a ring; each hears itself and its neighbours up to ring distance r,
    the smallest r that makes 2r+1 a majority. Unlike Jepsen's window (which is one-sided, so
    asymmetric, for even majorities), this view is symmetric. With 3 nodes the ring is the full
    graph, so one ring edge is cut instead: a chain a-b-c, in which all three views differ.
    """
    names = _names(nodes)
    n = len(names)
    if n < 3:
        raise ValueError(f"majorities-ring needs at least 3 nodes, got {n}")
    rng.shuffle(names)
    if n == 3:
        a, _, c = names
        return {a: frozenset([c]), c: frozenset([a])}
    majority = n // 2 + 1
    radius = math.ceil((majority - 1) / 2)
    grudge = {}
    for i, node in enumerate(names):
        hears = {names[(i + d) % n] for d in range(-radius, radius + 1)}
        grudge[node] = frozenset(names) - hears
    return normalise(grudge)


def bridge(nodes: Iterable[str]) -> Grudge:
    """Two halves that cannot hear each other, joined by one node that hears and is heard by
    both (Jepsen's bridge): the first node of the second half."""
    names = _names(nodes)
    if len(names) < 3:
        raise ValueError(f"bridge needs at least 3 nodes, got {len(names)}")
    cut = len(names) // 2
    middle = names[cut]
    grudge = complete_grudge([names[:cut], names[cut:]])
    return normalise({node: others - {middle} for node, others in grudge.items() if node != middle})


def one_way(nodes: Iterable[str], *, src: str, dest: str) -> Grudge:
    """`dest` cannot hear `src`, but `src` still hears `dest`."""
    names = _names(nodes)
    for field, value in (("src", src), ("dest", dest)):
        if value not in names:
            raise ValueError(f"one-way {field} {value!r} is not one of {', '.join(names)}")
    if src == dest:
        raise ValueError(f"one-way needs two different nodes, got src = dest = {src!r}")
    return {dest: frozenset([src])}


def _isolate_shape(nodes: Sequence[str], rng: random.Random, *, node: str | None = None) -> Grudge:
    return isolate(nodes, node if node is not None else rng.choice(list(nodes)))


def _one_way_shape(
    nodes: Sequence[str], rng: random.Random, *, src: str | None = None, dest: str | None = None
) -> Grudge:
    names = list(nodes)
    if len(names) < 2:
        raise ValueError(f"one-way needs at least 2 nodes, got {len(names)}")
    if src is None:
        src = rng.choice([n for n in names if n != dest])
    if dest is None:
        dest = rng.choice([n for n in names if n != src])
    return one_way(names, src=src, dest=dest)


def _shuffled(nodes: Sequence[str], rng: random.Random) -> list[str]:
    names = list(nodes)
    rng.shuffle(names)
    return names


SHAPES: dict[str, Callable[..., Grudge]] = {
    "isolate": _isolate_shape,
    "halves": lambda nodes, rng: halves(nodes),
    "random-halves": random_halves,
    "majority-minority": majority_minority,
    "majorities-ring": majorities_ring,
    "bridge": lambda nodes, rng: bridge(_shuffled(nodes, rng)),
    "one-way": _one_way_shape,
}


def build_grudge(shape: str, nodes: Sequence[str], rng: random.Random, **params: Any) -> Grudge:
    """Build a grudge by its scenario name.

    `isolate` takes an optional `node=`, `one-way` optional `src=`/`dest=`; whatever is not
    given is chosen with `rng`. `halves` keeps the given order; `bridge` shuffles first, like
    Jepsen's nemesis.
    """
    builder = SHAPES.get(shape)
    if builder is None:
        raise ValueError(f"unknown partition shape {shape!r}; valid shapes: {', '.join(SHAPES)}")
    allowed = {"isolate": {"node"}, "one-way": {"src", "dest"}}.get(shape, set())
    unknown = set(params) - allowed
    if unknown:
        takes = ", ".join(sorted(allowed)) or "no parameters"
        raise ValueError(
            f"partition shape {shape!r}: unknown parameter(s) {', '.join(sorted(unknown))} "
            f"(it takes {takes})"
        )
    return builder(list(nodes), rng, **params)


def validate_grudge(
    grudge: Mapping[str, Iterable[str]], nodes: Iterable[str], *, clients: bool = False
) -> None:
    """Raise ValueError unless every name is a known node and nobody holds a grudge against
    itself. With `clients=True` names outside `nodes` are allowed: they are client ids."""
    known = frozenset(nodes)
    for node, entries in grudge.items():
        others = list(entries)
        for name, where in [(node, f"grudge key {node!r}")] + [
            (o, f"grudge[{node!r}] entry {o!r}") for o in others
        ]:
            if not isinstance(name, str) or not name:
                raise ValueError(f"{where} must be a non-empty id string")
            if name not in known and not clients:
                raise ValueError(
                    f"{where} is not a node (nodes: {', '.join(sorted(known))}); "
                    'name clients only with "clients": true'
                )
        if node in others:
            raise ValueError(f"grudge[{node!r}]: a node cannot hold a grudge against itself")


def grudge_to_json(grudge: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    """Sorted lists, sorted keys: a stable form for commands, logs and schedules."""
    return {node: sorted(grudge[node]) for node in sorted(grudge) if grudge[node]}


def grudge_from_json(
    obj: Any, *, nodes: Iterable[str] | None = None, clients: bool = False
) -> Grudge:
    """Parse `{"n1": ["n3", "n4"], ...}`; with `nodes`, also validate every name."""
    if not isinstance(obj, Mapping):
        raise ValueError(f"grudge must be an object of node -> [nodes], not {obj!r}")
    parsed: dict[str, list[str]] = {}
    for node, others in obj.items():
        if not isinstance(others, list) or not all(isinstance(o, str) for o in others):
            raise ValueError(f"grudge[{node!r}] must be a list of node ids, not {others!r}")
        parsed[node] = others
    if nodes is not None:
        validate_grudge(parsed, nodes, clients=clients)
    return normalise(parsed)


def blocked_links(grudge: Mapping[str, Iterable[str]]) -> frozenset[tuple[str, str]]:
    """The directed links `(src, dest)` a grudge cuts: dest cannot hear src."""
    return frozenset((src, dest) for dest, srcs in grudge.items() for src in srcs)


def components(grudge: Mapping[str, Iterable[str]], nodes: Iterable[str]) -> list[frozenset[str]]:
    """Groups of nodes connected both ways (a node hears and is heard), for tests and reports."""
    names = list(nodes)
    cut = blocked_links(grudge)
    seen: set[str] = set()
    out = []
    for start in names:
        if start in seen:
            continue
        group = {start}
        frontier = [start]
        while frontier:
            a = frontier.pop()
            for b in names:
                if b not in group and (a, b) not in cut and (b, a) not in cut:
                    group.add(b)
                    frontier.append(b)
        seen |= group
        out.append(frozenset(group))
    return out
