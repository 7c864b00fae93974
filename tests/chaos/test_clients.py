"""The client's rules: a new process id after `info`, the pacing schedule, how a reply (or
none) becomes a completion, the history a `Recorder` writes and when (all without sockets),
and, over loopback with a bare ROUTER standing in for the proxy, that replies nobody waits for
are counted and that a client's own send cannot swallow the wake-up of its reply."""

from __future__ import annotations

import errno
import json
import random
import select
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
import zmq

from chaos import store
from chaos.clients import (
    PACING_SLACK_S,
    ClientIds,
    ClientStatistics,
    Recorder,
    RequestTimeout,
    execute,
    next_due,
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


def test_the_next_operation_is_due_a_gap_after_the_last_was_due() -> None:
    # On schedule: the gap counts from when the last one was due, not from its completion.
    assert next_due(10.0, 10.2, interval_s=0.5, gap_s=0.7) == pytest.approx(10.7)
    # Held up for 5 s: it starts at once, having made up two intervals (the largest gap) and
    # no more.
    assert next_due(10.0, 15.0, interval_s=0.5, gap_s=0.3) == pytest.approx(14.3)
    assert next_due(10.0, 15.0, interval_s=0.5, gap_s=1.0) == pytest.approx(15.0)


@pytest.mark.parametrize(
    ("interval_s", "latency_s"),
    [(0.0005, 0.0003), (0.0005, 0.0), (0.01, 0.004), (0.2, 0.05)],
)
def test_a_worker_keeps_its_rate_when_replies_take_time(
    interval_s: float, latency_s: float
) -> None:
    """The worker loop's arithmetic on a virtual clock: operations that take `latency_s`
    (less than the interval) still come at 1/interval_s, within 3%; sleeping the gap after
    each completion, as the clients once did, gives 1/(interval_s + latency_s)."""
    rng = random.Random(1)
    now = due = 0.0
    operations = 0
    duration_s = 2000 * interval_s
    while now < duration_s:
        due = next_due(due, now, interval_s=interval_s, gap_s=rng.uniform(0, 2 * interval_s))
        if due > now + PACING_SLACK_S:
            now = due  # the worker sleeps until it is due
        now += latency_s
        operations += 1
    assert operations / duration_s == pytest.approx(1 / interval_s, rel=0.03)


@pytest.mark.parametrize(
    ("latency_intervals", "sleeping_share_max"),
    [(1.2, 0.2), (2.0, 0.0), (10.0, 0.0)],
)
def test_a_worker_that_cannot_keep_up_runs_flat_out(
    latency_intervals: float, sleeping_share_max: float
) -> None:
    """Replies slower than the interval: the worker is behind, and sleeps seldom (a lag of
    one interval made it sleep before half of its operations, whatever the latency), and
    never once they take two intervals or more."""
    interval_s = 0.001
    latency_s = latency_intervals * interval_s
    rng = random.Random(1)
    now = due = 0.0
    sleeps = 0
    for i in range(2000):
        due = next_due(due, now, interval_s=interval_s, gap_s=rng.uniform(0, 2 * interval_s))
        assert due <= now + 2 * interval_s  # never sleeps more than the largest gap
        if i >= 100 and due > now:  # not the start, when it is not behind yet
            sleeps += 1
        now = max(now, due) + latency_s
    assert sleeps <= sleeping_share_max * 1900


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
        # A read of integers is written as ranges (`"value_encoding": "int-ranges"`).
        ("read", None, {"type": "read_ok", "messages": [1, 2]}, ("ok", [[1, 2]], None)),
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


def test_deferred_lines_are_written_outside_trio_at_once(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    recorder = Recorder(path, epoch_ns=0, now_ns=lambda: 5)
    recorder.record_deferred("invoke", 0, "read", None, node="n1")
    assert [op["index"] for op in _ops(path)] == [0]  # nobody else would write it
    recorder.close()


async def test_deferred_lines_are_written_before_the_orchestrator_waits(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    recorder = Recorder(path, epoch_ns=0, now_ns=lambda: 5)
    try:
        recorder.record_deferred("invoke", 0, "read", None, node="n1")
        recorder.record_deferred("ok", 0, "read", [1], node="n1")
        assert path.read_text() == ""  # deferred: one write for the scheduling round
        await trio.lowlevel.checkpoint()  # the scheduler runs, and asks for I/O on the way
        assert [op["index"] for op in _ops(path)] == [0, 1]
        recorder.record_deferred("invoke", 1, "read", None, node="n2")
        recorder.record("invoke", "nemesis", "heal", None)  # written at once, in order
        assert [op["index"] for op in _ops(path)] == [0, 1, 2, 3]
        assert recorder.counts["invoke"] == 2  # clients only
    finally:
        recorder.close()


def test_a_recorder_used_by_two_trio_runs_writes_in_each(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    recorder = Recorder(path, epoch_ns=0, now_ns=lambda: 5)

    async def one_operation(process: int) -> None:
        recorder.record_deferred("invoke", process, "read", None, node="n1")
        await trio.lowlevel.checkpoint()
        assert len(_ops(path)) == process + 1

    trio.run(one_operation, 0)
    trio.run(one_operation, 1)  # the first run's instrument is gone with it
    recorder.close()


async def test_a_deferred_write_that_fails_is_raised_by_the_next_record(tmp_path: Path) -> None:
    recorder = Recorder(Path("/dev/full"), epoch_ns=0, now_ns=lambda: 5)  # ENOSPC on write
    recorder.record_deferred("invoke", 0, "read", None, node="n1")
    await trio.lowlevel.checkpoint()  # the write fails where nobody can raise
    with pytest.raises(store.StoreError, match="the run store is full") as caught:
        recorder.record_deferred("ok", 0, "read", [1], node="n1")
    assert caught.value.errno == errno.ENOSPC
    with pytest.raises(OSError) as closing:  # what the file's buffer holds is tried again
        recorder.close()
    assert closing.value.errno == errno.ENOSPC


async def test_a_deferred_write_that_fails_last_is_raised_by_close(tmp_path: Path) -> None:
    recorder = Recorder(Path("/dev/full"), epoch_ns=0, now_ns=lambda: 5)
    recorder.record_deferred("invoke", 0, "read", None, node="n1")
    await trio.lowlevel.checkpoint()  # the write fails; no record comes after it
    with pytest.raises(OSError) as closing:
        recorder.close()
    assert closing.value.errno == errno.ENOSPC
    assert not isinstance(closing.value, store.StoreError)  # the run describes it once


class ThreadedRouter:
    """A ROUTER on its own thread (plain blocking zmq), standing in for the proxy: it answers
    each request with what `answer(client_id, request)` returns (frames after the client id),
    and sets `replied` after each answer."""

    def __init__(self, ctx: zmq.Context[Any], answer: Any) -> None:
        self.sock = wire.make_socket(ctx, zmq.ROUTER)
        self.sock.bind("tcp://127.0.0.1:0")
        self.endpoint: str = self.sock.getsockopt_string(zmq.LAST_ENDPOINT)
        self.answer = answer
        self.replied = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        poller = zmq.Poller()
        poller.register(self.sock, zmq.POLLIN)
        while not self._stop.is_set():
            if not poller.poll(timeout=50):
                continue
            client_id, _dest, data = self.sock.recv_multipart()
            for frames in self.answer(client_id, wire.decode(data)):
                self.sock.send_multipart([client_id, *frames])
            self.replied.set()

    def __enter__(self) -> ThreadedRouter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close(linger=0)


def reply(request: dict[str, Any], *, in_reply_to: int | None = None) -> list[bytes]:
    body = {"type": "echo_ok", "echo": request["body"].get("echo"),
            "in_reply_to": request["body"]["msg_id"] if in_reply_to is None else in_reply_to}
    return [b"n1", wire.encode({"src": "n1", "dest": request["src"], "body": body})]


@pytest.fixture
def ctx() -> Any:
    context: zmq.Context[Any] = zmq.Context()
    yield context
    context.destroy(linger=0)


async def test_replies_nobody_waits_for_are_counted_per_client(
    tmp_path: Path, ctx: zmq.Context[Any]
) -> None:
    """A reply to no waiting request (a proxy duplicate, one to an unknown msg_id) and a frame
    that is not a message are dropped and counted, by the call that reads them or, when they
    arrive between calls, when the connection closes; the closed client's counts reach the
    recorder, i.e. the run's counts. The right reply still gets through."""

    def answer(client_id: bytes, request: dict[str, Any]) -> list[list[bytes]]:
        if request["body"]["echo"] == "first":
            msg_id = request["body"]["msg_id"]
            return [reply(request, in_reply_to=msg_id + 100),  # no such request
                    reply(request),
                    reply(request),  # a duplicate
                    [b"n1", b"{nope"],  # not a message
                    [b"n1", b"{}", b"extra"]]  # nor this
        if request["body"]["echo"] == "second":
            return [reply(request), reply(request)]  # the duplicate arrives between calls
        return []

    recorder = Recorder(tmp_path / "history.jsonl", epoch_ns=0)
    try:
        with ThreadedRouter(ctx, answer) as router:
            async with open_client(ctx, router.endpoint, "c7", recorder=recorder) as client:
                body = await client.call("n1", {"type": "echo", "echo": "first"}, timeout_s=WAIT_S)
                assert body["echo"] == "first"
                assert client.statistics() == ClientStatistics("c7", unmatched_replies=1)
                # One connection keeps its order: the second call reads the rest of the first
                # answer before its own reply.
                body = await client.call("n1", {"type": "echo", "echo": "second"},
                                         timeout_s=WAIT_S)
                assert body["echo"] == "second"
                expected = ClientStatistics("c7", unmatched_replies=2, garbage_replies=2)
                assert client.statistics() == expected
                raw = client._sock.raw
                assert raw.poll(int(WAIT_S * 1000), zmq.POLLIN)  # the duplicate has arrived
                assert recorder.counts["unmatched_replies"] == 0  # added when it closes
            assert client.statistics().unmatched_replies == 3  # read when it closed
            assert recorder.counts["unmatched_replies"] == 3
            assert recorder.counts["garbage_replies"] == 2
    finally:
        recorder.close()


async def test_a_call_that_gets_no_reply_times_out(ctx: zmq.Context[Any]) -> None:
    with ThreadedRouter(ctx, lambda client_id, request: []) as router:
        async with open_client(ctx, router.endpoint, "c7") as client:
            with pytest.raises(RequestTimeout, match=r"no reply from n1 within 0\.05 s"):
                await client.call("n1", {"type": "echo", "echo": "x"}, timeout_s=0.05)


def is_readable(fd: int, *, timeout_s: float) -> bool:
    readable, _, _ = select.select([fd], [], [], timeout_s)
    return bool(readable)


async def test_a_send_cannot_swallow_the_wake_up_of_a_waiting_reply(
    ctx: zmq.Context[Any],
) -> None:
    """`SerialSocket` waits on zmq's edge-triggered FD only after `EVENTS` said nothing is
    pending. Here a reply lands and a later send processes its "message arrived" command (the
    FD goes quiet although the reply waits) before the task receives: the receive must still
    return it, where waiting on the FD first would sleep forever."""

    def answer(client_id: bytes, request: dict[str, Any]) -> list[list[bytes]]:
        return [] if request["body"]["echo"] == "noreply" else [reply(request)]

    def request(echo: str, msg_id: int) -> list[bytes]:
        body = {"type": "echo", "echo": echo, "msg_id": msg_id}
        return [b"n1", wire.encode({"src": "c7", "dest": "n1", "body": body})]

    with ThreadedRouter(ctx, answer) as router:
        raw = wire.make_socket(ctx, zmq.DEALER, identity="c7")
        raw.connect(router.endpoint)
        sock = wire.SerialSocket(raw)
        fd = int(raw.getsockopt(zmq.FD))
        swallowed = 0
        try:
            for round_no in range(50):
                with pytest.raises(trio.WouldBlock):  # and so zmq signals the next message
                    sock.receive_nowait()
                router.replied.clear()
                sock.send_nowait(request("ping", round_no))
                # Blocking on purpose, without a checkpoint, until the reply has landed.
                assert router.replied.wait(WAIT_S), "the router did not reply"
                deadline = time.monotonic() + WAIT_S
                swallowed += is_readable(fd, timeout_s=0.05)
                while is_readable(fd, timeout_s=0):  # until a send has cleared the FD
                    sock.send_nowait(request("noreply", 0))
                    assert time.monotonic() < deadline, "no send ever cleared the FD"
                with trio.fail_after(WAIT_S):
                    frames = await sock.receive()
                assert wire.decode(frames[1])["body"]["in_reply_to"] == round_no
        finally:
            sock.close()
        assert swallowed > 25, f"the FD was readable only {swallowed} times: the test is blind"


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


async def test_a_send_at_the_high_water_mark_waits_for_room(
    tmp_path: Path, ctx: zmq.Context[Any]
) -> None:
    """Nobody listens yet: one message fills the queue (HWM 1) and the next is refused, until
    a ROUTER binds the address and takes the first."""
    endpoint = f"ipc://{tmp_path / 'router.sock'}"
    raw = wire.make_socket(ctx, zmq.DEALER, identity="c7", hwm=1)
    raw.connect(endpoint)
    sock = wire.SerialSocket(raw)
    router = wire.make_socket(ctx, zmq.ROUTER)
    try:
        sock.send_nowait([b"n1", b"{}"])
        with pytest.raises(zmq.Again):
            sock.send_nowait([b"n1", b"{}"])
        router.bind(endpoint)
        with trio.fail_after(WAIT_S):
            await sock.wait_writable()
        sock.send_nowait([b"n1", b"{}"])
    finally:
        sock.close()
        router.close(linger=0)
