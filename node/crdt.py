"""State-based CRDT values: GSet, GCounter, PNCounter, ORSet, LWWRegister, behind one protocol.

A CRDT (conflict-free replicated data type) is a value whose replicas converge without
coordination: every replica applies its clients' updates locally and, now and then, merges
another replica's whole state into its own. That works because the states form a join
semi-lattice: `merge` is the least upper bound, so it is commutative, associative and
idempotent (a merge delivered twice, late, or in any order changes nothing more), and every
update only moves a state up (`x.leq(update(x))`). Whatever gossip delivers, replicas that have
merged the same updates hold the same state (strong eventual consistency).

    from node.crdt import CRDTS, CrdtError
    kind = CRDTS["g-counter"]                 # the type serving a workload
    a, reply = kind.empty().update({"type": "add", "delta": 3}, node="n1", now_ms=0.0)
    b, _ = kind.empty().update({"type": "add", "delta": 4}, node="n2", now_ms=0.0)
    a.merge(b).read()                         # {"value": 7}: the fields of `read_ok`
    kind.from_json(a.to_json()) == a          # the wire form, for gossip

One protocol (`Crdt`) so that one replication service is generic over the type, as
Maelstrom's demo `CRDTServer` serves every CRDT through one read/merge interface: `empty()`,
`update(body, node=..., now_ms=...)` (a client request's body -> the new state and the fields
of its `<type>_ok`; `CrdtError` for a request it cannot apply), `read()` (the fields of
`read_ok`), `merge`, `leq`, `value()`, `to_json()` / `from_json()`. `UPDATES` names the request
types that update it. Values are immutable: every update and merge returns a new value, copying
the state (O(state) per update, fine for runs of thousands of operations).

| workload     | type        | state                                   | value                    |
|--------------|-------------|-----------------------------------------|--------------------------|
| g-set        | GSet        | the elements                            | sorted list              |
| g-counter    | GCounter    | node -> its total of (non-negative) adds| the sum                  |
| pn-counter   | PNCounter   | two GCounters: increments, decrements   | increments - decrements  |
| or-set       | ORSet       | added tags, removed tags (tombstones)   | elements with a live tag |
| lww-register | LWWRegister | value, timestamp `[wall_ms, counter]`, writer | value (and its ts)  |

Elements (g-set, or-set) are JSON integers or strings: JSON's `true` and `1.0` would collide
with `1` in a Python set, so they are refused (`CrdtError`) rather than merged wrongly.

ORSet is add-wins: `add(e)` creates a fresh tag `(e, node, seq)`; `remove(e)` tombstones the
tags of `e` this replica holds (the adds it has *observed*), so a concurrent add elsewhere,
whose tag it has not seen, survives the merge. A node's `seq` is one above the highest of its
own tags the state holds: a node that restarts without its state must merge a peer's state
(or reload its own) before it adds, or it may reuse a tag that is already tombstoned and lose
that add. Tombstones are never collected (that would need causal stability): the state grows
with the number of adds.

LWWRegister orders writes by `(ts, node)`: the timestamp, then the writer's node id (plain
string order) as the tie-break, then the value's canonical JSON, so that merge is
deterministic even if two writes share a stamp. `write` stamps with a hybrid logical clock
over the register: `[wall_ms, 0]` when the node's clock is past the current stamp, else one
counter step above it, so a node never stamps a write below what it holds (a node whose clock
lags still wins over what it has seen). A node that has not yet seen a write with a higher
stamp made elsewhere can still lose to it: that is last-writer-wins, and the lww checker
reports such writes with the skew that lost them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Protocol, Self

Element = int | str
Tag = tuple[Element, str, int]  # (element, node, seq): one add
Stamp = tuple[int, int]  # (wall_ms, counter)


class CrdtError(ValueError):
    """An update or wire value a CRDT cannot take; the message names the field and the fix."""


class Crdt(Protocol):
    """What a generic replication service needs of a CRDT (module docstring)."""

    UPDATES: ClassVar[frozenset[str]]

    @classmethod
    def empty(cls) -> Self: ...

    @classmethod
    def from_json(cls, data: Any) -> Self: ...

    def update(self, body: Mapping[str, Any], *, node: str, now_ms: float
               ) -> tuple[Self, dict[str, Any]]: ...

    def read(self) -> dict[str, Any]: ...

    def merge(self, other: Self) -> Self: ...

    def leq(self, other: Self) -> bool: ...

    def value(self) -> Any: ...

    def to_json(self) -> Any: ...


# -- validation ---------------------------------------------------------------------------------

def _element(value: Any, what: str = "element") -> Element:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise CrdtError(f"{what} must be a JSON integer or string, not {value!r}")
    return value


def _int(value: Any, what: str, *, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise CrdtError(f"{what} must be an integer, not {value!r}")
    if minimum is not None and value < minimum:
        raise CrdtError(f"{what} must be at least {minimum}, not {value}")
    return value


def _node(value: Any, what: str = "node") -> str:
    if not isinstance(value, str) or not value:
        raise CrdtError(f"{what} must be a node id (a non-empty string), not {value!r}")
    return value


def _field(body: Mapping[str, Any], key: str) -> Any:
    if key not in body:
        raise CrdtError(f"{body.get('type')!r} lacks the field {key!r}")
    return body[key]


def _unsupported(kind: str, body: Mapping[str, Any], updates: Iterable[str]) -> CrdtError:
    return CrdtError(f"{kind} has no update {body.get('type')!r}; it takes "
                     f"{', '.join(sorted(updates))} and read")


def _sorted(elements: Iterable[Element]) -> list[Element]:
    """Integers first (numerically), then strings: a deterministic wire and read order."""
    return sorted(elements, key=lambda e: (isinstance(e, str), e))


# -- GSet ---------------------------------------------------------------------------------------

class GSet:
    """A grow-only set: add; merge is union; `a.leq(b)` is subset."""

    UPDATES: ClassVar[frozenset[str]] = frozenset({"add"})
    __slots__ = ("elements",)

    def __init__(self, elements: Iterable[Element] = ()) -> None:
        self.elements: frozenset[Element] = frozenset(elements)

    @classmethod
    def empty(cls) -> GSet:
        return cls()

    def add(self, element: Element) -> GSet:
        return GSet(self.elements | {_element(element)})

    def update(self, body: Mapping[str, Any], *, node: str, now_ms: float
               ) -> tuple[GSet, dict[str, Any]]:
        if body.get("type") != "add":
            raise _unsupported("g-set", body, self.UPDATES)
        return self.add(_field(body, "element")), {}

    def merge(self, other: GSet) -> GSet:
        return GSet(self.elements | other.elements)

    def leq(self, other: GSet) -> bool:
        return self.elements <= other.elements

    def value(self) -> list[Element]:
        return _sorted(self.elements)

    def read(self) -> dict[str, Any]:
        return {"value": self.value()}

    def to_json(self) -> list[Element]:
        return self.value()

    @classmethod
    def from_json(cls, data: Any) -> GSet:
        if not isinstance(data, list):
            raise CrdtError(f"a g-set is a JSON array of elements, not {data!r}")
        return cls(_element(e) for e in data)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GSet) and self.elements == other.elements

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"GSet({self.value()!r})"


# -- counters -----------------------------------------------------------------------------------

class GCounter:
    """A grow-only counter: each node counts its own adds; merge takes the maximum per node
    (never the sum: a state merged twice must not count twice); the value is the sum."""

    UPDATES: ClassVar[frozenset[str]] = frozenset({"add"})
    __slots__ = ("counts",)

    def __init__(self, counts: Mapping[str, int] | None = None) -> None:
        self.counts: dict[str, int] = {n: c for n, c in (counts or {}).items() if c}

    @classmethod
    def empty(cls) -> GCounter:
        return cls()

    def add(self, node: str, delta: int) -> GCounter:
        _node(node)
        _int(delta, "delta", minimum=0)
        counts = dict(self.counts)
        counts[node] = counts.get(node, 0) + delta
        return GCounter(counts)

    def update(self, body: Mapping[str, Any], *, node: str, now_ms: float
               ) -> tuple[GCounter, dict[str, Any]]:
        if body.get("type") != "add":
            raise _unsupported("g-counter", body, self.UPDATES)
        return self.add(node, _field(body, "delta")), {}

    def merge(self, other: GCounter) -> GCounter:
        counts = dict(self.counts)
        for n, c in other.counts.items():
            counts[n] = max(counts.get(n, 0), c)
        return GCounter(counts)

    def leq(self, other: GCounter) -> bool:
        return all(c <= other.counts.get(n, 0) for n, c in self.counts.items())

    def value(self) -> int:
        return sum(self.counts.values())

    def read(self) -> dict[str, Any]:
        return {"value": self.value()}

    def to_json(self) -> dict[str, int]:
        return dict(sorted(self.counts.items()))

    @classmethod
    def from_json(cls, data: Any) -> GCounter:
        if not isinstance(data, dict):
            raise CrdtError(f"a g-counter is a JSON object of node -> count, not {data!r}")
        return cls({_node(n): _int(c, f"the count of {n}", minimum=0) for n, c in data.items()})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GCounter) and self.counts == other.counts

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"GCounter({self.to_json()!r})"


class PNCounter:
    """A counter that also decrements: one GCounter of increments, one of decrements."""

    UPDATES: ClassVar[frozenset[str]] = frozenset({"add"})
    __slots__ = ("decrements", "increments")

    def __init__(self, increments: GCounter | None = None,
                 decrements: GCounter | None = None) -> None:
        self.increments = increments or GCounter()
        self.decrements = decrements or GCounter()

    @classmethod
    def empty(cls) -> PNCounter:
        return cls()

    def add(self, node: str, delta: int) -> PNCounter:
        _int(delta, "delta")
        if delta >= 0:
            return PNCounter(self.increments.add(node, delta), self.decrements)
        return PNCounter(self.increments, self.decrements.add(node, -delta))

    def update(self, body: Mapping[str, Any], *, node: str, now_ms: float
               ) -> tuple[PNCounter, dict[str, Any]]:
        if body.get("type") != "add":
            raise _unsupported("pn-counter", body, self.UPDATES)
        return self.add(node, _field(body, "delta")), {}

    def merge(self, other: PNCounter) -> PNCounter:
        return PNCounter(self.increments.merge(other.increments),
                         self.decrements.merge(other.decrements))

    def leq(self, other: PNCounter) -> bool:
        return self.increments.leq(other.increments) and self.decrements.leq(other.decrements)

    def value(self) -> int:
        return self.increments.value() - self.decrements.value()

    def read(self) -> dict[str, Any]:
        return {"value": self.value()}

    def to_json(self) -> dict[str, Any]:
        return {"p": self.increments.to_json(), "n": self.decrements.to_json()}

    @classmethod
    def from_json(cls, data: Any) -> PNCounter:
        if not isinstance(data, dict) or set(data) != {"p", "n"}:
            raise CrdtError(f"a pn-counter is a JSON object {{p, n}} of g-counters, not {data!r}")
        return cls(GCounter.from_json(data["p"]), GCounter.from_json(data["n"]))

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, PNCounter) and self.increments == other.increments
                and self.decrements == other.decrements)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"PNCounter({self.to_json()!r})"


# -- ORSet --------------------------------------------------------------------------------------

class ORSet:
    """An add-wins observed-remove set (module docstring): tags added, tags removed."""

    UPDATES: ClassVar[frozenset[str]] = frozenset({"add", "remove"})
    __slots__ = ("added", "removed")

    def __init__(self, added: Iterable[Tag] = (), removed: Iterable[Tag] = ()) -> None:
        self.added: frozenset[Tag] = frozenset(added)
        self.removed: frozenset[Tag] = frozenset(removed)

    @classmethod
    def empty(cls) -> ORSet:
        return cls()

    def next_seq(self, node: str) -> int:
        """One above the highest seq of `node`'s tags this state holds."""
        return 1 + max((s for _, n, s in self.added if n == node), default=0)

    def add(self, element: Element, *, node: str) -> ORSet:
        tag = (_element(element), _node(node), self.next_seq(node))
        return ORSet(self.added | {tag}, self.removed)

    def remove(self, element: Element) -> ORSet:
        """Tombstone the tags of `element` this state has observed; nothing else."""
        _element(element)
        observed = {t for t in self.added if t[0] == element}
        return ORSet(self.added, self.removed | observed)

    def update(self, body: Mapping[str, Any], *, node: str, now_ms: float
               ) -> tuple[ORSet, dict[str, Any]]:
        kind = body.get("type")
        if kind == "add":
            return self.add(_field(body, "element"), node=node), {}
        if kind == "remove":
            return self.remove(_field(body, "element")), {}
        raise _unsupported("or-set", body, self.UPDATES)

    def merge(self, other: ORSet) -> ORSet:
        return ORSet(self.added | other.added, self.removed | other.removed)

    def leq(self, other: ORSet) -> bool:
        return self.added <= other.added and self.removed <= other.removed

    def value(self) -> list[Element]:
        return _sorted({t[0] for t in self.added - self.removed})

    def read(self) -> dict[str, Any]:
        return {"value": self.value()}

    def to_json(self) -> dict[str, Any]:
        def rows(tags: frozenset[Tag]) -> list[list[Any]]:
            return [list(t) for t in sorted(tags, key=lambda t: (isinstance(t[0], str), t))]

        return {"added": rows(self.added), "removed": rows(self.removed)}

    @classmethod
    def from_json(cls, data: Any) -> ORSet:
        if not isinstance(data, dict) or set(data) != {"added", "removed"}:
            raise CrdtError(f"an or-set is a JSON object {{added, removed}} of tags, not {data!r}")

        def tags(rows: Any, what: str) -> list[Tag]:
            if not isinstance(rows, list):
                raise CrdtError(f"or-set {what} must be an array of [element, node, seq]")
            out: list[Tag] = []
            for row in rows:
                if not isinstance(row, list) or len(row) != 3:
                    raise CrdtError(f"an or-set tag is [element, node, seq], not {row!r}")
                out.append((_element(row[0]), _node(row[1]), _int(row[2], "seq", minimum=1)))
            return out

        return cls(tags(data["added"], "added"), tags(data["removed"], "removed"))

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, ORSet) and self.added == other.added
                and self.removed == other.removed)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ORSet({self.to_json()!r})"


