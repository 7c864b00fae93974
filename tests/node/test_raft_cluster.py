"""Raft machines (`node.services.raft.core.Raft`) run together in a small deterministic cluster:
a leader is elected, writes commit and are applied everywhere, a killed leader is replaced
without losing a committed write, a node cut off returns without deposing the leader
(pre-vote), a leader cut off in a minority steps down (check-quorum); and each planted bug
visibly breaks safety where the correct machine does not (the same run, bug and no bug).

`Cluster` is the harness: a list of machines, a message queue with seeded per-message
latency (so messages reorder), a virtual clock that fires the machines' timers as `Tick`
events, grudges (a partition drops messages between its sides), `kill` (the machine is
dropped with its timers, its unsynced writes and the messages in flight to it) and `start`
(a machine rebuilt from what its synced storage holds, given `Init` again). `fire` and `hold`
choose an interleaving: a timer falls due now, or later than the test looks. Storage keeps
JSON text, as `node.storage` does, so no machine can alter what it wrote. Every run of a
seed is the same run.
"""

from __future__ import annotations

import heapq
import json
import random
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from node.machine import Boot, Effects, Event, Init, Receive, SetTimer, Tick
from node.services.raft.core import LEADER, Raft

PARAMS = {"election_timeout_s": (0.15, 0.3), "heartbeat_interval_s": 0.05}
CLIENT = "c1"


