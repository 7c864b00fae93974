"""The README's examples work: its scenario file loads, its commands name real things."""

from __future__ import annotations

import re
from pathlib import Path

from scenarios.loader import list_scenarios, load_scenario

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_example_scenario_loads(tmp_path: Path) -> None:
    blocks = re.findall(r"```toml\n(.*?)```", README.read_text(), re.S)
    assert blocks, "the README has no scenario example"
    path = tmp_path / "example.toml"
    path.write_text(blocks[0])
    scenario = load_scenario(str(path))
    assert [e.fault for e in scenario.timeline if not e.implicit] == ["partition", "heal", "link"]


def test_every_scenario_the_readme_runs_exists() -> None:
    named = set(re.findall(r"chaos run ([a-z][a-z-]+)(?!\.toml|[a-z-])", README.read_text()))
    assert named
    assert named <= {s.name for s in list_scenarios()}


def _expected_workload_table() -> str:
    """The README's workload table as the registries declare it (scenarios/workloads/*.py,
    node/services/*/): the README restates the declarations, it does not add to them."""
    from node.services import SERVICES
    from scenarios.workloads import SPECS

    rows = ["| workload | client operations | checked by | built-in service |",
            "|---|---|---|---|"]
    for name, spec in SPECS.items():
        if spec.service is None:
            service = "none yet: bring your own with `--node-cmd`"
        else:
            svc = SERVICES[spec.service]
            bugs = ", ".join(f"`--bug {b}`" for b in svc.bugs)
            service = f"`{svc.name}`: {svc.summary}" + (f" ({bugs})" if bugs else "")
        rows.append(f"| `{name}` | {spec.operations} | {spec.checked_by} | {service} |")
    return "\n".join(rows)


def test_the_workload_table_matches_the_registries() -> None:
    expected = _expected_workload_table()
    assert expected in README.read_text(), (
        "README.md's workload table is out of step with the registries; replace it with:\n"
        + expected
    )


def test_every_workload_default_service_exists() -> None:
    from node.services import SERVICES
    from scenarios.workloads import SPECS

    for name, spec in SPECS.items():
        assert spec.service is None or spec.service in SERVICES, name
