"""The real proxy process, with real DEALER sockets over loopback."""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest.mock import patch

import psutil
import pytest
import trio
import zmq
from proxy_harness import NODES, WAIT_S, wait_stats
from zmq import Frame

from chaos.control import ProxyCommandError, ProxyControl, ProxyTimeoutError, open_proxy_control
from chaos.faults import LinkFault, halves, one_way
from chaos.processes import (
    HarnessError,
    ProxyExitedError,
    ProxyProcess,
    ProxyStartError,
    serve_proxy,
    start_proxy,
)
from chaos.proxy import Proxy
from node.wire import LINGER_MS, SerialSocket, Socket, authenticated_context, make_socket

pytestmark = pytest.mark.cluster


def log_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_ready_line_and_proxy_json(proxy: ProxyProcess, tmp_path: Path) -> None:
    ready = json.loads((tmp_path / "proxy.json").read_text())
    assert ready == {
        "event": "ready",
        "endpoint": proxy.endpoint,
        "ipc": proxy.ipc,
        "control": proxy.control,
        "pid": proxy.pid,
    }
    assert proxy.endpoint.startswith("tcp://127.0.0.1:")
    assert proxy.ipc.startswith("ipc:///")
    assert proxy.ipc.endswith(f"{tmp_path.name}/proxy-data.sock")
    assert proxy.control.startswith("ipc:///")
    assert proxy.control.endswith(f"{tmp_path.name}/proxy.sock")


async def test_routes_by_destination_frame(
    control: ProxyControl, connect: Callable[..., Any], tmp_path: Path
) -> None:
    n1, n2, c1 = await connect("n1"), await connect("n2"), await connect("c1")
    msg_id = await n1.send("n2", {"type": "gossip"})
    src, msg = await n2.receive()
    assert src == "n1"
    assert msg["body"] == {"type": "gossip", "msg_id": msg_id}
    await c1.send("n1", {"type": "read"})
    assert (await n1.receive())[0] == "c1"
    stats = await control.stats()
    assert stats["links"]["n1->n2"] == {"received": 1, "delivered": 1, "lost": 0}
    lines = [x for x in log_lines(tmp_path / "messages.jsonl") if x.get("type") == "gossip"]
    assert len(lines) == 1
    assert lines[0]["src"] == "n1"
    assert lines[0]["dest"] == "n2"
    assert lines[0]["msg_id"] == msg_id
    assert lines[0]["fate"] == "delivered"
    assert "in_reply_to" not in lines[0]
    assert 0 < lines[0]["time"] < 60 * 10**9  # ns since the epoch, not since boot
    await n2.send("n1", {"type": "gossip_ok", "in_reply_to": msg_id})
    await n1.receive()
    await control.stats()  # the log is written by then, as above
    (reply,) = [x for x in log_lines(tmp_path / "messages.jsonl") if x.get("type") == "gossip_ok"]
    assert reply["in_reply_to"] == msg_id


async def test_partition_blocks_and_heal_restores(
    control: ProxyControl, connect: Callable[..., Any]
) -> None:
    n1, n2 = await connect("n1"), await connect("n2")
    await control.partition(one_way(NODES, src="n1", dest="n2"))
    await n1.send("n2")
    await wait_stats(control, partitioned=1)
    assert n2.has_nothing_queued()
    await n2.send("n1")  # one-way: n1 still hears n2
    assert (await n1.receive())[0] == "n2"
    await control.heal()
    await n1.send("n2")
    assert (await n2.receive())[0] == "n1"


async def test_halves_with_clients_unpartitioned(
    control: ProxyControl, connect: Callable[..., Any]
) -> None:
    n1, n3, c1 = await connect("n1"), await connect("n3"), await connect("c1")
    await control.partition(halves(NODES))  # n1 | n2 n3
    await n1.send("n3")
    await wait_stats(control, partitioned=1)
    await c1.send("n1")
    await c1.send("n3")
    assert (await n1.receive())[0] == "c1"
    assert (await n3.receive())[0] == "c1"


