"""Deterministic simulation: a whole run of a built-in service in one process, from one seed.

FoundationDB's simulator and TigerBeetle's VOPR, for our services: the same machines that run
in real node processes (`node.machine`, driven there by `node.driver`) run here over a
simulated network, disk and clock, with the same scenario, fault schedule, workload, client
semantics and checkers, and a history with exactly the shape of a real run's. The same seed
gives a byte-identical `history.jsonl` (and node logs), so a failure found on seed 7 replays
exactly, and a run takes a fraction of a second, so a planted bug is a test of milliseconds
and a user can try thousands of seeds (bench/simulate.py).

    from chaos.simulation import simulate
    result = simulate(scenario=sc, service="broadcast", bug=None, seed=7, steps=steps,
                      workload=get_workload("broadcast"), history_path=run_dir / "history.jsonl",
                      log_dir=run_dir / "nodes")
    result.counts, result.network          # as Recorder.counts and the proxy's `stats`

## How
Nothing reads a wall clock, nothing runs in a thread, and every random choice comes from an rng
derived from the seed: `f"{seed}/client/{w}"` for worker w and `make_rng(seed, node_id)` for
nodes (as in a real run), `f"{seed}/network"` for fault decisions and `f"{seed}/latency"` for
base latencies. Nothing iterates a set of strings (their order changes with PYTHONHASHSEED).
The pieces, one module each:
- `chaos.simloop`: the event heap in virtual time, and tasks: coroutines driven without trio;
- `chaos.simnet`: the proxy (grudge, link-fault table, counters) with a base latency;
- `chaos.simnode`: a node process (the driver's promises, disk, clock, timers, kill, stop,
  pause);
- `chaos.simclients`: the clients (`run_worker`, `execute`, `run_final_ops`);
- this module: the run's phases, and the simulated cluster as the nemesis's `FaultTarget`, so
  the real `chaos.nemesis.Nemesis` applies the schedule and records it, exactly as in a real
  run (`invoke`, then `ok` once carried out, `info` if it could not be; `heal_all` resumes
  paused nodes and restarts stopped ones in the order they went down).

The phases are `orchestrator.Run`'s: every node starts and gets `init` from the admin client
`c0` (once; a harness failure without init_ok within `INIT_TIMEOUT_S`), then the
workload's setup messages; warm-up with clients only; faults on the schedule, each step applied
only after the previous one finished (a restart waits for `init_ok`), steps at the very end of
the fault phase left to the final heal; the nemesis heals everything (network, paused nodes
resumed, stopped ones restarted, clocks reset), recorded as `heal {"final": true}`; recovery
with clients running; clients stop, each finishing its operation; the final operations.

A harness failure (a machine raised, a node did not answer `init` or a setup message, a fault
could not be applied: recorded `info`) raises `SimulationError` after the history is closed:
in a real run it is exit 4. A `--node-cmd` program cannot be simulated; the CLI refuses it.

## The services a cluster offers
`seq-kv`, `lin-kv`, `lww-kv` and `lin-tso` (node/cluster_services.py) are hosted here as the
proxy hosts them in a real run: a copy the network delivers to a service id is handed to
`KvServices` (seeded from the run's seed) at its arrival, and the reply is sent back through
the network from the service, faults and all. The scenario's `fault_service_links` (read with
a default of false, so scenario-like test doubles need not have it) lets faults reach them.

## The baseline latency
The scenario's `latency_ms` and `latency_dist` (read with defaults 0 and constant, as
`fault_service_links` is) give the simulated network the baseline latency the real proxy gets
on its command line (`chaos.faults.baseline_delay`, applied by `chaos.simnet` with the proxy's
own `network_fate`): every message but the admin client's waits for it, on top of any fault
and of the simulated loopback hop, and no heal removes it.

## Not modelled
The operating system's scheduling (a step takes no virtual time; an fsync is instant), the
proxy's `messages.jsonl`, and the `chaos_clock` and `chaos_status` control messages:
`set_clock` sets the node's clock directly and, as the real cluster does, skips a node that is
not running (stopped or paused: a real `chaos_clock` to it could not be answered);
`node_statuses` reads each running node's machine's `status()` directly (`SimNode.status`), so
finding the leader takes no virtual time and no message, and the same seed finds the same one.
"""

