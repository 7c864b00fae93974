"""Finding and naming cycles in one strongly connected component of the dependency graph.

A cycle is named by the relations of its edges, as Elle's cycle explainer names it
(elle.txn/cycle-explainer):

| name            | the cycle's data edges                                        |
|-----------------|---------------------------------------------------------------|
| `G0`            | ww only (a write cycle)                                       |
| `G1c`           | ww and wr, at least one wr (circular information flow)        |
| `G-single`      | exactly one rw (read skew)                                    |
| `G-nonadjacent` | two or more rw, no two of them adjacent (around the cycle)    |
| `G2-item`       | two or more rw, some two adjacent (write skew and worse)      |

followed by `-realtime` when the cycle needs a real-time edge, else `-process` when it needs
a process edge (`classify`). A cycle made only of process and real-time edges cannot happen
(both orders agree with the history's own order).

`search(component, spec, budget)` looks for a shortest cycle of one name (`SPECS`) in a
component: a breadth-first search from each candidate start over pairs (vertex, state), the
state recording what the path needs to become that cycle (how many rw edges so far, whether
the last one was rw, whether a wr or a process/real-time edge was used...). An edge carrying
several relations may be taken as any of them. The first closing edge back to the start that
leaves an accepting state gives a shortest cycle through that start; the search goes on from
other starts while a shorter one may exist, and stops at the shortest possible length for the
name (2, or 4 for G-nonadjacent). Starts are the vertices an edge of the required kind leaves
(or, for G-nonadjacent, which an rw edge enters: every such cycle can begin just after an rw
edge), in history order. A closed walk that repeats a vertex is cut into its simple cycles,
and one of the wanted name is taken if there is one.

This is Elle's search (elle.bfs) with a difference: Elle takes the first start that has a
cycle, we keep looking for a shorter one within the budget. Every step costs one unit of a
budget shared by all the names searched in a component (`STEP_BUDGET`); when it runs out the
best cycle found so far is reported (`shortest` false), or none, and the caller records a
`cycle-search-timeout`, as Elle does when its search times out. Counting steps instead of
seconds keeps the verdict the same on every machine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from checker.elle.graph import PROCESS, REALTIME, REL_MASK, RW, SHIFT, WR, WW, components
from checker.elle.models import BASE_CYCLES

STEP_BUDGET = 1_000_000  # edge steps per component, for all the names searched in it

# rw modes
NO_RW, ONE_RW, NONADJACENT_RW, ADJACENT_RW, ANY = range(5)

# State bits of a path (module docstring).
_COUNT = 3  # rw edges so far: 0, 1, 2 (two or more)
_LAST_RW = 4
_FIRST_RW = 8
_ADJACENT = 16
_WR_SEEN = 32
_VARIANT_SEEN = 64
_STARTED = 128
_STATES = 256


@dataclass(frozen=True, slots=True)
class Spec:
    """What a cycle of one name is made of."""

    name: str
    allowed: int  # relations its edges may use
    rw: int  # NO_RW, ONE_RW, NONADJACENT_RW, ADJACENT_RW or ANY
    needs_wr: bool
    variant: int  # 0, PROCESS or REALTIME: at least one such edge
    min_length: int
    step: list[int] = field(repr=False, compare=False, default_factory=list)
    accepts: list[bool] = field(repr=False, compare=False, default_factory=list)

    @property
    def required(self) -> int:
        """The relation every cycle of this name has (0: none in particular)."""
        if self.variant:
            return self.variant
        if self.rw in (ONE_RW, NONADJACENT_RW, ADJACENT_RW):
            return RW
        return WR if self.needs_wr else 0


def _make(name: str, allowed: int, rw: int, needs_wr: bool, variant: int, min_length: int) -> Spec:
    spec = Spec(name, allowed, rw, needs_wr, variant, min_length)
    step = [-1] * (_STATES * 32)
    for state in range(_STATES):
        for rel in (WW, WR, RW, PROCESS, REALTIME):
            if rel & allowed:
                step[state * 32 + rel] = _transition(spec, state, rel)
    spec.step.extend(step)
    spec.accepts.extend(_accepting(spec, state) for state in range(_STATES))
    return spec


def _transition(spec: Spec, state: int, rel: int) -> int:
    count = state & _COUNT
    first = not state & _STARTED
    if rel == RW:
        if spec.rw == NO_RW or (spec.rw == ONE_RW and count >= 1):
            return -1
        if spec.rw == NONADJACENT_RW and (first or state & _LAST_RW):
            return -1
        new = (state & ~_COUNT) | min(count + 1, 2) | _LAST_RW
        if first:
            new |= _FIRST_RW
        if state & _LAST_RW:
            new |= _ADJACENT
    else:
        new = state & ~_LAST_RW
        if rel == WR:
            new |= _WR_SEEN
        if rel == spec.variant:
            new |= _VARIANT_SEEN
    new |= _STARTED
    # Forget what this name does not need, so that fewer states are told apart.
    if spec.rw == ANY:  # any cycle will do: only whether the path has begun matters
        return _STARTED
    if spec.rw in (NO_RW, ONE_RW):
        new &= ~(_LAST_RW | _FIRST_RW | _ADJACENT)
    if not spec.needs_wr:
        new &= ~_WR_SEEN
    return new


def _accepting(spec: Spec, state: int) -> bool:
    count = state & _COUNT
    if spec.needs_wr and not state & _WR_SEEN:
        return False
    if spec.variant and not state & _VARIANT_SEEN:
        return False
    if spec.rw == NO_RW:
        return count == 0
    if spec.rw == ONE_RW:
        return count == 1
    if spec.rw == NONADJACENT_RW:
        return count == 2 and not (state & _LAST_RW and state & _FIRST_RW)
    if spec.rw == ADJACENT_RW:
        return count == 2 and bool(state & _ADJACENT or (state & _LAST_RW and state & _FIRST_RW))
    return True


def _specs() -> dict[str, Spec]:
    base = {
        "G0": (WW, NO_RW, False, 2),
        "G1c": (WW | WR, NO_RW, True, 2),
        "G-single": (WW | WR | RW, ONE_RW, False, 2),
        "G-nonadjacent": (WW | WR | RW, NONADJACENT_RW, False, 4),
        "G2-item": (WW | WR | RW, ADJACENT_RW, False, 2),
    }
    assert tuple(base) == BASE_CYCLES
    specs: dict[str, Spec] = {}
    for suffix, variant in (("", 0), ("-process", PROCESS), ("-realtime", REALTIME)):
        for name, (allowed, rw, needs_wr, min_length) in base.items():
            specs[name + suffix] = _make(
                name + suffix, allowed | variant, rw, needs_wr, variant, min_length
            )
    return specs


SPECS = _specs()
ANY_CYCLE = _make("any", WW | WR | RW | PROCESS | REALTIME, ANY, False, 0, 2)


def classify(rels: Sequence[int]) -> str | None:
    """The name of a cycle whose edges have relations `rels`, in order (module docstring);
    None for a cycle of process and real-time edges only."""
    rw = sum(1 for r in rels if r == RW)
    if rw == 1:
        data = "G-single"
    elif rw > 1:
        adjacent = any(rels[i] == RW and rels[i - 1] == RW for i in range(len(rels)))
        data = "G2-item" if adjacent else "G-nonadjacent"
    elif WR in rels:
        data = "G1c"
    elif WW in rels:
        data = "G0"
    else:
        return None
    if REALTIME in rels:
        return data + "-realtime"
    if PROCESS in rels:
        return data + "-process"
    return data


@dataclass(slots=True)
class Found:
    """A cycle: its vertices (local to the component searched), and the relation of each edge
    `vertices[i] -> vertices[i + 1]` (the last edge closes back to the first vertex)."""

    vertices: list[int]
    rels: list[int]
    shortest: bool = True


@dataclass(slots=True)
class Budget:
    """Edge steps left for a component's searches."""

    steps: int = field(default_factory=lambda: STEP_BUDGET)  # read when made: tests lower it

    @property
    def spent(self) -> bool:
        return self.steps <= 0


