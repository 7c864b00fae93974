"""Elle's rw-register checker: transactions of reads and writes of registers.

    check(history, consistency_models=["snapshot-isolation"])  # default: strict-serializable

Each transaction (`f` "txn", Maelstrom's txn-rw-register) is a list of micro-operations
`["r", k, v]` (read register k: v, null before any write) and `["w", k, v]` (write v to k).
Written values must be unique per key, and null is never written (a null read is the initial
state). As Elle's elle.rw-register does (Kingsbury and Alvaro, VLDB 2020, section 4.3):

**Sound rather than complete.** A register's read shows one value and nothing of the order of
the writes before it, so the version order of a key is mostly unknown, and only what must
hold in every order that could explain the history becomes an edge. So every anomaly reported
is real, but a history can hide anomalies that need the order of a key's writes to be seen:
rw-register misses much that list-append finds.

What is inferred, from each transaction's *external* reads (its first read of a key, before
writing it) and *external* writes (its last write of a key); `info` transactions' writes
count (if a value they wrote was read, they committed), their reads do not:

- `wr`: T2 read k = v, which T1 wrote (unique writes name the writer);
- the version order: the initial state (null) comes before every value of k; with
  `wfr_keys=True` (Elle's `:wfr-keys?`, off by default as in Elle) also v1 before v2 when one
  transaction read k = v1 and then wrote v2 (writes follow reads within a transaction). No
  order is taken from processes or real time: keys are not assumed sequential or linearizable;
- `ww`: T1 wrote v1 and T2 wrote v2, v1 before v2 in the version order;
- `rw`: T1 read v1 and T2 wrote v2, v1 before v2: from the initial state, a transaction that
  read k = null precedes every transaction that wrote k.

Anomalies without cycles: `internal` (an `ok` transaction reads a key other than as its own
earlier micro-operations left it: after writing 2 it must read 2, and two reads with no write
between must agree; Elle does not flag a null read followed by another value, we do), `G1a`
(an `ok` read of a value only a `fail`ed transaction wrote), `G1b` (an `ok` read of a value
another transaction overwrote within itself), `lost-update` (two `ok` transactions read the
same value of a key and both wrote it) and, with `wfr_keys`, `cyclic-versions` (the inferred
version order of a key has a cycle; that source of order is then not used, as in Elle).
Cycles and the verdict are `checker.elle.verdict.judge`'s.

A history that writes some value to some key twice, or writes null, cannot be judged: the
result is unknown and says which.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

from checker.elle import explain
from checker.elle.graph import RW, WR, WW, DepGraph, components
from checker.elle.txns import Txn, mop_index, prepare
from checker.elle.verdict import HEADLINE, Cases, Inference, judge, models_of, paused_gc
from checker.history import Op
from checker.result import UNKNOWN, result

CHECKER = "rw-register"
FS = {"r": "read", "w": "write"}


def check(
    history: Sequence[Op],
    *,
    consistency_models: Sequence[str] | None = None,
    wfr_keys: bool = False,
) -> dict[str, Any]:
    """Judge an rw-register history (module docstring)."""
    models = models_of(consistency_models)
    with paused_gc():
        txns = prepare(history, fs=FS, model=CHECKER)
        problem = _write_problem(txns)
        if problem is not None:
            return result(
                CHECKER,
                UNKNOWN,
                headline=HEADLINE,
                consistency_models=models,
                txn_count=len(txns),
                reason=problem,
            )
        return judge(_analyse(txns, wfr_keys=wfr_keys), models)


def _write_problem(txns: list[Txn]) -> str | None:
    seen: dict[Hashable, dict[Hashable, int]] = {}
    for t in txns:
        for f, k, v in t.mops:
            if f != "w":
                continue
            if v is None:
                return (
                    f"operation {t.invoke.index} writes null to key {explain.show(k)}: null "
                    "is the initial state, so a read of it would be ambiguous"
                )
            by_key = seen.setdefault(k, {})
            first = by_key.get(v)
            if first is not None:
                return (
                    f"value {explain.show(v)} is written to key {explain.show(k)} by both "
                    f"operation {first} and operation {t.invoke.index}: writes must be unique "
                    "per key to tell who wrote what was read"
                )
            by_key[v] = t.invoke.index
    return None


def externals(mops: Sequence[Sequence[Any]]) -> tuple[dict[Hashable, Any], dict[Hashable, Any]]:
    """A transaction's external reads (first read of a key before writing it) and external
    writes (last write of a key), as maps key -> value."""
    reads: dict[Hashable, Any] = {}
    writes: dict[Hashable, Any] = {}
    for f, k, v in mops:
        if f == "r":
            if k not in writes and k not in reads:
                reads[k] = v
        else:
            writes[k] = v
    return reads, writes


class _Analysis:
    def __init__(self, txns: list[Txn], *, wfr_keys: bool) -> None:
        self.txns = txns
        self.ext: list[tuple[dict[Hashable, Any], dict[Hashable, Any]]] = []
        self.writer: dict[Hashable, dict[Hashable, int]] = {}  # k -> v -> ok/info writer id
        self.readers: dict[Hashable, dict[Any, list[int]]] = {}  # k -> v -> ok reader ids
        self.failed: dict[Hashable, dict[Hashable, Txn]] = {}
        self.intermediate: dict[Hashable, dict[Hashable, Txn]] = {}
        self.later: dict[Hashable, dict[Hashable, set[Hashable]]] = {}  # wfr: k -> v1 -> v2s
        for t in txns:
            reads, writes = externals(t.mops)
            self.ext.append((reads, writes))
            last: dict[Hashable, Any] = {}
            for f, k, v in t.mops:
                if f == "w":
                    if k in last:
                        self.intermediate.setdefault(k, {})[last[k]] = t
                    last[k] = v
                    if t.type == "fail":
                        self.failed.setdefault(k, {})[v] = t
            if t.type == "fail":
                continue
            for k, v in writes.items():
                self.writer.setdefault(k, {})[v] = t.id
            if t.type != "ok":
                continue
            for k, v in reads.items():
                self.readers.setdefault(k, {}).setdefault(v, []).append(t.id)
                if wfr_keys and v is not None and k in writes and writes[k] != v:
                    self.later.setdefault(k, {}).setdefault(v, set()).add(writes[k])
        self.wfr = wfr_keys

    def precedes(self, k: Hashable, v1: Any, v2: Any) -> str | None:
        """Why version v1 of k comes before v2 ("initial" or "wfr"), or None."""
        if v2 is None or v1 == v2:
            return None
        if v1 is None:
            return "initial"
        if v2 in self.later.get(k, {}).get(v1, ()):
            return "wfr"
        return None


def _analyse(txns: list[Txn], *, wfr_keys: bool) -> Inference:
    a = _Analysis(txns, wfr_keys=wfr_keys)
    graph = DepGraph(len(txns))
    cases = Cases()
    if a.later:
        _cyclic_versions(a, cases)
    for t in txns:
        if t.type != "ok":
            continue
        reads, _ = a.ext[t.id]
        for k, v in reads.items():
            if v is not None:
                w = a.writer.get(k, {}).get(v)
                if w is not None and w != t.id:
                    graph.link(w, t.id, WR)
    for k, by_value in a.writer.items():
        initial_readers = a.readers.get(k, {}).get(None, ())
        later = a.later.get(k, {})
        for w2 in by_value.values():
            graph.link_all(initial_readers, w2, RW)
        for v1, v2s in later.items():
            w1 = by_value.get(v1)
            readers = a.readers.get(k, {}).get(v1, ())
            for v2 in v2s:
                later_writer = by_value.get(v2)
                if later_writer is None:
                    continue
                if w1 is not None and w1 != later_writer:
                    graph.link(w1, later_writer, WW)
                graph.link_all(readers, later_writer, RW)
    _within(a, cases)
    return Inference(
        CHECKER,
        txns,
        graph,
        cases,
        lambda x, y, rel: _explain(a, x, y, rel),
        {"key_count": len(a.writer.keys() | a.readers.keys()), "wfr_keys": wfr_keys},
    )


def _cyclic_versions(a: _Analysis, cases: Cases) -> None:
    """Cycles in the writes-follow-reads version orders: report them, and use none of them
    (Elle drops the whole source of order when it contradicts itself)."""
    cyclic = False
    for k, later in a.later.items():
        values = list(dict.fromkeys([*later, *(v for vs in later.values() for v in vs)]))
        number = {v: i for i, v in enumerate(values)}
        out = [[number[v2] << 5 | WW for v2 in later.get(v, ())] for v in values]
        for comp in components(out):
            cyclic = True
            scc = [values[i] for i in comp]
            cases.add(
                "cyclic-versions",
                {
                    "key": k,
                    "scc": scc,
                    "sources": ["initial-state", "wfr-keys"],
                    "text": f"cyclic-versions: on key {explain.show(k)}, transactions read and "
                    f"then overwrote the values {explain.show(scc)} in a circle",
                },
            )
    if cyclic:
        a.later.clear()


def _within(a: _Analysis, cases: Cases) -> None:
    lost: dict[tuple[Hashable, Hashable], list[Txn]] = {}
    for t in a.txns:
        if t.type != "ok":
            continue
        state: dict[Hashable, Any] = {}
        reported = False
        for f, k, v in t.mops:
            if f == "w":
                state[k] = v
                continue
            if a.failed and v in a.failed.get(k, {}):
                writer = a.failed[k][v]
                cases.add(
                    "G1a",
                    {
                        "op": t.describe(),
                        "mop": ["r", k, v],
                        "writer": writer.describe(),
                        "text": f"G1a (aborted read): operation {t.index} read {explain.show(k)} = "
                        f"{explain.show(v)}, which only operation {writer.index} wrote, and it "
                        "failed",
                    },
                )
            middle = a.intermediate.get(k, {}).get(v) if a.intermediate else None
            if middle is not None and middle is not t:
                cases.add(
                    "G1b",
                    {
                        "op": t.describe(),
                        "mop": ["r", k, v],
                        "writer": middle.describe(),
                        "text": f"G1b (intermediate read): operation {t.index} read "
                        f"{explain.show(k)} = {explain.show(v)}, which operation {middle.index} "
                        "wrote and then overwrote in the same transaction",
                    },
                )
            if k in state and state[k] != v and not reported:
                reported = True
                cases.add(
                    "internal",
                    {
                        "op": t.describe(),
                        "mop": ["r", k, v],
                        "expected": state[k],
                        "text": f"internal: operation {t.index} read {explain.show(k)} = "
                        f"{explain.show(v)}, but its own earlier micro-operations left it "
                        f"{explain.show(state[k])}",
                    },
                )
            state[k] = v
        reads, writes = a.ext[t.id]
        for k in reads.keys() & writes.keys():
            lost.setdefault((k, reads[k]), []).append(t)
    for (k, v), group in lost.items():
        if len(group) < 2:
            continue
        shown = ", ".join(str(t.index) for t in group[:20])
        cases.add(
            "lost-update",
            {
                "key": k,
                "value": v,
                "txns": [t.describe() for t in group[:20]],
                "text": f"lost-update: operations {shown} each read {explain.show(k)} = "
                f"{explain.show(v)} and then wrote it: one wrote without seeing the other's write",
            },
        )


def _explain(a: _Analysis, x: Txn, y: Txn, rel: int) -> explain.Reason | None:
    show = explain.show
    x_reads, x_writes = a.ext[x.id]
    y_reads, y_writes = a.ext[y.id]
    if rel == WR:
        for k, v in y_reads.items():
            if v is not None and x_writes.get(k, object()) == v:
                data = {
                    "type": "wr",
                    "key": k,
                    "value": v,
                    "a-mop-index": mop_index(x, "w", k, v),
                    "b-mop-index": mop_index(y, "r", k, v),
                }
                return (
                    data,
                    lambda n, m, k=k, v=v: f"{m} read {show(k)} = {show(v)}, which {n} wrote",
                )
        return None
    for k, v2 in y_writes.items():
        if rel == WW and k in x_writes:
            v1 = x_writes[k]
            if a.precedes(k, v1, v2) == "wfr":
                data = {
                    "type": "ww",
                    "key": k,
                    "value": v1,
                    "value'": v2,
                    "a-mop-index": mop_index(x, "w", k, v1),
                    "b-mop-index": mop_index(y, "w", k, v2),
                }
                return (
                    data,
                    lambda n, m, k=k, v1=v1, v2=v2: (
                        f"{n} set {show(k)} to {show(v1)}, and {m} read that and then set it to "
                        f"{show(v2)}"
                    ),
                )
        if rel == RW and k in x_reads:
            v1 = x_reads[k]
            why = a.precedes(k, v1, v2)
            if why is None:
                continue
            data = {
                "type": "rw",
                "key": k,
                "value": v1,
                "value'": v2,
                "a-mop-index": mop_index(x, "r", k, v1),
                "b-mop-index": mop_index(y, "w", k, v2),
            }
            if why == "initial":
                return (
                    data,
                    lambda n, m, k=k, v2=v2: (
                        f"{n} read {show(k)} = nil, its initial state, and {m} set it to {show(v2)}"
                    ),
                )
            return (
                data,
                lambda n, m, k=k, v1=v1, v2=v2: (
                    f"{n} read {show(k)} = {show(v1)}, and {m} read {show(v1)} too and then "
                    f"overwrote it with {show(v2)}"
                ),
            )
    return None
