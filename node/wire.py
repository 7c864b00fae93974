"""The message codec and the pyzmq-to-trio socket adapter, shared by nodes, proxy and clients.

This module imports nothing else of the project, so the proxy and the orchestrator can use it
without pulling in any service.

## Messages
Messages are Maelstrom's (PROTOCOL.md): a JSON object `{"src", "dest", "body"}` whose body has a
string `type`, and usually an integer `msg_id` and, on replies, `in_reply_to`. `encode` makes
compact UTF-8 JSON; `decode` checks the envelope and raises `WireError` with a reason, so that a
receiver can count garbage and carry on rather than crash. Unknown envelope keys are kept and
ignored (Maelstrom adds `"id"`).

## Frames
A native node holds one DEALER socket connected to the proxy's ROUTER. It sends `[dest, json]`;
the proxy delivers `[src, json]` where `src` is the id the sender authenticated as (the JSON's
`src` may differ: a node may forward a client's message). The proxy routes on the frames and
does not parse JSON on its hot path.

## Joining the run's network
Only the run's own processes may join: the orchestrator makes a per-run secret and hands it to
its children in the environment variable `CHAOS_RUN_SECRET` (`SECRET_ENV`; never on a command
line, which `ps` shows to everyone). A socket made by `make_socket` from a context that carries
the secret (`authenticated_context`) authenticates with ZeroMQ's PLAIN mechanism: user name =
its `identity` (the node or client id), password = the secret. The proxy checks both in the
handshake, before the connection can send or receive anything, and names every message by the
user name it authenticated, so no connection can speak as another id. Such a socket sets no
routing id: the proxy's ROUTER gives each connection its own. A node announces itself right
after connecting with one empty frame (`JOIN_FRAME`), so the proxy knows it has joined before
the orchestrator sends it `init`. `take_run_secret` reads the secret and removes it from the
environment, so a stdio node's program (a third party's) never inherits it.

Without a secret (`CHAOS_RUN_SECRET` unset, a plain context) a socket connects as before this
existed: no mechanism, routing id = `identity`, no join frame. The proxy refuses such peers;
the node tests' stand-in router takes them.

## The trio adapter
pyzmq has no trio support. `Socket` owns one reader task that waits on `zmq.FD` with
`trio.lowlevel.wait_readable` and drains while `zmq.EVENTS & POLLIN` into a bounded channel.
The FD is edge-triggered and only signals that *something* changed: a `send` (or reading
`EVENTS`) can process the pending incoming edge itself, after which the FD never becomes
readable again although a message is waiting. So after every send, while the reader waits, we
re-check `EVENTS` and drain pending input into the channel ourselves (waking the reader only
when the channel is full, so that it takes over). Without this, a node that sends while a reply
arrives can sleep forever; `tests/test_wire.py` reproduces that wake-up. The reader drains
everything that is pending in one step, with `send_nowait` into the channel, and yields after
`DRAIN_MAX` messages, so a busy socket neither costs a task switch per message nor starves
other tasks.

Sends that hit the high-water mark wait for the reader to see `POLLOUT` (one task may wait on an
FD at a time, so senders wait on an event the reader sets). A `send` that zmq takes at once is a
cancel point but not a schedule point (no task switch), as `trio.MemorySendChannel.send_nowait`
after a cancellation check: a node sends all the messages of a step in a row, and a switch
after each cost more than the send (bench/README.md, "Client throughput"); every caller waits
for something right after (a receive, the next event). `send_nowait` never waits: it raises
`zmq.Again` when the queue is full and, on a ROUTER with `ROUTER_MANDATORY`, `zmq.ZMQError` with
`EHOSTUNREACH` when the peer is not connected; the proxy counts both as losses.

`SerialSocket` is the adapter without a reader task (a deviation from DESIGN.md's one reader
task per socket, for these uses), for a socket that one task at a time both sends on and
reads: an orchestrator client (one request, then its reply) and a native node (the driver's
main loop). That task reads the socket itself and waits on the FD only after `EVENTS` (or a
`recv` that found nothing) has processed every pending command, so the next one signals the
FD and no send can swallow its wake-up; a message costs one task switch instead of two
(reader, then consumer). Clients and nodes handle thousands of messages a second, and on a
small machine the task switches and wake-ups were most of what each cost (bench/README.md,
"Client throughput").

`EVENTS` is read with `pending_events` (`zmq_poll` with a zero timeout, which reads it inside
libzmq) rather than `getsockopt`, which in pyzmq makes an enum of the option on every call.

## A native node's transport
`ZmqTransport` is what the node driver (`node.driver`) speaks to: `send(dest, bytes)`,
`receive() -> (src, bytes)` and `receive_nowait()` over one DEALER. `open_node_transport`
makes the socket, connects it to the proxy, runs its reader (none with `one_task=True`, for a
caller that sends and receives from one task, as the driver does) and closes everything on
the way out, so the node program never touches zmq:

    async with wire.open_node_transport("n1", "ipc:///run/proxy-data.sock",
                                        secret=wire.take_run_secret()) as transport:
        await transport.send("n2", encode(msg))
        src, data = await transport.receive()   # WireError on a bad frame
"""

