"""One real node process (`python -m node`) against the in-test router: the handshake, the
smoke services, garbage on the wire, and the ways a node must stop."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import trio
from node_harness import ROOT, WAIT_S, Processes, Router, node_argv, wait_gone


async def start_node(
    router: Router, processes: Processes, node_id: str = "n1", **kwargs: object
) -> trio.Process:
    argv = node_argv(node_id, router.endpoint, processes.tmp, **kwargs)  # type: ignore[arg-type]
    proc = await processes.start(argv, name=node_id)
    reply = await router.init(node_id)
    assert reply["body"]["type"] == "init_ok", reply
    return proc


async def test_init_echo_and_unknown_type(router: Router, processes: Processes) -> None:
    await start_node(router, processes)
    reply = await router.rpc("n1", {"type": "echo", "echo": {"hello": [1, 2]}})
    assert reply["body"]["type"] == "echo_ok"
    assert reply["body"]["echo"] == {"hello": [1, 2]}
    assert reply["src"] == "n1"
    assert reply["dest"] == "c1"
    assert reply["body"]["msg_id"] >= 1

    reply = await router.rpc("n1", {"type": "frobnicate"})
    assert reply["body"]["type"] == "error"
    assert reply["body"]["code"] == 10

    reply = await router.rpc("n1", {"type": "echo", "echo": True})
    assert reply["body"]["echo"] is True

    reply = await router.rpc("n1", {"type": "echo"})  # no echo field
    assert reply["body"]["code"] == 12


async def test_init_again_and_for_the_wrong_id(router: Router, processes: Processes) -> None:
    await start_node(router, processes)
    again = await router.init("n1")
    assert again["body"]["type"] == "init_ok"
    wrong = await router.rpc("n1", {"type": "init", "node_id": "n2", "node_ids": router.nodes})
    assert wrong["body"]["type"] == "error"
    assert wrong["body"]["code"] == 12


async def test_garbage_frames_do_not_kill_the_node(router: Router, processes: Processes) -> None:
    proc = await start_node(router, processes)
    for frames in (
        [b"n1", b"c1", b"not json"],
        [b"n1", b"c1", b"[1, 2]"],
        [b"n1", b"c1", b'{"src": "c1", "dest": "n1", "body": {"type": 3}}'],
        [b"n1", b"c1", b"\xff\xfe"],
        [b"n1", b"c1", b"one", b"too many"],
        [b"n1", b"c1"],
    ):
        assert router.send_raw(frames)
    reply = await router.rpc("n1", {"type": "echo", "echo": "still here"})
    assert reply["body"]["echo"] == "still here"
    assert proc.returncode is None
    with trio.fail_after(WAIT_S):
        while "malformed" not in processes.log("n1"):  # noqa: ASYNC110 - a log file
            await trio.sleep(0.05)


async def test_unique_ids_are_unique_across_restarts(router: Router, processes: Processes) -> None:
    ids = set()
    for _ in range(2):
        proc = await start_node(router, processes, service="unique-ids")
        for _ in range(20):
            reply = await router.rpc("n1", {"type": "generate"})
            ids.add(reply["body"]["id"])
        proc.kill()  # SIGKILL: only fsynced state survives
        with trio.fail_after(WAIT_S):
            await proc.wait()
    assert len(ids) == 40
    assert {i.rsplit("-", 1)[0] for i in ids} == {"n1-1", "n1-2"}


async def test_unsynced_boot_counter_bug_repeats_ids_after_a_kill(
    router: Router, processes: Processes
) -> None:
    seen = []
    for _ in range(2):
        proc = await start_node(
            router, processes, service="unique-ids", bug="unsynced-boot-counter"
        )
        reply = await router.rpc("n1", {"type": "generate"})
        seen.append(reply["body"]["id"])
        proc.kill()
        with trio.fail_after(WAIT_S):
            await proc.wait()
    assert seen[0] == seen[1] == "n1-1-1"


async def test_chaos_clock_sets_offset_and_rate(router: Router, processes: Processes) -> None:
    await start_node(router, processes)
    reply = await router.rpc("n1", {"type": "chaos_clock", "offset_ms": 250, "rate": 1.5}, src="c0")
    assert reply["body"] == {
        **reply["body"],
        "type": "chaos_clock_ok",
        "offset_ms": 250.0,
        "rate": 1.5,
    }
    bad = await router.rpc("n1", {"type": "chaos_clock", "rate": 0}, src="c0")
    assert bad["body"]["code"] == 12


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_signal_exits_zero_promptly(
    router: Router, processes: Processes, signum: int
) -> None:
    proc = await start_node(router, processes)
    proc.send_signal(signum)
    with trio.fail_after(WAIT_S):
        assert await proc.wait() == 0
    assert '"event":"stop"' in processes.log("n1")


async def test_node_exits_when_its_parent_dies(router: Router, processes: Processes) -> None:
    # An intermediate parent starts the node with --parent-pid = its own pid, prints the
    # node's pid, and waits; we SIGKILL it and the orphaned node must exit by itself.
    argv = node_argv("n1", router.endpoint, processes.tmp, parent_pid=999_999_999)
    script = (
        "import os, subprocess, sys\n"
        "argv = sys.argv[1:]\n"
        "argv[argv.index('--parent-pid') + 1] = str(os.getpid())\n"
        "p = subprocess.Popen(argv)\n"
        "print(p.pid, flush=True)\n"
        "sys.stdin.read()\n"
    )
    parent = await processes.start(
        [sys.executable, "-c", script, *argv],
        name="parent",
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert parent.stdout is not None
    with trio.fail_after(WAIT_S):
        line = b""
        while not line.endswith(b"\n"):
            line += await parent.stdout.receive_some(64)
    node_pid = int(line)
    processes.pids.append(node_pid)
    await router.init("n1")  # it is really running
    parent.kill()
    await wait_gone(node_pid, timeout_s=3.0)
    assert '"reason":"parent-died"' in processes.log("parent")


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--service", "nope"], "unknown service 'nope'"),
        (["--service", "broadcast", "--bug", "nope"], "use one of no-retry"),
        (["--service", "echo", "--bug", "nope"], "it has no bugs"),
        (["--service", "echo", "--proxy", "localhost:1"], "not a zmq endpoint"),
        (["--service", "echo", "--parent-pid", "x"], "not an integer"),
    ],
)
def test_bad_options_exit_2_with_one_line(tmp_path: Path, args: list[str], complaint: str) -> None:
    base = {
        "--id": "n1",
        "--proxy": "tcp://127.0.0.1:1",
        "--data": str(tmp_path),
        "--run-dir": str(tmp_path),
        "--parent-pid": "1",
    }
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    argv = [a for pair in base.items() for a in pair]
    proc = subprocess.run(
        [sys.executable, "-m", "node", *argv], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 2
    assert complaint in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
