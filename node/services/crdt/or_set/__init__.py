"""or-set: the CRDT replica (node/services/crdt) serving our or-set workload.

State: `node.crdt.ORSet`, an add-wins observed-remove set: tags added, tags removed. Messages,
gossip, anti-entropy and storage are the generic replica's: see `node.services.crdt`.

Bugs:
    remove-unobserved   a remove tombstones the element itself, not the adds it observed:
                   it deletes concurrent adds it never saw and every later add of the element,
                   so an element removed and added again is lost from the final reads
                   (partition-heal, whose clients remove and re-add a few elements).
"""

from __future__ import annotations

from node.service import Canary, ServiceSpec
from node.services.crdt.core import REMOVE_UNOBSERVED
from node.services.crdt.or_set.core import ORSetReplica

SERVICE = ServiceSpec(
    name="or-set",
    summary="an add-wins OR-set CRDT replicated by delta gossip with digest anti-entropy",
    machine=ORSetReplica,
    bugs=ORSetReplica.BUGS,
    canaries={REMOVE_UNOBSERVED: Canary("partition-heal", workload="or-set")},
)
