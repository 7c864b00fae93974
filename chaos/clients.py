"""Jepsen-style clients and the history recorder.

The clients live in the orchestrator so that every timestamp in the history comes from one
monotonic clock and real-time order between operations is exact (DESIGN.md).

- `Recorder` appends operations to `history.jsonl` and flushes each line as it is written, so
  that a run killed at any moment leaves a history that parses up to its last whole line. Its
  `counts` are the run's client-side counts (`results.json` "counts"): operations by type,
  and the replies the clients dropped (`unmatched_replies`, `garbage_replies`), added up from
  each client's `statistics()` when its connection closes.
- `RpcClient` is one client connection: a DEALER socket that logs in to the proxy as the
  client's id (`c1`, `c2`, ...), through the proxy to the nodes. One request is outstanding
  at a time; a reply whose `in_reply_to` matches no waiting request is dropped (PROTOCOL.md, client
  semantics) and counted: such replies are normal under faults (a reply that came after its
  request timed out, a copy the proxy duplicated), so they are reported, not judged. A frame
  that is not a message at all is counted apart (`garbage_replies`): the proxy forwards what
  merely looks like an object, and the codec refuses it here.
- `run_worker` is Jepsen's client loop for one logical client: invoke, wait with a deadline,
  complete as `ok`, `fail` or `info`. After `info` the client's process id is retired and it
  goes on under a new process and a new connection (a fresh client id, never reused), because
  the old operation may still take effect at any later time (`next_process` is that rule).
- `run_final_ops` runs the workload's final operations (reads after healing), each retried on a
  fresh connection until it succeeds.

What this does not do: it does not retry operations (a retry is a new operation), and it does
not interpret results; the workload maps replies to `ok`/`fail`/`info` and the checkers judge.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import trio
import zmq

from chaos import store
from checker.history import encoded
from node import wire


class Recorder:
    """Writes the history, one flushed JSON line per operation, and counts outcomes."""

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
        self.counts: dict[str, int] = {"invoke": 0, "ok": 0, "fail": 0, "info": 0}
        self.counts.update(dict.fromkeys(REPLY_COUNTS, 0))

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
        value, how = encoded(value)  # a read held as ranges says so (checker.intset)
        op: dict[str, Any] = {
            "index": next(self._index),
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
        op.update(extra)
        with store.writing(self.path):
            self._fh.write(json.dumps(op, separators=(",", ":"), default=str) + "\n")
            self._fh.flush()
        if process != "nemesis":
            self.counts[type] += 1
        return op

    def count_replies(self, stats: ClientStatistics) -> None:
        """Add one closed client's dropped replies to the run's counts."""
        self.counts["unmatched_replies"] += stats.unmatched_replies
        self.counts["garbage_replies"] += stats.garbage_replies

    def close(self) -> None:
        self._fh.close()


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
) -> AsyncIterator[RpcClient]:
    """A connected `RpcClient` whose reader runs until the block ends; then its dropped
    replies are added to `recorder`'s counts, when one is given."""
    client = RpcClient(ctx, endpoint, client_id)
    try:
        async with trio.open_nursery() as nursery:
            try:
                await nursery.start(client.serve)
                yield client
            finally:
                client.close()  # ends `serve`
    finally:
        if recorder is not None:
            recorder.count_replies(client.statistics())


class RpcClient:
    """One client connection through the proxy; make one with `open_client`."""

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
    while not should_stop():
        async with open_client(ctx, endpoint, client_ids.take(), recorder=recorder) as client:
            while not should_stop():
                # Pacing, not synchronisation: Jepsen's stagger, so that the clients together
                # aim at the target rate without marching in lockstep.
                await trio.sleep(config.rng.uniform(0, 2 * config.interval_s))
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
    client: RpcClient,
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
    recorder.record("invoke", process, f, value, node=node, **extra)
    idempotent = workload.is_idempotent(f)
    try:
        reply = await client.call(node, workload.request(f, value), timeout_s=timeout_s)
    except RequestTimeout:
        type_ = "fail" if idempotent else "info"
        recorder.record(type_, process, f, value, error="timeout", node=node, **extra)
        return type_
    type_, result_value, error = workload.complete(f, value, reply)
    recorder.record(type_, process, f, result_value, error=error, node=node, **extra)
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
