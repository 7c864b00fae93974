"""`chaos suite`: a matrix of runs for CI, each run a `chaos run` subprocess, judged, summed up.

    chaos suite [SUITE.toml] [--scenarios a,b,c] [--seeds 1-5] [--time-limit S] [--simulate]
                [--shard K/N] [--junit FILE] [--store DIR] [--fail-fast]
                [--run-timeout S] [--budget S]

A suite is scenarios x workloads x targets (built-in services, or node programs) x seeds, plus
planted bugs that are *expected* to be caught, run one after another, each as a `chaos run
... --json` subprocess that cannot take the suite down and is stopped with everything it
started when it runs over its time or the suite is stopped (`chaos.runner`). A line is printed
per run as it finishes, and a table at the end.

A suite file (`suites/nightly.toml` is the example; docs/ci.md the guide):

    name = "nightly"                  # optional: the file's stem; the JUnit testsuite's name
    description = "one line"
    scenarios = ["partition-heal", "isolate-node", "my-scenario.toml"]  # paths: from this file
    seeds = "1-5"                     # or [1, 2, 7]; default 1
    time_limit_s = 10                 # optional: each scenario's own fault phase otherwise
    simulate = false                  # run the built-in services in simulation
    run_timeout_s = 300               # optional: default 120 s + twice the run's length
    budget_s = 3600                   # optional: no run starts after this; the rest are skipped
    workloads = ["lin-kv"]            # optional axis: each scenario's own workload otherwise
    services = ["raft"]               # optional axis: the workload's built-in service otherwise
    node_cmds = ["python3 my_node.py"]  # optional axis: your programs (run from the current
                                      # directory), beside the services or instead
    [options]                         # optional: passed to every run
    nodes = 5
    rate = 50
    concurrency = 5
    nemesis = ["partition", "kill"]   # a random mix instead of the scenarios' timelines
    nemesis_interval_s = 4
    latency_ms = 10                   # Maelstrom's --latency, with latency_dist
    availability = 0.5                # "total", or the fraction that must succeed
    [options.params]                  # the workload's parameters, as chaos run --param
    topology = "tree4"
    [[bugs]]                          # a planted bug: its runs must be caught (exit 1)
    service = "raft"                  # optional: the workload's built-in service
    bug = "stale-read"                # or node_cmd = "python3 faulty.py", a faulty program
    scenarios = ["partition-heal"]    # optional: the suite's scenarios
    seeds = [1, 2]                    # optional: the suite's seeds
    workload = "lin-kv"               # optional: each scenario's own
    simulate = true                   # optional: the suite's (a seed then replays exactly)
    expect = "invalid"                # the default; "valid" says the bug must go unnoticed

Durations end in `_s` as in scenario files (`time_limit` is refused with a pointer to
`time_limit_s`). Unknown keys and wrong types are one line naming the file, the key and the
fix, exit 2, before anything runs; so are unknown scenarios, workloads, services and bugs, and
a combination `chaos run` would refuse (a scenario aiming at `leader` with a node program).
`--scenarios`, `--seeds`, `--time-limit` and `--simulate` replace the file's values; a `[[bugs]]`
entry that names its own scenarios, seeds or simulate keeps them.

The matrix has a stable order: the suite's scenarios, then workloads, targets and seeds, each
in the order given, then each bug entry's scenarios and seeds. `--shard K/N` (1 <= K <= N) takes
the runs whose position i (from 0) has i mod N == K - 1: N CI runners given the same suite and
options split it with no overlap and nothing left out.

Each run passes when its verdict is the one expected: valid, or for a planted bug invalid. The
suite's exit code is the worst of its runs' (`chaos.runner.worst_exit_code`): 130 interrupted,
then 1 an anomaly (false > unknown > true, DESIGN.md), then 4 a harness problem (a run that
died, or was stopped over its `--run-timeout`; also a planted bug that went uncaught: the
harness failed to see a known failure), then 2 a run that refused its options, then 3 unknown
(a run with nothing to judge, or runs not started because `--budget` ran out), then 0.
`--budget` stops the suite from starting runs; a run already started keeps its own
`--run-timeout`, so give CI's job limit minus one run timeout. `--fail-fast` stops after the
first run that did not pass. Ctrl-C, SIGTERM (a cancelled CI job) and SIGHUP stop the running
run and the suite, which still prints its table and writes its JUnit file (exit 130). Runs not
started are reported as skipped.

`--junit FILE` writes JUnit XML (`chaos.junit`): a test case per run of this shard.

Not yet: runs in parallel (a chaos run wants both cores of a small machine; the CI's job matrix
spreads runs over machines instead), retrying a flaky run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import shlex
import shutil
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from chaos.runner import (
    EXIT_HARNESS,
    EXIT_INTERRUPTED,
    EXIT_UNKNOWN,
    EXIT_VALID,
    Expect,
    Interrupted,
    RunOutcome,
    RunSpec,
    default_timeout_s,
    run_one,
    skipped,
    worst_exit_code,
)

if TYPE_CHECKING:
    from scenarios.validation import Validator

SEED_MAX = 2**63 - 1
SEEDS_MAX = 10_000  # seeds of one suite: a typo of an extra zero is caught, not run for a month
RUNS_MAX = 10_000
SHARDS_MAX = 1_000

_TOP_KEYS = ("name", "description", "scenarios", "seeds", "time_limit_s", "simulate",
             "run_timeout_s", "budget_s", "workloads", "services", "node_cmds", "options", "bugs")
_OPTION_KEYS = ("nodes", "rate", "concurrency", "nemesis", "nemesis_interval_s", "latency_ms",
                "latency_dist", "availability", "params")
_BUG_KEYS = ("service", "bug", "node_cmd", "scenarios", "seeds", "workload", "simulate",
             "expect")


class SuiteError(ValueError):
    """A bad suite file or option: one line naming the file or option, the key and the fix."""


# --- the suite: file, options, matrix ------------------------------------------------------------


@dataclass(frozen=True)
class BugEntry:
    """A `[[bugs]]` entry: runs that must come out `expect` (a planted bug: invalid)."""

    where: str  # "FILE: bugs[0]", for messages
    bug: str | None
    node_cmd: str | None
    service: str | None
    workload: str | None
    scenarios: tuple[str, ...] | None  # None: the suite's
    seeds: tuple[int, ...] | None  # None: the suite's
    simulate: bool | None  # None: the suite's
    expect: Expect


@dataclass(frozen=True)
class Suite:
    """A validated suite: the file's values with the command line's replacing them."""

    name: str
    scenarios: tuple[str, ...]
    seeds: tuple[int, ...] = (1,)
    description: str = ""
    path: Path | None = None
    time_limit_s: float | None = None
    simulate: bool = False
    run_timeout_s: float | None = None
    budget_s: float | None = None
    workloads: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    node_cmds: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    bugs: tuple[BugEntry, ...] = ()



def parse_seeds(value: Any, where: str) -> tuple[int, ...]:
    """Seeds as `"1-5"`, `"1,2,7"`, `"3"` or a list of integers, each once."""
    fix = 'give a range such as "1-5", a list such as [1, 2, 7], or "1,2,7"'
    seeds: list[int] = []
    if isinstance(value, list):
        for i, seed in enumerate(value):
            if isinstance(seed, bool) or not isinstance(seed, int):
                raise SuiteError(f"{where}[{i}]: {seed!r} is not a whole number; {fix}")
            seeds.append(seed)
    elif isinstance(value, str):
        for part in value.split(","):
            m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
            if m is None:
                raise SuiteError(f"{where}: {value!r} is not seeds; {fix}")
            low, high = int(m.group(1)), int(m.group(2) or m.group(1))
            if high < low:
                raise SuiteError(f"{where}: {part.strip()!r} runs backwards; write {high}-{low}")
            if high - low >= SEEDS_MAX:
                raise SuiteError(f"{where}: {part.strip()!r} is more than {SEEDS_MAX} seeds; "
                                 "give a shorter range")
            seeds.extend(range(low, high + 1))
    else:
        raise SuiteError(f"{where}: {value!r} is not seeds; {fix}")
    if not seeds:
        raise SuiteError(f"{where}: no seeds; {fix}")
    for seed in seeds:
        if not 0 <= seed <= SEED_MAX:
            raise SuiteError(f"{where}: seed {seed} is out of range; use 0 to {SEED_MAX}")
    if len(seeds) > SEEDS_MAX:
        raise SuiteError(f"{where}: {len(seeds)} seeds, more than {SEEDS_MAX}; give fewer")
    twice = [seed for seed, count in Counter(seeds).items() if count > 1]
    if twice:
        raise SuiteError(f"{where}: seed {twice[0]} is listed twice; list each seed once")
    return tuple(seeds)


def parse_shard(value: str) -> tuple[int, int]:
    """`K/N`: this is runner K (from 1) of N."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", value)
    fix = "give K/N with 1 <= K <= N, such as --shard 1/4 (runner 1 of 4)"
    if m is None:
        raise SuiteError(f"--shard: {value!r} is not K/N; {fix}")
    k, n = int(m.group(1)), int(m.group(2))
    if not 1 <= k <= n or n > SHARDS_MAX:
        raise SuiteError(f"--shard: {value} is out of range; {fix} (N at most {SHARDS_MAX})")
    return k, n


