"""The node runtime: message dispatch, rpc with deadlines, timers and the init handshake.

A service (one module in `node.services`) registers handlers on a `Node` and never touches
sockets:

    def install(node: Node, *, bug: str | None) -> None:
        async def echo(msg: Message) -> None:
            await node.reply(msg, {"type": "echo_ok", "echo": msg["body"].get("echo")})
        node.on("echo", echo)
        node.every(1.0, some_async_function)     # runs after init, every 1 s of node time

    reply = await node.rpc("n2", {"type": "read"}, timeout_s=1.0)   # RpcTimeout, RpcError
    await node.send("n2", {"type": "gossip", "messages": [1, 2]})  # fire and forget

## What the runtime guarantees (docs/internals.md, PROTOCOL.md)
- Every message it sends gets a `msg_id`, unique per node process, counting from 1.
- `init` is answered with `init_ok` (again on a repeated `init`; a restarted process is a new
  node and waits for its own). Handlers other than `init` and `chaos_*` wait until `init`, so a
  service can rely on `node.node_ids`. An `init` naming another node id is refused with error 12:
  the routing id is fixed by `--id` and cannot change.
- A message whose `in_reply_to` matches an outstanding `rpc` completes it; any other message
  goes to the handler of its type, in its own task (at most `handlers_max` at a time; beyond
  that the receive loop waits, which is the backpressure). A request of an unknown type is
  answered with error 10 (not-supported); an unmatched reply or error is dropped (logged at
  debug), never answered, so two nodes cannot bounce errors forever.
- Malformed input (bad frames, bad JSON, a bad envelope) is counted, logged and dropped. A
  handler that finds a request malformed raises `RpcError(12, ...)` (see `field`), which is
  answered as an error. Any other exception in a handler crashes the node loudly: that is a
  bug, and the run reports it as a harness failure.
- `chaos_clock {offset_ms, rate}` sets the node's `Clock` and answers `chaos_clock_ok` with the
  new settings. All timers and rpc deadlines run on that clock.

## Transports
The runtime speaks to a `Transport` (send `(dest, bytes)`, receive `(src, bytes)`), so it can
be tested and simulated without sockets: `node.memnet.MemoryNetwork` is one, used under trio's
virtual clock; `ZmqTransport` is the real one, a DEALER whose routing id is the node id.
`run_native` puts a service, the ZMQ transport, storage and the lifeline together: it is what
`python -m node` runs.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import trio
import zmq

from node import lifeline, wire
from node.clock import Clock, ClockError
from node.log import Logger
from node.storage import Storage
from node.wire import Message, WireError

HANDLERS_MAX = 1024  # handler tasks in flight before the receive loop waits

# PROTOCOL.md error codes used by the runtime.
TIMEOUT = 0
NOT_SUPPORTED = 10
TEMPORARILY_UNAVAILABLE = 11
MALFORMED_REQUEST = 12

Handler = Callable[[Message], Awaitable[None]]
Periodic = Callable[[], Awaitable[None]]


class RpcError(Exception):
    """An error reply: raised by `Node.rpc` when the peer answered `error`, and raised by a
    handler to answer its request with an error."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"error {code}: {text}")
        self.code = code
        self.text = text


class RpcTimeout(Exception):
    """No reply within the deadline. Indefinite: the request may have taken effect."""


class Transport(Protocol):
    async def send(self, dest: str, data: bytes) -> None: ...

    async def receive(self) -> tuple[str, bytes]:
        """The next `(src, payload)`. Raises `WireError` for a malformed frame and
        `trio.EndOfChannel` when the transport is closed."""
        ...