from __future__ import annotations

import contextlib
import json
import json.scanner
import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import trio
import zmq

# Safety-relevant socket settings, passed explicitly where sockets are made (STYLE.md #7).
LINGER_MS = 0  # a closing socket never blocks process exit on unsent messages
HWM_DEFAULT = 100_000
RECEIVE_QUEUE_MAX = 1024  # frames buffered between the reader task and the consumer
DRAIN_MAX = 256  # messages the reader takes in one step before it lets other tasks run
SECRET_ENV = "CHAOS_RUN_SECRET"  # the run's secret, from the orchestrator to its children
JOIN_FRAME = b""  # a node's first message: "I am connected", never forwarded by the proxy


class WireError(ValueError):
    """A message that is not a valid Maelstrom envelope."""


class SendError(RuntimeError):
    """ZeroMQ refused to send a message (the socket is closed, or its queue cannot take it)."""


Message = dict[str, Any]



def compact_json_encoder(*, ensure_ascii: bool, default: Any = None) -> Any:
    """`json.JSONEncoder(separators=(",", ":"), ensure_ascii=..., default=...).encode`, built
    once: `json.dumps` with arguments builds an encoder per call, and `JSONEncoder.encode`
    builds its C encoder per call, which cost as much as encoding a small message. The C
    encoder is built without the circular-reference check, which only a bug needs: when it
    fails (a cycle, a value it cannot encode) the standard encoder runs and raises its usual
    error. Returns a callable `obj -> str`."""
    standard = json.JSONEncoder(separators=(",", ":"), ensure_ascii=ensure_ascii,
                                default=default)
    make: Any = getattr(json.encoder, "c_make_encoder", None)  # not in typeshed
    if make is None:  # a Python without the C accelerator
        return standard.encode
    strings = json.encoder.encode_basestring_ascii if ensure_ascii else (
        json.encoder.encode_basestring)
    fast = make(None, standard.default, strings, None, ":", ",", False, False, True)

    def encode(obj: Any) -> str:
        try:
            return "".join(fast(obj, 0))
        except (TypeError, ValueError, RecursionError):
            return standard.encode(obj)  # raises what json.dumps would

    return encode


# One encoder and decoder for every message, each built once (`compact_json_encoder`); bytes
# are decoded as UTF-8 by hand (`json.loads` sniffs the encoding of bytes, which costs as much
# as a small body) and a message is read by the decoder's C scanner directly.
_ENCODE = compact_json_encoder(ensure_ascii=False)
_DECODER = json.JSONDecoder()
# What `_DECODER.raw_decode` calls (typeshed types its argument wrongly).
_SCAN = json.scanner.make_scanner(_DECODER)  # type: ignore[arg-type]

# pyzmq's constants are enums, whose `&` costs a Python call; the hot paths use plain ints.
_POLLIN = int(zmq.POLLIN)
_POLLOUT = int(zmq.POLLOUT)
_NOBLOCK = int(zmq.NOBLOCK)
_MORE_NOBLOCK = int(zmq.SNDMORE) | _NOBLOCK


def encode(msg: Message) -> bytes:
    return _ENCODE(msg).encode()


