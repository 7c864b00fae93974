"""The client's rules: a new process id after `info`, how a reply (or none) becomes a
completion, the history a `Recorder` writes (all without sockets), and, over loopback with a
bare ROUTER standing in for the proxy, that replies nobody waits for are counted."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
import trio
import zmq

from chaos.clients import (
    ClientIds,
    ClientStatistics,
    Recorder,
    RequestTimeout,
    execute,
    next_process,
    open_client,
)
from node import wire
from scenarios.workloads import get_workload

NO_REPLIES_DROPPED = {"unmatched_replies": 0, "garbage_replies": 0}
WAIT_S = 10.0


@pytest.mark.parametrize(
    ("outcome", "after"),
    [("ok", 2), ("fail", 2), ("info", 5)],
)
def test_only_info_retires_a_process(outcome: str, after: int) -> None:
    assert next_process(2, outcome, 3) == after


def test_process_ids_are_never_reused_or_shared() -> None:
    concurrency = 4
    rng = random.Random(1)
    seen: dict[int, int] = {}  # process -> the worker that ran as it
    for worker in range(concurrency):
        process = worker
        for _ in range(200):
            seen.setdefault(process, worker)
            assert seen[process] == worker
            process = next_process(process, rng.choice(["ok", "fail", "info"]), concurrency)
    assert all(p % concurrency == w for p, w in seen.items())


def test_a_completion_that_is_not_one_is_refused() -> None:
    with pytest.raises(AssertionError, match="not a completion"):
        next_process(0, "invoke", 3)


def test_client_ids_are_never_reused() -> None:
    ids = ClientIds()
    assert [ids.take() for _ in range(3)] == ["c1", "c2", "c3"]  # c0 is the admin client


class FakeClient:
    """An `RpcClient` with canned replies; None means the reply never came."""

    def __init__(self, *replies: dict[str, Any] | None) -> None:
        self.replies = list(replies)
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def call(self, dest: str, body: dict[str, Any], *, timeout_s: float) -> dict[str, Any]:
        self.sent.append((dest, body))
        reply = self.replies.pop(0)
        if reply is None:
            raise RequestTimeout(f"no reply from {dest} within {timeout_s} s")
        return reply


def _ops(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize(
    ("f", "value", "reply", "expected"),
    [
        ("broadcast", 7, {"type": "broadcast_ok"}, ("ok", 7, None)),
        ("broadcast", 7, None, ("info", 7, "timeout")),  # may still take effect
        ("read", None, None, ("fail", None, "timeout")),  # a read changed nothing
        ("read", None, {"type": "read_ok", "messages": [1, 2]}, ("ok", [1, 2], None)),
    ],
)
async def test_execute_records_the_invocation_and_its_completion(
    tmp_path: Path, f: str, value: Any, reply: dict[str, Any] | None,
    expected: tuple[str, Any, Any],
) -> None:
    recorder = Recorder(tmp_path / "history.jsonl", epoch_ns=0, now_ns=lambda: 5)
    client: Any = FakeClient(reply)
    outcome = await execute(client, "n2", 3, f, value, workload=get_workload("broadcast"),
                            recorder=recorder, timeout_s=0.5)
    recorder.close()
    assert outcome == expected[0]
    invoke, completion = _ops(tmp_path / "history.jsonl")
    assert invoke == {"index": 0, "time": 5, "type": "invoke", "process": 3, "f": f,
                      "value": value, "node": "n2"}
    assert (completion["type"], completion["value"], completion.get("error")) == expected
    assert completion["process"] == 3
    assert client.sent[0][0] == "n2"
    assert recorder.counts == {"invoke": 1, "ok": 0, "fail": 0, "info": 0} | {
        expected[0]: 1
    } | NO_REPLIES_DROPPED


def test_the_recorder_appends_whole_lines_and_counts_clients_only(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    times = iter([10, 20, 30])
    recorder = Recorder(path, epoch_ns=0, now_ns=lambda: next(times))
    recorder.record("invoke", 0, "read", None, node="n1")
    recorder.record("invoke", "nemesis", "heal", None)
    recorder.record("ok", 0, "read", [1], node="n1", final=True)
    recorder.close()
    assert _ops(path) == [
        {"index": 0, "time": 10, "type": "invoke", "process": 0, "f": "read", "value": None,
         "node": "n1"},
        {"index": 1, "time": 20, "type": "invoke", "process": "nemesis", "f": "heal",
         "value": None},
        {"index": 2, "time": 30, "type": "ok", "process": 0, "f": "read", "value": [1],
         "node": "n1", "final": True},
    ]
    assert recorder.counts == {"invoke": 1, "ok": 1, "fail": 0, "info": 0} | NO_REPLIES_DROPPED


def notice(**fields: Any) -> dict[str, Any]:
    """What a stdio node's adapter sends in place of a line that was not a message."""
    return {"type": "stdio_malformed", "in_reply_to": 1, "node": "n2", "line_number": 7,
            "reason": "not JSON: Expecting value: line 1 column 1 (char 0)",
            "line": "echo_ok 7 (oops)", "deferred": False} | fields


