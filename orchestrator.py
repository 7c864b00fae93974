"""The orchestrator: one test run, phase by phase, from the seed to the verdict.

    config = RunConfig(scenario=load_scenario("partition-heal"), service="broadcast",
                       node_cmd=None, bug=None, seed=7, store=Path("logs"))
    outcome = trio.run(Run(config).execute)      # outcome.exit_code: 0, 1, 3 or 4

`Run` makes the run directory, works out the fault schedule from the seed (`chaos.nemesis.plan`,
written to `schedule.jsonl` before anything starts), starts the cluster (`chaos.supervisor`),
then in one nursery runs the clients, the nemesis and the status line through the phases
(warm-up, faults, healing, recovery, final reads), and finally judges the history
(`scenarios.judge.judge`, the same function `chaos check RUN_DIR` uses) and writes
`results.json`, `run.json` and the report. With `RunConfig.simulate` the same schedule, workload
and judge run on the deterministic simulator (`chaos.simulation`) instead of real processes.

The roles live elsewhere: process supervision in `chaos.supervisor`, fault policy in
`chaos.nemesis`, clients and the history in `chaos.clients`, the run store in `chaos.store`,
the status line in `chaos.status`, judging in `scenarios.judge`. `HarnessError`,
`find_exception` and `Cluster` are re-exported here for callers that know them by this module.
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import random
import shlex
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import trio
import zmq

from chaos import store
from chaos.clients import ClientIds, Recorder, WorkerConfig, run_final_ops, run_worker
from chaos.nemesis import Nemesis, Step, plan, steps_before, write_schedule
from chaos.status import RunStatistics
from chaos.supervisor import Cluster, HarnessError, find_exception
from checker.history import load_jsonl
from checker.result import exit_code
from scenarios.judge import judge
from scenarios.schema import Scenario
from scenarios.workloads import get_spec, get_workload

__all__ = ["Cluster", "HarnessError", "Run", "RunConfig", "RunOutcome", "find_exception",
           "reproduce_command", "versions"]

EXIT_HARNESS = 4


@dataclass(frozen=True)
class RunConfig:
    """Every parameter of one run; with the seed it is what `chaos replay` needs."""

    scenario: Scenario  # with the command line's overrides applied and validated
    service: str | None  # the built-in service (the CLI fills in the workload's); None: node_cmd
    node_cmd: tuple[str, ...] | None
    bug: str | None
    seed: int
    store: Path
    command_line: tuple[str, ...] = ()
    schedule: tuple[Any, ...] | None = None  # replay: a schedule read from a run directory
    simulate: bool = False  # run the built-in service's machines in the simulator

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


class Run:
    """One test run: the run directory, the cluster (or the simulator), clients, nemesis, judge.

    Phases, in trio time from the moment the cluster is ready (`start`):
    `[0, warmup_s)` clients only; `[warmup_s, warmup_s + time_limit_s)` faults on the
    schedule; then everything is healed and `recovery_s` passes with clients still running
    (the healed phase in which the system must make progress); then clients stop and the
    workload's final operations (reads) run, each retried until it succeeds.
    """

    def __init__(self, config: RunConfig, *, status: Any = None) -> None:
        if config.simulate and config.node_cmd:
            raise ValueError("a --node-cmd program cannot be simulated; drop --simulate")
        self.config = config
        self.status = status  # a chaos.status.Status, or None
        self.run_dir = store.make_run_dir(config.store, config.scenario.name, config.seed)
        self.epoch_ns = time.monotonic_ns()
        self.started_at = store.utc_now()
        self.recorder: Recorder | None = None
        self.nemesis: Nemesis | None = None
        self.network: dict[str, Any] = {}  # the proxy's (or simulated network's) counters
        self.counts: dict[str, int] = {}
        self.phase = "starting"
        self.workload = get_workload(config.workload, **dict(config.scenario.workload_params))

    def statistics(self) -> RunStatistics:
        """A frozen snapshot for the status line."""
        counts = self.recorder.counts if self.recorder is not None else self.counts
        active = self.nemesis.active if self.nemesis is not None else {}
        return RunStatistics(phase=self.phase,
                             elapsed_s=(time.monotonic_ns() - self.epoch_ns) / 1e9,
                             counts=dict(counts), active_faults=dict(active))

    # -- run.json ----------------------------------------------------------------------------

    def run_info(self, **extra: Any) -> dict[str, Any]:
        c = self.config
        sc = c.scenario
        return {
            "scenario": sc.name,
            # A scenario named by path is found again by its path; a packaged one by its name.
            "scenario_file": str(sc.path) if sc.is_file and sc.path else None,
            "workload": c.workload, "workload_params": dict(sc.workload_params),
            "service": c.service, "node_cmd": list(c.node_cmd) if c.node_cmd else None,
            "bug": c.bug, "seed": c.seed, "nodes": c.node_ids, "simulated": c.simulate,
            "time_limit_s": sc.time_limit_s, "warmup_s": sc.warmup_s,
            "recovery_s": sc.recovery_s, "rate": c.rate, "concurrency": c.concurrency,
            "request_timeout_s": sc.request_timeout_s, "store": str(c.store),
            "command_line": list(c.command_line), "reproduce": reproduce_command(c),
            "versions": versions(), "started_at": self.started_at, "epoch_ns": self.epoch_ns,
            "pid": os.getpid(),
            **extra,
        }

    def write_run_json(self, **extra: Any) -> None:
        store.write_json_atomic(self.run_dir / "run.json", self.run_info(**extra))

    # -- the run -----------------------------------------------------------------------------

    def plan(self) -> list[Step]:
        """The schedule: replayed from a run directory, or worked out from the seed."""
        c = self.config
        if c.schedule is not None:
            return [Step.from_json(s) for s in c.schedule]
        timeline = [e.to_dict() for e in c.scenario.timeline]
        return plan(timeline, c.node_ids, random.Random(f"{c.seed}/nemesis"),
                    offset_s=c.scenario.warmup_s)

    async def execute(self) -> RunOutcome:
        self.write_run_json(exit_code=None)
        steps = self.plan()
        write_schedule(steps, self.run_dir / "schedule.jsonl")
        if self.config.simulate:
            return self._simulate(steps)
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
            self.counts = dict(self.recorder.counts)
            self.recorder.close()
        return self._conclude(error)

    def _simulate(self, steps: Sequence[Step]) -> RunOutcome:
        """The same schedule, workload and judge, on simulated nodes, network and clock."""
        from chaos.simulation import SimulationError, simulate  # only simulated runs need it

        c = self.config
        self.phase = "simulating"
        (self.run_dir / "nodes").mkdir(exist_ok=True)
        try:
            assert c.service is not None, "a simulated run runs a built-in service"
            result = simulate(scenario=c.scenario, service=c.service, bug=c.bug,
                              seed=c.seed, steps=steps, workload=self.workload,
                              history_path=self.run_dir / "history.jsonl",
                              log_dir=self.run_dir / "nodes")
        except (HarnessError, SimulationError) as e:
            return self._conclude(str(e))
        self.counts = dict(result.counts)
        self.network = dict(result.network)
        return self._conclude(None)

    async def _run_cluster(self, steps: Sequence[Step]) -> None:
        c = self.config
        sc = c.scenario
        assert self.recorder is not None
        assert (c.service is None) == (c.node_cmd is not None), "a service or a program"
        service_argv = None if c.service is None else ["--service", c.service]
        async with Cluster(self.run_dir, c.node_ids, service_argv=service_argv,
                           node_cmd=c.node_cmd, seed=c.seed, epoch_ns=self.epoch_ns,
                           bug=c.bug) as cluster:
            for node_id, body in self.workload.setup(c.node_ids):
                await cluster.send_setup(node_id, body)
            self.nemesis = Nemesis(cluster, self.recorder)
            stopping = False
            start = trio.current_time()
            fault_end = start + sc.warmup_s + sc.time_limit_s
            client_ids = ClientIds()
            async with trio.open_nursery() as nursery:
                if self.status is not None:
                    nursery.start_soon(self.status.serve, self.statistics)
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
                    in_phase = steps_before(steps, sc.warmup_s + sc.time_limit_s)
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
                await run_final_ops(c.node_ids, workload=self.workload, ctx=cluster.ctx,
                                    endpoint=cluster.endpoint, client_ids=client_ids,
                                    recorder=self.recorder, timeout_s=sc.request_timeout_s)
                self.network = await cluster.network_stats()
                self.phase = "checking"
                nursery.cancel_scope.cancel()

    async def _phase_clock(self, faults_at: float) -> None:
        await trio.sleep_until(faults_at)
        self.phase = "faults"

    # -- verdict -----------------------------------------------------------------------------

    def _conclude(self, error: str | None) -> RunOutcome:
        self.phase = "checking"
        if error is not None:
            results: dict[str, Any] = {"valid": "unknown", "harness_error": error,
                                       "results": {}}
            code = EXIT_HARNESS
        else:
            ops = load_jsonl(self.run_dir / "history.jsonl")
            results = judge(ops, workload=self.workload, node_ids=self.config.node_ids,
                            network=self.network)
            results["network" if self.config.simulate else "proxy"] = self.network
            code = exit_code(results["valid"])
        results["counts"] = self.counts
        store.write_json_atomic(self.run_dir / "results.json", results)
        self.write_run_json(exit_code=code, ended_at=store.utc_now(), valid=results["valid"],
                            error=error)
        with contextlib.suppress(Exception):
            from checker import report

            report.write_report(self.run_dir)
        return RunOutcome(self.run_dir, code, results["valid"], results, self.counts, error)


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
    elif c.service is not None and c.service != get_spec(c.workload).service:
        argv += ["--service", c.service]  # not the workload's own: say which
    if c.bug:
        argv += ["--bug", c.bug]
    if c.simulate:
        argv += ["--simulate"]
    if c.store != Path("logs"):
        argv += ["--store", str(c.store)]
    return " ".join(shlex.quote(a) for a in argv)
