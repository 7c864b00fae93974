"""The Raft machine (`node.services.raft.core.Raft`) fed literal events, with literal effects:
boot from storage, pre-votes (nothing stored, leader stickiness, the term asked, the election
restriction), elections and the vote rules (one vote per term, the up-to-date check),
append_entries' consistency check, truncation and acknowledgements, the leader's pipelining
and backing off, the commit rule (current term only, ourselves only for synced entries),
check-quorum, applying in order and answering the accepted request, forwarding and error 11,
read-index rounds, stepping down, and each planted bug at the rule it breaks. The key-value map
(`kv.KvStore`) on literal commands. Whole clusters are in test_raft_cluster.py."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import pytest

from node.machine import Boot, CancelTimer, Effects, Init, Receive, SetTimer, Tick
from node.services.raft import SERVICE
from node.services.raft.core import BUGS, CANDIDATE, FOLLOWER, LEADER, Raft
from node.services.raft.kv import KvStore, canonical

NODES = ("n1", "n2", "n3")
WRITE = {"f": "write", "key": "k", "value": 1}


def draws(seed: int = 1) -> list[SetTimer]:
    """The election timers a machine seeded `seed` sets, in order."""
    rng = random.Random(seed)
    return [SetTimer("election", rng.uniform(0.3, 0.6)) for _ in range(10)]


ELECTION = draws()


def rx(src: str, body: dict[str, Any]) -> Receive:
    return Receive({"src": src, "dest": "n1", "body": body})


def role(name: str, term: int, leader: str | None) -> tuple[str, str, dict[str, Any]]:
    return ("info", "raft_role", {"role": name, "term": term, "leader": leader})


def booted(*, durable: Mapping[str, Any] | None = None, bug: str | None = None,
           params: Mapping[str, Any] | None = None) -> Raft:
    machine = Raft(Boot("n1", random.Random(1), bug=bug, durable=durable or {},
                        params=params or {}))
    machine.step(Init(NODES), now_s=0.0)
    return machine


def log_of(*terms: int) -> dict[str, Any]:
    """Storage holding a log of write entries with these terms (term of the last as `term`)."""
    durable: dict[str, Any] = {f"log/{i}": [t, {**WRITE, "value": i}]
                               for i, t in enumerate(terms, start=1)}
    return {**durable, "last_index": len(terms), "term": max(terms, default=0)}


def stand(machine: Raft, *, now_s: float = 1.0) -> None:
    """Its election timer fires and n2 grants the pre-vote (msg_ids 1, 2 to n2, n3): n1 is a
    candidate of the next term (request_vote msg_ids 3, 4)."""
    machine.step(Tick("election"), now_s=now_s)
    machine.step(rx("n2", {"type": "pre_vote_ok", "term": machine.term + 1,
                           "vote_granted": True, "in_reply_to": 1}), now_s=now_s)
    assert machine.role == CANDIDATE


def elect(machine: Raft, *, now_s: float = 1.0) -> None:
    """Its election timer fires and n2 grants the pre-vote (msg_ids 1, 2 to n2, n3), then the
    vote (msg_ids 3, 4): n1 leads the next term."""
    stand(machine, now_s=now_s)
    machine.step(rx("n2", {"type": "request_vote_ok", "term": machine.term,
                           "vote_granted": True, "in_reply_to": 3}), now_s=now_s)


def leader(*, durable: Mapping[str, Any] | None = None, bug: str | None = None,
           params: Mapping[str, Any] | None = None) -> Raft:
    """n1, just elected (by n2's pre-vote and vote), its first append_entries sent (msg_ids
    5, 6) and its no-op synced."""
    machine = booted(durable=durable, bug=bug, params=params)
    elect(machine)
    assert machine.role == LEADER
    machine.step(Tick("sync"), now_s=1.0)
    return machine


def replicate(machine: Raft, now_s: float) -> Effects:
    """The replicate tick, then the sync tick it arms: both steps' effects, in order."""
    fx = machine.step(Tick("replicate"), now_s=now_s)
    synced = machine.step(Tick("sync"), now_s=now_s) if SetTimer("sync", 0.0) in fx.timers else (
        Effects())
    return Effects(persist={**fx.persist, **synced.persist}, sync=fx.sync or synced.sync,
                   messages=fx.messages + synced.messages, timers=fx.timers + synced.timers,
                   logs=fx.logs + synced.logs)


def ack(machine: Raft, src: str, match: int, *, round_: int = 0, in_reply_to: int = 1
        ) -> Effects:
    return machine.step(rx(src, {"type": "append_entries_ok", "term": machine.term,
                                 "success": True, "match_index": match, "round": round_,
                                 "in_reply_to": in_reply_to}), now_s=1.1)


def append(term: int, prev: int, prev_term: int, entries: list[list[Any]], *,
           commit: int = 0, msg_id: int = 7, src: str = "n2") -> Receive:
    return rx(src, {"type": "append_entries", "term": term, "prev_log_index": prev,
                    "prev_log_term": prev_term, "entries": entries, "leader_commit": commit,
                    "round": 0, "msg_id": msg_id})


# -- boot, init, status --------------------------------------------------------------------------


def test_init_logs_the_role_and_arms_the_election_timer_once() -> None:
    machine = Raft(Boot("n1", random.Random(1), durable={"term": 4, "vote": "n2", "boot": 6}))
    assert machine.step(Init(NODES), now_s=0.0) == Effects(
        persist={"boot": 7}, sync=True,  # this life's number: see the forward tests
        timers=[ELECTION[0]], logs=[role(FOLLOWER, 4, None)])
    assert machine.step(Init(NODES), now_s=0.1) == Effects()  # the same process life
    assert machine.voted_for == "n2"
    assert machine.status() == {"role": FOLLOWER, "term": 4, "commit_index": 0,
                                "leader": None, "last_index": 0}


def test_boot_reads_the_log_up_to_last_index_and_ignores_what_a_truncation_left() -> None:
    durable = {**log_of(1, 2), "log/3": [1, WRITE]}  # log/3: above last_index, stale
    machine = booted(durable=durable)
    assert machine.entries == [(1, {**WRITE, "value": 1}), (2, {**WRITE, "value": 2})]
    assert machine.status()["last_index"] == 2
    assert machine.commit_index == 0  # relearnt from the leader


# -- elections -------------------------------------------------------------------------------------


