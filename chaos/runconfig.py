"""The parameters of one run, and the command line that repeats it.

    config = RunConfig(scenario=load_scenario("partition-heal"), service="broadcast",
                       node_cmd=None, bug=None, seed=7, store=Path("logs"))
    reproduce_command(config)   # 'chaos run partition-heal --seed 7 ...'

The reproduce command states every parameter as resolved (the time limit, the cluster, the
load, a random mix's faults and interval, a baseline latency), so it runs the same schedule
over the same network whatever the scenario file says by default.

`RunConfig` is what `orchestrator.Run` runs and what `run.json` records, so that `chaos replay`
can run it again; the CLI builds one from its options (`chaos.cli`).
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scenarios.schema import Scenario
from scenarios.workloads import get_spec


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


def reproduce_command(c: RunConfig) -> str:
    sc = c.scenario
    source = str(sc.path) if sc.is_file and sc.path else sc.name
    argv = ["chaos", "run", source, "--seed", str(c.seed), "--time-limit",
            exact(sc.time_limit_s), "--nodes", str(c.nodes), "--workload", c.workload,
            "--rate", f"{c.rate:g}", "--concurrency", str(c.concurrency)]
    if c.node_cmd:
        argv += ["--node-cmd", " ".join(shlex.quote(a) for a in c.node_cmd)]
    elif c.service is not None and c.service != get_spec(c.workload).service:
        argv += ["--service", c.service]  # not the workload's own: say which
    if c.bug:
        argv += ["--bug", c.bug]
    if sc.nemesis:  # the mix, as resolved: the same whether it came from the file or options
        argv += ["--nemesis", ",".join(sc.nemesis), "--nemesis-interval",
                 exact(sc.mix_interval_s)]
    if sc.latency_ms > 0:  # from the file or the options alike, as resolved
        argv += ["--latency", exact(sc.latency_ms), "--latency-dist", sc.latency_dist]
    for name, value in sc.param_overrides:  # the file's own parameters come from the file
        argv += ["--param", f"{name}={param_text(value)}"]
    if sc.availability is not None:
        argv += ["--availability", "total" if sc.availability == 1 else exact(sc.availability)]
    if c.simulate:
        argv += ["--simulate"]
    if c.store != Path("logs"):
        argv += ["--store", str(c.store)]
    return " ".join(shlex.quote(a) for a in argv)


def param_text(value_json: str) -> str:
    """A `--param` value as typed: text bare when reading it as JSON fails (`tree4`), so that
    it reads back the same; anything else as JSON (`4`, `["a","b"]`, `"4"` for the text 4)."""
    value = json.loads(value_json)
    if isinstance(value, str):
        try:
            json.loads(value)
        except ValueError:
            return value
    return value_json


def exact(x: float) -> str:
    """A number as short as it prints (`2.5`, `3`) yet read back exactly: a rescaled interval
    such as 2.333333 must not become 2.33333 in the command that reproduces the run."""
    short = f"{x:g}"
    return short if float(short) == x else repr(float(x))
