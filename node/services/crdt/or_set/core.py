"""The or-set machine: the generic replica (`node.services.crdt.core.Replica`) over
`node.crdt.ORSet`."""

from __future__ import annotations

from node.crdt import ORSet
from node.services.crdt.core import BUGS, REMOVE_UNOBSERVED, Replica


class ORSetReplica(Replica):
    KIND = ORSet
    WORKLOAD = "or-set"
    BUGS = {REMOVE_UNOBSERVED: BUGS[REMOVE_UNOBSERVED]}
