"""The lifeline's edge cases, each in a process of its own where a wrong answer kills it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil

from node.lifeline import ParentWatch

ROOT = Path(__file__).resolve().parents[2]

# The poll finds the parent gone while a SIGHUP (the kernel's parent-death signal) is still
# pending in trio's receiver, unconsumed: trio redelivers it when the receiver closes.
SIGHUP_IN_THE_SAME_ROUND = textwrap.dedent(
    """
    import signal, trio
    from node import lifeline
    from node.log import Logger

    calls = []

    def is_parent_gone(self):
        calls.append(1)
        if len(calls) == 1:
            signal.raise_signal(signal.SIGHUP)  # queued in the receiver by trio's handler
            return True
        return True

    lifeline.ParentWatch.is_parent_gone = is_parent_gone

    async def main():
        reason = await lifeline.wait_stop_reason(1, Logger("n1"), poll_interval_s=0)
        await trio.sleep(0)  # a checkpoint after the receiver closed
        print(reason, lifeline.late_signals, flush=True)

    trio.run(main)
    signal.raise_signal(signal.SIGTERM)  # a stop request during the shutdown: noted too
    print("still here", lifeline.late_signals, flush=True)
    """
)


def test_a_sighup_left_pending_when_the_poll_wins_does_not_kill_the_stopping_node() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SIGHUP_IN_THE_SAME_ROUND],
        cwd=ROOT, capture_output=True, text=True, timeout=30,
    )
    # Before the fix the process died of the redelivered SIGHUP (-1) before printing.
    assert done.returncode == 0, (done.returncode, done.stderr)
    assert done.stdout.splitlines() == ["parent-died [1]", "still here [1, 15]"], done.stdout


def test_a_parent_killed_but_not_yet_reaped_counts_as_gone() -> None:
    # Not our parent: the watch polls the pid. A zombie (dead, not yet waited for by its
    # own parent) must count as gone, or a node whose parent's parent is slow to reap would
    # outlive the run.
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        watch = ParentWatch(child.pid)
        assert not watch.is_direct_child
        proc = psutil.Process(child.pid)  # only looked at: waiting would reap it
        deadline = time.monotonic() + 10
        while proc.status() != psutil.STATUS_ZOMBIE:  # a condition with a deadline
            assert time.monotonic() < deadline, "the child did not exit"
            time.sleep(0.01)
        assert watch.is_parent_gone()
    finally:
        child.wait()
    assert watch.is_parent_gone()  # reaped: gone for good


def test_a_live_parent_is_not_gone() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                             stdin=subprocess.PIPE)
    try:
        assert not ParentWatch(child.pid).is_parent_gone()
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=10)
