"""g-counter: the CRDT replica (node/services/crdt) serving Maelstrom's g-counter workload.

State: `node.crdt.GCounter`, a grow-only counter: each node's total of its own adds; merge takes the
maximum per node. Messages, gossip, anti-entropy and storage are the generic replica's: see
`node.services.crdt`.

Bugs:
    merge-by-sum   a received state is merged by adding each node's count to the one held
                   instead of taking the maximum, so whatever arrives twice or overlaps what
                   is held (a duplicated message, an anti-entropy exchange) counts twice:
                   final reads exceed every possible sum (flaky-network duplicates).
"""

from __future__ import annotations

from node.service import Canary, ServiceSpec
from node.services.crdt.core import MERGE_BY_SUM
from node.services.crdt.g_counter.core import GCounterReplica

SERVICE = ServiceSpec(
    name="g-counter",
    summary="a grow-only counter CRDT replicated by delta gossip with digest anti-entropy",
    machine=GCounterReplica,
    bugs=GCounterReplica.BUGS,
    canaries={MERGE_BY_SUM: Canary("flaky-network", workload="g-counter")},
)
