"""The services the proxy hosts (seq-kv, lin-kv, lww-kv, lin-tso), over a real proxy process.

Nodes reach them by name; their links are reliable unless the proxy was started with
`--fault-service-links` (the scenario's `fault_service_links`), and nobody may log in as one.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio
from proxy_harness import NODES, Peer, wait_stats

from chaos.control import ProxyControl, open_proxy_control
from chaos.processes import ProxyProcess, serve_proxy
from node.wire import authenticated_context

HALVES = {"n1": ["n2", "n3"], "n2": ["n1"], "n3": ["n1"]}  # n1 | n2 n3


async def call(peer: Peer, service: str, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    msg_id = await peer.send(service, body)
    src, msg = await peer.receive()
    assert msg["body"]["in_reply_to"] == msg_id
    assert msg["src"] == src == service
    assert msg["dest"] == peer.name
    return src, msg["body"]


async def test_nodes_call_the_services_by_name(
    control: ProxyControl, connect: Callable[..., Any], tmp_path: Path
) -> None:
    n1, n2 = await connect("n1"), await connect("n2")
    _, body = await call(n1, "lin-kv", {"type": "read", "key": "x"})
    assert body["code"] == 20
    _, body = await call(n1, "lin-kv", {"type": "write", "key": "x", "value": 4})
    assert body["type"] == "write_ok"
    _, body = await call(n2, "lin-kv", {"type": "cas", "key": "x", "from": 4, "to": 5})
    assert body["type"] == "cas_ok"
    _, body = await call(n2, "seq-kv", {"type": "cas", "key": "c", "from": 0, "to": 1,
                                        "create_if_not_exists": True})
    assert body["type"] == "cas_ok"
    _, body = await call(n1, "lww-kv", {"type": "write", "key": "y", "value": 1})
    assert body["type"] == "write_ok"
    stamps = [(await call(peer, "lin-tso", {"type": "ts"}))[1]["ts"] for peer in (n1, n2, n1)]
    assert stamps == [0, 1, 2]
    stats = await control.stats()
    assert stats["links"]["n1->lin-kv"] == {"received": 2, "delivered": 2, "lost": 0}
    assert stats["links"]["lin-kv->n1"] == {"received": 2, "delivered": 2, "lost": 0}
    lines = [json.loads(line) for line in (tmp_path / "messages.jsonl").read_text().splitlines()]
    assert any(
        (line.get("src"), line.get("dest"), line.get("type"), line.get("fate"))
        == ("seq-kv", "n2", "cas_ok", "delivered")
        for line in lines
    )


async def test_service_links_are_reliable_by_default(
    control: ProxyControl, connect: Callable[..., Any]
) -> None:
    n1 = await connect("n1")
    await control.partition(HALVES)
    await control.link_faults([{"src": "*", "dest": "*", "drop_probability": 1.0}])
    for _ in range(5):
        _, body = await call(n1, "lin-tso", {"type": "ts"})
        assert body["type"] == "ts_ok"
    stats = await control.stats()
    assert stats["dropped"] == stats["partitioned"] == 0


async def test_nobody_logs_in_as_a_service(
    control: ProxyControl, connect: Callable[..., Any]
) -> None:
    await connect("seq-kv", wait=False)
    await wait_stats(control, refused=1)
    assert "seq-kv" not in await control.joined()


async def test_faulted_service_links_are_partitioned_with_their_home(
    tmp_path: Path, nursery: trio.Nursery, connect: Callable[..., Any]
) -> None:
    """With `--fault-service-links`, n1 cut off from n2 and n3 is cut off from the services,
    which stand with n2 (the node the fewest cannot hear); n2 still reaches them."""
    run_dir = tmp_path / "faulted"
    run_dir.mkdir()
    start = functools.partial(serve_proxy, run_dir, nodes=NODES, seed=1,
                              epoch_ns=time.monotonic_ns(), fault_service_links=True)
    proxy: ProxyProcess = await nursery.start(start)
    async with open_proxy_control(proxy.control, secret=proxy.secret) as faulted:
        ctx = authenticated_context(proxy.secret)
        try:
            n1 = await connect("n1", ctx=ctx, endpoint=proxy.endpoint)
            n2 = await connect("n2", ctx=ctx, endpoint=proxy.endpoint)
            await faulted.partition(HALVES)
            await n1.send("lin-kv", {"type": "read", "key": "x"})
            await wait_stats(faulted, partitioned=1)
            assert n1.has_nothing_queued()
            _, body = await call(n2, "lin-kv", {"type": "write", "key": "x", "value": 1})
            assert body["type"] == "write_ok"
            await faulted.heal()
            _, body = await call(n1, "lin-kv", {"type": "read", "key": "x"})
            assert body == {"type": "read_ok", "value": 1, "in_reply_to": body["in_reply_to"]}
            # `*` rules match the services' links now.
            await faulted.link_faults([{"src": "*", "dest": "*", "drop_probability": 1.0}])
            await n2.send("lin-tso", {"type": "ts"})
            await wait_stats(faulted, dropped=1)
        finally:
            ctx.destroy(linger=0)