def field(msg: Message, name: str, kind: type | tuple[type, ...], *, optional: bool = False) -> Any:
    """`msg["body"][name]` checked against `kind`; a missing or mistyped field raises
    `RpcError(12)`, which the runtime answers as malformed-request."""
    body = msg["body"]
    if name not in body:
        if optional:
            return None
        raise RpcError(MALFORMED_REQUEST, f"{body['type']}: missing field {name!r}")
    value = body[name]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    # JSON true is a Python int: refuse it where a number is asked for and a bool is not.
    if isinstance(value, bool) and bool not in kinds and ({int, float} & set(kinds)):
        raise RpcError(MALFORMED_REQUEST, f"{body['type']}: field {name!r} must not be a bool")
    if not isinstance(value, kind):
        raise RpcError(MALFORMED_REQUEST, f"{body['type']}: field {name!r} has the wrong type")
    return value


@dataclass(frozen=True)
class NodeStatistics:
    received: int
    sent: int
    malformed: int
    not_supported: int
    unmatched_replies: int
    rpc_timeouts: int
    rpcs_pending: int
    is_initialized: bool


class _Pending:
    def __init__(self) -> None:
        self.event = trio.Event()
        self.reply: Message | None = None


class Node:
    def __init__(
        self,
        node_id: str,
        transport: Transport,
        *,
        clock: Clock,
        log: Logger,
        rng: random.Random,
        storage: Storage | None = None,
        handlers_max: int = HANDLERS_MAX,
    ) -> None:
        self.node_id = node_id
        self.node_ids: list[str] = []
        self.clock = clock
        self.log = log
        self.rng = rng
        self.storage = storage
        self._transport = transport
        self._handlers: dict[str, Handler] = {}
        self._periodic: list[tuple[float, Periodic]] = []
        self._pending: dict[int, _Pending] = {}
        self._msg_ids = itertools.count(1)
        self._initialized = trio.Event()
        self._handler_slots = trio.Semaphore(handlers_max)
        self._nursery: trio.Nursery | None = None
        self._counts = dict.fromkeys(
            ("received", "sent", "malformed", "not_supported", "unmatched_replies", "rpc_timeouts"),
            0,
        )

    # -- registration (before serve) ----------------------------------------------------------

    def on(self, msg_type: str, handler: Handler) -> None:
        assert msg_type != "init" and not msg_type.startswith("chaos_"), msg_type
        assert msg_type not in self._handlers, f"two handlers for {msg_type!r}"
        self._handlers[msg_type] = handler

    def every(self, interval_s: float, fn: Periodic) -> None:
        """Call `fn` every `interval_s` of node time, starting one interval after `init`."""
        assert interval_s > 0, interval_s
        assert self._nursery is None, "register timers before serve()"
        self._periodic.append((interval_s, fn))

    # -- state ---------------------------------------------------------------------------------

    @property
    def is_initialized(self) -> bool:
        return self._initialized.is_set()

    async def wait_initialized(self) -> None:
        await self._initialized.wait()

    def other_node_ids(self) -> list[str]:
        return [n for n in self.node_ids if n != self.node_id]

    def statistics(self) -> NodeStatistics:
        return NodeStatistics(
            **self._counts, rpcs_pending=len(self._pending), is_initialized=self.is_initialized
        )

    # -- sending -------------------------------------------------------------------------------

    async def send(self, dest: str, body: dict[str, Any]) -> int:
        """Send `body` to `dest`, adding a fresh `msg_id`; return the msg_id."""
        assert isinstance(body.get("type"), str), body
        msg_id = next(self._msg_ids)
        msg = {"src": self.node_id, "dest": dest, "body": {**body, "msg_id": msg_id}}
        await self._transport.send(dest, wire.encode(msg))
        self._counts["sent"] += 1
        return msg_id

    async def reply(self, request: Message, body: dict[str, Any]) -> None:
        """Answer `request` (to its `src`, with `in_reply_to` set)."""
        body = dict(body)
        if "msg_id" in request["body"]:
            body["in_reply_to"] = request["body"]["msg_id"]
        await self.send(request["src"], body)

    async def reply_error(self, request: Message, code: int, text: str) -> None:
        await self.reply(request, {"type": "error", "code": code, "text": text})

    async def rpc(self, dest: str, body: dict[str, Any], *, timeout_s: float) -> Message:
        """Send a request and wait for its reply, at most `timeout_s` of node time.

        Raises `RpcTimeout` without a reply and `RpcError` when the reply is an `error`."""
        assert timeout_s > 0, timeout_s
        msg_id = next(self._msg_ids)
        pending = _Pending()
        self._pending[msg_id] = pending
        try:
            msg = {"src": self.node_id, "dest": dest, "body": {**body, "msg_id": msg_id}}
            await self._transport.send(dest, wire.encode(msg))
            self._counts["sent"] += 1
            with trio.move_on_after(self.clock.real_duration_s(timeout_s)):
                await pending.event.wait()
        finally:
            del self._pending[msg_id]
        reply = pending.reply
        if reply is None:
            self._counts["rpc_timeouts"] += 1
            raise RpcTimeout(f"no reply from {dest} to {body['type']} within {timeout_s} s")
        if reply["body"]["type"] == "error":
            code = reply["body"].get("code")
            text = reply["body"].get("text")
            raise RpcError(code if isinstance(code, int) else 13, str(text))
        return reply

    # -- serving -------------------------------------------------------------------------------

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Receive and dispatch until the transport closes (or the caller cancels)."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            for interval_s, fn in self._periodic:
                nursery.start_soon(self._run_periodic, interval_s, fn)
            task_status.started()
            await self._receive_loop()
            nursery.cancel_scope.cancel()

    async def _run_periodic(self, interval_s: float, fn: Periodic) -> None:
        await self._initialized.wait()
        while True:
            await trio.sleep(self.clock.real_duration_s(interval_s))
            await fn()

    async def _receive_loop(self) -> None:
        while True:
            try:
                src, data = await self._transport.receive()
            except trio.EndOfChannel:
                return
            except WireError as e:
                self._malformed(str(e), src=None)
                continue
            try:
                msg = wire.decode(data)
            except WireError as e:
                self._malformed(str(e), src=src)
                continue
            self._counts["received"] += 1
            await self._dispatch(msg)

    def _malformed(self, reason: str, *, src: str | None) -> None:
        self._counts["malformed"] += 1
        self.log.warning("malformed", reason=reason, src=src, count=self._counts["malformed"])

    async def _dispatch(self, msg: Message) -> None:
        body = msg["body"]
        msg_type = body["type"]
        in_reply_to = body.get("in_reply_to")
        if in_reply_to is not None and in_reply_to in self._pending:
            pending = self._pending[in_reply_to]
            if pending.reply is None:  # a duplicated reply changes nothing
                pending.reply = msg
                pending.event.set()
            return
        if msg_type == "init":
            await self._handle_init(msg)
            return
        if msg_type == "chaos_clock":
            await self._handle_chaos_clock(msg)
            return
        handler = self._handlers.get(msg_type)
        if handler is None:
            if in_reply_to is not None or msg_type == "error" or msg_type.endswith("_ok"):
                self._counts["unmatched_replies"] += 1
                self.log.debug(
                    "unmatched_reply", type=msg_type, src=msg["src"], in_reply_to=in_reply_to
                )
                return
            self._counts["not_supported"] += 1
            self.log.info("not_supported", type=msg_type, src=msg["src"])
            await self.reply_error(msg, NOT_SUPPORTED, f"this node does not support {msg_type!r}")
            return
        assert self._nursery is not None
        await self._handler_slots.acquire()
        self._nursery.start_soon(self._run_handler, handler, msg)

    async def _run_handler(self, handler: Handler, msg: Message) -> None:
        try:
            await self._initialized.wait()
            try:
                await handler(msg)
            except RpcError as e:
                if "msg_id" in msg["body"] and msg["body"].get("in_reply_to") is None:
                    await self.reply_error(msg, e.code, e.text)
                self.log.info("request_error", type=msg["body"]["type"], code=e.code, text=e.text)
        finally:
            self._handler_slots.release()

    async def _handle_init(self, msg: Message) -> None:
        body = msg["body"]
        node_id = body.get("node_id")
        node_ids = body.get("node_ids")
        if node_id != self.node_id:
            self.log.error("init_refused", node_id=node_id, expected=self.node_id)
            await self.reply_error(
                msg, MALFORMED_REQUEST, f"init for {node_id!r} reached node {self.node_id!r}"
            )
            return
        if not (isinstance(node_ids, list) and all(isinstance(n, str) for n in node_ids)) or (
            self.node_id not in node_ids
        ):
            self._malformed("init: node_ids must be a list of ids including ours", src=msg["src"])
            await self.reply_error(
                msg, MALFORMED_REQUEST, "init: node_ids must be a list of ids including ours"
            )
            return
        self.node_ids = list(node_ids)
        self.log.info("init", node_ids=self.node_ids, again=self.is_initialized)
        self._initialized.set()
        await self.reply(msg, {"type": "init_ok"})

    async def _handle_chaos_clock(self, msg: Message) -> None:
        body = msg["body"]
        try:
            offset_ms = body.get("offset_ms")
            rate = body.get("rate")
            for name, value in (("offset_ms", offset_ms), ("rate", rate)):
                if value is not None and (
                    isinstance(value, bool) or not isinstance(value, int | float)
                ):
                    raise ClockError(f"{name} must be a number")
            self.clock.set(
                offset_ms=None if offset_ms is None else float(offset_ms),
                rate=None if rate is None else float(rate),
            )
        except ClockError as e:
            await self.reply_error(msg, MALFORMED_REQUEST, f"chaos_clock: {e}")
            return
        stats = self.clock.statistics()
        self.log.info("clock_set", offset_ms=stats.offset_ms, rate=stats.rate)
        await self.reply(
            msg, {"type": "chaos_clock_ok", "offset_ms": stats.offset_ms, "rate": stats.rate}
        )