class Cluster:
    def __init__(self, n: int = 3, *, seed: int = 1, bug: str | None = None,
                 params: dict[str, Any] | None = None) -> None:
        self.ids = [f"n{i}" for i in range(1, n + 1)]
        self.bug = bug
        self.params = {**PARAMS, **(params or {})}
        self.rng = random.Random(seed)
        self.seed = seed
        self.now_s = 0.0
        self.seq = 0
        self.synced: dict[str, dict[str, str]] = {i: {} for i in self.ids}
        self.unsynced: dict[str, dict[str, str]] = {i: {} for i in self.ids}
        self.machines: dict[str, Raft | None] = {i: None for i in self.ids}
        self.lives = {i: 0 for i in self.ids}  # a message in flight reaches only its life
        self.timers: dict[str, dict[str, tuple[float, int]]] = {i: {} for i in self.ids}
        self.queue: list[tuple[float, int, str, str, int, dict[str, Any]]] = []
        self.cut: set[tuple[str, str]] = set()
        self.replies: dict[int, dict[str, Any]] = {}
        self.client_msg_id = 0
        self.leaders: list[tuple[int, str]] = []  # (term, node) from every raft_role log
        self.dropped = 0
        for node in self.ids:
            self.start(node)

    # -- faults --------------------------------------------------------------------------------

    def start(self, node: str) -> None:
        assert self.machines[node] is None, f"{node} is running"
        durable = {k: json.loads(v) for k, v in self.synced[node].items()}
        rng = random.Random(f"{self.seed}/{node}/{self.lives[node]}")
        self.machines[node] = Raft(Boot(node, rng, bug=self.bug, durable=durable,
                                        params=self.params))
        self.step(node, Init(tuple(self.ids)))

    def kill(self, node: str) -> None:
        assert self.machines[node] is not None, f"{node} is not running"
        self.machines[node] = None
        self.unsynced[node].clear()
        self.timers[node].clear()
        self.lives[node] += 1

    def partition(self, *sides: Iterable[str]) -> None:
        groups = [set(s) for s in sides]
        self.cut = {(a, b) for g in groups for h in groups if g is not h for a in g for b in h}

    def heal(self) -> None:
        self.cut = set()

    # -- running -------------------------------------------------------------------------------

    def step(self, node: str, event: Event) -> Effects:
        machine = self.machines[node]
        assert machine is not None, node
        fx = machine.step(event, now_s=self.now_s)
        for key, value in fx.persist.items():
            self.unsynced[node][key] = json.dumps(value)
        if fx.sync:
            self.synced[node].update(self.unsynced[node])
            self.unsynced[node].clear()
        for dest, body in fx.messages:
            if dest == CLIENT:
                self.replies[body["in_reply_to"]] = body
            elif (node, dest) in self.cut:
                self.dropped += 1
            else:
                self._enqueue(node, dest, body)
        for timer in fx.timers:
            if isinstance(timer, SetTimer):
                self.seq += 1
                self.timers[node][timer.name] = (self.now_s + timer.after_s, self.seq)
            else:
                self.timers[node].pop(timer.name, None)
        for _, event_name, fields in fx.logs:
            if event_name == "raft_role" and fields["role"] == LEADER:
                self.leaders.append((fields["term"], node))
        return fx

    def _enqueue(self, src: str, dest: str, body: dict[str, Any]) -> None:
        self.seq += 1
        at_s = self.now_s + self.rng.uniform(0.001, 0.004)
        heapq.heappush(self.queue, (at_s, self.seq, src, dest, self.lives[dest], body))

    def fire(self, node: str, timer: str) -> Effects:
        """Fire `node`'s timer now, as if it had fallen due (a chosen interleaving)."""
        self.timers[node].pop(timer, None)
        return self.step(node, Tick(timer))

    def hold(self, node: str, timer: str) -> None:
        """Forget `node`'s pending timer, as if it had been drawn longer than the test runs
        (a chosen interleaving; the machine sets it again when it next resets it)."""
        assert timer in self.timers[node], f"{node} has no {timer} timer pending"
        del self.timers[node][timer]

    def run(self, duration_s: float) -> None:
        until_s = self.now_s + duration_s
        while True:
            due = [(at_s, seq, node, name) for node, timers in self.timers.items()
                   for name, (at_s, seq) in timers.items()]
            timer = min(due) if due else None
            message = self.queue[0] if self.queue else None
            if message is not None and (timer is None or message[:2] < timer[:2]):
                if message[0] > until_s:
                    break
                at_s, _, src, dest, life, body = heapq.heappop(self.queue)
                self.now_s = at_s
                if self.machines[dest] is None or life != self.lives[dest]:
                    continue  # lost with the process it was sent to
                self.step(dest, Receive({"src": src, "dest": dest, "body": body}))
            elif timer is not None and timer[0] <= until_s:
                self.now_s = timer[0]
                self.fire(timer[2], timer[3])
            else:
                break
        self.now_s = until_s

    def run_until(self, condition: Callable[[], bool], *, within_s: float = 1.0) -> None:
        deadline_s = self.now_s + within_s
        while not condition():
            assert self.now_s < deadline_s, "the condition never held"
            self.run(0.0005)

    def call(self, node: str, body: dict[str, Any], *, within_s: float = 1.0
             ) -> dict[str, Any] | None:
        """A client request to `node`: its reply, or None if none came within `within_s`."""
        self.client_msg_id += 1
        msg_id = self.client_msg_id
        self.step(node, Receive({"src": CLIENT, "dest": node, "body": {**body, "msg_id": msg_id}}))
        deadline_s = self.now_s + within_s
        while msg_id not in self.replies and self.now_s < deadline_s:
            self.run(0.005)
        return self.replies.get(msg_id)

    # -- what the nodes think --------------------------------------------------------------

    def machine(self, node: str) -> Raft:
        machine = self.machines[node]
        assert machine is not None, node
        return machine

    def leader(self) -> str:
        """The one running leader of the newest term."""
        running = [m for m in self.machines.values() if m is not None]
        term = max(m.term for m in running)
        leaders = [m.node_id for m in running if m.role == LEADER and m.term == term]
        assert len(leaders) == 1, (term, leaders)
        return leaders[0]

    def terms_with_two_leaders(self) -> list[int]:
        by_term: dict[int, set[str]] = {}
        for term, node in self.leaders:
            by_term.setdefault(term, set()).add(node)
        return sorted(t for t, nodes in by_term.items() if len(nodes) > 1)


def read(cluster: Cluster, node: str, key: Any) -> Any:
    reply = cluster.call(node, {"type": "read", "key": key})
    assert reply is not None, f"no answer to a read at {node}"
    return reply.get("value", reply)


def write(cluster: Cluster, node: str, key: Any, value: Any) -> str:
    """A write at `node`: the type of its answer."""
    reply = cluster.call(node, {"type": "write", "key": key, "value": value})
    assert reply is not None, f"no answer to a write at {node}"
    return str(reply["type"])


def elected(**kwargs: Any) -> tuple[Cluster, str]:
    cluster = Cluster(**kwargs)
    cluster.run(1.0)
    return cluster, cluster.leader()


# -- a correct cluster ---------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(1, 6))
def test_one_leader_is_elected_and_every_node_follows_it(seed: int) -> None:
    cluster, leader = elected(seed=seed)
    statuses = [cluster.machine(n).status() for n in cluster.ids]
    assert {s["leader"] for s in statuses} == {leader}
    assert sorted(s["role"] for s in statuses) == ["follower", "follower", "leader"]
    assert cluster.terms_with_two_leaders() == []
    # The no-op of the leader's term is committed everywhere by the heartbeats.
    assert all(s["commit_index"] == s["last_index"] >= 1 for s in statuses)


