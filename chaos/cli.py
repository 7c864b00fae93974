"""`chaos`: the command line (a contract: tests, CI and users depend on it; see DESIGN.md).

    chaos run SCENARIO|FILE.toml [--seed N] [--time-limit S] [--nodes N] [--workload NAME]
              [--service NAME | --node-cmd CMD] [--bug NAME] [--rate OPS_PER_S]
              [--concurrency N] [--nemesis F,F,... [--nemesis-interval S]]
              [--latency MS [--latency-dist constant|uniform|exponential]]
              [--param NAME=VALUE ...] [--availability total|F] [--store DIR] [--simulate]
              [--json]
    chaos list [--json]
    chaos check RUN_DIR|HISTORY... [--model M] [--format F] [--init V] [--time-limit S] [--json]
    chaos report RUN_DIR
    chaos replay RUN_DIR [--store DIR] [--json]
    chaos serve [STORE] [--port N]                                  (chaos/serve.py)
    chaos suite [SUITE.toml] [--scenarios A,B] [--seeds 1-5] [--time-limit S] [--shard K/N]
                [--junit FILE] [--store DIR] [--fail-fast] [--run-timeout S] [--budget S]
                [--simulate]                                        (chaos/suite.py)

Exit codes: 0 valid, 1 invalid (an anomaly was found), 2 usage error, 3 unknown (nothing to
judge, or a budget ran out), 4 the harness failed (a node or the proxy could not start or died
unprompted, the run store is full or cannot be written), 130 interrupted (Ctrl-C or SIGTERM).

A usage error is one line on stderr naming the option or file and the fix, never a traceback.
So is a harness failure (`chaos: harness failed: ...`), which `run.json` records too whenever it
can still be written. The line between them, for every command: what you gave is wrong (a
directory that is no run, a damaged run.json, results.json, history or schedule) is 2; the run
store cannot be written (a full disk, a read-only directory: `chaos run`, `chaos replay`,
`chaos report` alike) is 4. Exit 1 only ever means an anomaly: an unexpected exception (a bug
of ours) prints its traceback and exits 4.

`--nemesis partition,kill,pause,clock,link` replaces the scenario's faults with a seeded random
mix, as Maelstrom's option: every `--nemesis-interval` seconds of the fault phase (default:
Maelstrom's 10, or a quarter of the fault phase when that is shorter) a fault of a listed kind
starts, healed before the next (`scenarios.schema` documents the mix). A scenario aiming at
`leader` is refused with `--node-cmd`: a program's nodes cannot be asked who leads.

`--latency MS [--latency-dist D]` gives the network a baseline latency, as Maelstrom's
`--latency`: every message (node to node, client to node and back; not the orchestrator's
admin client) waits MS ms on average, constant (default), uniform on [0, 2 MS] or exponential,
in the proxy or the simulated network, faults on top (`scenarios.schema`: the scenario keys
`latency_ms` and `latency_dist`, which the options override).

`--availability total|F`, as Maelstrom's, makes the run invalid unless that fraction of the
client operations succeeded (`total`: every one); without it, any one will do.

`chaos maelstrom test` takes `maelstrom test`'s options and runs `chaos run maelstrom` with them
(`chaos.maelstrom_cmd`).

Imports of the cluster machinery are lazy so that `chaos check` starts fast.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import shutil
import sys
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

import click

from checker.cli import make_check_command

EXIT_USAGE = 2
EXIT_HARNESS = 4
EXIT_INTERRUPTED = 130


class UsageProblem(click.UsageError):
    """A user mistake: reported as one line, exit 2."""


def fail_usage(message: str) -> NoReturn:
    raise UsageProblem(message)


class HarnessProblem(click.ClickException):
    """The harness, not the user's input, failed (a full or unwritable store): one line, exit 4."""

    exit_code = 4


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="chaos-cluster")
def cli() -> None:
    """Chaos-test distributed coordination on one machine: real node processes, a
    fault-injecting proxy, a nemesis, Jepsen-style histories and checkers."""


def _judge_run(history_path: Path, ops: list[Any], run_info: dict[str, Any]) -> dict[str, Any]:
    """A run directory is judged as `chaos run` judged it (imported late: start-up stays fast)."""
    from scenarios.judge import judge_run

    return judge_run(history_path, ops, run_info)


def _model_for_workload(workload: str) -> str | None:
    from scenarios.workloads import model_for

    return model_for(workload)


