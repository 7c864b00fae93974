"""Named scenarios: TOML files shipped in this package, their loader, and the workloads.

    sc = load_scenario("partition-heal")          # a shipped scenario, by name
    sc = load_scenario("my/own.toml")              # or any file, by path
    short = sc.with_overrides(time_limit_s=8)      # `--time-limit 8`: same shape, shorter
    [s.name for s in list_scenarios()]             # what `chaos list` shows

A scenario is data: a workload, a cluster size, a client load and a fault timeline
(`scenarios.schema` documents every key, the implicit final heal, and rescaling). Workloads,
the client-side operation generators bound to their checkers, live in `scenarios.workloads`.

The loader lives in `scenarios.loader` and the schema in `scenarios.schema`; this module only
re-exports them, so `from scenarios.loader import load_scenario` works too (it does even when an
editable install maps `scenarios` as a namespace package and skips this file).

A name without a `/` and without `.toml` is looked up among the packaged files; anything else is
a path. A bad file raises `ScenarioError` with one line naming the file, line, key and fix.
"""

from __future__ import annotations

from checker.fault_kinds import FAULT_NAMES as FAULTS
from checker.fault_kinds import SHAPES, TARGETS
from scenarios.loader import list_scenarios, load_scenario, scenario_dir
from scenarios.schema import Scenario, parse_scenario
from scenarios.timeline import FaultEvent
from scenarios.validation import ScenarioError

__all__ = [
    "FAULTS",
    "SHAPES",
    "TARGETS",
    "FaultEvent",
    "Scenario",
    "ScenarioError",
    "list_scenarios",
    "load_scenario",
    "parse_scenario",
    "scenario_dir",
]
