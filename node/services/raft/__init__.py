"""raft: Maelstrom's lin-kv on Raft (leader election, a replicated log, read index).

Client messages (PROTOCOL.md, Maelstrom's lin-kv workload); keys and values are any JSON:
    read{key}                                  ->  read_ok{value}    error 20 if absent
    write{key, value}                          ->  write_ok
    cas{key, from, to[, create_if_not_exists]} ->  cas_ok            error 20 if absent (unless
                                                                     create_if_not_exists), 22
                                                                     if the value is not `from`
    any of them                                ->  error 11 when no leader is known (definite:
                                                   the request was not and will not be logged)

Between nodes (the Raft paper's RPCs and the thesis's pre-vote; a reply carries the request's
msg_id in in_reply_to):
    pre_vote{term, last_log_index, last_log_term}      ->  pre_vote_ok{term, vote_granted}
        (`term` is the one the node would stand in, its own plus 1; the answer carries it
        back when granted, and the voter's own term when refused)
    request_vote{term, last_log_index, last_log_term}  ->  request_vote_ok{term, vote_granted}
    append_entries{term, prev_log_index, prev_log_term, entries: [[term, command], ...],
                   leader_commit, round}
        ->  append_entries_ok{term, success, round, match_index (success) | hint (failure)}
            (to an append_entries of an older term: {term, success: false, round: 0})
    forward{request: <the client's body without msg_id>, client: [src, msg_id], boot}
        ->  forward_ok{replies: [[msg_id, reply], ...], boot}
            (no in_reply_to: one forward_ok answers every forward of that follower, and
            life, that the leader answered in one step; `msg_id` is each forward's)

How it works (the paper's figure 2; `core.Raft` cites the sections). A follower that hears no
leader for a random `election_timeout_s` (0.3 to 0.6 s, drawn from the seeded rng) first asks
the others whether they would vote for it in the next term (pre-vote, Raft thesis §9.6, as
etcd/raft's PreVote): a node grants a pre-vote when the term asked is not below its own, the
asker's log is at least as up to date as its own, and it has not heard from a leader within
the shortest election timeout (0.3 s; a leader never grants one): "leader stickiness". A
pre-vote changes neither the voter's term nor its vote, so it stores and syncs nothing; a
refusal carries the voter's term, which a pre-candidate behind it adopts. Only with a
majority of pre-votes does the node become a candidate of the next term, vote for itself
and ask the others for votes; a node grants one vote per term, and only to a candidate whose
log is at least as up to date as its own (last term, then last index). So a node cut off by
a partition asks in vain without raising its term, and when the partition heals it follows
the leader instead of deposing it with a higher term. With a majority of votes the candidate
leads: it appends a no-op entry of its term, and sends append_entries every
`heartbeat_interval_s` (0.1 s) to every follower, and in between to a follower only when
there is something new for it (entries, or a read round). A leader that heard from no
majority, itself counted, for the shortest election timeout steps down (check-quorum, thesis
§6.2, as etcd/raft's CheckQuorum): a "check-quorum" timer every 0.3 s counts the followers
that answered an append_entries of its term since the last check (for the first check, the
votes that elected it). A leader cut off in a minority thus stops within 0.3 to 0.6 s and
answers what it held (below); requests that reach it after that hear error 11 at once.

A client request at the leader: a write or cas is appended to the log in memory and persisted
without a sync; a "replicate" timer (`replicate_delay_s`, 2 ms, armed once for all requests
that arrive meanwhile) sends each follower every entry it lacks, in batches of `batch_max`
(100), pipelined: up to `pipeline_max` (4) batches beyond the follower's last acknowledgement,
without waiting; then a "sync" timer, due at once, fsyncs once in a step of its own, so that
the followers write to their disks while the leader writes to its own (Raft thesis §10.2.1).
A batch the window held back goes out on the acknowledgement that opens it, or with the next
replicate tick if one is armed. The leader tracks nextIndex (optimistically moved past what
it sent) and matchIndex per follower; a follower rejects a batch whose previous entry it does
not hold, with a hint (its log's end, or the first index of the conflicting term), and the
leader moves back and resends. An entry is committed when a majority stores it (the leader
counting itself only for entries it synced) and it is of the leader's current term (figure 8:
older entries commit with it, never by counting replicas). Every node applies committed
entries in log order to its map; the leader answers each write or cas when its entry is
applied. A follower relays a request to the leader it knows (`forward`, its own msg_id) and
relays the answer to the client under the client's msg_id; it forgets a relayed request after
`forward_timeout_s` (1 s; at most 1.5 s, counted in timer ticks, not read from the clock),
and answers it at once when it stops following that leader (its election timer fired, a
newer term began, another node leads): error 13 for a write or cas (indefinite: it may have
been logged there and commit), error 11 for a read (a read changes nothing), so that after a
leader dies its clients go on with the next leader instead of waiting out their timeouts.
`boot` names the follower's process life: msg_ids restart at 1 in each life, so an answer to
an earlier life's forward is recognised and dropped, never relayed to another client.
A leader that loses leadership answers its pending writes with error 13 (crash: indefinite,
the entry may still commit) and its pending reads with error 11.

Reads are linearizable by read index (Raft thesis §6.4), never by lease (check-quorum makes a
leader step down, but only a heartbeat round shows it still leads now): the leader notes the
read's index (its commit index, or its no-op's index while that is uncommitted, so it never
answers before an entry of its own term committed), starts a heartbeat round for all reads
waiting (one round per replicate tick, however many reads), and answers when a majority of its
term acknowledged that round and its map has applied the index. A follower echoes a round
only in answer to an append_entries of its own current term, so a late answer to a leader's
earlier leadership (or earlier process life) confirms nothing.

Exactly once: the network may duplicate a `forward` (or a client's request), and the leader
logs both copies; each command carries `client` ([the client's id, its msg_id]) and the map
skips one it already applied from that client (the Raft paper's §8 client sessions, relying
on each client numbering its requests upward with one outstanding, as PROTOCOL.md's do).

Storage (`Boot.durable`, written through `persist`; each step writes only what changed):
    term        the current term                       synced before any message of the step
    vote        the node voted for in `term`, or null   synced before request_vote_ok
                (pre-votes change neither: nothing is stored for them)
    log/<i>     entry i as [term, command]; command null (no-op), {"f": "write", "key", "value",
                "client"} or {"f": "cas", "key", "from", "to", "create", "client"}
    last_index  the log's end: log/<i> above it are leftovers of a truncation, ignored at boot
                (so truncating needs no deletes)
    boot        this process life's number (the last one plus 1), synced at the first init
A follower syncs before acknowledging entries (once for every append_entries the driver found
queued together: `node.driver`'s group commit); a leader syncs once per replicate tick, right
after sending its batches. The commit index and the map are not stored: a restarted node
relearns the commit index from the leader and replays the log.

The machine is `core.Raft` (tunables from `Boot.params`: `election_timeout_s` as [low, high],
`heartbeat_interval_s`, `replicate_delay_s`, `batch_max`, `pipeline_max`,
`forward_timeout_s`); `core.Raft.status()` is what `chaos_status` answers: role, term,
commit_index, leader, last_index. Every change of role, term or known leader, and the state at
init, is logged as `raft_role{role, term, leader}`: the election-safety check reads those (a
node asking for pre-votes is a follower that knows no leader). Asking for pre-votes is logged
as `raft_pre_vote{term}` (the term asked for), a check-quorum step-down as
`raft_check_quorum_lost{term, heard_from}`.
`kv.KvStore` is the replicated map. `core.Raft` is lin-kv's subclass of `core.RaftCore`,
which is generic over the state machine it replicates (node/services/log replicates
Maelstrom's kafka logs with it; core.py's docstring says what a subclass defines).

Bugs:
    stale-read    every node (leader, follower, deposed leader) answers reads at once from
                  the map it applied, without a read-index round: a node cut off by a
                  partition serves old values (partition-heal sees non-linearizable reads).
                  Check-quorum does not shorten that: a leader it deposes still answers.
    no-fsync      nothing is ever fsynced: log entries, acknowledgements, term and vote are
                  written to memory only; a follower acknowledges entries it can lose and a
                  leader counts itself for them. A killed node comes back with what it last
                  synced: nothing. Raft masks one amnesiac node (the others still hold what it
                  acknowledged), so a write is lost only when the nodes holding it lose it
                  together: a kill of all (or most, then elected) nodes at once (kill-restart).
    double-vote   a node grants its vote to every candidate of its current term whatever it
                  voted before (a candidate, even a leader, votes for a rival of its term), and
                  never stores its vote, so a restarted node votes again: two candidates of
                  one term both win (the election-safety check sees two leaders in one term).
                  It takes two candidates of one term, i.e. two nodes whose pre-votes both
                  succeed before either's request_vote reaches the other (a node asking for
                  pre-votes that hears a request_vote of the next term votes instead of
                  standing): rare on a fast network, common on a slow one (leader-kill's 20 to
                  150 ms links).
    no-log-check  votes and pre-votes are granted without the election restriction
                  (§5.4.1), and a node stands as a candidate as soon as its election timer
                  fires, without asking for pre-votes (a Raft without §9.6): a candidate
                  whose log lacks committed entries (one cut off by a partition, whose term
                  ran ahead meanwhile) can win, and its append_entries then truncate those
                  entries from the others' logs: acknowledged writes vanish and reads go back
                  in time (isolate-node: the isolated node returns with the higher term).
                  Why without pre-vote too: with it, a cut-off node returns with no higher
                  term and the leader it then hears repairs its log before any election, so
                  a stale node never stands while no leader is alive, in any shipped
                  scenario; the missing check would be there but never seen.
                  (Figure 8's other rule, committing only entries of the current
                  term, is kept: with the no-op entry and whole batches its violation almost
                  never shows, so it would make a canary no run can catch.)

Limits: no log compaction or snapshots (the log and the store grow for the life of the data
directory; a restarted node replays it all); no membership change (the cluster is `node_ids`
from init); no leadership transfer (so no vote may override leader stickiness); no lease
reads: check-quorum would allow them (thesis §6.4.1) but they trust bounded clock drift,
which the clock nemesis breaks on purpose. Real votes do not check leader stickiness as
etcd's do: a candidate exists only after a majority found no live leader. A leader cut off
in a minority takes writes until its check-quorum deposes it (0.3 to 0.6 s), answering them
error 13 then. A forward is relayed once: a node that receives one and is not the leader
answers error 11.
"""

from __future__ import annotations

from node.service import Canary, ServiceSpec
from node.services.raft.core import BUGS, DOUBLE_VOTE, NO_FSYNC, NO_LOG_CHECK, STALE_READ, Raft

SERVICE = ServiceSpec(
    name="raft",
    summary="lin-kv on Raft: elections, a pipelined replicated log, read-index reads",
    machine=Raft,
    bugs=BUGS,
    needs_storage=True,
    canaries={
        STALE_READ: Canary("partition-heal", workload="lin-kv"),
        NO_FSYNC: Canary("kill-restart", workload="lin-kv"),
        DOUBLE_VOTE: Canary("leader-kill", workload="lin-kv"),
        NO_LOG_CHECK: Canary("isolate-node", workload="lin-kv"),
    },
)