cli.add_command(
    make_check_command(judge_run=_judge_run, model_for_workload=_model_for_workload),
    name="check",
)


@cli.command()
@click.argument("scenario")
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=None,
              help="Seed for every random choice (default: a fresh one, printed).")
@click.option("--time-limit", "time_limit_s", type=click.FloatRange(0, 3600, min_open=True),
              default=None, help="Length of the fault phase in seconds; the timeline rescales.")
@click.option("--nodes", type=click.IntRange(1, 64), default=None, help="Number of nodes.")
@click.option("--workload", default=None, help="Client workload (default: the scenario's).")
@click.option("--service", default=None, help="Built-in node service (default: the workload's).")
@click.option("--node-cmd", default=None, help="Run this Maelstrom program as each node.")
@click.option("--bug", default=None, help="Plant a known defect in the built-in service.")
@click.option("--rate", type=click.FloatRange(0, 100_000, min_open=True), default=None,
              help="Target operations per second, all clients together.")
@click.option("--concurrency", type=click.IntRange(1, 1000), default=None,
              help="Number of concurrent clients.")
@click.option("--nemesis", "nemesis", default=None, metavar="F,F,...",
              help="Replace the scenario's faults with a seeded random mix of these kinds "
                   "(partition, link, kill, stop, pause, clock), as Maelstrom's --nemesis.")
@click.option("--nemesis-interval", "nemesis_interval_s", type=float, default=None,
              metavar="S", help="Seconds between the mix's faults (default: 10, or a quarter "
                                "of the fault phase when that is shorter).")
@click.option("--latency", "latency_ms", type=float, default=None, metavar="MS",
              help="Baseline latency of every message, its mean in ms, as Maelstrom's "
                   "--latency (default: the scenario's latency_ms, usually 0).")
@click.option("--latency-dist", "latency_dist", default=None,
              metavar="constant|uniform|exponential",
              help="Distribution of the baseline latency: constant (default), uniform on "
                   "[0, 2*MS], or exponential; each has mean MS.")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
              help="Set a parameter of the workload (repeatable; VALUE is JSON, else text), "
                   "as a scenario file's [workload_params]: --param topology=tree4.")
@click.option("--availability", default=None, metavar="total|F",
              help="The fraction of client operations that must succeed, as Maelstrom's "
                   "(total: every one; default: any one).")
@click.option("--store", type=click.Path(file_okay=False, path_type=Path), default=Path("logs"),
              show_default=True, help="Root of the run store.")
@click.option("--simulate", is_flag=True,
              help="Run the built-in service's machines in one process over a simulated "
                   "network, disk and clock: the same seed gives the same history.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON summary object.")
def run(scenario: str, seed: int | None, time_limit_s: float | None, nodes: int | None,
        workload: str | None, service: str | None, node_cmd: str | None, bug: str | None,
        rate: float | None, concurrency: int | None, nemesis: str | None,
        nemesis_interval_s: float | None, latency_ms: float | None, latency_dist: str | None,
        params: tuple[str, ...], availability: str | None, store: Path, simulate: bool,
        as_json: bool) -> None:
    """Run SCENARIO (a name from `chaos list`, or a .toml file) and check its history."""
    config = build_config(
        scenario, seed=seed, time_limit_s=time_limit_s, nodes=nodes, workload=workload,
        service=service, node_cmd=node_cmd, bug=bug, rate=rate, concurrency=concurrency,
        store=store, simulate=simulate, nemesis=nemesis, nemesis_interval_s=nemesis_interval_s,
        latency_ms=latency_ms, latency_dist=latency_dist, availability=availability,
        params=params,
    )
    sys.exit(execute_run(config, as_json=as_json))