from __future__ import annotations

import json
from collections.abc import Coroutine, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from chaos.clients import Recorder
from chaos.faults import ADMIN_ID, baseline_delay
from chaos.nemesis import Nemesis, Step, steps_before
from chaos.simclients import SimClients
from chaos.simloop import EventLoop, SimulationError, to_ns
from chaos.simnet import SimNetwork
from chaos.simnode import NodeCrashed, NodeState, SimNode
from chaos.supervisor import INIT_TIMEOUT_S, SETUP_TIMEOUT_S
from node.cluster_services import SERVICE_IDS, KvServices
from node.service import ServiceSpec
from node.services import check as check_service
from node.services import get_service

__all__ = ["SimulationError", "SimulationResult", "run_simulation", "simulate"]

ADMIN = ADMIN_ID
STORE_FILE = "store.json"  # as node.storage: what a node's disk held durably at the end


class ScenarioLike(Protocol):
    """What the simulator reads of a `scenarios.schema.Scenario`."""

    @property
    def node_ids(self) -> list[str]: ...
    @property
    def warmup_s(self) -> float: ...
    @property
    def time_limit_s(self) -> float: ...
    @property
    def recovery_s(self) -> float: ...

    @property
    def settle_s(self) -> float: ...
    @property
    def rate(self) -> float: ...
    @property
    def concurrency(self) -> int: ...
    @property
    def request_timeout_s(self) -> float: ...


@dataclass(frozen=True)
class SimulationResult:
    counts: dict[str, int]  # Recorder.counts: invoke, ok, fail, info of client operations
    network: dict[str, Any]  # the proxy's statistics (chaos.proxy.ProxyStatistics.to_json())
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)  # per node: starts, steps, ...
    events: int = 0  # events taken from the heap
    simulated_s: float = 0.0  # virtual time at the end of the final operations


def simulate(
    *,
    scenario: ScenarioLike,
    service: str,
    bug: str | None,
    seed: int,
    steps: Sequence[Step],
    workload: Any,
    history_path: Path,
    log_dir: Path | None,
) -> SimulationResult:
    """Run `scenario` against the built-in `service` in simulation; write the history to
    `history_path` and, with `log_dir`, each node's log (`<id>.log`) and durable store
    (`<id>/store.json`). `workload` is a `scenarios.workload.Workload`.

    Raises ValueError for a service or bug not in the registry, and `SimulationError` for a
    harness failure (the history written so far stays)."""
    check_service(service, bug)
    return run_simulation(
        scenario=scenario, spec=get_service(service), bug=bug, seed=seed, steps=steps,
        workload=workload, history_path=history_path, log_dir=log_dir,
    )


def run_simulation(
    *,
    scenario: ScenarioLike,
    spec: ServiceSpec,
    bug: str | None,
    seed: int,
    steps: Sequence[Step],
    workload: Any,
    history_path: Path,
    log_dir: Path | None = None,
    params: Mapping[str, Any] | None = None,
) -> SimulationResult:
    """`simulate` with the service given as a `ServiceSpec` (tests pass their own machines)
    and optional `Boot.params` for every node."""
    with ExitStack() as stack:
        logs: dict[str, IO[str]] = {}
        if log_dir is not None:
            log_dir.mkdir(parents=True, exist_ok=True)
            for nid in scenario.node_ids:
                logs[nid] = stack.enter_context(open(log_dir / f"{nid}.log", "a", encoding="utf-8"))
        sim = Simulation(scenario=scenario, spec=spec, bug=bug, seed=seed, workload=workload,
                         history_path=history_path, logs=logs, params=params)
        stack.callback(sim.recorder.close)
        try:
            return sim.run(steps)
        finally:
            if log_dir is not None:
                sim.write_stores(log_dir)


