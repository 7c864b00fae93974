"""Elle's list-append checker: transactions of appends and reads over lists, and their cycles.

    check(history, consistency_models=["serializable"])  # default: strict-serializable

Each transaction (`f` "txn", Maelstrom's txn-list-append) is a list of micro-operations
`["append", k, v]` (append v to the list at key k) and `["r", k, [v...]]` (read the whole
list; null or `[]` for a key never appended to). Appended values must be unique per key.
Because every read returns the whole list, every read reveals the order in which the
database applied the appends it shows, which is what makes list-append so much stronger
than registers (Kingsbury and Alvaro, "Elle: Inferring Isolation Anomalies from Experimental
Observations", VLDB 2020, section 4; Elle's elle.list-append, whose rules these are).

**Version order.** For each key, the longest list any `ok` or `info` transaction read (Elle's
sorted-values): every other read of the key must be a prefix of it, and the order of its
(distinct) elements is the key's version order. A key never read but appended to exactly
once has the order `[v]`. An appended element no read shows came after every element the
longest read shows.

**Anomalies found without cycles** (each case cites the history indexes involved):

- `incompatible-order`: a read that is not a prefix of the key's longest read, so that no
  one order of appends explains both (one case per key);
- `duplicate-elements`: an element twice in one read (`ok` or `info`);
- `internal`: an `ok` transaction's read disagrees with its own earlier micro-operations on
  the key: after reading `[1 2]` and appending 3 it must read `[1 2 3]`; after appending 3
  to a key it had not read, a list ending in 3 (`expected` `["...", 3]`);
- `future-read`: an `ok` transaction read an element it appends only later;
- `G1a`, aborted read: an `ok` read shows an element appended only by a `fail`ed
  transaction;
- `G1b`, intermediate read: an `ok` read ends with an element that another transaction
  appended and then followed with another append to the same key;
- `dirty-update`: in a key's version order, an element a committed transaction appended
  follows one a `fail`ed transaction appended (with only failed or indeterminate appends
  between);
- `lost-update`: two `ok` transactions read the same list of a key and both appended to it.

**Dependencies** (between `ok` and `info` transactions, `checker.elle.graph`); `info`
transactions count where their effects were seen, and an `info` read of null says nothing:

- `wr`: T2 read a list whose last element T1 appended;
- `ww`: T2 appended the element right after one T1 appended, in the version order (an element
  no read shows follows the last one the longest read shows);
- `rw`: T1 read a list ending with the element right before the one T2 appended (or the empty
  list, when T2's is the key's first element): T1 did not see T2's append.

Then `checker.elle.verdict.judge` adds real-time or process edges as the consistency models
need, looks for cycles (G0, G1c, G-single, G-nonadjacent, G2-item, and their -process and
-realtime variants), and says what the anomalies rule out.

A history whose invocations append some value to some key twice cannot be judged (the
version order would be ambiguous): the result is unknown and says which, as Elle's is. A
malformed transaction is a `HistoryError`.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

from checker.elle import explain
from checker.elle.graph import RW, WR, WW, DepGraph
from checker.elle.txns import Txn, mop_index, prepare
from checker.elle.verdict import HEADLINE, Cases, Inference, judge, models_of, paused_gc
from checker.history import Op
from checker.result import UNKNOWN, result

CHECKER = "list-append"
FS = {"r": "read", "append": "append"}


class _Init:
    """The empty list's stand-in for "the last element read": the key's initial state."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "INIT"


INIT: Any = _Init()


def check(
    history: Sequence[Op], *, consistency_models: Sequence[str] | None = None
) -> dict[str, Any]:
    """Judge a list-append history (module docstring)."""
    models = models_of(consistency_models)  # an unknown model is an error before any work
    with paused_gc():
        txns = prepare(history, fs=FS, model=CHECKER)
        duplicate = _duplicate_append(txns)
        if duplicate is not None:
            return result(
                CHECKER,
                UNKNOWN,
                headline=HEADLINE,
                consistency_models=models,
                txn_count=len(txns),
                reason=duplicate,
            )
        return judge(_analyse(txns), models)


