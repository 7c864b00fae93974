"""Fixtures for node tests: a zmq context, a running `Router`, and process cleanup."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio
import zmq
from node_harness import Processes, Router


@pytest.fixture
def zmq_ctx() -> Any:
    ctx: zmq.Context[Any] = zmq.Context()
    yield ctx
    ctx.destroy(linger=0)


@pytest.fixture
async def processes(tmp_path: Path) -> AsyncIterator[Processes]:
    procs = Processes(tmp_path)
    try:
        yield procs
    finally:
        await procs.aclose()


@pytest.fixture
async def router(zmq_ctx: Any, nursery: trio.Nursery) -> AsyncIterator[Router]:
    r = Router(zmq_ctx, ["n1", "n2", "n3"])
    await nursery.start(r.serve)
    yield r
    r.sock.close()
