"""Workloads: the operations clients perform, how they go on the wire, and who judges them.

A workload is Jepsen's client plus generator plus checker for one kind of service, in pure
code: no trio, no zmq, no clock. The orchestrator's client loop drives it:

1. after `init`, the admin client `c0` sends each `(node, body)` of `setup(node_ids)` and
   expects `<type>_ok` (broadcast's `topology`);
2. each client process asks `invoke(rng, process)` for its next operation `(f, value)`, sends
   `request(f, value)` (the body without `msg_id`), and turns the reply (or its absence) into a
   completion with `complete(f, value, reply)` -> `(type, value, error)`; a timeout is `info`,
   or `fail` when `is_idempotent(f)` (a read that never answered changed nothing);
3. after the healed recovery phase, the `final_ops(node_ids)` run (each recorded with
   `extra={"final": True}`), retried until they succeed;
4. `check(history, node_ids=...)` judges the history: a `checker.result.compose` of the
   workload's checkers.

Reply mapping (PROTOCOL.md): `<f>_ok` with the expected fields is `ok`, carrying the result.
An `error` is `fail` when its code is definite, or when the operation is idempotent; otherwise
(timeout 0, crash 13, codes 1000 and up, codes we do not know) it is `info`: when in doubt,
indefinite is always safe. The error is recorded as `{"code", "name", "text"}`. A reply that is
neither (a wrong type, a missing field) is a protocol violation by the node: recorded as
`info` (`fail` for reads) with an error string starting `"malformed reply"`, and the `replies`
checker turns any such into an invalid verdict, so a node cannot hide behind garbage.

Workloads: `echo` (checker: echo equality), `unique-ids` (unique-ids), `broadcast`
(set-full, final reads on every node). Every workload's check also includes `availability`
and `replies`. A workload object keeps a counter so that values are unique within a run; make
one per run with `get_workload(name, **params)`.

Not yet: the CRDT, kv, log, lock and txn workloads of DESIGN.md.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable
from typing import Any, Protocol

import checker.basic as basic
from checker.history import Op
from checker.result import compose
from checker.setfull import set_full

# PROTOCOL.md's error codes. Definite: the operation certainly did not happen.
ERROR_NAMES = {
    0: "timeout",
    1: "node-not-found",
    10: "not-supported",
    11: "temporarily-unavailable",
    12: "malformed-request",
    13: "crash",
    14: "abort",
    20: "key-does-not-exist",
    21: "key-already-exists",
    22: "precondition-failed",
    30: "txn-conflict",
}
DEFINITE_CODES = frozenset({1, 10, 11, 12, 14, 20, 21, 22, 30})
MALFORMED = basic.MALFORMED_REPLY  # the prefix of the error of a reply that breaks the protocol

TOPOLOGIES = ("grid", "line", "ring", "tree2", "tree3", "tree4", "total")


class Workload(Protocol):
    name: str

    def setup(self, node_ids: list[str]) -> list[tuple[str, dict[str, Any]]]: ...

    def invoke(self, rng: random.Random, process: int) -> tuple[str, Any]: ...

    def request(self, f: str, value: Any) -> dict[str, Any]: ...

    def complete(self, f: str, value: Any, reply: dict[str, Any]) -> tuple[str, Any, Any]: ...

    def is_idempotent(self, f: str) -> bool: ...

    def final_ops(self, node_ids: list[str]) -> list[tuple[str, str, Any]]: ...

    def check(self, history: list[Op], *, node_ids: list[str]) -> dict[str, Any]: ...


def error_completion(
    f: str, value: Any, reply: dict[str, Any], *, idempotent: bool
) -> tuple[str, Any, Any]:
    """Map an `error` reply to `fail` (definite, or idempotent op) or `info`."""
    code = reply.get("code")
    error: dict[str, Any] = {"code": code, "text": reply.get("text", "")}
    if isinstance(code, int) and code in ERROR_NAMES:
        error["name"] = ERROR_NAMES[code]
    definite = isinstance(code, int) and not isinstance(code, bool) and code in DEFINITE_CODES
    return ("fail" if definite or idempotent else "info"), value, error


def malformed(f: str, value: Any, why: str, *, idempotent: bool) -> tuple[str, Any, Any]:
    return ("fail" if idempotent else "info"), value, f"{MALFORMED}: {why}"


class _Base:
    """What every workload shares: reply dispatch, idempotency, the common checkers."""

    name = ""
    reads: frozenset[str] = frozenset()

    def __init__(self) -> None:
        self._counter = itertools.count()

    def setup(self, node_ids: list[str]) -> list[tuple[str, dict[str, Any]]]:
        return []

    def is_idempotent(self, f: str) -> bool:
        return f in self.reads

    def final_ops(self, node_ids: list[str]) -> list[tuple[str, str, Any]]:
        return []

    def complete(self, f: str, value: Any, reply: dict[str, Any]) -> tuple[str, Any, Any]:
        idempotent = self.is_idempotent(f)
        rtype = reply.get("type") if isinstance(reply, dict) else None
        if rtype == "error":
            return error_completion(f, value, reply, idempotent=idempotent)
        if rtype != f"{f}_ok":
            return malformed(
                f, value, f"expected {f}_ok or error to {f}, got {rtype!r}", idempotent=idempotent
            )
        try:
            return "ok", self.result(f, value, reply), None
        except (KeyError, TypeError, ValueError) as e:
            return malformed(f, value, f"{f}_ok {e}", idempotent=idempotent)

    def result(self, f: str, value: Any, reply: dict[str, Any]) -> Any:
        """The ok value from a `<f>_ok` reply; raise KeyError/TypeError naming what is wrong."""
        raise NotImplementedError

    def common_checks(self, history: list[Op]) -> dict[str, dict[str, Any]]:
        return {
            "availability": basic.availability(history),
            "replies": basic.well_formed_replies(history),
        }


def _field(reply: dict[str, Any], key: str) -> Any:
    if key not in reply:
        raise KeyError(f"lacks the field {key!r}")
    return reply[key]


class Echo(_Base):
    """`echo{echo}` -> `echo_ok{echo}`; the reply must equal the request."""

    name = "echo"

    def invoke(self, rng: random.Random, process: int) -> tuple[str, Any]:
        # Unique per run, and varied in length so a node that truncates is caught.
        n = next(self._counter)
        return "echo", f"p{process}-{n}-" + "x" * rng.randrange(0, 16)

    def request(self, f: str, value: Any) -> dict[str, Any]:
        return {"type": "echo", "echo": value}

    def result(self, f: str, value: Any, reply: dict[str, Any]) -> Any:
        return _field(reply, "echo")

    def check(self, history: list[Op], *, node_ids: list[str]) -> dict[str, Any]:
        return compose({"echo": basic.echo_equality(history), **self.common_checks(history)})


class UniqueIds(_Base):
    """`generate{}` -> `generate_ok{id}`; no id may be handed out twice."""

    name = "unique-ids"

    def invoke(self, rng: random.Random, process: int) -> tuple[str, Any]:
        return "generate", None

    def request(self, f: str, value: Any) -> dict[str, Any]:
        return {"type": "generate"}

    def result(self, f: str, value: Any, reply: dict[str, Any]) -> Any:
        return _field(reply, "id")

    def check(self, history: list[Op], *, node_ids: list[str]) -> dict[str, Any]:
        return compose({"unique-ids": basic.unique_ids(history), **self.common_checks(history)})


class Broadcast(_Base):
    """Maelstrom's broadcast: `broadcast{message}` of unique integers and `read{}` ->
    `read_ok{messages}`, after one `topology{topology}` to every node.

    Params: `topology` (one of `TOPOLOGIES`, default `grid` as in Maelstrom: nodes on a square
    grid, each linked to its neighbours up, down, left and right), `read_probability` (default
    0.5, Maelstrom's even mix). Judged by set-full (no acknowledged message lost) over every
    read, and by a final read on every node after healing.
    """

    name = "broadcast"
    reads = frozenset({"read"})

    def __init__(self, *, topology: str = "grid", read_probability: float = 0.5) -> None:
        super().__init__()
        if topology not in TOPOLOGIES:
            raise ValueError(f"unknown topology {topology!r}; use one of {', '.join(TOPOLOGIES)}")
        if (
            isinstance(read_probability, bool)
            or not isinstance(read_probability, int | float)
            or not 0.0 <= read_probability <= 1.0
        ):
            raise ValueError(
                f"read_probability must be a number from 0 to 1, not {read_probability!r}"
            )
        self.topology = topology
        self.read_probability = float(read_probability)

    def setup(self, node_ids: list[str]) -> list[tuple[str, dict[str, Any]]]:
        graph = make_topology(self.topology, node_ids)
        return [(node, {"type": "topology", "topology": graph}) for node in node_ids]

    def invoke(self, rng: random.Random, process: int) -> tuple[str, Any]:
        if rng.random() < self.read_probability:
            return "read", None
        return "broadcast", next(self._counter)

    def request(self, f: str, value: Any) -> dict[str, Any]:
        if f == "broadcast":
            return {"type": "broadcast", "message": value}
        if f == "read":
            return {"type": "read"}
        raise ValueError(f"broadcast has no operation {f!r}; it has broadcast and read")

    def result(self, f: str, value: Any, reply: dict[str, Any]) -> Any:
        if f == "read":
            messages = _field(reply, "messages")
            if not isinstance(messages, list):
                raise TypeError(f"messages is {type(messages).__name__}, not a list")
            return messages
        return value

    def final_ops(self, node_ids: list[str]) -> list[tuple[str, str, Any]]:
        return [(node, "read", None) for node in node_ids]

    def check(self, history: list[Op], *, node_ids: list[str]) -> dict[str, Any]:
        return compose(
            {
                "set-full": set_full(history, add_f="broadcast", read_f="read"),
                "final-reads": basic.final_reads(history, node_ids=node_ids, f="read"),
                **self.common_checks(history),
            }
        )


def make_topology(kind: str, node_ids: list[str]) -> dict[str, list[str]]:
    """Node -> neighbours, symmetric. `grid`: a square grid row by row (Maelstrom's default);
    `line`, `ring`; `treeK`: a K-ary tree in node order; `total`: everyone."""
    n = len(node_ids)
    links: dict[int, set[int]] = {i: set() for i in range(n)}

    def link(a: int, b: int) -> None:
        if a != b:
            links[a].add(b)
            links[b].add(a)

    if kind == "grid":
        width = max(1, math.ceil(math.sqrt(n)))
        for i in range(n):
            if (i + 1) % width and i + 1 < n:
                link(i, i + 1)
            if i + width < n:
                link(i, i + width)
    elif kind in ("line", "ring"):
        for i in range(n - 1):
            link(i, i + 1)
        if kind == "ring" and n > 2:
            link(n - 1, 0)
    elif kind.startswith("tree"):
        k = int(kind.removeprefix("tree"))
        for i in range(1, n):
            link(i, (i - 1) // k)
    elif kind == "total":
        for i in range(n):
            for j in range(i + 1, n):
                link(i, j)
    else:
        raise ValueError(f"unknown topology {kind!r}; use one of {', '.join(TOPOLOGIES)}")
    return {node_ids[i]: [node_ids[j] for j in sorted(links[i])] for i in range(n)}


_FACTORIES: dict[str, Callable[..., Workload]] = {
    "echo": Echo,
    "unique-ids": UniqueIds,
    "broadcast": Broadcast,
}
WORKLOADS: tuple[str, ...] = tuple(_FACTORIES)


def get_workload(name: str, **params: Any) -> Workload:
    """A fresh workload by name. Raises ValueError naming the valid workloads or parameters."""
    factory = _FACTORIES.get(name)
    if factory is None:
        raise ValueError(f"unknown workload {name!r}; use one of {', '.join(WORKLOADS)}")
    try:
        return factory(**params)
    except TypeError:
        import inspect

        accepted = [p for p in inspect.signature(factory).parameters if p != "self"]
        takes = ", ".join(accepted) or "no parameters"
        raise ValueError(
            f"workload {name!r}: unknown parameter(s) {', '.join(sorted(params))}; it takes {takes}"
        ) from None
