"""Named scenarios: TOML files shipped in this package, their loader, and the workloads.

    >>> sc = load_scenario("partition-heal")          # a shipped scenario, by name
    >>> sc = load_scenario("my/own.toml")              # or any file, by path
    >>> short = sc.with_overrides(time_limit_s=8)      # `--time-limit 8`: same shape, shorter
    >>> [s.name for s in list_scenarios()]             # what `chaos list` shows

A scenario is data: a workload, a cluster size, a client load and a fault timeline
(`scenarios.schema` documents every key, the implicit final heal, and rescaling). Workloads,
the client-side operation generators bound to their checkers, live in `scenarios.workloads`.

A name without a `/` and without `.toml` is looked up among the packaged files; anything else is
a path. A bad file raises `ScenarioError` with one line naming the file, line, key and fix.
"""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path

from scenarios.schema import (
    FAULTS,
    SHAPES,
    TARGETS,
    FaultEvent,
    Scenario,
    ScenarioError,
    parse_scenario,
)

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


def scenario_dir() -> Path:
    """The directory of the packaged scenario files."""
    return Path(str(resources.files("scenarios")))


def _packaged_names() -> list[str]:
    return sorted(p.stem for p in scenario_dir().glob("*.toml"))


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load a packaged scenario by name, or a scenario file by path, validated."""
    ref = str(name_or_path)
    is_file = isinstance(name_or_path, Path) or "/" in ref or ref.endswith(".toml")
    if is_file:
        path = Path(ref)
        if not path.is_file():
            raise ScenarioError(
                f"{ref}: no such scenario file; check the path, or give the name "
                f"of a packaged scenario ({', '.join(_packaged_names())})"
            )
    else:
        path = scenario_dir() / f"{ref}.toml"
        if not path.is_file():
            import difflib

            names = _packaged_names()
            close = difflib.get_close_matches(ref, names, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ScenarioError(
                f"{ref}: no such scenario{hint}; use one of {', '.join(names)} "
                "or a path to a .toml file"
            )
    return _load_path(path, is_file=is_file)


def list_scenarios() -> list[Scenario]:
    """Every packaged scenario, sorted by name. A broken packaged file raises `ScenarioError`."""
    return [
        _load_path(scenario_dir() / f"{name}.toml", is_file=False) for name in _packaged_names()
    ]


def _load_path(path: Path, *, is_file: bool) -> Scenario:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ScenarioError(
            f"{path}: cannot read it ({e}); check the path and that it is UTF-8 text"
        ) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(_toml_error(path, e)) from None
    sc = parse_scenario(raw, where=str(path), default_name=path.stem, text=text)
    from dataclasses import replace

    return replace(sc, path=path, is_file=is_file)


def _toml_error(path: Path, e: tomllib.TOMLDecodeError) -> str:
    """`file:line: invalid TOML: what (at column C); fix the syntax there`."""
    message = str(e)
    m = re.search(r"\(at line (\d+), column (\d+)\)$", message)
    if m is None:
        return f"{path}: invalid TOML: {message}; fix the file's syntax"
    what = message[: m.start()].strip()
    return (
        f"{path}:{m.group(1)}: invalid TOML: {what} (at column {m.group(2)}); fix the "
        f"syntax on line {m.group(1)}"
    )
