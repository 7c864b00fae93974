"""The orchestrator: one test run, phase by phase, from the seed to the verdict.

    config = RunConfig(scenario=load_scenario("partition-heal"), service="broadcast",
                       node_cmd=None, bug=None, seed=7, store=Path("logs"))
    outcome = trio.run(Run(config).execute)      # outcome.exit_code: 0, 1, 3 or 4

`Run` makes the run directory, works out the fault schedule from the seed
(`chaos.nemesis.plan_scenario`: the timeline, or a random mix; written to `schedule.jsonl`
before anything starts), starts the cluster (`chaos.supervisor`),
then in one nursery runs the clients, the nemesis and the status line through the phases
(warm-up, faults, healing, recovery, final reads), and finally judges the history
(`scenarios.judge.judge`, the same function `chaos check RUN_DIR` uses) and writes
`results.json`, `run.json` and the report. With `RunConfig.simulate` the same schedule, workload
and judge run on the deterministic simulator (`chaos.simulation`) instead of real processes.

A harness failure is never a verdict: a process of ours that dies (`HarnessError`), a store that
cannot be written (`chaos.store.StoreError`: a full disk, a read-only directory) or any other
`OSError` ends the run with exit 4, `valid: "unknown"` and a one-line reason (`harness_reason`)
in `run.json` (whenever it can still be written: the run sets room aside for it at the start).
What was recorded stays; half a history line left by a failed append is cut.

The roles live elsewhere: process supervision in `chaos.supervisor`, fault policy in
`chaos.nemesis`, clients and the history in `chaos.clients`, the run store in `chaos.store`,
the status line in `chaos.status`, judging in `scenarios.judge`, the parameters in
`chaos.runconfig`. `HarnessError`, `find_exception`, `Cluster`, `RunConfig` and
`reproduce_command` are re-exported here for callers that know them by this module.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import platform
import random
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
from chaos.nemesis import Nemesis, Step, plan_scenario, steps_before, write_schedule
from chaos.runconfig import RunConfig, reproduce_command
from chaos.status import RunStatistics
from chaos.supervisor import Cluster, HarnessError, find_exception
from chaos.watchdog import watch
from checker.elections import load_node_logs
from checker.history import load_jsonl
from checker.result import exit_code
from checker.results_schema import describe
from scenarios.judge import judge
from scenarios.workloads import get_workload, settle_s

__all__ = ["Cluster", "HarnessError", "Run", "RunConfig", "RunOutcome", "find_exception",
           "harness_reason", "reproduce_command", "versions"]

EXIT_HARNESS = 4


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
    (the healed phase in which the system must make progress); then clients stop, `settle_s`
    of quiet passes, and the workload's final operations (reads) run, each retried until it
    succeeds.
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
        self.ends_at_ns: int | None = None  # the timeline's planned end, once it has started
        self.workload = get_workload(config.workload, **dict(config.scenario.workload_params))

    def statistics(self) -> RunStatistics:
        """A frozen snapshot for the live view (`chaos.status`)."""
        counts = self.recorder.counts if self.recorder is not None else self.counts
        active = self.nemesis.active if self.nemesis is not None else {}
        now_ns = time.monotonic_ns()
        remaining_s = (None if self.ends_at_ns is None
                       else max(0.0, (self.ends_at_ns - now_ns) / 1e9))
        return RunStatistics(phase=self.phase, elapsed_s=(now_ns - self.epoch_ns) / 1e9,
                             counts=dict(counts), active_faults=dict(active),
                             remaining_s=remaining_s)

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
            "time_limit_s": sc.time_limit_s, "warmup_s": sc.warmup_s, "recovery_s": sc.recovery_s,
            "settle_s": settle_s(sc), "rate": c.rate, "concurrency": c.concurrency,
            "request_timeout_s": sc.request_timeout_s, "store": str(c.store),
            # A random mix (`--nemesis`), or None for the scenario's timeline.
            "nemesis": list(sc.nemesis) or None,
            "nemesis_interval_s": sc.mix_interval_s if sc.nemesis else None,
            # The network's baseline latency (`--latency`; 0: none), kept by `chaos replay`.
            "latency_ms": sc.latency_ms, "latency_dist": sc.latency_dist,
            # The fraction of operations that must succeed (`--availability`; None: any one).
            "availability": sc.availability,
            # The workload parameters the command line set (`--param`), for `chaos replay`.
            "param_overrides": sc.params_set,
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
        return plan_scenario(c.scenario, random.Random(f"{c.seed}/nemesis"))

    async def execute(self) -> RunOutcome:
        try:
            store.reserve_space(self.run_dir)
            self.write_run_json(exit_code=None)
            steps = self.plan()
            with store.atomic_path(self.run_dir / "schedule.jsonl") as tmp:
                write_schedule(steps, tmp)
        except store.StoreError as e:
            return self._conclude(str(e))
        if self.config.simulate:
            return self._simulate(steps)
        error: str | None = None
        try:
            self.recorder = Recorder(self.run_dir / "history.jsonl", epoch_ns=self.epoch_ns)
            await self._run_cluster(steps)
        except (HarnessError, OSError, BaseExceptionGroup) as e:
            error = harness_reason(e, self.run_dir)
            if error is None or find_exception(e, KeyboardInterrupt) is not None:
                raise
        finally:
            if self.recorder is not None:
                self.counts = dict(self.recorder.counts)
                try:
                    self.recorder.close()  # flushes what a failed write left in its buffer
                except OSError as e:
                    error = error or store.describe(e, self.recorder.path)
        return self._conclude(error)

    def _simulate(self, steps: Sequence[Step]) -> RunOutcome:
        """The same schedule, workload and judge, on simulated nodes, network and clock."""
        from chaos.simulation import SimulationError, simulate  # only simulated runs need it

        c = self.config
        self.phase = "simulating"
        try:
            (self.run_dir / "nodes").mkdir(exist_ok=True)
            assert c.service is not None, "a simulated run runs a built-in service"
            scenario = dataclasses.replace(c.scenario, settle_s=settle_s(c.scenario))
            result = simulate(scenario=scenario, service=c.service, bug=c.bug,
                              seed=c.seed, steps=steps, workload=self.workload,
                              history_path=self.run_dir / "history.jsonl",
                              log_dir=self.run_dir / "nodes")
        except (HarnessError, SimulationError, OSError) as e:
            return self._conclude(harness_reason(e, self.run_dir) or str(e))
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
                           bug=c.bug,
                           fault_service_links=c.scenario.fault_service_links,
                           latency_ms=sc.latency_ms, latency_dist=sc.latency_dist) as cluster:
            for node_id, body in self.workload.setup(c.node_ids):
                await cluster.send_setup(node_id, body)
            self.nemesis = Nemesis(cluster, self.recorder, counters=cluster.network_stats)
            stopping = False
            start = trio.current_time()
            fault_end = start + sc.warmup_s + sc.time_limit_s
            planned_s = sc.warmup_s + sc.time_limit_s + sc.recovery_s + settle_s(sc)
            self.ends_at_ns = time.monotonic_ns() + int(planned_s * 1e9)
            client_ids = ClientIds()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(functools.partial(watch, self.recorder))  # stalls, recorded
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
                self.phase = "settling"  # quiet: what was acknowledged spreads (Maelstrom)
                await trio.sleep(settle_s(sc))
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
        """Judge (unless the harness failed) and write results.json, run.json and the report.
        A store that fails here too makes the run a harness failure; whatever can still be
        written is (results.json, or else run.json with the exit code and the reason)."""
        self.phase = "checking"
        store.trim_partial_line(self.run_dir / "history.jsonl")
        error = store.full_store_reason(error, self.run_dir, store=self.config.store)
        store.release_space(self.run_dir)
        try:
            results = self._results(error)
        except MemoryError:  # the harness's limit, not the system's fault: exit 4, never a hang
            error = (f"judging {self.run_dir / 'history.jsonl'} ran out of memory; run "
                     "chaos check on it where more memory is free, or shorten the run")
            results = self._results(error)
        code = exit_code(results["valid"]) if error is None else EXIT_HARNESS
        stalled = results.get("results", {}).get("stalls", {})
        if code == exit_code("unknown") and stalled.get("valid") == "unknown":
            # The harness itself stalled (DESIGN.md: exit 4), and nothing certain was found.
            error = str(stalled.get("reason"))
            code = EXIT_HARNESS
        written = False
        try:
            store.write_json_atomic(self.run_dir / "results.json", results)
            written = True
            self.write_run_json(exit_code=code, ended_at=store.utc_now(),
                                valid=results["valid"], error=error)
            self._write_report()
        except store.StoreError as e:
            error = error or str(e)  # a failure before this one is its cause: name that
            code = EXIT_HARNESS
            if not written:
                results = self._results(error)
                with contextlib.suppress(store.StoreError):
                    store.write_json_atomic(self.run_dir / "results.json", results)
            with contextlib.suppress(store.StoreError):
                self.write_run_json(exit_code=code, ended_at=store.utc_now(), valid="unknown",
                                    error=error)
        valid = results["valid"] if code != EXIT_HARNESS else "unknown"
        return RunOutcome(self.run_dir, code, valid, results, self.counts, error)

    def _results(self, error: str | None) -> dict[str, Any]:
        if error is not None:
            return describe({"valid": "unknown", "harness_error": error, "results": {},
                             "counts": self.counts}, run_info=self.run_info(), ops=())
        ops = load_jsonl(self.run_dir / "history.jsonl")
        node_logs, log_warnings = load_node_logs(self.run_dir)
        results = judge(ops, workload=self.workload, node_ids=self.config.node_ids,
                        network=self.network, node_logs=node_logs,
                        availability=self.config.scenario.availability)
        if log_warnings:
            results["node_log_warnings"] = log_warnings
        results["network" if self.config.simulate else "proxy"] = self.network
        results["counts"] = self.counts
        return describe(results, run_info=self.run_info(), ops=ops)

    def _write_report(self) -> None:
        """The page is a view of the files: a failure to write it is the store's (exit 4),
        leaving no half page; any other failure of the report changes no verdict."""
        from checker import report

        path = self.run_dir / "report.html"
        try:
            with store.whole_or_none(path):
                report.write_report(self.run_dir)
        except OSError as e:
            raise store.StoreError(store.describe(e, path), errno=e.errno) from e
        except Exception:  # the report's own failure: the verdict stands
            pass


def harness_reason(exc: BaseException, run_dir: Path) -> str | None:
    """The one-line reason `exc` (or a group nesting it) is a harness failure, or None if it is
    not one: a store that cannot be written, a process of ours that died, any other OSError."""
    for kind in (store.StoreError, HarnessError, OSError):
        found = find_exception(exc, kind)
        if found is None:
            continue
        if isinstance(found, store.StoreError | HarnessError):
            return str(found)
        assert isinstance(found, OSError)
        if store.is_store_problem(found):
            return store.describe(found, found.filename or run_dir)
        return f"{type(found).__name__}: {found}"
    return None


def versions() -> dict[str, str]:
    return {"python": platform.python_version(), "trio": trio.__version__,
            "pyzmq": zmq.__version__, "zmq": zmq.zmq_version(), "psutil": psutil.__version__}

