"""Fixtures for the proxy tests: a real proxy process and DEALER peers over loopback.

Peers authenticate as the run's own processes do (`node.wire.authenticated_context` with the
proxy's secret); a test that plays a stranger makes its socket from a plain context."""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import trio
import zmq
from proxy_harness import NODES, WAIT_S, Peer

from chaos.control import ProxyControl, open_proxy_control
from chaos.processes import ProxyProcess, serve_proxy
from node.wire import LINGER_MS, Socket, authenticated_context, make_socket


@pytest.fixture
async def proxy(tmp_path: Path, nursery: trio.Nursery) -> ProxyProcess:
    start = functools.partial(
        serve_proxy, tmp_path, nodes=NODES, seed=1, epoch_ns=time.monotonic_ns()
    )
    handle: ProxyProcess = await nursery.start(start)
    return handle


@pytest.fixture
async def control(proxy: ProxyProcess) -> AsyncIterator[ProxyControl]:
    async with open_proxy_control(proxy.control, secret=proxy.secret, timeout_s=WAIT_S) as client:
        yield client


@pytest.fixture
def run_ctx(proxy: ProxyProcess) -> Iterator[zmq.Context[Any]]:
    """A context whose sockets present the run's secret, as the orchestrator's do."""
    ctx = authenticated_context(proxy.secret)
    yield ctx
    ctx.destroy(linger=0)


@pytest.fixture
async def connect(
    proxy: ProxyProcess, run_ctx: zmq.Context[Any], nursery: trio.Nursery
) -> AsyncIterator[Any]:
    sockets: list[Socket] = []

    async def open_peer(
        name: str, *, wait: bool = True, ctx: zmq.Context[Any] | None = None,
        endpoint: str | None = None,
    ) -> Peer:
        """A peer connected to `endpoint`, by default the proxy's TCP one."""
        raw = make_socket(ctx or run_ctx, zmq.DEALER, identity=name, linger_ms=LINGER_MS)
        raw.connect(endpoint or proxy.endpoint)
        sock = Socket(raw)
        sockets.append(sock)
        await nursery.start(sock.serve)
        peer = Peer(sock, name)
        if wait:
            await peer.wait_connected()
        return peer

    yield open_peer
    for sock in sockets:
        sock.close()
