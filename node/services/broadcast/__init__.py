"""broadcast: gossip dissemination by batched pushes, repaired by digest anti-entropy.

Client messages (PROTOCOL.md, Maelstrom's broadcast workload):
    topology{topology: {node: [neighbours]}}  ->  topology_ok
    broadcast{message}                        ->  broadcast_ok   (after the message is fsynced)
    read{}                                    ->  read_ok{messages: [...]}   every message known

Between nodes:
    gossip{messages: [...]}        a batch of new messages to merge. Not acknowledged.
    gossip_digest{digest}          anti-entropy's opening: the sender's digest. Answered only
                                   when the sets differ, by the answerer's summary:
    gossip_sync{ranges: [[lo, hi], ...], messages: [...]}
                                   ->  gossip_sync_ok{messages: [...]}   (what the sender
                                   lacks; no answer when it lacks nothing)

How it works. A node gossips along the topology (`topology[node_id]`; every other node when no
topology arrived or it does not name us). A new message, from a client or a neighbour, is
queued for every neighbour except the one it came from, and every `push_interval_s` (0.1 s)
each neighbour with anything queued gets one `gossip` holding all of it (in batches of
`batch_max`, 1000), which is then forgotten. So a link carries at most one push per interval
however many messages arrived, and messages per operation fall as the rate rises: about 8 on
25 nodes at 100 operations/s, where pushing each message at once and acknowledging each push
cost about 43 (bench/crdt.py). Pushes are not acknowledged and never resent: a partition, a
drop or a node that was down loses them. Anti-entropy repairs that: every
`anti_entropy_interval_s` (0.5 s) a node sends one random other node (any node, not only a
neighbour) the digest of its set (a hash of its summary, below). A node whose set agrees stays
silent: one message per round once the cluster has converged. One that differs answers with
its summary; the first merges what the summary holds and it lacks, and answers with exactly
what the other lacks (nothing, and no message, if that is nothing). So after any partition
heals, every pair that exchanges ends equal, and every acknowledged message reaches every node
whatever pushes were lost.

The summary is the set itself, compressed without loss: every integer in a run of two or more
consecutive ones as an inclusive range `[lo, hi]`, every other value listed in `messages`.
The workloads broadcast consecutive integers, so a node's summary is a handful of ranges (the
holes are messages still in flight) whatever it holds, and the answer is only what is missing.
For other values (strings, floats, scattered integers) it falls back to listing them: the
whole set, but only when the digests differ. The receiver learns at most `RANGE_LEARN_MAX`
(100,000) integers from one summary's ranges, the lowest first: a bound on one step's work, the
rest coming with later rounds. Compatibility: a `gossip_sync` without `ranges` (an earlier
version's, its whole set in `messages`) is answered as before.

Storage, in writes proportional to what changed. Client-acknowledged messages are persisted
and fsynced before `broadcast_ok` (even one already learnt from gossip but not yet synced)
and reloaded on restart; messages learnt from gossip are persisted without a sync. Each step's
new messages go to a delta key of their own, `messages/0`, `messages/1`, ... up to
`log_slots` (32); when those are used up the step compacts instead: it writes the whole set as
a summary under `messages` and empties every delta key, synced, so that no delta is dropped
before the snapshot holding it is durable. A restarted node takes the union of `messages`
(a summary, or an earlier version's plain sorted list) and every delta key, and writes its
next delta after the highest one it found. The store thus holds at most `log_slots + 1` keys
of this service, small ones for the workloads' integers (node.storage still rewrites the whole
document on each sync: that cost is the store's).

Reads copy a sorted list kept up to date as messages arrive; nothing is sorted whole per
request.

The machine is `core.Broadcast` (tunables from `Boot.params`: `push_interval_s`,
`anti_entropy_interval_s`, `batch_max`, `log_slots`); `core.GossipState` is its pure
bookkeeping, `core.MessageSet` the set in the shapes reads, summaries and snapshots need, and
`core.MessageLog` the plan of storage writes.

Bugs:
    no-retry   each new message is pushed once to each neighbour and nothing ever repairs a
               lost push: no anti-entropy. Messages pushed while a link is partitioned never
               reach the far side: the set-full checker reports them lost.

Limits: values that are not consecutive integers are summarised by listing them, so for them
an anti-entropy round between sets that differ still lists the whole set and a compaction
rewrites it (every `log_slots` new batches); a bucketed hash digest would be the next step
there. Messages are JSON scalars (int, float, string); 3 and 3.0 are one message, as in a
Python set (two nodes holding it in different types never agree on a digest, and exchange
summaries every round: correct, not economical).
"""

from __future__ import annotations

from node.service import Canary, ServiceSpec
from node.services.broadcast.core import BUGS, NO_RETRY, Broadcast

SERVICE = ServiceSpec(
    name="broadcast",
    summary="gossip dissemination: batched pushes along the topology, digest anti-entropy",
    machine=Broadcast,
    bugs=BUGS,
    canaries={NO_RETRY: Canary("partition-heal", workload="broadcast")},
)