async def test_drops_counted_in_stats_and_log(
    control: ProxyControl, connect: Callable[..., Any], tmp_path: Path
) -> None:
    n1, n2 = await connect("n1"), await connect("n2")
    await control.link_faults([LinkFault(src="n1", dest="n2", drop_probability=1.0)])
    for _ in range(20):
        await n1.send("n2", {"type": "doomed"})
    stats = await wait_stats(control, dropped=20)
    assert stats["dropped"] == 20
    assert stats["links"]["n1->n2"]["lost"] == 20
    dropped = [x for x in log_lines(tmp_path / "messages.jsonl") if x["fate"] == "dropped"]
    assert len(dropped) == 20
    assert {x["type"] for x in dropped} == {"doomed"}
    assert n2.has_nothing_queued()


async def test_client_links_faulted_only_when_asked(
    control: ProxyControl, connect: Callable[..., Any]
) -> None:
    n1, c1 = await connect("n1"), await connect("c1")
    await control.link_faults([{"drop_probability": 1.0}])
    await c1.send("n1")
    assert (await n1.receive())[0] == "c1"
    await control.link_faults([{"drop_probability": 1.0}], clients=True)
    await c1.send("n1")
    await wait_stats(control, dropped=1)
    assert n1.has_nothing_queued()


async def test_duplicate_delivers_twice(control: ProxyControl, connect: Callable[..., Any]) -> None:
    n1, n2 = await connect("n1"), await connect("n2")
    await control.link_faults([{"src": "n1", "duplicate_probability": 1.0}])
    msg_id = await n1.send("n2")
    first, second = await n2.receive(), await n2.receive()
    assert first == second
    assert first[1]["body"]["msg_id"] == msg_id
    stats = await control.stats()
    assert stats["duplicated"] == 1


async def test_message_delayed_into_a_partition_is_lost(
    control: ProxyControl, connect: Callable[..., Any], tmp_path: Path
) -> None:
    n1, n2 = await connect("n1"), await connect("n2")
    delay = {"distribution": "constant", "ms": 300}
    await control.link_faults([{"src": "n1", "dest": "n2", "delay": delay}])
    await n1.send("n2")
    await wait_stats(control, delayed=1)
    await control.partition({"n2": ["n1"]})
    stats = await wait_stats(control, partitioned=1)
    assert stats["pending"] == 0
    assert n2.has_nothing_queued()
    lost = [x for x in log_lines(tmp_path / "messages.jsonl") if x["fate"] == "partitioned"]
    assert len(lost) == 1
    assert lost[0]["delay_ms"] >= 300


async def test_delay_delivers_late(control: ProxyControl, connect: Callable[..., Any]) -> None:
    n1, n2 = await connect("n1"), await connect("n2")
    await control.link_faults([{"delay": {"distribution": "constant", "ms": 100}}])
    sent = time.monotonic()
    await n1.send("n2")
    await n2.receive()
    assert time.monotonic() - sent >= 0.1


async def test_malformed_frames_survive(
    control: ProxyControl,
    connect: Callable[..., Any],
    proxy: ProxyProcess,
    run_ctx: zmq.Context[Any],
) -> None:
    n2 = await connect("n2")
    raw = make_socket(run_ctx, zmq.DEALER, identity="n1", linger_ms=LINGER_MS)
    try:
        raw.connect(proxy.endpoint)
        raw.send_multipart([b"only-one-frame"])
        raw.send_multipart([b"n2", b"{}", b"extra"])
        raw.send_multipart([b"\xff\xfe", b"{}"])  # dest not UTF-8
        raw.send_multipart([b"n2", b"garbage"])  # body not a JSON object
        raw.send_multipart([b"", b"{}"])  # empty dest
        raw.send_multipart([b"n2", b'{"src":"n1","dest":"n2","body":{"type":"good"}}'])
        src, msg = await n2.receive()
    finally:
        raw.close(linger=LINGER_MS)
    assert src == "n1"
    assert msg["body"]["type"] == "good"
    stats = await wait_stats(control, malformed=5)
    assert stats["malformed"] == 5


async def test_unknown_destination_is_unroutable(
    control: ProxyControl, connect: Callable[..., Any], tmp_path: Path
) -> None:
    n1 = await connect("n1")
    before = (await control.stats())["unroutable"]
    await n1.send("n9")
    stats = await wait_stats(control, unroutable=before + 1)
    assert stats["links"]["n1->n9"]["lost"] == 1
    lines = [x for x in log_lines(tmp_path / "messages.jsonl") if x.get("dest") == "n9"]
    assert [x["fate"] for x in lines] == ["unroutable"]


