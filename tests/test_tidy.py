"""Project hygiene that reviews should not have to catch: lint, types, and a few bans.

The bans are what ruff and mypy cannot see: zmq used outside the transport, the proxy and the
harness; `time.sleep` in async code; the module-level `random` in node/, chaos/ and scenarios/
(one seed must drive every random choice, STYLE.md #4).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("node", "chaos", "checker", "scenarios")


def _sources(*packages: str) -> list[Path]:
    files = [p for pkg in packages for p in (ROOT / pkg).rglob("*.py")]
    return sorted(files)


def _tool(name: str) -> list[str]:
    return [sys.executable, "-m", name]


def test_ruff_is_clean() -> None:
    # --no-cache: a cached verdict on an unchanged file can hide an import that sorts
    # differently now that the module it names exists.
    proc = subprocess.run([*_tool("ruff"), "check", "--no-cache", "."], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_import_contracts_hold() -> None:
    """import-linter's contracts in pyproject.toml: node/ and checker/ import nothing of the
    harness, packages are layered, and no package's modules import each other in a circle."""
    lint_imports = Path(sys.executable).parent / "lint-imports"
    proc = subprocess.run([str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_only_the_command_line_imports_the_orchestrator() -> None:
    """orchestrator.py is a module, so import-linter cannot layer it: it sits on top, and only
    the command line (which starts runs) may import it."""
    for path in _sources(*PACKAGES):
        rel = str(path.relative_to(ROOT))
        text = path.read_text(encoding="utf-8")
        if re.search(r"^\s*(import orchestrator|from orchestrator\b)", text, re.M):
            assert rel == "chaos/cli.py", f"{rel} imports orchestrator: depend on a protocol"


def test_mypy_is_clean() -> None:
    proc = subprocess.run([*_tool("mypy")], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# Modules allowed to import zmq: in node/ only the transport (node/wire.py: the native node
# and the stdio adapter go through it); the proxy, its control client, and the harness's
# clients and cluster, which own sockets; the orchestrator, for its version report.
ZMQ_ALLOWED = {"node/wire.py", "chaos/supervisor.py", "chaos/proxy.py", "chaos/control.py",
               "chaos/clients.py", "orchestrator.py"}


@pytest.mark.parametrize("path", [*_sources(*PACKAGES), ROOT / "orchestrator.py"],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_bans(path: Path) -> None:
    rel = str(path.relative_to(ROOT))
    text = path.read_text(encoding="utf-8")
    if re.search(r"^\s*(import zmq|from zmq)", text, re.M):
        assert rel in ZMQ_ALLOWED, f"{rel} imports zmq: keep sockets in the transport modules"
    if rel.startswith("checker/"):
        assert not re.search(r"^\s*(import|from) (trio|zmq)\b", text, re.M), (
            f"{rel}: checkers are pure history analysis, no trio or zmq"
        )
    if "async def" in text:
        assert "time.sleep(" not in text, f"{rel}: time.sleep in async code blocks the loop"
    if rel.split("/")[0] in ("node", "chaos", "scenarios"):
        bad = re.search(r"\brandom\.(random|randint|choice|shuffle|sample|uniform|seed)\(", text)
        assert not bad, f"{rel}: use a seeded random.Random passed in, not the module's random"