def test_writes_through_any_node_commit_and_apply_everywhere_in_order() -> None:
    cluster, leader = elected()
    follower = next(n for n in cluster.ids if n != leader)
    assert cluster.call(leader, {"type": "write", "key": "k", "value": 1}) == {
        "type": "write_ok", "in_reply_to": 1, "msg_id": cluster.replies[1]["msg_id"]}
    assert cluster.call(follower, {"type": "cas", "key": "k", "from": 1, "to": 2})["type"] == (
        "cas_ok")  # forwarded to the leader and relayed under the client's msg_id
    reply = cluster.call(follower, {"type": "cas", "key": "k", "from": 1, "to": 3})
    assert (reply or {})["code"] == 22
    assert read(cluster, follower, "k") == 2
    cluster.run(0.2)
    for node in cluster.ids:
        assert cluster.machine(node).kv.values == {'"k"': 2}
        assert cluster.machine(node).applied_index == cluster.machine(leader).last_index


def test_many_concurrent_writes_go_out_in_few_batched_syncs() -> None:
    cluster, leader = elected()
    ids = []
    for value in range(50):
        cluster.client_msg_id += 1
        ids.append(cluster.client_msg_id)
        fx = cluster.step(leader, Receive({"src": CLIENT, "dest": leader, "body": {
            "type": "write", "key": value % 3, "value": value, "msg_id": cluster.client_msg_id}}))
        assert not fx.sync  # appended in memory only: the replicate tick syncs
    fx = cluster.fire(leader, "replicate")
    batches = [b for _, b in fx.messages if b["type"] == "append_entries"]
    assert [len(b["entries"]) for b in batches] == [50, 50]  # one batch to each follower
    assert cluster.fire(leader, "sync").sync  # and one sync here, once they are sent
    cluster.run(0.1)
    assert all(cluster.replies[i]["type"] == "write_ok" for i in ids)


def test_a_killed_leader_is_replaced_and_no_committed_write_is_lost() -> None:
    cluster, leader = elected(seed=3)
    for value in range(5):
        assert cluster.call(leader, {"type": "write", "key": "x", "value": value})
    cluster.kill(leader)
    cluster.run(1.0)
    successor = cluster.leader()
    assert successor != leader
    assert read(cluster, successor, "x") == 4
    assert cluster.call(successor, {"type": "write", "key": "x", "value": 5})
    cluster.start(leader)  # back from what it synced, a follower that catches up
    cluster.run(0.5)
    assert cluster.leader() == successor
    assert read(cluster, leader, "x") == 5
    assert cluster.machine(leader).kv.values == cluster.machine(successor).kv.values
    assert cluster.terms_with_two_leaders() == []


def test_a_follower_cut_off_gives_up_what_it_relayed_when_it_stops_following() -> None:
    cluster, leader = elected()
    cut = next(n for n in cluster.ids if n != leader)
    cluster.partition([cut], [n for n in cluster.ids if n != cut])
    read_id, write_id = cluster.client_msg_id + 1, cluster.client_msg_id + 2
    assert cluster.call(cut, {"type": "read", "key": "k"}, within_s=0.01) is None
    assert cluster.call(cut, {"type": "write", "key": "k", "value": 1}, within_s=0.01) is None
    assert len(cluster.machine(cut).forwards) == 2  # relayed to a leader it cannot reach
    cluster.run_until(lambda: cluster.machine(cut).leader_id is None)  # its election timer
    # Answered then, not a client timeout later: the read never mattered (11), the write may
    # have reached the leader and commit (13, indefinite).
    assert (cluster.replies[read_id]["code"], cluster.replies[write_id]["code"]) == (11, 13)
    assert cluster.machine(cut).forwards == {}
    reply = cluster.call(cut, {"type": "write", "key": "k", "value": 1})
    assert reply is not None and reply["code"] == 11  # campaigning, alone: no leader known


def test_a_follower_gives_up_what_it_relayed_to_a_killed_leader_when_a_new_term_begins(
) -> None:
    cluster, leader = elected(n=5)
    other = next(n for n in cluster.ids if n != leader)
    term = cluster.machine(other).term
    cluster.kill(leader)
    msg_id = cluster.client_msg_id + 1
    assert cluster.call(other, {"type": "cas", "key": "k", "from": 1, "to": 2},
                        within_s=0.01) is None
    cluster.run_until(lambda: msg_id in cluster.replies)
    # Here another node's request_vote came first: a newer term, whose leader it does not
    # know yet (its own timeout, or the new leader's append_entries, would do as well).
    assert cluster.machine(other).term > term
    assert cluster.machine(other).leader_id != leader
    assert cluster.replies[msg_id]["code"] == 13  # may have reached the old leader's log
    assert cluster.machine(other).forwards == {}