def shard(runs: Sequence[RunSpec], k: int, n: int) -> list[RunSpec]:
    """Runner K of N's share: the runs whose matrix position i has i mod N == K - 1."""
    return [r for r in runs if r.index % n == k - 1]


def load_suite(path: Path) -> Suite:
    """Read and validate a suite file (paths in it are relative to the file)."""
    import tomllib

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise SuiteError(f"{path}: cannot read it ({getattr(e, 'strerror', None) or e}); "
                         "give a readable suite .toml file") from e
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SuiteError(f"{path}: not valid TOML ({e}); fix the syntax") from e
    return parse_suite(doc, where=str(path), base=path.parent, name=path.stem, text=text)


def parse_suite(doc: Mapping[str, Any], *, where: str, base: Path, name: str,
                text: str | None = None) -> Suite:
    """Validate a suite document: its keys, their types and the names they give. Errors are
    `SuiteError`s: `FILE:LINE: KEY: problem; fix` (the line where it can be found)."""
    from scenarios.validation import ScenarioError, Validator

    try:
        return _parse_suite(doc, Validator(where, text), base=base, name=name)
    except ScenarioError as e:  # what `Validator.fail` raises
        raise SuiteError(str(e)) from None


def _parse_suite(doc: Mapping[str, Any], v: Validator, *, base: Path, name: str) -> Suite:
    where = v.where
    _known_keys(v, doc, _TOP_KEYS, "")
    if "scenarios" not in doc:
        v.fail("scenarios", "missing", 'list the scenarios to run, such as ["partition-heal"]')
    scenarios = tuple(_scenario_ref(v, f"scenarios[{i}]", s, base)
                      for i, s in enumerate(_strings(v, "scenarios", doc["scenarios"])))
    seeds = _seeds(v, "seeds", doc["seeds"]) if "seeds" in doc else (1,)
    options = doc.get("options", {})
    if not isinstance(options, dict):
        v.fail("options", f"must be a table, not {options!r}", "write [options] with keys "
               + ", ".join(_OPTION_KEYS))
    _known_keys(v, options, _OPTION_KEYS, "options.")
    bugs = doc.get("bugs", [])
    if not isinstance(bugs, list) or not all(isinstance(b, dict) for b in bugs):
        v.fail("bugs", "must be an array of tables", "write each entry as [[bugs]]")
    node_cmds = _strings(v, "node_cmds", doc.get("node_cmds", []), empty_ok=True)
    for i, cmd in enumerate(node_cmds):
        _node_cmd(v, f"node_cmds[{i}]", cmd)
    title = doc.get("name", name)
    if not isinstance(title, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", title):
        v.fail("name", f"{title!r} is not a name", "use letters, digits, '.', '_' and '-'")
    description = doc.get("description", "")
    if not isinstance(description, str):
        v.fail("description", f"must be a string, not {description!r}", "write one line")
    return Suite(
        name=title, description=description, path=Path(where), scenarios=scenarios, seeds=seeds,
        time_limit_s=_seconds(v, "time_limit_s", doc.get("time_limit_s"), high=86_400),
        simulate=_flag(v, "simulate", doc.get("simulate", False)),
        run_timeout_s=_seconds(v, "run_timeout_s", doc.get("run_timeout_s"), high=86_400),
        budget_s=_seconds(v, "budget_s", doc.get("budget_s"), high=7 * 86_400),
        workloads=_workloads(v, "workloads", doc.get("workloads", [])),
        services=_services(v, "services", doc.get("services", [])),
        node_cmds=node_cmds, options=_options(v, options),
        bugs=tuple(_bug_entry(v, i, entry, base) for i, entry in enumerate(bugs)),
    )


def _known_keys(v: Validator, table: Mapping[str, Any], known: Sequence[str], prefix: str) -> None:
    from scenarios.validation import suggest

    for key in table:
        if key not in known:
            hint = suggest(key, known) or suggest(f"{key}_s", known) or suggest(f"{key}s", known)
            v.fail(f"{prefix}{key}", f"unknown key{hint}", f"use {', '.join(known)}")


def _strings(v: Validator, key: str, value: Any, *, empty_ok: bool = False) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(s, str) and s for s in value):
        v.fail(key, f"must be a list of names, not {value!r}", 'write ["a", "b"]')
    if not value and not empty_ok:
        v.fail(key, "is empty", "name at least one")
    for i, s in enumerate(value):
        if s in value[:i]:
            v.fail(key, f"{s!r} is listed twice", "list each once")
    return tuple(value)


