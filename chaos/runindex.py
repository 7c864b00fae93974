"""The run store as a list of runs: one row per run directory, for `chaos serve`.

    rows = [read_run(store, d) for d in run_dirs(store)]     # then sort by started_ts

A run is a real directory `STORE/<scenario>/<run>/` holding one of `run.json`, `results.json`,
`history.jsonl` (DESIGN.md's layout). Links are never followed while looking, so the store's
`latest` link does not list its run twice, and a link cannot bring in a directory from
elsewhere.

A row is text ready to show, read from `run.json` (scenario, seed, service or node command,
workload, bug, times, exit code) and `results.json` (the verdict). Reading never fails: a
`run.json` that is missing, not JSON or not an object, or a `results.json` that cannot be read,
makes a row whose verdict is `damaged` and whose `note` says what is wrong. Without results, a
run is `running` while the process that wrote its `run.json` lives, else `unfinished` (killed
with `kill -9`); exits 4 and 130 are `harness failed` and `interrupted` (DESIGN.md's codes).
"""

from __future__ import annotations

import datetime
import json
import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

JSON_BYTES_MAX = 64 * 1024 * 1024  # a run.json or results.json larger than this is not read
RUN_FILES = ("run.json", "results.json", "history.jsonl")  # a directory with one is a run
# Verdicts, in the order a filter offers them.
VERDICTS = ("valid", "invalid", "unknown", "harness failed", "interrupted", "running",
            "unfinished", "damaged")


@dataclass(frozen=True)
class RunRow:
    """One run as a list shows it: every field already text; `note` says why (the harness's
    error, or what is damaged)."""

    path: str  # the run directory relative to the store, with /
    scenario: str
    started: str  # UTC, to the second
    started_ts: float  # for sorting, newest first
    seed: str
    target: str  # the service, or the node command
    workload: str
    bug: str
    verdict: str  # one of VERDICTS
    note: str = ""
    exit_code: str = ""
    duration: str = ""
    has_report: bool = False

    @property
    def can_build(self) -> bool:
        """Whether a report can be made from its files now: it has ended and is readable."""
        return self.verdict not in ("running", "damaged")


def read_json_object(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """The JSON object in `path` and None, or None and what is wrong with it."""
    try:
        if path.stat().st_size > JSON_BYTES_MAX:
            return None, f"{path.name} is larger than {JSON_BYTES_MAX // 2**20} MiB"
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, f"no {path.name}"
    except json.JSONDecodeError as e:
        return None, f"{path.name}:{e.lineno}: not valid JSON ({e.msg})"
    except (OSError, UnicodeDecodeError) as e:
        return None, f"{path.name}: cannot read it ({getattr(e, 'strerror', None) or e})"
    if not isinstance(data, dict):
        return None, f"{path.name}: not a JSON object"
    return data, None


def verdict_of(info: Mapping[str, Any], results: Mapping[str, Any] | None, *,
               is_alive: bool) -> str:
    """The verdict from a readable run.json (`info`) and results.json (None if it has none);
    `is_alive`: whether the process that wrote run.json still runs."""
    code = info.get("exit_code")
    if code == 130 or info.get("interrupted"):
        return "interrupted"
    if code == 4:
        return "harness failed"
    if results is not None:
        return _word(results.get("valid"))
    if code is None and not info.get("ended_at"):
        return "running" if is_alive else "unfinished"
    return _word(info.get("valid"))


def _word(valid: Any) -> str:
    if valid is True:
        return "valid"
    return "invalid" if valid is False else "unknown"


def is_alive(pid: Any) -> bool:
    """Whether process `pid` exists (a pid reused since is taken for the run: rare, and the
    cost is one run shown as running)."""
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # someone else's process: it exists
        return True
    return True


def _parse_time(text: Any) -> datetime.datetime | None:
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


def dir_time(name: str) -> datetime.datetime | None:
    """The start time in a run directory's name (`20250101T120000.000000Z-s7`)."""
    try:
        moment = datetime.datetime.strptime(name.split("-")[0], "%Y%m%dT%H%M%S.%fZ")
    except ValueError:
        return None
    return moment.replace(tzinfo=datetime.UTC)


def duration_text(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def read_run(root: Path, run_dir: Path) -> RunRow:
    """The row for one run directory; damaged files make a `damaged` row, never an error."""
    info, problem = read_json_object(run_dir / "run.json")
    results: dict[str, Any] | None = None
    if info is not None and (run_dir / "results.json").exists():
        results, problem = read_json_object(run_dir / "results.json")
    started = (_parse_time(info.get("started_at")) if info else None) or dir_time(run_dir.name)
    try:
        started_ts = started.timestamp() if started else run_dir.stat().st_mtime
    except OSError:
        started_ts = 0.0
    path = run_dir.relative_to(root).as_posix()
    shown = started.strftime("%Y-%m-%d %H:%M:%S") if started else "?"
    has_report = (run_dir / "report.html").is_file()
    if info is None or problem is not None:
        seed = run_dir.name.rsplit("-s", 1)[-1] if "-s" in run_dir.name else ""
        return RunRow(path=path, scenario=run_dir.parent.name, started=shown,
                      started_ts=started_ts, seed=seed, target="", workload="", bug="",
                      verdict="damaged", note=problem or "", has_report=has_report)
    node_cmd = info.get("node_cmd")
    if isinstance(node_cmd, list) and node_cmd:
        target = shlex.join(str(word) for word in node_cmd)
    else:
        target = _text(info.get("service")) + (" (simulated)" if info.get("simulated") else "")
    ended = _parse_time(info.get("ended_at"))
    note = info.get("error") or (results or {}).get("harness_error")
    return RunRow(
        path=path, scenario=_text(info.get("scenario")) or run_dir.parent.name,
        started=shown, started_ts=started_ts, seed=_text(info.get("seed")), target=target,
        workload=_text(info.get("workload")), bug=_text(info.get("bug")),
        verdict=verdict_of(info, results, is_alive=is_alive(info.get("pid"))),
        note=_text(note), exit_code=_text(info.get("exit_code")),
        duration=duration_text((ended - started).total_seconds()) if ended and started else "",
        has_report=has_report,
    )


def run_dirs(root: Path) -> list[Path]:
    """`root/<scenario>/<run>/`: real directories holding a run's files (links such as
    `latest` are skipped, so no run is listed twice and none from outside the store)."""
    found: list[Path] = []
    for scenario_dir in _subdirs(root):
        found.extend(d for d in _subdirs(scenario_dir)
                     if any((d / name).exists() for name in RUN_FILES))
    return found


def _subdirs(path: Path) -> list[Path]:
    try:
        entries = list(os.scandir(path))
    except OSError:
        return []
    return [Path(e.path) for e in entries
            if not e.name.startswith(".") and e.is_dir(follow_symlinks=False)]
