"""The driver: runs any service machine (`node.machine`) on the real runtime, one event at a time.

A service's protocol logic is a pure state machine: `step(event, *, now_s) -> Effects`. This
module is the thin shell around it, the part that does I/O. It owns a `Transport` (bytes to and
from other ids), the node's `Clock`, optional durable storage, the `Logger` and the timers; it
turns what arrives into events (`Init`, `Receive`, `Tick`) and does what each step's `Effects`
say. The same machine runs unchanged under the simulator and in tests fed literal events.

    machine = get_service("broadcast").machine(Boot("n1", make_rng(7, "n1"), durable=...))
    driver = Driver(machine, transport, node_id="n1", clock=Clock(trio.current_time),
                    log=log, storage=storage)
    async with trio.open_nursery() as nursery:
        await nursery.start(driver.serve)       # until the transport closes or we are cancelled
        ...
    driver.statistics()                         # a frozen DriverStatistics

The transport is `node.wire.ZmqTransport` in a real node (`node.native`) and
`node.memnet.MemoryTransport` in tests under trio's virtual clock.

## What the driver guarantees (docs/internals.md, PROTOCOL.md)
- **One event at a time.** A step finishes before the next event is fed, and the effects of
  a group of steps (below) are applied before the next event is taken: a machine's state never
  interleaves across an `await`. The driver is one task: its loop reads the transport itself,
  waiting no longer than the earliest timer's deadline, and what it has not taken yet waits
  in the transport (a native node's zmq queue, bounded by its high-water mark: backpressure).
  There is no receive task and no channel between it and the loop: each hop cost a task
  switch per message, which the nodes' share of a client operation was mostly made of
  (bench/README.md, "Client throughput"); the transport needs no reader task either
  (`node.wire.open_node_transport(..., one_task=True)`).
- **Group commit.** Messages already waiting when the main loop takes one are stepped with it,
  one after another (at most `STEP_GROUP_MAX`, and only messages for the machine: an `init` or
  a `chaos_*` message ends the group and is handled after it), and their effects are applied
  as one: every persist in order, then **one** sync if any step asked for one, then every
  message in order, then timers and log lines. A Raft follower that finds several
  append_entries waiting syncs once for all of them (etcd/raft's `Ready` holds what many
  steps produced). Nothing goes out earlier than a step-at-a-time driver would send it
  relative to the syncs it depends on; messages of a step that needed no sync may go out a
  little later (after the group's sync), which is always allowed. Timers fire only between
  groups, so a group is bounded to keep them on time.
- **The init handshake.** `init` is answered by the driver: a `node_id` that is not ours, or
  `node_ids` that is not a list of ids including ours, is refused with error 12 (the routing
  id is fixed by `--id`). A valid one is fed to the machine as `Init(node_ids)`, its effects
  are applied, and then `init_ok` goes out; the same on every repeated `init` (machines treat
  a repeated `Init` in one process life as idempotent: unique-ids boots once per life).
- **Nothing before init.** Other messages that arrive before the first `init` are held, in
  order, and fed to the machine right after it (at most `HELD_MAX`; beyond that they are
  dropped, counted and logged: a request then times out, which is always safe).
- **Nemesis control stays out of the machine.** `chaos_clock {offset_ms, rate, period_ms}`
  (each optional) sets the clock (`period_ms` above 0 strobes it, `node.clock`) and is
  answered `chaos_clock_ok {offset_ms, rate, period_ms}` (error 12 for a bad value).
  `chaos_status` is answered `chaos_status_ok {status}`, `status` being the machine's
  `status()` dict (a machine may define `def status(self) -> dict`, e.g. Raft's `{"role",
  "term", "leader", "commit_index", "last_index"}`; it must only read, never change state): the
  nemesis finds the leader with it. A machine without `status()` answers error 10; one not
  initialised yet answers error 11 (temporarily unavailable): before its first `Init` a machine
  does not know its cluster, so what it would say (a role, a term from its disk) could name a
  leader that no one follows; the nemesis skips a node that does not answer with a status.
  Any other `chaos_*` request is answered error 10. None of them waits for init (none is
  held), and no `chaos_*` message is ever passed to the machine's `step`.
- **Effects in order** (etcd/raft's `Ready`): `storage.set` for each persist; then, if `sync`,
  `await storage.sync_async()` before any message of the step (of the group) goes out (a write
  acknowledged is a write on disk); then the messages, in order; then the timers; then the log
  lines.
  A machine that persists on a driver without storage is a bug and crashes the node.
- **Timers** are one-shot and named. `SetTimer(name, after_s)` replaces a pending timer of that
  name (so setting it again resets it), `CancelTimer(name)` removes it, and a timer fires once
  as `Tick(name)`. `after_s` is node time, converted to real time with the clock's rate at the
  step that set it (`Clock.real_duration_s`): a fast clock fires timers early. Timers due at the
  same time fire in deadline order, then in the order they were set; a timer reset or
  cancelled by an earlier tick of the same round does not fire.
- **Garbage is survived.** A bad frame, bad JSON or a bad envelope is counted, logged and
  dropped (`node.wire.decode`). An exception raised by the machine is a bug: it is logged and
  crashes the node loudly (the run reports a harness failure with the traceback).
- The driver's own replies (`init_ok`, `chaos_clock_ok`, `chaos_status_ok` and their errors)
  carry no `msg_id`:
  msg_ids are the machine's, unique per process life and counting from 1.

## What it does not do
No rpc helper and no request timeouts: a machine correlates replies with its requests by
`in_reply_to` and sets its own timers. A timer set before a clock-rate change keeps its real
deadline (as an armed OS timer would). No retransmission: losing messages is the network's
right and recovering from it the protocol's job.
"""