def _seeds(v: Validator, key: str, value: Any) -> tuple[int, ...]:
    from scenarios.validation import line_of

    try:
        return parse_seeds(value, key)
    except SuiteError as e:
        line = line_of(v.text, key, None)
        raise SuiteError(f"{v.where}:{line}: {e}" if line else f"{v.where}: {e}") from None


def _seconds(v: Validator, key: str, value: Any, *, high: float) -> float | None:
    return None if value is None else v.number(key, value, low=0.0, high=high, low_open=True)


def _flag(v: Validator, key: str, value: Any) -> bool:
    v.boolean(key, value)
    return bool(value)


def _scenario_ref(v: Validator, key: str, ref: str, base: Path) -> str:
    """A packaged scenario's name, or a scenario file's absolute path (relative to `base`)."""
    from scenarios.loader import load_scenario
    from scenarios.schema import ScenarioError

    is_path = "/" in ref or ref.endswith(".toml")
    full = str((base / ref).resolve()) if is_path else ref
    try:
        load_scenario(full)
    except ScenarioError as e:
        v.fail(key, str(e), "fix the scenario or the name")
    return full


def _workloads(v: Validator, key: str, value: Any) -> tuple[str, ...]:
    from scenarios.workloads import WORKLOADS

    names = _strings(v, key, value, empty_ok=True)
    for i, name in enumerate(names):
        v.choice(f"{key}[{i}]", name, WORKLOADS, what="workload")
    return names