def build_config(scenario_ref: str, *, seed: int | None, time_limit_s: float | None,
                 nodes: int | None, workload: str | None, service: str | None,
                 node_cmd: str | None, bug: str | None, rate: float | None,
                 concurrency: int | None, store: Path, simulate: bool = False,
                 schedule: tuple[Any, ...] | None = None, nemesis: str | None = None,
                 nemesis_interval_s: float | None = None, latency_ms: float | None = None,
                 latency_dist: str | None = None,
                 availability: str | float | None = None,
                 params: Sequence[str] | Mapping[str, Any] = ()) -> Any:
    """Validate every option against the scenario and the registries; usage errors exit 2.
    `latency_ms` and `latency_dist` (`--latency`, `--latency-dist`), None to keep the
    scenario's, set the network's baseline latency; `availability` (`--availability`:
    "total" or a fraction, as text or a number) the fraction of operations that must succeed;
    `params` (`--param NAME=VALUE`, or a mapping from a replayed run) workload parameters."""
    from node.services import SERVICES, bugs
    from orchestrator import RunConfig
    from scenarios.loader import load_scenario
    from scenarios.schema import ScenarioError
    from scenarios.workloads import WORKLOADS, get_spec

    try:
        sc = load_scenario(scenario_ref)
    except ScenarioError as e:
        fail_usage(str(e))
    mix = _nemesis_option(nemesis)
    if nemesis_interval_s is not None:
        if not math.isfinite(nemesis_interval_s) or nemesis_interval_s <= 0:
            fail_usage(f"--nemesis-interval: {nemesis_interval_s:g} is not a length of time; "
                       "give the seconds between faults, above 0, such as 5")
        if mix is None and not sc.nemesis:
            fail_usage(f"--nemesis-interval sets the interval of a random mix, and "
                       f"{sc.name} has none; add --nemesis partition,kill (or drop the "
                       "interval)")
        fault_phase_s = time_limit_s if time_limit_s is not None else sc.time_limit_s
        if nemesis_interval_s > fault_phase_s:
            fail_usage(f"--nemesis-interval: {nemesis_interval_s:g} s is longer than the fault "
                       f"phase ({fault_phase_s:g} s), so no fault would fit; use at most "
                       f"{fault_phase_s:g}, or a longer --time-limit")
    _check_latency(latency_ms, latency_dist, scenario=sc)
    required = _availability_option(availability)
    workload_params = _param_options(params)
    workload = workload or sc.workload
    if workload not in WORKLOADS:
        fail_usage(f"--workload: unknown workload {workload!r}; use one of {', '.join(WORKLOADS)}")
    if node_cmd is not None and service is not None:
        fail_usage("--service and --node-cmd exclude each other: pick the built-in service or "
                   "your own program")
    argv: tuple[str, ...] | None = None
    if node_cmd is not None and simulate:
        fail_usage("--simulate runs the built-in services' state machines; a program given "
                   "with --node-cmd cannot be simulated (drop one of the two)")
    if node_cmd is not None:
        if bug is not None:
            fail_usage("--bug plants defects in built-in services; it does not apply to "
                       "--node-cmd")
        try:
            argv = tuple(shlex.split(node_cmd))
        except ValueError as e:
            fail_usage(f"--node-cmd: cannot split {node_cmd!r} into words ({e})")
        if not argv:
            fail_usage("--node-cmd is empty; give a command such as 'python3 my_node.py'")
        if shutil.which(argv[0]) is None:
            fail_usage(f"--node-cmd: {argv[0]!r} is not an executable on PATH or a path to one")
    else:
        default_service = get_spec(workload).service
        if service is None and default_service is None:
            fail_usage(f"no built-in service implements {workload} yet; run your own Maelstrom "
                       f"program as the nodes with --node-cmd 'python3 my_node.py'")
        service = service or default_service
        if service not in SERVICES:
            fail_usage(f"--service: unknown service {service!r}; use one of "
                       f"{', '.join(sorted(SERVICES))}")
        if bug is not None and bug not in bugs(service):
            known = ", ".join(bugs(service)) or "none"
            fail_usage(f"--bug: service {service!r} has no bug {bug!r}; its bugs: {known}")
    try:
        sc = sc.with_overrides(time_limit_s=time_limit_s, nodes=nodes, workload=workload,
                               rate=rate, concurrency=concurrency, nemesis=mix,
                               nemesis_interval_s=nemesis_interval_s, latency_ms=latency_ms,
                               latency_dist=latency_dist, availability=required,
                               params=workload_params)
        if argv is not None:
            sc.check_stdio_nodes("--node-cmd")
    except ScenarioError as e:
        fail_usage(str(e))
    try:
        store.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        from chaos.store import is_full

        if is_full(e):  # the directory would do; the disk has no room: the harness's problem
            raise HarnessProblem(f"--store: cannot create {store} ({e.strerror}); free space "
                                 f"or pass another --store DIR") from e
        fail_usage(f"--store: cannot create {store} ({e.strerror}); pick a writable directory")
    if not os.access(store, os.W_OK):
        fail_usage(f"--store: {store} is not writable; pick a writable directory")
    if seed is None:
        seed = int.from_bytes(os.urandom(4), "big")
    return RunConfig(
        scenario=sc, service=None if argv else service, node_cmd=argv, bug=bug, seed=seed,
        store=store, command_line=tuple(sys.argv), schedule=schedule, simulate=simulate,
    )


