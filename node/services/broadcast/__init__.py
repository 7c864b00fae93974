"""broadcast: gossip dissemination with acknowledged retries and anti-entropy.

Client messages (PROTOCOL.md, Maelstrom's broadcast workload):
    topology{topology: {node: [neighbours]}}  ->  topology_ok
    broadcast{message}                        ->  broadcast_ok   (after the message is fsynced)
    read{}                                    ->  read_ok{messages: [...]}   every message known

Between nodes:
    gossip{messages: [...]}        ->  gossip_ok{messages: [...]}   (acknowledges exactly those)
    gossip_sync{messages: [...]}   ->  gossip_sync_ok{messages: [...]}   (what the sender lacks)

How it works. A node gossips along the topology (`topology[node_id]`; every other node when no
topology arrived or it does not name us). A new message, from a client or a neighbour, is pushed
at once to every neighbour except the one it came from, and each neighbour then *owes* an
acknowledgement for it. Every `retry_interval_s` (0.2 s) the node resends to each neighbour what
it still owes (in batches of `batch_max`, 1000) until a `gossip_ok` settles it; a partition only
delays delivery. Retries cannot help a node that lost what it knew (killed before its state was
gossiped, or one that never was a neighbour's neighbour under a changed topology), so every
`anti_entropy_interval_s` (1 s) the node also does a push-pull with one random neighbour: it
sends its whole set, the neighbour merges it and answers with what the sender lacks. Together:
after any partition heals, every acknowledged message reaches every node. Client-acknowledged
messages are persisted and fsynced before `broadcast_ok` and reloaded on restart; messages
learnt from gossip are persisted without a sync.

The machine is `core.Broadcast` (tunables from `Boot.params`: `retry_interval_s`,
`anti_entropy_interval_s`, `batch_max`); `core.GossipState` is its pure bookkeeping.

Bugs:
    no-retry   each new message is sent once to each neighbour; no retries, no anti-entropy.
               Messages gossiped while a link is partitioned never reach the far side: the
               set-full checker reports them lost.

Limits: anti-entropy sends the whole set (fine for the thousands of messages of a test run; a
digest exchange would be the next step); messages are JSON scalars (int, float, string).
"""

from __future__ import annotations

from node.service import Canary, ServiceSpec
from node.services.broadcast.core import BUGS, NO_RETRY, Broadcast

SERVICE = ServiceSpec(
    name="broadcast",
    summary="gossip dissemination with acknowledged retries and anti-entropy",
    machine=Broadcast,
    bugs=BUGS,
    canaries={NO_RETRY: Canary("partition-heal")},
)