def _duplicate_append(txns: list[Txn]) -> str | None:
    seen: dict[Hashable, dict[Hashable, int]] = {}
    for t in txns:
        for f, k, v in t.mops:
            if f != "append":
                continue
            by_key = seen.get(k)
            if by_key is None:
                by_key = seen[k] = {}
            first = by_key.get(v)
            if first is not None:
                return (
                    f"value {explain.show(v)} is appended to key {explain.show(k)} by both "
                    f"operation {first} and operation {t.invoke.index}: appends must be unique "
                    "per key for the version order to be known"
                )
            by_key[v] = t.invoke.index
    return None


class _Analysis:
    """The indexes every rule reads (module docstring), built in one pass."""

    def __init__(self, txns: list[Txn]) -> None:
        self.txns = txns
        # key -> element -> id of the ok or info transaction that appended it
        self.appended: dict[Hashable, dict[Hashable, int]] = {}
        # key -> element -> the failed transaction that appended it
        self.failed: dict[Hashable, dict[Hashable, Txn]] = {}
        # key -> element -> the transaction that appended it and then appended again to key
        self.intermediate: dict[Hashable, dict[Hashable, Txn]] = {}
        self.longest: dict[Hashable, tuple[list[Any], Txn]] = {}
        appends_seen: dict[Hashable, int] = {}  # ok/info appends per key (single-append rule)
        for t in txns:
            kind = t.type
            last: dict[Hashable, Hashable] = {}
            for f, k, v in t.mops:
                if f == "append":
                    prev = last.get(k, INIT)
                    if prev is not INIT:
                        self.intermediate.setdefault(k, {})[prev] = t
                    last[k] = v
                    if kind == "fail":
                        self.failed.setdefault(k, {})[v] = t
                    else:
                        by_key = self.appended.get(k)
                        if by_key is None:
                            by_key = self.appended[k] = {}
                        by_key[v] = t.id
                        appends_seen[k] = appends_seen.get(k, 0) + 1
                elif v and kind != "fail":
                    cur = self.longest.get(k)
                    if cur is None or len(v) > len(cur[0]):
                        self.longest[k] = (v, t)
        self.order: dict[Hashable, list[Any]] = {}
        self.pos: dict[Hashable, dict[Hashable, int]] = {}
        for k, (values, _) in self.longest.items():
            order = list(dict.fromkeys(values))
            self.order[k] = order
            self.pos[k] = {e: i for i, e in enumerate(order)}
        for k, n in appends_seen.items():
            if n == 1 and k not in self.order:
                (v,) = self.appended[k]
                self.order[k] = [v]
                self.pos[k] = {v: 0}

    def previous(self, k: Hashable, v: Hashable) -> Any:
        """The element appended to `k` just before `v`, or INIT."""
        order = self.order.get(k)
        if not order:
            return INIT
        p = self.pos[k].get(v)
        if p is None:  # never read: after everything read
            return order[-1]
        return order[p - 1] if p else INIT


def _analyse(txns: list[Txn]) -> Inference:
    a = _Analysis(txns)
    graph = DepGraph(len(txns))
    cases = Cases()
    readers = _reads(a, graph, cases)
    _appends(a, graph, readers)
    _within(a, cases)
    _dirty_updates(a, cases)
    return Inference(
        CHECKER,
        txns,
        graph,
        cases,
        lambda x, y, rel: _explain(a, x, y, rel),
        {"key_count": len(a.order)},
    )


