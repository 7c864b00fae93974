"""The codec and the pyzmq-to-trio adapter (`node.wire`).

The adapter test reproduces the wake-up a send can swallow: zmq's FD is edge-triggered, and a
`send` processes the socket's pending commands, including "a message arrived", which clears
the FD. A reader parked in `wait_readable` then sleeps forever although a message is waiting.
`Socket._after_send` re-checks `EVENTS` after every send and wakes the reader. The test drives
the exact interleaving (a reply lands, then a send happens before the reader runs) many times,
and a canary with the kick disabled shows the same steps hang, so the test can see the bug.
"""

from __future__ import annotations

import os
import select
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import trio
import trio.testing
import zmq

from node import wire

ROUNDS = 200
REPLY_WAIT_S = 2.0


class NoKickSocket(wire.Socket):
    """The adapter without the post-send re-check: the bug the kick exists to prevent."""

    def _after_send(self) -> None:
        pass


class EchoRouter:
    """A ROUTER on its own thread (plain blocking zmq) that echoes every message except one
    whose last frame is `b"noreply"`, and sets `replied` after each echo."""

    def __init__(self, ctx: zmq.Context[Any]) -> None:
        self.sock = wire.make_socket(ctx, zmq.ROUTER)
        self.sock.bind("tcp://127.0.0.1:0")
        self.endpoint: str = self.sock.getsockopt_string(zmq.LAST_ENDPOINT)
        self.replied = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        poller = zmq.Poller()
        poller.register(self.sock, zmq.POLLIN)
        while not self._stop.is_set():
            if not poller.poll(timeout=50):
                continue
            ident, *frames = self.sock.recv_multipart()
            if frames[-1] != b"noreply":
                self.sock.send_multipart([ident, *frames])
                self.replied.set()

    def __enter__(self) -> EchoRouter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close(linger=0)


@pytest.fixture
def zmq_ctx() -> Iterator[zmq.Context[Any]]:
    ctx: zmq.Context[Any] = zmq.Context()
    yield ctx
    ctx.destroy(linger=0)


async def swallow_the_wake_up(sock: wire.Socket, router: EchoRouter, round_no: int) -> bool:
    """One round of the interleaving that loses a wake-up without the kick. Returns whether
    the interleaving happened (False: the reply was so fast that the first send's own
    `EVENTS` check saw it, which is the kick at work too)."""
    await trio.testing.wait_all_tasks_blocked()  # the reader is parked in wait_readable
    router.replied.clear()
    payload = f"ping {round_no}".encode()
    sock.send_nowait([payload])
    # Blocking on purpose, without a checkpoint: trio's loop (and so the reader) must not run
    # until the reply has landed and a second send has swallowed its edge.
    assert router.replied.wait(REPLY_WAIT_S), "the echo router did not reply"
    fd = sock.raw.getsockopt(zmq.FD)
    reproduced = is_readable(fd, timeout_s=0.05)
    # zmq throttles command processing in send (about once a millisecond), so send until a
    # send has processed the "message arrived" command and cleared the FD: the swallowed edge.
    deadline = time.monotonic() + REPLY_WAIT_S
    while is_readable(fd, timeout_s=0):
        sock.send_nowait([b"noreply"])
        assert time.monotonic() < deadline, "no send ever cleared the FD"
    assert await sock.receive() == [payload]
    return reproduced


def is_readable(fd: int, *, timeout_s: float) -> bool:
    readable, _, _ = select.select([fd], [], [], timeout_s)
    return bool(readable)


async def test_a_send_cannot_swallow_the_readers_wake_up(zmq_ctx: zmq.Context[Any]) -> None:
    with EchoRouter(zmq_ctx) as router:
        raw = wire.make_socket(zmq_ctx, zmq.DEALER, identity="n1")
        raw.connect(router.endpoint)
        sock = wire.Socket(raw)
        reproduced = 0
        async with trio.open_nursery() as nursery:
            await nursery.start(sock.serve)
            for round_no in range(ROUNDS):
                with trio.fail_after(REPLY_WAIT_S):
                    reproduced += await swallow_the_wake_up(sock, router, round_no)
            sock.close()
        assert reproduced > ROUNDS // 2, f"the interleaving happened only {reproduced} times"


async def test_canary_without_the_kick_the_reader_sleeps_forever(
    zmq_ctx: zmq.Context[Any],
) -> None:
    with EchoRouter(zmq_ctx) as router:
        raw = wire.make_socket(zmq_ctx, zmq.DEALER, identity="n1")
        raw.connect(router.endpoint)
        sock = NoKickSocket(raw)
        async with trio.open_nursery() as nursery:
            await nursery.start(sock.serve)
            with trio.move_on_after(0.5) as scope:
                await swallow_the_wake_up(sock, router, 0)
            assert scope.cancelled_caught, "the kick-less adapter woke up: the test is blind"
            sock.close()


