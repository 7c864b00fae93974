"""Helpers for the proxy tests: DEALER peers and waiting on the proxy's counters.

A plain module (not conftest) so tests can import it; its name is unique across tests/."""

from __future__ import annotations

import json
from typing import Any

import trio
import trio.lowlevel

from chaos.control import ProxyControl
from node.wire import Socket

NODES = ["n1", "n2", "n3"]
WAIT_S = 5.0  # deadline for every condition these tests wait on


class Peer:
    """A node or client: one DEALER with a routing id, connected to the proxy."""

    def __init__(self, sock: Socket, name: str) -> None:
        self.sock = sock
        self.name = name
        self._msg_id = 0

    async def send(self, dest: str, body: dict[str, Any] | None = None) -> int:
        self._msg_id += 1
        body = {"type": "test", "msg_id": self._msg_id, **(body or {})}
        msg = {"src": self.name, "dest": dest, "body": body}
        await self.sock.send([dest.encode(), json.dumps(msg).encode()])
        return self._msg_id

    async def receive(self, timeout_s: float = WAIT_S) -> tuple[str, dict[str, Any]]:
        with trio.fail_after(timeout_s):
            src, data = await self.sock.receive()
        return src.decode(), json.loads(data)

    def has_nothing_queued(self) -> bool:
        try:
            self.sock.receive_nowait()
        except trio.WouldBlock:
            return True
        return False

    async def wait_connected(self) -> None:
        """Send to ourselves until a message comes back: the proxy knows our id."""
        with trio.fail_after(WAIT_S):
            while True:
                await self.send(self.name, {"type": "hello"})
                with trio.move_on_after(0.05):
                    await self.sock.receive()
                    break
        while True:  # drain stray hellos
            try:
                self.sock.receive_nowait()
            except trio.WouldBlock:
                break
            await trio.lowlevel.checkpoint()


async def wait_stats(control: ProxyControl, **at_least: int) -> dict[str, Any]:
    """Poll the proxy's counters until each named one reaches its value (deadline WAIT_S)."""
    with trio.fail_after(WAIT_S):
        while True:
            stats = await control.stats()
            if all(stats[key] >= value for key, value in at_least.items()):
                return stats
            await trio.sleep(0.01)
