"""An in-memory network of transports, for tests under trio's virtual clock.

    net = MemoryNetwork()
    driver = Driver(machine, net.transport("n1"), node_id="n1", clock=..., log=...)
    client = net.transport("c1")
    net.drop = lambda src, dest: {src, dest} == {"n1", "n2"}    # a partition, until reset

Each `MemoryTransport` is a `node.driver.Transport`. The network routes by destination exactly
as the proxy does, delivering each message to the destination's queue with a `src` equal to the
sender's id. `drop(src, dest)` decides per message whether it is lost (counted in `dropped`);
messages to an unknown id are counted as `unroutable`. There is no delay or reordering: this is
for checking the driver and protocol logic deterministically, not for fault injection, which is
the proxy's job (and the simulator's, `chaos.simulation`). `close()` on a transport ends its
receiver's `receive` with `trio.EndOfChannel`, as a closed socket does.
"""

from __future__ import annotations

from collections.abc import Callable

import trio

QUEUE_MAX = 10_000


class MemoryTransport:
    def __init__(self, network: MemoryNetwork, node_id: str) -> None:
        self.network = network
        self.node_id = node_id
        self._send, self._receive = trio.open_memory_channel[tuple[str, bytes]](QUEUE_MAX)

    async def send(self, dest: str, data: bytes) -> None:
        await self.network.route(self.node_id, dest, data)

    async def receive(self) -> tuple[str, bytes]:
        return await self._receive.receive()

    def receive_nowait(self) -> tuple[str, bytes]:
        """The next `(src, payload)` if one is queued; raises `trio.WouldBlock` otherwise."""
        return self._receive.receive_nowait()

    def close(self) -> None:
        self._send.close()


class MemoryNetwork:
    def __init__(self) -> None:
        self.transports: dict[str, MemoryTransport] = {}
        self.drop: Callable[[str, str], bool] = lambda src, dest: False
        self.delivered = 0
        self.dropped = 0
        self.unroutable = 0

    def transport(self, node_id: str) -> MemoryTransport:
        assert node_id not in self.transports, node_id
        self.transports[node_id] = MemoryTransport(self, node_id)
        return self.transports[node_id]

    async def route(self, src: str, dest: str, data: bytes) -> None:
        target = self.transports.get(dest)
        if target is None:
            self.unroutable += 1
        elif self.drop(src, dest):
            self.dropped += 1
        else:
            try:
                await target._send.send((src, data))
                self.delivered += 1
            except (trio.ClosedResourceError, trio.BrokenResourceError):
                self.unroutable += 1
        await trio.lowlevel.checkpoint()