def _reads(a: _Analysis, graph: DepGraph, cases: Cases) -> dict[Hashable, dict[Any, list[int]]]:
    """wr edges, incompatible orders and duplicates; returns key -> last element read (or
    INIT) -> the ids of the transactions that read it."""
    readers: dict[Hashable, dict[Any, list[int]]] = {}
    appended, order_of = a.appended, a.longest
    incompatible: dict[Hashable, list[Any]] = {}  # key -> [first bad read, reader, count]
    repeats = {k for k, (values, _) in order_of.items() if len(a.order[k]) != len(values)}
    for t in a.txns:
        if t.type == "fail":
            continue
        tid = t.id
        for f, k, v in t.mops:
            if f != "r":
                continue
            if v is None:
                if t.type != "ok":
                    continue  # an info read of nil: nothing was observed
                v = []
            by_last = readers.get(k)
            if by_last is None:
                by_last = readers[k] = {}
            if not v:
                by_last.setdefault(INIT, []).append(tid)
                continue
            last = v[-1]
            by_last.setdefault(last, []).append(tid)
            writer = appended.get(k, {}).get(last)
            if writer is not None and writer != tid:
                graph.link(writer, tid, WR)
            longest = order_of[k][0]
            if longest[: len(v)] != v:
                bad = incompatible.get(k)
                if bad is None:
                    incompatible[k] = [v, t, 1]
                else:
                    bad[2] += 1
            elif k not in repeats:  # a prefix of a longest read without repeats has none
                continue
            if len(set(v)) != len(v):
                _duplicates(cases, t, k, v)
    for k, (v, t, count) in incompatible.items():
        longest, reader = order_of[k]
        cases.add(
            "incompatible-order",
            {
                "key": k,
                "values": [v, longest],
                "indexes": [t.index, reader.index],
                "count": count,
                "text": f"incompatible-order: operation {t.index} read {explain.show(k)} = "
                f"{explain.show(v)}, which is not a prefix of {explain.show(longest)}, read by "
                f"operation {reader.index}"
                + (f" ({count} reads of the key disagree)" if count > 1 else ""),
            },
        )
    return readers


def _duplicates(cases: Cases, t: Txn, k: Hashable, v: list[Any]) -> None:
    counts: dict[Any, int] = {}
    for e in v:
        counts[e] = counts.get(e, 0) + 1
    dups = [[e, n] for e, n in counts.items() if n > 1]
    cases.add(
        "duplicate-elements",
        {
            "op": t.describe(),
            "mop": ["r", k, v],
            "duplicates": dups,
            "text": f"duplicate-elements: operation {t.index} read {explain.show(k)} = "
            f"{explain.show(v)}, in which "
            + ", ".join(f"{explain.show(e)} appears {n} times" for e, n in dups),
        },
    )


def _appends(a: _Analysis, graph: DepGraph, readers: dict[Hashable, dict[Any, list[int]]]) -> None:
    """ww and rw edges: to each append from the append before it and from its readers."""
    appended, order_of, pos_of = a.appended, a.order, a.pos
    no_readers: dict[Any, list[int]] = {}
    for t in a.txns:
        if t.type == "fail":
            continue
        tid = t.id
        for f, k, v in t.mops:
            if f != "append":
                continue
            order = order_of.get(k)
            if not order:
                prev = INIT
            else:
                p = pos_of[k].get(v)
                prev = order[-1] if p is None else (order[p - 1] if p else INIT)
            if prev is not INIT:
                writer = appended[k].get(prev)
                if writer is not None and writer != tid:
                    graph.link(writer, tid, WW)
            for r in readers.get(k, no_readers).get(prev, ()):
                if r != tid:
                    graph.link(r, tid, RW)


def _within(a: _Analysis, cases: Cases) -> None:
    """What one ok transaction shows on its own, or with the indexes: internal, future-read,
    G1a, G1b and lost-update."""
    failed, intermediate = a.failed, a.intermediate
    lost: dict[tuple[Hashable, tuple[Any, ...]], list[Txn]] = {}
    for t in a.txns:
        if t.type != "ok":
            continue
        mops = t.mops
        if failed or intermediate:
            for f, k, v in mops:
                if f == "r" and v and (k in failed or k in intermediate):
                    _aborted(a, cases, t, k, v)
        if len(mops) < 2:
            continue
        _internal(cases, t)
        first_read: dict[Hashable, Any] = {}  # key -> what it held when first read
        written: set[Hashable] = set()
        for f, k, v in mops:
            if f == "r":
                if k not in written and k not in first_read:
                    first_read[k] = v
            elif k not in written:
                written.add(k)
                if k in first_read:  # read, then appended: Elle's lost-update candidates
                    lost.setdefault((k, tuple(first_read[k] or ())), []).append(t)
    for (k, seen), group in lost.items():
        if len(group) < 2:
            continue
        cases.add(
            "lost-update",
            {
                "key": k,
                "value": list(seen),
                "txns": [t.describe() for t in group[:20]],
                "text": f"lost-update: operations {', '.join(str(t.index) for t in group[:20])} "
                f"each read {explain.show(k)} = {explain.show(list(seen))} and then appended "
                "to it: one of the appends was made without seeing the other",
            },
        )