def _services(v: Validator, key: str, value: Any) -> tuple[str, ...]:
    from node.services import SERVICES

    names = _strings(v, key, value, empty_ok=True)
    for i, name in enumerate(names):
        v.choice(f"{key}[{i}]", name, sorted(SERVICES), what="service")
    return names


def _node_cmd(v: Validator, key: str, cmd: Any) -> str:
    if not isinstance(cmd, str) or not cmd.strip():
        v.fail(key, f"must be a command, not {cmd!r}", "write one such as 'python3 my_node.py'")
    try:
        argv = shlex.split(cmd)
    except ValueError as e:
        v.fail(key, f"cannot split {cmd!r} into words ({e})", "balance its quotes")
    if shutil.which(argv[0]) is None:
        v.fail(key, f"{argv[0]!r} is not an executable on PATH or a path to one",
               "give the program's full path")
    return str(cmd)


def _options(v: Validator, options: Mapping[str, Any]) -> dict[str, Any]:
    from checker.fault_kinds import MIX_FAULTS
    from scenarios.schema import LATENCY_DISTRIBUTIONS, LATENCY_MS_MAX

    out: dict[str, Any] = {}
    for key, value in options.items():
        k = f"options.{key}"
        if key == "nodes":
            out[key] = v.integer(k, value, low=1, high=64)
        elif key == "concurrency":
            out[key] = v.integer(k, value, low=1, high=1000)
        elif key == "rate":
            out[key] = v.number(k, value, low=0.0, high=100_000.0, low_open=True)
        elif key == "nemesis_interval_s":
            out[key] = v.number(k, value, low=0.0, high=86_400.0, low_open=True)
        elif key == "latency_ms":
            out[key] = v.number(k, value, low=0.0, high=LATENCY_MS_MAX)
        elif key == "latency_dist":
            out[key] = v.choice(k, value, LATENCY_DISTRIBUTIONS, what="latency distribution")
        elif key == "availability":
            out[key] = value if value == "total" else v.number(k, value, low=0.0, high=1.0)
        elif key == "params":  # the workload's parameters, as `chaos run --param`
            if not isinstance(value, dict):
                v.fail(k, f"must be a table, not {value!r}",
                       "write [options.params] with name = value lines, such as topology = "
                       '"tree4"')
            out[key] = tuple(sorted((str(name), json.dumps(val, separators=(",", ":")))
                                    for name, val in value.items()))
        else:  # nemesis
            kinds = _strings(v, k, value)
            for i, kind in enumerate(kinds):
                v.choice(f"{k}[{i}]", kind, MIX_FAULTS, what="fault")
            out[key] = kinds
    return out


