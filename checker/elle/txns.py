"""Transactions as Elle reads them: a history of `txn` operations, paired and checked.

A transactional history (Maelstrom's `txn-list-append` and `txn-rw-register`, Jepsen's and
Elle's) holds operations whose value is a list of micro-operations `[f, k, v]`:
`["r", k, v]`, `["append", k, v]`, `["w", k, v]`. `prepare(history, fs=...)` pairs every
client operation's invocation with its completion (the nemesis is left out) and returns one
`Txn` per invocation, in invocation order; its `id` is its position in that list, which the
dependency graph uses as the vertex.

What each outcome means, as in Jepsen: `ok` took effect with the values it carries; `fail`
did not take effect; `info` (a timeout, a crash, or an invocation that never completed) may
have taken effect, at any later time, and its reads are unknown unless the completion carries
them (Jepsen copies the invocation, whose reads are null). An `info` completion whose value is
not a transaction is read as its invocation's.

Keys and values are any JSON values; lists and maps are made hashable (`freeze`: lists become
tuples, maps sorted tuples of pairs), so `[0, 1]` as a key is the tuple `(0, 1)` here and is
shown as `[0 1]`. A read of list-append keeps its list (each element frozen).

A micro-operation that is not `[f, k, v]` with `f` in `fs` (a read may be `[r, k]`, as Elle's
invocations sometimes are) is a `HistoryError` naming the operation and saying which model
takes what: usually the history was checked with the wrong `--model`.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from checker.history import HistoryError, Op

_SCALARS = (int, str, float, bool, type(None))


def freeze(value: Any) -> Hashable:
    """`value` made hashable: lists (and tuples) become tuples, maps tuples of sorted pairs."""
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted(((freeze(k), freeze(v)) for k, v in value.items()), key=repr))
    return value


def freeze_list(values: list[Any]) -> list[Any]:
    """A read's list with each element hashable (the list itself is kept: reads are compared
    as lists). Elements are almost always numbers or strings: try that first, in C."""
    try:
        hash(tuple(values))
    except TypeError:
        return [freeze(v) for v in values]
    return values


@dataclass(slots=True)
class Txn:
    """One transaction: an invocation and its completion (None: it never completed)."""

    id: int
    type: str  # ok, info or fail (an invocation that never completed is info)
    process: Any
    invoke: Op
    completion: Op | None
    mops: list[list[Any]]  # [f, k, v], frozen; often the history's own lists: read only
    invoke_pos: int  # positions among the client operations: real-time order
    complete_pos: int  # (the end of the history for an invocation never completed)
    source: Op | None = None  # the operation `mops` were read from (None: the completion's)

    @property
    def index(self) -> int:
        """The history index that names this transaction: its completion's, else its
        invocation's."""
        return self.completion.index if self.completion is not None else self.invoke.index

    def describe(self) -> dict[str, Any]:
        """The transaction as a JSON-able op, as Elle shows one in a cycle: named by its
        index (`index`), with the value the micro-operations were read from, as the history
        holds it (not copied: a result never writes to it)."""
        op = self.completion or self.invoke
        return {
            "index": op.index,
            "time": op.time,
            "type": self.type,
            "process": self.process,
            "f": op.f,
            "value": (self.source or op).value,
        }


def mop_index(t: Txn, f: str, k: Hashable, v: Any) -> int | None:
    """The position in `t` of its micro-operation `[f, k, v]`, if it has one."""
    for i, (g, key, value) in enumerate(t.mops):
        if g == f and key == k and value == v:
            return i
    return None


def is_txn_value(value: Any) -> bool:
    """Whether `value` has the shape of a transaction: a list of lists."""
    return isinstance(value, list) and all(isinstance(m, list | tuple) for m in value)


