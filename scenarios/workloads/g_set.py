"""g-set: Maelstrom's grow-only set workload, judged by set-full.

Messages (PROTOCOL.md; Maelstrom's `maelstrom.workload.g-set`):
    add{element}   ->  add_ok               element: any JSON value (ours: unique integers)
    read{}         ->  read_ok{value: [...]}  every element the node holds

As in Maelstrom, clients add the integers 0, 1, 2, ... (each once) and read, an even mix by
default; after the healed recovery phase every node gets a final read. A read of distinct
integers is recorded as ranges (`checker.intset`), as broadcast's are, so that a long run's
history grows linearly; any other read as the list the node sent.

Params: `read_probability` (default 0.5, Maelstrom's even mix).

Checkers: `set-full` (checker.setfull, as Maelstrom judges g-set: an acknowledged element
missing from a read after it was known is lost, and any final read lacking a known element is
a loss; late arrival is stale, reported with its latency) and `final-reads` (every node answered
a final read once healed).
"""

from __future__ import annotations

import random
from typing import Any

from checker.final_reads import final_reads
from checker.history import Op
from checker.intset import IntRanges
from checker.result import compose
from checker.setfull import set_full
from scenarios.workload import MAELSTROM_SETTLE_S, BaseWorkload, WorkloadSpec, reply_field


def probability(name: str, value: Any) -> float:
    """`value` as a probability, or a ValueError naming the parameter."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a number from 0 to 1, not {value!r}")
    return float(value)


def read_list(reply: dict[str, Any]) -> list[Any]:
    """A `read_ok`'s `value`, which must be a list."""
    value = reply_field(reply, "value")
    if not isinstance(value, list):
        raise TypeError(f"value is {type(value).__name__}, not a list")
    return value


class GSet(BaseWorkload):
    name = "g-set"
    reads = frozenset({"read"})

    def __init__(self, *, read_probability: float = 0.5) -> None:
        super().__init__()
        self.read_probability = probability("read_probability", read_probability)

    def invoke(self, rng: random.Random, process: int) -> tuple[str, Any]:
        if rng.random() < self.read_probability:
            return "read", None
        return "add", next(self._counter)

    def request(self, f: str, value: Any) -> dict[str, Any]:
        if f == "add":
            return {"type": "add", "element": value}
        if f == "read":
            return {"type": "read"}
        raise ValueError(f"g-set has no operation {f!r}; it has add and read")

    def result(self, f: str, value: Any, reply: dict[str, Any]) -> Any:
        if f == "read":
            elements = read_list(reply)
            ranges = IntRanges.encode(elements)  # as broadcast records its reads
            return elements if ranges is None else ranges
        return value

    def final_ops(self, node_ids: list[str]) -> list[tuple[str, str, Any]]:
        return [(node, "read", None) for node in node_ids]

    def check(self, history: list[Op], *, node_ids: list[str]) -> dict[str, Any]:
        return compose(
            {
                "set-full": set_full(history, add_f="add", read_f="read"),
                "final-reads": final_reads(history, node_ids=node_ids, f="read"),
                **self.common_checks(history),
            }
        )


WORKLOAD = WorkloadSpec(
    name="g-set",
    make=GSet,
    summary="a grow-only set CRDT: every acknowledged element reaches every node",
    operations="`add`, `read`",
    checked_by="set-full: every acknowledged element in every final read; stale reads reported",
    service="g-set",
    settle_min_s=MAELSTROM_SETTLE_S,
)