def search(out: Sequence[Sequence[int]], spec: Spec, budget: Budget) -> Found | None:
    """A shortest cycle named `spec.name` in the component `out` (its local adjacency lists),
    or None; `found.shortest` is false when the budget ran out before a shorter one was ruled
    out. Check `budget.spent` after a None: the search may not have finished."""
    best: Found | None = None
    for part in components(out, spec.allowed):
        local = _restrict(out, part, spec.allowed)
        for start in _starts(local, spec):
            limit = len(best.vertices) if best is not None else len(local) + 1
            found = _from(local, start, spec, limit, budget)
            if found is not None:
                best = Found([part[v] for v in found.vertices], found.rels)
                if len(best.vertices) <= spec.min_length:
                    return best
            if budget.spent:
                if best is not None:
                    best.shortest = False
                return best
    return best


def _restrict(out: Sequence[Sequence[int]], part: list[int], allowed: int) -> list[list[int]]:
    local = {v: i for i, v in enumerate(part)}
    get = local.get
    sub = []
    for v in part:
        edges = []
        for e in out[v]:
            if e & allowed:
                w = get(e >> SHIFT)
                if w is not None:
                    edges.append(w << SHIFT | (e & REL_MASK))
        sub.append(edges)
    return sub


def _starts(out: list[list[int]], spec: Spec) -> list[int]:
    """Where to start looking: each cycle of the name passes through one of these."""
    required = spec.required
    if not required:
        return list(range(len(out)))
    if spec.rw == NONADJACENT_RW:  # vertices an rw edge enters
        return sorted({e >> SHIFT for edges in out for e in edges if e & RW})
    return [v for v, edges in enumerate(out) if any(e & required for e in edges)]


