"""A `--node-cmd` program that garbles replies: the run is invalid, naming the node and line.

`tests/maelstrom_nodes/garbage_echo.py` answers every 5th echo with a line that is not JSON
and every 7th with a JSON list. Each such line must be counted by the node's adapter, reach
the history as a malformed reply, make the `replies` checker invalid (exit 1), and be judged
the same way again by `chaos check`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.system.conftest import MAELSTROM_NODES, chaos

pytestmark = pytest.mark.cluster


def test_garbage_replies_make_the_run_invalid_naming_the_node(store: Path) -> None:
    node_cmd = f"{sys.executable} {MAELSTROM_NODES / 'garbage_echo.py'}"
    done = chaos("run", "echo", "--node-cmd", node_cmd, "--seed", "1", "--time-limit", "3",
                 store=store)
    assert done.returncode == 1, done.explain()
    replies_line = next(
        (line for line in done.stdout.splitlines() if line.strip().startswith("replies")), ""
    )
    assert "INVALID" in replies_line, done.explain()
    assert "first_malformed=operation" in replies_line, done.explain()
    assert "not a message" in replies_line, done.explain()

    run_dir = Path(
        next(line for line in done.stdout.splitlines() if "run directory" in line).split()[-1]
    )
    results = json.loads((run_dir / "results.json").read_text())
    replies = results["results"]["replies"]
    assert replies["valid"] is False
    by_node = replies["malformed_by_node"]
    assert set(by_node) <= {"n1", "n2", "n3"} and by_node, replies
    assert replies["malformed_count"] == sum(by_node.values())
    errors = [m["error"] for m in replies["malformed"]]
    assert any("(not JSON" in e for e in errors), errors
    assert any("not list)" in e and '["echo_ok"' in e for e in errors), errors
    assert all(e.split(": ", 1)[1].startswith(m["node"] + " wrote stdout line ")
               for e, m in zip(errors, replies["malformed"], strict=True)), errors
    assert "unmatched_replies" in results["counts"], results["counts"]

    # Every bad line the adapters counted reached the history (the program writes them only
    # in place of a reply, while its client waits), unless that client had timed out first
    # (a loaded machine): then its operation is a timeout, and the notice an unmatched reply.
    counted = 0
    for log in (run_dir / "nodes").glob("n*.log"):  # the adapter's events and CMD's stderr
        events = [json.loads(line) for line in log.read_text().splitlines()
                  if line.startswith('{"time"')]
        counted += sum(1 for event in events
                       if event.get("event") == "malformed" and event.get("where") == "program")
    history = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    timeouts = sum(1 for op in history if op.get("error") == "timeout")
    assert replies["malformed_count"] <= counted <= replies["malformed_count"] + timeouts, (
        f"{counted} bad lines counted by the adapters\n{done.explain()}"
    )

    again = chaos("check", str(run_dir), store=store)
    assert again.returncode == 1, again.explain()
    assert "replies: INVALID" in again.stdout, again.explain()