def _bug_entry(v: Validator, i: int, entry: Mapping[str, Any], base: Path) -> BugEntry:
    from node.services import SERVICES

    key = f"bugs[{i}]"
    _known_keys(v, entry, _BUG_KEYS, f"{key}.")
    bug, node_cmd = entry.get("bug"), entry.get("node_cmd")
    if (bug is None) == (node_cmd is None):
        v.fail(key, "gives both bug and node_cmd" if bug else "gives neither bug nor node_cmd",
               'give one: bug = "stale-read" (see `chaos list`) or node_cmd = "python3 bad.py" '
               "(a program known to be faulty)")
    if node_cmd is not None:
        _node_cmd(v, f"{key}.node_cmd", node_cmd)
        if "service" in entry:
            v.fail(f"{key}.service", "a node_cmd entry runs its program, not a service",
                   "drop service or node_cmd")
    service = entry.get("service")
    if service is not None:
        v.choice(f"{key}.service", service, sorted(SERVICES), what="service")
    if bug is not None and not isinstance(bug, str):
        v.fail(f"{key}.bug", f"must be a bug's name, not {bug!r}", "see `chaos list`")
    workload = entry.get("workload")
    if workload is not None:
        from scenarios.workloads import WORKLOADS

        v.choice(f"{key}.workload", workload, WORKLOADS, what="workload")
    scenarios = None
    if "scenarios" in entry:
        scenarios = tuple(_scenario_ref(v, f"{key}.scenarios[{j}]", s, base) for j, s in
                          enumerate(_strings(v, f"{key}.scenarios", entry["scenarios"])))
    seeds = _seeds(v, f"{key}.seeds", entry["seeds"]) if "seeds" in entry else None
    simulate = _flag(v, f"{key}.simulate", entry["simulate"]) if "simulate" in entry else None
    expect = v.choice(f"{key}.expect", entry.get("expect", "invalid"), ("invalid", "valid"),
                      what="expectation")
    return BugEntry(where=f"{v.where}: {key}", bug=bug, node_cmd=node_cmd, service=service,
                    workload=workload, scenarios=scenarios, seeds=seeds, simulate=simulate,
                    expect="invalid" if expect == "invalid" else "valid")


def scenario_list(value: str) -> tuple[str, ...]:
    """`--scenarios a,b,c`, each a scenario known to `chaos list` (or a .toml path)."""
    from scenarios.loader import load_scenario
    from scenarios.schema import ScenarioError

    names = tuple(n.strip() for n in value.split(",") if n.strip())
    if not names:
        raise SuiteError("--scenarios is empty; give names from `chaos list`, comma-separated")
    refs = []
    for name in names:
        ref = str(Path(name).resolve()) if "/" in name or name.endswith(".toml") else name
        try:
            load_scenario(ref)
        except ScenarioError as e:
            raise SuiteError(f"--scenarios: {e}") from e
        refs.append(ref)
    if len(set(refs)) < len(refs):
        raise SuiteError("--scenarios: a scenario is listed twice; list each once")
    return tuple(refs)