# -- the real transport and the node program ----------------------------------------------------


class ZmqTransport:
    """A DEALER with routing id = node id: sends `[dest, json]`, receives `[src, json]`."""

    def __init__(self, sock: wire.Socket) -> None:
        self.sock = sock

    async def send(self, dest: str, data: bytes) -> None:
        await self.sock.send([dest.encode(), data])

    async def receive(self) -> tuple[str, bytes]:
        frames = await self.sock.receive()
        if len(frames) != 2:
            raise WireError(f"expected 2 frames [src, json], got {len(frames)}")
        try:
            src = frames[0].decode()
        except UnicodeDecodeError:
            raise WireError("the src frame is not UTF-8") from None
        return src, frames[1]


def make_rng(seed: int, node_id: str) -> random.Random:
    """One seed for the run, one stream per node (STYLE.md #4)."""
    return random.Random(f"{seed}:{node_id}")


async def run_native(
    *,
    node_id: str,
    service: str,
    bug: str | None,
    proxy: str,
    data_dir: Path,
    parent_pid: int,
    seed: int,
    log: Logger,
) -> str:
    """Run a native node until SIGTERM/SIGINT or the parent's death; return the reason."""
    from node import services

    storage = Storage.open(data_dir)
    ctx: zmq.Context[Any] = zmq.Context()
    raw = wire.make_socket(ctx, zmq.DEALER, identity=node_id)
    raw.connect(proxy)
    sock = wire.Socket(raw)
    node = Node(
        node_id,
        ZmqTransport(sock),
        clock=Clock(trio.current_time),
        log=log,
        rng=make_rng(seed, node_id),
        storage=storage,
    )
    services.load(service).install(node, bug=bug)
    log.info(
        "start",
        service=service,
        bug=bug,
        proxy=proxy,
        seed=seed,
        parent_pid=parent_pid,
        data=str(data_dir),
    )
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(sock.serve)
            await nursery.start(node.serve)
            reason = await lifeline.wait_stop_reason(parent_pid, log)
            nursery.cancel_scope.cancel()
    finally:
        sock.close()
        ctx.term()
    storage.sync()  # a graceful stop keeps what a killed process would lose
    stats = node.statistics()
    log.info(
        "stop", reason=reason, received=stats.received, sent=stats.sent, malformed=stats.malformed
    )
    return reason