def pre_vote(term: int, *, last_index: int = 0, last_term: int = 0, msg_id: int = 3,
             src: str = "n2") -> Receive:
    return rx(src, {"type": "pre_vote", "term": term, "last_log_index": last_index,
                    "last_log_term": last_term, "msg_id": msg_id})


def pre_vote_reply(term: int, granted: bool, *, in_reply_to: int = 3, msg_id: int = 1,
                   dest: str = "n2") -> tuple[str, dict[str, Any]]:
    return (dest, {"type": "pre_vote_ok", "term": term, "vote_granted": granted,
                   "in_reply_to": in_reply_to, "msg_id": msg_id})


def test_an_election_timeout_asks_for_pre_votes_and_changes_nothing_durable() -> None:
    machine = booted(durable=log_of(1, 2))
    fx = machine.step(Tick("election"), now_s=0.5)
    assert fx == Effects(  # term 2 and no vote, as before: nothing persisted, nothing synced
        messages=[(peer, {"type": "pre_vote", "term": 3, "last_log_index": 2,
                          "last_log_term": 2, "msg_id": i})
                  for i, peer in enumerate(("n2", "n3"), start=1)],
        timers=[ELECTION[1]],
        logs=[("info", "raft_pre_vote", {"term": 3})],
    )
    assert (machine.role, machine.term, machine.voted_for) == (FOLLOWER, 2, None)


def test_a_majority_of_pre_votes_makes_a_candidate_that_votes_for_itself_durably() -> None:
    machine = booted(durable=log_of(1, 2))
    machine.step(Tick("election"), now_s=0.5)
    fx = machine.step(rx("n2", {"type": "pre_vote_ok", "term": 3, "vote_granted": True,
                                "in_reply_to": 1}), now_s=0.5)
    assert fx == Effects(
        persist={"term": 3, "vote": "n1"},
        sync=True,  # before the requests: a restart must not vote again in term 3
        messages=[(peer, {"type": "request_vote", "term": 3, "last_log_index": 2,
                          "last_log_term": 2, "msg_id": i})
                  for i, peer in enumerate(("n2", "n3"), start=3)],
        timers=[ELECTION[2]],
        logs=[role(CANDIDATE, 3, None)],
    )
    late = machine.step(rx("n3", {"type": "pre_vote_ok", "term": 3, "vote_granted": True,
                                  "in_reply_to": 2}), now_s=0.5)
    assert late == Effects() and machine.term == 3  # standing already: counted nothing


def test_a_node_cut_off_asks_in_vain_and_never_raises_its_term() -> None:
    machine = booted(durable={"term": 2, "vote": "n3"})
    machine.step(append(2, 0, 0, [], src="n3"), now_s=0.1)  # following n3
    for i, now_s in enumerate((0.6, 1.1, 1.6)):  # no answer ever comes: a partition
        fx = machine.step(Tick("election"), now_s=now_s)
        assert fx.persist == {} and not fx.sync
        assert [(d, b["type"], b["term"]) for d, b in fx.messages] == [
            ("n2", "pre_vote", 3), ("n3", "pre_vote", 3)]
        assert fx.logs[-1] == ("info", "raft_pre_vote", {"term": 3})
        assert fx.logs[:-1] == ([role(FOLLOWER, 2, None)] if i == 0 else [])
    assert (machine.term, machine.voted_for, machine.role) == (2, "n3", FOLLOWER)
    # Healed: the leader's next heartbeat is of our term, so our answer deposes nobody.
    fx = machine.step(append(2, 0, 0, [], src="n3"), now_s=1.7)
    assert fx.messages == [("n3", {"type": "append_entries_ok", "term": 2, "round": 0,
                                   "success": True, "match_index": 0, "in_reply_to": 7,
                                   "msg_id": 8})]
    assert fx.logs == [role(FOLLOWER, 2, "n3")] and fx.persist == {}
    assert machine.pre_votes is None
    late = machine.step(rx("n2", {"type": "pre_vote_ok", "term": 3, "vote_granted": True,
                                  "in_reply_to": 5}), now_s=1.7)
    assert late == Effects()  # no longer asking: a late grant makes no candidate


def test_a_pre_vote_changes_neither_term_nor_vote_and_persists_nothing() -> None:
    machine = booted(durable={**log_of(1, 1), "term": 4, "vote": "n3"})
    fx = machine.step(pre_vote(7, last_index=2, last_term=1), now_s=0.1)
    assert fx == Effects(messages=[pre_vote_reply(7, True)])  # no timer reset either
    assert (machine.term, machine.voted_for, machine.role) == (4, "n3", FOLLOWER)
    again = machine.step(pre_vote(7, last_index=2, last_term=1, msg_id=4, src="n3"),
                         now_s=0.1)
    assert again.messages == [pre_vote_reply(7, True, in_reply_to=4, msg_id=2, dest="n3")]


@pytest.mark.parametrize(("term", "last_term", "last_index", "granted"), [
    (5, 2, 2, True),   # the next term, a log as up to date as ours (term 2 at index 2)
    (4, 2, 2, True),   # our own term: the asker is one term behind us, not below
    (3, 2, 2, False),  # below ours: refused with our term, which the asker adopts
    (5, 1, 9, False),  # its log ends in an earlier term: the election restriction
    (5, 2, 1, False),  # shorter in the same last term
])
def test_a_pre_vote_is_granted_by_the_term_asked_and_the_election_restriction(
        term: int, last_term: int, last_index: int, granted: bool) -> None:
    machine = booted(durable={**log_of(1, 2), "term": 4})  # no leader known
    fx = machine.step(pre_vote(term, last_index=last_index, last_term=last_term), now_s=0.1)
    assert fx == Effects(messages=[pre_vote_reply(term if granted else 4, granted)])
    assert (machine.term, machine.voted_for) == (4, None)