def build_matrix(suite: Suite) -> list[RunSpec]:
    """Every run of the suite, in its stable order, each checked as `chaos run` would."""
    from scenarios.loader import load_scenario
    from scenarios.schema import ScenarioError
    from scenarios.workloads import get_spec

    where = str(suite.path) if suite.path else "chaos suite"
    options = tuple((k, suite.options[k]) for k in _OPTION_KEYS if k in suite.options)
    runs: list[RunSpec] = []
    seen: dict[tuple[Any, ...], int] = {}

    def add(scenario: str, workload: str | None, service: str | None, node_cmd: str | None,
            bug: str | None, seeds: Iterable[int], simulate: bool, expect: Expect,
            origin: str) -> None:
        sc = load_scenario(scenario)  # validated before: cannot fail
        workload = workload or sc.workload
        if node_cmd is None and service is None:
            service = get_spec(workload).service
            if service is None:
                raise SuiteError(f"{origin}: no built-in service implements {workload}; give "
                                 "node_cmds (your program) or another workload")
        if bug is not None:
            _check_bug(origin, service, bug)
        if node_cmd is not None and simulate:
            raise SuiteError(f"{origin}: a node program cannot be simulated; drop simulate "
                             "or the node command")
        try:
            checked = sc.with_overrides(
                time_limit_s=suite.time_limit_s, nodes=suite.options.get("nodes"),
                workload=workload, rate=suite.options.get("rate"),
                concurrency=suite.options.get("concurrency"),
                nemesis=suite.options.get("nemesis"),
                nemesis_interval_s=suite.options.get("nemesis_interval_s"),
                latency_ms=suite.options.get("latency_ms"),
                latency_dist=suite.options.get("latency_dist"),
                availability=(1.0 if suite.options.get("availability") == "total"
                              else suite.options.get("availability")),
                params={name: json.loads(text)
                        for name, text in suite.options.get("params", ())})
            if node_cmd is not None:
                checked.check_stdio_nodes("node_cmds")
        except ScenarioError as e:
            raise SuiteError(f"{origin}: scenario {sc.name} with workload {workload}: {e}") from e
        timeout_s = suite.run_timeout_s or default_timeout_s(checked.duration_s)
        for seed in seeds:
            spec = RunSpec(
                index=len(runs), scenario=scenario, workload=workload,
                seed=seed, service=None if node_cmd else service, node_cmd=node_cmd, bug=bug,
                expect=expect, time_limit_s=suite.time_limit_s, simulate=simulate,
                options=options, timeout_s=timeout_s)
            identity = (scenario, spec.case_name)
            if identity in seen:
                raise SuiteError(f"{origin}: {sc.name} {spec.case_name} is in the suite twice; "
                                 "run each combination once")
            seen[identity] = spec.index
            runs.append(spec)
            if len(runs) > RUNS_MAX:
                raise SuiteError(f"{where}: more than {RUNS_MAX} runs; split the suite")

    targets: list[tuple[str | None, str | None]] = [(s, None) for s in suite.services]
    targets += [(None, c) for c in suite.node_cmds]
    for scenario in suite.scenarios:
        for workload in suite.workloads or (None,):
            for service, node_cmd in targets or [(None, None)]:
                add(scenario, workload, service, node_cmd, None, suite.seeds, suite.simulate,
                    "valid", where)
    for entry in suite.bugs:
        for scenario in entry.scenarios or suite.scenarios:
            simulate = suite.simulate if entry.simulate is None else entry.simulate
            add(scenario, entry.workload, entry.service, entry.node_cmd, entry.bug,
                entry.seeds or suite.seeds, simulate, entry.expect, entry.where)
    return runs


def _check_bug(origin: str, service: str | None, bug: str) -> None:
    from node.services import UnknownServiceError, check

    try:
        check(str(service), bug)
    except UnknownServiceError as e:
        raise SuiteError(f"{origin}: {e}") from e


# --- the command ---------------------------------------------------------------------------------


