"""The broadcast service across a partition and its heal: with anti-entropy every acknowledged
message reaches every node; with `--bug no-retry` (pushes only) the partition loses some.

Shown twice: machines under the driver on the in-memory network in virtual time (fast,
deterministic), and three real node processes behind the in-test router."""

from __future__ import annotations

import random
from typing import Any

import pytest
import trio
from mem_harness import MemClient, MemoryStore, start_driver
from node_harness import WAIT_S, Processes, Router, node_argv

from node.machine import Boot
from node.memnet import MemoryNetwork
from node.services.broadcast.core import Broadcast

NODES = ["n1", "n2", "n3"]


def cut_off_n1(src: str, dest: str) -> bool:
    return src.startswith("n") and dest.startswith("n") and "n1" in (src, dest)


async def start_cluster(
    nursery: trio.Nursery, *, bug: str | None = None, **params: Any
) -> tuple[MemoryNetwork, MemClient]:
    net = MemoryNetwork()
    for n in NODES:
        machine = Broadcast(Boot(n, random.Random(n), bug=bug, params=params))
        await start_driver(nursery, net, n, machine, storage=MemoryStore())
    client = MemClient(net.transport("c0"))
    for n in NODES:
        assert (await client.init(n, NODES))["type"] == "init_ok"
    return net, client


async def reads(client: MemClient) -> dict[str, list[Any]]:
    return {n: (await client.rpc(n, {"type": "read"}))["messages"] for n in NODES}


@pytest.mark.parametrize("bug", [None, "no-retry"])
async def test_in_memory_partition_then_heal(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, bug: str | None
) -> None:
    net, client = await start_cluster(nursery, bug=bug)
    line = {"n1": ["n2"], "n2": ["n1", "n3"], "n3": ["n2"]}
    for n in NODES:
        assert (await client.rpc(n, {"type": "topology", "topology": line}))["type"] == (
            "topology_ok"
        )
    assert (await client.rpc("n1", {"type": "broadcast", "message": 0}))["type"] == "broadcast_ok"
    await trio.sleep(1)
    assert set(map(tuple, (await reads(client)).values())) == {(0,)}

    net.drop = cut_off_n1
    for value in (1, 2, 3):
        assert (await client.rpc("n1", {"type": "broadcast", "message": value}))["type"] == (
            "broadcast_ok"
        )
    assert (await client.rpc("n3", {"type": "broadcast", "message": 4}))["type"] == "broadcast_ok"
    await trio.sleep(5)
    assert net.dropped > 0  # the fault took effect
    net.drop = lambda src, dest: False
    await trio.sleep(5)
    final = await reads(client)
    if bug is None:
        assert all(v == [0, 1, 2, 3, 4] for v in final.values()), final
    else:
        assert final["n1"] == [0, 1, 2, 3]
        assert final["n3"] == [0, 4]


async def test_in_memory_anti_entropy_reaches_a_node_no_push_reaches(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    # n3 is nobody's neighbour and has none: no push ever reaches it. Anti-entropy talks to
    # any node, not only neighbours, so it still gets everything.
    net, client = await start_cluster(nursery, anti_entropy_interval_s=0.5)
    await client.rpc("n1", {"type": "topology", "topology": {"n1": ["n2"]}})
    await client.rpc("n2", {"type": "topology", "topology": {"n2": ["n1"]}})
    await client.rpc("n3", {"type": "topology", "topology": {"n3": []}})
    net.drop = lambda src, dest: "n3" in (src, dest) and src != "c0" and dest != "c0"
    for value in range(5):
        await client.rpc("n1", {"type": "broadcast", "message": value})
    await trio.sleep(2)
    assert (await reads(client))["n3"] == []  # cut off, so far
    net.drop = lambda src, dest: False
    await trio.sleep(3)
    assert (await reads(client))["n3"] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("log_slots", [32, 2])
async def test_in_memory_a_restarted_node_keeps_what_it_acknowledged(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, log_slots: int
) -> None:
    # What a client was told is broadcast is synced before broadcast_ok: a new machine booted
    # from what n1's store made durable still has it, from delta slots and, with 2 slots,
    # from compacted snapshots too.
    net = MemoryNetwork()
    store = MemoryStore()
    params = {"log_slots": log_slots}
    machine = Broadcast(Boot("n1", random.Random(1), params=params))
    async with trio.open_nursery() as life:
        await start_driver(life, net, "n1", machine, storage=store)
        client = MemClient(net.transport("c0"))
        await client.init("n1", NODES)
        for value in range(7):
            await client.rpc("n1", {"type": "broadcast", "message": value})
        life.cancel_scope.cancel()  # a kill: only `store.durable` survives
    reborn = Broadcast(Boot("n1", random.Random(1), durable=store.durable, params=params))
    assert list(reborn.state.messages) == list(range(7))
    assert len(store.durable) <= log_slots + 1


async def read_all(router: Router) -> dict[str, list[Any]]:
    return {n: (await router.rpc(n, {"type": "read"}))["body"]["messages"] for n in NODES}


async def wait_until_everyone_has(router: Router, values: set[Any]) -> dict[str, list[Any]]:
    with trio.fail_after(WAIT_S):
        while True:
            seen = await read_all(router)
            if all(values <= set(v) for v in seen.values()):
                return seen
            await trio.sleep(0.05)


@pytest.mark.parametrize("bug", [None, "no-retry"])
async def test_three_processes_partition_then_heal(
    router: Router, processes: Processes, bug: str | None
) -> None:
    for n in NODES:
        argv = node_argv(n, router.endpoint, processes.tmp, service="broadcast", bug=bug)
        await processes.start(argv, name=n)
    for n in NODES:
        assert (await router.init(n))["body"]["type"] == "init_ok"
    everyone = {n: [m for m in NODES if m != n] for n in NODES}
    for n in NODES:
        await router.rpc(n, {"type": "topology", "topology": everyone})

    dropped_from_n1 = {"n2": 0, "n3": 0}

    def partition(src: str, dest: str) -> bool:
        if cut_off_n1(src, dest) and src == "n1":
            dropped_from_n1[dest] += 1
        return cut_off_n1(src, dest)

    router.drop = partition
    for value in (1, 2, 3):
        reply = await router.rpc("n1", {"type": "broadcast", "message": value})
        assert reply["body"]["type"] == "broadcast_ok"
    before = dict(dropped_from_n1)
    with trio.fail_after(WAIT_S):
        # n1 sent each of n2 and n3 a message after the last broadcast_ok and it was dropped:
        # the partition took effect on the push that held 3 (and on any earlier push).
        while not all(dropped_from_n1[n] > before[n] for n in before):  # noqa: ASYNC110
            await trio.sleep(0.01)
    router.drop = lambda src, dest: False
    await router.rpc("n1", {"type": "broadcast", "message": 100})  # after the heal
    seen = await wait_until_everyone_has(router, {100} if bug else {1, 2, 3, 100})
    if bug is None:
        assert all(v == [1, 2, 3, 100] for v in seen.values()), seen
    else:
        assert seen["n1"] == [1, 2, 3, 100]
        assert seen["n2"] == seen["n3"] == [100], "no-retry must lose the partitioned ones"
    for n in NODES:
        assert "Traceback" not in processes.log(n)
