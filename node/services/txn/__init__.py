"""txn: Maelstrom's transactional workloads on keys sharded over the nodes, by two-phase commit.

Client messages (PROTOCOL.md, Maelstrom's txn-list-append and txn-rw-register workloads):
    txn{txn: [[f, k, v], ...]}  ->  txn_ok{txn}   the same micro-operations, in order, each
                                                  read's value filled in
                                ->  error 30      txn-conflict: aborted, certainly (definite)
                                ->  error 12      a malformed transaction
Micro-operations: `["r", k, null]` (read: a list, or any value, or null if never written),
`["append", k, v]` (append v to the list at k, created empty), `["w", k, v]` (write v).
Keys are JSON scalars. One service serves both workloads: it applies what it is asked.

Between nodes (each names the transaction by `txid`, `<coordinator>/<boot>/<n>`):
    txn_prepare{txid, mops}      ->  txn_prepare_ok{txid, vote: true, reads} | {vote: false, why}
    txn_decide{txid, outcome}        commit or abort; not answered
    txn_status{txid}             ->  txn_status_ok{txid, outcome}   commit, abort or pending

How it works. Each key belongs to one node's shard (`core.owner`: a hash of the key over
the cluster's nodes). No replication: a shard is as available as its node, and a transaction
touching a shard cut off by a partition aborts (error 30) or times out. The node a client
asks coordinates: it sends each shard its part (`txn_prepare`); each participant takes strict
two-phase locks on its keys (shared for reads, exclusive for writes, no waiting: a conflict
votes no), performs its reads, syncs a prepared record and votes. All yes: the coordinator
syncs its commit decision, then tells the participants and the client. Any no, or a vote not
in by `vote_timeout_s`: abort, error 30. A participant in doubt asks the coordinator, which
presumes abort for what it never decided (`core`'s docstring gives the steps and why presumed
abort is safe; `shard`'s the locks and the storage layout). Since every transaction holds its
locks from its prepare to its outcome at every participant, and is answered only once all are
held, histories are strict serializable.

The machine is `core.Txn` (tunables from `Boot.params`: `sweep_interval_s`,
`vote_timeout_s`, `resolve_after_s`, `resolve_interval_s`, `decision_flush_s`); `shard.Shard`
is a participant's data, locks and prepared transactions.

Bugs:
    early-unlock        locks released as the prepare ends, not at commit or abort: concurrent
                        transactions read and write the keys of one that is prepared but not
                        applied (lost updates, G-single, G2-item); partition-heal catches it.
    read-uncommitted    reads ignore exclusive locks and return what a prepared transaction
                        will write, though it may still abort (G1a aborted reads: a partition
                        makes votes time out, so prepared transactions abort); partition-heal.
    volatile-decision   commit decisions are acted on (participants told, client answered)
                        but written only in batches, a second after the oldest: every node
                        killed at once forgets some, and participants that had not heard
                        them presume abort while others committed (a split outcome);
                        kill-restart.

Limits: no replication (a node down takes its shard down with it); no waiting for locks, so
hot keys abort often under load (clients see error 30 and go on); decisions and finished
prepares are kept for the life of the data directory (no garbage collection of the
`decision/` and `prep/` keys); no `chaos_status` leader (pause-resume's `leader` step finds
none and is recorded as a failed nemesis operation).
"""

from __future__ import annotations

from node.service import Canary, ServiceSpec
from node.services.txn.core import BUGS, VOLATILE_DECISION, Txn
from node.services.txn.shard import EARLY_UNLOCK, READ_UNCOMMITTED

SERVICE = ServiceSpec(
    name="txn",
    summary="transactions over sharded keys by two-phase commit with strict two-phase locks",
    machine=Txn,
    bugs=BUGS,
    needs_storage=True,
    canaries={
        EARLY_UNLOCK: Canary("partition-heal", workload="txn-list-append"),
        READ_UNCOMMITTED: Canary("partition-heal", workload="txn-list-append"),
        VOLATILE_DECISION: Canary("kill-restart", workload="txn-list-append"),
    },
)