async def test_stats_balance(control: ProxyControl, connect: Callable[..., Any]) -> None:
    n1, n2 = await connect("n1"), await connect("n2")
    rules = [{"drop_probability": 0.3, "duplicate_probability": 0.3, "reorder_probability": 0.3}]
    await control.link_faults(rules)
    await control.partition({"n2": ["n3"]})
    for _ in range(200):
        await n1.send("n2")
        await n2.send("n1")
    await n1.send("n9")
    s = await wait_stats(control, received=401)
    with trio.fail_after(WAIT_S):
        while s["pending"]:
            s = await control.stats()
    lost = s["dropped"] + s["partitioned"] + s["unroutable"] + s["overflow"]
    assert s["received"] + s["duplicated"] == s["delivered"] + lost + s["pending"]
    assert s["dropped"] > 0
    assert s["duplicated"] > 0
    assert s["reordered"] > 0


async def test_a_burst_both_ways_arrives_whole_and_in_order(
    control: ProxyControl, connect: Callable[..., Any], tmp_path: Path
) -> None:
    """Two nodes flood each other while their own messages arrive: the proxy reads and sends
    frames by hand, in batches, and each node's adapter drains its input in batches, also
    from inside its own sends. Nothing may be lost, reordered, or left out of the counts and
    the log. More messages than a reader takes in one step (`node.wire.DRAIN_MAX`) and than
    a receive queue holds (`RECEIVE_QUEUE_MAX`), so that every path runs."""
    burst = 3000
    n1, n2 = await connect("n1"), await connect("n2")
    before = await control.stats()

    async def flood(peer: Any, dest: str) -> None:
        for _ in range(burst):
            await peer.send(dest)

    async def take(peer: Any, src: str, got: list[int]) -> None:
        while len(got) < burst:
            sender, msg = await peer.receive()
            assert (sender, msg["src"]) == (src, src)
            got.append(msg["body"]["msg_id"])

    got_by_n1: list[int] = []
    got_by_n2: list[int] = []
    async with trio.open_nursery() as nursery:  # each sends while the other's arrive
        nursery.start_soon(flood, n1, "n2")
        nursery.start_soon(flood, n2, "n1")
    async with trio.open_nursery() as nursery:  # the receive queues have long been full
        nursery.start_soon(take, n1, "n2", got_by_n1)
        nursery.start_soon(take, n2, "n1", got_by_n2)
    for got in (got_by_n1, got_by_n2):  # msg ids go on from the `wait_connected` hellos
        assert got == list(range(got[0], got[0] + burst))
    assert n1.has_nothing_queued()
    assert n2.has_nothing_queued()
    stats = await control.stats()  # replies after the log is flushed
    assert stats["received"] - before["received"] == 2 * burst
    assert stats["delivered"] - before["delivered"] == 2 * burst
    assert stats["links"]["n1->n2"]["delivered"] >= burst
    delivered = [x for x in log_lines(tmp_path / "messages.jsonl")
                 if x["fate"] == "delivered" and x["type"] == "test"
                 and {x["src"], x["dest"]} == {"n1", "n2"}]
    assert len(delivered) == 2 * burst
    for src, dest in (("n1", "n2"), ("n2", "n1")):
        ids = [x["msg_id"] for x in delivered if (x["src"], x["dest"]) == (src, dest)]
        assert ids == sorted(ids)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cmd": "explode"}, "unknown cmd 'explode'; commands: ping, partition"),
        ({"cmd": "partition", "grudge": {"n1": ["n7"]}}, "'n7' is not a node"),
        ({"cmd": "partition", "grudge": {"n1": ["n1"]}}, "against itself"),
        ({"cmd": "partition"}, "'grudge' is required"),
        ({"cmd": "link_faults", "faults": [{"drop_probability": 2}]}, r"faults\[0\].drop_prob"),
        ({"cmd": "link_faults", "faults": [{"src": "c1"}]}, "'c1' is not a node"),
        ({"cmd": "partition", "grudge": {}, "clients": "yes"}, "'clients' must be true or false"),
        ({"cmd": "ping", "extra": 1}, r"unknown field\(s\) extra"),
    ],
)
async def test_control_errors_are_replied(
    control: ProxyControl, kwargs: dict[str, Any], message: str
) -> None:
    cmd = kwargs.pop("cmd")
    with pytest.raises(ProxyCommandError, match=message):
        await control.request(cmd, **kwargs)
    await control.ping()  # still alive


