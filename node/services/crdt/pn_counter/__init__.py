"""pn-counter: the CRDT replica (node/services/crdt) serving Maelstrom's pn-counter workload.

State: `node.crdt.PNCounter`, a counter with decrements: two grow-only counters, increments and
decrements. Messages, gossip, anti-entropy and storage are the generic replica's: see
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
from node.services.crdt.pn_counter.core import PNCounterReplica

SERVICE = ServiceSpec(
    name="pn-counter",
    summary="a PN-counter CRDT replicated by delta gossip with digest anti-entropy",
    machine=PNCounterReplica,
    bugs=PNCounterReplica.BUGS,
    canaries={MERGE_BY_SUM: Canary("flaky-network", workload="pn-counter")},
)
