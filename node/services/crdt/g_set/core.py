"""The g-set machine: the generic replica (`node.services.crdt.core.Replica`) over
`node.crdt.GSet`."""

from __future__ import annotations

from node.crdt import GSet
from node.services.crdt.core import Replica


class GSetReplica(Replica):
    KIND = GSet
    WORKLOAD = "g-set"