async def test_garbage_on_the_control_socket_gets_an_error_reply(
    control: ProxyControl, proxy: ProxyProcess, nursery: trio.Nursery, run_ctx: zmq.Context[Any]
) -> None:
    raw = make_socket(run_ctx, zmq.DEALER, linger_ms=LINGER_MS)
    raw.connect(proxy.control)
    sock = Socket(raw)
    await nursery.start(sock.serve)
    try:
        for garbage in (b"\xff not json", b"[1, 2]", b'{"cmd": "ping"}'):
            await sock.send([garbage])
            with trio.fail_after(WAIT_S):
                (data,) = await sock.receive()
            reply = json.loads(data)
            assert reply["ok"] is False
            assert reply["id"] is None
            assert reply["error"]
    finally:
        sock.close()
    assert (await control.stats())["control_errors"] == 3


async def test_control_timeout_is_clear(tmp_path: Path) -> None:
    endpoint = f"ipc://{tmp_path}/nobody.sock"
    async with open_proxy_control(endpoint, timeout_s=0.2) as control:
        with pytest.raises(ProxyTimeoutError, match=r"did not answer 'ping' within 0.2 s"):
            await control.ping()


async def test_shutdown_flushes_and_exits_zero(tmp_path: Path) -> None:
    proxy = await start_proxy(tmp_path, nodes=NODES, seed=1, epoch_ns=time.monotonic_ns())
    try:
        async with open_proxy_control(proxy.control, secret=proxy.secret) as control:
            await control.shutdown()
        with trio.fail_after(WAIT_S):
            assert await proxy.process.wait() == 0
    finally:
        await proxy.stop()
    assert (tmp_path / "messages.jsonl").exists()


async def test_sigterm_exits_zero_and_keeps_the_log(
    tmp_path: Path, connect: Callable[..., Any], proxy: ProxyProcess
) -> None:
    n1 = await connect("n1")
    await n1.send("n1", {"type": "last"})
    await n1.receive()
    proxy.expect_exit()  # else its supervisor (the fixture) reports an unprompted exit
    proxy.process.send_signal(signal.SIGTERM)
    with trio.fail_after(WAIT_S):
        assert await proxy.process.wait() == 0
    assert any(x.get("type") == "last" for x in log_lines(tmp_path / "messages.jsonl"))


async def test_start_failure_reports_the_stderr_tail(tmp_path: Path) -> None:
    with pytest.raises(ProxyStartError, match=r"(?s)exited with code 2 before.*--nodes"):
        await start_proxy(tmp_path, nodes=["n1", "n1"], seed=1, epoch_ns=0)


async def test_long_run_dir_uses_an_abstract_control_socket(tmp_path: Path) -> None:
    run_dir = tmp_path / ("d" * 120)
    run_dir.mkdir()
    proxy = await start_proxy(run_dir, nodes=NODES, seed=1, epoch_ns=time.monotonic_ns())
    try:
        assert proxy.control.startswith("ipc://@chaos-proxy-")
        async with open_proxy_control(proxy.control, secret=proxy.secret) as control:
            await control.ping()
    finally:
        assert await proxy.stop() == 0


