"""The g-counter machine: the generic replica (`node.services.crdt.core.Replica`) over
`node.crdt.GCounter`."""

from __future__ import annotations

from node.crdt import GCounter
from node.services.crdt.core import BUGS, MERGE_BY_SUM, Replica


class GCounterReplica(Replica):
    KIND = GCounter
    WORKLOAD = "g-counter"
    BUGS = {MERGE_BY_SUM: BUGS[MERGE_BY_SUM]}