async def test_close_ends_serve_and_receive(zmq_ctx: zmq.Context[Any]) -> None:
    raw = wire.make_socket(zmq_ctx, zmq.DEALER, identity="n1")
    raw.connect("tcp://127.0.0.1:1")
    sock = wire.Socket(raw)
    with trio.fail_after(REPLY_WAIT_S):
        async with trio.open_nursery() as nursery:
            await nursery.start(sock.serve)
            await trio.testing.wait_all_tasks_blocked()
            sock.close()
            with pytest.raises(trio.EndOfChannel):
                await sock.receive()


async def test_a_one_task_transport_cannot_lose_a_message_to_its_own_sends(
    zmq_ctx: zmq.Context[Any],
) -> None:
    """The driver's transport has no reader task (`one_task=True`): the task that sends also
    reads, and checks `EVENTS` before it waits on the FD, so a send that swallowed the FD's
    edge cannot leave a message unread (the interleaving of `swallow_the_wake_up`)."""
    with EchoRouter(zmq_ctx) as router:
        async with wire.open_node_transport("n1", router.endpoint, one_task=True) as transport:
            assert isinstance(transport.sock, wire.SerialSocket)
            fd = transport.sock.raw.getsockopt(zmq.FD)
            for round_no in range(ROUNDS):
                router.replied.clear()
                payload = f"ping {round_no}".encode()
                await transport.send("n2", payload)
                assert router.replied.wait(REPLY_WAIT_S), "the echo router did not reply"
                deadline = time.monotonic() + REPLY_WAIT_S
                while is_readable(fd, timeout_s=0):  # until a send has cleared the FD
                    await transport.send("n2", b"noreply")
                    assert time.monotonic() < deadline, "no send ever cleared the FD"
                with trio.fail_after(REPLY_WAIT_S):
                    assert await transport.receive() == ("n2", payload)
            with pytest.raises(trio.WouldBlock):
                transport.receive_nowait()
            router.replied.clear()
            transport.sock.send_nowait([b"n2", b"one frame too many", b"{}"])
            assert router.replied.wait(REPLY_WAIT_S)
            with trio.fail_after(REPLY_WAIT_S), pytest.raises(wire.WireError, match="got 3"):
                await transport.receive()
    with pytest.raises(trio.EndOfChannel):  # closed with the block, as a `Socket`'s would be
        transport.receive_nowait()
    with pytest.raises(trio.EndOfChannel):
        await transport.receive()
    with pytest.raises(wire.SendError):
        await transport.send("n2", b"{}")


def test_codec_round_trip_keeps_unknown_keys() -> None:
    msg = {"id": 7, "src": "c1", "dest": "n1", "body": {"type": "echo", "msg_id": 1, "echo": "é"}}
    assert wire.decode(wire.encode(msg)) == msg


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[1]", "must be a JSON object, not list"),
        (b'{"dest": "n1", "body": {"type": "x"}}', "'src' must be a non-empty string"),
        (b'{"src": "c1", "dest": "", "body": {"type": "x"}}', "'dest' must be a non-empty"),
        (b'{"src": "c1", "dest": "n1", "body": []}', "'body' must be a JSON object"),
        (b'{"src": "c1", "dest": "n1", "body": {"type": 1}}', "body 'type' must be a string"),
        (b'{"src": "c1", "dest": "n1", "body": {"type": "x", "msg_id": "1"}}', "'msg_id'"),
        (
            b'{"src": "c1", "dest": "n1", "body": {"type": "x", "in_reply_to": true}}',
            "'in_reply_to' must be an integer",
        ),
    ],
)
def test_decode_rejects_garbage_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(wire.WireError, match=reason.replace("(", r"\(")):
        wire.decode(data)


def test_reply_and_error_bodies() -> None:
    request = {"src": "c1", "dest": "n1", "body": {"type": "read", "msg_id": 4}}
    assert wire.reply_body(request, value=3) == {"type": "read_ok", "in_reply_to": 4, "value": 3}
    assert wire.error_body(request, 20, "no key") == {
        "type": "error",
        "code": 20,
        "text": "no key",
        "in_reply_to": 4,
    }


async def test_close_ends_a_reader_blocked_on_a_full_queue(zmq_ctx: zmq.Context[Any]) -> None:
    with EchoRouter(zmq_ctx) as router:
        raw = wire.make_socket(zmq_ctx, zmq.DEALER, identity="n1")
        raw.connect(router.endpoint)
        sock = wire.Socket(raw, receive_queue_max=1)
        with trio.fail_after(REPLY_WAIT_S):
            async with trio.open_nursery() as nursery:
                await nursery.start(sock.serve)
                for i in range(3):  # one reply fills the queue, the next blocks the reader
                    await sock.send([f"m{i}".encode()])
                while sock.statistics().queued < 1:  # the replies arrive from another thread
                    await trio.testing.wait_all_tasks_blocked(cushion=0.01)
                sock.close()  # must end serve although nobody ever receives


# -- joining the run's network: authenticated sockets ----------------------------------------


