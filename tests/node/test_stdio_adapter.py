"""`python -m node.stdio`: a third-party Maelstrom program joined to the in-test router, and
the adapter's bookkeeping of lines that are not messages (`ReplyLedger`, pure, no process)."""

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

from node import stdio
from node.stdio import ATTRIBUTION_WINDOW_S, DEFERRED_MAX, BadLine, ReplyLedger
from scenarios.workload import STDIO_MALFORMED

ECHO = ROOT / "tests" / "maelstrom_nodes" / "echo.py"
GARBAGE_ECHO = ROOT / "tests" / "maelstrom_nodes" / "garbage_echo.py"


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
    # Its stdout banner breaks the protocol: counted, not fatal, and since no request was
    # waiting when it came, the first request is answered with it, on the program's behalf.
    reply = await router.rpc("n1", {"type": "echo", "echo": "hi"})
    assert reply["src"] == "n1"
    assert reply["body"]["type"] == STDIO_MALFORMED
    assert reply["body"]["deferred"] is True
    assert (reply["body"]["line_number"], reply["body"]["line"]) == (1, "echo server starting up")
    malformed = await wait_log(processes, "n1", "malformed")
    assert malformed["where"] == "program"
    # The program got the request all the same, and its stderr reaches ours.
    reply = await router.rpc("n1", {"type": "echo", "echo": "again"})
    assert reply["body"]["echo"] == "again"
    assert reply["src"] == "n1"
    assert "Echoing" in processes.log("n1")
    # chaos_* never reaches a stdio program; garbage from the proxy neither.
    router.send("c0", "n1", {"type": "chaos_clock", "offset_ms": 5})
    router.send_raw([b"n1", b"c1", b"{nope"])
    reply = await router.rpc("n1", {"type": "echo", "echo": 2})
    assert reply["body"]["echo"] == 2
    await wait_log(processes, "n1", "chaos_dropped")
    assert proc.returncode is None


async def test_lines_that_are_not_messages_answer_the_waiting_request_and_are_counted(
    router: Router, processes: Processes
) -> None:
    argv = adapter_argv(router, processes.tmp, [sys.executable, str(GARBAGE_ECHO)])
    proc = await processes.start(argv, name="n1")
    assert (await router.init("n1"))["body"]["type"] == "init_ok"
    bodies = []
    for n in range(1, 8):  # one request at a time, as a client sends them
        reply = await router.rpc("n1", {"type": "echo", "echo": n}, src=f"c{n}")
        assert reply["dest"] == f"c{n}"
        bodies.append(reply["body"])
    assert [b["type"] for b in bodies] == ["echo_ok"] * 4 + [STDIO_MALFORMED, "echo_ok"] + [
        STDIO_MALFORMED
    ]
    fifth, seventh = bodies[4], bodies[6]
    assert fifth["node"] == "n1"
    assert fifth["reason"].startswith("not JSON")
    assert fifth["line"] == "echo_ok 5 (oops, not JSON)"
    assert fifth["line_number"] == 6  # init_ok was line 1
    assert fifth["deferred"] is False
    assert seventh["reason"] == "a message must be a JSON object, not list"
    assert seventh["line"] == '["echo_ok", 7]'
    proc.send_signal(signal.SIGTERM)
    with trio.fail_after(WAIT_S):
        assert await proc.wait() == 0
    (stop,) = log_events(processes, "n1", "stop")
    assert (stop["malformed"], stop["answered_for_program"], stop["unanswered_malformed"]) == (
        2,
        2,
        0,
    )
    assert stop["from_program"] == 6  # init_ok and five echo_ok
    answers = [e["answers"] for e in log_events(processes, "n1", "malformed")]
    assert answers == ["c5#" + str(bodies[4]["in_reply_to"]), "c7#" + str(bodies[6]["in_reply_to"])]


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


# -- the ledger: which request a bad line answers (pure) ------------------------------------


def request(src: str, msg_id: int) -> dict[str, object]:
    return {"src": src, "dest": "n1", "body": {"type": "echo", "msg_id": msg_id}}


def reply(dest: str, in_reply_to: int) -> dict[str, object]:
    return {"src": "n1", "dest": dest, "body": {"type": "echo_ok", "in_reply_to": in_reply_to}}


