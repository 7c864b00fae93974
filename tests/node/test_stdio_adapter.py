"""`python -m node.stdio`: a third-party Maelstrom program joined to the in-test router."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import trio
from node_harness import ROOT, WAIT_S, Processes, Router, wait_gone

ECHO = ROOT / "tests" / "maelstrom_nodes" / "echo.py"


def adapter_argv(router: Router, tmp: Path, cmd: list[str], node_id: str = "n1") -> list[str]:
    return [
        sys.executable,
        "-m",
        "node.stdio",
        "--id",
        node_id,
        "--proxy",
        router.endpoint,
        "--run-dir",
        str(tmp),
        "--parent-pid",
        str(os.getpid()),
        "--",
        *cmd,
    ]


def log_events(processes: Processes, name: str, event: str) -> list[dict[str, object]]:
    out = []
    for line in processes.log(name).splitlines():
        if line.startswith("{") and f'"event":"{event}"' in line:
            out.append(json.loads(line))
    return out


async def wait_log(processes: Processes, name: str, event: str) -> dict[str, object]:
    with trio.fail_after(WAIT_S):
        while not (found := log_events(processes, name, event)):  # noqa: ASYNC110 - a file
            await trio.sleep(0.05)
    return found[0]


async def start_echo(router: Router, processes: Processes) -> tuple[trio.Process, int]:
    argv = adapter_argv(router, processes.tmp, [sys.executable, str(ECHO), "--debug-stdout"])
    proc = await processes.start(argv, name="n1")
    reply = await router.init("n1")
    assert reply["body"]["type"] == "init_ok"
    assert "id" in reply  # the program's extra envelope key travelled untouched
    start = await wait_log(processes, "n1", "start")
    program_pid = start["pid"]
    assert isinstance(program_pid, int)
    processes.pids.append(program_pid)
    return proc, program_pid


async def test_echo_program_through_the_adapter(router: Router, processes: Processes) -> None:
    proc, _ = await start_echo(router, processes)
    reply = await router.rpc("n1", {"type": "echo", "echo": "hi"})
    assert reply["body"]["echo"] == "hi"
    assert reply["src"] == "n1"
    # Its stdout banner is counted, not fatal; its stderr reaches ours.
    malformed = await wait_log(processes, "n1", "malformed")
    assert malformed["where"] == "program"
    assert "Echoing" in processes.log("n1")
    # chaos_* never reaches a stdio program; garbage from the proxy neither.
    router.send("c0", "n1", {"type": "chaos_clock", "offset_ms": 5})
    router.send_raw([b"n1", b"c1", b"{nope"])
    reply = await router.rpc("n1", {"type": "echo", "echo": 2})
    assert reply["body"]["echo"] == 2
    await wait_log(processes, "n1", "chaos_dropped")
    assert proc.returncode is None


async def test_sigterm_stops_adapter_and_program(router: Router, processes: Processes) -> None:
    proc, program_pid = await start_echo(router, processes)
    proc.send_signal(signal.SIGTERM)
    with trio.fail_after(WAIT_S):
        assert await proc.wait() == 0
    await wait_gone(program_pid, timeout_s=3.0)


async def test_killed_adapter_takes_its_program_along(router: Router, processes: Processes) -> None:
    proc, program_pid = await start_echo(router, processes)
    proc.kill()  # SIGKILL the adapter alone, not its group: PR_SET_PDEATHSIG must do it
    await wait_gone(program_pid, timeout_s=3.0)


async def test_program_exit_code_is_the_adapters(router: Router, processes: Processes) -> None:
    cmd = [sys.executable, "-c", "import sys; print('{\"bye\": 1}', flush=True); sys.exit(3)"]
    proc = await processes.start(adapter_argv(router, processes.tmp, cmd), name="n1")
    with trio.fail_after(WAIT_S):
        assert await proc.wait() == 3
    exited = log_events(processes, "n1", "program_exited")
    assert exited[0]["code"] == 3


@pytest.mark.parametrize(
    ("tail", "complaint"),
    [
        ([], "give the node program after `--`"),
        (["--", "/no/such/program"], "cannot start '/no/such/program'"),
    ],
)
def test_bad_command_exits_2_with_one_line(tmp_path: Path, tail: list[str], complaint: str) -> None:
    argv = [
        sys.executable,
        "-m",
        "node.stdio",
        "--id",
        "n1",
        "--proxy",
        "tcp://127.0.0.1:1",
        "--run-dir",
        str(tmp_path),
        "--parent-pid",
        "1",
        *tail,
    ]
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert complaint in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if not line.startswith("{")]
    assert len(errors) == 1, proc.stderr


async def test_third_party_broadcast_converges_after_a_partition(
    router: Router, processes: Processes
) -> None:
    program = [sys.executable, str(ROOT / "tests" / "maelstrom_nodes" / "broadcast.py")]
    for n in router.nodes:
        await processes.start(adapter_argv(router, processes.tmp, program, node_id=n), name=n)
    for n in router.nodes:
        assert (await router.init(n))["body"]["type"] == "init_ok"
    router.drop = lambda src, dest: "n1" in (src, dest)
    for value in (1, 2):
        assert (await router.rpc("n1", {"type": "broadcast", "message": value}))["body"][
            "type"
        ] == "broadcast_ok"
    with trio.fail_after(WAIT_S):
        while router.dropped < 4:  # noqa: ASYNC110 - a counter of the router task
            await trio.sleep(0.01)
    router.drop = lambda src, dest: False
    with trio.fail_after(WAIT_S):
        while True:
            reads = [
                (await router.rpc(n, {"type": "read"}))["body"]["messages"] for n in router.nodes
            ]
            if all(r == [1, 2] for r in reads):
                break
            await trio.sleep(0.05)
