"""Jepsen-style clients and the history recorder.

The clients live in the orchestrator so that every timestamp in the history comes from one
monotonic clock and real-time order between operations is exact (DESIGN.md).

- `Recorder` appends operations to `history.jsonl`, each line written whole, so that a run
  killed at any moment leaves a history that parses up to its last whole line. `record`
  writes and flushes the line before it returns (the nemesis, the watchdog). The clients'
  operations, thousands a second, go through `record_deferred`: the line is written, with
  every other line recorded meanwhile, in one write before the orchestrator next waits for
  anything (a trio instrument's `before_io_wait`: the moment the scheduler asks the OS for
  I/O), not one write and flush per line. This bounds DESIGN.md's "appended and flushed as
  operations happen" by one scheduling round: a `kill -9` of the orchestrator loses at most
  the lines of the round it was in, an exception none (`close` writes them), and lines stay
  in index order (`record` writes what is pending before its own line). Its `counts` are the
  run's client-side counts (`results.json` "counts"): operations by type, and the replies the
  clients dropped (`unmatched_replies`, `garbage_replies`), added up from each client's
  `statistics()` when its connection closes.
- A client connection is a DEALER socket that logs in to the proxy as the client's id (`c1`,
  `c2`, ...), through the proxy to the nodes. A reply whose `in_reply_to` matches no waiting
  request is dropped (PROTOCOL.md, client semantics) and counted: such replies are normal
  under faults (a reply that came after its request timed out, a copy the proxy duplicated),
  so they are reported, not judged. A frame that is not a message at all is counted apart
  (`garbage_replies`): the proxy forwards what merely looks like an object, and the codec
  refuses it here. `SerialClient` (from `open_client`, what workers use) has one request
  outstanding at a time and reads its socket in the calling task, with no reader task
  (`node.wire.SerialSocket`, a deviation from DESIGN.md's one reader task per socket: it
  halves the task switches per operation): a reply that arrives while no call waits is read,
  and counted, by the next call or when the connection closes. `RpcClient` takes concurrent
  calls (the admin client `c0`, which asks every node at once): a reader task hands each reply
  to its caller.
- `run_worker` is Jepsen's client loop for one logical client: invoke, wait with a deadline,
  complete as `ok`, `fail` or `info`. After `info` the client's process id is retired and it
  goes on under a new process and a new connection (a fresh client id, never reused), because
  the old operation may still take effect at any later time (`next_process` is that rule).
  Workers pace themselves against a schedule (Jepsen's `stagger`): operation k+1 is due a
  uniformly random gap after operation k was *due* (mean `interval_s`, so the clients
  together aim at `--rate`), not after it completed; a worker that is behind (slow replies,
  a timeout) starts at once and makes up at most two intervals (`LAG_INTERVALS_MAX`), one
  that cannot keep up at all never sleeps, and one that is due within `PACING_SLACK_S` does
  not sleep (a sleep that short costs a timer and overshoots anyway).
- `run_final_ops` runs the workload's final operations (reads after healing), each retried on a
  fresh connection until it succeeds.

What this does not do: it does not retry operations (a retry is a new operation), and it does
not interpret results; the workload maps replies to `ok`/`fail`/`info` and the checkers judge.
"""

from __future__ import annotations

import contextlib
import itertools
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import trio
import zmq

from chaos import store
from checker.history import ValueEncoder
from node import wire

# One encoder for every history line (`json.dumps` with arguments builds one per call).
_LINE = wire.compact_json_encoder(ensure_ascii=True, default=str)
DEFERRED_LINES_MAX = 1000  # deferred lines held at most; then they are written at once
PACING_SLACK_S = 0.001  # an operation due this soon starts without sleeping
LAG_INTERVALS_MAX = 2  # how far a worker's schedule may lag: the largest gap (`next_due`)