def test_a_pre_vote_is_refused_while_the_voter_heard_a_leader_within_the_shortest_timeout(
) -> None:
    machine = booted(durable={"term": 2})
    machine.step(append(2, 0, 0, [], src="n3"), now_s=1.0)  # n3 leads term 2
    fx = machine.step(pre_vote(3), now_s=1.29)  # 0.29 s later: n3 is alive, stay with it
    assert fx == Effects(messages=[pre_vote_reply(2, False, msg_id=2)])
    fx = machine.step(pre_vote(3, msg_id=4), now_s=1.3)  # the shortest timeout went by
    assert fx == Effects(messages=[pre_vote_reply(3, True, in_reply_to=4, msg_id=3)])
    machine.step(append(2, 0, 0, [], src="n3", msg_id=8), now_s=1.35)  # a heartbeat
    fx = machine.step(pre_vote(3, msg_id=5), now_s=1.4)
    assert fx.messages[0][1]["vote_granted"] is False
    # Our own election timer ends the lease whatever the clock says (set back here).
    machine.step(Tick("election"), now_s=0.5)
    fx = machine.step(pre_vote(3, msg_id=6, src="n3"), now_s=0.5)
    assert fx.messages == [pre_vote_reply(3, True, in_reply_to=6, msg_id=8, dest="n3")]


def test_a_leader_refuses_pre_votes_and_stays() -> None:
    machine = leader()  # term 1
    fx = machine.step(pre_vote(2, last_index=5, last_term=1, msg_id=9, src="n3"), now_s=5.0)
    assert fx == Effects(messages=[pre_vote_reply(1, False, in_reply_to=9, msg_id=7,
                                                  dest="n3")])
    assert (machine.role, machine.term) == (LEADER, 1)


def test_a_refused_pre_vote_teaches_a_newer_term_and_a_stale_one_changes_nothing() -> None:
    machine = booted(durable={"term": 2})
    machine.step(Tick("election"), now_s=1.0)  # asks for term 3
    stale = machine.step(rx("n3", {"type": "pre_vote_ok", "term": 2, "vote_granted": False,
                                   "in_reply_to": 2}), now_s=1.0)
    assert stale == Effects() and machine.pre_votes == {"n1"}
    other = machine.step(rx("n2", {"type": "pre_vote_ok", "term": 5, "vote_granted": True,
                                   "in_reply_to": 77}), now_s=1.0)
    assert other == Effects() and machine.pre_votes == {"n1"}  # a grant for another term
    newer = machine.step(rx("n2", {"type": "pre_vote_ok", "term": 6, "vote_granted": False,
                                   "in_reply_to": 1}), now_s=1.0)
    assert newer.persist == {"term": 6, "vote": None} and newer.sync
    assert newer.logs == [role(FOLLOWER, 6, None)]
    assert (machine.term, machine.pre_votes, machine.role) == (6, None, FOLLOWER)


@pytest.mark.parametrize(("candidate_log", "is_up_to_date"), [
    ((2, 5), True),   # the same last term and index
    ((2, 6), True),   # longer
    ((3, 1), True),   # a later last term wins whatever the length
    ((2, 4), False),  # shorter in the same last term
    ((1, 9), False),  # an earlier last term loses whatever the length
])
def test_the_up_to_date_check_compares_last_term_then_last_index(
        candidate_log: tuple[int, int], is_up_to_date: bool) -> None:
    machine = booted(durable=log_of(1, 1, 2, 2, 2))
    assert machine.is_up_to_date(*candidate_log) is is_up_to_date


def vote_request(term: int, *, last_index: int = 0, last_term: int = 0, msg_id: int = 3,
                 src: str = "n2") -> Receive:
    return rx(src, {"type": "request_vote", "term": term, "last_log_index": last_index,
                    "last_log_term": last_term, "msg_id": msg_id})


def vote_reply(term: int, granted: bool, *, in_reply_to: int = 3, msg_id: int = 1
               ) -> tuple[str, dict[str, Any]]:
    return ("n2", {"type": "request_vote_ok", "term": term, "vote_granted": granted,
                   "in_reply_to": in_reply_to, "msg_id": msg_id})


def test_a_vote_is_granted_once_per_term_and_synced_before_the_reply() -> None:
    machine = booted(durable={"term": 1})
    fx = machine.step(vote_request(2, msg_id=3), now_s=0.1)
    assert fx == Effects(
        persist={"term": 2, "vote": "n2"}, sync=True,
        messages=[vote_reply(2, True)],
        timers=[ELECTION[1], ELECTION[2]],  # a newer term, then the vote: each resets it
        logs=[role(FOLLOWER, 2, None)],
    )
    again = machine.step(vote_request(2, msg_id=4), now_s=0.2)  # a retry: same answer
    assert again.messages == [vote_reply(2, True, in_reply_to=4, msg_id=2)]
    rival = machine.step(vote_request(2, msg_id=5, src="n3"), now_s=0.2)
    assert rival == Effects(messages=[("n3", {"type": "request_vote_ok", "term": 2,
                                              "vote_granted": False, "in_reply_to": 5,
                                              "msg_id": 3})])


def test_votes_are_refused_to_an_older_term_and_to_a_log_less_up_to_date() -> None:
    machine = booted(durable=log_of(1, 2))
    old = machine.step(vote_request(1, last_index=9, last_term=2), now_s=0.1)
    assert old == Effects(messages=[vote_reply(2, False)])  # our term teaches the candidate
    stale = machine.step(vote_request(3, last_index=9, last_term=1, msg_id=4), now_s=0.1)
    assert stale.messages == [vote_reply(3, False, in_reply_to=4, msg_id=2)]
    assert stale.persist == {"term": 3, "vote": None}  # the term is adopted all the same
    assert machine.voted_for is None


def test_a_majority_of_votes_makes_a_leader_that_appends_a_no_op_and_sends_it() -> None:
    machine = booted(durable=log_of(1))
    stand(machine)
    refused = machine.step(rx("n3", {"type": "request_vote_ok", "term": 2,
                                     "vote_granted": False, "in_reply_to": 4}), now_s=1.0)
    assert refused == Effects() and machine.role == CANDIDATE
    fx = machine.step(rx("n2", {"type": "request_vote_ok", "term": 2, "vote_granted": True,
                                "in_reply_to": 3}), now_s=1.0)
    no_op_batch = {"type": "append_entries", "term": 2, "prev_log_index": 1,
                   "prev_log_term": 1, "entries": [[2, None]], "leader_commit": 0, "round": 0}
    assert fx == Effects(  # the no-op goes out before our own sync, which comes next
        persist={"log/2": [2, None], "last_index": 2},
        messages=[("n2", {**no_op_batch, "msg_id": 5}), ("n3", {**no_op_batch, "msg_id": 6})],
        timers=[CancelTimer("election"), SetTimer("sync", 0.0), SetTimer("heartbeat", 0.1),
                SetTimer("check-quorum", 0.3)],
        logs=[role(LEADER, 2, "n1")],
    )
    assert machine.step(Tick("sync"), now_s=1.0) == Effects(sync=True)


