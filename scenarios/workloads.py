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
(set-full, final reads on every node), `lin-kv` (linearizability per key, see `LinKv` for the
encoding and for how a read of an absent key is judged). Every workload's check also includes
`availability` and `replies`. A workload object keeps a counter so that values are unique
within a run (lin-kv's are not: few small values, as Maelstrom's); make one per run with
`get_workload(name, **params)`.

Not yet: the CRDT, quorum-kv, causal-kv, log, lock and txn workloads of DESIGN.md.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import random
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import checker.basic as basic
import checker.linearizability as linearizability
from checker.history import Op
from checker.models import Model
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


class _Absent:
    """The state of a lin-kv key that holds no value, as the checker sees it (see `LinKv`).

    An object no reply can contain (replies are JSON), so a node that returns some value of
    its own cannot pass it off as the absence of one. It shows as `absent` in explanations."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "absent"

    __str__ = __repr__


ABSENT: Any = _Absent()
KEY_DOES_NOT_EXIST = 20


class LinKv(_Base):
    """Maelstrom's lin-kv: `read{key}`, `write{key,value}`, `cas{key,from,to}` over a few keys.

    Params: `keys` (default 3: few keys make clients collide, so stale reads are seen; each key
    is checked on its own), `values` (default 5: values are drawn from 0..values-1, Maelstrom's
    small range), `check_time_limit_s` (default 30: the search's wall-time budget; when it runs
    out the verdict is unknown, exit 3). Operations are an even mix of reads, writes and cas.

    History values are Jepsen's independent tuples, as `checker.linearizability` documents:
    invocations `[key, null]` (read), `[key, v]` (write), `[key, [from, to]]` (cas); an ok read
    completes `[key, v]`. Error mapping (PROTOCOL.md, as Maelstrom's client does it): a
    definite error is `fail` (cas with error 22 precondition-failed or 20 key-does-not-exist:
    nothing was written); a timeout or indefinite error on a write or cas is `info`; any error
    or timeout on a read is `fail`.

    A read answered with error 20 is recorded as `fail` with `error.code` 20, but it is not an
    observation of nothing: the node saw the key absent at some instant inside the read. The
    check keeps that: `lin_kv_linearizability` starts every key at `ABSENT` and turns such a
    read into an ok read of `ABSENT`, so "write 1 acknowledged, then a read says the key does
    not exist" is invalid. (Knossos, and our checker's knossos semantics for plain `kv`
    histories, drop failed reads and reads of nil: sound, but blind to a node that forgets a
    key, e.g. one that loses its data on restart.) This is sound because no lin-kv operation
    deletes a key: once written, a key is never absent again. A `read_ok` whose value is null
    still constrains nothing. `chaos check RUN_DIR` judges a lin-kv run directory the same way.
    """

    name = "lin-kv"
    reads = frozenset({"read"})

    def __init__(self, *, keys: int = 3, values: int = 5, check_time_limit_s: float = 30.0) -> None:
        super().__init__()
        for label, n in (("keys", keys), ("values", values)):
            if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 1000:
                raise ValueError(f"{label} must be an integer from 1 to 1000, not {n!r}")
        if (
            isinstance(check_time_limit_s, bool)
            or not isinstance(check_time_limit_s, int | float)
            or not check_time_limit_s > 0
        ):
            raise ValueError(
                "check_time_limit_s must be a number of seconds above 0, not "
                f"{check_time_limit_s!r}"
            )
        self.keys = keys
        self.values = values
        self.check_time_limit_s = float(check_time_limit_s)

    def invoke(self, rng: random.Random, process: int) -> tuple[str, Any]:
        key = rng.randrange(self.keys)
        f = rng.choice(("read", "write", "cas"))
        if f == "read":
            return "read", [key, None]
        if f == "write":
            return "write", [key, rng.randrange(self.values)]
        return "cas", [key, [rng.randrange(self.values), rng.randrange(self.values)]]

    def request(self, f: str, value: Any) -> dict[str, Any]:
        key, arg = value
        if f == "read":
            return {"type": "read", "key": key}
        if f == "write":
            return {"type": "write", "key": key, "value": arg}
        if f == "cas":
            return {"type": "cas", "key": key, "from": arg[0], "to": arg[1]}
        raise ValueError(f"lin-kv has no operation {f!r}; it has read, write and cas")

    def result(self, f: str, value: Any, reply: dict[str, Any]) -> Any:
        if f == "read":
            return [value[0], _field(reply, "value")]
        return value

    def check(self, history: list[Op], *, node_ids: list[str]) -> dict[str, Any]:
        return compose(
            {
                "linearizability": lin_kv_linearizability(
                    history, time_limit_s=self.check_time_limit_s
                ),
                **self.common_checks(history),
            }
        )


def lin_kv_linearizability(
    history: Sequence[Op], *, time_limit_s: float | None = 30.0
) -> dict[str, Any]:
    """`checker.linearizability.check` of a lin-kv history against the kv model, keys absent at
    start, with reads that got error 20 kept as observations of absence (see `LinKv`)."""
    ops = [_absent_read(op) for op in history]
    return linearizability.check(ops, Model("kv", ABSENT), time_limit_s=time_limit_s)


def _absent_read(op: Op) -> Op:
    error = op.error
    if (
        op.type == "fail"
        and op.f == "read"
        and isinstance(error, dict)
        and error.get("code") == KEY_DOES_NOT_EXIST
        and isinstance(op.value, list | tuple)
        and len(op.value) == 2
    ):
        return dataclasses.replace(op, type="ok", value=[op.value[0], ABSENT], error=None)
    return op


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
    "lin-kv": LinKv,
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
