"""txn-rw-register: Maelstrom's transactional read-write register workload, judged as Elle does.

Messages (PROTOCOL.md, Maelstrom's maelstrom.workload.txn-rw-register):
    txn{txn: [["r", k, null], ["w", k, v], ...]}
        ->  txn_ok{txn: [["r", k, v], ["w", k, v], ...]}   a read of a key never written: null
        ->  error 30 (txn-conflict: aborted, definite: `fail`), other errors as PROTOCOL.md's

The generator is Elle's (elle.rw-register/gen), the same key pool as txn-list-append's (see
`scenarios.workloads.txn_list_append`): `keys` active keys (3), 1 to 4 micro-operations per
transaction, reads and writes at even odds, written values counting up from 1 per key (unique
per key, which is what lets the checker tell who wrote what a read saw), a key retired after
`max_writes_per_key` (16) writes and replaced by a fresh one. After the healed recovery phase
each node is asked one final transaction reading every key used (`"final": true`).

Checked by `checker.elle.rw_register` (`rw-register`: sound, not complete; its docstring says
what can be inferred from registers) under `consistency_models` (default
`["strict-serializable"]`), with `availability` and `replies`. Served by the built-in `txn`
service.
"""

from __future__ import annotations

from typing import Any

from checker.elle import rw_register
from checker.history import Op
from scenarios.workload import WorkloadSpec
from scenarios.workloads.txn_list_append import TxnWorkload


class TxnRwRegister(TxnWorkload):
    """Maelstrom's txn-rw-register (module docstring). Params as `TxnListAppend`'s."""

    name = "txn-rw-register"
    write_f = "w"

    def check_txns(self, history: list[Op]) -> dict[str, dict[str, Any]]:
        return {rw_register.CHECKER: rw_register.check(
            history, consistency_models=self.consistency_models)}


WORKLOAD = WorkloadSpec(
    name="txn-rw-register",
    make=TxnRwRegister,
    summary="transactions of register reads and writes over a few keys",
    operations="`txn` of `r` and `w` micro-operations (Elle's key pool)",
    checked_by="Elle's rw-register: no inferable dependency cycle or anomaly the consistency "
    "model forbids (default strict-serializable)",
    service="txn",
)