def test_a_vote_from_an_earlier_election_is_not_counted() -> None:
    machine = booted(durable={"term": 1})
    stand(machine, now_s=1.0)  # term 2
    fx = machine.step(Tick("election"), now_s=2.0)  # split vote: pre-votes for 3, again
    assert fx.logs[0] == role(FOLLOWER, 2, None)  # no longer standing; its vote kept
    assert machine.voted_for == "n1"
    late = machine.step(rx("n2", {"type": "request_vote_ok", "term": 2, "vote_granted": True,
                                  "in_reply_to": 3}), now_s=2.0)
    assert late == Effects() and machine.role == FOLLOWER
    machine.step(rx("n3", {"type": "pre_vote_ok", "term": 3, "vote_granted": True,
                           "in_reply_to": 6}), now_s=2.0)
    assert (machine.role, machine.term) == (CANDIDATE, 3)
    late = machine.step(rx("n3", {"type": "request_vote_ok", "term": 2, "vote_granted": True,
                                  "in_reply_to": 4}), now_s=2.0)
    assert late == Effects() and machine.votes == {"n1"}


# -- append_entries at a follower ------------------------------------------------------------------


def test_entries_are_appended_synced_then_acknowledged_with_what_matches() -> None:
    machine = booted(durable=log_of(1))
    fx = machine.step(append(1, 1, 1, [[1, WRITE], [1, None]], commit=1), now_s=0.1)
    assert fx == Effects(
        persist={"log/2": [1, WRITE], "log/3": [1, None], "last_index": 3}, sync=True,
        messages=[("n2", {"type": "append_entries_ok", "term": 1, "round": 0, "success": True,
                          "match_index": 3, "in_reply_to": 7, "msg_id": 1})],
        timers=[ELECTION[1]],
        logs=[role(FOLLOWER, 1, "n2")],
    )
    assert (machine.commit_index, machine.applied_index) == (1, 1)
    assert machine.kv.values == {'"k"': 1}


def test_a_batch_beyond_our_log_is_refused_with_a_hint_at_its_end() -> None:
    machine = booted(durable=log_of(1))
    fx = machine.step(append(1, 5, 1, [[1, WRITE]]), now_s=0.1)
    assert fx.messages == [("n2", {"type": "append_entries_ok", "term": 1, "round": 0,
                                   "success": False, "hint": 2, "in_reply_to": 7,
                                   "msg_id": 1})]
    assert fx.persist == {} and machine.last_index == 1


def test_a_conflicting_previous_entry_is_refused_with_the_start_of_its_term() -> None:
    machine = booted(durable=log_of(1, 2, 2, 2))
    fx = machine.step(append(3, 4, 3, []), now_s=0.1)
    assert fx.messages[0][1]["hint"] == 2  # skip all of term 2 in one round trip
    assert fx.messages[0][1]["success"] is False


def test_a_conflicting_suffix_is_truncated_and_replaced() -> None:
    machine = booted(durable=log_of(1, 1, 2, 2))
    fx = machine.step(append(3, 1, 1, [[1, WRITE], [3, None]]), now_s=0.1)
    assert fx.persist == {"term": 3, "vote": None,  # a newer leader's term, adopted
                          "log/3": [3, None], "last_index": 3}  # log/4 stays, ignored
    assert fx.sync
    assert [t for t, _ in machine.entries] == [1, 1, 3]
    assert fx.messages[0][1]["match_index"] == 3


def test_a_reordered_older_batch_truncates_nothing_and_acknowledges_only_its_part() -> None:
    machine = booted(durable=log_of(1, 1, 1))
    fx = machine.step(append(1, 0, 0, [[1, {**WRITE, "value": 1}]]), now_s=0.1)
    assert machine.last_index == 3 and fx.persist == {}
    assert fx.messages[0][1]["match_index"] == 1


def test_an_append_of_an_older_term_is_refused_with_ours_and_confirms_no_round() -> None:
    machine = booted(durable={"term": 5})
    older = append(4, 0, 0, [[4, WRITE]])
    older.msg["body"]["round"] = 9
    fx = machine.step(older, now_s=0.1)
    assert fx == Effects(messages=[("n2", {"type": "append_entries_ok", "term": 5, "round": 0,
                                           "success": False, "in_reply_to": 7, "msg_id": 1})])


def test_a_reply_in_our_term_to_an_earlier_lifes_append_confirms_no_read() -> None:
    # A leader restarted and leading term 3: n2 answers, in term 3, a term-2 append_entries of
    # the leader's previous life (round 9). It must not confirm this life's round 1.
    machine = leader(durable={"term": 2, "vote": "n1"})
    ack(machine, "n2", 1)
    machine.step(rx("c1", {"type": "read", "key": "k", "msg_id": 5}), now_s=1.2)
    replicate(machine, 1.2)
    old = machine.step(rx("n2", {"type": "append_entries_ok", "term": 3, "success": False,
                                 "round": 0, "in_reply_to": 1}), now_s=1.3)
    assert old == Effects() and machine.acked_round["n2"] == 0


def test_a_follower_commits_only_what_it_knows_matches_the_leader() -> None:
    machine = booted(durable=log_of(1, 1, 1))  # entries 2, 3 may not be the leader's
    machine.step(append(2, 1, 1, [], commit=3), now_s=0.1)
    assert machine.commit_index == 1  # min(leader_commit, prev + entries)


def test_a_candidate_hearing_the_leader_of_its_term_follows_it() -> None:
    machine = booted(durable={"term": 1})
    stand(machine)
    fx = machine.step(append(2, 0, 0, []), now_s=1.0)
    assert fx.logs == [role(FOLLOWER, 2, "n2")]
    assert machine.leader_id == "n2" and machine.voted_for == "n1"


# -- the leader: commit rule, apply order, pipelining, backing off --------------------------------


def test_entries_of_an_earlier_term_commit_only_with_one_of_the_current_term() -> None:
    machine = leader(durable=log_of(1, 2))  # term 3, the no-op at 3
    assert ack(machine, "n2", 2) == Effects()  # index 2 is on a majority, but of term 2
    assert machine.commit_index == 0
    fx = ack(machine, "n2", 3)
    assert machine.commit_index == 3 and machine.applied_index == 3
    assert fx == Effects()  # nothing to answer: nobody asked this leader for 1 or 2


