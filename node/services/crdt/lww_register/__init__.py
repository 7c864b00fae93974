"""lww-register: the CRDT replica (node/services/crdt) serving our lww-register workload.

State: `node.crdt.LWWRegister`, a last-writer-wins register stamped by a hybrid logical clock.
Messages, gossip, anti-entropy and storage are the generic replica's: see `node.services.crdt`.

Bugs:
    local-clock-lww   a write is stamped by the node's own clock alone, replacing what is
                   held, and merges break no ties: a node whose clock lags what it has shown
                   stamps backwards (clock-skew: a bump, a drift and a strobe).
"""

from __future__ import annotations

from node.service import Canary, ServiceSpec
from node.services.crdt.core import LOCAL_CLOCK_LWW
from node.services.crdt.lww_register.core import LWWRegisterReplica

SERVICE = ServiceSpec(
    name="lww-register",
    summary="an LWW register CRDT (hybrid logical clock stamps) replicated by delta gossip with "
    "digest anti-entropy",
    machine=LWWRegisterReplica,
    bugs=LWWRegisterReplica.BUGS,
    canaries={LOCAL_CLOCK_LWW: Canary("clock-skew", workload="lww-register")},
)
