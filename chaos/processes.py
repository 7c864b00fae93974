"""The processes of a run, generically, and the one supervisor of the proxy process.

- `HarnessError` (and `find_exception`, which digs one out of trio's exception groups): the
  harness, not the system under test, failed; the run exits 4 with the reason.
- `stop_processes` (SIGCONT, SIGTERM, then SIGKILL after a grace period, by process group),
  `descendants` and `reap` (psutil: the last line of defence against orphans), `log_tail`.
- `serve_proxy` (`await nursery.start(serve_proxy, ...)`): starts `python -m chaos.proxy`
  (stderr to `RUN_DIR/proxy.log`; the run's baseline latency, if any, on its command line),
  hands back a `ProxyProcess` once the ready line is read,
  stops the proxy when cancelled, and raises `ProxyExitedError` if the proxy exits without
  `ProxyProcess.expect_exit()` having been called first. `start_proxy` is the same start
  without supervision, for callers that own the process.
- The run's secret (`ProxyProcess.secret`, made here unless the caller brings one) reaches the
  proxy in its environment (`CHAOS_RUN_SECRET`), never on its command line, which `ps` shows
  to every user. Whoever talks to the proxy presents it (`node.wire.authenticated_context`).
- Once the proxy has exited, however it ended (even SIGKILL, which runs none of its code),
  `ProxyProcess.stop()` removes its socket files (control and data) from the run directory.

The nodes are supervised by `chaos.supervisor.Cluster`, which uses these.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import stat
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import psutil
import trio

from node.wire import SECRET_ENV

READY_TIMEOUT_S = 10.0  # the proxy's ready line
READY_LINE_MAX = 64 * 1024  # bytes of stdout read while waiting for the ready line
STOP_GRACE_S = 3.0  # SIGTERM to SIGKILL, for every process of a run
LOG_TAIL_LINES = 20
LOG_TAIL_BYTES = 16_384
SECRET_BYTES = 32  # entropy of a run's secret
CONTROL_SOCKET_NAME = "proxy.sock"  # the proxy's control socket in the run directory
DATA_SOCKET_NAME = "proxy-data.sock"  # its data socket's unix endpoint (`ProxyProcess.ipc`)

_E = TypeVar("_E", bound=BaseException)


class HarnessError(Exception):
    """The harness, not the system under test, failed: a node or the proxy could not start or
    died unprompted. The run exits 4 and the verdict is not given."""


class ProxyStartError(HarnessError):
    """The proxy exited before it was ready, or was not ready in time."""


class ProxyExitedError(HarnessError):
    """The proxy exited unprompted."""


def find_exception(exc: BaseException, kind: type[_E]) -> _E | None:
    """The first `kind` in `exc` or, depth first, in the exception groups it nests in.

    Trio wraps what a task raises in a group at each nursery it crosses; a `HarnessError` from
    a process watcher arrives that way.
    """
    if isinstance(exc, kind):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = find_exception(inner, kind)
            if found is not None:
                return found
    return None


def log_tail(path: Path | None, lines: int = LOG_TAIL_LINES) -> str:
    """The last `lines` lines of a log (of its last `LOG_TAIL_BYTES`), for an error message."""
    if path is None:
        return "(no log)"
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - LOG_TAIL_BYTES))
            text = fh.read().decode(errors="replace")
    except OSError as e:
        return f"(no log: {e.strerror})"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def signal_group(process: trio.Process, sig: int) -> None:
    """Signal the process's group (its session): an adapter and its program together."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


async def stop_processes(processes: Sequence[trio.Process], *, grace_s: float) -> None:
    """SIGCONT + SIGTERM each group, wait up to `grace_s`, then SIGKILL what is left."""
    alive = [p for p in processes if p.returncode is None]
    for p in alive:
        signal_group(p, signal.SIGCONT)  # a paused process cannot act on SIGTERM
        signal_group(p, signal.SIGTERM)
    with trio.move_on_after(grace_s):
        for p in alive:
            await p.wait()
    for p in alive:
        if p.returncode is None:
            signal_group(p, signal.SIGKILL)
    with trio.move_on_after(grace_s):
        for p in alive:
            await p.wait()
    # The leader may be gone while others of its group live on (a program an adapter started).
    for p in alive:
        signal_group(p, signal.SIGKILL)


