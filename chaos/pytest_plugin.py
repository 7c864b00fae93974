"""A pytest plugin: chaos-test your own node program from your own test suite.

Installed with chaos-cluster (a `pytest11` entry point), it gives every test the `chaos_run`
fixture, which runs a scenario as `chaos run` does, in a subprocess, and judges its verdict:

    def test_my_store_survives_partitions(chaos_run):
        result = chaos_run("partition-heal", node_cmd="python3 my_node.py", workload="lin-kv",
                           seed=1, time_limit_s=10)
        assert result.counts["ok"] > 100          # and whatever else you want to see
        result.assert_valid()                      # (already checked: expect="valid")

    def test_the_checker_sees_a_planted_bug(chaos_run):   # a canary: failure must be visible
        chaos_run("partition-heal", service="raft", bug="stale-read", seed=1,
                  time_limit_s=3, simulate=True, expect="invalid")

The call takes `chaos run`'s options as keywords (durations end in `_s`, as everywhere here:
`time_limit_s`, `nemesis_interval_s`, and `timeout_s`, the run's own limit, by default 120 s
plus twice its length). With `expect="valid"` (the default) a run that is not valid fails the
test; with `expect="invalid"` a run that is not invalid does; with `expect=None` the verdict is
yours to judge with `result.valid`, `result.assert_valid()` or `result.assert_invalid()`.
Either way the failure message names the failing checkers, the anomaly (each one's headline
and explanation), the run directory and the command that reproduces the run. A harness problem
(exit 4: a node or the proxy could not start or died, or the run went over `timeout_s`) or
options `chaos run` refuses (exit 2) fail the test at once with the reason, whatever `expect`:
never a silent pass.

Runs go into a store under the test's `tmp_path` (pytest keeps the last few sessions' of them),
or into `--chaos-store DIR`. Each run is a process of its own, in a session of its own, stopped
with everything it started if it goes over its time or the test session is interrupted
(`chaos.runner`); the fixture's teardown checks that no process of its runs is left, kills any
it finds, and errors the test if so. `-p no:chaos` turns the plugin off.

Importing this module costs next to nothing: pytest imports it for every session of every
project in the environment, so the harness is imported only when a test calls the fixture.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pytest

if TYPE_CHECKING:
    from chaos.runner import Anomaly, RunOutcome

STORE_DIR_NAME = "chaos-runs"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("chaos", "chaos-cluster runs (the chaos_run fixture)")
    group.addoption("--chaos-store", metavar="DIR", default=None,
                    help="Keep the runs of the chaos_run fixture in this run store "
                         "(default: under each test's tmp_path).")


@dataclass(frozen=True)
class ChaosResult:
    """A judged run: its verdict, where it is, and how to run it again."""

    outcome: RunOutcome

    @property
    def valid(self) -> Any:
        """True, False or "unknown" (None if the run gave no verdict)."""
        return self.outcome.valid

    @property
    def exit_code(self) -> int | None:
        return self.outcome.exit_code

    @property
    def run_dir(self) -> Path | None:
        return Path(self.outcome.run_dir) if self.outcome.run_dir else None

    @property
    def reproduce(self) -> str:
        return self.outcome.reproduce

    @property
    def seed(self) -> int:
        return self.outcome.spec.seed

    @property
    def checkers(self) -> Mapping[str, Any]:
        """Each checker's verdict, by name."""
        return self.outcome.checkers

    @property
    def counts(self) -> Mapping[str, Any]:
        """Operations by outcome: invoke, ok, fail, info, ..."""
        return self.outcome.counts

    @property
    def anomalies(self) -> tuple[Anomaly, ...]:
        return self.outcome.anomalies

    @property
    def results(self) -> dict[str, Any]:
        """The run's results.json: every checker's full result (read on each access)."""
        import json

        if self.run_dir is None:
            return {}
        return dict(json.loads((self.run_dir / "results.json").read_text(encoding="utf-8")))

    def explain(self) -> str:
        """What happened, for a person: verdict, anomalies, run directory, reproduce command."""
        text = f"chaos_run: {self.outcome.describe()}"
        if self.outcome.log_tail and self.outcome.counted_exit_code == 4:  # a harness problem
            text += "\n  its output ended:\n" + "\n".join(
                f"    {line}" for line in self.outcome.log_tail.splitlines())
        return text

    def assert_valid(self) -> None:
        """Fail the test unless the run was valid (exit 0)."""
        if self.exit_code != 0:
            pytest.fail(self._expected("valid"), pytrace=False)

    def assert_invalid(self) -> None:
        """Fail the test unless the run found an anomaly (exit 1): for canaries."""
        if self.exit_code != 1:
            pytest.fail(self._expected("invalid"), pytrace=False)

    def _expected(self, verdict: str) -> str:
        shown = {True: "valid", False: "invalid"}.get(self.valid, "unknown")
        return f"expected a {verdict} run, got {shown} (exit {self.exit_code})\n{self.explain()}"