def _from(out: list[list[int]], start: int, spec: Spec, limit: int, budget: Budget) -> Found | None:
    """A shortest cycle of `spec`'s name through `start` shorter than `limit`, if any."""
    step, accepts = spec.step, spec.accepts
    parent: dict[int, tuple[int, int]] = {start << 8: (-1, 0)}
    layer = [start << 8]
    depth = 0
    steps = budget.steps
    try:
        while layer and depth + 1 < limit:
            nxt = []
            for key in layer:
                state = key & 255
                base = state * 32
                for e in out[key >> 8]:
                    rel = e & REL_MASK
                    new = step[base + rel]
                    steps -= 1
                    if new < 0:
                        continue
                    w = e >> SHIFT
                    if w == start:
                        if accepts[new]:
                            found = _closed(parent, key, rel, spec)
                            if found is not None:
                                return found
                        continue
                    k2 = w << 8 | new
                    if k2 not in parent:
                        parent[k2] = (key, rel)
                        nxt.append(k2)
                if steps <= 0:
                    return None
            layer = nxt
            depth += 1
        return None
    finally:
        budget.steps = steps


def _closed(parent: dict[int, tuple[int, int]], key: int, rel: int, spec: Spec) -> Found | None:
    """The cycle that the path to `key` closed by an edge `rel` makes, cut down to a simple
    cycle of `spec`'s name if it repeats a vertex; None if none has that name."""
    vertices: list[int] = []
    rels = [rel]
    while True:
        prev, r = parent[key]
        vertices.append(key >> 8)
        if prev < 0:
            break
        rels.append(r)
        key = prev
    vertices.reverse()
    rels.reverse()
    return _simple(vertices, rels, spec.name if spec is not ANY_CYCLE else None)


def _simple(vertices: list[int], rels: list[int], name: str | None) -> Found | None:
    """A simple cycle named `name` (any name when None) within the closed walk."""
    seen: dict[int, int] = {}
    for i, v in enumerate(vertices):
        j = seen.get(v)
        if j is not None:  # vertices[j:i] is a closed walk; so is the rest
            inner = _simple(vertices[j:i], rels[j:i], name)
            if inner is not None:
                return inner
            return _simple(vertices[:j] + vertices[i:], rels[:j] + rels[i:], name)
        seen[v] = i
    kind = classify(rels)
    if kind is None or (name is not None and kind != name):
        return None
    return Found(vertices, rels)


def any_cycle(out: Sequence[Sequence[int]]) -> Found | None:
    """Some shortest cycle through the component's first vertex, whatever its name: what is
    reported of a component whose search ran out of budget (Elle's fallback cycle). It
    costs one breadth-first search, whatever the budget says."""
    local = [list(edges) for edges in out]
    spare = Budget(2 * sum(len(e) for e in local) + 2)  # two states per vertex: linear
    return _from(local, 0, ANY_CYCLE, len(local) + 1, spare)