def decode(data: bytes | str) -> Message:
    """Parse and check one envelope. Raises `WireError` with the reason."""
    try:
        if isinstance(data, bytes) and data[:1] == b"{" and data[1:2] != b"\0":
            # UTF-8 for sure (what `json.loads` would detect): skip its sniffing.
            msg = _decode_object(data.decode("utf-8", "surrogatepass"))
        else:
            msg = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise WireError(f"not JSON: {e}") from None
    check_envelope(msg)
    return msg


def _decode_object(text: str) -> Any:
    """`_DECODER.decode(text)` for a text that starts with `{`: the scanner reads the object,
    and only a text with anything after it (whitespace, which is allowed, or garbage, which
    is not) goes through `decode`, which says what is wrong."""
    try:
        value, end = _SCAN(text, 0)
    except StopIteration:
        end = -1
    if end != len(text):
        return _DECODER.decode(text)
    return value


def check_envelope(msg: Any) -> None:
    if not isinstance(msg, dict):
        raise WireError(f"a message must be a JSON object, not {type(msg).__name__}")
    for key in ("src", "dest"):
        if not isinstance(msg.get(key), str) or not msg[key]:
            raise WireError(f"{key!r} must be a non-empty string")
    body = msg.get("body")
    if not isinstance(body, dict):
        raise WireError("'body' must be a JSON object")
    if not isinstance(body.get("type"), str):
        raise WireError("body 'type' must be a string")
    for key in ("msg_id", "in_reply_to"):
        if (
            key in body
            and body[key] is not None
            and (not isinstance(body[key], int) or isinstance(body[key], bool))
        ):
            raise WireError(f"body {key!r} must be an integer")


def reply_body(request: Message, **fields: Any) -> dict[str, Any]:
    """A reply body to `request`: `<type>_ok` with `in_reply_to` set, plus `fields`."""
    body: dict[str, Any] = {"type": request["body"]["type"] + "_ok", **fields}
    if "msg_id" in request["body"]:
        body["in_reply_to"] = request["body"]["msg_id"]
    return body


def error_body(request: Message, code: int, text: str, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "error", "code": code, "text": text, **fields}
    if "msg_id" in request["body"]:
        body["in_reply_to"] = request["body"]["msg_id"]
    return body


def take_run_secret() -> str | None:
    """The run's secret from `CHAOS_RUN_SECRET`, removed from this process's environment so
    that no child (a stdio node's program) inherits it; None when it is not set."""
    return os.environ.pop(SECRET_ENV, None) or None


def authenticated_context(secret: str) -> zmq.Context[Any]:
    """A context whose sockets present the run's `secret` to the proxy (ZeroMQ PLAIN); see
    "Joining the run's network" above. The caller terminates it."""
    if not secret:
        raise ValueError("the run's secret must not be empty")
    ctx: zmq.Context[Any] = zmq.Context()
    ctx.setsockopt(zmq.PLAIN_PASSWORD, secret.encode())  # applied to every socket it makes
    return ctx


def is_authenticated(ctx: zmq.Context[Any]) -> bool:
    """Whether `ctx` was made by `authenticated_context`."""
    return zmq.PLAIN_PASSWORD in ctx.sockopts


def make_socket(
    ctx: zmq.Context[Any],
    socket_type: int,
    *,
    identity: str | None = None,
    hwm: int = HWM_DEFAULT,
    linger_ms: int = LINGER_MS,
) -> zmq.Socket[Any]:
    """A zmq socket with this project's explicit safety settings.

    From an `authenticated_context`, `identity` is the PLAIN user name the socket presents to
    the proxy (which assigns the routing id); from a plain context it is the routing id.
    """
    sock = ctx.socket(socket_type)
    sock.setsockopt(zmq.LINGER, linger_ms)
    sock.setsockopt(zmq.SNDHWM, hwm)
    sock.setsockopt(zmq.RCVHWM, hwm)
    if identity is not None:
        if is_authenticated(ctx):
            sock.setsockopt(zmq.PLAIN_USERNAME, identity.encode())
        else:
            sock.setsockopt(zmq.IDENTITY, identity.encode())
    return sock