def bad(line: bytes = b"oops", line_number: int = 1) -> BadLine:
    return BadLine.of(line, line_number, "not JSON")


def test_a_bad_line_answers_the_oldest_waiting_request() -> None:
    ledger = ReplyLedger()
    assert ledger.delivered(request("c1", 1), now=0.0) is None
    assert ledger.delivered(request("c2", 1), now=0.1) is None
    assert ledger.claim(bad(), now=0.2) == ("c1", 1)
    assert ledger.claim(bad(), now=0.2) == ("c2", 1)
    assert ledger.claim(bad(), now=0.2) is None  # none left: kept for the next request
    assert ledger.deferred_count == 1


def test_a_line_naming_a_waiting_request_answers_that_one() -> None:
    ledger = ReplyLedger()
    ledger.delivered(request("c1", 1), now=0.0)
    ledger.delivered(request("c2", 4), now=0.1)
    named = bad(b'{"dest": "c2", "body": {"in_reply_to": 4}}')  # no src, no type
    assert named.hint == ("c2", 4)
    assert ledger.claim(named, now=0.2) == ("c2", 4)
    unknown = bad(b'{"dest": "c9", "body": {"in_reply_to": 4}}')
    assert ledger.claim(unknown, now=0.2) == ("c1", 1)  # names nothing waiting: the oldest


def test_answered_requests_are_off_the_ledger() -> None:
    ledger = ReplyLedger()
    ledger.delivered(request("c1", 1), now=0.0)
    ledger.delivered(request("c2", 1), now=0.0)
    ledger.answered(reply("c1", 1))
    ledger.answered(reply("c2", 99))  # not the one c2 waits for
    assert ledger.claim(bad(), now=0.1) == ("c2", 1)


def test_a_clients_newer_request_replaces_its_older_one() -> None:
    """One request outstanding per client: a new one means it gave up on the old."""
    ledger = ReplyLedger()
    ledger.delivered(request("c1", 1), now=0.0)
    ledger.delivered(request("c2", 1), now=0.1)
    ledger.delivered(request("c1", 2), now=0.2)
    assert ledger.claim(bad(), now=0.3) == ("c2", 1)
    assert ledger.claim(bad(), now=0.3) == ("c1", 2)


def test_stale_requests_and_the_admin_client_are_never_answered() -> None:
    ledger = ReplyLedger()
    ledger.delivered(request("c0", 1), now=0.0)  # init, topology: the orchestrator's
    ledger.delivered(request("c1", 1), now=0.0)
    line = bad()
    assert ledger.claim(line, now=ATTRIBUTION_WINDOW_S + 0.5) is None  # c1 has timed out
    # The line answers the next workload request instead, and that one is not waited on.
    assert ledger.delivered(request("c0", 2), now=2.0) is None
    assert ledger.delivered(request("c3", 1), now=2.0) is line
    assert ledger.claim(bad(), now=2.1) is None


def test_deferred_lines_are_bounded() -> None:
    ledger = ReplyLedger()
    lines = [bad(line_number=n) for n in range(DEFERRED_MAX + 5)]
    for line in lines:
        assert ledger.claim(line, now=0.0) is None
    assert ledger.deferred_count == DEFERRED_MAX
    assert ledger.delivered(request("c1", 1), now=0.0) is lines[5]  # the oldest kept


def test_a_notice_carries_the_node_the_line_and_why() -> None:
    line = BadLine.of(b"x" * 500, 12, "not JSON: Expecting value")
    assert len(line.sample) == stdio.SAMPLE_CHARS + 3 and line.sample.endswith("...")
    assert line.hint is None
    msg = json.loads(line.notice("n2", "c4", 9, deferred=False))
    assert msg == {
        "src": "n2",
        "dest": "c4",
        "body": {
            "type": STDIO_MALFORMED,
            "in_reply_to": 9,
            "node": "n2",
            "line_number": 12,
            "reason": "not JSON: Expecting value",
            "line": line.sample,
            "deferred": False,
        },
    }
    assert BadLine.of(b"\xff\xfe not utf-8", 1, "not JSON").sample == "\ufffd\ufffd not utf-8"


def test_the_workloads_know_the_adapters_notice() -> None:
    """scenarios.workload repeats the name (it does not import trio or zmq): keep them one."""
    assert stdio.MALFORMED_TYPE == STDIO_MALFORMED
