"""A stalled orchestrator (issue 7): its run is unknown, never valid, and says why.

The orchestrator is stopped (SIGSTOP) for four seconds right after the first heal of
partition-heal, as a loaded CI machine would freeze it. The second partition and its heal fall
due meanwhile and then run back to back. The watchdog records the stall, the late steps are
visible (`late_s`), the stall guard names the stall, and the verdict is unknown: the run
exits 4, since the harness, not the system under test, was in trouble (DESIGN.md).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.system.conftest import ROOT, read_jsonl

pytestmark = pytest.mark.cluster

STALL_S = 4.0


def _wait_for_first_heal(store: Path, proc: subprocess.Popen[str], deadline_s: float) -> Path:
    """Wait (with a deadline) until the history holds the first heal's completion."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        history = store / "latest" / "history.jsonl"
        if history.exists() and '"type":"ok","process":"nemesis","f":"heal"' in history.read_text():
            return (store / "latest").resolve()
        time.sleep(0.02)  # polling a file for a condition, under a deadline
    raise AssertionError("the run recorded no heal in time")


def test_a_stalled_orchestrator_makes_the_run_unknown(store: Path) -> None:
    argv = [sys.executable, "-m", "chaos", "run", "partition-heal", "--seed", "7",
            "--time-limit", "8", "--store", str(store)]
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True, start_new_session=True)
    try:
        run_dir = _wait_for_first_heal(store, proc, deadline_s=30)
        os.kill(proc.pid, signal.SIGSTOP)
        time.sleep(STALL_S)  # the stall itself, not a synchronisation
        os.kill(proc.pid, signal.SIGCONT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    explain = f"run dir {run_dir}\nstdout:\n{out[-3000:]}\nstderr:\n{err[-3000:]}"
    assert proc.returncode == 4, explain  # a stall is the harness's trouble (DESIGN.md)
    results = json.loads((run_dir / "results.json").read_text())
    assert results["valid"] == "unknown", explain
    stalls = results["results"]["stalls"]
    assert stalls["valid"] == "unknown", stalls
    assert stalls["stall_count"] >= 1, stalls
    assert stalls["stalls"][0]["slept_s"] > STALL_S - 1, stalls
    assert stalls["reason"].startswith("the harness stalled for "), stalls
    assert "stalled" in out, explain  # the brief printed for the run names it
    steps = [op for op in read_jsonl(run_dir / "history.jsonl")
             if op["process"] == "nemesis" and op["type"] == "invoke" and "late_s" in op]
    assert max(op["late_s"] for op in steps) > 1.0, steps  # the overdue steps, visibly late