def test_the_leader_counts_itself_only_for_entries_it_synced() -> None:
    machine = leader()
    ack(machine, "n2", 1)
    assert machine.commit_index == 1
    fx = machine.step(rx("c1", {"type": "write", "key": "k", "value": 1, "msg_id": 9}),
                      now_s=1.2)
    logged = {**WRITE, "client": ["c1", 9]}  # the request's name: see the duplicate tests
    assert fx == Effects(persist={"log/2": [1, logged], "last_index": 2},
                         timers=[SetTimer("replicate", 0.002)])
    # n3 refuses the no-op's batch (it lost it): the resend carries the entry to n3 before
    # the replicate tick synced it here.
    resent = machine.step(rx("n3", {"type": "append_entries_ok", "term": 1, "success": False,
                                    "hint": 1, "round": 0, "in_reply_to": 6}), now_s=1.2)
    assert [b["entries"] for _, b in resent.messages] == [[[1, None], [1, logged]]]
    ack(machine, "n3", 2)
    assert machine.commit_index == 1  # n3 holds 2, but we have not synced it
    fx = machine.step(Tick("replicate"), now_s=1.3)
    assert not fx.sync and machine.commit_index == 1  # sent first, synced in the next step
    assert fx.messages == [  # n3 lacks nothing: no empty append_entries for it
        ("n2", {"type": "append_entries", "term": 1, "prev_log_index": 1, "prev_log_term": 1,
                "entries": [[1, logged]], "leader_commit": 1, "round": 0, "msg_id": 8})]
    assert fx.timers == [SetTimer("sync", 0.0)]
    fx = machine.step(Tick("sync"), now_s=1.3)
    assert fx.sync and machine.commit_index == 2
    assert fx.messages == [("c1", {"type": "write_ok", "in_reply_to": 9, "msg_id": 9})]


def test_committed_entries_are_applied_in_order_and_each_answers_its_request() -> None:
    machine = leader()
    requests = [
        {"type": "cas", "key": "k", "from": 0, "to": 1},  # absent: 20
        {"type": "write", "key": "k", "value": 1},
        {"type": "cas", "key": "k", "from": 1, "to": 2},
        {"type": "cas", "key": "k", "from": 1, "to": 3},  # now 2: 22
        {"type": "cas", "key": "j", "from": 0, "to": 5, "create_if_not_exists": True},
    ]
    for i, request in enumerate(requests, start=10):
        machine.step(rx("c1", {**request, "msg_id": i}), now_s=1.1)
    replicate(machine, 1.2)
    fx = ack(machine, "n2", machine.last_index)
    assert [(b["in_reply_to"], b["type"], b.get("code")) for _, b in fx.messages] == [
        (10, "error", 20), (11, "write_ok", None), (12, "cas_ok", None), (13, "error", 22),
        (14, "cas_ok", None)]
    assert machine.kv.values == {'"k"': 2, '"j"': 5}


def test_batches_are_pipelined_up_to_the_window_and_stream_on_acknowledgement() -> None:
    machine = leader(params={"batch_max": 2, "pipeline_max": 2})
    for i in range(6):
        machine.step(rx("c1", {"type": "write", "key": "k", "value": i, "msg_id": 10 + i}),
                     now_s=1.1)
    fx = replicate(machine, 1.2)
    to_n2 = [(b["prev_log_index"], len(b["entries"])) for d, b in fx.messages if d == "n2"]
    # The no-op (1) went out at the election; then 2..4 without waiting for any answer, up
    # to the window: 2 batches of 2 beyond what n2 acknowledged (nothing yet).
    assert to_n2 == [(1, 2), (3, 1)]
    assert machine.next_index["n2"] == 5
    more = ack(machine, "n2", 3)  # the window moves: 5..7
    assert [(b["prev_log_index"], len(b["entries"])) for d, b in more.messages
            if d == "n2"] == [(4, 2), (6, 1)]
    assert [b["in_reply_to"] for d, b in more.messages if d == "c1"] == [10, 11]  # 2, 3


def test_only_heartbeats_and_read_rounds_send_an_empty_append_entries() -> None:
    machine = leader()
    ack(machine, "n2", 1)
    ack(machine, "n3", 1)
    beat = machine.step(Tick("heartbeat"), now_s=1.1)
    assert [(d, b["entries"]) for d, b in beat.messages] == [("n2", []), ("n3", [])]
    machine.step(rx("c1", {"type": "write", "key": "k", "value": 1, "msg_id": 9}), now_s=1.2)
    # An acknowledgement while the replicate tick is armed sends nothing: the tick will.
    assert ack(machine, "n2", 1) == Effects()
    fx = machine.step(Tick("replicate"), now_s=1.2)
    assert [(d, len(b["entries"])) for d, b in fx.messages] == [("n2", 1), ("n3", 1)]
    ack(machine, "n2", 2)
    machine.step(rx("c1", {"type": "read", "key": "k", "msg_id": 10}), now_s=1.3)
    fx = machine.step(Tick("replicate"), now_s=1.3)  # n2 lacks nothing, n3 only the round
    assert [(d, b["entries"], b["round"]) for d, b in fx.messages] == [
        ("n2", [], 1), ("n3", [], 1)]
    machine.step(Tick("sync"), now_s=1.3)
    assert machine.step(Tick("replicate"), now_s=1.4) == Effects()  # nothing new at all


def test_a_rejection_moves_next_index_back_to_the_hint_and_resends_once() -> None:
    machine = leader(durable=log_of(1, 1, 1))  # term 2, no-op at 4; next_index 5 after it
    fx = machine.step(rx("n2", {"type": "append_entries_ok", "term": 2, "success": False,
                                "hint": 2, "round": 0, "in_reply_to": 5}), now_s=1.1)
    assert [(d, b["prev_log_index"], len(b["entries"])) for d, b in fx.messages] == [
        ("n2", 1, 3)]
    assert machine.next_index["n2"] == 5
    resend_id = fx.messages[0][1]["msg_id"]
    stale = machine.step(rx("n2", {"type": "append_entries_ok", "term": 2, "success": False,
                                   "hint": 2, "round": 0, "in_reply_to": 5}), now_s=1.1)
    assert stale == Effects()  # a rejection of a batch sent before the resend
    assert resend_id > 5


