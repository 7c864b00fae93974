"""The lww-register machine: the generic replica (`node.services.crdt.core.Replica`) over
`node.crdt.LWWRegister`."""

from __future__ import annotations

from node.crdt import LWWRegister
from node.services.crdt.core import BUGS, LOCAL_CLOCK_LWW, Replica


class LWWRegisterReplica(Replica):
    KIND = LWWRegister
    WORKLOAD = "lww-register"
    BUGS = {LOCAL_CLOCK_LWW: BUGS[LOCAL_CLOCK_LWW]}
