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
