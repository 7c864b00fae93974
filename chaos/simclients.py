"""Simulated clients: Jepsen's client loop over the simulated network, recorded as in a real run.

Part of the deterministic simulator (`chaos.simulation`). `SimClients` does what
`chaos.clients` does with sockets and trio, as coroutines of the event loop (`chaos.simloop`)
that read as the real ones do:

- a client connection is a client id (`ClientIds`: c1, c2, ...; `c0` is the admin) that is
  open until closed; a copy for a closed id is `unroutable` at the network, and a reply nobody
  waits for (late, duplicated) is dropped and counted, as `RpcClient` does: when the
  connection closes its count goes to `Recorder.count_replies` (a simulated node, like a
  native one, cannot write a frame that is not a message, so `garbage_replies` stays 0);
- `call` is `RpcClient.call`: send the body with the next msg_id of that client, resume the
  caller with the reply body, or with None when `timeout_s` passes first;
- `execute` is `chaos.clients.execute`: record the invocation, call, complete with the
  workload's `complete`, or on a timeout `info` (`fail` when `is_idempotent(f)`);
- `worker` is `chaos.clients.run_worker`: worker w is process w, paces itself with
  `rng.uniform(0, 2 * interval_s)` from `random.Random(f"{seed}/client/{w}")`, picks a node per
  operation with that rng, one request outstanding, and after an `info` goes on as the next
  process (`next_process`) under a new client id;
- `final_ops` is `chaos.clients.run_final_ops`: each final operation on a fresh client, up to
  `FINAL_OPS_ATTEMPTS` times until ok, processes from `FINAL_PROCESS_BASE`, `final: true`.
"""

from __future__ import annotations

import itertools
import json
import random
from typing import Any

from chaos.clients import (
    FINAL_OPS_ATTEMPTS,
    FINAL_PROCESS_BASE,
    ClientIds,
    ClientStatistics,
    Recorder,
    next_process,
)
from chaos.simloop import EventLoop, Suspend, Task, to_ns
from chaos.simnet import SimNetwork


class SimClients:
    def __init__(self, *, loop: EventLoop, network: SimNetwork, recorder: Recorder,
                 workload: Any, seed: int) -> None:
        self.loop = loop
        self.network = network
        self.recorder = recorder
        self.workload = workload
        self.seed = seed
        self.ids = ClientIds()
        # client id -> msg_id -> the task waiting for that reply; present while the client is open
        self._waiting: dict[str, dict[int, Task]] = {}
        self._msg_ids: dict[str, itertools.count[int]] = {}
        self._unmatched: dict[str, int] = {}  # open client id -> replies nobody waited for
        self.stopping = False  # workers finish their operation and return
        self.workers_running = 0
        self._joining: Task | None = None

    # -- connections ----------------------------------------------------------------------------

    def open(self, client_id: str | None = None) -> str:
        client_id = client_id or self.ids.take()
        assert client_id not in self._waiting, f"{client_id} is open already"
        self._waiting[client_id] = {}
        self._msg_ids[client_id] = itertools.count(1)
        self._unmatched[client_id] = 0
        return client_id

    def close(self, client_id: str) -> None:
        self._waiting.pop(client_id, None)
        self._msg_ids.pop(client_id, None)
        unmatched = self._unmatched.pop(client_id, None)
        if unmatched is not None:
            self.recorder.count_replies(ClientStatistics(client_id, unmatched_replies=unmatched))

    def is_open(self, client_id: str) -> bool:
        return client_id in self._waiting

    def call(self, client_id: str, dest: str, body: dict[str, Any], *,
             timeout_s: float) -> Suspend:
        """Await this: it returns the reply body, or None after `timeout_s`."""

        def wait(task: Task) -> None:
            msg_id = next(self._msg_ids[client_id])
            self._waiting[client_id][msg_id] = task
            msg = {"src": client_id, "dest": dest, "body": {**body, "msg_id": msg_id}}
            self.network.send(client_id, dest, json.dumps(msg, separators=(",", ":")))
            self.loop.call_at(self.loop.now_ns + to_ns(timeout_s), self._timeout,
                              (client_id, msg_id))

        return Suspend(wait)

    def _timeout(self, key: tuple[str, int]) -> None:
        client_id, msg_id = key
        task = self._waiting.get(client_id, {}).pop(msg_id, None)
        if task is not None:
            self.loop.resume((task, None))

    def deliver(self, client_id: str, data: str) -> None:
        """A copy reaches a client id."""
        waiting = self._waiting.get(client_id)
        if waiting is None:
            return  # the connection closed while the copy was on its way
        body = json.loads(data)["body"]
        reply_to = body.get("in_reply_to")
        task = waiting.pop(reply_to, None) if isinstance(reply_to, int) else None
        if task is not None:
            self.loop.resume((task, body))
        else:
            self._unmatched[client_id] += 1

    # -- operations -----------------------------------------------------------------------------

    async def execute(self, client_id: str, node: str, process: Any, f: str, value: Any, *,
                      timeout_s: float, **extra: Any) -> str:
        """Invoke one operation, record its invocation and completion; return the type."""
        recorder, workload = self.recorder, self.workload
        recorder.record("invoke", process, f, value, node=node, **extra)
        reply = await self.call(client_id, node, workload.request(f, value), timeout_s=timeout_s)
        if reply is None:
            type_ = "fail" if workload.is_idempotent(f) else "info"
            recorder.record(type_, process, f, value, error="timeout", node=node, **extra)
            return type_
        type_, result_value, error = workload.complete(f, value, reply)
        recorder.record(type_, process, f, result_value, error=error, node=node, **extra)
        return str(type_)

    async def worker(self, worker: int, *, node_ids: list[str], concurrency: int,
                     interval_s: float, timeout_s: float) -> None:
        """One logical client until `stopping`; spawn it after counting it in
        `workers_running`."""
        rng = random.Random(f"{self.seed}/client/{worker}")
        process = worker
        try:
            while not self.stopping:
                client_id = self.open()
                try:
                    while not self.stopping:
                        # Pacing: Jepsen's stagger, as in the real client loop.
                        await self.loop.sleep(rng.uniform(0, 2 * interval_s))
                        if self.stopping:
                            return
                        node = rng.choice(node_ids)
                        f, value = self.workload.invoke(rng, process)
                        outcome = await self.execute(client_id, node, process, f, value,
                                                     timeout_s=timeout_s)
                        after = next_process(process, outcome, concurrency)
                        if after != process:
                            process = after
                            break  # a retired process: a new connection under a new client id
                finally:
                    self.close(client_id)
        finally:
            self.workers_running -= 1
            if self.workers_running == 0 and self._joining is not None:
                self.loop.resume_soon(self._joining)
                self._joining = None

    def join_workers(self) -> Suspend:
        """Await this: it returns when every worker has returned."""

        def wait(task: Task) -> None:
            if self.workers_running == 0:
                self.loop.resume_soon(task)
            else:
                self._joining = task

        return Suspend(wait)

    async def final_ops(self, node_ids: list[str], *, timeout_s: float) -> None:
        processes = itertools.count(FINAL_PROCESS_BASE)
        for node_id, f, value in self.workload.final_ops(node_ids):
            for _attempt in range(FINAL_OPS_ATTEMPTS):
                client_id = self.open()
                try:
                    outcome = await self.execute(client_id, node_id, next(processes), f, value,
                                                 timeout_s=timeout_s, final=True)
                finally:
                    self.close(client_id)
                if outcome == "ok":
                    break