def _param_options(params: Sequence[str] | Mapping[str, Any]) -> dict[str, Any]:
    """`--param NAME=VALUE`, each VALUE read as JSON (`4`, `true`, `["a","b"]`) or else taken
    as text (`tree4`); a mapping (from a replayed run.json) as it is."""
    if isinstance(params, Mapping):
        return dict(params)
    out: dict[str, Any] = {}
    for item in params:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name:
            fail_usage(f"--param: {item!r} is not NAME=VALUE; write such as --param "
                       "topology=tree4 (a workload's parameters are in the docstring of "
                       "scenarios/workloads/<workload>.py)")
        if name in out:
            fail_usage(f"--param: {name!r} is given twice; give each parameter once")
        try:
            out[name] = json.loads(text)
        except ValueError:
            out[name] = text
    return out


def _availability_option(value: str | float | None) -> float | None:
    """`--availability`: Maelstrom's `total` (1.0) or a fraction from 0 to 1; None: not set."""
    if value is None:
        return None
    if isinstance(value, str) and value.strip() == "total":
        return 1.0
    try:
        fraction = float(value)
    except ValueError:
        fraction = math.nan
    if not 0.0 <= fraction <= 1.0:
        fail_usage(f"--availability: {value!r} is neither total nor a fraction from 0 to 1; "
                   "use such as total or 0.99")
    return fraction


def _check_latency(latency_ms: Any, latency_dist: Any, *, scenario: Any) -> None:
    """`--latency MS` and `--latency-dist D`: a finite number of ms in range, a known
    distribution, and no distribution for a latency that neither they nor the scenario give.
    (`Scenario.with_overrides` checks the latency against the request timeout.)"""
    from scenarios.schema import LATENCY_DISTRIBUTIONS, LATENCY_MS_MAX
    from scenarios.validation import suggest

    if latency_ms is not None:
        if (isinstance(latency_ms, bool) or not isinstance(latency_ms, int | float)
                or not math.isfinite(latency_ms)):
            fail_usage(f"--latency: {latency_ms!r} is not a latency; give the mean delay of "
                       f"every message in ms, from 0 to {LATENCY_MS_MAX:g}, such as 100")
        if not 0 <= latency_ms <= LATENCY_MS_MAX:
            fail_usage(f"--latency: {latency_ms:g} ms is out of range; give the mean delay of "
                       f"every message in ms, from 0 to {LATENCY_MS_MAX:g}, such as 100")
    if latency_dist is not None:
        known = ", ".join(LATENCY_DISTRIBUTIONS)
        if latency_dist not in LATENCY_DISTRIBUTIONS:
            fail_usage(f"--latency-dist: unknown distribution {latency_dist!r}"
                       f"{suggest(str(latency_dist), LATENCY_DISTRIBUTIONS)}; use one of {known}")
        if latency_ms is None and not scenario.latency_ms:
            fail_usage(f"--latency-dist sets the distribution of a baseline latency, and "
                       f"{scenario.name} has none; add --latency MS (such as --latency 100), "
                       "or drop --latency-dist")


def _nemesis_option(value: str | None) -> tuple[str, ...] | None:
    """`--nemesis partition,kill`: the mix's fault kinds, each known and listed once."""
    from checker.fault_kinds import MIX_FAULTS
    from scenarios.validation import suggest

    if value is None:
        return None
    names = [name.strip() for name in value.split(",") if name.strip()]
    known = ", ".join(MIX_FAULTS)
    if not names:
        fail_usage(f"--nemesis is empty; give one or more of {known}, comma-separated "
                   "(such as --nemesis partition,kill)")
    for i, name in enumerate(names):
        if name not in MIX_FAULTS:
            fail_usage(f"--nemesis: unknown fault {name!r}{suggest(name, MIX_FAULTS)}; use "
                       f"one or more of {known}, comma-separated")
        if name in names[:i]:
            fail_usage(f"--nemesis: {name!r} is listed twice; list each fault once")
    return tuple(names)


