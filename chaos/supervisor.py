"""Process supervision: the proxy and the nodes of a run, started, signalled, watched, reaped.

    async with Cluster(run_dir, ["n1", "n2", "n3"], service_argv=["--service", "broadcast"],
                       node_cmd=None, seed=7, epoch_ns=epoch_ns) as cluster:
        await cluster.partition(grudge, clients=False)   # the nemesis's `FaultTarget`
        await cluster.kill("n2"); await cluster.restart("n2")

`Cluster` starts the chaos proxy and N node processes, waits until every node has answered
`init`, and offers the faults the nemesis needs (it satisfies `chaos.nemesis.FaultTarget`):
network faults through the proxy's control socket, and graceful stop, kill (SIGKILL), pause
(SIGSTOP), resume (SIGCONT) and restart with the same id and data directory. Each process runs in
its own session, so a signal reaches its whole group (a stdio adapter and its program). Every
process change asserts the state it starts from (TigerBeetle's supervisor does the same).

There is one proxy supervisor, `serve_proxy` (`await nursery.start(serve_proxy, ...)`): it starts
`python -m chaos.proxy` (stderr to `RUN_DIR/proxy.log`), hands back a `ProxyProcess` once the
ready line is read, stops the proxy when cancelled, and raises `ProxyExitedError` if the proxy
exits without `ProxyProcess.expect_exit()` having been called first. `start_proxy` is the same
start without supervision, for callers that own the process.

Nothing outlives a run, whichever way it ends:
- normal end, failure, Ctrl-C, SIGTERM: `Cluster.__aexit__` asks the proxy to shut down, resumes
  paused processes, asks every process to stop (SIGTERM), and kills the group of any that has
  not exited within `STOP_GRACE_S`; then it kills any process of the run still alive (found with
  psutil before stopping);
- `kill -9` of the orchestrator: no code of ours runs, so every child watches its parent
  (`--parent-pid`: PR_SET_PDEATHSIG plus polling) and exits by itself.

A process of ours that cannot start, or exits while the cluster believes it is running, is a
`HarnessError` (exit 4, never 1) carrying the tail of its log: the system under test is not to
blame for it. So are a proxy that stops answering its control socket, or refuses a command.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any, TypeVar

import psutil
import trio
import zmq

from chaos.clients import RequestTimeout, RpcClient
from chaos.control import ProxyControl, ProxyError

INIT_TIMEOUT_S = 10.0  # PROTOCOL.md: init_ok within 10 s or the run fails as a harness error
INIT_RETRY_S = 0.2  # the node may not be connected to the proxy yet
READY_TIMEOUT_S = 10.0  # the proxy's ready line
READY_LINE_MAX = 64 * 1024  # bytes of stdout read while waiting for the ready line
STOP_GRACE_S = 3.0  # SIGTERM to SIGKILL, for every process of a run
SETUP_TIMEOUT_S = 5.0
LOG_TAIL_LINES = 20
LOG_TAIL_BYTES = 16_384

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
    """A running proxy: its process and the endpoints from its ready line."""

    process: trio.Process
    endpoint: str
    control: str
    pid: int
    log_path: Path
    exit_expected: bool = False

    def expect_exit(self) -> None:
        """Say that the proxy is about to be told to exit (a `shutdown` command): its
        supervisor does not report that exit as a harness failure."""
        self.exit_expected = True

    async def stop(self, *, grace_s: float = STOP_GRACE_S) -> int:
        """SIGTERM, then SIGKILL after `grace_s`; returns the exit code. Idempotent."""
        self.expect_exit()
        await stop_processes([self.process], grace_s=grace_s)
        return await self.process.wait()


def proxy_command(
    run_dir: Path, *, nodes: Sequence[str], seed: int, epoch_ns: int, parent_pid: int
) -> list[str]:
    """The proxy's command line (docs/internals.md)."""
    return [sys.executable, "-m", "chaos.proxy", "--run-dir", str(run_dir),
            "--parent-pid", str(parent_pid), "--epoch-ns", str(epoch_ns), "--seed", str(seed),
            "--nodes", ",".join(nodes)]


