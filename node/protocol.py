"""PROTOCOL.md's error codes, in one place: their names and which are definite.

    from node.protocol import DEFINITE_CODES, ERROR_NAMES, TEMPORARILY_UNAVAILABLE

A definite error means the operation certainly did not take effect; the client records it as
`fail`. An indefinite one (timeout, crash, a node's own codes from 1000 up, any code we do not
know) may have taken effect: `info`. Nodes raise these codes; workloads map replies with them.
This module imports nothing, so the node, the workloads and the simulator can all share it.
"""

from __future__ import annotations

TIMEOUT = 0
NODE_NOT_FOUND = 1
NOT_SUPPORTED = 10
TEMPORARILY_UNAVAILABLE = 11
MALFORMED_REQUEST = 12
CRASH = 13
ABORT = 14
KEY_DOES_NOT_EXIST = 20
KEY_ALREADY_EXISTS = 21
PRECONDITION_FAILED = 22
TXN_CONFLICT = 30

ERROR_NAMES: dict[int, str] = {
    TIMEOUT: "timeout",
    NODE_NOT_FOUND: "node-not-found",
    NOT_SUPPORTED: "not-supported",
    TEMPORARILY_UNAVAILABLE: "temporarily-unavailable",
    MALFORMED_REQUEST: "malformed-request",
    CRASH: "crash",
    ABORT: "abort",
    KEY_DOES_NOT_EXIST: "key-does-not-exist",
    KEY_ALREADY_EXISTS: "key-already-exists",
    PRECONDITION_FAILED: "precondition-failed",
    TXN_CONFLICT: "txn-conflict",
}
DEFINITE_CODES = frozenset(
    {NODE_NOT_FOUND, NOT_SUPPORTED, TEMPORARILY_UNAVAILABLE, MALFORMED_REQUEST, ABORT,
     KEY_DOES_NOT_EXIST, KEY_ALREADY_EXISTS, PRECONDITION_FAILED, TXN_CONFLICT}
)


def is_definite(code: object) -> bool:
    """Whether an error code means the operation certainly did not happen."""
    return isinstance(code, int) and not isinstance(code, bool) and code in DEFINITE_CODES