def test_a_newer_term_in_any_reply_makes_the_leader_step_down_and_answer_what_it_held() -> None:
    machine = leader()
    machine.step(rx("c1", {"type": "write", "key": "k", "value": 1, "msg_id": 9}), now_s=1.1)
    machine.step(rx("c2", {"type": "read", "key": "k", "msg_id": 4}), now_s=1.1)
    fx = machine.step(rx("n3", {"type": "append_entries_ok", "term": 7, "success": False,
                                "round": 0, "in_reply_to": 4}), now_s=1.2)
    assert fx.persist == {"term": 7, "vote": None} and fx.sync
    assert [(d, b["type"], b.get("code"), b["in_reply_to"]) for d, b in fx.messages] == [
        ("c2", "error", 11, 4),  # a read never happened: definite
        ("c1", "error", 13, 9),  # the write may still commit: indefinite
    ]
    assert fx.logs == [role(FOLLOWER, 7, None)]
    assert CancelTimer("heartbeat") in fx.timers
    assert machine.pending == {} and machine.reads == machine.reads_waiting == []


# -- check-quorum ----------------------------------------------------------------------------------


def test_a_leader_that_hears_from_no_majority_within_the_timeout_steps_down() -> None:
    machine = leader()  # term 1 at 1.0; n2's vote is hearing from n2
    ack(machine, "n2", 1)  # the no-op committed: reads may be served
    assert machine.step(Tick("check-quorum"), now_s=1.3) == Effects(
        timers=[SetTimer("check-quorum", 0.3)])  # n2 answered: a majority with us
    machine.step(rx("c1", {"type": "read", "key": "k", "msg_id": 5}), now_s=1.4)
    replicate(machine, 1.4)  # the read's round goes out; nothing comes back: cut off
    machine.step(rx("c2", {"type": "write", "key": "k", "value": 1, "msg_id": 6}), now_s=1.5)
    fx = machine.step(Tick("check-quorum"), now_s=1.6)
    assert fx.logs == [("info", "raft_check_quorum_lost", {"term": 1, "heard_from": []}),
                       role(FOLLOWER, 1, None)]
    assert fx.persist == {} and not fx.sync  # the same term: nothing to store
    assert [(d, b["type"], b.get("code"), b["in_reply_to"]) for d, b in fx.messages] == [
        ("c1", "error", 11, 5),  # the read never happened: definite
        ("c2", "error", 13, 6),  # the write may still commit under the next leader
    ]
    assert CancelTimer("heartbeat") in fx.timers and CancelTimer("check-quorum") in fx.timers
    assert [t.name for t in fx.timers if isinstance(t, SetTimer)] == ["election"]
    # A late confirmation of the round serves nothing, and no read is served after.
    assert ack(machine, "n2", 1, round_=1) == Effects()
    fx = machine.step(rx("c1", {"type": "read", "key": "k", "msg_id": 7}), now_s=1.7)
    assert [(b["type"], b["code"]) for _, b in fx.messages] == [("error", 11)]


def test_a_leader_that_keeps_hearing_from_a_majority_stays() -> None:
    machine = leader()
    for peer, now_s in (("n3", 1.3), ("n2", 1.6), ("n3", 1.9), ("n2", 2.2)):
        ack(machine, peer, 1)  # one follower per window, and us: a majority of three
        assert machine.step(Tick("check-quorum"), now_s=now_s) == Effects(
            timers=[SetTimer("check-quorum", 0.3)])
    assert (machine.role, machine.term) == (LEADER, 1)


def test_check_quorum_counts_only_answers_of_the_leaders_term() -> None:
    machine = leader(durable={"term": 2, "vote": "n1"})  # term 3
    machine.step(Tick("check-quorum"), now_s=1.3)  # n2's vote: passes, and resets
    older = machine.step(rx("n2", {"type": "append_entries_ok", "term": 2, "success": False,
                                   "round": 0, "in_reply_to": 1}), now_s=1.4)
    assert older == Effects() and machine.heard_from == set()
    fx = machine.step(Tick("check-quorum"), now_s=1.6)
    assert fx.logs[-1] == role(FOLLOWER, 3, None)


# -- clients: forwarding, error 11, reads ----------------------------------------------------------


def test_a_node_that_knows_no_leader_answers_error_11() -> None:
    machine = booted()
    fx = machine.step(rx("c1", {"type": "write", "key": 1, "value": 2, "msg_id": 5}), now_s=0)
    assert fx == Effects(messages=[("c1", {"type": "error", "code": 11,
                                           "text": "no leader known; retry later",
                                           "in_reply_to": 5, "msg_id": 1})])


def test_a_follower_forwards_to_the_leader_and_relays_its_answer_under_the_clients_id() -> None:
    machine = booted()
    machine.step(append(1, 0, 0, []), now_s=0.1)
    fx = machine.step(rx("c1", {"type": "cas", "key": 1, "from": 2, "to": 3, "msg_id": 5}),
                      now_s=0.2)
    assert fx == Effects(
        messages=[("n2", {"type": "forward", "msg_id": 2, "boot": 1, "client": ["c1", 5],
                          "request": {"type": "cas", "key": 1, "from": 2, "to": 3}})],
        timers=[SetTimer("expire", 0.5)],
    )
    fx = machine.step(rx("n2", {"type": "forward_ok", "boot": 1, "msg_id": 9,
                                "replies": [[2, {"type": "cas_ok"}], [77, {"type": "x"}]]}),
                      now_s=0.3)
    assert fx == Effects(messages=[("c1", {"type": "cas_ok", "in_reply_to": 5, "msg_id": 3})])
    assert machine.forwards == {}


def test_an_answer_to_a_forward_of_an_earlier_life_is_not_relayed() -> None:
    # msg_ids restart at 1 in each process life: only the boot number tells them apart.
    machine = booted(durable={"boot": 1})  # life 2
    machine.step(append(1, 0, 0, []), now_s=0.1)
    machine.step(rx("c9", {"type": "write", "key": 1, "value": 2, "msg_id": 5}), now_s=0.2)
    late = machine.step(rx("n2", {"type": "forward_ok", "boot": 1,
                                  "replies": [[2, {"type": "write_ok"}]]}), now_s=0.3)
    assert late == Effects() and 2 in machine.forwards


