"""The orchestrator: `Cluster` runs the processes of a run, `Run` runs the test.

## Cluster
`Cluster` starts the chaos proxy and N node processes, waits until every node has answered
`init`, and offers the process faults the nemesis needs: graceful stop, kill (SIGKILL), pause
(SIGSTOP), resume (SIGCONT) and restart with the same id and data directory. Each process runs
in its own session, so a signal reaches its whole group (a stdio adapter and its program).

Nothing outlives a run, whichever way it ends:
- normal end, failure, Ctrl-C, SIGTERM: `Cluster.__aexit__` resumes paused processes, asks every
  process to stop (SIGTERM), and kills the group of any that has not exited within
  `STOP_GRACE_S`; then it kills any process of the run still alive (found with psutil before
  stopping);
- `kill -9` of the orchestrator: no code of ours runs, so every child watches its parent
  (`--parent-pid`: PR_SET_PDEATHSIG plus polling) and exits by itself.

A node that exits while the cluster believes it is running is a harness failure: the run stops
with `HarnessError` (exit 4) carrying the tail of the node's log.

## Run
`Run` is one test: it makes the run directory, works out the fault schedule from the seed,
starts the cluster, then in one nursery runs the clients, the nemesis and the status line
through the phases (warm-up, faults, recovery with everything healed, final reads), and finally
checks the history and writes `results.json`, `run.json` and the report. See `run_scenario`.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import itertools
import os
import platform
import random
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any, TypeVar

import psutil
import trio
import zmq

from chaos import control, store
from chaos import nemesis as nemesis_mod
from chaos.clients import (
    ClientIds,
    Recorder,
    RequestTimeout,
    RpcClient,
    WorkerConfig,
    execute,
    open_client,
    run_worker,
)
from checker.basic import faults_effective
from scenarios.schema import Scenario
from scenarios.workloads import get_workload

INIT_TIMEOUT_S = 10.0  # PROTOCOL.md: init_ok within 10 s or the run fails as a harness error
INIT_RETRY_S = 0.2  # the node may not be connected to the proxy yet
STOP_GRACE_S = 3.0
SETUP_TIMEOUT_S = 5.0
LOG_TAIL_LINES = 20

_E = TypeVar("_E", bound=BaseException)


class HarnessError(Exception):
    """The harness, not the system under test, failed: a node or the proxy could not start or
    died unprompted. The run exits 4 and the verdict is not given."""


def find_exception(exc: BaseException, kind: type[_E]) -> _E | None:
    """The first `kind` in `exc` or, depth first, in the exception groups it nests in.

    Trio wraps what a task raises in a group at each nursery it crosses; a `HarnessError` from
    a node watcher arrives that way.
    """
    if isinstance(exc, kind):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = find_exception(inner, kind)
            if found is not None:
                return found
    return None


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


def log_tail(path: Path | None, lines: int = LOG_TAIL_LINES) -> str:
    if path is None or not path.exists():
        return "(no log)"
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - 16_384))
        text = fh.read().decode(errors="replace")
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def _signal_group(process: trio.Process, sig: int) -> None:
    """Signal the process's group (its session): an adapter and its program together."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