def pending_events(items: list[tuple[zmq.Socket[Any], int]]) -> int:
    """`EVENTS` of the one socket in `items` (`[(sock, POLLIN | POLLOUT)]`, made once), read
    with `zmq_poll` and a zero timeout: the same check (libzmq's `zmq_poll` reads `EVENTS`,
    which processes the socket's pending commands, so its FD signals the next one) at two
    thirds of the cost of pyzmq's `getsockopt`, which makes an enum of the option each call."""
    ready = zmq.zmq_poll(items, 0)
    return int(ready[0][1]) if ready else 0


def send_frames(sock: zmq.Socket[Any], frames: Sequence[bytes]) -> None:
    """`sock.send_multipart(frames, NOBLOCK)` at a third of the cost (int flags). zmq refuses
    a message (`zmq.Again`, `EHOSTUNREACH`) on its first frame, before anything is queued."""
    send = sock.send
    for frame in frames[:-1]:
        send(frame, _MORE_NOBLOCK)
    send(frames[-1], _NOBLOCK)


def receive_frames(sock: zmq.Socket[Any]) -> list[bytes]:
    """`sock.recv_multipart(NOBLOCK)`, reading `Frame.more` instead of asking the socket for
    RCVMORE after each frame (a slow `getsockopt`). Raises `zmq.Again` when nothing waits."""
    recv = sock.recv
    frame = recv(_NOBLOCK, copy=False)
    frames = [frame.bytes]
    while frame.more:
        frame = recv(_NOBLOCK, copy=False)
        frames.append(frame.bytes)
    return frames


@dataclass(frozen=True)
class SocketStatistics:
    queued: int  # received messages waiting for `receive`
    is_closed: bool