from __future__ import annotations

import itertools
import random
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import trio

from node import wire
from node.clock import Clock, ClockError
from node.log import Logger
from node.machine import Effects, Event, Init, Receive, SetTimer, StepMachine, Tick, init_problem
from node.protocol import MALFORMED_REQUEST, NOT_SUPPORTED, TEMPORARILY_UNAVAILABLE
from node.wire import Message, WireError

HELD_MAX = 1024  # messages held until the first init
STEP_GROUP_MAX = 64  # queued messages stepped together before their effects are applied


class Transport(Protocol):
    async def send(self, dest: str, data: bytes) -> None: ...

    async def receive(self) -> tuple[str, bytes]:
        """The next `(src, payload)`. Raises `WireError` for a malformed frame and
        `trio.EndOfChannel` when the transport is closed."""
        ...

    def receive_nowait(self) -> tuple[str, bytes]:
        """As `receive`, but raises `trio.WouldBlock` when nothing is waiting."""
        ...


class Store(Protocol):
    """What the driver needs of durable storage (`node.storage.Storage` is one)."""

    def set(self, key: str, value: Any) -> None: ...

    async def sync_async(self) -> None: ...


class NoStorageError(RuntimeError):
    """The machine asked to persist state on a driver that was given no storage."""


@dataclass(frozen=True)
class DriverStatistics:
    received: int  # well-formed messages taken from the transport
    sent: int
    malformed: int  # frames, JSON or envelopes dropped
    held: int  # messages waiting for the first init
    held_dropped: int  # arrived before init while the hold was full
    init_refused: int
    chaos_handled: int  # chaos_* control messages answered by the driver
    steps: int  # events fed to the machine
    groups: int  # times effects were applied (one step's, or a group of queued messages')
    syncs: int
    timers_fired: int
    timers_pending: int
    is_initialized: bool


def make_rng(seed: int, node_id: str) -> random.Random:
    """One seed for the run, one stream per node (STYLE.md #4)."""
    return random.Random(f"{seed}:{node_id}")


