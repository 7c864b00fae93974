"""or-set: an observed-remove (add-wins) set, our own CRDT workload (Maelstrom has none).

Messages (our addition, in PROTOCOL.md's style; docs/mechanisms.md, "CRDT workloads"):
    add{element}      ->  add_ok                  element: a JSON integer or string
    remove{element}   ->  remove_ok               removes the adds of it the node has observed
    read{}            ->  read_ok{value: [...]}   the elements with an add not yet removed

Semantics: an element is present while some add of it has not been observed by a remove; a
remove takes away only the adds its node had merged when it ran, so an add concurrent with it
elsewhere survives (add wins). Removing an element the node does not hold is `remove_ok` and
changes nothing. Any error code from PROTOCOL.md may answer; a malformed request is error 12.

Clients draw elements from a few integers (`elements`, default 5) so that adds and removes of
the same element collide, in a mix of reads (`read_probability`, default 0.4), removes
(`remove_probability`, default 0.2) and adds (the rest). After the healed recovery phase every
node gets a final read. History values: the element of an add or remove; an ok read's list.

Checkers: `or-set` (checker.orset: the final reads agree; no acknowledged add is missing from
a final read unless a remove that could have observed it followed; no read holds an element
nothing could have added) and `final-reads` (every node answered a final read once healed).
"""

from __future__ import annotations

import random
from typing import Any

from checker.final_reads import final_reads
from checker.history import Op
from checker.orset import or_set
from checker.result import compose
from scenarios.workload import MAELSTROM_SETTLE_S, BaseWorkload, WorkloadSpec
from scenarios.workloads.g_set import probability, read_list


class OrSet(BaseWorkload):
    name = "or-set"
    reads = frozenset({"read"})

    def __init__(self, *, elements: int = 5, read_probability: float = 0.4,
                 remove_probability: float = 0.2) -> None:
        super().__init__()
        if isinstance(elements, bool) or not isinstance(elements, int) or not 1 <= elements <= 1000:
            raise ValueError(f"elements must be an integer from 1 to 1000, not {elements!r}")
        self.elements = elements
        self.read_probability = probability("read_probability", read_probability)
        self.remove_probability = probability("remove_probability", remove_probability)
        if self.read_probability + self.remove_probability > 1.0:
            raise ValueError(
                "read_probability + remove_probability must be at most 1 (adds get the rest), "
                f"not {self.read_probability + self.remove_probability:g}"
            )

    def invoke(self, rng: random.Random, process: int) -> tuple[str, Any]:
        r = rng.random()
        if r < self.read_probability:
            return "read", None
        element = rng.randrange(self.elements)
        if r < self.read_probability + self.remove_probability:
            return "remove", element
        return "add", element

    def request(self, f: str, value: Any) -> dict[str, Any]:
        if f in ("add", "remove"):
            return {"type": f, "element": value}
        if f == "read":
            return {"type": "read"}
        raise ValueError(f"or-set has no operation {f!r}; it has add, remove and read")

    def result(self, f: str, value: Any, reply: dict[str, Any]) -> Any:
        if f == "read":
            return read_list(reply)
        return value

    def final_ops(self, node_ids: list[str]) -> list[tuple[str, str, Any]]:
        return [(node, "read", None) for node in node_ids]

    def check(self, history: list[Op], *, node_ids: list[str]) -> dict[str, Any]:
        return compose(
            {
                "or-set": or_set(history, add_f="add", remove_f="remove", read_f="read"),
                "final-reads": final_reads(history, node_ids=node_ids, f="read"),
                **self.common_checks(history),
            }
        )


WORKLOAD = WorkloadSpec(
    name="or-set",
    make=OrSet,
    summary="an add-wins observed-remove set CRDT",
    operations="`add`, `remove`, `read` over a few elements",
    checked_by="or-set: final reads agree; no acknowledged add lost unless a remove that could "
    "have observed it followed",
    service="or-set",
    settle_min_s=MAELSTROM_SETTLE_S,
)