class Cluster:
    """The proxy and the nodes of one run. Use as `async with Cluster(...) as cluster:`.

    `node_command(node_id)` returns the argv that starts a node; the orchestrator adds nothing
    to it, so `ps` shows exactly what was run.
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
        self.proxy: control.ProxyProcess | None = None
        self.control: control.ProxyControl | None = None
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
            await self._aclose()
            await self._nursery_manager.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        await self._aclose()
        return await self._nursery_manager.__aexit__(exc_type, exc, tb)

    async def _start(self) -> None:
        assert self._nursery is not None
        self.proxy = await control.start_proxy(
            self.run_dir,
            nodes=self.node_ids,
            seed=self.seed,
            epoch_ns=self.epoch_ns,
            parent_pid=os.getpid(),
        )
        self._nursery.start_soon(self._watch_proxy, self.proxy)
        self.control = control.ProxyControl(self.ctx, self.proxy.control)
        await self._nursery.start(self.control.serve)
        await self.control.ping()
        self._admin = RpcClient(self.ctx, self.endpoint, "c0")
        await self._nursery.start(self._admin.serve)
        async with trio.open_nursery() as starting:
            for nid in self.node_ids:
                starting.start_soon(self.start_node, nid)

    async def _aclose(self) -> None:
        """Stop everything: resume, SIGTERM, then SIGKILL after the grace period; reap."""
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
                if self.control is not None:
                    with contextlib.suppress(Exception):
                        await self.control.shutdown(timeout_s=1.0)
                processes.append(self.proxy.process)
            await stop_processes(processes, grace_s=STOP_GRACE_S)
            if self.control is not None:
                self.control.close()
            for node in self.nodes.values():
                if node.log_file is not None:
                    node.log_file.close()
            if self.proxy is not None:
                self.proxy.close()
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
        """Spawn a node and wait until it has answered `init`. Asserts it is not running."""
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
                self.node_argv(node_id),
                stdin=subprocess.DEVNULL,
                stdout=node.log_file,
                stderr=node.log_file,
                start_new_session=True,
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
            while True:
                if node.exited.is_set():
                    break
                try:
                    reply = await self._admin.call(node.node_id, body, timeout_s=INIT_RETRY_S)
                except RequestTimeout:
                    continue
                if reply.get("type") == "init_ok":
                    return
                raise HarnessError(
                    f"node {node.node_id} answered init with {reply!r}, not init_ok; "
                    f"log {node.log_path}:\n{log_tail(node.log_path)}"
                )
        if node.exited.is_set():
            code = node.process.returncode if node.process else None
            raise HarnessError(
                f"node {node.node_id} exited with code {code} before answering init; "
                f"log {node.log_path}:\n{log_tail(node.log_path)}"
            )
        raise HarnessError(
            f"node {node.node_id} did not answer init within {INIT_TIMEOUT_S:g} s; "
            f"log {node.log_path}:\n{log_tail(node.log_path)}"
        )

    async def _watch_node(self, node: NodeProcess, process: trio.Process) -> None:
        await process.wait()
        node.exited.set()
        if process is not node.process or self._closing:
            return
        if node.state in (NodeState.RUNNING, NodeState.PAUSED):
            raise HarnessError(
                f"node {node.node_id} died unprompted with exit code {process.returncode}; "
                f"log {node.log_path}:\n{log_tail(node.log_path)}"
            )

    async def _watch_proxy(self, proxy: control.ProxyProcess) -> None:
        await proxy.process.wait()
        if not self._closing:
            raise HarnessError(
                f"the chaos proxy died unprompted with exit code {proxy.process.returncode}; "
                f"log {proxy.log_path}:\n{log_tail(proxy.log_path)}"
            )

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

    async def stop_node(self, node_id: str) -> None:
        """Graceful stop: SIGTERM, then SIGKILL after the grace period."""
        node = self._running(node_id, allow_paused=True)
        node.state = NodeState.STOPPED
        assert node.process is not None
        await stop_processes([node.process], grace_s=STOP_GRACE_S)

    async def kill_node(self, node_id: str) -> None:
        """SIGKILL the node's group: whatever it had not made durable is lost."""
        node = self._running(node_id, allow_paused=True)
        node.state = NodeState.STOPPED
        assert node.process is not None
        _signal_group(node.process, signal.SIGKILL)
        await node.exited.wait()

    def pause_node(self, node_id: str) -> None:
        node = self._running(node_id)
        assert node.process is not None
        _signal_group(node.process, signal.SIGSTOP)
        node.state = NodeState.PAUSED

    def resume_node(self, node_id: str) -> None:
        node = self.nodes[node_id]
        assert node.state is NodeState.PAUSED, f"{node_id} is {node.state.value}, not paused"
        assert node.process is not None
        _signal_group(node.process, signal.SIGCONT)
        node.state = NodeState.RUNNING

    async def restart_node(self, node_id: str) -> None:
        """Start a stopped node again with the same id and data directory; it gets `init`."""
        await self.start_node(node_id)

    def _running(self, node_id: str, *, allow_paused: bool = False) -> NodeProcess:
        node = self.nodes[node_id]
        allowed = {NodeState.RUNNING, NodeState.PAUSED} if allow_paused else {NodeState.RUNNING}
        assert node.state in allowed, f"{node_id} is {node.state.value}"
        return node

    def running_nodes(self) -> list[str]:
        return [n for n, p in self.nodes.items() if p.state is NodeState.RUNNING]

    async def heal_processes(self) -> None:
        """Resume paused nodes and restart stopped ones: every run ends healed."""
        for nid, node in self.nodes.items():
            if node.state is NodeState.PAUSED:
                self.resume_node(nid)
        for nid, node in self.nodes.items():
            if node.state is NodeState.STOPPED:
                await self.restart_node(nid)

    def pids(self) -> list[int]:
        pids = [p.process.pid for p in self.nodes.values() if p.process is not None]
        if self.proxy is not None:
            pids.append(self.proxy.process.pid)
        return pids


