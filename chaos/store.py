"""The run store: where a run's files go, and how they are written.

    logs/<scenario>/<UTC time>-s<seed>/    one run (layout in README.md and DESIGN.md)
    logs/latest                            a link to the newest run

A run directory is made with `mkdir` (never `exist_ok`), so two runs started in the same
microsecond with the same seed still get two directories; `latest` is replaced by a rename, so
a reader never sees it missing. JSON documents are written to a temporary file and renamed, so a
crash leaves the old version or the new one, never half of one. (The history is the exception:
it is appended and flushed line by line, see `chaos.clients.Recorder`.)
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
from pathlib import Path
from typing import Any


class StoreError(Exception):
    """The run store cannot be written."""


def make_run_dir(store: Path, scenario_name: str, seed: int) -> Path:
    """`store/<scenario>/<UTC time>-s<seed>/`, unique even for two runs started at once."""
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    parent = store / scenario_name
    parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(1000):
        suffix = "" if attempt == 0 else f"-{attempt}"
        run_dir = parent / f"{stamp}-s{seed}{suffix}"
        try:
            run_dir.mkdir()
        except FileExistsError:
            continue
        link_latest(store, run_dir)
        return run_dir
    raise StoreError(f"could not create a run directory under {parent}")


def link_latest(store: Path, run_dir: Path) -> None:
    """Point `store/latest` at `run_dir`, atomically (a rename over the old link)."""
    link = store / "latest"
    tmp = store / f".latest-{os.getpid()}-{id(run_dir)}"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    os.symlink(os.path.relpath(run_dir, store), tmp)
    os.replace(tmp, link)


def utc_now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")


def write_json_atomic(path: Path, data: Any) -> None:
    """Write `data` as JSON to `path`: a reader sees the old document or the new, never half.

    A failed write (a full disk) leaves no temporary file behind."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