def descendants(pids: Sequence[int]) -> list[psutil.Process]:
    """The processes `pids` and all their descendants, as they are now."""
    found: list[psutil.Process] = []
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            found.append(proc)
            found.extend(proc.children(recursive=True))
        except psutil.Error:
            continue
    return found


def reap(processes: Sequence[psutil.Process]) -> None:
    """Kill whichever of `processes` still lives: the last line of defence against orphans
    (say, a program that left its adapter's process group)."""
    alive = []
    for proc in processes:
        with contextlib.suppress(psutil.Error):
            if proc.is_running():
                proc.kill()
                alive.append(proc)
    psutil.wait_procs(alive, timeout=2.0)


# == The proxy process ============================================================================


@dataclass
class ProxyProcess:
    """A running proxy: its process and the endpoints from its ready line: the data ROUTER
    on TCP loopback (`endpoint`) and on a unix socket (`ipc`, what the run's own processes
    use), and the control ROUTER (`control`)."""

    process: trio.Process
    endpoint: str
    ipc: str
    control: str
    pid: int
    log_path: Path
    secret: str = field(repr=False)  # the run's secret: never in a log or a traceback
    exit_expected: bool = False

    def expect_exit(self) -> None:
        """Say that the proxy is about to be told to exit (a `shutdown` command): its
        supervisor does not report that exit as a harness failure."""
        self.exit_expected = True

    async def stop(self, *, grace_s: float = STOP_GRACE_S) -> int:
        """SIGTERM, then SIGKILL after `grace_s`; returns the exit code, once the socket
        files are gone too. Idempotent."""
        self.expect_exit()
        await stop_processes([self.process], grace_s=grace_s)
        code = await self.process.wait()
        for endpoint in (self.ipc, self.control):
            if endpoint.startswith("ipc:///"):  # an abstract socket leaves no file
                remove_socket_file(Path(endpoint.removeprefix("ipc://")))
        return code


def remove_socket_file(path: Path) -> None:
    """Remove a unix socket file a dead process left behind (the proxy removes its own when it
    exits cleanly; a SIGKILL gives it no chance). Anything that is not a socket stays."""
    with contextlib.suppress(OSError):
        if stat.S_ISSOCK(path.lstat().st_mode):
            path.unlink()


def proxy_command(
    run_dir: Path, *, nodes: Sequence[str], seed: int, epoch_ns: int, parent_pid: int,
    fault_service_links: bool = False, latency_ms: float = 0.0, latency_dist: str = "constant",
) -> list[str]:
    """The proxy's command line (docs/internals.md). A baseline latency (`latency_ms` > 0,
    the scenario's) is stated on it, with `repr` so that the proxy reads back the exact float."""
    command = [sys.executable, "-m", "chaos.proxy", "--run-dir", str(run_dir),
               "--parent-pid", str(parent_pid), "--epoch-ns", str(epoch_ns), "--seed", str(seed),
               "--nodes", ",".join(nodes)]
    if fault_service_links:
        command.append("--fault-service-links")
    if latency_ms > 0:
        command += ["--latency-ms", repr(float(latency_ms)), "--latency-dist", latency_dist]
    return command


