"""Helpers for driver tests on the in-memory network (`node.memnet`) under virtual time.

A plain module (not conftest) so tests can import it; its name is unique across tests/.
`MemClient` is a test peer speaking raw messages; `start_driver` runs a machine under a
`node.driver.Driver` in the test's nursery and returns the driver.
"""

from __future__ import annotations

import io
from typing import Any

import trio

from node import wire
from node.clock import Clock
from node.driver import Driver, Store
from node.log import Logger
from node.machine import StepMachine
from node.memnet import MemoryNetwork, MemoryTransport
from node.wire import Message


class MemClient:
    """A peer on the memory network (a client or a stand-in node) that speaks raw messages."""

    def __init__(self, transport: MemoryTransport) -> None:
        self.t = transport
        self.msg_id = 0

    async def send(self, dest: str, body: dict[str, Any]) -> int:
        self.msg_id += 1
        msg = {"src": self.t.node_id, "dest": dest, "body": {**body, "msg_id": self.msg_id}}
        await self.t.send(dest, wire.encode(msg))
        return self.msg_id

    async def receive(self) -> Message:
        _, data = await self.t.receive()
        return wire.decode(data)

    def receive_nowait(self) -> Message | None:
        try:
            _, data = self.t.receive_nowait()
        except trio.WouldBlock:
            return None
        return wire.decode(data)

    async def rpc(self, dest: str, body: dict[str, Any]) -> dict[str, Any]:
        """Send a request and return the body of its reply (other messages are discarded)."""
        msg_id = await self.send(dest, body)
        while True:
            msg = await self.receive()
            if msg["body"].get("in_reply_to") == msg_id:
                return msg["body"]

    async def init(self, node_id: str, node_ids: list[str]) -> dict[str, Any]:
        return await self.rpc(node_id, {"type": "init", "node_id": node_id, "node_ids": node_ids})


async def start_driver(
    nursery: trio.Nursery,
    net: MemoryNetwork,
    node_id: str,
    machine: StepMachine,
    *,
    storage: Store | None = None,
    log_stream: io.StringIO | None = None,
    **kwargs: Any,
) -> Driver:
    driver = Driver(
        machine,
        net.transport(node_id),
        node_id=node_id,
        clock=Clock(trio.current_time),
        log=Logger(node_id, stream=log_stream if log_stream is not None else io.StringIO()),
        storage=storage,
        **kwargs,
    )
    await nursery.start(driver.serve)
    return driver


class MemoryStore:
    """A `node.driver.Store` in memory that keeps what was synced apart from what was set,
    so a test can restart a machine from `durable` as a SIGKILL would leave it."""

    def __init__(self, durable: dict[str, Any] | None = None) -> None:
        self.durable: dict[str, Any] = dict(durable or {})
        self.data: dict[str, Any] = dict(self.durable)
        self.syncs = 0

    def set(self, key: str, value: Any) -> None:
        self.data[key] = value

    async def sync_async(self) -> None:
        await trio.lowlevel.checkpoint()
        self.durable = dict(self.data)
        self.syncs += 1