def run_suite(runs: Sequence[RunSpec], store: Path, *, fail_fast: bool, budget_s: float | None,
              on_start: Callable[[int, RunSpec], None] = lambda i, spec: None,
              on_done: Callable[[int, RunOutcome], None] = lambda i, outcome: None,
              ) -> tuple[list[RunOutcome], bool]:
    """Run `runs` one after another; (their outcomes, whether Ctrl-C stopped the suite)."""
    started = time.monotonic()
    outcomes: list[RunOutcome] = []
    stop_reason = ""
    skip_code = EXIT_VALID  # what a run not started adds: fail-fast's failure is counted already
    interrupted = False
    for i, spec in enumerate(runs):
        if not stop_reason and budget_s is not None and time.monotonic() - started > budget_s:
            # DESIGN.md: 3 is "nothing to judge, or a budget ran out".
            stop_reason = f"not started: the suite's budget of {budget_s:g} s was spent"
            skip_code = EXIT_UNKNOWN
        if stop_reason:
            outcomes.append(skipped(spec, stop_reason, counted_exit_code=skip_code))
            continue
        try:
            on_start(i, spec)
            outcome = run_one(spec, store)
        except KeyboardInterrupt as e:  # the run is stopped already (chaos.runner.run_process)
            interrupted = True
            stop_reason, skip_code = "not started: the suite was interrupted", EXIT_INTERRUPTED
            outcome = dataclasses.replace(
                e.outcome if isinstance(e, Interrupted) and e.outcome is not None else
                RunOutcome(spec=spec, status="error", exit_code=None, counted_exit_code=0,
                           reason="", reproduce=spec.command(store)),
                status="error", counted_exit_code=EXIT_INTERRUPTED,
                reason="interrupted: stopped with the suite")
        outcomes.append(outcome)
        try:
            on_done(i, outcome)
        except KeyboardInterrupt:
            interrupted = True
            stop_reason, skip_code = "not started: the suite was interrupted", EXIT_INTERRUPTED
        if fail_fast and outcome.status != "passed" and not stop_reason:
            stop_reason = "not started: --fail-fast after a run that did not pass"
    return outcomes, interrupted


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP (a CI job cancelled, a terminal closed) stop the suite as Ctrl-C does."""
    def raise_interrupt(signum: int, frame: Any) -> NoReturn:
        raise KeyboardInterrupt

    old = {s: signal.signal(s, raise_interrupt) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


def _fail(message: str) -> NoReturn:
    raise click.UsageError(message)


def _row(outcome: RunOutcome) -> list[str]:
    verdict = {True: "valid", False: "INVALID"}.get(outcome.valid, "unknown")
    if outcome.status == "skipped":
        verdict = "-"
    elif outcome.spec.expect == "invalid" and outcome.valid is False:
        verdict = "INVALID (expected)"
    label = {"passed": "pass", "failed": "FAIL", "error": "ERROR", "skipped": "skip"}
    return [label[outcome.status], outcome.spec.scenario_name, outcome.spec.case_name, verdict,
            f"{outcome.duration_s:.1f} s", outcome.run_dir or "-"]


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    return "\n".join("  " + "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True))
                     .rstrip() for r in rows)


@click.command("suite")
@click.argument("suite_file", required=False,
                type=click.Path(dir_okay=False, path_type=Path))
@click.option("--scenarios", default=None, metavar="A,B,C",
              help="Scenarios to run (replacing the file's), comma-separated.")
@click.option("--seeds", default=None, metavar="1-5",
              help='Seeds, as "1-5" or "1,2,7" (replacing the file\'s; default 1).')
@click.option("--time-limit", "time_limit_s", type=click.FloatRange(0, 86_400, min_open=True),
              default=None, metavar="S", help="Fault phase of every run, in seconds.")
@click.option("--simulate", is_flag=True, help="Run every built-in service in simulation.")
@click.option("--shard", "shard_text", default=None, metavar="K/N",
              help="Run only this runner's share: runner K (from 1) of N.")
@click.option("--junit", "junit_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, metavar="FILE", help="Write JUnit XML, a test case per run.")
@click.option("--store", type=click.Path(file_okay=False, path_type=Path), default=Path("logs"),
              show_default=True, help="Root of the run store.")
@click.option("--fail-fast", is_flag=True,
              help="Stop after the first run that does not go as expected.")
@click.option("--run-timeout", "run_timeout_s", type=click.FloatRange(0, 86_400, min_open=True),
              default=None, metavar="S",
              help="Stop a run after S seconds: a harness problem (default: 120 s plus twice "
                   "the run's length).")
@click.option("--budget", "budget_s", type=click.FloatRange(0, 7 * 86_400, min_open=True),
              default=None, metavar="S",
              help="Start no run after S seconds; the rest are reported as skipped.")
def suite_command(suite_file: Path | None, scenarios: str | None, seeds: str | None,
                  time_limit_s: float | None, simulate: bool, shard_text: str | None,
                  junit_path: Path | None, store: Path, fail_fast: bool,
                  run_timeout_s: float | None, budget_s: float | None) -> None:
    """Run a suite: scenarios x workloads x services or programs x seeds, and planted bugs
    that must be caught. Exit with the worst run's code (a caught planted bug passes)."""
    try:
        suite = _configure(suite_file, scenarios=scenarios, seeds=seeds,
                           time_limit_s=time_limit_s, simulate=simulate,
                           run_timeout_s=run_timeout_s, budget_s=budget_s)
        matrix = build_matrix(suite)
        k, n = parse_shard(shard_text) if shard_text is not None else (1, 1)
        if n > len(matrix):
            raise SuiteError(f"--shard: {shard_text} splits {len(matrix)} runs {n} ways, so a "
                             f"runner would have nothing to run; use N of at most {len(matrix)}")
        runs = shard(matrix, k, n)
    except SuiteError as e:
        _fail(str(e))
    try:
        store.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        _fail(f"--store: cannot create {store} ({e.strerror}); pick a writable directory")
    if junit_path is not None and not junit_path.parent.is_dir():
        _fail(f"--junit: {junit_path.parent} is not a directory; create it or write elsewhere")
    part = f" (shard {k}/{n} of {len(matrix)})" if n > 1 else ""
    click.echo(f"chaos suite {suite.name}: {len(runs)} runs{part}, store {store}")
    width = len(str(len(runs)))

    def on_done(i: int, o: RunOutcome) -> None:
        row = _row(o)
        click.echo(f"[{i + 1:>{width}}/{len(runs)}] {row[0]:<5} {o.spec.scenario_name} "
                   f"{o.spec.case_name}  {row[3]}  {row[4]}  {row[5]}")
        if o.status != "passed":
            click.echo(f"    {o.reason}")
            if o.reproduce:
                click.echo(f"    reproduce with: {o.reproduce}")
        sys.stdout.flush()

    started_at = datetime.now(UTC)
    with _terminate_as_interrupt():
        outcomes, interrupted = run_suite(runs, store, fail_fast=fail_fast,
                                          budget_s=suite.budget_s, on_done=on_done)
    code = worst_exit_code(outcomes)
    click.echo(f"chaos suite {suite.name}: summary")
    click.echo(_table([["outcome", "scenario", "run", "verdict", "time", "run directory"],
                       *(_row(o) for o in outcomes)]))
    by = {s: sum(1 for o in outcomes if o.status == s)
          for s in ("passed", "failed", "error", "skipped")}
    if junit_path is not None:
        props = {"suite": suite.name, "shard": f"{k}/{n}", "matrix_runs": str(len(matrix)),
                 "store": str(store), "simulate": str(suite.simulate).lower()}
        if suite.path is not None:
            props["suite_file"] = str(suite.path)
        import socket

        from chaos.junit import junit_xml

        xml = junit_xml(suite.name, outcomes, timestamp=started_at,
                        hostname=socket.gethostname(), properties=props)
        try:
            junit_path.write_text(xml, encoding="utf-8")
        except OSError as e:
            click.echo(f"chaos: harness failed: --junit: cannot write {junit_path} "
                       f"({e.strerror})", err=True)
            sys.exit(EXIT_HARNESS if code != EXIT_INTERRUPTED else code)
        click.echo(f"chaos suite: JUnit written to {junit_path}")
    click.echo(f"chaos suite {suite.name}: {len(outcomes)} runs: {by['passed']} passed, "
               f"{by['failed']} failed, {by['error']} errors, {by['skipped']} skipped"
               + (" (interrupted)" if interrupted else "") + f"; exit {code}")
    sys.exit(code)


