"""The txn machine (`node.services.txn`) fed literal events: sharding, prepare with locks, the
durable decision, aborts on conflict and on a missing vote, presumed abort after a restart,
and each planted bug's effect at the step where it breaks the protocol."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import pytest

from node.machine import Boot, Effects, Init, Receive, Tick
from node.protocol import MALFORMED_REQUEST, TXN_CONFLICT
from node.services.txn.core import Txn, owner
from node.services.txn.shard import Shard, key_id

NODES = ("n1", "n2")


def keys_of(node: str) -> list[int]:
    return [k for k in range(50) if owner(k, list(NODES)) == node]


K1, K1B = keys_of("n1")[:2]  # keys on n1's shard
K2 = keys_of("n2")[0]  # a key on n2's shard


def machine(node: str = "n1", *, bug: str | None = None,
            durable: Mapping[str, Any] | None = None) -> Txn:
    m = Txn(Boot(node, random.Random(1), bug=bug, durable=dict(durable or {})))
    m.step(Init(NODES), now_s=0.0)
    return m


def txn(mops: list[list[Any]], msg_id: int = 1, src: str = "c1") -> Receive:
    return Receive({"src": src, "dest": "n1",
                    "body": {"type": "txn", "msg_id": msg_id, "txn": mops}})


def from_node(src: str, body: dict[str, Any]) -> Receive:
    return Receive({"src": src, "dest": "n1", "body": {"msg_id": 99, **body}})


def sweeps(m: Txn, n: int) -> list[Effects]:
    return [m.step(Tick("sweep"), now_s=0.0) for _ in range(n)]


def test_owner_is_stable_and_spreads_keys() -> None:
    assert owner(1, ["n1", "n2"]) == owner(1, ["n1", "n2"])
    assert {owner(k, ["n1", "n2", "n3"]) for k in range(30)} == {"n1", "n2", "n3"}


def test_the_first_init_persists_the_boot_number_synced() -> None:
    m = Txn(Boot("n1", random.Random(1), durable={"boot": 4}))
    fx = m.step(Init(NODES), now_s=0.0)
    assert fx.persist == {"boot": 5} and fx.sync


def test_a_local_transaction_commits_in_one_step_with_the_decision_synced() -> None:
    m = machine()
    fx = m.step(txn([["append", K1, 7], ["r", K1, None]]), now_s=0.1)
    assert fx.sync
    assert fx.persist[f"data/{key_id(K1)}"] == [7]
    assert fx.persist["decision/n1/1/1"] == "commit"
    [(dest, body)] = fx.messages
    assert dest == "c1"
    assert body["type"] == "txn_ok"
    assert body["txn"] == [["append", K1, 7], ["r", K1, [7]]]


def test_a_remote_part_is_prepared_then_committed_when_all_vote_yes() -> None:
    m = machine()
    fx = m.step(txn([["r", K1, None], ["append", K2, 3]]), now_s=0.1)
    assert fx.sync  # our own part's prepared record
    [(dest, prepare)] = fx.messages
    assert (dest, prepare["type"], prepare["mops"]) == ("n2", "txn_prepare", [["append", K2, 3]])
    fx = m.step(from_node("n2", {"type": "txn_prepare_ok", "txid": prepare["txid"],
                                 "vote": True, "reads": [None]}), now_s=0.2)
    assert fx.sync and fx.persist[f"decision/{prepare['txid']}"] == "commit"
    sent = dict(fx.messages)
    assert sent["n2"] == {"type": "txn_decide", "txid": prepare["txid"], "outcome": "commit",
                          "msg_id": sent["n2"]["msg_id"]}
    assert sent["c1"]["txn"] == [["r", K1, None], ["append", K2, 3]]


def test_a_participant_votes_yes_with_its_reads_synced_then_applies_the_commit() -> None:
    m = machine("n2")
    fx = m.step(from_node("n1", {"type": "txn_prepare", "txid": "n1/1/1",
                                 "mops": [["append", K2, 3], ["r", K2, None]]}), now_s=0.1)
    assert fx.sync and fx.persist["prep/n1/1/1"]["coord"] == "n1"
    [(_, vote)] = fx.messages
    assert (vote["vote"], vote["reads"]) == (True, [None, [3]])
    fx = m.step(from_node("n1", {"type": "txn_decide", "txid": "n1/1/1", "outcome": "commit"}),
                now_s=0.2)
    assert fx.persist == {"prep/n1/1/1": None, f"data/{key_id(K2)}": [3]}
    assert not fx.sync  # the prepared record and the coordinator's decision can redo it


def test_a_conflicting_prepare_votes_no_and_the_client_gets_error_30() -> None:
    m = machine()
    m.step(txn([["r", K1, None], ["append", K2, 1]], msg_id=1), now_s=0.1)  # holds K1 shared
    fx = m.step(txn([["append", K1, 2]], msg_id=2, src="c2"), now_s=0.1)
    [(dest, body)] = fx.messages
    assert (dest, body["type"], body["code"]) == ("c2", "error", TXN_CONFLICT)
    fx = m.step(txn([["r", K1, None]], msg_id=3, src="c3"), now_s=0.1)  # shared: no conflict
    assert fx.messages[0][1]["type"] == "txn_ok"


def test_a_missing_vote_aborts_at_the_deadline_and_releases_the_locks() -> None:
    m = machine()
    fx = m.step(txn([["append", K1, 1], ["append", K2, 1]]), now_s=0.1)
    txid = fx.messages[0][1]["txid"]
    out = sweeps(m, 10)
    sent = [body for fx in out for _, body in fx.messages]
    assert [b["code"] for b in sent if b["type"] == "error"] == [TXN_CONFLICT]
    assert any(b.get("type") == "txn_decide" and b["outcome"] == "abort" for b in sent)
    assert txid not in m.pending
    assert m.shard.holders == {}
    assert m.outcome(txid) == "abort"


def test_malformed_transactions_get_error_12() -> None:
    m = machine()
    for bad in ([], [["x", 1, 2]], [["r", 1, 5]], [["append", [1], 2]]):
        fx = m.step(txn(bad), now_s=0.0)
        assert fx.messages[0][1]["code"] == MALFORMED_REQUEST, bad


def test_after_a_restart_a_participant_in_doubt_asks_and_the_coordinator_presumes_abort() -> None:
    participant = machine("n2", durable={"prep/n1/1/9": {
        "coord": "n1", "mops": [["append", K2, 5]], "reads": [None],
        "locks": {key_id(K2): "x"}}})
    assert participant.shard.holders == {key_id(K2): {"n1/1/9": "x"}}
    [fx] = sweeps(participant, 1)
    assert ("n1", {"type": "txn_status", "txid": "n1/1/9", "msg_id": fx.messages[0][1]["msg_id"]}
            ) in fx.messages
    coordinator = machine("n1", durable={"boot": 1})  # boot 2: it never decided n1/1/9
    assert coordinator.outcome("n1/1/9") == "abort"
    durable_commit = machine("n1", durable={"boot": 1, "decision/n1/1/9": "commit"})
    assert durable_commit.outcome("n1/1/9") == "commit"
    participant.step(from_node("n1", {"type": "txn_status_ok", "txid": "n1/1/9",
                                      "outcome": "commit"}), now_s=1.0)
    assert participant.shard.data[key_id(K2)] == [5] and participant.shard.holders == {}


def test_a_duplicate_prepare_after_the_commit_is_refused() -> None:
    shard = Shard.load({"prep/n1/1/1": None})
    vote, writes = shard.prepare("n1/1/1", "n1", [["append", 1, 2]])
    assert not vote.is_yes and writes == {}


def test_early_unlock_holds_no_lock_after_prepare() -> None:
    shard = Shard(bug="early-unlock")
    assert shard.prepare("a", "n1", [["append", 1, 1]])[0].is_yes
    assert shard.holders == {}
    assert shard.prepare("b", "n1", [["append", 1, 2]])[0].is_yes  # interleaves with a


def test_read_uncommitted_reads_a_prepared_write() -> None:
    shard = Shard(bug="read-uncommitted")
    shard.prepare("a", "n1", [["append", 1, 1]])
    vote, _ = shard.prepare("b", "n1", [["r", 1, None]])
    assert vote.is_yes and vote.reads == [[1]]
    correct = Shard()
    correct.prepare("a", "n1", [["append", 1, 1]])
    assert not correct.prepare("b", "n1", [["r", 1, None]])[0].is_yes


def test_volatile_decision_acts_before_the_decision_is_written() -> None:
    m = machine(bug="volatile-decision")
    fx = m.step(txn([["r", K1, None], ["append", K2, 3]]), now_s=0.1)
    txid = fx.messages[0][1]["txid"]
    fx = m.step(from_node("n2", {"type": "txn_prepare_ok", "txid": txid, "vote": True,
                                 "reads": [None]}), now_s=0.2)
    assert f"decision/{txid}" not in fx.persist and not fx.sync
    assert {dest for dest, _ in fx.messages} == {"n1", "n2", "c1"} - {"n1"}
    held = sweeps(m, 59)  # 0.05 s each: the decision is held for decision_flush_s, 3 s
    assert not [fx for fx in held if f"decision/{txid}" in fx.persist]
    (written,) = sweeps(m, 1)
    assert f"decision/{txid}" in written.persist and written.sync  # three seconds later


@pytest.mark.parametrize("bug", [None, "early-unlock", "read-uncommitted", "volatile-decision"])
def test_every_variant_serves_a_transaction(bug: str | None) -> None:
    m = machine(bug=bug)
    fx = m.step(txn([["w", K1B, 4], ["r", K1B, None]]), now_s=0.0)
    assert fx.messages[-1][1]["txn"] == [["w", K1B, 4], ["r", K1B, 4]]
