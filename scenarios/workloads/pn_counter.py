"""pn-counter: Maelstrom's eventually consistent counter with increments and decrements.

Messages (PROTOCOL.md; Maelstrom's `maelstrom.workload.pn-counter`):
    add{delta}   ->  add_ok            delta: an integer, negative to decrement
    read{}       ->  read_ok{value}    value: the sum of every add the node knows

As in Maelstrom, clients add deltas from -5 to 4 (Maelstrom's `(rand-int 10) - 5`) and read, an
even mix by default; after the healed recovery phase every node gets a final read. History
values: an add's delta; an ok read's integer.

Params: `read_probability` (default 0.5), `strict_reads` (default false: see below).

Checkers: `counter` (checker.counter) and `final-reads` (every node answered a final read once
healed). Maelstrom judges only the final reads: each must be the sum of the acknowledged deltas
plus some subset of the indefinite ones. `checker.counter` does that, demands that the final
reads agree, and also judges every earlier read: by default (`strict_reads=false`, for a CRDT
that answers from its own replica) a read may miss adds its node has not heard of yet, so it
is only held within what might have happened; with `strict_reads=true` every read must also
include each acknowledged add that completed before it began (Jepsen's counter checker: for a
counter that claims linearizable reads, such as one kept in `lin-kv`).

g-counter (`scenarios/workloads/g_counter.py`) is this workload without decrements.
"""

from __future__ import annotations

import random
from typing import Any

from checker.counter import counter
from checker.final_reads import final_reads
from checker.history import Op
from checker.result import compose
from scenarios.workload import MAELSTROM_SETTLE_S, BaseWorkload, WorkloadSpec, reply_field
from scenarios.workloads.g_set import probability


class PnCounter(BaseWorkload):
    name = "pn-counter"
    reads = frozenset({"read"})
    delta_min, delta_max = -5, 4  # Maelstrom's (rand-int 10) - 5

    def __init__(self, *, read_probability: float = 0.5, strict_reads: bool = False) -> None:
        super().__init__()
        self.read_probability = probability("read_probability", read_probability)
        if not isinstance(strict_reads, bool):
            raise ValueError(f"strict_reads must be true or false, not {strict_reads!r}")
        self.strict_reads = strict_reads

    def invoke(self, rng: random.Random, process: int) -> tuple[str, Any]:
        if rng.random() < self.read_probability:
            return "read", None
        return "add", rng.randint(self.delta_min, self.delta_max)

    def request(self, f: str, value: Any) -> dict[str, Any]:
        if f == "add":
            return {"type": "add", "delta": value}
        if f == "read":
            return {"type": "read"}
        raise ValueError(f"{self.name} has no operation {f!r}; it has add and read")

    def result(self, f: str, value: Any, reply: dict[str, Any]) -> Any:
        if f == "read":
            total = reply_field(reply, "value")
            if isinstance(total, bool) or not isinstance(total, int):
                raise TypeError(f"value is {total!r}, not an integer")
            return total
        return value

    def final_ops(self, node_ids: list[str]) -> list[tuple[str, str, Any]]:
        return [(node, "read", None) for node in node_ids]

    def check(self, history: list[Op], *, node_ids: list[str]) -> dict[str, Any]:
        return compose(
            {
                "counter": counter(history, add_f="add", read_f="read",
                                   eventual=not self.strict_reads),
                "final-reads": final_reads(history, node_ids=node_ids, f="read"),
                **self.common_checks(history),
            }
        )


WORKLOAD = WorkloadSpec(
    name="pn-counter",
    make=PnCounter,
    summary="a counter CRDT with increments and decrements",
    operations="`add` (delta of either sign), `read`",
    checked_by="counter: final reads agree and are the acknowledged sum plus some indefinite "
    "adds; every read within what might have happened",
    service="pn-counter",
    settle_min_s=MAELSTROM_SETTLE_S,
)
