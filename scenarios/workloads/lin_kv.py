"""lin-kv: Maelstrom's linearizable key-value workload, judged per key by linearizability.

Messages (PROTOCOL.md): `read{key}` -> `read_ok{value}` (error 20 if absent),
`write{key,value}` -> `write_ok`, `cas{key,from,to}` -> `cas_ok` (error 20 or 22).
See `LinKv` for the parameters, the history encoding and how a read of an absent key is judged.
Served by the built-in `raft` service (node/services/raft); `--node-cmd` runs any other.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from typing import Any

from checker import linearizability
from checker.history import Op
from checker.models import make as make_model
from checker.result import compose
from node.protocol import KEY_DOES_NOT_EXIST
from scenarios.workload import BaseWorkload, WorkloadSpec, reply_field


class _Absent:
    """The state of a lin-kv key that holds no value, as the checker sees it (see `LinKv`).

    An object no reply can contain (replies are JSON), so a node that returns some value of
    its own cannot pass it off as the absence of one. It shows as `absent` in explanations."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "absent"

    __str__ = __repr__


ABSENT: Any = _Absent()



class LinKv(BaseWorkload):
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
            return [value[0], reply_field(reply, "value")]
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
    return linearizability.check(ops, make_model("kv", ABSENT), time_limit_s=time_limit_s)


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


WORKLOAD = WorkloadSpec(
    name="lin-kv",
    make=LinKv,
    summary="a linearizable key-value store",
    operations="`read`, `write`, `cas` over a few keys",
    checked_by="linearizability per key (cas-register, absent at start)",
    service="raft",
    model="kv",
)
