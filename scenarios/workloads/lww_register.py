"""lww-register: a last-writer-wins register, our own CRDT workload (Maelstrom has none).

Messages (our addition, in PROTOCOL.md's style; docs/mechanisms.md, "CRDT workloads"):
    write{value}   ->  write_ok{ts}           ts: the stamp the serving node gave the write
    read{}         ->  read_ok{value, ts}     the value held and its write's stamp;
                                              {value: null, ts: null} before any write

A stamp `ts` is a JSON number or an array of numbers, compared lexicographically; its first
number is the writer's wall clock in milliseconds (our service sends a hybrid logical clock's
`[wall_ms, counter]`). The register keeps the write with the greatest `(ts, node)`, the node
being the id of the node that served the write, compared as plain strings. A node must never
stamp a write at or below a stamp it has already reported (a hybrid logical clock over what it
holds guarantees it). Any error code from PROTOCOL.md may answer; a malformed request is error
12.

Clients write unique integers (0, 1, 2, ...), so a value read names its write, and read, an
even mix by default (`read_probability`). After the healed recovery phase every node gets a
final read. History values: a write's value on invocation and `[value, ts]` on `ok`; an ok
read's `[value, ts]`.

Checkers: `lww-register` (checker.lww: the final reads agree and hold the acknowledged write
with the greatest `(ts, node)`, or an indefinite one greater still; reads report their write's
stamp; no node stamps backwards; writes lost to clock skew are reported with the skew) and
`final-reads` (every node answered a final read once healed). `monotonic` (default true) can
turn off the backward-stamp rule for a register stamped by plain physical clocks.
"""

from __future__ import annotations

import random
from typing import Any

from checker.final_reads import final_reads
from checker.history import Op
from checker.lww import lww
from checker.result import compose
from scenarios.workload import MAELSTROM_SETTLE_S, BaseWorkload, WorkloadSpec, reply_field
from scenarios.workloads.g_set import probability


def _stamp(ts: Any, *, nullable: bool) -> Any:
    """A reply's `ts`: a number or a non-empty array of numbers (or null, when allowed)."""
    if ts is None and nullable:
        return None
    if isinstance(ts, int | float) and not isinstance(ts, bool):
        return ts
    if (isinstance(ts, list) and ts
            and all(isinstance(x, int | float) and not isinstance(x, bool) for x in ts)):
        return ts
    raise TypeError(f"ts is {ts!r}, not a number or an array of numbers")


class LwwRegister(BaseWorkload):
    name = "lww-register"
    reads = frozenset({"read"})

    def __init__(self, *, read_probability: float = 0.5, monotonic: bool = True) -> None:
        super().__init__()
        self.read_probability = probability("read_probability", read_probability)
        if not isinstance(monotonic, bool):
            raise ValueError(f"monotonic must be true or false, not {monotonic!r}")
        self.monotonic = monotonic

    def invoke(self, rng: random.Random, process: int) -> tuple[str, Any]:
        if rng.random() < self.read_probability:
            return "read", None
        return "write", next(self._counter)

    def request(self, f: str, value: Any) -> dict[str, Any]:
        if f == "write":
            return {"type": "write", "value": value}
        if f == "read":
            return {"type": "read"}
        raise ValueError(f"lww-register has no operation {f!r}; it has write and read")

    def result(self, f: str, value: Any, reply: dict[str, Any]) -> Any:
        if f == "write":
            return [value, _stamp(reply_field(reply, "ts"), nullable=False)]
        held = reply_field(reply, "value")
        ts = _stamp(reply_field(reply, "ts"), nullable=True)
        if (held is None) != (ts is None):
            raise ValueError(f"value {held!r} with ts {ts!r}: both are null, or neither")
        return [held, ts]

    def final_ops(self, node_ids: list[str]) -> list[tuple[str, str, Any]]:
        return [(node, "read", None) for node in node_ids]

    def check(self, history: list[Op], *, node_ids: list[str]) -> dict[str, Any]:
        return compose(
            {
                "lww-register": lww(history, write_f="write", read_f="read",
                                    monotonic=self.monotonic),
                "final-reads": final_reads(history, node_ids=node_ids, f="read"),
                **self.common_checks(history),
            }
        )


WORKLOAD = WorkloadSpec(
    name="lww-register",
    make=LwwRegister,
    summary="a last-writer-wins register CRDT with hybrid logical timestamps",
    operations="`write` (unique values), `read`",
    checked_by="lww-register: final reads agree on the acknowledged write with the greatest "
    "(ts, node); no backward stamps; writes lost to clock skew reported",
    service="lww-register",
    settle_min_s=MAELSTROM_SETTLE_S,
)
