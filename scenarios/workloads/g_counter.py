"""g-counter: Maelstrom's grow-only counter: pn-counter without decrements.

Messages (PROTOCOL.md; Maelstrom's `maelstrom.workload.g-counter`):
    add{delta}   ->  add_ok            delta: a non-negative integer
    read{}       ->  read_ok{value}    value: the sum of every add the node knows

Maelstrom builds it from its pn-counter workload by dropping the negative deltas, so clients add
0 to 4; everything else (params, final reads, checkers) is `scenarios.workloads.pn_counter`'s.
"""

from __future__ import annotations

from scenarios.workload import MAELSTROM_SETTLE_S, WorkloadSpec
from scenarios.workloads.pn_counter import PnCounter


class GCounter(PnCounter):
    name = "g-counter"
    delta_min, delta_max = 0, 4  # pn-counter's -5..4 without the negatives


WORKLOAD = WorkloadSpec(
    name="g-counter",
    make=GCounter,
    summary="a grow-only counter CRDT",
    operations="`add` (non-negative delta), `read`",
    checked_by="counter: final reads agree and are the acknowledged sum plus some indefinite "
    "adds; every read within what might have happened",
    service="g-counter",
    settle_min_s=MAELSTROM_SETTLE_S,
)