async def stop_processes(processes: Sequence[trio.Process], *, grace_s: float) -> None:
    """SIGCONT + SIGTERM each group, wait up to `grace_s`, then SIGKILL what is left."""
    alive = [p for p in processes if p.returncode is None]
    for p in alive:
        _signal_group(p, signal.SIGCONT)  # a paused process cannot act on SIGTERM
        _signal_group(p, signal.SIGTERM)
    with trio.move_on_after(grace_s):
        for p in alive:
            await p.wait()
    for p in alive:
        if p.returncode is None:
            _signal_group(p, signal.SIGKILL)
    with trio.move_on_after(grace_s):
        for p in alive:
            await p.wait()
    # The leader may be gone while others of its group live on (a program an adapter started).
    for p in alive:
        _signal_group(p, signal.SIGKILL)


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


# == Run ==========================================================================================


@dataclass(frozen=True)
class RunConfig:
    """Every parameter of one run; with the seed it is what `chaos replay` needs."""

    scenario: Scenario  # with the command line's overrides applied and validated
    service: str | None
    node_cmd: tuple[str, ...] | None
    bug: str | None
    seed: int
    store: Path
    command_line: tuple[str, ...] = ()
    schedule: tuple[Any, ...] | None = None  # replay: a schedule read from a run directory

    # The cluster size, load and workload are the scenario's: one place, not two.
    @property
    def workload(self) -> str:
        return self.scenario.workload

    @property
    def nodes(self) -> int:
        return self.scenario.nodes

    @property
    def rate(self) -> float:
        return self.scenario.rate

    @property
    def concurrency(self) -> int:
        return self.scenario.concurrency

    @property
    def node_ids(self) -> list[str]:
        return self.scenario.node_ids


@dataclass
class RunOutcome:
    run_dir: Path
    exit_code: int
    valid: Any
    results: dict[str, Any]
    counts: dict[str, int]
    error: str | None = None


FINAL_READ_ATTEMPTS = 5
AT_END_S = 1e-3  # a step this close to the end of the fault phase is a closing heal