class Driver:
    """Runs one machine as node `node_id` on `transport` (see the module docstring)."""

    def __init__(
        self,
        machine: StepMachine,
        transport: Transport,
        *,
        node_id: str,
        clock: Clock,
        log: Logger,
        storage: Store | None = None,
        held_max: int = HELD_MAX,
        step_group_max: int = STEP_GROUP_MAX,
    ) -> None:
        assert node_id, "a driver needs its node id"
        assert held_max >= 0, held_max
        assert step_group_max > 0, step_group_max
        self.node_id = node_id
        self.machine = machine
        self.clock = clock
        self.log = log
        self.storage = storage
        self._transport = transport
        self._held_max = held_max
        self._step_group_max = step_group_max
        self._held: deque[Message] = deque()
        self._is_initialized = False
        self._is_serving = False
        # name -> (real deadline, sequence number of the SetTimer that armed it)
        self._timers: dict[str, tuple[float, int]] = {}
        self._timer_seq = itertools.count()
        self._counts = dict.fromkeys(
            ("received", "sent", "malformed", "held_dropped", "init_refused", "chaos_handled",
             "steps", "groups", "syncs", "timers_fired"),
            0,
        )

    @property
    def is_initialized(self) -> bool:
        return self._is_initialized

    def statistics(self) -> DriverStatistics:
        return DriverStatistics(
            **self._counts,
            held=len(self._held),
            timers_pending=len(self._timers),
            is_initialized=self._is_initialized,
        )

    # -- the loops -----------------------------------------------------------------------------

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Receive, step and apply until the transport closes (or the caller cancels)."""
        assert not self._is_serving, "serve() runs once per driver"
        self._is_serving = True
        task_status.started()
        await self._main_loop()

    async def _main_loop(self) -> None:
        while True:
            if self._timers:
                await self._fire_due_timers()
            deadline = self._next_deadline()
            try:
                if deadline == float("inf"):
                    msg = await self._receive_until(deadline)  # a checkpoint, waiting or not
                else:
                    # Take a waiting message first: waiting on a deadline already past would
                    # be cancelled before it could take one, starving messages behind busy
                    # timers.
                    msg = self._receive_nowait()
                    if msg is None:
                        msg = await self._receive_until(deadline)
                    else:
                        await trio.lowlevel.checkpoint()
            except trio.EndOfChannel:
                return
            while msg is not None:
                if not self._is_for_machine(msg):
                    await self._dispatch(msg)
                    break
                msg = await self._step_group(msg)

    def _receive_nowait(self) -> Message | None:
        """The next well-formed message if one is waiting in the transport, else None;
        garbage on the way is counted and dropped."""
        while True:
            try:
                src, data = self._transport.receive_nowait()
            except trio.WouldBlock:
                return None
            except WireError as e:
                self._malformed(str(e), src=None)
                continue
            msg = self._decode(src, data)
            if msg is not None:
                return msg

    async def _receive_until(self, deadline: float) -> Message | None:
        """The next well-formed message, or None once `deadline` (a timer's) has passed."""
        while True:
            try:
                if deadline == float("inf"):  # no timer: no cancel scope to pay for
                    src, data = await self._transport.receive()
                else:
                    with trio.move_on_at(deadline) as scope:
                        src, data = await self._transport.receive()
                    if scope.cancelled_caught:
                        return None
            except WireError as e:
                self._malformed(str(e), src=None)
                continue
            msg = self._decode(src, data)
            if msg is not None:
                return msg

    def _decode(self, src: str, data: bytes) -> Message | None:
        try:
            msg = wire.decode(data)
        except WireError as e:
            self._malformed(str(e), src=src)
            return None
        self._counts["received"] += 1
        return msg

    def _is_for_machine(self, msg: Message) -> bool:
        """Whether `msg` is simply stepped (not init, not chaos control, not held)."""
        msg_type = msg["body"]["type"]
        return self._is_initialized and msg_type != "init" and not msg_type.startswith("chaos_")

    async def _step_group(self, first: Message) -> Message | None:
        """Step `first` and the machine's messages waiting behind it, then apply their effects
        as one (module docstring, "Group commit"). Returns the waiting message that ended the
        group (to be dispatched next), or None."""
        group = [self._step_only(Receive(first))]
        following: Message | None = None
        while len(group) < self._step_group_max:
            try:
                msg = self._receive_nowait()
            except trio.EndOfChannel:  # the main loop ends on it next
                break
            if msg is None:
                break
            if not self._is_for_machine(msg):
                following = msg
                break
            group.append(self._step_only(Receive(msg)))
        await self._apply(group)
        return following

    def _next_deadline(self) -> float:
        if not self._timers:
            return float("inf")
        return min(deadline for deadline, _ in self._timers.values())

    async def _fire_due_timers(self) -> None:
        now = trio.current_time()
        due = sorted(
            (deadline, seq, name)
            for name, (deadline, seq) in self._timers.items()
            if deadline <= now
        )
        for deadline, seq, name in due:
            if self._timers.get(name) != (deadline, seq):
                continue  # reset or cancelled by an earlier tick of this round
            del self._timers[name]
            self._counts["timers_fired"] += 1
            await self._step(Tick(name))

    # -- one message ---------------------------------------------------------------------------

    async def _dispatch(self, msg: Message) -> None:
        msg_type = msg["body"]["type"]
        if msg_type == "init":
            await self._init(msg)
        elif msg_type.startswith("chaos_"):
            await self._chaos(msg)
        elif not self._is_initialized:
            self._hold(msg)
        else:
            await self._step(Receive(msg))

    def _hold(self, msg: Message) -> None:
        if len(self._held) >= self._held_max:
            self._counts["held_dropped"] += 1
            self.log.warning(
                "dropped_before_init", type=msg["body"]["type"], src=msg["src"],
                count=self._counts["held_dropped"],
            )
            return
        self._held.append(msg)

    async def _init(self, msg: Message) -> None:
        why = init_problem(self.node_id, msg["body"])
        if why is not None:
            await self._refuse_init(msg, why)
            return
        node_ids = msg["body"]["node_ids"]
        again = self._is_initialized
        self.log.info("init", node_ids=node_ids, again=again)
        await self._step(Init(tuple(node_ids)))
        self._is_initialized = True
        await self._send(msg["src"], wire.reply_body(msg))
        while self._held:
            await self._step(Receive(self._held.popleft()))

    async def _refuse_init(self, msg: Message, why: str) -> None:
        self._counts["init_refused"] += 1
        self.log.error("init_refused", why=why, src=msg["src"])
        await self._send(msg["src"], wire.error_body(msg, MALFORMED_REQUEST, why))

    async def _chaos(self, msg: Message) -> None:
        body = msg["body"]
        if body.get("in_reply_to") is not None or body["type"].endswith("_ok"):
            self.log.debug("unmatched_reply", type=body["type"], src=msg["src"])
            return  # never answer a reply: two nodes must not bounce errors forever
        self._counts["chaos_handled"] += 1
        if body["type"] == "chaos_clock":
            reply = self._chaos_clock(msg)
        elif body["type"] == "chaos_status":
            reply = self._chaos_status(msg)
        else:
            self.log.info("not_supported", type=body["type"], src=msg["src"])
            text = f"this node does not support {body['type']!r}"
            reply = wire.error_body(msg, NOT_SUPPORTED, text)
        await self._send(msg["src"], reply)

    def _chaos_clock(self, msg: Message) -> dict[str, Any]:
        body = msg["body"]
        values: dict[str, float | None] = {}
        try:
            for name in ("offset_ms", "rate", "period_ms"):
                value = body.get(name)
                if value is not None and (
                    isinstance(value, bool) or not isinstance(value, int | float)
                ):
                    raise ClockError(f"{name} must be a number")
                values[name] = None if value is None else float(value)
            self.clock.set(**values)
        except ClockError as e:
            return wire.error_body(msg, MALFORMED_REQUEST, f"chaos_clock: {e}")
        stats = self.clock.statistics()
        self.log.info("clock_set", offset_ms=stats.offset_ms, rate=stats.rate,
                      period_ms=stats.period_ms)
        return wire.reply_body(msg, offset_ms=stats.offset_ms, rate=stats.rate,
                               period_ms=stats.period_ms)

    def _chaos_status(self, msg: Message) -> dict[str, Any]:
        """The machine's `status()`, read between steps (never during one)."""
        status = getattr(self.machine, "status", None)
        if not callable(status):
            text = f"{type(self.machine).__name__} reports no status"
            return wire.error_body(msg, NOT_SUPPORTED, text)
        if not self._is_initialized:
            text = "not initialised yet: no status before the first init"
            return wire.error_body(msg, TEMPORARILY_UNAVAILABLE, text)
        try:
            value = status()
            if not isinstance(value, Mapping):
                raise TypeError(f"status() returned {value!r}, not a dict")
        except Exception as e:  # a bug of the machine's, as an exception in `step` is
            self.log.error("machine_crashed", step="status()", error=repr(e))
            raise
        return wire.reply_body(msg, status=dict(value))

    # -- one step ------------------------------------------------------------------------------

    async def _step(self, event: Event) -> None:
        await self._apply([self._step_only(event)])

    def _step_only(self, event: Event) -> tuple[Effects, float]:
        """Feed one event to the machine; its effects and the time it was taken at."""
        started_s = trio.current_time()
        try:
            fx = self.machine.step(event, now_s=self.clock.now_s())
        except Exception as e:
            self.log.error("machine_crashed", step=repr(event), error=repr(e))
            raise
        self._counts["steps"] += 1
        return fx, started_s

    async def _apply(self, group: list[tuple[Effects, float]]) -> None:
        """Do what the steps of `group` ask, in `Effects` order across them all: persist,
        sync (once), send, timers (each from the time of its own step), logs."""
        self._counts["groups"] += 1
        if any(fx.persist or fx.sync for fx, _ in group):
            if self.storage is None:
                persisted = sorted({key for fx, _ in group for key in fx.persist})
                raise NoStorageError(
                    f"{type(self.machine).__name__} persisted {persisted} but the driver has "
                    "no storage"
                )
            for fx, _ in group:
                for key, value in fx.persist.items():
                    self.storage.set(key, value)
            if any(fx.sync for fx, _ in group):
                await self.storage.sync_async()  # durable before any message of the group
                self._counts["syncs"] += 1
        for fx, _ in group:
            for dest, body in fx.messages:
                await self._send(dest, body)
        for fx, started_s in group:
            for timer in fx.timers:
                if isinstance(timer, SetTimer):
                    assert timer.after_s >= 0, timer
                    deadline = started_s + self.clock.real_duration_s(timer.after_s)
                    self._timers[timer.name] = (deadline, next(self._timer_seq))
                else:
                    self._timers.pop(timer.name, None)
        for fx, _ in group:
            for level, event, fields in fx.logs:
                self.log.log(level, event, **fields)

    async def _send(self, dest: str, body: dict[str, Any]) -> None:
        msg = {"src": self.node_id, "dest": dest, "body": body}
        await self._transport.send(dest, wire.encode(msg))
        self._counts["sent"] += 1

    def _malformed(self, reason: str, *, src: str | None) -> None:
        self._counts["malformed"] += 1
        self.log.warning("malformed", reason=reason, src=src, count=self._counts["malformed"])
