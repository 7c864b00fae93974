"""The services a cluster offers (node/cluster_services.py), fed literal requests.

lin-kv's answers are judged by the project's linearizability checker; seq-kv must never go
backwards for one caller and must sometimes be stale across callers; lww-kv's replicas merge
by stamp and converge; lin-tso counts up; the host answers in Maelstrom's envelope.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from checker.history import Op
from checker.linearizability import check
from node.cluster_services import (
    SERVICE_IDS,
    KvServices,
    LinTso,
    LwwKv,
    LwwReplica,
    SeqKv,
    Stamped,
    kv_step,
    service_grudge,
    service_home,
)


def rd(key: Any) -> dict[str, Any]:
    return {"type": "read", "key": key}


def wr(key: Any, value: Any) -> dict[str, Any]:
    return {"type": "write", "key": key, "value": value}


def cas(key: Any, frm: Any, to: Any, **extra: Any) -> dict[str, Any]:
    return {"type": "cas", "key": key, "from": frm, "to": to, **extra}


CASES = [
    # (map before, request, map after or None when unchanged, reply)
    ({}, rd("x"), None, {"type": "error", "code": 20, "text": "key does not exist"}),
    ({'"x"': 1}, rd("x"), None, {"type": "read_ok", "value": 1}),
    ({}, wr("x", 1), {'"x"': 1}, {"type": "write_ok"}),
    ({'"x"': 1}, wr("x", 1), None, {"type": "write_ok"}),
    ({'"x"': 1}, cas("x", 1, 2), {'"x"': 2}, {"type": "cas_ok"}),
    ({}, cas("x", 1, 2), None, {"type": "error", "code": 20, "text": "key does not exist"}),
    ({}, cas("x", 0, 2, create_if_not_exists=True), {'"x"': 2}, {"type": "cas_ok"}),
    ({'"x"': 1}, cas("x", 1.0, 2), None,
     {"type": "error", "code": 22, "text": "current value 1 is not 1.0"}),
    ({"1": [1, 2]}, rd(1), None, {"type": "read_ok", "value": [1, 2]}),  # any JSON key
]


@pytest.mark.parametrize(("before", "request_body", "after", "reply"), CASES)
def test_kv_step(before: dict[str, Any], request_body: dict[str, Any],
                 after: dict[str, Any] | None, reply: dict[str, Any]) -> None:
    snapshot = dict(before)
    assert kv_step(before, request_body) == (after, reply)
    assert before == snapshot  # pure


def envelope(src: str, service: str, body: dict[str, Any], msg_id: int = 1) -> dict[str, Any]:
    return {"src": src, "dest": service, "body": {**body, "msg_id": msg_id}}


def test_the_host_answers_in_maelstroms_envelope() -> None:
    services = KvServices(seed=1)
    reply = services.handle("lin-kv", envelope("n1", "lin-kv", wr("k", 3), msg_id=7))
    assert reply == {"src": "lin-kv", "dest": "n1", "body": {"type": "write_ok", "in_reply_to": 7}}
    malformed = services.handle("seq-kv", envelope("n2", "seq-kv", {"type": "write", "key": 1}))
    assert malformed is not None
    assert malformed["body"]["code"] == 12
    assert services.handle("lin-kv", envelope("n1", "lin-kv", {"type": "frobnicate"})) is None
    assert services.handle_json("lin-tso", b"not json") is None
    request = '{"src": "n1", "body": {"type": "ts", "msg_id": 2}}'
    assert services.handle_json("lin-tso", request) == (
        "n1", '{"src":"lin-tso","dest":"n1","body":{"type":"ts_ok","ts":0,"in_reply_to":2}}'
    )
    assert services.statistics().unanswered == 2
    assert set(SERVICE_IDS) == {"seq-kv", "lin-kv", "lww-kv", "lin-tso"}


# -- lin-kv: linearizable, as the checker judges it ------------------------------------------


def lin_kv_history(seed: int, *, ops_total: int = 300) -> list[Op]:
    """Concurrent callers against lin-kv: each call is invoked, applied at some later instant,
    and completed later still, in a seeded interleaving; recorded as our lin-kv histories."""
    rng = random.Random(seed)
    services = KvServices(seed=seed)
    history: list[Op] = []
    pending: dict[int, tuple[str, Any, dict[str, Any] | None]] = {}  # process -> (f, value, reply)
    stage: dict[int, str] = {}
    done = 0

    def record(kind: str, process: int, f: str, value: Any) -> None:
        history.append(Op(type=kind, process=process, f=f, value=value, time=len(history),
                          index=len(history)))

    while done < ops_total or pending:
        process = rng.randrange(4)
        if process not in pending:
            if done >= ops_total:
                continue
            key = rng.randrange(2)
            f = rng.choice(["read", "write", "cas"])
            v1, v2 = rng.randrange(3), rng.randrange(3)
            value: Any = [key, None] if f == "read" else [key, v1] if f == "write" else [
                key, [v1, v2]]
            pending[process] = (f, value, None)
            stage[process] = "invoked"
            record("invoke", process, f, value)
            done += 1
        elif stage[process] == "invoked":
            f, value, _ = pending[process]
            key = value[0]
            body = rd(key) if f == "read" else wr(key, value[1]) if f == "write" else cas(
                key, value[1][0], value[1][1])
            reply = services.handle("lin-kv", envelope(f"n{process}", "lin-kv", body))
            assert reply is not None
            pending[process] = (f, value, reply["body"])
            stage[process] = "applied"
        else:
            f, value, body = pending.pop(process)
            assert body is not None
            if body["type"] == "error":
                record("fail", process, f, value)
            elif f == "read":
                record("ok", process, f, [value[0], body["value"]])
            else:
                record("ok", process, f, value)
    return history


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_lin_kv_is_linearizable(seed: int) -> None:
    history = lin_kv_history(seed)
    assert sum(op.type == "ok" for op in history) >= 100
    assert check(history, "kv")["valid"] is True


def test_the_checker_sees_a_wrong_lin_kv_answer() -> None:
    """The canary: change one ok read's value and the same history is not linearizable."""
    history = lin_kv_history(1)
    reads = [i for i, op in enumerate(history) if op.type == "ok" and op.f == "read"]
    i = reads[len(reads) // 2]
    op = history[i]
    history[i] = Op(type="ok", process=op.process, f="read", value=[op.value[0], 99],
                    time=op.time, index=op.index)
    assert check(history, "kv")["valid"] is False


# -- seq-kv: monotonic for each caller, stale across callers ---------------------------------


def test_seq_kv_never_goes_backwards_for_a_caller_and_is_sometimes_stale() -> None:
    seq = SeqKv(random.Random(5))
    written = 0
    seen: dict[str, list[int]] = {"n2": [], "n3": []}
    stale = 0
    for step in range(400):
        if step % 3 == 0:
            written += 1
            assert seq.handle("n1", wr("x", written)) == {"type": "write_ok"}
            # A caller reads its own write: its view moved to the newest state.
            assert seq.handle("n1", rd("x")) == {"type": "read_ok", "value": written}
        reader = "n2" if step % 2 else "n3"
        reply = seq.handle(reader, rd("x"))
        value = reply["value"] if reply["type"] == "read_ok" else 0
        assert not seen[reader] or value >= seen[reader][-1], (reader, seen[reader][-5:], value)
        seen[reader].append(value)
        stale += value < written
    assert stale > 20, "seq-kv should answer stale reads, seeded"
    assert seq.stale_answers >= stale


def test_seq_kv_applies_a_change_to_the_newest_state() -> None:
    """A cas from a stale value fails even when a stale read showed that value."""
    seq = SeqKv(random.Random(1))
    seq.handle("n1", wr("x", 1))
    seq.handle("n1", wr("x", 2))
    assert seq.handle("n2", cas("x", 1, 5))["code"] == 22
    assert seq.handle("n2", cas("x", 2, 5)) == {"type": "cas_ok"}
    assert seq.handle("n2", rd("x")) == {"type": "read_ok", "value": 5}


def test_seq_kv_forgets_sessions_without_going_backwards() -> None:
    seq = SeqKv(random.Random(2), sessions_max=2)
    seq.handle("n1", wr("x", 1))
    seq.handle("n1", wr("x", 2))
    seq.handle("n2", rd("x"))
    seq.handle("n3", rd("x"))  # the table is full: everyone is forgotten
    assert seq.floor_index == seq.newest_index
    for _ in range(20):
        assert seq.handle("n1", rd("x")) == {"type": "read_ok", "value": 2}


# -- lww-kv ------------------------------------------------------------------------------------


def test_lww_merge_keeps_the_greater_stamp_then_the_greater_value() -> None:
    a = LwwReplica(3, {'"x"': Stamped(2, "a"), '"y"': Stamped(1, 1)})
    b = LwwReplica(5, {'"x"': Stamped(4, "b"), '"y"': Stamped(1, 2), '"z"': Stamped(0, 0)})
    a.merge(b)
    assert a.clock == 5
    assert a.data == {'"x"': Stamped(4, "b"), '"y"': Stamped(1, 2), '"z"': Stamped(0, 0)}


def test_lww_kv_replicas_converge_on_one_written_value() -> None:
    lww = LwwKv(random.Random(3))
    for value in range(10):
        assert lww.handle("n1", wr("x", value)) == {"type": "write_ok"}
    for _ in range(300):
        lww.handle("n2", rd("nothing"))  # each request also merges two replicas
    finals = {str(r.data.get('"x"')) for r in lww.replicas}
    assert len(finals) == 1, finals
    reply = lww.handle("n3", rd("x"))
    assert reply["type"] == "read_ok"
    assert reply["value"] in range(10)


# -- lin-tso -----------------------------------------------------------------------------------


def test_lin_tso_is_strictly_increasing_across_callers() -> None:
    tso = LinTso()
    stamps = [tso.handle(f"n{i % 3}", {"type": "ts"})["ts"] for i in range(50)]
    assert stamps == list(range(50))


# -- where the services stand in a partition ---------------------------------------------------

NODES = ["n1", "n2", "n3", "n4", "n5"]
MAJORITY_MINORITY = {  # n1 n2 | n3 n4 n5
    "n1": frozenset({"n3", "n4", "n5"}), "n2": frozenset({"n3", "n4", "n5"}),
    "n3": frozenset({"n1", "n2"}), "n4": frozenset({"n1", "n2"}), "n5": frozenset({"n1", "n2"}),
}


def test_the_services_stand_with_the_majority() -> None:
    assert service_home(MAJORITY_MINORITY, NODES) == "n3"
    assert service_home({}, NODES) == "n1"
    grudge = service_grudge(MAJORITY_MINORITY, NODES, ["seq-kv"])
    assert grudge == {
        **MAJORITY_MINORITY,
        "n1": frozenset({"n3", "n4", "n5", "seq-kv"}),
        "n2": frozenset({"n3", "n4", "n5", "seq-kv"}),
        "seq-kv": frozenset({"n1", "n2"}),
    }


def test_no_partition_cuts_no_service() -> None:
    assert service_grudge({}, NODES, SERVICE_IDS) == {}
    assert service_grudge({"n1": frozenset()}, NODES, SERVICE_IDS) == {"n1": frozenset()}