def _aborted(a: _Analysis, cases: Cases, t: Txn, k: Hashable, v: list[Any]) -> None:
    """G1a and G1b in one read of `k` (module docstring)."""
    failed = a.failed.get(k)
    if failed:
        order = a.order.get(k, [])
        if order[: len(v)] == v:  # as reads mostly are: look only where failed elements sit
            pos = a.pos[k]
            seen = [e for e in failed if (p := pos.get(e)) is not None and p < len(v)]
        else:
            seen = [e for e in v if e in failed]
        for e in seen:
            writer = failed[e]
            cases.add(
                "G1a",
                {
                    "op": t.describe(),
                    "mop": ["r", k, v],
                    "writer": writer.describe(),
                    "element": e,
                    "text": f"G1a (aborted read): operation {t.index} read "
                    f"{explain.show(k)} = {explain.show(v)}, with {explain.show(e)}, "
                    f"which only operation {writer.index} appended, and it failed",
                },
            )
    middle = a.intermediate.get(k, {}).get(v[-1])
    if middle is not None and middle is not t:
        cases.add(
            "G1b",
            {
                "op": t.describe(),
                "mop": ["r", k, v],
                "writer": middle.describe(),
                "element": v[-1],
                "text": f"G1b (intermediate read): operation {t.index} read "
                f"{explain.show(k)} = {explain.show(v)}, ending with {explain.show(v[-1])}, "
                f"which operation {middle.index} appended and then appended to again in "
                "the same transaction",
            },
        )


def _internal(cases: Cases, t: Txn) -> None:
    """The first read of `t` that disagrees with its own earlier micro-operations, and the
    first element it read before appending it (module docstring)."""
    state: dict[Hashable, tuple[bool, list[Any]]] = {}  # key -> (whole list known, list)
    reads: dict[Hashable, list[list[Any]]] = {}  # key -> what the transaction read of it
    internal_done = future_done = False
    for f, k, v in t.mops:
        if f == "append":
            if not future_done and any(v in seen for seen in reads.get(k, ())):
                future_done = True
                cases.add(
                    "future-read",
                    {
                        "op": t.describe(),
                        "element": v,
                        "key": k,
                        "text": f"future-read: operation {t.index} read {explain.show(v)} in "
                        f"{explain.show(k)} before appending it itself",
                    },
                )
            known, values = state.get(k, (False, []))
            state[k] = (known, [*values, v])
            continue
        seen = v or []
        if seen:
            reads.setdefault(k, []).append(seen)
        expected = state.get(k)
        if expected is not None and not internal_done:
            known, values = expected
            if known:
                bad = seen != values
            else:
                cut = len(seen) - len(values)
                bad = cut < 0 or seen[cut:] != values
            if bad:
                internal_done = True
                shown = values if known else ["...", *values]
                cases.add(
                    "internal",
                    {
                        "op": t.describe(),
                        "mop": ["r", k, v],
                        "expected": shown,
                        "text": f"internal: operation {t.index} read {explain.show(k)} = "
                        f"{explain.show(v)}, but its own earlier micro-operations say "
                        + (
                            f"{explain.show(values)}"
                            if known
                            else f"a list ending in {explain.show(values)}"
                        ),
                    },
                )
        state[k] = (True, list(seen))


