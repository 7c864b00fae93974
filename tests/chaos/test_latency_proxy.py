"""The real proxy process with a baseline latency (`--latency-ms`, `--latency-dist`): every
message but the admin client's waits for it, faults come on top, a heal keeps it, and the
counters and `messages.jsonl` tell it apart from a fault's delay."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trio
from proxy_harness import NODES, wait_stats

from chaos.control import ProxyControl
from chaos.faults import ADMIN_ID
from chaos.processes import ProxyProcess, serve_proxy

pytestmark = pytest.mark.cluster

LATENCY_MS = 150


@pytest.fixture
async def proxy(tmp_path: Path, nursery: trio.Nursery) -> ProxyProcess:
    """The proxy of tests/chaos/conftest.py, with a constant baseline latency (the fixtures
    `control` and `connect` there use this one)."""
    start = functools.partial(serve_proxy, tmp_path, nodes=NODES, seed=1,
                              epoch_ns=time.monotonic_ns(), latency_ms=LATENCY_MS,
                              latency_dist="constant")
    handle: ProxyProcess = await nursery.start(start)
    return handle


async def peers(connect: Callable[..., Any], *names: str) -> list[Any]:
    """Connected peers, once the hellos by which each learnt it was connected (sent to itself
    every 50 ms until one came back, so some were still waiting out the latency) have all
    arrived and been thrown away: a constant latency keeps a link FIFO, so they all come
    before a last message the peer sends itself."""
    connected = [await connect(name) for name in names]
    for peer in connected:
        await peer.send(peer.name, {"type": "last"})
        while (await peer.receive())[1]["body"]["type"] != "last":
            pass
    return connected


def log_lines(path: Path, kind: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    return [x for x in lines if x.get("type") == kind]


async def timed(sender: Any, receiver: Any, kind: str) -> float:
    """Seconds from a send to its arrival."""
    sent = time.monotonic()
    await sender.send(receiver.name, {"type": kind})
    _, msg = await receiver.receive()
    assert msg["body"]["type"] == kind
    return time.monotonic() - sent


async def test_every_link_but_the_admins_waits_and_a_heal_keeps_it(
    control: ProxyControl, connect: Callable[..., Any], tmp_path: Path
) -> None:
    n1, n2, c1, c0 = await peers(connect, "n1", "n2", "c1", ADMIN_ID)
    before = (await control.stats())["baseline_delayed"]  # the peers' hellos waited too
    assert await timed(n1, n2, "gossip") >= LATENCY_MS / 1000
    assert await timed(c1, n1, "read") >= LATENCY_MS / 1000
    assert await timed(n1, c1, "read_ok") >= LATENCY_MS / 1000
    await timed(c0, n1, "init")
    await timed(n1, c0, "init_ok")
    await control.heal()
    await control.link_faults([])
    assert await timed(n1, n2, "after_heal") >= LATENCY_MS / 1000
    stats = await control.stats()
    assert stats["baseline_delayed"] - before == 4
    assert stats["delayed"] == 0  # no fault held anything back
    log = tmp_path / "messages.jsonl"
    for kind in ("gossip", "read", "read_ok", "after_heal"):
        [line] = log_lines(log, kind)
        assert line["fate"] == "delivered"  # the latency is no fault's doing
        assert line["baseline_ms"] == LATENCY_MS
        assert line["delay_ms"] >= LATENCY_MS
    for kind in ("init", "init_ok"):  # the harness's control plane: never held back
        [line] = log_lines(log, kind)
        assert (line["fate"], line["delay_ms"]) == ("delivered", 0)
        assert "baseline_ms" not in line


async def test_faults_come_on_top_and_are_counted_apart(
    control: ProxyControl, connect: Callable[..., Any], tmp_path: Path
) -> None:
    n1, n2, n3 = await peers(connect, "n1", "n2", "n3")
    before = await control.stats()
    await control.link_faults([
        {"src": "n1", "dest": "n2", "delay": {"distribution": "constant", "ms": 100}},
        {"src": "n1", "dest": "n3", "drop_probability": 1.0},
        {"src": "n2", "dest": "n1", "duplicate_probability": 1.0},
    ])
    assert await timed(n1, n2, "slow") >= (LATENCY_MS + 100) / 1000
    await n1.send("n3", {"type": "lost"})
    await n2.send("n1", {"type": "twice"})
    await n1.receive()
    await n1.receive()
    stats = await wait_stats(control, dropped=1)
    assert stats["delayed"] - before["delayed"] == 1  # the fault's delay, once
    assert stats["duplicated"] == 1
    assert stats["baseline_delayed"] - before["baseline_delayed"] == 3  # slow, twice x2
    assert n3.has_nothing_queued()
    log = tmp_path / "messages.jsonl"
    [slow] = log_lines(log, "slow")
    assert (slow["fate"], slow["baseline_ms"]) == ("delayed", LATENCY_MS)
    assert slow["delay_ms"] >= LATENCY_MS + 100
    [lost] = log_lines(log, "lost")
    assert lost["fate"] == "dropped"
    assert sorted(x["fate"] for x in log_lines(log, "twice")) == ["delivered", "duplicated"]


async def test_a_copy_whose_wait_ends_in_a_partition_is_lost(
    control: ProxyControl, connect: Callable[..., Any]
) -> None:
    n1, n2 = await peers(connect, "n1", "n2")
    await control.partition({"n2": ["n1"]})
    await n1.send("n2", {"type": "cut"})
    stats = await wait_stats(control, partitioned=1)
    assert stats["pending"] == 0
    assert n2.has_nothing_queued()


@pytest.mark.parametrize(("argv", "message"), [
    (["--latency-ms", "-1"], "latency_ms must be in [0, 30000], not -1.0"),
    (["--latency-ms", "nan"], "latency_ms must be a number"),
    (["--latency-ms", "5", "--latency-dist", "normal"], "invalid choice: 'normal'"),
])
def test_a_bad_latency_on_the_proxys_command_line_exits_2(tmp_path: Path, argv: list[str],
                                                           message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "chaos.proxy", "--run-dir", str(tmp_path), "--parent-pid",
         str(os.getpid()), "--epoch-ns", "0", "--seed", "1", "--nodes", "n1", *argv],
        capture_output=True, text=True, timeout=30, check=False,
        env={**os.environ, "CHAOS_RUN_SECRET": "s3cret"},
    )
    assert done.returncode == 2
    assert message in done.stderr.strip().splitlines()[-1]