def execute_run(config: Any, *, as_json: bool) -> int:
    """Run, print the seed, the run directory, the verdict and how to reproduce it."""
    import signal

    import trio

    import orchestrator
    from chaos.status import Status

    out = sys.stderr if as_json else sys.stdout
    holder: dict[str, Any] = {}

    async def main() -> Any:
        # Trio redelivers a signal left pending when the receiver closes, with the handler that
        # was there before: were that the default, a second SIGTERM would kill us before
        # run.json says how the run ended. Once the first has stopped the run, more are noise.
        for signum in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, lambda *_: None)
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGHUP) as signals:
            async with trio.open_nursery() as nursery:
                async def on_signal() -> None:
                    async for _ in signals:
                        raise KeyboardInterrupt

                nursery.start_soon(on_signal)
                the_run = orchestrator.Run(config, status=Status())
                holder["run"] = the_run
                print(f"chaos: seed {config.seed}, run directory {the_run.run_dir}", file=out,
                      flush=True)
                outcome = await the_run.execute()
                nursery.cancel_scope.cancel()
                return outcome

    try:
        outcome = trio.run(main)
    except BaseException as e:
        the_run = holder.get("run")
        if orchestrator.find_exception(e, KeyboardInterrupt) is not None:
            if the_run is not None:
                _finish_run_json(the_run, exit_code=EXIT_INTERRUPTED, interrupted=True)
                print(f"\nchaos: interrupted; the history so far is in {the_run.run_dir}",
                      file=sys.stderr)
                print(f"chaos: reproduce with: {orchestrator.reproduce_command(config)}",
                      file=sys.stderr)
            return EXIT_INTERRUPTED
        if not isinstance(e, Exception):
            raise  # SystemExit and the like: not ours to judge
        reason = orchestrator.harness_reason(
            e, the_run.run_dir if the_run is not None else config.store)
        if reason is None:  # a bug of ours: its traceback, for the report, then the one line
            traceback.print_exception(e)
            reason = internal_error(e)
        if the_run is not None:
            from chaos import store

            _finish_run_json(the_run, exit_code=EXIT_HARNESS, ended_at=store.utc_now(),
                             valid="unknown", error=reason)
        print(f"chaos: harness failed: {reason}", file=sys.stderr)
        return EXIT_HARNESS
    summary = {
        "valid": outcome.valid,
        "exit_code": outcome.exit_code,
        "run_dir": str(outcome.run_dir),
        "seed": config.seed,
        "scenario": config.scenario.name,
        "workload": config.workload,
        "counts": outcome.counts,
        "reproduce": orchestrator.reproduce_command(config),
        "checkers": {name: r.get("valid") for name, r in
                     outcome.results.get("results", {}).items()},
    }
    if outcome.error:
        summary["error"] = outcome.error
        print(f"chaos: harness failed: {outcome.error}", file=sys.stderr)
    if as_json:
        print(json.dumps(summary, default=str))
    else:
        print_summary(summary, outcome.results)
    return int(outcome.exit_code)


def _finish_run_json(the_run: Any, **fields: Any) -> None:
    """Record how the run ended in run.json, if the store still takes it (with the room the
    run set aside given back); a store that does not is said in one line."""
    from chaos import store

    store.release_space(the_run.run_dir)
    try:
        the_run.write_run_json(**fields)
    except store.StoreError as e:
        print(f"chaos: run.json not updated: {e}", file=sys.stderr)


def internal_error(e: BaseException) -> str:
    """One line for an exception nobody expected (the innermost, for a trio group)."""
    while isinstance(e, BaseExceptionGroup) and e.exceptions:
        e = e.exceptions[0]
    return (f"internal error ({type(e).__name__}: {e}); a bug in chaos-cluster, please "
            f"report it with the traceback above")


def print_summary(summary: dict[str, Any], results: dict[str, Any]) -> None:
    """The run's summary on stdout (`chaos.status.write_summary`): tables on a terminal, the
    plain lines otherwise, with the completions by operation counted from the history."""
    from collections import Counter

    from chaos.status import RunSummary, read_counts_by_f, write_summary
    from checker.result import brief

    run_dir = Path(summary["run_dir"])
    by_f = read_counts_by_f(run_dir / "history.jsonl")
    # A run the harness could not finish judging has no counts of its own: the history's.
    counts = summary["counts"] or dict(sum((Counter(c) for c in by_f.values()), Counter()))
    write_summary(RunSummary(
        valid=summary["valid"], exit_code=summary["exit_code"], run_dir=str(run_dir),
        reproduce=summary["reproduce"], counts=counts, counts_by_f=by_f,
        checkers=tuple((name, r.get("valid"), brief(r))
                       for name, r in results.get("results", {}).items()),
    ), sys.stdout)


@cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_command(as_json: bool) -> None:
    """List the named scenarios, the workloads and the services with their bugs."""
    from node.services import SERVICES
    from scenarios.loader import list_scenarios
    from scenarios.workloads import SPECS

    scenarios = list_scenarios()
    if as_json:
        print(json.dumps({
            "scenarios": [{"name": s.name, "workload": s.workload, "nodes": s.nodes,
                           "description": s.description} for s in scenarios],
            "workloads": list(SPECS),
            "services": {name: list(s.bugs) for name, s in sorted(SERVICES.items())},
            # The workload -> its built-in service (None: bring one with --node-cmd).
            "default_services": {name: w.service for name, w in SPECS.items()},
        }))
        return
    print("scenarios:")
    for s in scenarios:
        print(f"  {s.name:<18} {s.workload:<11} {s.nodes} nodes  {s.description}")
    print("workloads (built-in service):")
    for name, w in SPECS.items():
        print(f"  {name:<18} {w.service or 'none: --node-cmd':<16} {w.summary}")
    print("services (bugs):")
    for name, svc in sorted(SERVICES.items()):
        print(f"  {name:<18} {', '.join(svc.bugs) or '-'}")


def _load_run_json(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "run.json"
    if not path.is_file():
        fail_usage(f"{run_dir}: no run.json here; give a run directory such as logs/latest")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        fail_usage(f"{path}:{e.lineno}: not valid JSON ({e.msg})")
    except (OSError, UnicodeDecodeError) as e:
        fail_usage(f"{path}: cannot read it ({getattr(e, 'strerror', None) or e})")
    if not isinstance(data, dict):
        fail_usage(f"{path}: expected a JSON object")
    return data


@cli.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--store", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Run store for the new run (default: the original's).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON summary object.")
def replay(run_dir: Path, store: Path | None, as_json: bool) -> None:
    """Run RUN_DIR again: same scenario, parameters, seed and fault schedule.

    A real-process run replays the schedule and the workload, not the operating system's
    interleavings, so a replay reproduces the conditions, not necessarily the verdict.
    """
    info = _load_run_json(run_dir)
    schedule = _load_schedule(run_dir / "schedule.jsonl")
    scenario_ref = info.get("scenario_file") or info.get("scenario")
    if not scenario_ref:
        fail_usage(f"{run_dir}/run.json names no scenario")
    node_cmd = info.get("node_cmd")
    config = build_config(
        str(scenario_ref), seed=info.get("seed"), time_limit_s=info.get("time_limit_s"),
        nodes=len(info.get("nodes") or []) or None, workload=info.get("workload"),
        service=info.get("service") if not node_cmd else None,
        node_cmd=shlex.join(node_cmd) if node_cmd else None, bug=info.get("bug"),
        rate=info.get("rate"), concurrency=info.get("concurrency"),
        store=store or Path(info.get("store") or "logs"), schedule=schedule,
        simulate=bool(info.get("simulated")),
        **_replayed_latency(run_dir, info),
        **_replayed_mix(run_dir, info),
        availability=info.get("availability"),
        params=_replayed_params(run_dir, info),
    )
    sys.exit(execute_run(config, as_json=as_json))


def _replayed_latency(run_dir: Path, info: dict[str, Any]) -> dict[str, Any]:
    """The baseline latency a run recorded (`latency_ms`, `latency_dist`), as build_config
    takes it; nothing for a run recorded before there was one (the scenario's then)."""
    latency_ms, latency_dist = info.get("latency_ms"), info.get("latency_dist")
    if latency_ms is None and latency_dist is None:
        return {}
    if (isinstance(latency_ms, bool) or not isinstance(latency_ms, int | float)
            or not isinstance(latency_dist, str)):
        fail_usage(f"{run_dir}/run.json: latency_ms or latency_dist is damaged; the run "
                   "cannot be replayed exactly")
    return {"latency_ms": float(latency_ms), "latency_dist": latency_dist}


def _replayed_params(run_dir: Path, info: dict[str, Any]) -> dict[str, Any]:
    """The workload parameters the run's command line set (`--param`), from run.json."""
    overrides = info.get("param_overrides") or {}
    if not isinstance(overrides, dict):
        fail_usage(f"{run_dir}/run.json: param_overrides is damaged; the run cannot be "
                   "replayed exactly")
    return overrides