class Run:
    """One test run: the run directory, the cluster, clients, nemesis, checks.

    Phases, in trio time from the moment the cluster is ready (`start`):
    `[0, warmup_s)` clients only; `[warmup_s, warmup_s + time_limit_s)` faults on the
    schedule; then everything is healed and `recovery_s` passes with clients still running
    (the healed phase in which the system must make progress); then clients stop and the
    workload's final operations (reads) run, each retried until it succeeds.
    """

    def __init__(self, config: RunConfig, *, status: Any = None) -> None:
        self.config = config
        self.status = status
        self.run_dir = store.make_run_dir(config.store, config.scenario.name, config.seed)
        self.epoch_ns = time.monotonic_ns()
        self.started_at = store.utc_now()
        self.recorder: Recorder | None = None
        self.nemesis: nemesis_mod.Nemesis | None = None
        self.proxy_stats: dict[str, Any] = {}
        self.phase = "starting"
        self.workload = get_workload(config.workload, **dict(config.scenario.workload_params))

    # -- run.json ----------------------------------------------------------------------------

    def run_info(self, **extra: Any) -> dict[str, Any]:
        c = self.config
        sc = c.scenario
        return {
            "scenario": sc.name,
            # A scenario named by path is found again by its path; a packaged one by its name.
            "scenario_file": str(sc.path) if sc.is_file and sc.path else None,
            "workload": c.workload,
            "workload_params": dict(sc.workload_params),
            "service": c.service,
            "node_cmd": list(c.node_cmd) if c.node_cmd else None,
            "bug": c.bug,
            "seed": c.seed,
            "nodes": c.node_ids,
            "time_limit_s": sc.time_limit_s,
            "warmup_s": sc.warmup_s,
            "recovery_s": sc.recovery_s,
            "rate": c.rate,
            "concurrency": c.concurrency,
            "request_timeout_s": sc.request_timeout_s,
            "store": str(c.store),
            "command_line": list(c.command_line),
            "reproduce": reproduce_command(c),
            "versions": versions(),
            "started_at": self.started_at,
            "epoch_ns": self.epoch_ns,
            "pid": os.getpid(),
            **extra,
        }

    def write_run_json(self, **extra: Any) -> None:
        store.write_json_atomic(self.run_dir / "run.json", self.run_info(**extra))

    # -- the run -----------------------------------------------------------------------------

    async def execute(self) -> RunOutcome:
        c = self.config
        sc = c.scenario
        self.write_run_json(exit_code=None)
        if c.schedule is not None:
            steps = [nemesis_mod.Step.from_json(s) for s in c.schedule]
        else:
            rng = random.Random(f"{c.seed}/nemesis")
            timeline = [e.to_dict() for e in sc.timeline]
            steps = nemesis_mod.plan(timeline, c.node_ids, rng, offset_s=sc.warmup_s)
        nemesis_mod.write_schedule(steps, self.run_dir / "schedule.jsonl")
        self.recorder = Recorder(self.run_dir / "history.jsonl", epoch_ns=self.epoch_ns)
        error: str | None = None
        try:
            await self._run_cluster(steps)
        except (HarnessError, BaseExceptionGroup) as e:
            harness = find_exception(e, HarnessError)
            if harness is None or find_exception(e, KeyboardInterrupt) is not None:
                raise
            error = str(harness)
        finally:
            self.recorder.close()
        return self._conclude(error)

    async def _run_cluster(self, steps: Sequence[nemesis_mod.Step]) -> None:
        c = self.config
        sc = c.scenario
        assert self.recorder is not None
        service_argv = None if c.node_cmd else ["--service", c.service or c.workload]
        async with Cluster(
            self.run_dir, c.node_ids,
            service_argv=service_argv, node_cmd=c.node_cmd, seed=c.seed,
            epoch_ns=self.epoch_ns, bug=c.bug,
        ) as cluster:
            for node_id, body in self.workload.setup(c.node_ids):
                await cluster.send_setup(node_id, body)
            self.nemesis = nemesis_mod.Nemesis(cluster, self.recorder)
            stopping = False
            start = trio.current_time()
            fault_end = start + sc.warmup_s + sc.time_limit_s
            client_ids = ClientIds()
            async with trio.open_nursery() as nursery:
                if self.status is not None:
                    nursery.start_soon(self.status.serve, self)
                async with trio.open_nursery() as clients:
                    for worker in range(c.concurrency):
                        cfg = WorkerConfig(
                            worker=worker, concurrency=c.concurrency, nodes=c.node_ids,
                            interval_s=c.concurrency / c.rate if c.rate > 0 else 1.0,
                            request_timeout_s=sc.request_timeout_s,
                            rng=random.Random(f"{c.seed}/client/{worker}"),
                        )
                        clients.start_soon(functools.partial(
                            run_worker, cfg, workload=self.workload, ctx=cluster.ctx,
                            endpoint=cluster.endpoint, client_ids=client_ids,
                            recorder=self.recorder, should_stop=lambda: stopping,
                        ))
                    self.phase = "warm-up"
                    # Steps at the very end of the fault phase are the timeline's closing heals,
                    # which heal_all performs anyway. The rest run to completion, never
                    # cancelled half-way (a restart cut off mid-init would leave a node
                    # neither running nor stopped).
                    in_phase = [s for s in steps
                                if s.at_s < sc.warmup_s + sc.time_limit_s - AT_END_S]
                    async with trio.open_nursery() as faulting:
                        faulting.start_soon(self._phase_clock, start + sc.warmup_s)
                        await self.nemesis.run_schedule(in_phase, start=start)
                        await trio.sleep_until(fault_end)
                    self.phase = "healing"
                    await self.nemesis.heal_all()
                    self.phase = "recovery"
                    await trio.sleep(sc.recovery_s)
                    stopping = True
                    self.phase = "stopping clients"
                self.phase = "final reads"
                await self._final_ops(cluster, client_ids)
                assert cluster.control is not None
                self.proxy_stats = await cluster.control.stats()
                self.phase = "checking"
                nursery.cancel_scope.cancel()

    async def _phase_clock(self, faults_at: float) -> None:
        await trio.sleep_until(faults_at)
        self.phase = "faults"

    async def _final_ops(self, cluster: Cluster, client_ids: ClientIds) -> None:
        """Each final operation, retried on a fresh connection until it succeeds."""
        assert self.recorder is not None
        c = self.config
        # Final operations get process ids of their own, apart from the workers' (which grow by
        # `concurrency` after each info and would need a million infos to reach these).
        processes = itertools.count(1_000_000)
        for node_id, f, value in self.workload.final_ops(c.node_ids):
            for _attempt in range(FINAL_READ_ATTEMPTS):
                async with open_client(cluster.ctx, cluster.endpoint, client_ids.take()) as client:
                    outcome = await execute(
                        client, node_id, next(processes), f, value, workload=self.workload,
                        recorder=self.recorder, timeout_s=c.scenario.request_timeout_s,
                        final=True,
                    )
                if outcome == "ok":
                    break

    # -- verdict -----------------------------------------------------------------------------

    def _conclude(self, error: str | None) -> RunOutcome:
        from checker.history import load_jsonl
        from checker.result import compose, exit_code

        assert self.recorder is not None
        counts = dict(self.recorder.counts)
        if error is not None:
            results: dict[str, Any] = {"valid": "unknown", "harness_error": error,
                                       "results": {}}
            code = 4
        else:
            ops = load_jsonl(self.run_dir / "history.jsonl")
            checked = self.workload.check(ops, node_ids=self.config.node_ids)
            named = dict(checked["results"])
            named["faults"] = faults_effective(ops, self.proxy_stats)
            results = compose(named)
            results["proxy"] = self.proxy_stats
            code = exit_code(results["valid"])
        results["counts"] = counts
        store.write_json_atomic(self.run_dir / "results.json", results)
        self.write_run_json(exit_code=code, ended_at=store.utc_now(), valid=results["valid"],
                            error=error)
        with contextlib.suppress(Exception):
            from checker import report

            report.write_report(self.run_dir)
        return RunOutcome(self.run_dir, code, results["valid"], results, counts, error)


def versions() -> dict[str, str]:
    return {"python": platform.python_version(), "trio": trio.__version__,
            "pyzmq": zmq.__version__, "zmq": zmq.zmq_version(), "psutil": psutil.__version__}


def reproduce_command(c: RunConfig) -> str:
    sc = c.scenario
    source = str(sc.path) if sc.is_file and sc.path else sc.name
    argv = ["chaos", "run", source, "--seed", str(c.seed), "--time-limit",
            f"{sc.time_limit_s:g}", "--nodes", str(c.nodes), "--workload", c.workload,
            "--rate", f"{c.rate:g}", "--concurrency", str(c.concurrency)]
    if c.node_cmd:
        argv += ["--node-cmd", " ".join(shlex.quote(a) for a in c.node_cmd)]
    elif c.service and c.service != c.workload:
        argv += ["--service", c.service]
    if c.bug:
        argv += ["--bug", c.bug]
    if c.store != Path("logs"):
        argv += ["--store", str(c.store)]
    return " ".join(shlex.quote(a) for a in argv)


