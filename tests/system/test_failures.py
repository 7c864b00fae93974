"""How `chaos run` fails: bad input (exit 2, one line), a broken node (exit 4), interruption
(exit 130) and `kill -9` of the orchestrator (no process left behind), two runs at once. A store
that cannot be written (exit 4) is in test_harness_failures.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from checker.history import load_jsonl
from scenarios.judge import judge_run
from tests.system.conftest import ROOT, chaos

pytestmark = pytest.mark.cluster


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["run", "no-such-scenario"], "no-such-scenario"),
        (["run", "scenarios"], "scenarios: is a directory, not a scenario"),
        (["run", "scenarios/"], "or a .toml file such as scenarios/clock-skew.toml"),
        (["run", "partition-heal", "--bug", "no-such-bug"], "--bug"),
        (["run", "partition-heal", "--nodes", "0"], "--nodes"),
        (["run", "partition-heal", "--workload", "nope"], "--workload"),
        (["run", "partition-heal", "--node-cmd", "/no/such/program"], "--node-cmd"),
        (["run", "partition-heal", "--node-cmd", "x", "--service", "echo"], "--service"),
        (["run", "partition-heal", "--seed", "minus-one"], "--seed"),
        (["report", "/no/such/dir"], "/no/such/dir"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(store: Path, args: list[str], fragment: str) -> None:
    done = chaos(*args, store=store)
    assert done.returncode == 2, done.explain()
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.explain()
    assert fragment in lines[0]
    assert "Traceback" not in done.stderr
    assert not (store / "latest").exists()


def test_an_unwritable_store_is_a_usage_error() -> None:
    done = chaos("run", "echo", store=Path("/proc/no-store-here"))
    assert done.returncode == 2, done.explain()
    assert done.stderr.strip().count("\n") == 0
    assert "--store" in done.stderr


def test_bad_scenario_file_names_the_file_and_key(store: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\nworkload = "broadcast"\nnodez = 3\n')
    done = chaos("run", str(bad), store=store)
    assert done.returncode == 2, done.explain()
    line = done.stderr.strip()
    assert "bad.toml" in line
    assert "nodez" in line


def test_a_node_that_dies_at_start_is_a_harness_failure(store: Path) -> None:
    program = "import sys; print('boom at start', file=sys.stderr); sys.exit(3)"
    node_cmd = f'{sys.executable} -c "{program}"'
    done = chaos("run", "echo", "--node-cmd", node_cmd, "--seed", "1", "--time-limit", "2",
                 "--json", store=store)
    assert done.returncode == 4, done.explain()
    assert "boom at start" in done.stdout + done.stderr
    run_json = json.loads((store / "latest" / "run.json").read_text())
    assert run_json["exit_code"] == 4


def _start_run(store: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "chaos", "run", "partition-heal", "--seed", "7",
         "--time-limit", "30", "--store", str(store), *extra],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
        text=True, start_new_session=True,
    )


def _wait_for_ok_ops(store: Path, proc: subprocess.Popen[str], deadline_s: float) -> Path:
    """Wait (with a deadline) until the run's history holds some completed operations."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        history = store / "latest" / "history.jsonl"
        if history.exists() and history.read_text().count('"type":"ok"') >= 5:
            return store / "latest"
        time.sleep(0.05)  # polling a file for a condition, under a deadline
    raise AssertionError("the run recorded no completed operation in time")


def _run_family(proc: subprocess.Popen[str]) -> list[psutil.Process]:
    parent = psutil.Process(proc.pid)
    return parent.children(recursive=True)


def test_kill_9_of_the_orchestrator_leaves_no_process(store: Path) -> None:
    proc = _start_run(store)
    try:
        run_dir = _wait_for_ok_ops(store, proc, deadline_s=30)
        family = _run_family(proc)
        assert len(family) >= 6, family  # the proxy and five nodes
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
        _gone, alive = psutil.wait_procs(family, timeout=3)
        assert not alive, f"still running 3 s after kill -9: {alive}"
        ops = load_jsonl(run_dir.resolve() / "history.jsonl")
        assert ops
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_stops_everything_and_exits_130(store: Path, sig: signal.Signals) -> None:
    proc = _start_run(store)
    try:
        run_dir = _wait_for_ok_ops(store, proc, deadline_s=30)
        family = _run_family(proc)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=15)
        assert proc.returncode == 130, out + err
        _gone, alive = psutil.wait_procs(family, timeout=3)
        assert not alive, alive
        info = json.loads((run_dir / "run.json").read_text())
        assert info["exit_code"] == 130
        assert "Traceback" not in err
        # Re-judged later (`chaos check RUN_DIR`), a run cut short is unknown, not invalid:
        # its reads during faults are not final reads.
        judged = judge_run(run_dir / "history.jsonl", load_jsonl(run_dir / "history.jsonl"), info)
        assert judged["valid"] == "unknown", judged
        assert "interrupted" in judged["reason"]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()


def test_two_runs_at_once_do_not_collide(store: Path) -> None:
    argv = [sys.executable, "-m", "chaos", "run", "echo", "--seed", "5", "--time-limit", "2",
            "--store", str(store), "--json"]
    procs = [subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, stdin=subprocess.DEVNULL) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, out + err
    dirs = {json.loads(out.strip().splitlines()[-1])["run_dir"] for out, _ in outs}
    assert len(dirs) == 2


CRASHING_ECHO = """
import json, sys
served = 0
for line in sys.stdin:
    msg = json.loads(line)
    body = msg["body"]
    reply = {"in_reply_to": body.get("msg_id")}
    if body["type"] == "init":
        reply["type"] = "init_ok"
    elif body["type"] == "echo":
        served += 1
        if served > 5:
            print("crashing on purpose after 5 echoes", file=sys.stderr, flush=True)
            sys.exit(7)
        reply.update(type="echo_ok", echo=body["echo"])
    print(json.dumps({"src": msg["dest"], "dest": msg["src"], "body": reply}), flush=True)
"""


def test_a_node_that_dies_mid_run_is_a_harness_failure(store: Path, tmp_path: Path) -> None:
    program = tmp_path / "crashing_echo.py"
    program.write_text(CRASHING_ECHO)
    done = chaos("run", "echo", "--node-cmd", f"{sys.executable} {program}", "--seed", "2",
                 "--time-limit", "4", "--json", store=store)
    assert done.returncode == 4, done.explain()
    assert "died unprompted" in done.stderr
    assert "crashing on purpose" in done.stderr
    run_dir = (store / "latest").resolve()
    results = json.loads((run_dir / "results.json").read_text())
    assert results["valid"] == "unknown"
    assert "died unprompted" in results["harness_error"]
    assert load_jsonl(run_dir / "history.jsonl")  # what was recorded before the crash parses
