"""log: Maelstrom's kafka workload on a replicated log, agreed through the Raft core.

Client messages (PROTOCOL.md, Maelstrom's kafka workload); keys are strings, messages any JSON:
    send{key, msg}                    ->  send_ok{offset}
    poll{offsets: {key: offset}}      ->  poll_ok{msgs: {key: [[offset, msg], ...]}}
    commit_offsets{offsets: {key: o}} ->  commit_offsets_ok
    list_committed_offsets{keys: [k]} ->  list_committed_offsets_ok{offsets: {key: offset}}
    any of them                       ->  error 11 when no leader is known (definite), error 13
                                          (indefinite) for a send or commit relayed to a leader
                                          that stopped leading before it answered
A poll returns, per key, the messages at or after the offset asked, in offset order, at most
`poll_max` (1000) of them; keys with none there are left out, and so are keys never committed
in list_committed_offsets_ok. Between nodes: the Raft messages of node/services/raft.

Design: one Raft group over all keys. Its state machine (`logs.Logs`) holds each key's log
and the committed offsets; a `send` and a `commit_offsets` are commands in the Raft log,
a `poll` and a `list_committed_offsets` are queries served by read index. Why one group: it
is the simplest design that is sound, and it needs nothing the core does not already do:
    - a send is acknowledged only when its entry is committed, i.e. stored and fsynced by a
      majority of the current term (the leader counting itself only for what it synced), and
      then applied: `send_ok` comes after the fsync, on a majority of disks;
    - a message's offset is its entry's Raft index: unique, growing in commit order, known
      from the entry alone, identical on every node (sparse, as Maelstrom allows);
    - committed offsets are replicated the same way, so a restarted or new leader has them,
      and only move forward (committing 3 after 5 leaves 5);
    - polls are linearizable: a poll sees every send acknowledged before it began and never
      an entry that is not committed; so a consumer that polls from the offset after the
      last one it saw never skips a message and never sees one vanish.
The price of one group is that one leader serialises every key: throughput is one Raft
log's (bench/log.py). Sharding keys over several groups (a `group` per key hash, each its
own Raft with its own leader) would spread that load over the nodes; offsets would then be
per-group indexes, still unique per key. Not done yet.

Everything Raft (elections with pre-vote and check-quorum, pipelined replication, the commit
rule, read index, a follower forwarding to the leader and giving up what it relayed when the
leader goes, exactly-once sessions for duplicated requests, storage, `raft_role` logs that the
election-safety check reads, `chaos_status` for the nemesis's leader target, the tunables
in `Boot.params`) is `node.services.raft.core.RaftCore`'s: see the raft package docstring.

Storage is the raft service's (`term`, `vote`, `log/<i>`, `last_index`, `boot`), entries being
`[term, {"f": "send", "key", "msg", "client"}]` and `[term, {"f": "commit", "offsets",
"client"}]`; the logs and the committed offsets are not stored apart: a restarted node replays
the Raft log once it learns the commit index from the leader (`logs.Logs` says how commands
and queries are answered).

Bugs (each caught by its canary below, in simulation and on real processes):
    ack-before-replicate  the leader answers send_ok as soon as it appends the entry, with
                          its index as the offset, before a majority (or its own disk)
                          holds it: Kafka's acks=1. And since nobody waits on replication
                          any more, it ships new entries to the followers lazily, every
                          `ship_interval_s` (0.5 s, as a Kafka follower's fetch waits up to
                          replica.fetch.wait.max.ms); heartbeats in between carry none. A
                          leader killed meanwhile takes the acknowledged messages with it
                          and the next leader gives their offsets to other entries
                          (leader-kill: lost writes, offsets that disagree between a send
                          and a poll).
    local-offsets         the node a send reaches picks the offset itself, one past the
                          highest it knows for the key (applied, or given out by itself),
                          and the message is put at that offset when its entry commits,
                          replacing whatever is there. Nodes that have not yet applied each
                          other's sends (followers lag, a partition's minority lags far)
                          give one offset to two messages: the later overwrites the earlier
                          (partition-heal: acknowledged messages missing from the final
                          polls, offsets that disagree).
    volatile-commits      commit_offsets is answered by the leader from a map in its memory,
                          never logged, and list_committed_offsets reads that map: a new or
                          restarted leader knows no committed offsets, so they go back to
                          nothing (kill-restart, every node killed at once: committed offsets
                          that move backwards).

Limits: those of the raft service (no snapshots or log compaction: every message stays in
the log and the store for the life of the data directory; no membership change; no lease
reads). A consumer group's progress is one committed offset per key, shared by every
client, as in Maelstrom's workload.
"""

from __future__ import annotations

from node.service import Canary, ServiceSpec
from node.services.log.core import ACK_BEFORE_REPLICATE, BUGS, LOCAL_OFFSETS, VOLATILE_COMMITS, Log

SERVICE = ServiceSpec(
    name="log",
    summary="kafka on one Raft group: per-key logs, committed offsets, read-index polls",
    machine=Log,
    bugs=BUGS,
    needs_storage=True,
    canaries={
        ACK_BEFORE_REPLICATE: Canary("leader-kill", workload="kafka"),
        LOCAL_OFFSETS: Canary("partition-heal", workload="kafka"),
        VOLATILE_COMMITS: Canary("kill-restart", workload="kafka"),
    },
)
