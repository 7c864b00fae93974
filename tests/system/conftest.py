"""Helpers for whole runs: `chaos` as a user runs it, in a subprocess, with its store in tmp."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAELSTROM_NODES = ROOT / "tests" / "maelstrom_nodes"


@dataclass
class Completed:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    store: Path

    @property
    def summary(self) -> dict[str, Any]:
        return json.loads(self.stdout.strip().splitlines()[-1])

    @property
    def run_dir(self) -> Path:
        return Path(self.summary["run_dir"])

    def explain(self) -> str:
        return (f"command: chaos {' '.join(self.args)}\nexit: {self.returncode}\n"
                f"stdout:\n{self.stdout[-3000:]}\nstderr:\n{self.stderr[-3000:]}")


def chaos(*args: str, store: Path, timeout_s: float = 120) -> Completed:
    argv = [sys.executable, "-m", "chaos", *args]
    if args and args[0] in ("run", "replay"):
        argv += ["--store", str(store)]
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s,
                          stdin=subprocess.DEVNULL)
    return Completed(list(args), proc.returncode, proc.stdout, proc.stderr, store)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "logs"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