class Socket:
    """A zmq socket usable from trio. Start `serve` in a nursery before receiving.

    async with trio.open_nursery() as nursery:
        sock = Socket(raw)
        await nursery.start(sock.serve)
        await sock.send([b"n2", encode(msg)])
        frames = await sock.receive()
    """

    def __init__(self, sock: zmq.Socket[Any], *, receive_queue_max: int = RECEIVE_QUEUE_MAX):
        self.raw = sock
        self._fd = int(sock.getsockopt(zmq.FD))
        self._poll_items = [(sock, _POLLIN | _POLLOUT)]
        self._in_send, self._in_receive = trio.open_memory_channel[list[bytes]](receive_queue_max)
        self._wait_scope: trio.CancelScope | None = None
        self._queue_scope: trio.CancelScope | None = None
        self._writable: trio.Event | None = None
        self._held: list[bytes] | None = None  # received, but the queue was full
        self._closed = False

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The reader task: drains input into the receive queue until the socket closes."""
        task_status.started()
        try:
            while not self._closed:
                if self._drain():
                    await trio.lowlevel.checkpoint()  # more may be pending: let others run
                    continue
                if self._held is not None:
                    # A full queue blocks here; `close` cancels this scope so it cannot hang.
                    with trio.CancelScope() as self._queue_scope:
                        await self._in_send.send(self._held)
                        self._held = None
                    self._queue_scope = None
                    continue
                with trio.CancelScope() as scope:
                    self._wait_scope = scope
                    try:
                        await trio.lowlevel.wait_readable(self._fd)
                    finally:
                        self._wait_scope = None
        except trio.ClosedResourceError:
            pass
        finally:
            self._in_send.close()

    def _drain(self) -> bool:
        """Move pending input into the queue without waiting; wake a sender waiting for room.
        True when `DRAIN_MAX` messages were taken and more may be pending."""
        if self._held is not None or self._closed:
            return False
        raw = self.raw
        for _ in range(DRAIN_MAX):
            events = pending_events(self._poll_items)
            if events & _POLLOUT and self._writable is not None:
                self._writable.set()
                self._writable = None
            if not events & _POLLIN:
                return False
            try:
                frames = receive_frames(raw)
            except zmq.Again:
                return False
            try:
                self._in_send.send_nowait(frames)
            except trio.WouldBlock:
                self._held = frames  # the reader waits for room for it
                return False
        return True

    def _kick_reader(self) -> None:
        if self._wait_scope is not None:
            self._wait_scope.cancel()

    def _after_send(self) -> None:
        # A send may have consumed the FD's edge while the reader waits on it: take what is
        # pending ourselves, and wake the reader only if the queue could not take it all.
        if (
            self._wait_scope is not None
            and not self._closed
            and (self._drain() or self._held is not None)
        ):
            self._wait_scope.cancel()

    def send_nowait(self, frames: Sequence[bytes]) -> None:
        """Send or raise (`zmq.Again` when full, `zmq.ZMQError` when unroutable)."""
        try:
            send_frames(self.raw, frames)
        finally:
            self._after_send()

    async def send(self, frames: Sequence[bytes]) -> None:
        """Send, waiting while the high-water mark is reached. A cancel point (a cancelled send
        sends nothing); a schedule point only when it waits (see "The trio adapter")."""
        await trio.lowlevel.checkpoint_if_cancelled()
        while True:
            try:
                self.send_nowait(frames)
                return
            except zmq.Again:
                if self._writable is None:
                    self._writable = trio.Event()
                writable = self._writable
                self._kick_reader()
                await writable.wait()

    async def receive(self) -> list[bytes]:
        """The next multipart message. Raises `trio.EndOfChannel` once the socket is closed."""
        return await self._in_receive.receive()

    def receive_nowait(self) -> list[bytes]:
        """Raises `trio.WouldBlock` when nothing is queued."""
        return self._in_receive.receive_nowait()

    def statistics(self) -> SocketStatistics:
        return SocketStatistics(
            queued=self._in_receive.statistics().current_buffer_used, is_closed=self._closed
        )

    def close(self) -> None:
        """Close the socket; the reader task ends and `receive` raises `EndOfChannel`."""
        if self._closed:
            return
        self._closed = True
        self._kick_reader()
        if self._queue_scope is not None:
            self._queue_scope.cancel()
        self.raw.close(linger=LINGER_MS)


class SerialSocket:
    """A zmq socket that one task at a time sends on and reads, with no reader task.

        sock = SerialSocket(raw)
        sock.send_nowait([b"n2", encode(msg)])     # zmq.Again at the high-water mark:
        frames = await sock.receive()              #   then `await sock.wait_writable()`
        sock.close()

    Two tasks must not wait in it at once (trio raises `BusyResourceError`); the caller
    serialises. See "The trio adapter" above for why it exists.
    """

    def __init__(self, sock: zmq.Socket[Any]) -> None:
        self.raw = sock
        self._fd = int(sock.getsockopt(zmq.FD))
        self._poll_items = [(sock, _POLLIN | _POLLOUT)]
        self._closed = False

    def send_nowait(self, frames: Sequence[bytes]) -> None:
        """Send or raise `zmq.Again` when the high-water mark is reached."""
        if self._closed:
            raise trio.ClosedResourceError("the socket is closed")
        send_frames(self.raw, frames)

    async def send(self, frames: Sequence[bytes]) -> None:
        """Send, waiting while the high-water mark is reached; as `Socket.send`, a cancel point
        that is a schedule point only when it waits."""
        await trio.lowlevel.checkpoint_if_cancelled()
        while True:
            try:
                self.send_nowait(frames)
                return
            except zmq.Again:
                await self.wait_writable()

    async def wait_writable(self) -> None:
        """Wait until a send would not hit the high-water mark."""
        await trio.lowlevel.checkpoint_if_cancelled()
        while not self._events() & _POLLOUT:
            await trio.lowlevel.wait_readable(self._fd)
        await trio.lowlevel.cancel_shielded_checkpoint()

    def receive_nowait(self) -> list[bytes]:
        """The next multipart message; `trio.WouldBlock` when none is pending."""
        if not self._events() & _POLLIN:
            raise trio.WouldBlock
        return receive_frames(self.raw)

    async def receive(self) -> list[bytes]:
        """The next multipart message. Raises `trio.ClosedResourceError` once closed."""
        await trio.lowlevel.checkpoint_if_cancelled()
        if self._events() & _POLLIN:
            frames = receive_frames(self.raw)
            await trio.lowlevel.cancel_shielded_checkpoint()
            return frames
        # `EVENTS` has just processed every pending command, so the FD signals the next one;
        # so does a `recv` that finds nothing (it processes them before it gives up).
        while True:
            await trio.lowlevel.wait_readable(self._fd)
            if self._closed:
                raise trio.ClosedResourceError("the socket is closed")
            try:
                return receive_frames(self.raw)  # usually the reply that woke us
            except zmq.Again:  # another command (room to send, a peer's handshake)
                continue

    def _events(self) -> int:
        if self._closed:
            raise trio.ClosedResourceError("the socket is closed")
        return pending_events(self._poll_items)

    def close(self) -> None:
        """Close the socket; a task waiting in it gets `trio.ClosedResourceError`."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(RuntimeError):  # outside a trio run: nobody can be waiting
            trio.lowlevel.notify_closing(self._fd)
        self.raw.close(linger=LINGER_MS)


