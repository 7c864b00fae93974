"""The log machine (`node.services.log.core.Log`) fed literal events, with literal effects:
a send logged, replicated, synced, committed by a majority and only then acknowledged with its
entry's index as the offset; polls and committed-offset lists served by read index, never
from the uncommitted tail; requests relayed to the leader and given up when it goes; a
restarted node rebuilding its logs from the Raft log; malformed requests; and each planted bug
at the rule it breaks. The replicated state (`logs.Logs`) on literal commands. Raft itself
(elections, the commit rule, read rounds) is tested in test_raft_machine.py; the core is the
same, so here it only carries the log's requests."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import pytest

from node.machine import Boot, Effects, Init, Receive, SetTimer, Tick
from node.protocol import CRASH, MALFORMED_REQUEST, NOT_SUPPORTED, TEMPORARILY_UNAVAILABLE
from node.services.log import SERVICE
from node.services.log.core import (
    ACK_BEFORE_REPLICATE,
    BUGS,
    LOCAL_OFFSETS,
    VOLATILE_COMMITS,
    Log,
)
from node.services.log.logs import Logs
from node.services.raft.core import FOLLOWER, LEADER

NODES = ("n1", "n2", "n3")


def rx(src: str, body: dict[str, Any]) -> Receive:
    return Receive({"src": src, "dest": "n1", "body": body})


def send(key: str, msg: Any, msg_id: int, *, src: str = "c1") -> Receive:
    return rx(src, {"type": "send", "key": key, "msg": msg, "msg_id": msg_id})


def booted(*, durable: Mapping[str, Any] | None = None, bug: str | None = None,
           params: Mapping[str, Any] | None = None) -> Log:
    machine = Log(Boot("n1", random.Random(1), bug=bug, durable=durable or {},
                       params=params or {}))
    machine.step(Init(NODES), now_s=0.0)
    return machine


def leader(*, bug: str | None = None, params: Mapping[str, Any] | None = None) -> Log:
    """n1 leading term 1 (n2's pre-vote and vote), its no-op (entry 1) synced and committed
    by n2."""
    machine = booted(bug=bug, params=params)
    machine.step(Tick("election"), now_s=1.0)
    machine.step(rx("n2", {"type": "pre_vote_ok", "term": 1, "vote_granted": True,
                           "in_reply_to": 1}), now_s=1.0)
    machine.step(rx("n2", {"type": "request_vote_ok", "term": 1, "vote_granted": True,
                           "in_reply_to": 3}), now_s=1.0)
    machine.step(Tick("sync"), now_s=1.0)
    ack(machine, "n2", 1)
    assert machine.role == LEADER and machine.commit_index == 1
    return machine


def follower(*, bug: str | None = None) -> Log:
    """n1 following n2 in term 1, its log holding n2's no-op (committed)."""
    machine = booted(bug=bug)
    machine.step(rx("n2", {"type": "append_entries", "term": 1, "prev_log_index": 0,
                           "prev_log_term": 0, "entries": [[1, None]], "leader_commit": 1,
                           "round": 0, "msg_id": 1}), now_s=0.1)
    assert machine.leader_id == "n2" and machine.commit_index == 1
    return machine


def ack(machine: Log, src: str, match: int, *, round_: int = 0) -> Effects:
    return machine.step(rx(src, {"type": "append_entries_ok", "term": machine.term,
                                 "success": True, "match_index": match, "round": round_,
                                 "in_reply_to": 1}), now_s=1.1)


def entry(key: str, msg: Any, client: list[Any]) -> list[Any]:
    return [1, {"f": "send", "key": key, "msg": msg, "client": client}]


def test_the_service_declares_each_bug_with_a_canary_run_of_the_kafka_workload() -> None:
    assert SERVICE.machine is Log and SERVICE.bugs == BUGS and SERVICE.needs_storage
    assert {bug: (c.scenario, c.workload) for bug, c in SERVICE.canaries.items()} == {
        ACK_BEFORE_REPLICATE: ("leader-kill", "kafka"),
        LOCAL_OFFSETS: ("partition-heal", "kafka"),
        VOLATILE_COMMITS: ("kill-restart", "kafka"),
    }


# -- the replicated state ----------------------------------------------------------------------


def test_a_message_is_at_its_entrys_index_and_polls_return_offset_order_from_the_asked() -> None:
    logs = Logs(poll_max=2)
    assert logs.apply({"f": "send", "key": "a", "msg": "x"}, index=3) == {
        "type": "send_ok", "offset": 3}
    logs.apply({"f": "send", "key": "b", "msg": "y"}, index=4)  # offsets are sparse per key
    logs.apply({"f": "send", "key": "a", "msg": "z"}, index=5)
    logs.apply({"f": "send", "key": "a", "msg": {"any": ["json"]}}, index=9)
    assert logs.query({"f": "poll", "offsets": {"a": 0, "b": 5, "c": 0}}) == {
        "type": "poll_ok", "msgs": {"a": [[3, "x"], [5, "z"]]}}  # at most 2; none: left out
    assert logs.query({"f": "poll", "offsets": {"a": 4}})["msgs"] == {
        "a": [[5, "z"], [9, {"any": ["json"]}]]}  # from the first offset at or after 4
    assert logs.last_offset("a") == 9 and logs.last_offset("c") == 0


def test_committed_offsets_only_move_forward_and_unknown_keys_are_left_out() -> None:
    logs = Logs()
    assert logs.apply({"f": "commit", "offsets": {"a": 5, "b": 2}}, index=1) == {
        "type": "commit_offsets_ok"}
    logs.apply({"f": "commit", "offsets": {"a": 3, "b": 4}}, index=2)  # a lagging consumer
    assert logs.query({"f": "list", "keys": ["a", "b", "c"]}) == {
        "type": "list_committed_offsets_ok", "offsets": {"a": 5, "b": 4}}


def test_a_request_applied_twice_from_one_client_counts_once() -> None:
    logs = Logs()
    command = {"f": "send", "key": "a", "msg": 1, "client": ["c1", 4]}
    assert logs.apply(command, index=2) == {"type": "send_ok", "offset": 2}
    assert logs.apply(command, index=3) is None  # a duplicated forward, logged twice
    assert logs.apply({**command, "client": ["c1", 3]}, index=4) is None  # older still
    assert logs.apply(None, index=5) is None  # a leader's no-op
    assert logs.query({"f": "poll", "offsets": {"a": 0}})["msgs"] == {"a": [[2, 1]]}
    assert logs.sessions == {"c1": 4}


def test_a_command_naming_its_offset_replaces_the_message_there() -> None:
    logs = Logs()  # only the local-offsets bug's nodes name offsets
    logs.apply({"f": "send", "key": "a", "msg": "first", "offset": 1}, index=5)
    logs.apply({"f": "send", "key": "a", "msg": "third", "offset": 3}, index=6)
    assert logs.apply({"f": "send", "key": "a", "msg": "second", "offset": 1}, index=7) == {
        "type": "send_ok", "offset": 1}
    assert logs.query({"f": "poll", "offsets": {"a": 0}})["msgs"] == {
        "a": [[1, "second"], [3, "third"]]}


# -- requests at the leader ---------------------------------------------------------------------


def test_a_client_cannot_choose_its_offset() -> None:
    machine = leader()
    machine.step(rx("c1", {"type": "send", "key": "a", "msg": 7, "offset": 1, "msg_id": 1}),
                 now_s=1.1)
    assert machine.entries[-1] == (1, {"f": "send", "key": "a", "msg": 7,
                                       "client": ["c1", 1]})


def test_a_send_is_acknowledged_with_its_index_only_once_a_majority_synced_it() -> None:
    machine = leader()
    fx = machine.step(send("a", 7, 1), now_s=1.1)
    logged = entry("a", 7, ["c1", 1])
    assert fx == Effects(persist={"log/2": logged, "last_index": 2},  # memory only, for now
                         timers=[SetTimer("replicate", 0.002)])
    batch = {"type": "append_entries", "term": 1, "prev_log_index": 1, "prev_log_term": 1,
             "entries": [logged], "leader_commit": 1, "round": 0}
    assert machine.step(Tick("replicate"), now_s=1.2) == Effects(
        messages=[("n2", {**batch, "msg_id": 7}), ("n3", {**batch, "msg_id": 8})],
        timers=[SetTimer("sync", 0.0)])
    assert machine.step(Tick("sync"), now_s=1.2) == Effects(sync=True)  # no answer yet
    assert ack(machine, "n2", 2) == Effects(messages=[
        ("c1", {"type": "send_ok", "offset": 2, "in_reply_to": 1, "msg_id": 9})])


def test_a_poll_waits_for_a_read_round_and_never_sees_the_uncommitted_tail() -> None:
    machine = leader()
    machine.step(send("a", 7, 1), now_s=1.1)
    machine.step(Tick("replicate"), now_s=1.2)
    machine.step(Tick("sync"), now_s=1.2)
    ack(machine, "n2", 2)  # offset 2 committed
    machine.step(send("a", 8, 2), now_s=1.3)  # entry 3: appended, not committed
    assert machine.step(rx("c2", {"type": "poll", "offsets": {"a": 0}, "msg_id": 1}),
                        now_s=1.3).messages == []
    fx = machine.step(Tick("replicate"), now_s=1.4)
    assert [b["round"] for _, b in fx.messages] == [1, 1]  # a round for the poll
    assert ack(machine, "n3", 1, round_=1).messages == [
        ("c2", {"type": "poll_ok", "msgs": {"a": [[2, 7]]}, "in_reply_to": 1, "msg_id": 12})]


def test_committed_offsets_are_logged_and_listed_by_read_index() -> None:
    machine = leader()
    fx = machine.step(rx("c1", {"type": "commit_offsets", "offsets": {"a": 4},
                                "msg_id": 1}), now_s=1.1)
    assert fx.persist == {"log/2": [1, {"f": "commit", "offsets": {"a": 4},
                                        "client": ["c1", 1]}], "last_index": 2}
    machine.step(rx("c2", {"type": "list_committed_offsets", "keys": ["a", "b"],
                           "msg_id": 1}), now_s=1.1)
    machine.step(Tick("replicate"), now_s=1.2)
    machine.step(Tick("sync"), now_s=1.2)
    fx = ack(machine, "n2", 2, round_=1)
    assert fx.messages == [
        ("c1", {"type": "commit_offsets_ok", "in_reply_to": 1, "msg_id": 9}),
        ("c2", {"type": "list_committed_offsets_ok", "offsets": {"a": 4}, "in_reply_to": 1,
                "msg_id": 10})]


@pytest.mark.parametrize(("body", "code"), [
    ({"type": "send", "key": 1, "msg": 2}, MALFORMED_REQUEST),  # keys are strings
    ({"type": "send", "key": "a"}, MALFORMED_REQUEST),
    ({"type": "poll", "offsets": {"a": "0"}}, MALFORMED_REQUEST),
    ({"type": "poll", "offsets": {"a": True}}, MALFORMED_REQUEST),
    ({"type": "commit_offsets", "offsets": [["a", 1]]}, MALFORMED_REQUEST),
    ({"type": "list_committed_offsets", "keys": "a"}, MALFORMED_REQUEST),
    ({"type": "read", "key": "a"}, NOT_SUPPORTED),  # lin-kv's, not ours
])
def test_a_malformed_or_unknown_request_is_refused_definitely(body: dict[str, Any],
                                                                 code: int) -> None:
    machine = leader()
    fx = machine.step(rx("c1", {**body, "msg_id": 3}), now_s=1.1)
    assert [(dest, b["type"], b["code"], b["in_reply_to"]) for dest, b in fx.messages] == [
        ("c1", "error", code, 3)]
    assert machine.last_index == 1  # nothing logged


# -- followers -----------------------------------------------------------------------------------


def test_a_follower_relays_requests_and_gives_them_up_when_its_leader_goes() -> None:
    machine = follower()
    fx = machine.step(send("a", 7, 4), now_s=0.2)
    assert fx.messages == [("n2", {"type": "forward", "request": {"type": "send", "key": "a",
                                                                  "msg": 7},
                                   "client": ["c1", 4], "boot": 1, "msg_id": 2})]
    machine.step(rx("c2", {"type": "poll", "offsets": {"a": 0}, "msg_id": 9}), now_s=0.2)
    fx = machine.step(Tick("election"), now_s=1.0)  # n2 went quiet: we stand
    answers = [(dest, b["type"], b.get("code")) for dest, b in fx.messages
               if dest.startswith("c")]
    assert answers == [("c1", "error", CRASH),  # the send may still commit: indefinite
                       ("c2", "error", TEMPORARILY_UNAVAILABLE)]  # a poll changed nothing


def test_a_restarted_node_rebuilds_its_logs_and_offsets_from_the_raft_log() -> None:
    durable = {"term": 1, "last_index": 3, "log/1": [1, None],
               "log/2": entry("a", "x", ["c1", 1]),
               "log/3": [1, {"f": "commit", "offsets": {"a": 2}, "client": ["c1", 2]}]}
    machine = booted(durable=durable)
    assert machine.state.offsets == {}  # the commit index is relearnt, not stored
    machine.step(rx("n2", {"type": "append_entries", "term": 1, "prev_log_index": 3,
                           "prev_log_term": 1, "entries": [], "leader_commit": 3,
                           "round": 0, "msg_id": 1}), now_s=0.1)
    assert machine.state.query({"f": "poll", "offsets": {"a": 0}})["msgs"] == {"a": [[2, "x"]]}
    assert machine.state.committed == {"a": 2}
    assert machine.status() == {"role": FOLLOWER, "term": 1, "commit_index": 3,
                                "leader": "n2", "last_index": 3}


# -- the planted bugs ----------------------------------------------------------------------------


def test_ack_before_replicate_answers_at_the_append_and_ships_entries_late() -> None:
    machine = leader(bug=ACK_BEFORE_REPLICATE)
    fx = machine.step(send("a", 7, 1), now_s=1.1)
    logged = entry("a", 7, ["c1", 1])
    assert fx == Effects(
        persist={"log/2": logged, "last_index": 2},
        sync=False,  # not even on our own disk
        messages=[("c1", {"type": "send_ok", "offset": 2, "in_reply_to": 1, "msg_id": 7})],
        timers=[SetTimer("ship", 0.5), SetTimer("replicate", 0.002)])
    machine.step(send("a", 8, 2), now_s=1.11)  # acknowledged too; the ship timer stands
    fx = machine.step(Tick("replicate"), now_s=1.12)
    assert fx == Effects(timers=[SetTimer("sync", 0.0)])  # nothing for the followers yet
    fx = machine.step(Tick("heartbeat"), now_s=1.2)
    assert [b["entries"] for _, b in fx.messages] == [[], []]  # heartbeats carry none
    assert machine.step(Tick("ship"), now_s=1.6) == Effects(timers=[SetTimer("replicate", 0.002)])
    fx = machine.step(Tick("replicate"), now_s=1.6)
    assert [b["entries"] for _, b in fx.messages] == [[logged, entry("a", 8, ["c1", 2])]] * 2
    assert ack(machine, "n2", 3) == Effects()  # committed at last: answered long ago
    committed = leader(bug=ACK_BEFORE_REPLICATE)
    fx = committed.step(rx("c1", {"type": "commit_offsets", "offsets": {"a": 1},
                                  "msg_id": 1}), now_s=1.1)
    assert fx.messages == []  # the bug is in sends only


def test_local_offsets_are_picked_by_the_node_a_send_reaches() -> None:
    machine = follower(bug=LOCAL_OFFSETS)
    fx = machine.step(send("a", 7, 1), now_s=0.2)
    assert fx.messages[0][1]["request"] == {"type": "send", "key": "a", "msg": 7, "offset": 1}
    fx = machine.step(send("a", 8, 2), now_s=0.2)
    assert fx.messages[0][1]["request"]["offset"] == 2  # one past what it gave itself
    # Another node gives offset 1 too; the leader logs both, and they collide at apply.
    other = leader(bug=LOCAL_OFFSETS)
    other.step(send("a", 9, 1, src="c2"), now_s=1.1)
    assert other.entries[-1] == (1, {"f": "send", "key": "a", "msg": 9, "offset": 1,
                                     "client": ["c2", 1]})


def test_volatile_commits_are_answered_from_the_leaders_memory_and_lost_with_it() -> None:
    machine = leader(bug=VOLATILE_COMMITS)
    fx = machine.step(rx("c1", {"type": "commit_offsets", "offsets": {"a": 4},
                                "msg_id": 1}), now_s=1.1)
    assert fx == Effects(
        messages=[("c1", {"type": "commit_offsets_ok", "in_reply_to": 1, "msg_id": 7})],
        timers=[SetTimer("replicate", 0.002)])  # the core's, for whatever it took: harmless
    assert machine.last_index == 1  # not logged: no other node will ever know
    machine.step(rx("c1", {"type": "list_committed_offsets", "keys": ["a"], "msg_id": 2}),
                 now_s=1.1)
    machine.step(Tick("replicate"), now_s=1.2)
    assert ack(machine, "n2", 1, round_=1).messages[0][1]["offsets"] == {"a": 4}
    restarted = leader(bug=VOLATILE_COMMITS)  # the same node after a restart
    assert restarted.answer_query({"f": "list", "keys": ["a"]})["offsets"] == {}
