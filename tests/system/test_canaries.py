"""Every planted bug is caught on real processes: the canaries the services declare.

Each service declares, for each `--bug`, the shipped scenario that must catch it
(`ServiceSpec.canaries`). The default tier runs each canary once on real processes (seed 1);
`pytest -m nightly` runs it over more seeds. The simulation tests (tests/simulation) run the
same canaries over many seeds in milliseconds. A canary that passes is a harness that cannot
see failure: exit 1 is required, with an invalid checker, and `chaos check` must agree.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from node.service import Canary
from node.services import SERVICES
from scenarios.loader import load_scenario
from tests.system.conftest import chaos, read_jsonl

pytestmark = pytest.mark.cluster

TIME_LIMIT_S_MAX = 6.0
NIGHTLY_SEEDS = (2, 3, 4, 5, 6)
CANARIES = [(svc.name, bug, canary) for svc in SERVICES.values()
            for bug, canary in svc.canaries.items()]


def _cases() -> list[object]:
    cases: list[object] = []
    for service, bug, canary in CANARIES:
        cases.append(pytest.param(service, bug, canary, 1, id=f"{service}-{bug}-1"))
        cases += [pytest.param(service, bug, canary, seed, id=f"{service}-{bug}-{seed}",
                               marks=pytest.mark.nightly) for seed in NIGHTLY_SEEDS]
    return cases


def test_every_bug_has_a_canary() -> None:
    for svc in SERVICES.values():
        assert set(svc.canaries) == set(svc.bugs), svc.name


@pytest.mark.parametrize(("service", "bug", "canary", "seed"), _cases())
def test_every_planted_bug_is_caught_on_real_processes(
    store: Path, service: str, bug: str, canary: Canary, seed: int
) -> None:
    scenario = load_scenario(canary.scenario)
    workload = canary.workload or scenario.workload
    time_limit_s = min(scenario.time_limit_s, TIME_LIMIT_S_MAX)
    done = chaos("run", scenario.name, "--workload", workload, "--service", service,
                 "--bug", bug, "--seed", str(seed), "--time-limit", f"{time_limit_s:g}",
                 "--json", store=store)
    assert done.returncode == 1, done.explain()
    history = read_jsonl(done.run_dir / "history.jsonl")
    nemesis = [op for op in history if op["process"] == "nemesis"]
    assert nemesis and all(op["type"] != "info" for op in nemesis), "a fault failed to apply"
    results = json.loads((done.run_dir / "results.json").read_text())["results"]
    caught = [name for name, r in results.items() if r["valid"] is False]
    assert caught, results
    again = chaos("check", str(done.run_dir), store=store)
    assert again.returncode == 1, again.explain()
    assert any(f"{name}: INVALID" in again.stdout for name in caught), again.stdout