class Recorder:
    """Writes the history, one whole JSON line per operation, and counts outcomes."""

    def __init__(
        self, path: Path, *, epoch_ns: int, now_ns: Callable[[], int] | None = None
    ) -> None:
        """`now_ns` gives the time since the run's epoch; by default the monotonic clock
        (the simulator passes its virtual clock, so a seed gives the same history)."""
        self.path = path
        self.epoch_ns = epoch_ns
        self._now_ns = now_ns
        with store.writing(path):  # a full or unwritable store is a StoreError naming the file
            self._fh: IO[str] = open(path, "a", encoding="utf-8")  # noqa: SIM115 - see close()
        self._index = itertools.count()
        self._values = ValueEncoder()  # reads as deltas against the node's previous read
        self.counts: dict[str, int] = {"invoke": 0, "ok": 0, "fail": 0, "info": 0}
        self.counts.update(dict.fromkeys(REPLY_COUNTS, 0))
        self._pending: list[str] = []  # lines recorded, not yet written, in index order
        self._writer: _WriteBeforeWait | None = None
        self._failure: store.StoreError | None = None  # a deferred write that failed

    def now_ns(self) -> int:
        if self._now_ns is not None:
            return self._now_ns()
        return time.monotonic_ns() - self.epoch_ns

    def record(
        self,
        type: str,
        process: Any,
        f: str,
        value: Any,
        *,
        error: Any = None,
        node: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Record one operation; its line (and every deferred one before it) is written and
        flushed before this returns."""
        op = self._append(type, process, f, value, error, node, extra)
        self.flush()
        return op

    def record_deferred(
        self,
        type: str,
        process: Any,
        f: str,
        value: Any,
        *,
        error: Any = None,
        node: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Record one operation; its line is written before this process next waits for I/O
        (or at once outside a trio run), see the module docstring."""
        op = self._append(type, process, f, value, error, node, extra)
        if len(self._pending) >= DEFERRED_LINES_MAX or not self._has_writer():
            self.flush()
        return op

    def _append(
        self, type: str, process: Any, f: str, value: Any, error: Any, node: str | None,
        extra: dict[str, Any],
    ) -> dict[str, Any]:
        if self._failure is not None:
            raise self._failure
        index = next(self._index)
        # a read held as ranges is written as a delta against the node's previous read
        # (checker.intset): a long run's history then grows linearly
        value, how = self._values.encode(type=type, f=f, node=node, index=index, value=value)
        op: dict[str, Any] = {
            "index": index,
            "time": self.now_ns(),
            "type": type,
            "process": process,
            "f": f,
            "value": value,
            **how,
        }
        if error is not None:
            op["error"] = error
        if node is not None:
            op["node"] = node
        if extra:
            op.update(extra)
        self._pending.append(_LINE(op) + "\n")
        if process != "nemesis":
            self.counts[type] += 1
        return op

    def flush(self) -> None:
        """Write every recorded line and flush the file. Raises `StoreError` if it cannot."""
        if self._failure is not None:
            raise self._failure
        if not self._pending:
            return
        data = "".join(self._pending)
        self._pending.clear()
        with store.writing(self.path):
            self._fh.write(data)
            self._fh.flush()

    def _has_writer(self) -> bool:
        """Whether deferred lines will be written before the process waits: an instrument in
        the current trio run (installed on first use in each run); False outside one."""
        try:
            run = trio.lowlevel.current_trio_token()
        except RuntimeError:
            return False
        if self._writer is None or self._writer.run is not run:
            self._writer = _WriteBeforeWait(self, run)
            trio.lowlevel.add_instrument(self._writer)
        return True

    def _write_deferred(self) -> None:
        """The instrument's hook: it must not raise (trio would drop it), so a failure is kept
        and raised by the next `record`, `record_deferred`, `flush` or `close`."""
        if not self._pending or self._failure is not None:
            return
        try:
            self.flush()
        except store.StoreError as e:
            self._failure = e

    def count_replies(self, stats: ClientStatistics) -> None:
        """Add one closed client's dropped replies to the run's counts."""
        self.counts["unmatched_replies"] += stats.unmatched_replies
        self.counts["garbage_replies"] += stats.garbage_replies

    def close(self) -> None:
        """Write what is pending and close the file (also after a failed write: what the
        file's buffer still holds is tried once more). Raises `OSError` if that fails."""
        if self._writer is not None:
            with contextlib.suppress(RuntimeError, KeyError):  # another run, or dropped
                trio.lowlevel.remove_instrument(self._writer)
            self._writer = None
        try:
            if self._pending:
                self._fh.write("".join(self._pending))
                self._pending.clear()
        finally:
            self._fh.close()
        if self._failure is not None:  # as a failing close would: the caller describes it
            cause = self._failure.__cause__
            raise cause if isinstance(cause, OSError) else self._failure


class _WriteBeforeWait(trio.abc.Instrument):
    """Writes a recorder's deferred lines each time trio's scheduler is about to wait for I/O."""

    def __init__(self, recorder: Recorder, run: trio.lowlevel.TrioToken) -> None:
        self._recorder = recorder
        self.run = run

    def before_io_wait(self, timeout: float) -> None:
        self._recorder._write_deferred()


REPLY_COUNTS = ("unmatched_replies", "garbage_replies")


@dataclass(frozen=True)
class ClientStatistics:
    """What one client connection dropped: replies that matched no waiting request (late,
    duplicated: normal under faults) and frames that were not messages."""

    client_id: str
    unmatched_replies: int = 0
    garbage_replies: int = 0


class ClientIds:
    """Hands out client ids `c1`, `c2`, ... never reusing one (`c0` is the admin client)."""

    def __init__(self) -> None:
        self._next = itertools.count(1)

    def take(self) -> str:
        return f"c{next(self._next)}"


class RequestTimeout(Exception):
    """No reply arrived before the deadline: the request may or may not have taken effect."""


@contextlib.asynccontextmanager
async def open_client(
    ctx: zmq.Context[Any], endpoint: str, client_id: str, *, recorder: Recorder | None = None
) -> AsyncIterator[SerialClient]:
    """A connected `SerialClient` for one task, closed when the block ends; then its dropped
    replies are added to `recorder`'s counts, when one is given."""
    client = SerialClient(ctx, endpoint, client_id)
    try:
        yield client
    finally:
        client.close()  # counts what arrived and nobody took
        if recorder is not None:
            recorder.count_replies(client.statistics())


def _message(frames: list[bytes]) -> dict[str, Any] | None:
    """The message `[src, json]` frames carry, or None when they are not one."""
    if len(frames) != 2:
        return None
    try:
        return wire.decode(frames[1])
    except wire.WireError:
        return None


class SerialClient:
    """One client connection for one task at a time; make one with `open_client`.

    `call` sends and then reads the socket itself (no reader task), taking the reply to its
    request and counting whatever else it reads (see the module docstring)."""

    def __init__(self, ctx: zmq.Context[Any], endpoint: str, client_id: str) -> None:
        self.client_id = client_id
        raw = wire.make_socket(ctx, zmq.DEALER, identity=client_id)
        raw.connect(endpoint)
        self._sock = wire.SerialSocket(raw)
        self._msg_ids = itertools.count(1)
        self._is_calling = False
        self._is_closed = False
        self.garbage_count = 0  # frames that are not messages
        self.unmatched_count = 0  # replies whose in_reply_to matches no waiting request

    def statistics(self) -> ClientStatistics:
        return ClientStatistics(
            self.client_id,
            unmatched_replies=self.unmatched_count,
            garbage_replies=self.garbage_count,
        )

    async def call(self, dest: str, body: dict[str, Any], *, timeout_s: float) -> dict[str, Any]:
        """Send `body` to `dest` and wait for its reply body, or raise `RequestTimeout`."""
        assert not self._is_calling, f"{self.client_id}: one call at a time"
        assert not self._is_closed, f"{self.client_id}: closed"
        msg_id = next(self._msg_ids)
        msg = {"src": self.client_id, "dest": dest, "body": {**body, "msg_id": msg_id}}
        frames = [dest.encode(), wire.encode(msg)]
        self._is_calling = True
        try:
            with trio.move_on_after(timeout_s):
                while True:
                    try:
                        self._sock.send_nowait(frames)
                        break
                    except zmq.Again:  # the high-water mark: wait for room
                        await self._sock.wait_writable()
                while True:
                    reply = self._take(await self._sock.receive(), msg_id)
                    if reply is not None:
                        return reply
            raise RequestTimeout(f"no reply from {dest} within {timeout_s} s")
        finally:
            self._is_calling = False

    def _take(self, frames: list[bytes], msg_id: int | None) -> dict[str, Any] | None:
        """The body of the reply to `msg_id`; anything else is counted and gives None."""
        msg = _message(frames)
        if msg is None:
            self.garbage_count += 1
            return None
        body: dict[str, Any] = msg["body"]
        if msg_id is not None and body.get("in_reply_to") == msg_id:
            return body
        self.unmatched_count += 1  # nobody waits for it (late, duplicated by the proxy)
        return None

    def close(self) -> None:
        """Count what arrived and was never read, then close the socket."""
        if self._is_closed:
            return
        self._is_closed = True
        with contextlib.suppress(trio.WouldBlock, zmq.ZMQError):
            while True:
                self._take(self._sock.receive_nowait(), None)
        self._sock.close()


class RpcClient:
    """One client connection that several tasks may call at once (the admin client): start
    `serve` (its reader) in a nursery, and `close` it at the end."""

    def __init__(self, ctx: zmq.Context[Any], endpoint: str, client_id: str) -> None:
        self.client_id = client_id
        raw = wire.make_socket(ctx, zmq.DEALER, identity=client_id)
        raw.connect(endpoint)
        self._sock = wire.Socket(raw)
        self._msg_ids = itertools.count(1)
        self._waiting: dict[int, trio.MemorySendChannel[dict[str, Any]]] = {}
        self.garbage_count = 0  # frames that are not messages
        self.unmatched_count = 0  # replies whose in_reply_to matches no waiting request

    def statistics(self) -> ClientStatistics:
        return ClientStatistics(
            self.client_id,
            unmatched_replies=self.unmatched_count,
            garbage_replies=self.garbage_count,
        )

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Read replies and hand each to its caller, until `close`."""
        async with trio.open_nursery() as nursery:
            await nursery.start(self._sock.serve)
            task_status.started()
            await self._dispatch()

    def close(self) -> None:
        self._sock.close()

    async def _dispatch(self) -> None:
        while True:
            try:
                frames = await self._sock.receive()
            except trio.EndOfChannel:
                return
            if len(frames) != 2:
                self.garbage_count += 1
                continue
            try:
                msg = wire.decode(frames[1])
            except wire.WireError:
                self.garbage_count += 1
                continue
            reply_to = msg["body"].get("in_reply_to")
            waiter = self._waiting.pop(reply_to, None) if isinstance(reply_to, int) else None
            if waiter is not None:
                waiter.send_nowait(msg["body"])
            else:  # nobody waits for it (late, duplicated by the proxy): counted and dropped
                self.unmatched_count += 1

    async def call(self, dest: str, body: dict[str, Any], *, timeout_s: float) -> dict[str, Any]:
        """Send `body` to `dest` and wait for its reply body, or raise `RequestTimeout`."""
        msg_id = next(self._msg_ids)
        send, receive = trio.open_memory_channel[dict[str, Any]](1)
        self._waiting[msg_id] = send
        msg = {"src": self.client_id, "dest": dest, "body": {**body, "msg_id": msg_id}}
        try:
            with trio.move_on_after(timeout_s):
                await self._sock.send([dest.encode(), wire.encode(msg)])
                return await receive.receive()
            raise RequestTimeout(f"no reply from {dest} within {timeout_s} s")
        finally:
            self._waiting.pop(msg_id, None)


def next_process(process: int, outcome: str, concurrency: int) -> int:
    """The process id a client goes on under after an operation completed as `outcome`.

    Jepsen's rule: after `info` the operation may still take effect at any later time, so the
    process is retired and the client continues as `process + concurrency` (worker w runs as
    w, w + concurrency, w + 2*concurrency, ...: ids are never reused, never shared between
    workers). After `ok` or `fail` it keeps its id.
    """
    assert outcome in ("ok", "fail", "info"), f"not a completion: {outcome!r}"
    assert concurrency >= 1, f"concurrency {concurrency} < 1"
    return process + concurrency if outcome == "info" else process


def next_due(due: float, now: float, *, interval_s: float, gap_s: float) -> float:
    """When a worker's next operation is due: `gap_s` after its previous one was due (not
    after it completed, so that slow replies do not lower the rate), but the schedule never
    lags `now` by more than `LAG_INTERVALS_MAX` intervals: a worker held up (a timeout, a
    stall) starts at once and then goes on at its pace, instead of firing a burst to make up
    for the lost time.

    The lag allowed is the largest gap the workers draw (`2 * interval_s`): a worker whose
    replies always take longer than its interval then never sleeps. With a lag of one
    interval it slept whenever the gap drawn was over one interval and a bit, close to half
    its operations at a high `--rate`: idle time that lowered the rate it could reach, and
    a timer and a wake-up each (bench/README.md, "Client throughput")."""
    assert interval_s >= 0, interval_s
    assert gap_s >= 0, gap_s
    return max(due, now - LAG_INTERVALS_MAX * interval_s) + gap_s


@dataclass
class WorkerConfig:
    """What one logical client needs to run: `nodes` are the nodes it sends operations to,
    `interval_s` its mean time between operations."""

    worker: int
    concurrency: int
    nodes: list[str]
    interval_s: float
    request_timeout_s: float
    rng: random.Random


async def run_worker(
    config: WorkerConfig,
    *,
    workload: Any,
    ctx: zmq.Context[Any],
    endpoint: str,
    client_ids: ClientIds,
    recorder: Recorder,
    should_stop: Callable[[], bool],
) -> None:
    """Jepsen's client loop for one logical client, until `should_stop()` is true.

    Process ids follow Jepsen: worker w starts as process w and after each `info` becomes
    process w + concurrency, w + 2*concurrency, ... so ids are never reused (`next_process`).

    Each operation goes to a node drawn with the worker's seeded rng. Jepsen binds a client to
    one node; spreading instead means every node keeps serving clients, including one that
    was killed and restarted (a bound client that moved away would never bring it traffic,
    and a defect that shows only after a restart would go unseen).
    """
    process = config.worker
    due = trio.current_time()  # when the next operation is due (the module docstring)
    while not should_stop():
        async with open_client(ctx, endpoint, client_ids.take(), recorder=recorder) as client:
            while not should_stop():
                # Pacing, not synchronisation: Jepsen's stagger, so that the clients together
                # aim at the target rate without marching in lockstep.
                now = trio.current_time()
                gap_s = config.rng.uniform(0, 2 * config.interval_s)
                due = next_due(due, now, interval_s=config.interval_s, gap_s=gap_s)
                if due > now + PACING_SLACK_S:
                    await trio.sleep_until(due)
                    if should_stop():
                        return
                node = config.rng.choice(config.nodes)
                f, value = workload.invoke(config.rng, process)
                outcome = await execute(
                    client, node, process, f, value,
                    workload=workload, recorder=recorder,
                    timeout_s=config.request_timeout_s,
                )
                after = next_process(process, outcome, config.concurrency)
                if after != process:
                    process = after
                    break  # a retired process: a new connection under a new client id


async def execute(
    client: SerialClient | RpcClient,
    node: str,
    process: Any,
    f: str,
    value: Any,
    *,
    workload: Any,
    recorder: Recorder,
    timeout_s: float,
    **extra: Any,
) -> str:
    """Invoke one operation, record its invocation and completion; return the completion type.

    The workload maps a reply (including an `error` reply) to `ok`, `fail` or `info`; a reply
    that never came is `info`, or `fail` for an idempotent operation such as a read.
    """
    recorder.record_deferred("invoke", process, f, value, node=node, **extra)
    idempotent = workload.is_idempotent(f)
    try:
        reply = await client.call(node, workload.request(f, value), timeout_s=timeout_s)
    except RequestTimeout:
        type_ = "fail" if idempotent else "info"
        recorder.record_deferred(type_, process, f, value, error="timeout", node=node, **extra)
        return type_
    type_, result_value, error = workload.complete(f, value, reply)
    recorder.record_deferred(type_, process, f, result_value, error=error, node=node, **extra)
    return str(type_)


FINAL_OPS_ATTEMPTS = 5
FINAL_PROCESS_BASE = 1_000_000


async def run_final_ops(
    node_ids: list[str],
    *,
    workload: Any,
    ctx: zmq.Context[Any],
    endpoint: str,
    client_ids: ClientIds,
    recorder: Recorder,
    timeout_s: float,
    attempts: int = FINAL_OPS_ATTEMPTS,
) -> None:
    """The workload's final operations, each retried on a fresh connection until it succeeds
    (at most `attempts` times), recorded with `"final": true`.

    Final operations get process ids of their own, from `FINAL_PROCESS_BASE` up, apart from the
    workers' (which grow by `concurrency` after each info and would need a million infos to
    reach these).
    """
    processes = itertools.count(FINAL_PROCESS_BASE)
    for node_id, f, value in workload.final_ops(node_ids):
        for _attempt in range(attempts):
            async with open_client(ctx, endpoint, client_ids.take(), recorder=recorder) as client:
                outcome = await execute(client, node_id, next(processes), f, value,
                                        workload=workload, recorder=recorder,
                                        timeout_s=timeout_s, final=True)
            if outcome == "ok":
                break