@pytest.mark.parametrize(
    ("f", "value", "reply", "expected_type", "expected_error"),
    [
        ("broadcast", 7, notice(), "info",  # the line may have meant the write took effect
         "malformed reply: n2 wrote stdout line 7, not a message (not JSON: Expecting value: "
         "line 1 column 1 (char 0)): 'echo_ok 7 (oops)'"),
        ("read", None, notice(reason="a message must be a JSON object, not list",
                              line='["read_ok"]'), "fail",  # a read changed nothing
         "malformed reply: n2 wrote stdout line 7, not a message (a message must be a JSON "
         "object, not list): '[\"read_ok\"]'"),
        ("broadcast", 7, notice(deferred=True, line_number=1, line="starting up"), "info",
         "malformed reply: n2 wrote stdout line 1 before this request (none was waiting), "
         "not a message (not JSON: Expecting value: line 1 column 1 (char 0)): 'starting up'"),
    ],
)
async def test_a_stdio_nodes_bad_line_is_recorded_as_a_malformed_reply(
    tmp_path: Path, f: str, value: Any, reply: dict[str, Any], expected_type: str,
    expected_error: str,
) -> None:
    recorder = Recorder(tmp_path / "history.jsonl", epoch_ns=0, now_ns=lambda: 5)
    client: Any = FakeClient(reply)
    outcome = await execute(client, "n2", 3, f, value, workload=get_workload("broadcast"),
                            recorder=recorder, timeout_s=0.5)
    recorder.close()
    _invoke, completion = _ops(tmp_path / "history.jsonl")
    assert (outcome, completion["type"]) == (expected_type, expected_type)
    assert completion["error"] == expected_error
    assert completion["node"] == "n2"


async def test_replies_nobody_waits_for_are_counted_per_client(tmp_path: Path) -> None:
    """A reply to no waiting request (a proxy duplicate, one to an unknown msg_id) and a frame
    that is not a message are dropped and counted; the closed client's counts reach the
    recorder, i.e. the run's counts. The right reply still gets through."""
    ctx: zmq.Context[Any] = zmq.Context()
    recorder = Recorder(tmp_path / "history.jsonl", epoch_ns=0)
    try:
        raw = wire.make_socket(ctx, zmq.ROUTER)
        raw.bind("tcp://127.0.0.1:0")
        server = wire.Socket(raw)
        endpoint = raw.getsockopt_string(zmq.LAST_ENDPOINT)

        async def answer_twice_and_more() -> None:
            client_id, _dest, data = await server.receive()
            request = wire.decode(data)

            def reply(in_reply_to: int) -> bytes:
                body = {"type": "echo_ok", "echo": "x", "in_reply_to": in_reply_to}
                return wire.encode({"src": "n1", "dest": "c7", "body": body})

            msg_id = request["body"]["msg_id"]
            server.send_nowait([client_id, b"n1", reply(msg_id + 100)])  # no such request
            server.send_nowait([client_id, b"n1", reply(msg_id)])
            server.send_nowait([client_id, b"n1", reply(msg_id)])  # a duplicate
            server.send_nowait([client_id, b"n1", b"{nope"])  # not a message
            server.send_nowait([client_id, b"n1", b"{}", b"extra"])  # nor this

        async with trio.open_nursery() as nursery:
            await nursery.start(server.serve)
            nursery.start_soon(answer_twice_and_more)
            async with open_client(ctx, endpoint, "c7", recorder=recorder) as client:
                body = await client.call("n1", {"type": "echo", "echo": "x"}, timeout_s=WAIT_S)
                assert body["echo"] == "x"
                expected = ClientStatistics("c7", unmatched_replies=2, garbage_replies=2)
                with trio.fail_after(WAIT_S):
                    while client.statistics() != expected:  # noqa: ASYNC110 - the reader's
                        await trio.sleep(0.01)
                assert recorder.counts["unmatched_replies"] == 0  # added when it closes
            assert recorder.counts["unmatched_replies"] == 2
            assert recorder.counts["garbage_replies"] == 2
            server.close()
    finally:
        recorder.close()
        ctx.destroy(linger=0)


def test_the_simulated_client_counts_unmatched_replies_as_the_real_one(tmp_path: Path) -> None:
    from chaos.simclients import SimClients

    recorder = Recorder(tmp_path / "history.jsonl", epoch_ns=0, now_ns=lambda: 0)
    loop: Any = None  # neither `deliver` nor `close` touches the loop or the network
    clients = SimClients(loop=loop, network=loop, recorder=recorder, workload=None, seed=1)
    client_id = clients.open()
    late = {"src": "n1", "dest": client_id, "body": {"type": "echo_ok", "in_reply_to": 3}}
    clients.deliver(client_id, json.dumps(late))  # nobody waits for msg 3
    clients.deliver(client_id, json.dumps(late))
    clients.close(client_id)
    clients.deliver(client_id, json.dumps(late))  # closed: unroutable, never seen by a client
    recorder.close()
    assert recorder.counts["unmatched_replies"] == 2
