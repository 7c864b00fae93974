"""g-set: the CRDT replica (node/services/crdt) serving Maelstrom's g-set workload.

State: `node.crdt.GSet`, a grow-only set: merge is union. Messages, gossip, anti-entropy and storage
are the generic replica's: see `node.services.crdt`.

Bugs:
    none.
"""

from __future__ import annotations

from node.service import ServiceSpec
from node.services.crdt.g_set.core import GSetReplica

SERVICE = ServiceSpec(
    name="g-set",
    summary="a grow-only set CRDT replicated by delta gossip with digest anti-entropy",
    machine=GSetReplica,
    bugs=GSetReplica.BUGS,
    canaries={},
)