class ChaosRunner:
    """The `chaos_run` fixture's value: call it to run a scenario (see the module docstring)."""

    def __init__(self, store: Path) -> None:
        self.store = store
        self.run_dirs: list[str] = []

    def __call__(
        self,
        scenario: str,
        *,
        seed: int = 1,
        workload: str | None = None,
        service: str | None = None,
        node_cmd: str | Sequence[str] | None = None,
        bug: str | None = None,
        time_limit_s: float | None = None,
        nodes: int | None = None,
        rate: float | None = None,
        concurrency: int | None = None,
        nemesis: Sequence[str] | None = None,
        nemesis_interval_s: float | None = None,
        simulate: bool = False,
        timeout_s: float | None = None,
        expect: Literal["valid", "invalid"] | None = "valid",
    ) -> ChaosResult:
        """Run `scenario` (a name from `chaos list`, or a .toml path) and judge it."""
        import shlex

        from chaos.runner import RunSpec, run_one

        if expect not in ("valid", "invalid", None):
            raise ValueError(f"expect={expect!r}: use 'valid', 'invalid' or None")
        if node_cmd is not None and not isinstance(node_cmd, str):
            node_cmd = shlex.join(node_cmd)
        options = [("nodes", nodes), ("rate", rate), ("concurrency", concurrency),
                   ("nemesis", tuple(nemesis) if nemesis is not None else None),
                   ("nemesis_interval_s", nemesis_interval_s)]
        spec = RunSpec(
            scenario=str(scenario), seed=seed, workload=workload, service=service,
            node_cmd=node_cmd, bug=bug, expect=expect or "valid", time_limit_s=time_limit_s,
            simulate=simulate, options=tuple((k, v) for k, v in options if v is not None),
            timeout_s=timeout_s if timeout_s is not None else _timeout_s(scenario, time_limit_s),
        )
        outcome = run_one(spec, self.store)
        if outcome.run_dir:
            self.run_dirs.append(outcome.run_dir)
        result = ChaosResult(outcome)
        if outcome.status == "error" and outcome.counted_exit_code != 3:
            pytest.fail(f"chaos_run could not judge the run\n{result.explain()}", pytrace=False)
        if expect == "valid":
            result.assert_valid()
        elif expect == "invalid":
            result.assert_invalid()
        return result

    def leftovers(self) -> list[Any]:
        """Processes of this fixture's runs still alive (each carries its run directory on
        its command line, DESIGN.md): there should be none."""
        import psutil

        found = []
        for proc in psutil.process_iter(["cmdline"]):
            cmdline = " ".join(proc.info.get("cmdline") or ())
            if any(run_dir in cmdline for run_dir in self.run_dirs):
                found.append(proc)
        return found


def _timeout_s(scenario: str, time_limit_s: float | None) -> float | None:
    """The run's default limit, from the scenario's length (None if it cannot be read: then
    `chaos run` refuses it at once, and says why)."""
    from chaos.runner import default_timeout_s
    from scenarios.loader import load_scenario
    from scenarios.schema import ScenarioError

    try:
        sc = load_scenario(scenario)
        if time_limit_s is not None:
            sc = sc.rescaled(time_limit_s)
    except ScenarioError:
        return None
    return default_timeout_s(sc.duration_s)


@pytest.fixture
def chaos_run(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ChaosRunner]:
    """Run a chaos-cluster scenario against your node program (or a built-in service) and
    judge it: `chaos_run("partition-heal", node_cmd="python3 my_node.py", seed=1)`."""
    option = request.config.getoption("--chaos-store")
    runner = ChaosRunner(Path(option) if option else tmp_path / STORE_DIR_NAME)
    yield runner
    left = runner.leftovers()
    if left:
        from chaos.processes import reap

        reap(left)
        pytest.fail(f"chaos_run: {len(left)} process(es) of its runs outlived them "
                    f"(pids {', '.join(str(p.pid) for p in left)}); killed now. A bug in "
                    "chaos-cluster: please report it", pytrace=False)