# -- a native node's transport ------------------------------------------------------------------


class ZmqTransport:
    """A node's DEALER through the proxy: sends `[dest, json]`, receives `[src, json]`.

    Over a `Socket` (a reader task: several tasks may send and receive, as the stdio adapter's
    two pumps do) or a `SerialSocket` (no reader task: one task at a time, as the driver's)."""

    def __init__(self, sock: Socket | SerialSocket) -> None:
        self.sock = sock

    async def send(self, dest: str, data: bytes) -> None:
        """Send `data` to `dest` through the proxy; raises `SendError` if zmq refuses."""
        try:
            await self.sock.send([dest.encode(), data])
        except (zmq.ZMQError, trio.ClosedResourceError) as e:
            raise SendError(f"cannot send to {dest}: {e}") from None

    async def receive(self) -> tuple[str, bytes]:
        """The next `(src, payload)`. Raises `WireError` for a frame that is not `[src, json]`
        and `trio.EndOfChannel` once the socket is closed."""
        try:
            frames = await self.sock.receive()
        except trio.ClosedResourceError:
            raise trio.EndOfChannel from None
        return _source_and_payload(frames)

    def receive_nowait(self) -> tuple[str, bytes]:
        """As `receive`, but raises `trio.WouldBlock` when no message is waiting."""
        try:
            frames = self.sock.receive_nowait()
        except trio.ClosedResourceError:
            raise trio.EndOfChannel from None
        return _source_and_payload(frames)


def _source_and_payload(frames: list[bytes]) -> tuple[str, bytes]:
    if len(frames) != 2:
        raise WireError(f"expected 2 frames [src, json], got {len(frames)}")
    try:
        src = frames[0].decode()
    except UnicodeDecodeError:
        raise WireError("the src frame is not UTF-8") from None
    return src, frames[1]


@asynccontextmanager
async def open_node_transport(
    node_id: str,
    endpoint: str,
    *,
    secret: str | None = None,
    hwm: int = HWM_DEFAULT,
    one_task: bool = False,
) -> AsyncIterator[ZmqTransport]:
    """A node's DEALER connected to the proxy at `endpoint`, closed, with its context, when
    the block ends.

    With the run's `secret` it authenticates as `node_id` and announces itself with
    `JOIN_FRAME`; without, it connects unauthenticated with routing id `node_id`. By default
    a reader task runs (`Socket`), so that several tasks may use the transport; `one_task`
    promises that one task at a time sends and receives (the driver's main loop), and then
    there is none (`SerialSocket`): a message costs one task switch less on the way in.
    """
    ctx: zmq.Context[Any] = authenticated_context(secret) if secret else zmq.Context()
    raw = None
    try:
        raw = make_socket(ctx, zmq.DEALER, identity=node_id, hwm=hwm, linger_ms=LINGER_MS)
        raw.connect(endpoint)
        if secret:
            raw.send(JOIN_FRAME, zmq.NOBLOCK)  # queued until the handshake is done
    except BaseException:
        if raw is not None:
            raw.close(linger=LINGER_MS)
        ctx.term()  # would block forever on a socket left open
        raise
    if one_task:
        serial = SerialSocket(raw)
        try:
            yield ZmqTransport(serial)
        finally:
            serial.close()
            ctx.term()
        return
    sock = Socket(raw)
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(sock.serve)
            yield ZmqTransport(sock)
            nursery.cancel_scope.cancel()
    finally:
        sock.close()
        ctx.term()
