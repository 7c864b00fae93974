"""From what a workload inferred to a verdict: cycles, consistency models, the result.

A workload's analysis (`checker.elle.list_append`, `checker.elle.rw_register`) hands over an
`Inference`: its transactions, the dependency graph with its data edges (ww, wr, rw), the
anomalies it found without cycles (aborted reads, internal inconsistencies...), and an
explainer that says why one transaction precedes another by a data edge. `judge` does the
rest, as Elle's elle.txn does:

1. The consistency models asked for (default strict-serializable) give the anomalies they
   forbid (`checker.elle.models.prohibited`). If some forbidden cycle needs real-time edges,
   they are added to the graph; else if one needs process edges, those are. (Real time
   implies process order, so with real-time edges a process cycle shows as `-realtime`.)
2. A graph with no edge at all gives `empty-transaction-graph`: nothing could be judged.
3. Each strongly connected component is searched for a cycle of each name, most severe first
   (`checker.elle.cycles`); a name implied by one already found in that component is not
   searched for (a G0 is also a G1c). So each component reports at most one cycle per name,
   and the counts are of components.
4. `valid` is false if any forbidden anomaly was found; else unknown if the graph was empty or
   a search ran out of budget (`cycle-search-timeout`); else true. With no `ok` transaction
   the verdict is unknown: nothing could be judged (Elle says so only by an empty graph).

The result (a `checker.result` dict) keeps Elle's field names where it has Elle's fields:
`anomaly-types` (the forbidden or unknown-making anomalies found, sorted), `anomalies` (for
each, the first `LIST_LIMIT` cases), `not` and `also-not` (what every anomaly found rules
out: `checker.elle.models.boundary`). Our own fields: `consistency_models`, `anomaly_counts`
(exact counts), `allowed_anomaly_types` (found, but allowed by the models asked for: Elle
drops them), `violations` (the first anomalies on one line each, for a terminal), and counts
of transactions, edges and components. Every case cites history indexes, and every cycle is
explained edge by edge in words (`explanation`, `checker.elle.explain`).

**Memory and time.** A check allocates millions of small lists (micro-operations, adjacency
lists, indexes) that form no reference cycles. CPython's cyclic collector would traverse the
whole, growing heap again and again while they accumulate, which made the check superlinear
(a million transactions took 2.4 times longer per transaction than ten thousand) and slower
by half at 100,000; so the workloads' `check` runs under `paused_gc`, which turns the
collector off for the check and back on after (bench/txn.py, bench/README.md).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from checker.elle import explain
from checker.elle.cycles import SPECS, Budget, Found, any_cycle, classify, search
from checker.elle.graph import (
    ALL,
    PROCESS,
    REALTIME,
    DepGraph,
    components,
    link_process,
    link_realtime,
    subgraph,
)
from checker.elle.models import (
    CYCLE_TYPES,
    DEFAULT_MODELS,
    PROCESS_TYPES,
    REALTIME_TYPES,
    UNKNOWN_TYPES,
    boundary,
    canonical,
    implied_anomalies,
    prohibited,
)
from checker.elle.txns import Txn
from checker.result import LIST_LIMIT, UNKNOWN, Validity, result

HEADLINE = ("anomaly-types", "not", "txn_count")
VIOLATIONS_MAX = 10

# The order anomalies are listed in `violations`: the plainest evidence first.
SEVERITY = (
    "internal",
    "G1a",
    "G1b",
    "dirty-update",
    "incompatible-order",
    "duplicate-elements",
    "future-read",
    "cyclic-versions",
    *CYCLE_TYPES,
    "lost-update",
    "cycle-search-timeout",
    "empty-transaction-graph",
)

Explainer = Callable[[Txn, Txn, int], "explain.Reason | None"]


@contextmanager
def paused_gc() -> Iterator[None]:
    """The cyclic garbage collector off for the block (module docstring, "Memory and
    time"), and back as it was after, whatever happens."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@dataclass(slots=True)
class Cases:
    """Anomalies found, by type: the first `limit` cases of each, and exact counts."""

    limit: int = LIST_LIMIT
    cases: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def wants(self, kind: str) -> bool:
        """Whether another case of `kind` would be kept (else only counted)."""
        return len(self.cases.get(kind, ())) < self.limit

    def add(self, kind: str, case: dict[str, Any] | None = None) -> None:
        """Count one case of `kind`, keeping it if there is room (`case` may be None when
        `wants` said no)."""
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if case is not None and self.wants(kind):
            self.cases.setdefault(kind, []).append(case)


@dataclass(slots=True)
class Inference:
    """What a workload's analysis hands to `judge` (module docstring)."""

    checker: str
    txns: list[Txn]
    graph: DepGraph
    cases: Cases
    explain: Explainer
    details: dict[str, Any] = field(default_factory=dict)


def models_of(consistency_models: Iterable[str] | None) -> list[str]:
    """The models asked for, by their friendly names (`ModelError` for an unknown one)."""
    names = list(consistency_models) if consistency_models is not None else []
    return [canonical(m) for m in (names or DEFAULT_MODELS)]


def judge(inference: Inference, consistency_models: Iterable[str] | None = None) -> dict[str, Any]:
    """The verdict on an inference under the consistency models (module docstring)."""
    models = models_of(consistency_models)
    forbidden = prohibited(models)
    reportable = forbidden | UNKNOWN_TYPES
    txns, graph, cases = inference.txns, inference.graph, inference.cases
    counts = {k: sum(1 for t in txns if t.type == k) for k in ("ok", "info", "fail")}
    if REALTIME_TYPES & forbidden:
        link_realtime(graph, txns)
    elif PROCESS_TYPES & forbidden:
        link_process(graph, txns)
    if counts["ok"] and not graph.edge_count():
        cases.add(
            "empty-transaction-graph",
            {
                "text": "empty-transaction-graph: no dependency between transactions could be "
                "inferred, so no cycle could be looked for"
            },
        )
    comps = components(graph.out)
    timeouts = 0
    for comp in comps:
        timeouts += _search_component(inference, comp)
    found = set(cases.counts)
    bad = found & forbidden
    reported = sorted(found & reportable)
    not_, also_not = boundary(found - UNKNOWN_TYPES)
    details: dict[str, Any] = {
        "consistency_models": models,
        "anomaly-types": reported,
        "not": not_,
        "also-not": also_not,
        "anomalies": {t: cases.cases.get(t, []) for t in reported},
        "anomaly_counts": {t: cases.counts[t] for t in reported},
        "allowed_anomaly_types": sorted(found - reportable),
        "violations": _violations(cases, reported),
        "txn_count": len(txns),
        "ok_count": counts["ok"],
        "info_count": counts["info"],
        "fail_count": counts["fail"],
        "edge_counts": dict(graph.counts),
        "scc_count": len(comps),
        "largest_scc": max((len(c) for c in comps), default=0),
        **inference.details,
    }
    valid: Validity
    if bad:
        valid = False
    elif not counts["ok"]:
        valid = UNKNOWN
        details["reason"] = "no transaction completed ok: nothing to judge"
    elif found & UNKNOWN_TYPES:
        valid = UNKNOWN
        details["reason"] = (
            f"the cycle search ran out of its budget in {timeouts} component(s)"
            if timeouts
            else "no dependency between transactions could be inferred"
        )
    else:
        valid = True
    return result(inference.checker, valid, headline=HEADLINE, **details)


def _search_component(inference: Inference, comp: list[int]) -> int:
    """Search one component for every cycle name (module docstring); 1 if the budget ran
    out, else 0."""
    graph = inference.graph
    local = subgraph(graph.out, comp, ALL)
    present = graph.relations()
    budget = Budget()
    here: set[str] = set()
    absent: list[str] = []  # searched for to the end, and not there
    skip: set[str] = set()
    for i, name in enumerate(CYCLE_TYPES):
        spec = SPECS[name]
        if name in skip or (spec.variant and not present & spec.variant):
            continue
        found = search(local, spec, budget)
        if found is not None:
            _record(inference, comp, found, name)
            here.add(name)
            skip |= implied_anomalies([name])
        elif not budget.spent:
            absent.append(name)
        if budget.spent:
            rest = [
                n
                for n in CYCLE_TYPES[i + 1 :]
                if n not in skip and not (SPECS[n].variant and not present & SPECS[n].variant)
            ]
            if found is None or rest:
                searching = name if found is None else rest[0]
                _timeout(inference, comp, local, searching, here, absent)
                return 1
            return 0
    return 0


def _timeout(
    inference: Inference,
    comp: list[int],
    local: list[list[int]],
    name: str,
    here: set[str],
    absent: list[str],
) -> None:
    cases = inference.cases
    cases.add(
        "cycle-search-timeout",
        {
            "anomaly-spec-type": name,
            "does-not-contain": absent,
            "found": sorted(here),
            "scc-size": len(comp),
            "scc": [inference.txns[v].index for v in comp[:LIST_LIMIT]],
            "text": f"cycle-search-timeout: the search for {name} in a component of "
            f"{len(comp)} transactions ran out of its budget",
        },
    )
    fallback = any_cycle(local)
    if fallback is not None:
        kind = classify(fallback.rels)
        if kind is not None and kind not in here:
            fallback.shortest = False
            _record(inference, comp, fallback, kind)


def _record(inference: Inference, comp: list[int], found: Found, name: str) -> None:
    cases = inference.cases
    if not cases.wants(name):
        cases.add(name)
        return
    txns = [inference.txns[comp[v]] for v in found.vertices]
    steps: list[dict[str, Any]] = []
    renders: list[explain.Render] = []
    for i, rel in enumerate(found.rels):
        a, b = txns[i], txns[(i + 1) % len(txns)]
        if rel == REALTIME:
            reason: explain.Reason | None = explain.realtime_step(a, b)
        elif rel == PROCESS:
            reason = explain.process_step(a, b)
        else:
            reason = inference.explain(a, b, rel)
        assert reason is not None, f"no reason for the edge {a.index} -> {b.index} ({rel})"
        data, render = reason
        steps.append(data)
        renders.append(render)
    cases.add(
        name,
        {
            "type": name,
            "cycle": [t.describe() for t in (*txns, txns[0])],
            "steps": steps,
            "shortest": found.shortest,
            "explanation": explain.cycle_text(txns, renders),
            "text": explain.cycle_line(name, txns, renders),
        },
    )


def _violations(cases: Cases, reported: Sequence[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    order = {t: i for i, t in enumerate(SEVERITY)}
    for kind in sorted(reported, key=lambda t: (order.get(t, len(order)), t)):
        for case in cases.cases.get(kind, ()):
            if len(out) >= VIOLATIONS_MAX:
                return out
            out.append({"type": kind, "text": case.get("text", kind)})
    return out
