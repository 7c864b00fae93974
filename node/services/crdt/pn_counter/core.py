"""The pn-counter machine: the generic replica (`node.services.crdt.core.Replica`) over
`node.crdt.PNCounter`."""

from __future__ import annotations

from node.crdt import PNCounter
from node.services.crdt.core import BUGS, MERGE_BY_SUM, Replica


class PNCounterReplica(Replica):
    KIND = PNCounter
    WORKLOAD = "pn-counter"
    BUGS = {MERGE_BY_SUM: BUGS[MERGE_BY_SUM]}