# -- LWWRegister --------------------------------------------------------------------------------

class LWWRegister:
    """A last-writer-wins register (module docstring): the write with the greatest
    `(ts, node)` wins; empty (value None, no stamp) until the first write."""

    UPDATES: ClassVar[frozenset[str]] = frozenset({"write"})
    __slots__ = ("node", "ts", "value_")

    def __init__(self, value: Any = None, ts: Stamp | None = None,
                 node: str | None = None) -> None:
        if (ts is None) != (node is None):
            raise CrdtError("an lww-register holds a stamp and a writer, or neither")
        self.value_ = value
        self.ts = ts
        self.node = node

    @classmethod
    def empty(cls) -> LWWRegister:
        return cls()

    def _key(self) -> tuple[Stamp, str, str] | None:
        if self.ts is None:
            return None
        assert self.node is not None
        return self.ts, self.node, json.dumps(self.value_, sort_keys=True)

    def stamp(self, now_ms: float) -> Stamp:
        """A hybrid logical stamp above the one held, at `now_ms` when the clock is ahead."""
        if not math.isfinite(now_ms):
            raise CrdtError(f"now_ms must be a finite number, not {now_ms!r}")
        wall = math.floor(now_ms)
        if self.ts is None or wall > self.ts[0]:
            return (wall, 0)
        return (self.ts[0], self.ts[1] + 1)

    def assign(self, value: Any, *, ts: Stamp, node: str) -> LWWRegister:
        """Join a write stamped `ts` by `node`: it wins only if its `(ts, node)` is greater."""
        return self.merge(LWWRegister(value, _stamp(ts), _node(node)))

    def write(self, value: Any, *, node: str, now_ms: float) -> LWWRegister:
        """Write `value`, stamped by `stamp(now_ms)`: it always wins over what is held."""
        return self.assign(value, ts=self.stamp(now_ms), node=node)

    def update(self, body: Mapping[str, Any], *, node: str, now_ms: float
               ) -> tuple[LWWRegister, dict[str, Any]]:
        if body.get("type") != "write":
            raise _unsupported("lww-register", body, self.UPDATES)
        written = self.write(_field(body, "value"), node=node, now_ms=now_ms)
        assert written.ts is not None
        return written, {"ts": list(written.ts)}

    def merge(self, other: LWWRegister) -> LWWRegister:
        mine, theirs = self._key(), other._key()
        if theirs is None or (mine is not None and mine >= theirs):
            return self
        return other

    def leq(self, other: LWWRegister) -> bool:
        mine, theirs = self._key(), other._key()
        return mine is None or (theirs is not None and mine <= theirs)

    def value(self) -> Any:
        return self.value_

    def read(self) -> dict[str, Any]:
        return {"value": self.value_, "ts": None if self.ts is None else list(self.ts)}

    def to_json(self) -> dict[str, Any] | None:
        if self.ts is None:
            return None
        return {"value": self.value_, "ts": list(self.ts), "node": self.node}

    @classmethod
    def from_json(cls, data: Any) -> LWWRegister:
        if data is None:
            return cls()
        if not isinstance(data, dict) or set(data) != {"value", "ts", "node"}:
            raise CrdtError(f"an lww-register is null or {{value, ts, node}}, not {data!r}")
        return cls(data["value"], _stamp(data["ts"]), _node(data["node"]))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LWWRegister) and self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"LWWRegister({self.to_json()!r})"


def _stamp(value: Any) -> Stamp:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise CrdtError(f"a stamp is [wall_ms, counter], not {value!r}")
    return (_int(value[0], "wall_ms"), _int(value[1], "counter", minimum=0))


CRDTS: dict[str, type[Crdt]] = {  # mypy checks that each type meets the protocol
    "g-set": GSet,
    "g-counter": GCounter,
    "pn-counter": PNCounter,
    "or-set": ORSet,
    "lww-register": LWWRegister,
}