# -- the planted bugs, each against the same run without it ------------------------------------


@pytest.mark.parametrize("bug", [None, "stale-read"])
def test_stale_read_serves_an_old_value_from_a_node_cut_off(bug: str | None) -> None:
    cluster, leader = elected(bug=bug)
    cut = next(n for n in cluster.ids if n != leader)
    assert cluster.call(leader, {"type": "write", "key": "k", "value": 1})
    cluster.run(0.2)  # the cut-off follower has applied 1
    cluster.partition([cut], [n for n in cluster.ids if n != cut])
    assert cluster.call(leader, {"type": "write", "key": "k", "value": 2})  # acknowledged
    reply = cluster.call(cut, {"type": "read", "key": "k"}, within_s=0.5)
    if bug:
        assert reply is not None and reply["value"] == 1  # after write 2 was acknowledged
    else:
        # Forwarded to a leader it cannot reach: the client times out, or hears error 11 once
        # the follower's election timer gives up on that leader. Never a value.
        assert reply is None or reply["code"] == 11


@pytest.mark.parametrize("bug", [None, "no-fsync"])
def test_no_fsync_loses_an_acknowledged_write_when_a_majority_is_killed(bug: str | None) -> None:
    cluster, leader = elected(bug=bug)
    assert cluster.call(leader, {"type": "write", "key": "k", "value": 1})["type"] == "write_ok"
    for node in cluster.ids:  # a power cut
        cluster.kill(node)
    for node in cluster.ids:
        cluster.start(node)
    cluster.run(1.0)
    reply = cluster.call(cluster.leader(), {"type": "read", "key": "k"})
    assert reply is not None
    if bug:
        assert reply["code"] == 20  # the acknowledged write is gone
    else:
        assert reply["value"] == 1


@pytest.mark.parametrize("bug", [None, "double-vote"])
def test_double_vote_elects_two_leaders_in_one_term(bug: str | None) -> None:
    cluster, leader = elected(n=5, bug=bug)
    a, b, *_ = (n for n in cluster.ids if n != leader)
    before = cluster.terms_with_two_leaders()
    cluster.kill(leader)
    cluster.partition([a], [b])  # two candidates of one term, each heard by the voters
    for node in cluster.ids:
        if node != leader:
            cluster.hold(node, "election")
    cluster.run(0.2)  # the dead leader's lease runs out: the voters grant pre-votes again
    cluster.fire(a, "election")
    cluster.fire(b, "election")
    cluster.run(0.02)
    term = cluster.machine(a).term
    assert cluster.machine(b).term == term
    if bug:
        assert cluster.terms_with_two_leaders() == [*before, term]
    else:
        assert cluster.terms_with_two_leaders() == before == []


@pytest.mark.parametrize("bug", [None, "double-vote"])
def test_double_vote_a_restarted_voter_votes_again(bug: str | None) -> None:
    cluster, voter = elected(bug=bug)
    a, b = (n for n in cluster.ids if n != voter)
    before = cluster.terms_with_two_leaders()  # seed 1 with the bug: term 1 already has two
    cluster.kill(voter)  # the old leader comes back as a follower: the voter
    cluster.start(voter)
    cluster.partition([a], [b])  # the candidates cannot hear each other
    cluster.fire(a, "election")
    cluster.run_until(lambda: cluster.machine(a).role == LEADER)
    cluster.kill(voter)  # it voted for a, and crashes before a's first heartbeat reaches it
    cluster.start(voter)
    cluster.fire(b, "election")  # b campaigns for the same term
    cluster.run(0.02)
    assert cluster.machine(a).role == LEADER
    assert cluster.machine(b).term == cluster.machine(a).term
    if bug:
        assert cluster.machine(b).role == LEADER
        assert cluster.terms_with_two_leaders() == [*before, cluster.machine(a).term]
    else:
        assert cluster.machine(b).role == "candidate"  # the voter remembered its vote
        assert cluster.terms_with_two_leaders() == before == []