def is_gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def test_exits_when_its_parent_dies(tmp_path: Path) -> None:
    # A stand-in orchestrator starts the proxy, reports the proxy's pid, and is then killed.
    script = (
        "import os, subprocess, sys, time\n"
        "proxy = subprocess.Popen([sys.executable, '-m', 'chaos.proxy', '--run-dir', sys.argv[1],"
        " '--parent-pid', str(os.getpid()), '--epoch-ns', '0', '--seed', '1', '--nodes', 'n1'],"
        " stdout=subprocess.PIPE, env={**os.environ, 'CHAOS_RUN_SECRET': 'x'})\n"
        "print(proxy.stdout.readline().decode().strip(), flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = await trio.lowlevel.open_process(
        [sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE
    )
    proxy_pid = None
    try:
        assert parent.stdout is not None
        line = b""
        with trio.fail_after(WAIT_S):
            while b"\n" not in line:
                line += await parent.stdout.receive_some(4096)
        proxy_pid = json.loads(line)["pid"]
        parent.kill()
        await parent.wait()
        with trio.fail_after(3.0):
            # Another process's state has no event to wait on: poll it, with a deadline.
            while not is_gone(proxy_pid):  # noqa: ASYNC110
                await trio.sleep(0.02)
    finally:
        with trio.CancelScope(shield=True):
            if parent.returncode is None:
                parent.kill()
            await parent.wait()
            if proxy_pid is not None and not is_gone(proxy_pid):
                os.kill(proxy_pid, signal.SIGKILL)


async def test_reorder_lets_later_messages_overtake(
    control: ProxyControl, connect: Callable[..., Any]
) -> None:
    n1, n2 = await connect("n1"), await connect("n2")
    await control.link_faults([{"reorder_probability": 0.5, "reorder_hold_ms": 50}])
    sent = [await n1.send("n2") for _ in range(40)]
    received = [(await n2.receive())[1]["body"]["msg_id"] for _ in sent]
    assert sorted(received) == sent
    assert received != sent


async def test_serve_proxy_reports_an_unprompted_death(tmp_path: Path) -> None:
    with pytest.raises(ExceptionGroup) as info:
        async with trio.open_nursery() as nursery:
            start = functools.partial(
                serve_proxy, tmp_path, nodes=NODES, seed=1, epoch_ns=time.monotonic_ns()
            )
            proxy = await nursery.start(start)
            proxy.process.kill()
    assert info.group_contains(ProxyExitedError, match=r"died unprompted with exit code -9")
    assert not (tmp_path / "proxy.sock").exists()  # removed on the orchestrator's side
    assert not (tmp_path / "proxy-data.sock").exists()
    assert issubclass(ProxyExitedError, HarnessError)  # exit 4: the harness, not the system


async def test_serve_proxy_reports_an_unprompted_clean_exit(tmp_path: Path) -> None:
    # SIGTERM from a stranger makes the proxy exit 0: still not an exit anyone asked for.
    with pytest.raises(ExceptionGroup) as info:
        async with trio.open_nursery() as nursery:
            start = functools.partial(
                serve_proxy, tmp_path, nodes=NODES, seed=1, epoch_ns=time.monotonic_ns()
            )
            proxy = await nursery.start(start)
            proxy.process.send_signal(signal.SIGTERM)
    assert info.group_contains(ProxyExitedError, match=r"died unprompted with exit code 0")


async def test_serve_proxy_returns_after_an_expected_shutdown(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        start = functools.partial(
            serve_proxy, tmp_path, nodes=NODES, seed=1, epoch_ns=time.monotonic_ns()
        )
        proxy = await nursery.start(start)
        proxy.expect_exit()
        async with open_proxy_control(proxy.control, secret=proxy.secret) as control:
            await control.shutdown()
    assert proxy.process.returncode == 0


# -- who may join: only the run's own processes (docs/internals.md "Frames through the proxy") --


def plain_dealer(
    endpoint: str, *, identity: bytes, username: bytes | None = None, password: bytes | None = None
) -> zmq.Socket[Any]:
    """A stranger's socket: a routing id of its choice and, if given, PLAIN credentials."""
    raw: zmq.Socket[Any] = zmq.Context.instance().socket(zmq.DEALER)
    raw.setsockopt(zmq.LINGER, 0)
    raw.setsockopt(zmq.IDENTITY, identity)
    if username is not None and password is not None:
        raw.setsockopt(zmq.PLAIN_USERNAME, username)
        raw.setsockopt(zmq.PLAIN_PASSWORD, password)
    raw.connect(endpoint)
    return raw


@pytest.mark.parametrize("via", ["endpoint", "ipc"])
async def test_a_stranger_is_refused_and_the_node_keeps_its_traffic(
    control: ProxyControl, connect: Callable[..., Any], proxy: ProxyProcess, tmp_path: Path,
    via: str,
) -> None:
    # The real n2 on the unix socket, as in a run; strangers on either data endpoint.
    n1, n2 = await connect("n1"), await connect("n2", endpoint=proxy.ipc)
    body = b'{"src":"n2","dest":"n1","body":{"type":"chaos_clock","offset_ms":100000}}'
    endpoint = getattr(proxy, via)
    strangers = [
        plain_dealer(endpoint, identity=b"n2"),  # no mechanism at all
        plain_dealer(endpoint, identity=b"n2", username=b"n2", password=b"guess"),
    ]
    try:
        for stranger in strangers:
            stranger.send_multipart([b"n1", body])
        stats = await wait_stats(control, refused=2)
        for _ in range(3):  # the real n2 still has its id, in both directions
            await n1.send("n2")
            assert (await n2.receive())[0] == "n1"
            await n2.send("n1")
            assert (await n1.receive())[0] == "n2"
        assert n1.has_nothing_queued()  # nothing of the strangers' got through
        for stranger in strangers:
            assert not stranger.poll(0)
    finally:
        for stranger in strangers:
            stranger.close(linger=0)
    assert stats["received"] == stats["delivered"]  # refusals are not messages
    assert (await control.joined()) == {"n1": 1, "n2": 1}
    log = (tmp_path / "proxy.log").read_text()
    assert "as 'n2': not the run's secret" in log
    if via == "endpoint":
        assert "refused: 127.0.0.1 as 'n2': not the run's secret" in log


async def test_peers_on_both_data_endpoints_reach_each_other_in_order(
    control: ProxyControl, connect: Callable[..., Any], proxy: ProxyProcess, tmp_path: Path
) -> None:
    # One ROUTER behind both endpoints: routing, names and counters do not know the way in.
    n1, n2 = await connect("n1"), await connect("n2", endpoint=proxy.ipc)
    c1 = await connect("c1", endpoint=proxy.ipc)
    sent = [await n1.send("n2", {"type": "gossip"}) for _ in range(50)]
    assert [(await n2.receive())[1]["body"]["msg_id"] for _ in sent] == sent
    sent = [await n2.send("n1", {"type": "gossip"}) for _ in range(50)]
    assert [(await n1.receive())[1]["body"]["msg_id"] for _ in sent] == sent
    await c1.send("n2", {"type": "read"})
    assert (await n2.receive())[0] == "c1"
    stats = await control.stats()
    assert stats["links"]["n1->n2"] == {"received": 50, "delivered": 50, "lost": 0}
    assert stats["links"]["n2->n1"] == {"received": 50, "delivered": 50, "lost": 0}
    assert stats["links"]["c1->n2"] == {"received": 1, "delivered": 1, "lost": 0}
    assert (await control.joined()) == {"n1": 1, "n2": 1}
    logged = [x for x in log_lines(tmp_path / "messages.jsonl") if x.get("type") == "gossip"]
    assert len(logged) == 100


async def test_a_member_cannot_speak_as_another_id(
    control: ProxyControl,
    connect: Callable[..., Any],
    proxy: ProxyProcess,
    run_ctx: zmq.Context[Any],
) -> None:
    # Authenticated as c1 but choosing routing id "n2": the name is the authenticated one.
    n1, n2 = await connect("n1"), await connect("n2")
    raw = make_socket(run_ctx, zmq.DEALER, identity="c1", linger_ms=LINGER_MS)
    raw.setsockopt(zmq.IDENTITY, b"n2")
    try:
        raw.connect(proxy.endpoint)
        raw.send_multipart([b"n1", b'{"src":"n2","dest":"n1","body":{"type":"x"}}'])
        assert (await n1.receive())[0] == "c1"
        await n1.send("n2")
        assert (await n2.receive())[0] == "n1"
        assert not raw.poll(0)
    finally:
        raw.close(linger=0)


@pytest.mark.parametrize("name", ["n9", "lin-kv", "c1x", "c"])
async def test_a_name_outside_the_run_is_refused(
    control: ProxyControl, proxy: ProxyProcess, tmp_path: Path, name: str
) -> None:
    raw = plain_dealer(
        proxy.endpoint, identity=b"x", username=name.encode(), password=proxy.secret.encode()
    )
    try:
        raw.send_multipart([b"n1", b"{}"])
        await wait_stats(control, refused=1)
    finally:
        raw.close(linger=0)
    assert "not a node of this run nor a client id" in (tmp_path / "proxy.log").read_text()


async def test_a_restarted_node_takes_its_id_back(
    control: ProxyControl, connect: Callable[..., Any]
) -> None:
    n1, old = await connect("n1"), await connect("n2")
    new = await connect("n2")  # the restart: a new connection that authenticates as n2
    assert (await control.joined())["n2"] == 2
    await n1.send("n2")
    assert (await new.receive())[0] == "n1"
    await new.send("n1")
    assert (await n1.receive())[0] == "n2"
    assert old.has_nothing_queued()


async def test_a_join_frame_is_counted_and_not_forwarded(
    control: ProxyControl, proxy: ProxyProcess, run_ctx: zmq.Context[Any]
) -> None:
    raw = make_socket(run_ctx, zmq.DEALER, identity="n3", linger_ms=LINGER_MS)
    try:
        raw.connect(proxy.endpoint)
        raw.send(b"")
        with trio.fail_after(WAIT_S):
            await control.wait_joined("n3", joins_min=1)
        raw.send(b"")  # a second announcement on the same connection is no new join
        stats = await control.stats()
    finally:
        raw.close(linger=0)
    assert (await control.joined())["n3"] == 1
    assert stats["received"] == 0
    assert stats["malformed"] == 0


async def test_the_control_socket_refuses_a_stranger(
    control: ProxyControl, proxy: ProxyProcess
) -> None:
    async with open_proxy_control(proxy.control, timeout_s=0.3) as stranger:
        with pytest.raises(ProxyTimeoutError):
            await stranger.ping()
    await wait_stats(control, refused=1)


async def test_chaos_bodies_only_from_the_orchestrator(
    control: ProxyControl, connect: Callable[..., Any], tmp_path: Path
) -> None:
    n1, n2, c0, c1 = [await connect(name) for name in ("n1", "n2", "c0", "c1")]
    await c1.send("n1", {"type": "chaos_clock", "offset_ms": 100000})
    await n2.send("n1", {"type": "chaos_clock", "rate": 50})
    escaped = b'{"src":"c1","dest":"n1","body":{"type":"\\u0063haos_clock","offset_ms":1}}'
    await c1.sock.send([b"n1", escaped])
    await wait_stats(control, forbidden=3)
    await c1.send("n1", {"type": "echo", "echo": '"chaos_clock"'})  # data may say anything
    src, msg = await n1.receive()
    assert (src, msg["body"]["type"]) == ("c1", "echo")
    await c0.send("n1", {"type": "chaos_clock", "offset_ms": 5})
    src, msg = await n1.receive()
    assert (src, msg["body"]["type"]) == ("c0", "chaos_clock")
    await n1.send("c0", {"type": "chaos_clock_ok"})  # the node's reply to the orchestrator
    assert (await c0.receive())[1]["body"]["type"] == "chaos_clock_ok"
    assert n1.has_nothing_queued()
    stats = await control.stats()
    assert stats["forbidden"] == 3
    lost = stats["dropped"] + stats["partitioned"] + stats["unroutable"] + stats["overflow"]
    assert stats["received"] + stats["duplicated"] == stats["delivered"] + lost + stats["pending"]
    lines = [x for x in log_lines(tmp_path / "messages.jsonl") if x["fate"] == "forbidden"]
    # Two connections: the proxy's fair queueing decides which of them it reads first.
    assert sorted((x["src"], x["dest"]) for x in lines) == [("c1", "n1")] * 2 + [("n2", "n1")]


async def test_the_orchestrators_links_are_never_faulted(
    control: ProxyControl, connect: Callable[..., Any]
) -> None:
    n1, c0, c1 = await connect("n1"), await connect("c0"), await connect("c1")
    await control.link_faults([{"drop_probability": 1.0}], clients=True)
    await c1.send("n1")
    await wait_stats(control, dropped=1)
    await c0.send("n1", {"type": "init"})
    assert (await n1.receive())[0] == "c0"
    await n1.send("c0", {"type": "init_ok"})
    assert (await c0.receive())[0] == "n1"
    assert n1.has_nothing_queued()


async def test_a_killed_proxy_leaves_no_socket_file(tmp_path: Path) -> None:
    proxy = await start_proxy(tmp_path, nodes=NODES, seed=1, epoch_ns=time.monotonic_ns())
    socks = [tmp_path / "proxy.sock", tmp_path / "proxy-data.sock"]
    try:
        for sock in socks:
            assert sock.is_socket()
            assert sock.stat().st_mode & 0o077 == 0  # only the user may connect
        proxy.process.kill()
        assert await proxy.process.wait() == -signal.SIGKILL
        assert all(sock.is_socket() for sock in socks)  # the proxy ran none of its code
    finally:
        await proxy.stop()
    assert not any(sock.exists() for sock in socks)


async def test_the_proxy_needs_the_secret(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CHAOS_RUN_SECRET"}
    done = await trio.run_process(
        [
            sys.executable,
            "-m",
            "chaos.proxy",
            "--run-dir",
            str(tmp_path),
            "--parent-pid",
            str(os.getpid()),
            "--epoch-ns",
            "0",
            "--seed",
            "1",
            "--nodes",
            "n1",
        ],
        env=env,
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    assert done.returncode == 2
    last = done.stderr.decode().strip().splitlines()[-1]  # argparse: usage, then the error
    assert "CHAOS_RUN_SECRET is not set" in last
    assert not (tmp_path / "proxy.sock").exists()


def test_forgetting_clients_keeps_the_nodes_current_connections(tmp_path: Path) -> None:
    # In-process: the bookkeeping behind PEERS_MAX, without waiting for 200,000 connections.
    ctx: zmq.Context[Any] = zmq.Context()
    proxy = Proxy(
        ctx, run_dir=tmp_path, nodes=NODES, seed=1, epoch_ns=0, parent_pid=None, secret="s3cret"
    )
    try:
        for rid, name in (
            (b"\x00r1", "n1"),
            (b"\x00r2", "n1"),
            (b"\x00r3", "c0"),
            (b"\x00r4", "c7"),
            (b"\x00r5", "n2"),
        ):
            frame = Frame(b"")  # stands in for a first message: the name comes from User-Id
            proxy._peers.pop(rid, None)
            with patch.object(Frame, "get", return_value=name):
                assert proxy._authenticated(rid, frame) is not None
        assert proxy._joins == {"n1": 2, "c0": 1, "n2": 1}
        proxy._forget_clients()
        assert proxy._routes == {b"n1": b"\x00r2", b"c0": b"\x00r3", b"n2": b"\x00r5"}
        assert set(proxy._peers) == {b"\x00r2", b"\x00r3", b"\x00r5"}
    finally:
        proxy.close()
        ctx.term()


async def test_a_burst_of_control_requests_past_a_batch_is_all_answered(tmp_path: Path) -> None:
    """In-process, with `BATCH_MAX` at 2: the control socket is polled by its FD, which
    signals only what arrives after a drain, so a drain that a batch stopped must run again
    without waiting for it, or the requests behind it wait forever."""
    burst = 50
    ctx: zmq.Context[Any] = zmq.Context()
    client_ctx = authenticated_context("s3cret")
    with patch("chaos.proxy.BATCH_MAX", 2):
        proxy = Proxy(
            ctx, run_dir=tmp_path, nodes=NODES, seed=1, epoch_ns=0, parent_pid=None,
            secret="s3cret",
        )
        raw = make_socket(client_ctx, zmq.DEALER, linger_ms=LINGER_MS)
        raw.connect(proxy.control_endpoint)
        sock = SerialSocket(raw)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(trio.to_thread.run_sync, proxy.run)  # stops within 100 ms
                try:
                    for i in range(burst):  # sent at once: they wait in the proxy together
                        sock.send_nowait([json.dumps({"id": i, "cmd": "ping"}).encode()])
                    with trio.fail_after(WAIT_S):
                        ids = [json.loads((await sock.receive())[-1])["id"]
                               for _ in range(burst)]
                finally:
                    proxy.stop()
            assert ids == list(range(burst))
        finally:
            sock.close()
            client_ctx.term()
            proxy.close()
            ctx.term()
