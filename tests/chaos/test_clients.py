"""The client's rules without sockets: a new process id after `info`, how a reply (or none)
becomes a completion, and the history a `Recorder` writes."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from chaos.clients import ClientIds, Recorder, RequestTimeout, execute, next_process
from scenarios.workloads import get_workload


@pytest.mark.parametrize(
    ("outcome", "after"),
    [("ok", 2), ("fail", 2), ("info", 5)],
)
def test_only_info_retires_a_process(outcome: str, after: int) -> None:
    assert next_process(2, outcome, 3) == after


def test_process_ids_are_never_reused_or_shared() -> None:
    concurrency = 4
    rng = random.Random(1)
    seen: dict[int, int] = {}  # process -> the worker that ran as it
    for worker in range(concurrency):
        process = worker
        for _ in range(200):
            seen.setdefault(process, worker)
            assert seen[process] == worker
            process = next_process(process, rng.choice(["ok", "fail", "info"]), concurrency)
    assert all(p % concurrency == w for p, w in seen.items())


def test_a_completion_that_is_not_one_is_refused() -> None:
    with pytest.raises(AssertionError, match="not a completion"):
        next_process(0, "invoke", 3)


def test_client_ids_are_never_reused() -> None:
    ids = ClientIds()
    assert [ids.take() for _ in range(3)] == ["c1", "c2", "c3"]  # c0 is the admin client


class FakeClient:
    """An `RpcClient` with canned replies; None means the reply never came."""

    def __init__(self, *replies: dict[str, Any] | None) -> None:
        self.replies = list(replies)
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def call(self, dest: str, body: dict[str, Any], *, timeout_s: float) -> dict[str, Any]:
        self.sent.append((dest, body))
        reply = self.replies.pop(0)
        if reply is None:
            raise RequestTimeout(f"no reply from {dest} within {timeout_s} s")
        return reply


def _ops(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize(
    ("f", "value", "reply", "expected"),
    [
        ("broadcast", 7, {"type": "broadcast_ok"}, ("ok", 7, None)),
        ("broadcast", 7, None, ("info", 7, "timeout")),  # may still take effect
        ("read", None, None, ("fail", None, "timeout")),  # a read changed nothing
        ("read", None, {"type": "read_ok", "messages": [1, 2]}, ("ok", [1, 2], None)),
    ],
)
async def test_execute_records_the_invocation_and_its_completion(
    tmp_path: Path, f: str, value: Any, reply: dict[str, Any] | None,
    expected: tuple[str, Any, Any],
) -> None:
    recorder = Recorder(tmp_path / "history.jsonl", epoch_ns=0, now_ns=lambda: 5)
    client: Any = FakeClient(reply)
    outcome = await execute(client, "n2", 3, f, value, workload=get_workload("broadcast"),
                            recorder=recorder, timeout_s=0.5)
    recorder.close()
    assert outcome == expected[0]
    invoke, completion = _ops(tmp_path / "history.jsonl")
    assert invoke == {"index": 0, "time": 5, "type": "invoke", "process": 3, "f": f,
                      "value": value, "node": "n2"}
    assert (completion["type"], completion["value"], completion.get("error")) == expected
    assert completion["process"] == 3
    assert client.sent[0][0] == "n2"
    assert recorder.counts == {"invoke": 1, "ok": 0, "fail": 0, "info": 0} | {expected[0]: 1}


def test_the_recorder_appends_whole_lines_and_counts_clients_only(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    times = iter([10, 20, 30])
    recorder = Recorder(path, epoch_ns=0, now_ns=lambda: next(times))
    recorder.record("invoke", 0, "read", None, node="n1")
    recorder.record("invoke", "nemesis", "heal", None)
    recorder.record("ok", 0, "read", [1], node="n1", final=True)
    recorder.close()
    assert _ops(path) == [
        {"index": 0, "time": 10, "type": "invoke", "process": 0, "f": "read", "value": None,
         "node": "n1"},
        {"index": 1, "time": 20, "type": "invoke", "process": "nemesis", "f": "heal",
         "value": None},
        {"index": 2, "time": 30, "type": "ok", "process": 0, "f": "read", "value": [1],
         "node": "n1", "final": True},
    ]
    assert recorder.counts == {"invoke": 1, "ok": 1, "fail": 0, "info": 0}
