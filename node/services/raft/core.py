"""The Raft machine (see the package docstring for the protocol, storage and bugs).

`RaftCore` is one node of a Raft group, generic over the state machine it replicates; `Raft`
is lin-kv's, replicating `kv.KvStore` (node/services/log replicates Maelstrom's kafka logs with
the same core). Its handlers turn requests, Raft messages and timers into effects. The rules
are the Raft paper's figure 2, each written next to the code that follows it; the numbers in
comments (§5.3) are the paper's sections. The state a machine keeps:

- persistent (`term`, `voted_for`, `entries`): written through `self.persist` before any
  message that depends on it goes out (a vote, an acknowledgement of entries);
- volatile on every node (`commit_index`, `applied_index`, `state`, `role`, `leader_id`,
  `leader_heard_s`: when we last heard from the leader we follow, and `pre_votes` while we
  ask for them);
- volatile on a leader (`next_index`, `match_index`, `acked_round`, `heard_from`: who answered
  since the last check-quorum, `pending`, `reads`, and `relayed`: answers to followers'
  forwards, sent together at the end of the step);
- a follower's `forwards`: client requests it relayed to the leader, awaiting the answer.

Indexes count from 1; `entries[i - 1]` is entry `i`, a `(term, command)` pair, and index 0
is the empty log's "entry" of term 0. Pre-vote and check-quorum are the Raft thesis's (§9.6,
§6.2), as etcd/raft's `PreVote` and `CheckQuorum`, always on.

What a service adds to the core (a subclass, as `Raft` below):
- `make_state()`: the replicated state machine, a `StateMachine`: `apply(command, *, index)`
  takes each committed command once, in log order, on every node, and returns the reply body
  for the request that logged it (None: no reply, e.g. a duplicate); `query(query)` answers a
  read-only request from the state applied so far. Both pure and deterministic: the same log
  gives the same state and the same replies everywhere.
- `parse(body) -> Request`: a client request as a command to log, or a query to serve by read
  index (raises `Malformed`); and an `on_<type> = RaftCore.on_request` for each request type.
- `bugs` (the names `--bug` may plant) and `params` (the tunables `Boot.params` may set).
- hooks a service's planted bugs override: `accept(route, command)` (the leader took a
  command: log it and answer when it is applied), `answer_query(query)` and
  `shippable_index()` (how far the leader may send its log).

    m = Raft(Boot("n1", random.Random(1), durable={"term": 2, "vote": "n1"}))
    m.step(Init(("n1", "n2", "n3")), now_s=0.0)   # a follower of term 2, election timer set
    m.step(Tick("election"), now_s=0.5)           # still term 2: pre_vote (for 3) to n2, n3
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from node.machine import Body, Boot, Effects, Event, Machine, Malformed, Message, field_of
from node.protocol import CRASH, MALFORMED_REQUEST, TEMPORARILY_UNAVAILABLE
from node.services.raft.kv import Command, KvStore, error, request_of

FOLLOWER, CANDIDATE, LEADER = "follower", "candidate", "leader"

STALE_READ = "stale-read"
NO_FSYNC = "no-fsync"
DOUBLE_VOTE = "double-vote"
NO_LOG_CHECK = "no-log-check"
BUGS = {
    STALE_READ: "every node answers reads from its own applied state at once, without "
    "confirming leadership: a deposed leader or a lagging follower returns old values",
    NO_FSYNC: "nothing is fsynced (log entries, acknowledgements, term, vote): entries are "
    "acknowledged before they are durable, and a killed node forgets them",
    DOUBLE_VOTE: "a node grants its vote to every candidate of its current term, whatever it "
    "voted before, and forgets its vote on restart: two leaders in one term",
    NO_LOG_CHECK: "votes and pre-votes are granted without the election restriction (is the "
    "candidate's log at least as up to date?), and nodes stand without asking for pre-votes: "
    "a node that missed committed entries can win and erase them",
}

PARAMS: dict[str, Any] = {
    "election_timeout_s": (0.3, 0.6),  # a follower's patience, drawn uniformly per wait
    "heartbeat_interval_s": 0.1,
    "replicate_delay_s": 0.002,  # how long a leader gathers requests into one fsync and batch
    "batch_max": 100,  # entries per append_entries
    "pipeline_max": 4,  # batches in flight to one follower beyond what it acknowledged
    "forward_timeout_s": 1.0,  # a relayed request or a waiting read is forgotten after this
}
EXPIRE_TICKS = 3  # expire ticks per forward_timeout_s, plus one


class StateMachine(Protocol):
    """What Raft replicates (see the module docstring): pure, deterministic."""

    def apply(self, command: Command, *, index: int) -> Body | None: ...

    def query(self, query: Any) -> Body: ...


S = TypeVar("S", bound=StateMachine)


@dataclass(frozen=True)
class Request:
    """A client request as the state machine sees it: a `command` to log (a dict; the core
    adds `client`), or, when `command` is None, a read-only `query` (any value, even None)
    served by read index."""

    command: dict[str, Any] | None = None
    query: Any = None

    @property
    def is_query(self) -> bool:
        return self.command is None


@dataclass
class Forward:
    """A client request relayed to the leader: answered when `forward_ok` comes back, or when
    we stop following `leader` (`_give_up_forwards`)."""

    request: Message
    expires_tick: int  # forgotten at this expire tick
    leader: str  # the node it was relayed to
    is_query: bool = False  # a query changes nothing: giving up on it is definite


@dataclass
class Read:
    """A query waiting at the leader for a heartbeat round (`round`, 0 until its round
    starts) acknowledged by a majority, and for the state machine to reach `index`."""

    route: Message  # the client's request, or a follower's `forward`
    query: Any
    index: int
    expires_tick: int
    round: int = 0


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _entries_of(msg: Message) -> list[tuple[int, Command]]:
    entries = []
    for entry in field_of(msg, "entries", list):
        if not (isinstance(entry, list) and len(entry) == 2 and type(entry[0]) is int
                and (entry[1] is None or isinstance(entry[1], dict))):
            raise Malformed("entries: each must be [term, command]")
        entries.append((entry[0], entry[1]))
    return entries


class RaftCore(Machine, Generic[S]):
    """One Raft node replicating the state machine `make_state()` builds (module docstring)."""

    bugs: ClassVar[Mapping[str, str]] = BUGS
    params: ClassVar[Mapping[str, Any]] = PARAMS

    def __init__(self, boot: Boot) -> None:
        assert boot.bug is None or boot.bug in self.bugs, boot.bug
        unknown = set(boot.params) - set(self.params)
        assert not unknown, f"unknown raft params {sorted(unknown)}; use {sorted(self.params)}"
        super().__init__(boot)
        params = {**self.params, **boot.params}
        low_s, high_s = params["election_timeout_s"]
        self.election_timeout_s = (float(low_s), float(high_s))
        self.heartbeat_interval_s = float(params["heartbeat_interval_s"])
        self.replicate_delay_s = float(params["replicate_delay_s"])
        self.batch_max = int(params["batch_max"])
        self.pipeline_max = int(params["pipeline_max"])
        self.forward_timeout_s = float(params["forward_timeout_s"])
        assert 0 < low_s <= high_s, self.election_timeout_s
        assert 0 < self.heartbeat_interval_s < low_s, "heartbeats must beat the election timer"
        assert self.batch_max > 0 and self.pipeline_max > 0, (self.batch_max, self.pipeline_max)

        durable = boot.durable
        self.term: int = durable.get("term", 0)
        # The double-vote bug forgets the vote on restart (and never writes it).
        self.voted_for: str | None = None if self.bug == DOUBLE_VOTE else durable.get("vote")
        self.entries: list[tuple[int, Command]] = []
        for i in range(1, durable.get("last_index", 0) + 1):
            term, command = durable[f"log/{i}"]
            assert self.entries == [] or term >= self.entries[-1][0], f"log/{i}: term went down"
            self.entries.append((term, command))
        # This process life's number, stored at init: a forward_ok must name it, so that an
        # answer to an earlier life's forward (msg_ids restart at 1) is never relayed.
        self.boot: int = durable.get("boot", 0) + 1
        self.synced_index = len(self.entries)  # our own entries known durable
        self.has_unsynced = False  # a persist since the last sync

        self.role = FOLLOWER
        self.leader_id: str | None = None
        self.commit_index = 0  # volatile: relearnt from the leader after a restart
        self.applied_index = 0
        self.state: S = self.make_state()
        self.is_started = False
        self.votes: set[str] = set()
        # Pre-votes for `term + 1` while we ask for them (None: not asking), and when we last
        # heard from the leader we follow (the lease in which we refuse pre-votes).
        self.pre_votes: set[str] | None = None
        self.leader_heard_s = 0.0
        # Leader state, reset by each election won.
        self.next_index: dict[str, int] = {}
        self.match_index: dict[str, int] = {}
        self.acked_round: dict[str, int] = {}
        self.backoff_msg_id: dict[str, int] = {}  # rejections of earlier sends are stale
        self.heard_from: set[str] = set()  # followers that answered since the last check
        self.term_start_index = 0  # our no-op's index
        self.pending: dict[int, Message] = {}  # log index -> the request it answers
        self.round = 0
        self.reads_waiting: list[Read] = []  # for the next round
        self.reads: list[Read] = []  # in a round
        self.is_replicate_armed = False
        self.is_sync_armed = False
        self.forwards: dict[int, Forward] = {}  # our forward's msg_id -> the client request
        # Answers to followers' forwards made in this step, sent as one forward_ok per
        # (follower, its boot) at the step's end: (follower, boot) -> [[msg_id, reply], ...]
        self.relayed: dict[tuple[str, Any], list[list[Any]]] = {}
        self.expire_tick = 0
        self.is_expire_armed = False

    # -- the step, and what the driver made durable --------------------------------------------

    def step(self, event: Event, *, now_s: float) -> Effects:
        fx = super().step(event, now_s=now_s)
        if self.relayed:  # one forward_ok per follower for every answer of this step
            self.fx = fx
            for (follower, boot), replies in self.relayed.items():
                self.send(follower, {"type": "forward_ok", "replies": replies, "boot": boot})
            self.relayed = {}
            self.fx = Effects()
        if fx.sync:  # the driver syncs every earlier write too
            self.synced_index = self.last_index
            self.has_unsynced = False
        elif fx.persist:
            self.has_unsynced = True
        return fx

    def status(self) -> dict[str, Any]:
        """What `chaos_status` answers: who this node thinks leads, and how far its log is."""
        return {"role": self.role, "term": self.term, "commit_index": self.commit_index,
                "leader": self.leader_id, "last_index": self.last_index}

    # -- the log -------------------------------------------------------------------------------

    @property
    def last_index(self) -> int:
        return len(self.entries)

    @property
    def quorum(self) -> int:
        return len(self.node_ids) // 2 + 1

    def term_at(self, index: int) -> int:
        return self.entries[index - 1][0] if index > 0 else 0

    def _save_entries(self, first: int) -> None:
        """Write entries `first..last_index` and the new end, not yet synced. Entries above
        `last_index` left in storage by a truncation are ignored at boot."""
        for i in range(first, self.last_index + 1):
            term, command = self.entries[i - 1]
            self.persist(f"log/{i}", [term, command], sync=False)
        self.persist("last_index", self.last_index, sync=False)

    def _sync(self) -> None:
        """Make every write so far durable before this step's messages go out."""
        if self.bug != NO_FSYNC:  # the bug: believes it synced, never asks
            self.fx.sync = True
        self.synced_index = self.last_index
        self.has_unsynced = False

    def _truncate(self, last: int) -> None:
        # Committed entries are never replaced (Log Matching, Leader Completeness), unless a
        # planted bug elected a leader without them: then the damage shows, not a crash.
        assert self.bug is not None or last >= self.commit_index, (last, self.commit_index)
        del self.entries[last:]
        self.synced_index = min(self.synced_index, last)
        self.commit_index = min(self.commit_index, last)
        self.applied_index = min(self.applied_index, last)  # the map keeps what it applied

    # -- term, vote, role ----------------------------------------------------------------------

    def _save_term(self) -> None:
        sync = self.bug != NO_FSYNC
        self.persist("term", self.term, sync=sync)
        if self.bug != DOUBLE_VOTE:
            self.persist("vote", self.voted_for, sync=sync)

    def _log_role(self) -> None:
        self.log("info", "raft_role", role=self.role, term=self.term, leader=self.leader_id)

    def _reset_election_timer(self) -> None:
        low_s, high_s = self.election_timeout_s
        self.set_timer("election", self.rng.uniform(low_s, high_s))

    def _become_follower(self, term: int, leader: str | None) -> None:
        """Follow `leader` (None: not known yet) in `term`, which is no older than ours."""
        assert term >= self.term, (term, self.term)
        before = (self.role, self.term, self.leader_id)
        if term > self.term:
            self.term, self.voted_for = term, None
            self._save_term()
        if self.role == LEADER:
            self._abdicate()
        self.role, self.leader_id = FOLLOWER, leader
        self.pre_votes = None
        if leader is not None:
            self.leader_heard_s = self.now_s
        if (self.role, self.term, self.leader_id) != before:
            self._log_role()
        self._give_up_forwards()
        self._reset_election_timer()

    def _step_down_if_newer(self, msg: Message) -> bool:
        """§5.1: a message of a newer term makes us its follower. True if it was older."""
        term = field_of(msg, "term", int)
        if term > self.term:
            self._become_follower(term, None)
        return term < self.term

    def on_init(self) -> None:
        if self.is_started:
            return  # a repeated init in the same process life
        self.is_started = True
        self.persist("boot", self.boot, sync=self.bug != NO_FSYNC)
        self._log_role()
        self._reset_election_timer()

    # -- elections (§5.2, §5.4.1), with pre-vote (thesis §9.6) -----------------------------------

    def tick_election(self) -> None:
        """No leader heard for an election timeout: ask the others whether they would vote
        for us in the next term (pre-vote, thesis §9.6) before standing in it. Our term and
        vote stay as they are, so a node cut off from the majority asks in vain without
        inflating its term, and returns without deposing the leader. A candidate whose
        election was split asks again the same way (back to follower, its vote kept)."""
        assert self.role != LEADER, "a leader keeps no election timer"
        before = (self.role, self.term, self.leader_id)
        self.leader_id = None
        self._give_up_forwards()
        if self.quorum == 1 or self.bug == NO_LOG_CHECK:
            # Nobody to ask; or the no-log-check bug's Raft, which has no pre-vote either
            # (the package docstring says why).
            self._campaign()
            return
        self.role, self.votes, self.pre_votes = FOLLOWER, set(), {self.node_id}
        if (self.role, self.term, self.leader_id) != before:
            self._log_role()
        self.log("info", "raft_pre_vote", term=self.term + 1)
        self._reset_election_timer()  # no majority in time: ask again
        for peer in self.other_node_ids():
            self.send(peer, {"type": "pre_vote", "term": self.term + 1,
                             "last_log_index": self.last_index,
                             "last_log_term": self.term_at(self.last_index)})

    def _campaign(self) -> None:
        """A majority would vote for us: stand as the candidate of the next term (§5.2)."""
        self.pre_votes = None
        self.role, self.leader_id = CANDIDATE, None
        self.term += 1
        self.voted_for = self.node_id
        self._save_term()
        self.votes = {self.node_id}
        self._log_role()
        if len(self.votes) >= self.quorum:  # a cluster of one
            self._become_leader()
            return
        self._reset_election_timer()  # a split vote: try again in a later term
        for peer in self.other_node_ids():
            self.send(peer, {"type": "request_vote", "term": self.term,
                             "last_log_index": self.last_index,
                             "last_log_term": self.term_at(self.last_index)})

    def is_up_to_date(self, last_log_term: int, last_log_index: int) -> bool:
        """§5.4.1: the candidate's log ends in a later term, or as late and no shorter."""
        return (last_log_term, last_log_index) >= (self.term_at(self.last_index), self.last_index)

    def is_in_lease(self) -> bool:
        """Whether we lead, or follow a leader we heard from less than the shortest election
        timeout ago: then no election is due, and we refuse pre-votes (leader stickiness,
        thesis §9.6). The clock only shortens the lease: once our own election timer fires
        we follow nobody, whatever the clock says."""
        if self.role == LEADER:
            return True
        return self.leader_id is not None and (
            self.now_s - self.leader_heard_s < self.election_timeout_s[0])

    def on_pre_vote(self, msg: Message) -> None:
        """Would we vote for this candidate in `term` (its term plus 1)? Changes nothing
        here: neither our term (the candidate's is in the future) nor our vote, so nothing
        is persisted and nothing synced. Granted: the answer carries the term asked for;
        refused: ours, so that a pre-candidate behind us learns it."""
        term = field_of(msg, "term", int)
        up_to_date = self.is_up_to_date(field_of(msg, "last_log_term", int),
                                        field_of(msg, "last_log_index", int))
        granted = (
            term >= self.term
            and not self.is_in_lease()
            # The no-log-check bug: whatever the candidate's log lacks, as for votes.
            and (up_to_date or self.bug == NO_LOG_CHECK)
        )
        self.reply(msg, {"type": "pre_vote_ok", "term": term if granted else self.term,
                         "vote_granted": granted})

    def on_pre_vote_ok(self, msg: Message) -> None:
        term = field_of(msg, "term", int)
        if msg["body"].get("vote_granted") is not True:
            self._step_down_if_newer(msg)  # a refusal carries the voter's term
            return
        if self.pre_votes is not None and term == self.term + 1:
            self.pre_votes.add(msg["src"])
            if len(self.pre_votes) >= self.quorum:
                self._campaign()

    def on_request_vote(self, msg: Message) -> None:
        self._step_down_if_newer(msg)
        candidate = msg["src"]
        term = field_of(msg, "term", int)
        up_to_date = self.is_up_to_date(field_of(msg, "last_log_term", int),
                                        field_of(msg, "last_log_index", int))
        granted = (
            term == self.term
            # The double-vote bug: any candidate of this term, whoever we voted for.
            and (self.voted_for in (None, candidate) or self.bug == DOUBLE_VOTE)
            # The no-log-check bug: whatever the candidate's log lacks.
            and (up_to_date or self.bug == NO_LOG_CHECK)
        )
        if granted:
            self.voted_for = candidate
            self._save_term()  # synced: the vote must survive a crash before it is sent
            if self.role != LEADER:
                self._reset_election_timer()
        self.reply(msg, {"type": "request_vote_ok", "term": self.term, "vote_granted": granted})

    def on_request_vote_ok(self, msg: Message) -> None:
        if self._step_down_if_newer(msg):
            return
        if self.role == CANDIDATE and msg["body"]["term"] == self.term and (
            msg["body"].get("vote_granted") is True
        ):
            self.votes.add(msg["src"])
            if len(self.votes) >= self.quorum:
                self._become_leader()

    def _become_leader(self) -> None:
        assert self.role == CANDIDATE, self.role
        self.role, self.leader_id = LEADER, self.node_id
        self._log_role()
        self.cancel_timer("election")
        peers = self.other_node_ids()
        self.next_index = {p: self.last_index + 1 for p in peers}
        self.match_index = {p: 0 for p in peers}
        self.acked_round = {p: 0 for p in peers}
        self.backoff_msg_id = {p: 0 for p in peers}
        self.heard_from = self.votes - {self.node_id}
        self.round = 0
        # §8: a no-op of our term, so that earlier entries commit (figure 8) and reads can be
        # served once it has (commit_index then covers everything committed before us).
        self.entries.append((self.term, None))
        self.term_start_index = self.last_index
        self._save_entries(self.last_index)
        self._replicate(is_heartbeat=True)
        self.set_timer("heartbeat", self.heartbeat_interval_s)
        self.set_timer("check-quorum", self.election_timeout_s[0])

    def tick_check_quorum(self) -> None:
        """Check-quorum (thesis §6.2): a leader that heard from no majority (itself counted)
        within the shortest election timeout steps down, so that a leader cut off in a
        minority stops taking requests that cannot commit and answers its clients (error 11
        for reads, 13 for writes) instead of letting them time out. Reads need nothing
        more: none was ever served on leadership alone (read index waits for a round a
        majority acknowledged), and those waiting are answered here."""
        assert self.role == LEADER, self.role
        if len(self.heard_from) + 1 < self.quorum:
            self.log("info", "raft_check_quorum_lost", term=self.term,
                     heard_from=sorted(self.heard_from))
            self._become_follower(self.term, None)
            return
        self.heard_from = set()
        self.set_timer("check-quorum", self.election_timeout_s[0])

    def _abdicate(self) -> None:
        """Leaving leadership: pending requests are answered with what is true of them."""
        self.cancel_timer("heartbeat")
        self.cancel_timer("check-quorum")
        for read in [*self.reads, *self.reads_waiting]:  # never happened: definite
            self._answer(read.route, error(TEMPORARILY_UNAVAILABLE, "not the leader any more"))
        for index in sorted(self.pending):  # may still commit under the next leader
            self._answer(self.pending[index], error(
                CRASH, "leadership lost before the entry committed: it may or may not commit"))
        self.pending, self.reads, self.reads_waiting = {}, [], []

    # -- replication (§5.3) --------------------------------------------------------------------

    def tick_heartbeat(self) -> None:
        assert self.role == LEADER, self.role
        self._replicate(is_heartbeat=True)
        self.set_timer("heartbeat", self.heartbeat_interval_s)

    def tick_replicate(self) -> None:
        self.is_replicate_armed = False
        if self.role == LEADER:
            self._replicate(is_heartbeat=False)

    def _arm_replicate(self) -> None:
        if not self.is_replicate_armed:
            self.is_replicate_armed = True
            self.set_timer("replicate", self.replicate_delay_s)

    def _replicate(self, *, is_heartbeat: bool) -> None:
        """Start a read round if reads wait, send every follower what it lacks, and arm the
        sync of what we appended. An empty append_entries goes to a follower that lacks
        nothing only for a heartbeat or a new read round: an empty one otherwise would be a
        message per follower per request that says nothing new.

        Our own sync comes in a step of its own (`tick_sync`, due at once), after these
        messages left: the followers write to their disks while we write to ours (Raft
        thesis §10.2.1), instead of one fsync after the other on every write's path. Until
        it is done we do not count ourselves for those entries (`_advance_commit`)."""
        is_round = bool(self.reads_waiting)
        if is_round:
            self.round += 1
            for read in self.reads_waiting:
                read.round = self.round
            self.reads.extend(self.reads_waiting)
            self.reads_waiting = []
        for peer in self.other_node_ids():
            self._send_append(peer, is_forced=is_heartbeat or is_round)
        if self.has_unsynced or self.synced_index < self.last_index:
            self._arm_sync()
        self._advance_commit()
        self._serve_reads()

    def _arm_sync(self) -> None:
        if not self.is_sync_armed:
            self.is_sync_armed = True
            self.set_timer("sync", 0.0)

    def tick_sync(self) -> None:
        """Make what we appended durable; we may now count ourselves for it. (A leader that
        stepped down meanwhile syncs too: harmless, and its writes are then durable.)"""
        self.is_sync_armed = False
        if self.has_unsynced or self.synced_index < self.last_index:
            self._sync()
        self._advance_commit()
        self._serve_reads()

    def _send_append(self, peer: str, *, is_forced: bool) -> int:
        """Pipelining: send batches from `next_index` without waiting for acknowledgements,
        up to `pipeline_max` batches beyond what the follower acknowledged, and move
        `next_index` on as if they arrived (a rejection moves it back). When nothing is due
        and `is_forced`, an empty one (a heartbeat). The first msg_id sent, or 0."""
        next_index = self.next_index[peer]
        window_end = self.match_index[peer] + self.batch_max * self.pipeline_max
        first_msg_id = 0
        last = min(self.last_index, self.shippable_index())
        while next_index <= min(last, window_end):
            end = min(last, window_end, next_index + self.batch_max - 1)
            msg_id = self._send_batch(peer, next_index, end)
            first_msg_id = first_msg_id or msg_id
            next_index = end + 1
        self.next_index[peer] = next_index
        if is_forced and not first_msg_id:
            first_msg_id = self._send_batch(peer, next_index, next_index - 1)
        return first_msg_id

    def _send_batch(self, peer: str, first: int, last: int) -> int:
        return self.send(peer, {
            "type": "append_entries", "term": self.term, "prev_log_index": first - 1,
            "prev_log_term": self.term_at(first - 1),
            "entries": [list(e) for e in self.entries[first - 1 : last]],
            "leader_commit": self.commit_index, "round": self.round,
        })

    def on_append_entries(self, msg: Message) -> None:
        term = field_of(msg, "term", int)
        if term < self.term:  # the stale leader learns our term; round 0 confirms nothing
            self.reply(msg, {"type": "append_entries_ok", "term": self.term, "success": False,
                             "round": 0})
            return
        reply: Body = {"type": "append_entries_ok", "term": term,
                       "round": field_of(msg, "round", int)}
        # Two leaders of one term cannot be (§5.2), unless a planted bug elected them.
        assert self.role != LEADER or term > self.term or self.bug is not None, (
            f"two leaders in term {term}")
        if (self.role, self.term, self.leader_id) != (FOLLOWER, term, msg["src"]):
            self._become_follower(term, msg["src"])
        else:
            self.leader_heard_s = self.now_s
            self._reset_election_timer()
        prev = field_of(msg, "prev_log_index", int)
        if prev < 0:
            raise Malformed("prev_log_index must not be negative")
        entries = _entries_of(msg)
        if prev > self.last_index:
            self.reply(msg, {**reply, "success": False, "hint": self.last_index + 1})
            return
        if self.term_at(prev) != field_of(msg, "prev_log_term", int):
            # A conflict hint: the first index of the conflicting term, so that the leader
            # skips the whole term in one round trip instead of one entry per round trip.
            conflict, hint = self.term_at(prev), prev
            while hint > 1 and self.term_at(hint - 1) == conflict:
                hint -= 1
            self.reply(msg, {**reply, "success": False, "hint": hint})
            return
        first_new = None
        for offset, (entry_term, command) in enumerate(entries):
            index = prev + 1 + offset
            if index <= self.last_index:
                if self.term_at(index) == entry_term:
                    continue  # already here: a duplicate or reordered batch truncates nothing
                self._truncate(index - 1)
            self.entries.append((entry_term, command))
            first_new = index if first_new is None else first_new
        if first_new is not None:
            self._save_entries(first_new)
        if self.has_unsynced or first_new is not None:
            self._sync()  # the acknowledgement promises these entries survive a crash
        match = prev + len(entries)
        leader_commit = field_of(msg, "leader_commit", int)
        if leader_commit > self.commit_index:
            self.commit_index = min(leader_commit, match)  # only what we know matches
            self._apply_committed()
        self.reply(msg, {**reply, "success": True, "match_index": match})

    def on_append_entries_ok(self, msg: Message) -> None:
        if self._step_down_if_newer(msg):
            return
        body = msg["body"]
        peer = msg["src"]
        if self.role != LEADER or peer not in self.next_index:
            return  # an answer to an earlier leadership
        # An answer of our term acknowledges our leadership at the round it echoes: a round
        # above 0 is echoed only from an append_entries of the answer's term, so of this
        # leadership (a term has one leader, and a restarted leader leads only later terms).
        self.acked_round[peer] = max(self.acked_round[peer], field_of(msg, "round", int))
        self.heard_from.add(peer)  # any answer of our term: the check-quorum counts it
        if body.get("success") is True:
            match = field_of(msg, "match_index", int)
            self.match_index[peer] = max(self.match_index[peer], match)
            self.next_index[peer] = max(self.next_index[peer], match + 1)
            self._advance_commit()
        elif isinstance(hint := body.get("hint"), int) and (
            body.get("in_reply_to", 0) >= self.backoff_msg_id[peer]
        ):
            back = max(self.match_index[peer] + 1, min(hint, self.next_index[peer]))
            if back < self.next_index[peer]:
                self.next_index[peer] = back
                # Rejections of batches sent before these are stale: they are ignored.
                self.backoff_msg_id[peer] = self._send_append(peer, is_forced=True)
        if not self.is_replicate_armed:
            # Entries the window held back go now; with the replicate tick armed they go
            # with it, in one batch with whatever else arrives until then.
            self._send_append(peer, is_forced=False)
        self._serve_reads()

    def _advance_commit(self) -> None:
        """§5.3, §5.4.2: commit the highest index a majority stores, if it is of our term.
        We count ourselves only for entries we synced."""
        if self.role != LEADER:
            return
        stored = sorted([self.synced_index, *self.match_index.values()], reverse=True)
        index = stored[self.quorum - 1]
        if index > self.commit_index and self.term_at(index) == self.term:
            self.commit_index = index
            self._apply_committed()

    def _apply_committed(self) -> None:
        """Apply committed entries in log order; answer each request the leader accepted."""
        while self.applied_index < self.commit_index:
            self.applied_index += 1
            _, command = self.entries[self.applied_index - 1]
            result = self.state.apply(command, index=self.applied_index)
            route = self.pending.pop(self.applied_index, None)
            if route is not None and result is not None:
                self._answer(route, result)

    # -- what a service defines ------------------------------------------------------------

    def make_state(self) -> S:
        raise NotImplementedError(f"{type(self).__name__} must define make_state")

    def parse(self, body: Body) -> Request:
        """A client request body as a command or a query; raises `Malformed`."""
        raise NotImplementedError(f"{type(self).__name__} must define parse")

    def accept(self, route: Message, command: dict[str, Any]) -> None:
        """The leader takes a command: append it to the log (synced by the replicate tick)
        and answer `route` when it is applied."""
        self.entries.append((self.term, command))
        self._save_entries(self.last_index)
        self.pending[self.last_index] = route

    def shippable_index(self) -> int:
        """The last entry a leader may send its followers now: all of them (a bug may hold
        some back)."""
        return self.last_index

    def answer_query(self, query: Any) -> Body:
        """A query's answer from the state applied so far (the read index decides when)."""
        return self.state.query(query)

    # -- clients (and requests forwarded by followers) -----------------------------------------

    def on_request(self, msg: Message) -> None:
        """A client's request of any type the service serves (`on_<type> = on_request`)."""
        self.serve(msg, msg["body"])

    def serve(self, route: Message, body: Body) -> None:
        """Serve the request `body` that arrived as `route`, named by its client's msg_id."""
        msg_id = route["body"].get("msg_id")
        self._request(route, body, client=[route["src"], msg_id] if _is_int(msg_id) else None)

    def on_forward(self, msg: Message) -> None:
        body = msg["body"]
        request, client = body.get("request"), body.get("client")
        try:
            if not isinstance(request, dict):
                raise Malformed("forward: request must be an object")
            if client is not None and not (
                isinstance(client, list) and len(client) == 2 and isinstance(client[0], str)
                and _is_int(client[1])
            ):
                raise Malformed("forward: client must be [src, msg_id]")
            self._request(msg, request, client=client)
        except Malformed as e:
            self._answer(msg, error(MALFORMED_REQUEST, str(e)))

    def on_forward_ok(self, msg: Message) -> None:
        body = msg["body"]
        if body.get("boot") != self.boot:
            return  # an answer to a forward of an earlier life of ours
        for item in field_of(msg, "replies", list):
            if not (isinstance(item, list) and len(item) == 2 and _is_int(item[0])):
                raise Malformed("forward_ok: each reply must be [msg_id, reply]")
            forward = self.forwards.pop(item[0], None)
            reply = item[1]
            if forward is not None and isinstance(reply, dict) and (
                isinstance(reply.get("type"), str)
            ):
                self.reply(forward.request, reply)

    def _request(self, route: Message, body: Body, *, client: list[Any] | None) -> None:
        """Serve, forward or refuse a client request; `client` ([src, msg_id]) names it, so
        that a request delivered twice is applied once (the state machine's sessions)."""
        request = self.parse(body)
        if request.is_query and self.bug == STALE_READ:
            # The bug: whatever we applied, unconfirmed.
            self._answer(route, self.answer_query(request.query))
        elif self.role == LEADER:
            if request.command is None:
                index = max(self.commit_index, self.term_start_index)
                self.reads_waiting.append(Read(route, request.query, index,
                                               self._expires_tick()))
                self._arm_expire()
            else:
                command = dict(request.command)
                if client is not None:
                    command["client"] = client
                self.accept(route, command)
            self._arm_replicate()
        elif self.leader_id is not None and route["body"]["type"] != "forward":
            relayed = {k: v for k, v in body.items() if k != "msg_id"}
            msg_id = self.send(self.leader_id, {"type": "forward", "request": relayed,
                                                "client": client, "boot": self.boot})
            self.forwards[msg_id] = Forward(route, self._expires_tick(), self.leader_id,
                                            is_query=request.is_query)
            self._arm_expire()
        else:  # no leader known (or a second hop): it certainly will not happen
            self._answer(route, error(TEMPORARILY_UNAVAILABLE, "no leader known; retry later"))

    def _give_up_forwards(self) -> None:
        """Answer at once what we relayed to a node we no longer follow (it was killed, cut
        off or deposed), instead of letting the clients wait out their timeouts: a failover
        is then over for them when the next leader is, not a request timeout later. A write
        or cas may still have been logged there and commit later: indefinite (error 13). A
        read changes nothing, so whether it was served does not matter: error 11. A late
        forward_ok for one of these finds nothing to relay."""
        for msg_id, forward in list(self.forwards.items()):
            if forward.leader == self.leader_id:
                continue
            del self.forwards[msg_id]
            if forward.is_query:
                self._answer(forward.request, error(
                    TEMPORARILY_UNAVAILABLE, f"{forward.leader} stopped leading; retry"))
            else:
                self._answer(forward.request, error(
                    CRASH, f"relayed to {forward.leader}, which stopped leading before it "
                    "answered: it may or may not have been applied"))

    def _answer(self, route: Message, body: Body) -> None:
        if route["body"]["type"] == "forward":
            msg_id = route["body"].get("msg_id")
            if _is_int(msg_id):  # without one the follower could not tell what it answers
                boot = route["body"].get("boot")
                key = (route["src"], boot if _is_int(boot) else None)
                self.relayed.setdefault(key, []).append([msg_id, body])
        else:
            self.reply(route, body)

    def _serve_reads(self) -> None:
        """Read index (Raft thesis §6.4): a read is answered once a heartbeat round started
        after it arrived was acknowledged by a majority of this term (no newer leader can
        have committed anything without us hearing) and we applied up to its index."""
        if self.role != LEADER or not self.reads:
            return
        rounds = sorted([self.round, *self.acked_round.values()], reverse=True)
        confirmed = rounds[self.quorum - 1]
        waiting = []
        for read in self.reads:
            if read.round <= confirmed and read.index <= self.applied_index:
                self._answer(read.route, self.answer_query(read.query))
            else:
                waiting.append(read)
        self.reads = waiting

    # -- forgetting what nobody waits for any more ---------------------------------------------

    def _expires_tick(self) -> int:
        return self.expire_tick + EXPIRE_TICKS

    def _arm_expire(self) -> None:
        if not self.is_expire_armed:
            self.is_expire_armed = True
            self.set_timer("expire", self.forward_timeout_s / (EXPIRE_TICKS - 1))

    def tick_expire(self) -> None:
        """Drop relayed requests and reads after `forward_timeout_s` (at most 1.5 times it):
        their clients have given up (a read that did not happen needs no answer; the timeout
        is the answer). Counted in ticks, not read from the clock: a clock set back cannot
        keep them longer."""
        self.is_expire_armed = False
        self.expire_tick += 1
        tick = self.expire_tick
        self.forwards = {k: f for k, f in self.forwards.items() if f.expires_tick > tick}
        self.reads = [r for r in self.reads if r.expires_tick > tick]
        self.reads_waiting = [r for r in self.reads_waiting if r.expires_tick > tick]
        if self.forwards or self.reads or self.reads_waiting:
            self._arm_expire()


class Raft(RaftCore[KvStore]):
    """lin-kv on Raft: `read` is a query, `write` and `cas` are commands (`kv`)."""

    def make_state(self) -> KvStore:
        return KvStore()

    @property
    def kv(self) -> KvStore:
        return self.state

    def parse(self, body: Body) -> Request:
        f, key, command = request_of(body)
        return Request(query=key) if f == "read" else Request(command=command)

    on_read = on_write = on_cas = RaftCore.on_request