@pytest.mark.parametrize("bug", [None, "no-log-check"])
def test_no_log_check_elects_a_stale_node_that_erases_committed_writes(bug: str | None) -> None:
    cluster, leader = elected(bug=bug)
    stale = next(n for n in cluster.ids if n != leader)
    cluster.partition([stale], [n for n in cluster.ids if n != stale])
    assert cluster.call(leader, {"type": "write", "key": "k", "value": 1})["type"] == "write_ok"
    cluster.run(1.0)  # the cut-off node campaigns alone
    if bug:  # the bug's Raft has no pre-vote (the package docstring says why): its term
        assert cluster.machine(stale).term > cluster.machine(leader).term  # runs ahead
    else:
        assert cluster.machine(stale).term == cluster.machine(leader).term
    cluster.heal()
    cluster.fire(stale, "election")  # and asks first once the partition heals
    cluster.run(1.0)
    newest = cluster.leader()
    reply = cluster.call(newest, {"type": "read", "key": "k"})
    assert reply is not None
    if bug:
        assert newest == stale
        assert reply["code"] == 20  # the acknowledged write was truncated away everywhere
    else:
        assert newest == leader  # not even deposed
        assert reply["value"] == 1


@pytest.mark.parametrize("bug", [None, "no-log-check"])
def test_no_log_check_a_node_missing_committed_writes_wins_when_the_leader_dies(
        bug: str | None) -> None:
    # No term inflation needed: once no leader is alive, a node that missed a committed write
    # asks first; correct, the other refuses it; with the bug, it votes for it all the same.
    cluster, leader = elected(bug=bug)
    stale, other = (n for n in cluster.ids if n != leader)
    cluster.partition([stale], [leader, other])
    assert write(cluster, leader, "k", 1) == "write_ok"
    cluster.kill(leader)
    cluster.heal()
    for node in (stale, other):
        cluster.hold(node, "election")
    cluster.run(0.2)  # the dead leader's lease runs out at `other`
    cluster.fire(stale, "election")  # it asks first, for a pre-vote (or, bug, a vote)
    cluster.run(0.5)
    if not bug:  # refused: its log lacks a committed entry. The other stands in its turn.
        assert cluster.machine(stale).role != LEADER
        cluster.fire(other, "election")
        cluster.run(0.5)
    newest = cluster.leader()
    reply = cluster.call(newest, {"type": "read", "key": "k"})
    assert reply is not None
    if bug:
        assert newest == stale
        assert reply["code"] == 20  # the acknowledged write is gone
    else:
        assert newest == other
        assert reply["value"] == 1


# -- pre-vote and check-quorum --------------------------------------------------------------------


def test_a_node_cut_off_rejoins_without_deposing_the_leader() -> None:
    cluster, leader = elected()
    cut = next(n for n in cluster.ids if n != leader)
    term = cluster.machine(leader).term
    cluster.partition([cut], [n for n in cluster.ids if n != cut])
    assert write(cluster, leader, "k", 1) == "write_ok"
    dropped = cluster.dropped
    cluster.run(2.0)  # its election timer fires several times: pre-votes lost, term kept
    assert cluster.dropped > dropped
    assert cluster.machine(cut).term == term
    assert cluster.machine(cut).role != LEADER
    cluster.heal()
    cluster.run(1.0)
    assert cluster.leader() == leader and cluster.machine(leader).term == term
    assert cluster.machine(cut).leader_id == leader
    assert read(cluster, cut, "k") == 1  # caught up from the same leader
    assert cluster.leaders == [(term, leader)]  # one election in the whole run


def test_a_leader_cut_off_in_a_minority_steps_down_and_the_majority_goes_on() -> None:
    cluster, leader = elected(n=5)
    term = cluster.machine(leader).term
    mate = next(n for n in cluster.ids if n != leader)
    majority = [n for n in cluster.ids if n not in (leader, mate)]
    cluster.partition([leader, mate], majority)
    cluster.run(1.0)
    assert cluster.machine(leader).role == "follower"  # check-quorum (0.15 s windows here)
    assert cluster.machine(leader).term == term  # and no higher term on its side
    successor = cluster.leader()
    assert successor in majority and cluster.machine(successor).term == term + 1
    reply = cluster.call(leader, {"type": "write", "key": "k", "value": 1}, within_s=0.05)
    assert reply is not None and reply["code"] == 11  # at once: it knows no leader
    assert write(cluster, successor, "k", 2) == "write_ok"
    cluster.heal()
    cluster.run(0.5)
    assert cluster.leader() == successor
    assert read(cluster, leader, "k") == 2
    assert cluster.terms_with_two_leaders() == []