def _dirty_updates(a: _Analysis, cases: Cases) -> None:
    """A failed append followed, in a key's version order, by a committed one (with only
    failed or indeterminate appends between: module docstring)."""
    for k, failed in a.failed.items():
        order = a.order.get(k)
        if not order:
            continue
        appended = a.appended.get(k, {})
        last_kind, last_txn = "ok", None  # the initial state counts as committed
        values: list[Any] = []
        for e in order:
            writer_id = appended.get(e)
            writer: Txn | None
            if writer_id is not None:
                writer = a.txns[writer_id]
                kind = writer.type
            elif e in failed:
                writer, kind = failed[e], "fail"
            else:
                writer, kind = None, "info"  # appended by no one we know of: cannot say
            values.append(e)
            if kind == "ok":
                if last_kind == "fail" and last_txn is not None and writer is not None:
                    cases.add(
                        "dirty-update",
                        {
                            "key": k,
                            "values": values,
                            "txns": [last_txn.describe(), "...", writer.describe()],
                            "text": f"dirty-update: on key {explain.show(k)}, operation "
                            f"{writer.index} appended {explain.show(e)} on top of "
                            f"{explain.show(values[0])}, appended by operation "
                            f"{last_txn.index}, which failed",
                        },
                    )
                last_kind, last_txn, values = "ok", writer, [e]
            elif kind == "fail" and last_kind != "fail":
                last_kind, last_txn, values = "fail", writer, [e]
            # info: it may or may not have happened; keep the state


def _explain(a: _Analysis, x: Txn, y: Txn, rel: int) -> explain.Reason | None:
    """Why x precedes y by the data edge `rel` (module docstring)."""
    show = explain.show
    for j, (f, k, v) in enumerate(y.mops):
        if rel == WR and f == "r" and v and a.appended.get(k, {}).get(v[-1]) == x.id:
            data = {
                "type": "wr",
                "key": k,
                "value": v[-1],
                "a-mop-index": mop_index(x, "append", k, v[-1]),
                "b-mop-index": j,
            }
            return (
                data,
                lambda n, m, k=k, v=v: (
                    f"{m} read {show(k)} = {show(v)} and {n} appended {show(v[-1])}"
                ),
            )
        if f != "append" or rel not in (WW, RW):
            continue
        prev = a.previous(k, v)
        read_by_order = k in a.pos and v in a.pos[k]
        source = a.longest.get(k)
        where = f"the longest read of {show(k)} (operation {source[1].index})" if source else ""
        if rel == WW and prev is not INIT and a.appended[k].get(prev) == x.id:
            data = {
                "type": "ww",
                "key": k,
                "value": prev,
                "value'": v,
                "a-mop-index": mop_index(x, "append", k, prev),
                "b-mop-index": j,
            }
            if read_by_order:
                return (
                    data,
                    lambda n, m, k=k, v=v, prev=prev, where=where: (
                        f"{m} appended {show(v)} after {n} appended {show(prev)} to {show(k)}, as "
                        f"{where} shows"
                    ),
                )
            return (
                data,
                lambda n, m, k=k, v=v, prev=prev, where=where: (
                    f"{m} appended {show(v)} after {n} appended {show(prev)} to {show(k)}: no read "
                    f"saw {show(v)}, so it came after {show(prev)}, the end of {where}"
                ),
            )
        if rel == RW:
            i = _read_index(x, k, prev)
            if i is None:
                continue
            seen = x.mops[i][2] or []
            data = {
                "type": "rw",
                "key": k,
                "value": None if prev is INIT else prev,
                "value'": v,
                "a-mop-index": i,
                "b-mop-index": j,
            }
            if prev is INIT:
                return (
                    data,
                    lambda n, m, k=k, v=v: (
                        f"{n} observed the initial (empty) state of {show(k)}, which {m} changed "
                        f"by appending {show(v)}"
                    ),
                )
            came = "right after it" if read_by_order else "after it: no read saw it"
            return (
                data,
                lambda n, m, k=k, v=v, seen=seen, came=came: (
                    f"{n} read {show(k)} = {show(seen)} and did not see {m}'s append of {show(v)}, "
                    f"which came {came}"
                ),
            )
    return None



def _read_index(t: Txn, k: Hashable, last: Any) -> int | None:
    """Where `t` read `k` as a list ending with `last` (INIT: the empty list)."""
    for i, (f, key, v) in enumerate(t.mops):
        if f != "r" or key != k:
            continue
        if v is None and t.type != "ok":
            continue
        if (not v and last is INIT) or (v and last is not INIT and v[-1] == last):
            return i
    return None