def prepare(history: Sequence[Op], *, fs: dict[str, str], model: str) -> list[Txn]:
    """The transactions of `history`; `fs` maps each micro-operation name to what it does
    ("read", "append", "write"), `model` names the model in error messages. Pairs as
    `checker.history.pair` does (and refuses what it refuses), keeping positions."""
    opened: dict[Any, tuple[int, Op, int]] = {}  # process -> (position, invocation, slot)
    slots: list[tuple[Op, Op | None, int, int]] = []  # invocation, completion, positions
    pos = -1
    for op in history:
        if op.process == "nemesis":
            continue
        pos += 1
        key = op.process
        if op.type == "invoke":
            if key in opened:
                raise HistoryError(
                    f"operation {op.index}: process {key!r} invoked again while operation "
                    f"{opened[key][1].index} is still open"
                )
            opened[key] = (pos, op, len(slots))
            slots.append((op, None, pos, -1))
        else:
            entry = opened.pop(key, None)
            if entry is None:
                raise HistoryError(
                    f"operation {op.index}: process {key!r} completed ({op.type}) with no "
                    "open invocation"
                )
            at, inv, slot = entry
            slots[slot] = (inv, op, at, pos)
    end = pos + 1
    mops_of = _Mops(fs, model)
    txns: list[Txn] = []
    for inv, comp, invoke_pos, complete_pos in slots:
        kind = "info" if comp is None else comp.type
        # An ok completion carries what was read; a fail or info one may only echo the
        # invocation, or carry nothing (then the invocation says what was attempted).
        carries = comp is not None and (kind == "ok" or is_txn_value(comp.value))
        where = comp if carries and comp is not None else inv
        txns.append(
            Txn(
                id=len(txns),
                type=kind,
                process=inv.process,
                invoke=inv,
                completion=comp,
                mops=mops_of(where),
                invoke_pos=invoke_pos,
                complete_pos=end if comp is None else complete_pos,
                source=where,
            )
        )
    return txns


_PLAIN = frozenset({int, str, float, bool, type(None)})  # hashable as they are


class _Mops:
    """Reads and checks one operation's micro-operations (module docstring)."""

    def __init__(self, fs: dict[str, str], model: str) -> None:
        self.fs = fs
        self.model = model
        self.lists = "append" in fs.values()  # list-append reads return lists

    def takes(self) -> str:
        return " and ".join(f'["{f}", k, v]' for f in self.fs)

    def __call__(self, op: Op) -> list[list[Any]]:
        value = op.value
        if not isinstance(value, list):
            raise HistoryError(
                f"operation {op.index}: value {value!r} is not a transaction (a list of "
                f"micro-operations); {self.model} takes {self.takes()}: is --model right?"
            )
        fs, plain = self.fs, _PLAIN
        mops: list[list[Any]] = []
        for i, mop in enumerate(value):
            if type(mop) is list and len(mop) == 3:
                f, k, v = mop
            elif isinstance(mop, list | tuple) and len(mop) in (2, 3):
                f, k, v = (*mop, None)[:3]
            else:
                raise HistoryError(
                    f"operation {op.index}: micro-operation {i} is {mop!r}, not [f, k, v]; "
                    f"{self.model} takes {self.takes()}"
                )
            what = fs.get(f) if type(f) is str else None
            if what is None or (len(mop) == 2 and what != "read"):
                raise HistoryError(
                    f"operation {op.index}: micro-operation {i} is {list(mop)!r}; {self.model} "
                    f"takes {self.takes()}: is --model right?"
                )
            if type(k) not in plain:
                k = freeze(k)
            if what != "read":
                if type(v) not in plain:
                    v = freeze(v)
            elif type(v) is list:
                v = freeze_list(v)
            elif v is not None and self.lists:
                raise HistoryError(
                    f"operation {op.index}: micro-operation {i} reads {v!r}; a {self.model} "
                    "read returns a list (or null for the empty list)"
                )
            elif type(v) not in plain:
                v = freeze(v)
            # Keep the history's own list when nothing had to change (it is never written
            # to): a million transactions then cost no second copy of their micro-operations.
            if type(mop) is list and k is mop[1] and len(mop) == 3 and v is mop[2]:
                mops.append(mop)
            else:
                mops.append([f, k, v])
        return mops