def test_a_follower_gives_up_what_it_relayed_when_its_election_timer_fires() -> None:
    machine = booted()
    machine.step(append(1, 0, 0, []), now_s=0.1)  # following n2
    machine.step(rx("c1", {"type": "write", "key": 1, "value": 2, "msg_id": 5}), now_s=0.2)
    machine.step(rx("c2", {"type": "read", "key": 1, "msg_id": 6}), now_s=0.2)
    fx = machine.step(Tick("election"), now_s=0.8)  # n2 went quiet
    assert [(d, b["type"], b.get("code"), b.get("in_reply_to")) for d, b in fx.messages
            if d.startswith("c")] == [("c1", "error", 13, 5), ("c2", "error", 11, 6)]
    assert machine.forwards == {}
    late = machine.step(rx("n2", {"type": "forward_ok", "boot": 1,
                                  "replies": [[2, {"type": "write_ok"}]]}), now_s=0.9)
    assert late == Effects()  # answered already: nothing to relay


def test_a_forward_nobody_answers_is_forgotten_after_its_timeout() -> None:
    machine = booted()
    machine.step(append(1, 0, 0, []), now_s=0.1)
    machine.step(rx("c1", {"type": "read", "key": 1, "msg_id": 5}), now_s=0.2)
    assert machine.step(Tick("expire"), now_s=0.7) == Effects(timers=[SetTimer("expire", 0.5)])
    machine.step(rx("c1", {"type": "read", "key": 2, "msg_id": 6}), now_s=0.8)  # msg_id 3
    assert machine.step(Tick("expire"), now_s=1.2) == Effects(timers=[SetTimer("expire", 0.5)])
    assert list(machine.forwards) == [2, 3]  # counted in ticks: the clock does not matter
    assert machine.step(Tick("expire"), now_s=-50.0) == Effects(timers=[SetTimer("expire", 0.5)])
    assert list(machine.forwards) == [3]  # 3 ticks of 0.5 s after it was sent
    late = machine.step(rx("n2", {"type": "forward_ok", "boot": 1,
                                  "replies": [[2, {"type": "read_ok", "value": 1}]]}), now_s=1.3)
    assert late == Effects()
    machine.step(Tick("expire"), now_s=1.7)
    assert machine.step(Tick("expire"), now_s=2.2) == Effects()  # nothing left: disarmed
    assert machine.forwards == {}


def test_a_request_delivered_twice_is_logged_twice_and_applied_once() -> None:
    machine = leader()
    forward = {"type": "forward", "boot": 4, "client": ["c7", 3],
               "request": {"type": "write", "key": 1, "value": 2}}
    machine.step(rx("n3", {**forward, "msg_id": 8}), now_s=1.1)
    machine.step(rx("c1", {"type": "write", "key": 1, "value": 5, "msg_id": 1}), now_s=1.1)
    machine.step(rx("n3", {**forward, "msg_id": 8}), now_s=1.1)  # the network's duplicate
    replicate(machine, 1.2)
    fx = ack(machine, "n2", 4)
    assert [e[1]["client"] for e in machine.entries[1:]] == [["c7", 3], ["c1", 1], ["c7", 3]]
    assert [(d, b.get("in_reply_to"), b.get("replies")) for d, b in fx.messages] == [
        ("c1", 1, None), ("n3", None, [[8, {"type": "write_ok"}]])]  # n3's: at the step's end
    assert machine.kv.values == {"1": 5}  # the late copy did not write 2 again


def test_the_leader_answers_a_forward_and_a_non_leader_refuses_one() -> None:
    machine = leader()
    ack(machine, "n2", 1)
    machine.step(rx("n3", {"type": "forward", "msg_id": 8, "boot": 4,
                           "request": {"type": "write", "key": 1, "value": 2}}), now_s=1.2)
    replicate(machine, 1.2)
    fx = ack(machine, "n2", 2)
    assert fx.messages == [("n3", {"type": "forward_ok", "replies": [[8, {"type": "write_ok"}]],
                                   "boot": 4, "msg_id": 9})]
    follower = booted()
    fx = follower.step(rx("n3", {"type": "forward", "msg_id": 8,
                                 "request": {"type": "read", "key": 1}}), now_s=0.1)
    [(_, refusal)] = fx.messages
    assert refusal["replies"][0][0] == 8
    assert refusal["replies"][0][1]["code"] == 11  # relayed at most once


def test_the_answers_to_one_followers_forwards_go_out_together() -> None:
    machine = leader()
    ack(machine, "n2", 1)
    for msg_id, value in ((8, 2), (9, 3)):
        machine.step(rx("n3", {"type": "forward", "msg_id": msg_id, "boot": 4, "client": None,
                               "request": {"type": "write", "key": 1, "value": value}}),
                     now_s=1.2)
    replicate(machine, 1.2)
    fx = ack(machine, "n2", 3)  # both commit in this step: one forward_ok to n3
    assert fx.messages == [("n3", {"type": "forward_ok", "boot": 4, "msg_id": 9, "replies": [
        [8, {"type": "write_ok"}], [9, {"type": "write_ok"}]]})]


def test_a_read_waits_for_a_round_a_majority_acknowledged_after_it_arrived() -> None:
    machine = leader()
    ack(machine, "n2", 1)  # the no-op committed: reads may be served
    assert machine.step(rx("c1", {"type": "read", "key": "k", "msg_id": 5}), now_s=1.2) == (
        Effects(timers=[SetTimer("expire", 0.5), SetTimer("replicate", 0.002)]))
    machine.step(rx("c2", {"type": "read", "key": "k", "msg_id": 6}), now_s=1.2)
    fx = replicate(machine, 1.21)
    assert {b["round"] for _, b in fx.messages} == {1}  # one round for both reads
    assert fx.messages and all(b["type"] == "append_entries" for _, b in fx.messages)
    old = ack(machine, "n3", 1, round_=0)  # an answer to a round before the reads
    assert old == Effects()
    fx = ack(machine, "n3", 1, round_=1)
    absent = {"type": "error", "code": 20, "text": 'key "k" does not exist'}
    assert fx.messages == [("c1", {**absent, "in_reply_to": 5, "msg_id": 9}),
                           ("c2", {**absent, "in_reply_to": 6, "msg_id": 10})]