class Simulation:
    """One simulated run: the nodes, the network, the clients and the nemesis on one loop."""

    def __init__(
        self,
        *,
        scenario: ScenarioLike,
        spec: ServiceSpec,
        bug: str | None,
        seed: int,
        workload: Any,
        history_path: Path,
        logs: Mapping[str, IO[str]] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> None:
        self.scenario = scenario
        self.workload = workload
        self.node_ids: list[str] = list(scenario.node_ids)
        self.loop = loop = EventLoop()
        self.network = SimNetwork(
            loop=loop, nodes=self.node_ids, seed=seed, deliver=self._deliver,
            is_reachable=self._is_reachable,
            fault_service_links=bool(getattr(scenario, "fault_service_links", False)),
            baseline=baseline_delay(float(getattr(scenario, "latency_ms", 0.0)),
                                    str(getattr(scenario, "latency_dist", "constant"))),
        )
        self.services = KvServices(seed=seed)
        self._service_ids = frozenset(SERVICE_IDS)
        self.nodes = {
            nid: SimNode(nid, spec=spec, bug=bug, seed=seed, loop=loop, send=self.network.send,
                         params=params, log=(logs or {}).get(nid))
            for nid in self.node_ids
        }
        # Last, so that nothing above can fail with the history file open.
        self.recorder = recorder = Recorder(history_path, epoch_ns=0, now_ns=lambda: loop.now_ns)
        self.clients = SimClients(loop=loop, network=self.network, recorder=recorder,
                                  workload=workload, seed=seed)
        self.nemesis = Nemesis(self, recorder, counters=self.network.statistics)
        self._is_done = False

    def run(self, steps: Sequence[Step]) -> SimulationResult:
        """The whole run, once. Raises `SimulationError` for a harness failure."""
        self.loop.spawn(self._main(list(steps)))
        try:
            self.loop.run(is_done=lambda: self._is_done)
        except NodeCrashed as e:
            raise SimulationError(str(e)) from e
        finally:
            self.loop.close()
        return SimulationResult(
            counts=dict(self.recorder.counts),
            network=self.network.statistics(),
            nodes={nid: node.statistics() for nid, node in self.nodes.items()},
            events=self.loop.events,
            simulated_s=self.loop.now_ns / 1e9,
        )

    def write_stores(self, log_dir: Path) -> None:
        for nid, node in self.nodes.items():
            (log_dir / nid).mkdir(exist_ok=True)
            text = json.dumps(node.disk.durable(), sort_keys=True, separators=(",", ":"))
            (log_dir / nid / STORE_FILE).write_text(text + "\n", encoding="utf-8")

    def _deliver(self, dest: str, data: str) -> None:
        node = self.nodes.get(dest)
        if node is not None:
            node.receive(data)
        elif dest in self._service_ids:
            answer = self.services.handle_json(dest, data)
            if answer is not None:
                self.network.send(dest, answer[0], answer[1])
        else:
            self.clients.deliver(dest, data)

    def _is_reachable(self, dest: str) -> bool:
        node = self.nodes.get(dest)
        if node is not None:
            return node.state is not NodeState.STOPPED
        if dest in self._service_ids:
            return True
        return self.clients.is_open(dest)

    # -- the run's phases -----------------------------------------------------------------------

    async def _main(self, steps: list[Step]) -> None:
        sc = self.scenario
        loop, clients = self.loop, self.clients
        clients.open(ADMIN)
        for node in self.nodes.values():
            node.start()
        for nid in self.node_ids:
            await self._init_node(nid)
        for node_id, body in self.workload.setup(self.node_ids):
            reply = await clients.call(ADMIN, node_id, body, timeout_s=SETUP_TIMEOUT_S)
            if reply is None:
                raise SimulationError(f"node {node_id} did not answer {body['type']} within "
                                      f"{SETUP_TIMEOUT_S:g} s")
            if reply.get("type") != body["type"] + "_ok":
                raise SimulationError(f"node {node_id} answered {body['type']} with {reply!r}")
        start_ns = loop.now_ns
        fault_end_s = sc.warmup_s + sc.time_limit_s
        clients.workers_running = sc.concurrency
        for worker in range(sc.concurrency):
            loop.spawn(clients.worker(
                worker, node_ids=self.node_ids, concurrency=sc.concurrency,
                interval_s=sc.concurrency / sc.rate if sc.rate > 0 else 1.0,
                timeout_s=sc.request_timeout_s,
            ))
        for step in steps_before(steps, fault_end_s):
            await loop.sleep_until(start_ns + to_ns(step.at_s))
            apply = self.nemesis.apply(step.f, step.value, planned_at_s=step.at_s)
            await self._nemesis_does(apply, step.f)
        await loop.sleep_until(start_ns + to_ns(fault_end_s))
        await self._nemesis_does(self.nemesis.heal_all(), "heal")
        await loop.sleep(sc.recovery_s)
        clients.stopping = True
        await clients.join_workers()
        await loop.sleep(sc.settle_s)  # quiet before the final reads, as a real run
        await clients.final_ops(self.node_ids, timeout_s=sc.request_timeout_s)
        self._is_done = True

    async def _nemesis_does(self, operation: Coroutine[Any, Any, None], f: str) -> None:
        """Await a nemesis operation; one that failed (recorded `info` by the nemesis) is a
        harness failure, as in a real run."""
        try:
            await operation
        except SimulationError:
            raise
        except Exception as e:
            raise SimulationError(f"nemesis {f} could not be applied: {type(e).__name__}: {e}"
                                  ) from e

    async def _init_node(self, node_id: str) -> None:
        """`Cluster._init_node`: one init (a simulated node is connected as it starts), then
        init_ok within `INIT_TIMEOUT_S`, or a harness failure."""
        body = {"type": "init", "node_id": node_id, "node_ids": self.node_ids}
        reply = await self.clients.call(ADMIN, node_id, body, timeout_s=INIT_TIMEOUT_S)
        if reply is None:
            raise SimulationError(
                f"node {node_id} did not answer init within {INIT_TIMEOUT_S:g} s")
        if reply.get("type") != "init_ok":
            raise SimulationError(f"node {node_id} answered init with {reply!r}, not init_ok")

    # -- faults: chaos.nemesis.FaultTarget, carried out on the simulated cluster ---------------

    async def partition(self, grudge: Mapping[str, Sequence[str]], *, clients: bool) -> None:
        self.network.partition(grudge, clients=clients)

    async def link_faults(self, rules: Sequence[Mapping[str, Any]], *, clients: bool) -> None:
        self.network.link_faults(list(rules), clients=clients)

    async def heal(self) -> None:
        self.network.heal()

    async def kill(self, node_id: str) -> None:
        self.nodes[node_id].kill()

    async def stop(self, node_id: str) -> None:
        self.nodes[node_id].stop()

    async def pause(self, node_id: str) -> None:
        self.nodes[node_id].pause()

    async def resume(self, node_id: str) -> None:
        self.nodes[node_id].resume()

    async def restart(self, node_id: str) -> None:
        self.nodes[node_id].start()
        await self._init_node(node_id)

    async def restart_nodes(self, node_ids: Sequence[str]) -> None:
        for node_id in node_ids:  # one after another: a start takes no virtual time
            await self.restart(node_id)

    async def set_clock(self, node_id: str, *, offset_ms: float, rate: float,
                        period_ms: float = 0.0) -> None:
        node = self.nodes[node_id]
        if node.state is NodeState.RUNNING:  # as the real Cluster.set_clock: see the docstring
            node.set_clock(offset_ms=float(offset_ms), rate=float(rate),
                           period_ms=float(period_ms))

    async def node_statuses(self) -> dict[str, dict[str, Any]]:
        statuses = {nid: self.nodes[nid].status() for nid in self.node_ids}
        return {nid: status for nid, status in statuses.items() if status is not None}

    def running_nodes(self) -> list[str]:
        return [nid for nid, node in self.nodes.items() if node.state is NodeState.RUNNING]
