"""The runtime (`node.runtime.Node`) over the in-memory network, under trio's virtual clock:
rpc deadlines and correlation, timers on a skewed clock, init gating, error replies."""

from __future__ import annotations

import io
import json
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest
import trio

from node import wire
from node.clock import Clock
from node.log import Logger
from node.memnet import MemoryNetwork, MemoryTransport
from node.runtime import Node, RpcError, RpcTimeout, field
from node.wire import Message


class Client:
    """A test peer on the memory network that speaks raw messages."""

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

    async def rpc(self, dest: str, body: dict[str, Any]) -> Message:
        msg_id = await self.send(dest, body)
        while True:
            msg = await self.receive()
            if msg["body"].get("in_reply_to") == msg_id:
                return msg


def make_node(net: MemoryNetwork, node_id: str, stream: io.StringIO | None = None) -> Node:
    return Node(
        node_id,
        net.transport(node_id),
        clock=Clock(trio.current_time),
        log=Logger(node_id, stream=stream or io.StringIO()),
        rng=random.Random(1),
    )


@pytest.fixture
async def net_nodes(nursery: trio.Nursery) -> AsyncIterator[tuple[MemoryNetwork, Node, Node]]:
    net = MemoryNetwork()
    n1, n2 = make_node(net, "n1"), make_node(net, "n2")

    async def echo(msg: Message) -> None:
        await n2.reply(msg, {"type": "echo_ok", "echo": field(msg, "echo", object)})

    async def slow(msg: Message) -> None:
        await trio.sleep(10)
        await n2.reply(msg, {"type": "slow_ok"})

    async def refuse(msg: Message) -> None:
        raise RpcError(22, "precondition-failed")

    n2.on("echo", echo)
    n2.on("slow", slow)
    n2.on("refuse", refuse)
    for n in (n1, n2):
        await nursery.start(n.serve)
    admin = Client(net.transport("c0"))
    for n in ("n1", "n2"):
        reply = await admin.rpc(n, {"type": "init", "node_id": n, "node_ids": ["n1", "n2"]})
        assert reply["body"]["type"] == "init_ok"
    yield net, n1, n2


async def test_rpc_reply_and_msg_ids(net_nodes: tuple[MemoryNetwork, Node, Node]) -> None:
    _, n1, _ = net_nodes
    reply = await n1.rpc("n2", {"type": "echo", "echo": 5}, timeout_s=1)
    assert reply["body"]["echo"] == 5
    assert reply["body"]["in_reply_to"] == 2  # n1's msg_id 1 was its init_ok
    again = await n1.rpc("n2", {"type": "echo", "echo": 6}, timeout_s=1)
    assert again["body"]["in_reply_to"] == 3


async def test_rpc_timeout_is_on_the_nodes_clock(
    net_nodes: tuple[MemoryNetwork, Node, Node], autojump_clock: trio.testing.MockClock
) -> None:
    _, n1, _ = net_nodes
    start = trio.current_time()
    with pytest.raises(RpcTimeout):
        await n1.rpc("n2", {"type": "slow"}, timeout_s=2)
    assert trio.current_time() - start == pytest.approx(2)
    n1.clock.set(rate=2.0)  # a fast clock: 2 s of node time pass in 1 real second
    start = trio.current_time()
    with pytest.raises(RpcTimeout):
        await n1.rpc("n2", {"type": "slow"}, timeout_s=2)
    assert trio.current_time() - start == pytest.approx(1)
    assert n1.statistics().rpc_timeouts == 2
    assert n1.statistics().rpcs_pending == 0


async def test_rpc_error_reply_raises(net_nodes: tuple[MemoryNetwork, Node, Node]) -> None:
    _, n1, _ = net_nodes
    with pytest.raises(RpcError) as info:
        await n1.rpc("n2", {"type": "refuse"}, timeout_s=1)
    assert info.value.code == 22


async def test_unknown_type_and_malformed_request(
    net_nodes: tuple[MemoryNetwork, Node, Node],
) -> None:
    net, _, n2 = net_nodes
    client = Client(net.transport("c1"))
    reply = await client.rpc("n2", {"type": "nope"})
    assert (reply["body"]["type"], reply["body"]["code"]) == ("error", 10)
    reply = await client.rpc("n2", {"type": "echo"})
    assert reply["body"]["code"] == 12
    # An unmatched reply is dropped silently: no error ping-pong.
    await client.send("n2", {"type": "whatever_ok", "in_reply_to": 999})
    await client.t.send("n2", b"garbage")
    reply = await client.rpc("n2", {"type": "echo", "echo": 1})
    assert reply["body"]["echo"] == 1
    stats = n2.statistics()
    assert stats.malformed == 1
    assert stats.unmatched_replies == 1
    assert stats.not_supported == 1


async def test_handlers_wait_for_init_and_timers_start_after_it(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    net = MemoryNetwork()
    node = make_node(net, "n1")
    ticks: list[float] = []

    async def tick() -> None:
        ticks.append(trio.current_time())

    async def echo(msg: Message) -> None:
        await node.reply(msg, {"type": "echo_ok", "echo": msg["body"]["echo"]})

    node.on("echo", echo)
    node.every(1.0, tick)
    await nursery.start(node.serve)
    client = Client(net.transport("c1"))
    await client.send("n1", {"type": "echo", "echo": "early"})
    await trio.sleep(5)
    assert ticks == []
    assert not node.is_initialized
    t0 = trio.current_time()
    init = await client.rpc("n1", {"type": "init", "node_id": "n1", "node_ids": ["n1"]})
    assert init["body"]["type"] == "init_ok"
    early = await client.receive()  # the early echo, answered once init arrived
    assert early["body"]["echo"] == "early"
    node.clock.set(rate=0.5)  # a slow clock: a 1 s timer fires every 2 real seconds
    await trio.sleep(6.5)
    assert [round(t - t0, 3) for t in ticks] == [1.0, 3.0, 5.0]


async def test_chaos_clock_message(net_nodes: tuple[MemoryNetwork, Node, Node]) -> None:
    net, n1, _ = net_nodes
    client = Client(net.transport("c9"))
    before = n1.clock.now_ms()
    reply = await client.rpc("n1", {"type": "chaos_clock", "offset_ms": 1000, "rate": 1.0})
    assert reply["body"] == {**reply["body"], "type": "chaos_clock_ok", "offset_ms": 1000.0}
    assert n1.clock.now_ms() - before == pytest.approx(1000, abs=1)
    for bad in ({"rate": -1}, {"rate": "fast"}, {"offset_ms": True}):
        reply = await client.rpc("n1", {"type": "chaos_clock", **bad})
        assert reply["body"]["code"] == 12


def test_clock_rate_change_is_continuous() -> None:
    now = [100.0]
    clock = Clock(lambda: now[0])
    now[0] = 110.0
    assert clock.now_s() == pytest.approx(110.0)
    clock.set(rate=2.0)
    assert clock.now_s() == pytest.approx(110.0)
    now[0] = 111.0
    assert clock.now_s() == pytest.approx(112.0)
    clock.set(offset_ms=-2000)
    assert clock.now_s() == pytest.approx(110.0)
    assert clock.real_duration_s(4.0) == pytest.approx(2.0)


def test_log_lines_are_json_with_the_contract_fields() -> None:
    stream = io.StringIO()
    Logger("n3", epoch_ns=0, stream=stream).info("boot", boot=2, odd=object())
    record = json.loads(stream.getvalue())
    assert {"time", "node", "level", "event", "boot", "odd"} <= set(record)
    assert (record["node"], record["level"], record["event"]) == ("n3", "info", "boot")
