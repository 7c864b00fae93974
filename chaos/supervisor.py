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
Native nodes also take the nemesis's control messages from the admin client `c0`:
`chaos_clock` (`set_clock`) and `chaos_status` (`node_statuses`, which asks every running node
at once, `STATUS_TIMEOUT_S` at most, and leaves out a node that does not answer with a status:
a node that is slow to answer is no node to aim at, and never a harness failure).

The proxy also hosts the services a cluster offers (`seq-kv`, `lin-kv`, `lww-kv`, `lin-tso`;
chaos.proxy); `fault_service_links=True` (the scenario's key of that name) lets the nemesis's
faults reach their links, which are reliable otherwise. `latency_ms` and `latency_dist` (the
scenario's) give the proxy's network a baseline latency, as Maelstrom's `--latency` (chaos.proxy,
"The baseline latency"): not a fault, so no heal removes it.

The proxy is started and watched by the one proxy supervisor, `chaos.processes.serve_proxy`;
the generic process helpers (stop, reap, log tails, `HarnessError`) live there too.

Only the run's own processes join its network: the cluster makes the run's secret, gives it to
the proxy and to every node in their environment (`CHAOS_RUN_SECRET`, never on a command line),
and keeps it in its own zmq context (`ctx`, from `node.wire.authenticated_context`), so every
socket made from `ctx` (the admin client `c0`, the workload's clients, the control client)
authenticates with it.

A node gets exactly one `init` per start, however slowly it starts (Maelstrom sends one, and a
program may answer a second with an error): the cluster waits until the proxy reports that
the new process has joined (`ProxyControl.wait_joined`, within `JOIN_TIMEOUT_S`), then sends
`init` once and waits up to `INIT_TIMEOUT_S` for `init_ok`. A node that exits meanwhile fails
the start at once.

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
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import trio
import zmq

from chaos.clients import RequestTimeout, RpcClient
from chaos.control import ProxyControl, ProxyError
from chaos.processes import (
    STOP_GRACE_S,
    HarnessError,
    ProxyProcess,
    child_env,
    descendants,
    find_exception,
    log_tail,
    make_secret,
    reap,
    serve_proxy,
    signal_group,
    stop_processes,
)
from node.wire import authenticated_context

INIT_TIMEOUT_S = 10.0  # PROTOCOL.md: init_ok within 10 s or the run fails as a harness error
JOIN_TIMEOUT_S = 10.0  # from spawning a node to its connection to the proxy
SETUP_TIMEOUT_S = 5.0
STATUS_TIMEOUT_S = 0.5  # a node that has not answered chaos_status by then is left out

__all__ = ["Cluster", "HarnessError", "NodeProcess", "NodeState", "find_exception"]


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
    start_scope: trio.CancelScope | None = None  # cancelled when the process exits mid-start


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
        fault_service_links: bool = False,
        latency_ms: float = 0.0,
        latency_dist: str = "constant",
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
        self.fault_service_links = fault_service_links
        self.latency_ms = latency_ms
        self.latency_dist = latency_dist
        self.nodes = {nid: NodeProcess(nid) for nid in self.node_ids}
        self._secret = make_secret()  # the run's: only its own processes join its network
        self.ctx: zmq.Context[Any] = authenticated_context(self._secret)
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
        """Where the run's own processes (nodes and clients) reach the proxy's data ROUTER:
        its unix socket, which costs less per message than TCP loopback (chaos.proxy,
        "Endpoints")."""
        assert self.proxy is not None, "the proxy is not started"
        return self.proxy.ipc

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
            epoch_ns=self.epoch_ns, parent_pid=os.getpid(), secret=self._secret,
            fault_service_links=self.fault_service_links, latency_ms=self.latency_ms,
            latency_dist=self.latency_dist,
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
                  "--parent-pid", str(os.getpid()), "--epoch-ns", str(self.epoch_ns)]
        if self.node_cmd is not None:
            return [sys.executable, "-m", "node.stdio", *common, "--", *self.node_cmd]
        assert self.service_argv is not None
        argv = [sys.executable, "-m", "node", *common, "--data", str(data_dir),
                "--seed", str(self.seed), *self.service_argv]
        if self.bug:
            argv += ["--bug", self.bug]
        return argv

    async def start_node(self, node_id: str) -> None:
        """Spawn a node and wait until it has answered `init`. Asserts it is stopped."""
        node = self.nodes[node_id]
        assert node.state is NodeState.STOPPED, f"{node_id} is {node.state.value}, not stopped"
        assert self._nursery is not None
        assert self.control is not None
        node.state = NodeState.STARTING
        (self.run_dir / "nodes" / node_id).mkdir(parents=True, exist_ok=True)
        node.log_path = self.run_dir / "nodes" / f"{node_id}.log"
        if node.log_file is None:
            node.log_file = open(node.log_path, "ab")  # noqa: SIM115, ASYNC230 - closed in _aclose
        # Counted before the spawn, so that the join we wait for is this process's.
        joins = (await self._proxy_call(self.control.joined())).get(node_id, 0)
        try:
            node.process = await trio.lowlevel.open_process(
                self.node_argv(node_id), stdin=subprocess.DEVNULL, stdout=node.log_file,
                stderr=node.log_file, start_new_session=True, env=child_env(self._secret),
            )
        except OSError as e:
            raise HarnessError(f"node {node_id} could not start: {e}") from None
        node.starts += 1
        node.exited = trio.Event()
        self._nursery.start_soon(self._watch_node, node, node.process)
        await self._init_node(node, joins_min=joins + 1)
        node.state = NodeState.RUNNING

    async def _init_node(self, node: NodeProcess, *, joins_min: int) -> None:
        """Wait until the new process has joined the proxy, then send `init` once."""
        assert self._admin is not None
        assert self.control is not None
        nid = node.node_id
        try:
            with trio.CancelScope() as node.start_scope:  # `_watch_node` cancels it on an exit
                if node.exited.is_set():
                    node.start_scope.cancel()
                with trio.move_on_after(JOIN_TIMEOUT_S) as joining:
                    await self._proxy_call(self.control.wait_joined(nid, joins_min=joins_min))
                if joining.cancelled_caught:
                    raise HarnessError(f"node {nid} did not connect to the proxy within "
                                       f"{JOIN_TIMEOUT_S:g} s of its start; {_log_note(node)}")
                body = {"type": "init", "node_id": nid, "node_ids": self.node_ids}
                try:
                    reply = await self._admin.call(nid, body, timeout_s=INIT_TIMEOUT_S)
                except RequestTimeout:
                    raise HarnessError(f"node {nid} did not answer init within "
                                       f"{INIT_TIMEOUT_S:g} s; {_log_note(node)}") from None
                if reply.get("type") != "init_ok":
                    raise HarnessError(f"node {nid} answered init with {reply!r}, not "
                                       f"init_ok; {_log_note(node)}")
                return
        finally:
            node.start_scope = None
        code = node.process.returncode if node.process else None
        raise HarnessError(f"node {nid} exited with code {code} before answering init; "
                           f"{_log_note(node)}")

    async def _watch_node(self, node: NodeProcess, process: trio.Process) -> None:
        await process.wait()
        node.exited.set()
        if process is node.process and node.start_scope is not None:
            node.start_scope.cancel()  # whatever the start waits for will not come
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

    async def restart_nodes(self, node_ids: Sequence[str]) -> None:
        """`restart` each of them, all at once (as the cluster's start does): a schedule's
        restart of five nodes takes as long as the slowest, not as the five together."""
        async with trio.open_nursery() as starting:
            for node_id in node_ids:
                starting.start_soon(self.start_node, node_id)

    async def set_clock(self, node_id: str, *, offset_ms: float, rate: float,
                        period_ms: float = 0.0) -> None:
        """Skew a native node's clock (`chaos_clock`; `period_ms` above 0 strobes it); a stdio
        node never gets a `chaos_` type, so for one this does nothing. Nor does a node that is
        not running: a stopped one restarts with a true clock, and a paused one cannot answer
        (the request would time out as a harness failure). The simulator skips the same
        nodes."""
        if self.is_native and self.nodes[node_id].state is NodeState.RUNNING:
            await self.send_setup(node_id, {"type": "chaos_clock", "offset_ms": offset_ms,
                                            "rate": rate, "period_ms": period_ms})

    async def node_statuses(self) -> dict[str, dict[str, Any]]:
        """Every running native node's `chaos_status`, asked at once; those that answered with
        a status within `STATUS_TIMEOUT_S`, in node order. A stdio node is never asked."""
        if not self.is_native:
            return {}
        admin = self._admin
        assert admin is not None
        answers: dict[str, dict[str, Any]] = {}

        async def ask(node_id: str) -> None:
            try:
                reply = await admin.call(node_id, {"type": "chaos_status"},
                                         timeout_s=STATUS_TIMEOUT_S)
            except RequestTimeout:
                return
            if reply.get("type") == "chaos_status_ok" and isinstance(reply.get("status"), dict):
                answers[node_id] = reply["status"]

        async with trio.open_nursery() as asking:
            for node_id in self.running_nodes():
                asking.start_soon(ask, node_id)
        return {nid: answers[nid] for nid in self.node_ids if nid in answers}


def _log_note(node: NodeProcess) -> str:
    return f"log {node.log_path}:\n{log_tail(node.log_path)}"