def _configure(suite_file: Path | None, *, scenarios: str | None, seeds: str | None,
               time_limit_s: float | None, simulate: bool, run_timeout_s: float | None,
               budget_s: float | None) -> Suite:
    """The suite file's values, with the command line's replacing them."""
    if suite_file is None:
        if scenarios is None:
            raise SuiteError("nothing to run: give a suite file (such as suites/nightly.toml) "
                             "or --scenarios a,b,c")
        suite = Suite(name="chaos-suite", scenarios=scenario_list(scenarios))
    else:
        if not suite_file.is_file():
            raise SuiteError(f"{suite_file}: no such suite file; check the path (an example: "
                             "suites/nightly.toml)")
        suite = load_suite(suite_file)
        if scenarios is not None:
            suite = dataclasses.replace(suite, scenarios=scenario_list(scenarios))
    changes: dict[str, Any] = {}
    if seeds is not None:
        changes["seeds"] = parse_seeds(seeds, "--seeds")
    if time_limit_s is not None:
        changes["time_limit_s"] = time_limit_s
    if simulate:
        changes["simulate"] = True
    if run_timeout_s is not None:
        changes["run_timeout_s"] = run_timeout_s
    if budget_s is not None:
        changes["budget_s"] = budget_s
    return dataclasses.replace(suite, **changes)
