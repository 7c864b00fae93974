"""broadcast: gossip dissemination with acknowledged retries and anti-entropy.

Client messages (PROTOCOL.md, Maelstrom's broadcast workload):
    topology{topology: {node: [neighbours]}}  ->  topology_ok
    broadcast{message}                        ->  broadcast_ok   (after the message is fsynced)
    read{}                                    ->  read_ok{messages: [...]}   every message known

Between nodes:
    gossip{messages: [...]}        ->  gossip_ok{messages: [...]}   (acknowledges exactly those)
    gossip_sync{ranges: [[lo, hi], ...], messages: [...]}
                                   ->  gossip_sync_ok{messages: [...]}   (what the sender lacks)

How it works. A node gossips along the topology (`topology[node_id]`; every other node when no
topology arrived or it does not name us). A new message, from a client or a neighbour, is pushed
at once to every neighbour except the one it came from, and each neighbour then *owes* an
acknowledgement for it. Every `retry_interval_s` (0.2 s) the node resends to each neighbour what
it still owes (in batches of `batch_max`, 1000) until a `gossip_ok` settles it; a partition only
delays delivery. Retries cannot help a node that lost what it knew (killed before its state was
gossiped, or one that never was a neighbour's neighbour under a changed topology), so every
`anti_entropy_interval_s` (1 s) the node also does a push-pull with one random neighbour: it
sends a summary of its set, the neighbour merges it and answers with what the sender lacks.
Together: after any partition heals, every acknowledged message reaches every node.

The summary is the set itself, compressed without loss: every integer in a run of two or more
consecutive ones as an inclusive range `[lo, hi]`, every other value listed in `messages`.
The workloads broadcast consecutive integers, so a node's summary is a handful of ranges (the
holes are messages still in flight) whatever it holds, and the answer is only what is missing.
For other values (strings, floats, scattered integers) it falls back to listing them: the
whole set, as before. The receiver learns at most `RANGE_LEARN_MAX` (100,000) integers from
one summary's ranges, the lowest first: a bound on one step's work, the rest coming with later
rounds. Compatibility: `ranges` is optional and adds to `messages`, so a sender of the earlier
format (its whole set in `messages`) is answered as before; an earlier receiver ignores
`ranges`, merges what is listed and answers with more than needed: correct, not economical.

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

The machine is `core.Broadcast` (tunables from `Boot.params`: `retry_interval_s`,
`anti_entropy_interval_s`, `batch_max`, `log_slots`); `core.GossipState` is its pure
bookkeeping, `core.MessageSet` the set in the shapes reads, summaries and snapshots need, and
`core.MessageLog` the plan of storage writes.

Bugs:
    no-retry   each new message is sent once to each neighbour; no retries, no anti-entropy.
               Messages gossiped while a link is partitioned never reach the far side: the
               set-full checker reports them lost.

Limits: values that are not consecutive integers are summarised by listing them, so for them
anti-entropy still sends the whole set and a compaction rewrites it (every `log_slots` new
batches); a bucketed hash digest would be the next step there. Messages are JSON scalars (int,
float, string); 3 and 3.0 are one message, as in a Python set.
"""

from __future__ import annotations

from node.service import Canary, ServiceSpec
from node.services.broadcast.core import BUGS, NO_RETRY, Broadcast

SERVICE = ServiceSpec(
    name="broadcast",
    summary="gossip dissemination with acknowledged retries and anti-entropy",
    machine=Broadcast,
    bugs=BUGS,
    canaries={NO_RETRY: Canary("partition-heal", workload="broadcast")},
)
