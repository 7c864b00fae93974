"""broadcast: Maelstrom's gossip workload, judged by set-full.

Messages (PROTOCOL.md): one `topology{topology}` to every node first (from the admin client),
then `broadcast{message}` of unique integers -> `broadcast_ok`, and `read{}` ->
`read_ok{messages}`. After the healed recovery phase every node gets a final read. A read of
distinct integers is recorded as ranges (`checker.intset`: `"value_encoding": "int-ranges"`),
so that a long run's history grows linearly; any other read as the list the node sent.

Params: `topology` (one of `TOPOLOGIES`, default `grid` as in Maelstrom: nodes on a square grid,
each linked to its neighbours up, down, left and right), `read_probability` (default 0.5,
Maelstrom's even mix).

Checkers: `set-full` (checker.setfull: an acknowledged message missing from a read after it was
seen is lost; late arrival is stale, reported with its latency) over every read, and
`final-reads` (every node answered a final read once healed).
"""

from __future__ import annotations

import math
import random
from typing import Any

from checker.final_reads import final_reads
from checker.history import Op
from checker.intset import IntRanges
from checker.result import compose
from checker.setfull import set_full
from scenarios.workload import MAELSTROM_SETTLE_S, BaseWorkload, WorkloadSpec, reply_field

TOPOLOGIES = ("grid", "line", "ring", "tree2", "tree3", "tree4", "total")


class Broadcast(BaseWorkload):
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
            messages = reply_field(reply, "messages")
            if not isinstance(messages, list):
                raise TypeError(f"messages is {type(messages).__name__}, not a list")
            # Recorded as ranges when that loses nothing (checker.intset): the history then
            # grows linearly with the run instead of quadratically.
            ranges = IntRanges.encode(messages)
            return messages if ranges is None else ranges
        return value

    def final_ops(self, node_ids: list[str]) -> list[tuple[str, str, Any]]:
        return [(node, "read", None) for node in node_ids]

    def check(self, history: list[Op], *, node_ids: list[str]) -> dict[str, Any]:
        return compose(
            {
                "set-full": set_full(history, add_f="broadcast", read_f="read"),
                "final-reads": final_reads(history, node_ids=node_ids, f="read"),
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


WORKLOAD = WorkloadSpec(
    name="broadcast",
    make=Broadcast,
    summary="gossip: every acknowledged message reaches every node",
    operations="`broadcast`, `read` (`topology` first)",
    checked_by="set-full: every acknowledged message in every final read; stale reads and "
    "stable latency reported",
    service="broadcast",
    settle_min_s=MAELSTROM_SETTLE_S,
)
