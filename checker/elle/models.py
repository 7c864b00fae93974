"""Consistency models, the anomalies each forbids, and what a set of anomalies rules out.

Three relations, as Elle states them (elle.consistency-model, after Adya's "Weak
Consistency", Adya, Liskov and O'Neil's "Generalized Isolation Level Definitions", Bailis et
al.'s "Highly Available Transactions", Cerone, Bernardi and Gotsman's "A Framework for
Transactional Consistency Models with Atomic Visibility", Daudjee and Salem, and Jepsen's
consistency map https://jepsen.io/consistency):

- `IMPLIES`: model a -> models b such that every history a allows, b allows too
  (serializable -> snapshot-isolation...);
- `FORBIDS`: model -> the anomalies it forbids directly, beyond what the models it implies
  forbid;
- `ANOMALY_IMPLIES`: anomaly -> anomalies its presence implies (G0 is also a G1c, a process
  variant is also a real-time one, a lost update is a G2-item...).

`prohibited(models)` is every anomaly that rules out one of `models`: the anomalies the
models and everything they imply forbid, and every anomaly that implies one of those.
`boundary(anomalies)` is Elle's answer to "what does this history rule out": `not`, the
weakest models the anomalies rule out, and `also-not`, the stronger ones they rule out too.

Names are Elle's friendly ones (`read-committed`, `strong-session-serializable`); Adya's
(`PL-2`, `PL-SS`...) and Elle's other aliases are accepted (`canonical`). Elle writes the
strongest model `strong-serializable`; we say `strict-serializable` and take both.

**Item anomalies.** Newer Elle tells anti-dependencies on one item (`rw`) from predicate ones
and names the item cycles `G-single-item` and `G-nonadjacent-item`. List-append and
rw-register have no predicates, so every cycle here is an item cycle: our `G-single` and
`G-nonadjacent` are Elle's `-item` ones, and imply `G2-item` (so repeatable read forbids them,
as it does in Elle).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

# Cycle anomalies, in the order they are searched for in a component (most severe first, as
# Elle's anomaly-depth order has it: data cycles, then their process, then real-time variants).
BASE_CYCLES = ("G0", "G1c", "G-single", "G-nonadjacent", "G2-item")
VARIANTS = ("", "-process", "-realtime")
CYCLE_TYPES = tuple(f"{base}{v}" for v in VARIANTS for base in BASE_CYCLES)
PROCESS_TYPES = frozenset(t for t in CYCLE_TYPES if t.endswith("-process"))
REALTIME_TYPES = frozenset(t for t in CYCLE_TYPES if t.endswith("-realtime"))

# Anomalies that make the verdict unknown rather than valid (Elle's unknown-anomaly-types).
UNKNOWN_TYPES = frozenset({"empty-transaction-graph", "cycle-search-timeout"})

IMPLIES: Mapping[str, tuple[str, ...]] = {
    "causal-cerone": ("read-atomic",),  # Cerone
    "consistent-view": ("cursor-stability", "monotonic-view"),  # Adya
    "cursor-stability": ("read-committed",),  # Bailis, Adya
    "forward-consistent-view": ("consistent-view",),  # Adya
    "monotonic-atomic-view": ("read-committed",),  # Bailis
    "monotonic-snapshot-read": ("read-committed",),  # Adya
    "monotonic-view": ("read-committed",),  # Adya
    "parallel-snapshot-isolation": ("causal-cerone", "ROLA"),  # Cerone, ROLA
    "prefix": ("causal-cerone",),  # Cerone
    "read-atomic": ("monotonic-atomic-view",),  # Cerone
    "read-committed": ("read-uncommitted",),  # SQL
    "repeatable-read": ("cursor-stability", "monotonic-atomic-view"),  # Adya, Bailis
    "ROLA": ("read-atomic",),
    # Serializable means conflict serializable (Bernstein et al.), Adya's PL-3.
    "serializable": ("repeatable-read", "snapshot-isolation", "update-serializable"),
    "snapshot-isolation": (
        "forward-consistent-view",  # Adya
        "monotonic-atomic-view",  # Bailis
        "monotonic-snapshot-read",  # Adya
        "parallel-snapshot-isolation",  # Cerone
        "prefix",  # Cerone
    ),
    "strict-serializable": (  # Adya's PL-SS
        "serializable",
        "snapshot-isolation",
        "strong-snapshot-isolation",
        "strong-session-serializable",
    ),
    "update-serializable": ("forward-consistent-view",),  # Adya
    # The strong session (process order) and strong (real-time) variants, as Elle orders them.
    "strong-session-read-uncommitted": ("read-uncommitted",),
    "strong-session-read-committed": ("read-committed", "strong-session-read-uncommitted"),
    "strong-session-snapshot-isolation": ("snapshot-isolation", "strong-session-read-committed"),
    "strong-session-serializable": ("serializable", "strong-session-snapshot-isolation"),
    "strong-read-uncommitted": ("strong-session-read-uncommitted",),
    "strong-read-committed": ("strong-session-read-committed", "strong-read-uncommitted"),
    "strong-snapshot-isolation": ("strong-session-snapshot-isolation", "strong-read-committed"),
}

FORBIDS: Mapping[str, tuple[str, ...]] = {
    "causal-cerone": ("internal", "G1a"),
    "consistent-view": ("G1", "G-single"),
    "cursor-stability": ("G1", "G-cursor", "lost-update"),
    "forward-consistent-view": ("G1", "G-SIb"),
    "monotonic-snapshot-read": ("G1", "G-MSR"),
    "monotonic-view": ("G1", "G-monotonic"),
    "parallel-snapshot-isolation": ("internal", "G1a"),
    "prefix": ("internal", "G1a"),
    "read-atomic": ("internal", "G1a", "future-read"),
    # Reading uncommitted data is allowed; writes must still be totally ordered.
    "read-uncommitted": ("G0", "duplicate-elements", "cyclic-versions"),
    "read-committed": ("G1",),
    "repeatable-read": ("G1", "G2-item", "lost-update"),
    "ROLA": ("lost-update",),
    "serializable": ("G1", "G2", "internal"),
    # Generalized SI forbids every cycle whose rw edges are all non-adjacent (Cerone-SI).
    "snapshot-isolation": ("internal", "G1", "G-SI", "G-nonadjacent"),
    "strict-serializable": ("G1", "G1c-realtime", "G2-realtime"),
    "update-serializable": ("G1", "G-update"),
    "strong-session-read-uncommitted": ("G0-process",),
    "strong-session-read-committed": ("G1c-process",),
    "strong-session-snapshot-isolation": ("internal", "G1-process", "G-nonadjacent-process"),
    "strong-session-serializable": ("G1-process", "G2-process"),
    "strong-read-uncommitted": ("G0-realtime",),
    "strong-read-committed": ("G1c-realtime",),
    "strong-snapshot-isolation": ("internal", "G1-realtime", "G-nonadjacent-realtime"),
}

ANOMALY_IMPLIES: Mapping[str, tuple[str, ...]] = {
    "G0": ("G1c", "G0-process"),  # Adya; a process is one thread
    "G0-process": ("G1c-process", "G0-realtime"),
    "G0-realtime": ("G1c-realtime",),
    "G1a": ("G1",),
    "G1b": ("G1",),
    "G1c": ("G1", "G1c-process"),
    "G1c-process": ("G1c-realtime", "G1-process"),
    "G1c-realtime": ("G1-realtime",),
    "G1": ("G1-process",),
    "G1-process": ("G1-realtime",),
    # Item cycles (module docstring): G-single is G-single-item, and so on.
    "G-single": ("G-nonadjacent", "G-single-process"),
    "G-single-process": ("G-nonadjacent-process", "G-single-realtime"),
    "G-single-realtime": ("G-nonadjacent-realtime",),
    "G-nonadjacent": ("G2-item", "G-nonadjacent-process"),
    "G-nonadjacent-process": ("G2-item-process", "G-nonadjacent-realtime"),
    "G-nonadjacent-realtime": ("G2-item-realtime",),
    "G2-item": ("G2", "G2-item-process"),  # Adya
    "G2-item-process": ("G2-process", "G2-item-realtime"),
    "G2-item-realtime": ("G2-realtime",),
    "G2": ("G2-process",),
    "G2-process": ("G2-realtime",),
    # Two committed reads that no one order of appends explains: one of them read dirty data.
    "incompatible-order": ("G1a",),
    # A read of an element the same transaction appends later: a trivial wr cycle.
    "future-read": ("G1c",),
    # An update on top of a failed one: a dirty write.
    "dirty-update": ("G1a",),
    "lost-update": ("write-skew", "G2-item"),  # Bailis
    "write-skew": ("G2",),  # Hermitage
}

ALIASES: Mapping[str, str] = {
    "PL-1": "read-uncommitted",
    "PL-2": "read-committed",
    "PL-2.99": "repeatable-read",
    "PL-3": "serializable",
    "conflict-serializable": "serializable",
    "PL-SI": "snapshot-isolation",
    "PL-SS": "strict-serializable",
    "strong-serializable": "strict-serializable",
    "PL-CS": "cursor-stability",
    "PL-2+": "consistent-view",
    "PL-FCV": "forward-consistent-view",
    "PL-MSR": "monotonic-snapshot-read",
    "PL-2L": "monotonic-view",
    "PL-3U": "update-serializable",
    "strong-session-PL-1": "strong-session-read-uncommitted",
    "strong-session-PL-2": "strong-session-read-committed",
    "strong-PL-1": "strong-read-uncommitted",
    "strong-PL-2": "strong-read-committed",
}

MODELS = frozenset(IMPLIES) | frozenset(m for ms in IMPLIES.values() for m in ms)
DEFAULT_MODELS = ("strict-serializable",)


class ModelError(ValueError):
    """An unknown consistency model; the message lists the known ones."""


def canonical(name: str) -> str:
    """The friendly name of model `name`, or `ModelError` naming the known models."""
    model = ALIASES.get(name, name)
    if model not in MODELS:
        raise ModelError(
            f"unknown consistency model {name!r}; known models: {', '.join(sorted(MODELS))}"
        )
    return model


def _closure(start: Iterable[str], edges: Mapping[str, Iterable[str]]) -> set[str]:
    seen: set[str] = set()
    todo = list(start)
    while todo:
        x = todo.pop()
        if x not in seen:
            seen.add(x)
            todo.extend(edges.get(x, ()))
    return seen


def _reverse(edges: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    rev: dict[str, list[str]] = {}
    for a, bs in edges.items():
        for b in bs:
            rev.setdefault(b, []).append(a)
    return rev


_IMPLIED_BY = _reverse(IMPLIES)
_ANOMALY_IMPLIED_BY = _reverse(ANOMALY_IMPLIES)
_FORBIDDEN_BY = _reverse(FORBIDS)


def implied_models(models: Iterable[str]) -> set[str]:
    """`models` and every model they imply."""
    return _closure((canonical(m) for m in models), IMPLIES)


def implied_anomalies(anomalies: Iterable[str]) -> set[str]:
    """`anomalies` and every anomaly their presence implies."""
    return _closure(anomalies, ANOMALY_IMPLIES)


def prohibited(models: Iterable[str]) -> frozenset[str]:
    """Every anomaly whose presence rules out one of `models` (module docstring)."""
    direct = {a for m in implied_models(models) for a in FORBIDS.get(m, ())}
    return frozenset(_closure(direct, _ANOMALY_IMPLIED_BY))


def impossible_models(anomalies: Iterable[str]) -> set[str]:
    """The models that cannot hold of a history with `anomalies`."""
    direct = {m for a in implied_anomalies(anomalies) for m in _FORBIDDEN_BY.get(a, ())}
    return _closure(direct, _IMPLIED_BY)


def boundary(anomalies: Iterable[str]) -> tuple[list[str], list[str]]:
    """`(not, also_not)`: the weakest models `anomalies` rule out, and the other models they
    rule out (each sorted)."""
    ruled_out = impossible_models(anomalies)
    weakest = {
        m for m in ruled_out if not (_closure(IMPLIES.get(m, ()), IMPLIES) & (ruled_out - {m}))
    }
    return sorted(weakest), sorted(ruled_out - weakest)
