"""Finding and reading scenario files: packaged ones by name, any other by path.

`load_scenario(name_or_path)` reads TOML with the standard library's `tomllib`, turns syntax
errors into a one-line `ScenarioError` with the line and column, and hands the document to
`scenarios.schema.parse_scenario` for validation. `list_scenarios()` loads every packaged file
(what `chaos list` shows). The packaged files sit next to this module (package data).
"""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import replace
from pathlib import Path

from scenarios.schema import Scenario, ScenarioError, parse_scenario


def scenario_dir() -> Path:
    """The directory of the packaged scenario files."""
    return Path(__file__).resolve().parent


def _packaged_names() -> list[str]:
    return sorted(p.stem for p in scenario_dir().glob("*.toml"))


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load a packaged scenario by name, or a scenario file by path, validated."""
    ref = str(name_or_path)
    is_file = isinstance(name_or_path, Path) or "/" in ref or ref.endswith(".toml")
    if Path(ref).is_dir() and (is_file or ref not in _packaged_names()):
        raise ScenarioError(_directory_error(Path(ref)))
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
            names = _packaged_names()
            close = difflib.get_close_matches(ref, names, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ScenarioError(
                f"{ref}: no such scenario{hint}; use one of {', '.join(names)} "
                "or a path to a .toml file"
            )
    return _load_path(path, is_file=is_file)


def _directory_error(path: Path) -> str:
    """A directory is neither a scenario name nor a file: say what to give instead."""
    try:
        inside = sorted(str(p) for p in path.glob("*.toml"))[:3]
    except OSError:
        inside = []
    example = f" such as {', '.join(inside)}" if inside else ""
    return (f"{path}: is a directory, not a scenario; give the name of a packaged scenario "
            f"({', '.join(_packaged_names())}) or a .toml file{example}")


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