async def start_proxy(
    run_dir: Path,
    *,
    nodes: Sequence[str],
    seed: int,
    epoch_ns: int,
    parent_pid: int | None = None,
    ready_timeout_s: float = READY_TIMEOUT_S,
) -> ProxyProcess:
    """Start the proxy and wait for its ready line. The caller must `stop()` it.

    `parent_pid` defaults to this process. Raises `ProxyStartError`, with the tail of
    `RUN_DIR/proxy.log`, if the proxy exits first or is not ready within `ready_timeout_s`.
    """
    run_dir = Path(run_dir)
    log_path = run_dir / "proxy.log"
    command = proxy_command(run_dir, nodes=nodes, seed=seed, epoch_ns=epoch_ns,
                            parent_pid=os.getpid() if parent_pid is None else parent_pid)
    try:
        with log_path.open("ab") as log:
            process = await trio.lowlevel.open_process(
                command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
                start_new_session=True,
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
                                  control=str(ready["control"]), pid=int(ready["pid"]),
                                  log_path=log_path)
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
        raise


async def serve_proxy(
    run_dir: Path,
    *,
    nodes: Sequence[str],
    seed: int,
    epoch_ns: int,
    parent_pid: int | None = None,
    ready_timeout_s: float = READY_TIMEOUT_S,
    stop_grace_s: float = STOP_GRACE_S,
    task_status: trio.TaskStatus[ProxyProcess] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the proxy for as long as this task runs; use with `await nursery.start(...)`.

    Returns when the proxy exits after `expect_exit()` (then a `shutdown` command); raises
    `ProxyExitedError` with the tail of its log if it exits otherwise; stops it when cancelled.
    """
    proxy = await start_proxy(run_dir, nodes=nodes, seed=seed, epoch_ns=epoch_ns,
                              parent_pid=parent_pid, ready_timeout_s=ready_timeout_s)
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


# == The nodes ====================================================================================


class NodeState(enum.Enum):
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"  # stopped or killed on purpose: its exit is expected
    STARTING = "starting"


@dataclass
class NodeProcess:
    node_id: str
    process: trio.Process | None = None
    state: NodeState = NodeState.STOPPED
    log_path: Path | None = None
    log_file: IO[bytes] | None = None
    starts: int = 0
    exited: trio.Event = field(default_factory=trio.Event)


class Cluster:
    """The proxy and the nodes of one run. Use as `async with Cluster(...) as cluster:`.

    `node_argv(node_id)` is the argv that starts a node: `service_argv` for our node program,
    or `node_cmd` behind the stdio adapter; `ps` shows exactly what was run.
    """

    def __init__(
        self,
        run_dir: Path,
        node_ids: Sequence[str],
        *,
        service_argv: Sequence[str] | None,
        node_cmd: Sequence[str] | None,
        seed: int,
        epoch_ns: int,
        bug: str | None = None,
    ) -> None:
        if (service_argv is None) == (node_cmd is None):
            raise ValueError("give exactly one of service_argv and node_cmd")
        self.run_dir = run_dir
        self.node_ids = list(node_ids)
        self.service_argv = list(service_argv) if service_argv is not None else None
        self.node_cmd = list(node_cmd) if node_cmd is not None else None
        self.seed = seed
        self.epoch_ns = epoch_ns
        self.bug = bug
        self.nodes = {nid: NodeProcess(nid) for nid in self.node_ids}
        self.ctx: zmq.Context[Any] = zmq.Context()
        self.proxy: ProxyProcess | None = None
        self.control: ProxyControl | None = None
        self._admin: RpcClient | None = None
        self._nursery: trio.Nursery | None = None
        self._nursery_manager = trio.open_nursery()
        self._closing = False
        (run_dir / "nodes").mkdir(parents=True, exist_ok=True)

    @property
    def is_native(self) -> bool:
        """Native nodes understand `chaos_*` control messages; stdio nodes must never get one."""
        return self.node_cmd is None

    @property
    def endpoint(self) -> str:
        assert self.proxy is not None, "the proxy is not started"
        return self.proxy.endpoint

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> Cluster:
        self._nursery = await self._nursery_manager.__aenter__()
        try:
            await self._start()
        except BaseException as exc:
            try:
                await self._aclose()
            finally:
                await self._nursery_manager.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        try:
            await self._aclose()
        finally:  # whatever happens, the nursery closes: no task of ours outlives the cluster
            result = await self._nursery_manager.__aexit__(exc_type, exc, tb)
        return result

    async def _start(self) -> None:
        assert self._nursery is not None
        self.proxy = await self._nursery.start(functools.partial(
            serve_proxy, self.run_dir, nodes=self.node_ids, seed=self.seed,
            epoch_ns=self.epoch_ns, parent_pid=os.getpid(),
        ))
        self.control = ProxyControl(self.ctx, self.proxy.control)
        await self._nursery.start(self.control.serve)
        await self._proxy_call(self.control.ping())
        self._admin = RpcClient(self.ctx, self.endpoint, "c0")
        await self._nursery.start(self._admin.serve)
        async with trio.open_nursery() as starting:
            for nid in self.node_ids:
                starting.start_soon(self.start_node, nid)

    async def _aclose(self) -> None:
        """Stop everything: proxy shutdown, resume, SIGTERM, SIGKILL after the grace; reap."""
        if self._closing:
            return
        self._closing = True
        with trio.CancelScope(shield=True):
            if self._admin is not None:
                self._admin.close()
            for node in self.nodes.values():
                node.state = NodeState.STOPPED
            processes = [n.process for n in self.nodes.values() if n.process is not None]
            family = descendants([p.pid for p in processes if p.returncode is None])
            if self.proxy is not None:
                self.proxy.expect_exit()
                if self.control is not None:  # a clean exit flushes messages.jsonl
                    # Best effort: when the run was cancelled the control socket's reader is
                    # gone already (EndOfChannel), and SIGTERM below flushes the log as well.
                    with contextlib.suppress(Exception):
                        await self.control.shutdown(timeout_s=1.0)
                processes.append(self.proxy.process)
            await stop_processes(processes, grace_s=STOP_GRACE_S)
            if self.control is not None:
                self.control.close()
            for node in self.nodes.values():
                if node.log_file is not None:
                    node.log_file.close()
            reap(family)
            self.ctx.term()
        assert self._nursery is not None
        self._nursery.cancel_scope.cancel()

    # -- nodes -------------------------------------------------------------------------------

    def node_argv(self, node_id: str) -> list[str]:
        data_dir = self.run_dir / "nodes" / node_id
        common = ["--id", node_id, "--proxy", self.endpoint, "--run-dir", str(self.run_dir),
                  "--parent-pid", str(os.getpid())]
        if self.node_cmd is not None:
            return [sys.executable, "-m", "node.stdio", *common, "--", *self.node_cmd]
        assert self.service_argv is not None
        argv = [sys.executable, "-m", "node", *common, "--data", str(data_dir),
                "--seed", str(self.seed), "--epoch-ns", str(self.epoch_ns), *self.service_argv]
        if self.bug:
            argv += ["--bug", self.bug]
        return argv

    async def start_node(self, node_id: str) -> None:
        """Spawn a node and wait until it has answered `init`. Asserts it is stopped."""
        node = self.nodes[node_id]
        assert node.state is NodeState.STOPPED, f"{node_id} is {node.state.value}, not stopped"
        assert self._nursery is not None
        node.state = NodeState.STARTING
        (self.run_dir / "nodes" / node_id).mkdir(parents=True, exist_ok=True)
        node.log_path = self.run_dir / "nodes" / f"{node_id}.log"
        if node.log_file is None:
            node.log_file = open(node.log_path, "ab")  # noqa: SIM115, ASYNC230 - closed in _aclose
        try:
            node.process = await trio.lowlevel.open_process(
                self.node_argv(node_id), stdin=subprocess.DEVNULL, stdout=node.log_file,
                stderr=node.log_file, start_new_session=True,
            )
        except OSError as e:
            raise HarnessError(f"node {node_id} could not start: {e}") from None
        node.starts += 1
        node.exited = trio.Event()
        self._nursery.start_soon(self._watch_node, node, node.process)
        await self._init_node(node)
        node.state = NodeState.RUNNING

    async def _init_node(self, node: NodeProcess) -> None:
        assert self._admin is not None
        body = {"type": "init", "node_id": node.node_id, "node_ids": self.node_ids}
        with trio.move_on_after(INIT_TIMEOUT_S):
            while not node.exited.is_set():
                try:
                    reply = await self._admin.call(node.node_id, body, timeout_s=INIT_RETRY_S)
                except RequestTimeout:
                    continue
                if reply.get("type") == "init_ok":
                    return
                raise HarnessError(f"node {node.node_id} answered init with {reply!r}, not "
                                   f"init_ok; {_log_note(node)}")
        if node.exited.is_set():
            code = node.process.returncode if node.process else None
            why = f"exited with code {code} before answering init"
        else:
            why = f"did not answer init within {INIT_TIMEOUT_S:g} s"
        raise HarnessError(f"node {node.node_id} {why}; {_log_note(node)}")

    async def _watch_node(self, node: NodeProcess, process: trio.Process) -> None:
        await process.wait()
        node.exited.set()
        if process is not node.process or self._closing:
            return
        if node.state in (NodeState.RUNNING, NodeState.PAUSED):
            raise HarnessError(f"node {node.node_id} died unprompted with exit code "
                               f"{process.returncode}; {_log_note(node)}")

    async def send_setup(self, node_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Send one setup request (such as `topology`) from the admin client; expect `_ok`."""
        assert self._admin is not None
        try:
            reply = await self._admin.call(node_id, body, timeout_s=SETUP_TIMEOUT_S)
        except RequestTimeout:
            raise HarnessError(
                f"node {node_id} did not answer {body['type']} within {SETUP_TIMEOUT_S:g} s"
            ) from None
        if reply.get("type") != body["type"] + "_ok":
            raise HarnessError(f"node {node_id} answered {body['type']} with {reply!r}")
        return reply

    def _node(self, node_id: str, *states: NodeState) -> NodeProcess:
        node = self.nodes[node_id]
        assert node.state in states, f"{node_id} is {node.state.value}"
        assert node.process is not None, f"{node_id} has no process"
        return node

    def running_nodes(self) -> list[str]:
        return [n for n, p in self.nodes.items() if p.state is NodeState.RUNNING]

    def pids(self) -> list[int]:
        """The nodes' pids, then the proxy's."""
        pids = [p.process.pid for p in self.nodes.values() if p.process is not None]
        if self.proxy is not None:
            pids.append(self.proxy.process.pid)
        return pids

    # -- faults: chaos.nemesis.FaultTarget ---------------------------------------------------

    async def _proxy_call(self, request: Any) -> Any:
        """Await a control request; a silent or refusing proxy is the harness's failure."""
        try:
            return await request
        except ProxyError as e:
            raise HarnessError(f"{e}; log {self.run_dir / 'proxy.log'}") from None

    async def partition(self, grudge: Mapping[str, Sequence[str]], *, clients: bool) -> None:
        assert self.control is not None
        await self._proxy_call(self.control.partition(grudge, clients=clients))

    async def link_faults(self, rules: Sequence[Mapping[str, Any]], *, clients: bool) -> None:
        assert self.control is not None
        await self._proxy_call(self.control.link_faults(rules, clients=clients))

    async def heal(self) -> None:
        assert self.control is not None
        await self._proxy_call(self.control.heal())

    async def network_stats(self) -> dict[str, Any]:
        """The proxy's counters (`chaos.proxy.ProxyStatistics`)."""
        assert self.control is not None
        stats: dict[str, Any] = await self._proxy_call(self.control.stats())
        return stats

    async def stop(self, node_id: str) -> None:
        """Graceful stop: SIGTERM, then SIGKILL after the grace period."""
        node = self._node(node_id, NodeState.RUNNING, NodeState.PAUSED)
        node.state = NodeState.STOPPED
        assert node.process is not None
        await stop_processes([node.process], grace_s=STOP_GRACE_S)

    async def kill(self, node_id: str) -> None:
        """SIGKILL the node's group: whatever it had not made durable is lost."""
        node = self._node(node_id, NodeState.RUNNING, NodeState.PAUSED)
        node.state = NodeState.STOPPED
        assert node.process is not None
        signal_group(node.process, signal.SIGKILL)
        await node.exited.wait()

    async def pause(self, node_id: str) -> None:
        node = self._node(node_id, NodeState.RUNNING)
        assert node.process is not None
        signal_group(node.process, signal.SIGSTOP)
        node.state = NodeState.PAUSED

    async def resume(self, node_id: str) -> None:
        node = self._node(node_id, NodeState.PAUSED)
        assert node.process is not None
        signal_group(node.process, signal.SIGCONT)
        node.state = NodeState.RUNNING

    async def restart(self, node_id: str) -> None:
        """Start a stopped node again with the same id and data directory; it gets `init`."""
        await self.start_node(node_id)

    async def set_clock(self, node_id: str, *, offset_ms: float, rate: float) -> None:
        """Skew a native node's clock (`chaos_clock`); a stdio node never gets a `chaos_` type,
        so for one this does nothing. Nor does a node that is not running: a stopped one
        restarts with a true clock, and a paused one cannot answer (the request would time out
        as a harness failure). The simulator skips the same nodes."""
        if self.is_native and self.nodes[node_id].state is NodeState.RUNNING:
            await self.send_setup(node_id, {"type": "chaos_clock", "offset_ms": offset_ms,
                                            "rate": rate})


def _log_note(node: NodeProcess) -> str:
    return f"log {node.log_path}:\n{log_tail(node.log_path)}"