async def start_proxy(
    run_dir: Path,
    *,
    nodes: Sequence[str],
    seed: int,
    epoch_ns: int,
    parent_pid: int | None = None,
    ready_timeout_s: float = READY_TIMEOUT_S,
    secret: str | None = None,
    fault_service_links: bool = False,
    latency_ms: float = 0.0,
    latency_dist: str = "constant",
) -> ProxyProcess:
    """Start the proxy and wait for its ready line. The caller must `stop()` it.

    `parent_pid` defaults to this process; `secret` (the run's) to a fresh one, handed back as
    `ProxyProcess.secret`. `fault_service_links` lets faults reach the services' links
    (`seq-kv` and the others the proxy hosts; chaos.proxy). `latency_ms` and `latency_dist`
    are the network's baseline latency (chaos.proxy, "The baseline latency"; 0: none), given
    on the proxy's command line: it holds from the first message. Raises `ProxyStartError`, with
    the tail of `RUN_DIR/proxy.log`, if the proxy exits first or is not ready within
    `ready_timeout_s`.
    """
    run_dir = Path(run_dir)
    log_path = run_dir / "proxy.log"
    secret = secret or make_secret()
    command = proxy_command(run_dir, nodes=nodes, seed=seed, epoch_ns=epoch_ns,
                            parent_pid=os.getpid() if parent_pid is None else parent_pid,
                            fault_service_links=fault_service_links, latency_ms=latency_ms,
                            latency_dist=latency_dist)
    try:
        with log_path.open("ab") as log:
            process = await trio.lowlevel.open_process(
                command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
                start_new_session=True, env=child_env(secret),
            )
    except OSError as e:
        raise ProxyStartError(f"the proxy could not start: {e}") from None
    try:
        assert process.stdout is not None
        line = b""
        with trio.move_on_after(ready_timeout_s) as scope:
            while b"\n" not in line and len(line) < READY_LINE_MAX:
                chunk = await process.stdout.receive_some(4096)
                if not chunk:
                    break
                line += chunk
        if b"\n" not in line:
            if scope.cancelled_caught:
                why = f"was not ready within {ready_timeout_s:g} s"
            else:
                with trio.move_on_after(STOP_GRACE_S):
                    await process.wait()
                why = f"exited with code {process.returncode} before it was ready"
            raise ProxyStartError(f"the proxy {why}; command: {' '.join(command)}; "
                                  f"tail of {log_path}:\n{log_tail(log_path)}")
        try:
            ready = json.loads(line.split(b"\n", 1)[0])
            handle = ProxyProcess(process=process, endpoint=str(ready["endpoint"]),
                                  ipc=str(ready["ipc"]), control=str(ready["control"]),
                                  pid=int(ready["pid"]), log_path=log_path, secret=secret)
        except (ValueError, KeyError, TypeError) as e:
            raise ProxyStartError(
                f"the proxy's ready line is not understood ({e}): {line!r}"
            ) from None
        await process.stdout.aclose()  # it prints nothing more
        return handle
    except BaseException:
        with trio.CancelScope(shield=True):
            if process.returncode is None:
                process.kill()
            await process.wait()
            for name in (DATA_SOCKET_NAME, CONTROL_SOCKET_NAME):
                remove_socket_file(run_dir / name)
        raise


def make_secret() -> str:
    """A fresh secret for one run."""
    return secrets.token_urlsafe(SECRET_BYTES)


def child_env(secret: str) -> dict[str, str]:
    """The environment for a process of the run: ours, plus the run's secret."""
    return {**os.environ, SECRET_ENV: secret}


async def serve_proxy(
    run_dir: Path,
    *,
    nodes: Sequence[str],
    seed: int,
    epoch_ns: int,
    parent_pid: int | None = None,
    ready_timeout_s: float = READY_TIMEOUT_S,
    stop_grace_s: float = STOP_GRACE_S,
    secret: str | None = None,
    fault_service_links: bool = False,
    latency_ms: float = 0.0,
    latency_dist: str = "constant",
    task_status: trio.TaskStatus[ProxyProcess] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the proxy for as long as this task runs; use with `await nursery.start(...)`.

    Returns when the proxy exits after `expect_exit()` (then a `shutdown` command); raises
    `ProxyExitedError` with the tail of its log if it exits otherwise; stops it when cancelled.
    Either way its control socket file is gone by then.
    """
    proxy = await start_proxy(run_dir, nodes=nodes, seed=seed, epoch_ns=epoch_ns,
                              parent_pid=parent_pid, ready_timeout_s=ready_timeout_s,
                              secret=secret, fault_service_links=fault_service_links,
                              latency_ms=latency_ms, latency_dist=latency_dist)
    try:
        task_status.started(proxy)
        code = await proxy.process.wait()
        unprompted = not proxy.exit_expected  # read before `stop` below makes it expected
    finally:
        with trio.CancelScope(shield=True):
            await proxy.stop(grace_s=stop_grace_s)
    if unprompted:
        raise ProxyExitedError(
            f"the chaos proxy (pid {proxy.pid}) died unprompted with exit code {code}; "
            f"log {proxy.log_path}:\n{log_tail(proxy.log_path)}"
        )
