"""The dependency graph between transactions, and its strongly connected components.

Vertices are transaction ids (`checker.elle.txns.Txn.id`). An edge `a -> b` says that `a`
must come before `b` in any serial order that explains the history, for one reason, its
relation (Adya's direct dependencies, as Elle infers them):

| relation   | bit | a -> b because                                                     |
|------------|----:|--------------------------------------------------------------------|
| `ww`       |  1  | b overwrote (appended after) a version a wrote                     |
| `wr`       |  2  | b read a version a wrote                                           |
| `rw`       |  4  | a read a version that b's write replaced (an anti-dependency)      |
| `process`  |  8  | the same process ran a, then b                                     |
| `realtime` | 16  | a completed before b was invoked                                   |

A pair related for several reasons has several edges, one per relation. Each vertex's
out-edges are one Python list of ints `dst << SHIFT | relation` (`DepGraph.out`): a million
edges cost a few tens of MB and no object per edge.

`components(out)` is Tarjan's algorithm, iterative (no recursion limit, whatever the size of
a component), returning the components of two or more vertices (there are no self-edges: a
transaction never depends on itself here). `link_realtime` and `link_process` add the two
orders that do not come from data.

The real-time order is kept small as Elle keeps it (elle.core/realtime-graph): a transaction
is linked to every `ok` transaction completed before it was invoked that is not already
before another completed one it is linked to, which is a transitive reduction of "completed
before invoked". With c clients at most about c edges are added per transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from checker.elle.txns import Txn

WW, WR, RW, PROCESS, REALTIME = 1, 2, 4, 8, 16
DATA = WW | WR | RW
ALL = DATA | PROCESS | REALTIME
SHIFT = 5
REL_MASK = (1 << SHIFT) - 1
REL_NAMES = {WW: "ww", WR: "wr", RW: "rw", PROCESS: "process", REALTIME: "realtime"}


class DepGraph:
    """Edges between `n` transactions, as adjacency lists of encoded ints (module docstring)."""

    __slots__ = ("_counts", "out")

    def __init__(self, n: int) -> None:
        self.out: list[list[int]] = [[] for _ in range(n)]
        self._counts = [0] * (REL_MASK + 1)  # by relation bit

    @property
    def counts(self) -> dict[str, int]:
        """Edges by relation name."""
        return {name: self._counts[rel] for rel, name in REL_NAMES.items()}

    def link(self, a: int, b: int, rel: int) -> None:
        """Add the edge a -> b for `rel`; a transaction is never linked to itself."""
        assert a != b, "no self-edges"
        self.out[a].append(b << SHIFT | rel)
        self._counts[rel] += 1

    def link_all(self, sources: Iterable[int], b: int, rel: int) -> None:
        """Link every one of `sources` but `b` itself to `b`."""
        for a in sources:
            if a != b:
                self.link(a, b, rel)

    def edge_count(self) -> int:
        return sum(self._counts)

    def relations(self) -> int:
        """The relations present, as bits."""
        return sum(rel for rel in REL_NAMES if self._counts[rel])


def components(out: Sequence[Sequence[int]], mask: int = ALL) -> list[list[int]]:
    """The strongly connected components of two or more vertices of the graph `out` (encoded
    adjacency lists, only edges whose relation is in `mask`), each sorted, in order of their
    smallest vertex. Tarjan's algorithm with an explicit stack."""
    n = len(out)
    index = [-1] * n
    low = [0] * n
    on_stack = [False] * n
    stack: list[int] = []
    found: list[list[int]] = []
    counter = 0
    for root in range(n):
        if index[root] != -1:
            continue
        index[root] = low[root] = counter
        counter += 1
        if not out[root]:  # most vertices of a valid history's graph end here
            continue
        stack.append(root)
        on_stack[root] = True
        work = [(root, 0)]
        while work:
            v, i = work[-1]
            edges = out[v]
            size = len(edges)
            descended = False
            while i < size:
                e = edges[i]
                i += 1
                if not e & mask:
                    continue
                w = e >> SHIFT
                if index[w] == -1:
                    work[-1] = (v, i)
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack[w] = True
                    work.append((w, 0))
                    descended = True
                    break
                if on_stack[w] and index[w] < low[v]:
                    low[v] = index[w]
            if descended:
                continue
            work.pop()
            if low[v] == index[v]:
                w = stack.pop()
                on_stack[w] = False
                if w != v:
                    component = [w]
                    while w != v:
                        w = stack.pop()
                        on_stack[w] = False
                        component.append(w)
                    component.sort()
                    found.append(component)
            if work:
                u = work[-1][0]
                if low[v] < low[u]:
                    low[u] = low[v]
    found.sort(key=lambda c: c[0])
    return found


def subgraph(out: Sequence[Sequence[int]], vertices: Sequence[int], mask: int) -> list[list[int]]:
    """The graph restricted to `vertices` (renumbered 0.. in their order) and to the relations
    in `mask`, encoded as `out` is."""
    local = {v: i for i, v in enumerate(vertices)}
    get = local.get
    sub: list[list[int]] = []
    for v in vertices:
        edges = []
        for e in out[v]:
            rel = e & REL_MASK
            if rel & mask:
                w = get(e >> SHIFT)
                if w is not None:
                    edges.append(w << SHIFT | rel)
        sub.append(edges)
    return sub


def link_realtime(graph: DepGraph, txns: Sequence[Txn]) -> None:
    """Add `realtime` edges: a -> b when `a` completed `ok` before `b` was invoked (a
    transitive reduction, module docstring). `fail` transactions are left out: they did not
    happen."""
    events: list[tuple[int, int]] = []  # (position, txn id); an id < 0 is ~id's invocation
    for t in txns:
        if t.type == "fail":
            continue
        events.append((t.invoke_pos, ~t.id))
        if t.type == "ok":
            events.append((t.complete_pos, t.id))
    events.sort()
    frontier: set[int] = set()  # ok transactions completed and not yet before another
    linked: dict[int, set[int]] = {}  # open ok transaction -> the frontier at its invocation
    for _, tid in events:
        if tid < 0:
            b = ~tid
            for a in frontier:
                graph.link(a, b, REALTIME)
            if txns[b].type == "ok":
                linked[b] = set(frontier)
        else:
            frontier -= linked.pop(tid)
            frontier.add(tid)


def link_process(graph: DepGraph, txns: Sequence[Txn]) -> None:
    """Add `process` edges between each process's successive `ok` transactions (Jepsen gives
    a client a new process after an `info`, so a process's order is its oks' order)."""
    last: dict[object, int] = {}
    for t in sorted((t for t in txns if t.type == "ok"), key=lambda t: t.invoke_pos):
        key = repr(t.process) if isinstance(t.process, list | dict) else t.process
        prev = last.get(key)
        if prev is not None:
            graph.link(prev, t.id, PROCESS)
        last[key] = t.id