def test_a_new_leaders_read_waits_for_its_no_op_to_commit() -> None:
    machine = leader(durable=log_of(1))  # term 2: entry 1 (k=1) of term 1, no-op at 2
    machine.step(rx("c1", {"type": "read", "key": "k", "msg_id": 5}), now_s=1.1)
    replicate(machine, 1.1)
    confirmed = machine.step(rx("n2", {"type": "append_entries_ok", "term": 2, "success": False,
                                       "hint": 2, "round": 1, "in_reply_to": 4}), now_s=1.2)
    assert all(d != "c1" for d, _ in confirmed.messages)  # leadership confirmed, no-op not
    fx = ack(machine, "n2", 2, round_=1)
    assert ("c1", {"type": "read_ok", "value": 1, "in_reply_to": 5,
                   "msg_id": fx.messages[0][1]["msg_id"]}) == fx.messages[0]


def test_a_malformed_request_is_answered_error_12() -> None:
    machine = booted()
    fx = machine.step(rx("c1", {"type": "cas", "key": 1, "from": 2, "msg_id": 5}), now_s=0)
    assert fx.messages[0][1]["code"] == 12
    assert "to" in fx.messages[0][1]["text"]


# -- the planted bugs, at the rule each breaks -----------------------------------------------------


def test_the_stale_read_bug_answers_from_local_state_even_on_a_follower() -> None:
    machine = booted(bug="stale-read", durable=log_of(1))
    machine.step(append(1, 1, 1, [], commit=1), now_s=0.1)
    fx = machine.step(rx("c1", {"type": "read", "key": "k", "msg_id": 5}), now_s=0.2)
    assert fx.messages == [("c1", {"type": "read_ok", "value": 1, "in_reply_to": 5,
                                   "msg_id": 2})]


def test_the_no_fsync_bug_acknowledges_entries_and_votes_it_never_synced() -> None:
    machine = booted(bug="no-fsync")
    fx = machine.step(append(1, 0, 0, [[1, WRITE]]), now_s=0.1)
    assert fx.persist and not fx.sync
    assert fx.messages[-1][1]["success"] is True
    vote = machine.step(vote_request(2, last_index=1, last_term=1), now_s=0.2)
    assert vote.persist == {"term": 2, "vote": "n2"} and not vote.sync


def test_the_double_vote_bug_grants_a_rival_of_the_same_term_and_forgets_its_vote() -> None:
    machine = booted(bug="double-vote", durable={"term": 1, "vote": "n3"})
    assert machine.voted_for is None  # forgotten on restart
    first = machine.step(vote_request(2, msg_id=3), now_s=0.1)
    assert first.persist == {"term": 2}  # the vote is never stored
    rival = machine.step(vote_request(2, msg_id=4, src="n3"), now_s=0.1)
    assert rival.messages[0][1]["vote_granted"] is True
    candidate = booted(bug="double-vote")
    candidate.step(Tick("election"), now_s=1.0)
    fx = candidate.step(vote_request(1, msg_id=4), now_s=1.0)
    assert fx.messages[0][1]["vote_granted"] is True  # even against itself


def test_the_no_log_check_bug_votes_for_a_candidate_missing_entries() -> None:
    machine = booted(bug="no-log-check", durable=log_of(1, 1, 1))
    fx = machine.step(pre_vote(5, last_index=0, last_term=0), now_s=0.1)
    assert fx.messages[0][1]["vote_granted"] is True  # pre-votes the same way
    fx = machine.step(vote_request(5, last_index=0, last_term=0), now_s=0.1)
    assert fx.messages[0][1]["vote_granted"] is True


def test_the_no_log_check_bug_stands_without_asking_for_pre_votes() -> None:
    machine = booted(bug="no-log-check", durable=log_of(1))
    fx = machine.step(Tick("election"), now_s=1.0)  # a Raft without pre-vote: term 2 at once
    assert fx.persist == {"term": 2, "vote": "n1"} and fx.sync
    assert [b["type"] for _, b in fx.messages] == ["request_vote", "request_vote"]
    assert fx.logs == [role(CANDIDATE, 2, None)]


def test_the_stale_read_bug_answers_even_on_a_leader_check_quorum_deposed() -> None:
    machine = leader(bug="stale-read")
    ack(machine, "n2", 1)
    machine.step(Tick("check-quorum"), now_s=1.3)
    machine.step(Tick("check-quorum"), now_s=1.6)  # nobody answered: deposed
    assert machine.role == FOLLOWER and machine.leader_id is None
    fx = machine.step(rx("c1", {"type": "read", "key": "k", "msg_id": 5}), now_s=1.7)
    assert [(b["type"], b.get("code")) for _, b in fx.messages] == [("error", 20)]  # served


def test_every_bug_is_declared_with_a_canary() -> None:
    assert sorted(SERVICE.bugs) == sorted(BUGS) == sorted(SERVICE.canaries)
    assert {c.workload for c in SERVICE.canaries.values()} == {"lin-kv"}


# -- the key-value map -------------------------------------------------------------------------


def test_keys_and_values_are_any_json_compared_by_canonical_text() -> None:
    kv = KvStore()
    assert kv.apply({"f": "write", "key": {"b": 1, "a": [1]}, "value": True}) == {
        "type": "write_ok"}
    assert kv.read({"a": [1], "b": 1}) == {"type": "read_ok", "value": True}
    assert kv.read("1")["code"] == 20 and kv.apply(
        {"f": "write", "key": 1, "value": 0}) == {"type": "write_ok"}
    assert kv.read("1")["code"] == 20  # 1 and "1" are different keys
    cas = {"f": "cas", "key": {"a": [1], "b": 1}, "from": 1, "to": 2, "create": False}
    assert kv.apply(cas)["code"] == 22  # true is not 1, whatever Python's == says
    assert kv.apply({**cas, "from": True}) == {"type": "cas_ok"}
    assert kv.apply(None) is None  # a no-op


def test_the_map_applies_each_clients_request_once() -> None:
    kv = KvStore()
    write = {"f": "write", "key": 1, "value": 1, "client": ["c1", 4]}
    assert kv.apply(write) == {"type": "write_ok"}
    assert kv.apply({**write, "value": 2, "client": ["c2", 1]}) == {"type": "write_ok"}
    assert kv.apply(write) is None  # again, later: a duplicate, not a write of 1
    assert kv.apply({**write, "client": ["c1", 3]}) is None  # an older one of c1's
    assert kv.values == {"1": 2} and kv.sessions == {"c1": 4, "c2": 1}
    assert canonical({"b": 1, "a": 2}) == '{"a":2,"b":1}'