class PlainRouter:
    """A ROUTER that takes PLAIN peers presenting `secret`, with a ZAP handler (both driven by
    one thread of plain blocking zmq); `received` holds (frames, User-Id) in arrival order."""

    def __init__(self, ctx: zmq.Context[Any], secret: bytes) -> None:
        self.zap = ctx.socket(zmq.ROUTER)
        self.zap.setsockopt(zmq.LINGER, 0)
        self.zap.bind("inproc://zeromq.zap.01")
        self.sock = wire.make_socket(ctx, zmq.ROUTER)
        self.sock.setsockopt(zmq.PLAIN_SERVER, 1)
        self.sock.bind("tcp://127.0.0.1:0")
        self.endpoint: str = self.sock.getsockopt_string(zmq.LAST_ENDPOINT)
        self.secret = secret
        self.received: list[tuple[list[bytes], str]] = []
        self.arrived = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        poller = zmq.Poller()
        poller.register(self.sock, zmq.POLLIN)
        poller.register(self.zap, zmq.POLLIN)
        while not self._stop.is_set():
            ready = dict(poller.poll(timeout=50))
            if self.zap in ready:
                envelope_end, request = self._zap_request()
                ok = request[7] == self.secret
                status = [b"200", b"OK", request[6]] if ok else [b"400", b"no", b""]
                self.zap.send_multipart([*envelope_end, b"1.0", request[1], *status, b""])
            if self.sock in ready:
                frames = self.sock.recv_multipart(copy=False)
                self.received.append(([f.bytes for f in frames], str(frames[0].get("User-Id"))))
                self.arrived.set()

    def _zap_request(self) -> tuple[list[bytes], list[bytes]]:
        frames = self.zap.recv_multipart()
        split = frames.index(b"") + 1
        return frames[:split], frames[split:]

    def __enter__(self) -> PlainRouter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close(linger=0)
        self.zap.close(linger=0)

    def wait_for(self, count: int) -> None:
        deadline = time.monotonic() + REPLY_WAIT_S
        while len(self.received) < count:
            assert time.monotonic() < deadline, f"only {len(self.received)} messages arrived"
            self.arrived.wait(0.05)


async def test_an_authenticated_node_joins_under_its_user_name(zmq_ctx: zmq.Context[Any]) -> None:
    with PlainRouter(zmq_ctx, b"s3cret") as router:
        async with wire.open_node_transport("n1", router.endpoint, secret="s3cret") as transport:
            await transport.send("n2", b"{}")
            await trio.to_thread.run_sync(router.wait_for, 2)
    (join, join_user), (message, user) = router.received
    assert join_user == user == "n1"  # what the proxy names the connection by
    assert join[1:] == [wire.JOIN_FRAME]  # "I am connected", first
    assert message[1:] == [b"n2", b"{}"]
    assert join[0] == message[0]
    assert join[0][:1] == b"\x00"  # a routing id the ROUTER chose, not "n1"


async def test_without_a_secret_a_node_connects_as_before(zmq_ctx: zmq.Context[Any]) -> None:
    # The node tests' stand-in router (tests/node/node_harness.py) relies on this.
    router = wire.make_socket(zmq_ctx, zmq.ROUTER)
    try:
        router.bind("tcp://127.0.0.1:0")
        endpoint = router.getsockopt_string(zmq.LAST_ENDPOINT)
        async with wire.open_node_transport("n1", endpoint) as transport:
            await transport.send("n2", b"{}")
            assert await trio.to_thread.run_sync(lambda: router.poll(int(REPLY_WAIT_S * 1000)))
            assert router.recv_multipart() == [b"n1", b"n2", b"{}"]  # no join frame first
    finally:
        router.close(linger=0)


def test_make_socket_authenticates_only_from_an_authenticated_context(
    zmq_ctx: zmq.Context[Any],
) -> None:
    plain = wire.make_socket(zmq_ctx, zmq.DEALER, identity="c3")
    run_ctx = wire.authenticated_context("s3cret")
    authenticated = wire.make_socket(run_ctx, zmq.DEALER, identity="c3")
    try:
        assert plain.getsockopt(zmq.MECHANISM) == zmq.NULL
        assert plain.getsockopt(zmq.IDENTITY) == b"c3"
        assert authenticated.getsockopt(zmq.MECHANISM) == zmq.PLAIN
        assert authenticated.getsockopt(zmq.PLAIN_USERNAME) == b"c3"
        assert authenticated.getsockopt(zmq.PLAIN_PASSWORD) == b"s3cret"
        assert authenticated.getsockopt(zmq.IDENTITY) == b""  # the proxy picks it
    finally:
        plain.close(linger=0)
        authenticated.close(linger=0)
        run_ctx.term()
    with pytest.raises(ValueError, match="must not be empty"):
        wire.authenticated_context("")


def test_take_run_secret_removes_it_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(wire.SECRET_ENV, "s3cret")
    assert wire.take_run_secret() == "s3cret"
    assert wire.SECRET_ENV not in os.environ  # so no child process inherits it
    assert wire.take_run_secret() is None
