"""How a node (or the stdio adapter) knows it must stop: signals and the death of its parent.

DESIGN.md's first non-negotiable is that no process outlives its run, even after `kill -9` of
the orchestrator. A process started with `--parent-pid PID` watches that parent three ways:

1. `PR_SET_PDEATHSIG` (Linux, through `prctl` via ctypes) asks the kernel to send us SIGHUP
   when our parent dies. Caveat that bites trio programs: the signal is sent when the parent
   *thread* that forked us exits, and `trio.lowlevel.open_process` forks from a worker thread
   that idles out after a few seconds. So SIGHUP alone proves nothing: on SIGHUP we check
   whether the parent is really gone and otherwise log and carry on. (The same caveat is why
   `node.stdio` spawns its program from the main thread.)
2. Polling every `POLL_INTERVAL_S`: if we started as PID's child and `os.getppid()` changed, we
   were re-parented, so PID died. If we were not its direct child (a wrapper in between), we
   poll whether PID still exists.
3. SIGTERM and SIGINT ask for a clean stop (exit 0).

Trio redelivers, with the handler that was there before, every signal still pending in a
receiver when it closes. Had that been the default action, a SIGHUP that arrived in the same
scheduling round as the poll's own discovery of the parent's death would kill us on the way
out, with no `stop` line and no synced store (seen once on a loaded CI machine). So the
handler below the receiver is `_note_late_signal`: such a signal, and any that comes during
the shutdown, is noted and dropped, since we are stopping already.

`wait_stop_reason` returns why to stop; the caller cancels its work and exits. Use it from the
main thread inside `trio.run` (signal handlers can only be installed there).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys

import psutil
import trio

from node.log import Logger

POLL_INTERVAL_S = 0.5
PR_SET_PDEATHSIG = 1
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
late_signals: list[int] = []  # stop signals that came after the reason was found


def _note_late_signal(signum: int, frame: object) -> None:
    late_signals.append(signum)


def set_parent_death_signal(signum: int) -> bool:
    """Ask the kernel to send `signum` when our parent (thread) dies. False if unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return int(libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def kill_with_parent() -> None:
    """A `preexec_fn` for `subprocess.Popen`: the child gets SIGKILL when we die.

    Only sound when the Popen runs on a thread that lives as long as we do (see the caveat in
    the module docstring)."""
    set_parent_death_signal(signal.SIGKILL)


class ParentWatch:
    """Whether the process `parent_pid` is gone (see the module docstring for the rules)."""

    def __init__(self, parent_pid: int) -> None:
        self.parent_pid = parent_pid
        self.is_direct_child = os.getppid() == parent_pid

    def is_parent_gone(self) -> bool:
        if self.is_direct_child:
            return os.getppid() != self.parent_pid
        try:  # a parent killed but not yet reaped by its own parent is gone too
            return psutil.Process(self.parent_pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True
        except psutil.AccessDenied:
            return False  # it exists


async def wait_stop_reason(
    parent_pid: int, log: Logger, *, poll_interval_s: float = POLL_INTERVAL_S
) -> str:
    """Wait for SIGTERM/SIGINT or the parent's death; return "SIGTERM", "SIGINT" or
    "parent-died". Stop signals that come afterwards are noted in `late_signals` and
    otherwise ignored: the caller is stopping."""
    watch = ParentWatch(parent_pid)
    reason = ""
    # What the receiver restores and redelivers its leftovers to (module docstring); installed
    # over the default one signal at a time, so no stop signal ever meets SIG_IGN.
    for signum in STOP_SIGNALS:
        signal.signal(signum, _note_late_signal)
    with trio.open_signal_receiver(*STOP_SIGNALS) as signals:
        # Armed only now that SIGHUP has a handler: before, it would kill us uncleanly.
        armed = set_parent_death_signal(signal.SIGHUP)
        log.debug(
            "lifeline", parent_pid=parent_pid, direct_child=watch.is_direct_child, pdeathsig=armed
        )
        async with trio.open_nursery() as nursery:

            async def poll() -> None:
                nonlocal reason
                # Polling is the point here: nothing notifies us of another process's death.
                while not watch.is_parent_gone():  # noqa: ASYNC110
                    await trio.sleep(poll_interval_s)
                reason = "parent-died"
                nursery.cancel_scope.cancel()

            async def receive() -> None:
                nonlocal reason
                async for signum in signals:
                    if signum == signal.SIGHUP:
                        if watch.is_parent_gone():
                            reason = "parent-died"
                            break
                        log.info("sighup_ignored", why="the parent process is alive")
                        continue
                    reason = signal.Signals(signum).name
                    break
                nursery.cancel_scope.cancel()

            nursery.start_soon(poll)
            nursery.start_soon(receive)
    return reason