def _replayed_mix(run_dir: Path, info: dict[str, Any]) -> dict[str, Any]:
    """The random mix a run recorded (`nemesis`, `nemesis_interval_s`), as build_config takes
    it; nothing for a run of a timeline."""
    mix, interval = info.get("nemesis"), info.get("nemesis_interval_s")
    if not mix:
        return {}
    if (not isinstance(mix, list) or not all(isinstance(m, str) for m in mix)
            or isinstance(interval, bool) or not isinstance(interval, int | float)):
        fail_usage(f"{run_dir}/run.json: nemesis or nemesis_interval_s is damaged; the run "
                   "cannot be replayed exactly")
    return {"nemesis": ",".join(mix), "nemesis_interval_s": float(interval)}


def _load_schedule(path: Path) -> tuple[Any, ...] | None:
    """The schedule a run wrote (None if it wrote none), each step checked, so that a damaged
    file is one line naming the line, not a failure half-way into the replay."""
    from chaos.nemesis import Step

    if not path.is_file():
        return None
    steps = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        fail_usage(f"{path}: cannot read it ({getattr(e, 'strerror', None) or e})")
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            step = json.loads(line)
            Step.from_json(step)
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            fail_usage(f"{path}:{lineno}: not a schedule step ({type(e).__name__}: {e}); the "
                       f"run's schedule is damaged, so it cannot be replayed exactly")
        steps.append(step)
    return tuple(steps)


@cli.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
def report(run_dir: Path) -> None:
    """Write RUN_DIR/report.html again from the history and results."""
    from chaos import store
    from checker import report as report_mod

    _load_run_json(run_dir)
    path = run_dir / "report.html"
    try:
        with store.whole_or_none(path):
            path = report_mod.write_report(run_dir)
    except OSError as e:
        if e.filename is not None and not Path(e.filename).name.startswith(path.name):
            fail_usage(f"{e.filename}: cannot read it ({e.strerror}); check the run directory")
        raise HarnessProblem(store.describe(e, path, otherwise="and run chaos report again")
                             ) from e
    except ValueError as e:  # a damaged results.json or history (HistoryError, JSON errors)
        fail_usage(f"{run_dir}: cannot make its report ({e}); its run.json, results.json or "
                   f"history.jsonl is damaged")
    print(f"chaos: report written to {path}")


# Commands defined in their own modules, registered here.
from chaos.maelstrom_cmd import Machinery, make_maelstrom_group  # noqa: E402, I001
cli.add_command(make_maelstrom_group(Machinery(  # looked up at each call: tests replace them
    build_config=lambda *a, **k: build_config(*a, **k),
    execute_run=lambda *a, **k: execute_run(*a, **k),
    fail_usage=lambda message: fail_usage(message),
)), name="maelstrom")
from chaos.serve import serve_command  # noqa: E402, I001 (light: its server loads on use)
cli.add_command(serve_command, name="serve")
from chaos.suite import suite_command  # noqa: E402, I001 (light: runs load on use)
cli.add_command(suite_command, name="suite")


def main() -> None:
    """The console script: usage errors become one line and exit 2."""
    try:
        cli.main(standalone_mode=False)
    except HarnessProblem as e:
        print(f"chaos: harness failed: {e.format_message()}", file=sys.stderr)
        sys.exit(EXIT_HARNESS)
    except click.exceptions.NoArgsIsHelpError as e:
        print(e.format_message() if hasattr(e, "format_message") else str(e))
        sys.exit(EXIT_USAGE)
    except click.UsageError as e:
        command = e.ctx.command_path if e.ctx is not None else "chaos"
        print(f"{command}: error: {e.format_message()}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    except click.ClickException as e:
        print(f"chaos: error: {e.format_message()}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    except click.exceptions.Abort:
        sys.exit(EXIT_INTERRUPTED)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except BrokenPipeError:
        sys.exit(0)
    except OSError as e:  # the machine refused us something: no bug, so no traceback
        print(f"chaos: harness failed: {e}", file=sys.stderr)
        sys.exit(EXIT_HARNESS)
    except Exception as e:  # a bug of ours; never exit 1, which says an anomaly was found
        traceback.print_exc()
        print(f"chaos: harness failed: {internal_error(e)}", file=sys.stderr)
        sys.exit(EXIT_HARNESS)


if __name__ == "__main__":
    main()
