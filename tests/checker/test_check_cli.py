"""`chaos check` / `python -m checker`: outputs and exit codes 0, 1, 2, 3.

`check` is the command as `python -m checker` has it: no hooks, so no run-directory judging.
The run-directory paths are tested with fake hooks (`make_check_command(judge_run=...,
model_for_workload=...)`), built from the checker alone: what `chaos` passes is tested with
the workloads.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from lin_helpers import history, inv, ok

from checker.cli import check, make_check_command
from checker.history import Op, dump_jsonl
from checker.linearizability import check as check_linearizability
from checker.result import compose, result

DATA = Path(__file__).resolve().parent / "data"
REPO = Path(__file__).resolve().parents[2]


def run(*args: str, command: click.Command = check):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(command, list(args))


class FakeHooks:
    """What `chaos` passes, for a pretend registry with one linearizable workload (lin-kv, kv
    model) and one that is not (broadcast). Records every call."""

    def __init__(self, *, fail_with: Exception | None = None) -> None:
        self.judged: list[tuple[Path, int, dict[str, Any]]] = []
        self.asked: list[str] = []
        self.fail_with = fail_with

    def judge_run(self, history: Path, ops: list[Op], info: dict[str, Any]) -> dict[str, Any]:
        self.judged.append((history, len(ops), info))
        if self.fail_with is not None:
            raise self.fail_with
        lin = check_linearizability(ops, "kv", time_limit_s=5)
        seen = result("seen", True, headline=("op_count",), op_count=len(ops))
        return compose({"linearizability": lin, "seen": seen})

    def model_for_workload(self, workload: str) -> str | None:
        self.asked.append(workload)
        return {"lin-kv": "kv"}.get(workload)

    def command(self) -> click.Command:
        return make_check_command(
            judge_run=self.judge_run, model_for_workload=self.model_for_workload
        )


def lin_kv_run(tmp_path: Path, read_value: int, workload: str | None = "lin-kv") -> Path:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    if workload is not None:
        (run_dir / "run.json").write_text(json.dumps({"workload": workload}))
    ops = history(
        inv(0, "write", ["k", 1]), ok(0, "write", ["k", 1]),
        inv(1, "read", ["k", None]), ok(1, "read", ["k", read_value]),
    )  # fmt: skip
    dump_jsonl(ops, run_dir / "history.jsonl")
    return run_dir


def test_valid_file_exits_0_with_a_line_and_a_summary() -> None:
    res = run(str(DATA / "etcd_002.log"))
    assert res.exit_code == 0, res.output
    assert res.output.startswith("valid ")
    assert "1 file(s): 1 valid, 0 invalid, 0 unknown" in res.output


def test_invalid_file_exits_1_and_explains() -> None:
    res = run(str(DATA / "etcd_000.log"))
    assert res.exit_code == 1, res.output
    assert res.output.startswith("INVALID ")
    assert "could not be placed" in res.output
    assert "Longest linearizable prefix" in res.output


def test_many_files_in_one_process() -> None:
    res = run(*(str(DATA / n) for n in ("etcd_002.log", "etcd_000.log", "c01-ok.txt")))
    assert res.exit_code == 1
    assert "3 file(s): 2 valid, 1 invalid, 0 unknown" in res.output


def test_json_output() -> None:
    res = run("--json", str(DATA / "etcd_000.log"), str(DATA / "c01-ok.txt"))
    doc = json.loads(res.output)
    assert doc["valid"] is False
    invalid = doc["files"][str(DATA / "etcd_000.log")]
    assert invalid["valid"] is False
    assert invalid["failure"]["op"]["f"] == "read"
    assert invalid["failure"]["minimal_ops"]
    assert doc["files"][str(DATA / "c01-ok.txt")]["valid"] is True


def test_run_dir_is_judged_as_the_run_was(tmp_path: Path) -> None:
    hooks = FakeHooks()
    run_dir = lin_kv_run(tmp_path, 1)
    res = run("--json", str(run_dir), command=hooks.command())
    assert res.exit_code == 0, res.output
    judged = json.loads(res.output)["files"][str(run_dir)]
    assert set(judged["results"]) == {"linearizability", "seen"}  # the judge's composition
    assert hooks.judged == [(run_dir / "history.jsonl", 4, {"workload": "lin-kv"})]
    assert hooks.asked == []  # judged as a run: no model needed


def test_run_dir_invalid(tmp_path: Path) -> None:
    res = run(str(lin_kv_run(tmp_path, 2)), command=FakeHooks().command())
    assert res.exit_code == 1
    assert "INVALID" in res.output
    assert "linearizability: INVALID  op_count=2 key_count=1 failed_keys=['k']" in res.output
    assert "key 'k'" in res.output


@pytest.mark.parametrize(("read_value", "valid"), [(1, True), (2, False)])
def test_run_dir_picks_the_model_from_run_json(
    tmp_path: Path, read_value: int, valid: bool
) -> None:
    # --init without --model: linearizability against the model the run's workload names.
    hooks = FakeHooks()
    run_dir = lin_kv_run(tmp_path, read_value)
    res = run("--json", "--init", "null", str(run_dir), command=hooks.command())
    assert res.exit_code == (0 if valid else 1), res.output
    checked = json.loads(res.output)["files"][str(run_dir)]
    assert (checked["checker"], checked["model"], checked["valid"]) == (
        "linearizability", "kv", valid
    )
    assert checked["key_count"] == 1  # split per key: the kv model, not a register
    assert hooks.asked == ["lin-kv"]
    assert hooks.judged == []


def test_run_dir_without_hooks_says_to_use_chaos_check_or_pass_model(tmp_path: Path) -> None:
    run_dir = lin_kv_run(tmp_path, 1)
    for args in ([str(run_dir)], ["--init", "null", str(run_dir)]):
        res = run(*args)
        assert res.exit_code == 2, res.output
        assert "judge a run directory with `chaos check`, or pass --model" in res.output
        assert "Traceback" not in res.output
    assert run("--model", "kv", str(run_dir)).exit_code == 0


def test_run_dir_of_a_workload_not_judged_by_linearizability(tmp_path: Path) -> None:
    run_dir = lin_kv_run(tmp_path, 1, workload="broadcast")
    res = run("--init", "null", str(run_dir), command=FakeHooks().command())
    assert res.exit_code == 2
    assert "workload 'broadcast' is not judged by linearizability; pass --model" in res.output


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (ValueError("run.json: unknown workload 'x'; pass --model"), "error: run.json: unknown"),
        (KeyError("workload_params"), "run.json: cannot rebuild the run's workload (KeyError"),
    ],
    ids=["value-error-shown-as-is", "key-error-wrapped"],
)
def test_run_dir_the_judge_cannot_rebuild_is_a_usage_error(
    tmp_path: Path, error: Exception, line: str
) -> None:
    res = run(str(lin_kv_run(tmp_path, 1)), command=FakeHooks(fail_with=error).command())
    assert res.exit_code == 2
    assert line in res.output
    assert "Traceback" not in res.output


def test_history_without_model_is_a_usage_error(tmp_path: Path) -> None:
    res = run(str(lin_kv_run(tmp_path, 1, workload=None)))
    assert res.exit_code == 2
    assert "pass --model" in res.output
    assert "Traceback" not in res.output


def test_model_option_and_init(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    dump_jsonl(history(inv(0, "read"), ok(0, "read", 5)), path)
    assert run("--model", "register", "--init", "5", str(path)).exit_code == 0
    assert run("--model", "register", "--init", "4", str(path)).exit_code == 1


def test_unknown_exits_3(tmp_path: Path) -> None:
    empty = tmp_path / "history.jsonl"
    empty.write_text("")
    res = run("--model", "register", str(empty))
    assert res.exit_code == 3
    assert "nothing to judge" in res.output


def test_time_budget_exhausted_exits_3(tmp_path: Path) -> None:
    events = [inv(p, "write", p) for p in range(16)] + [ok(p, "write", p) for p in range(16)]
    path = tmp_path / "h.jsonl"
    dump_jsonl(history(*events, inv(99, "read"), ok(99, "read", 123)), path)
    res = run("--model", "register", "--time-limit", "0", str(path))
    assert res.exit_code == 3
    assert "time budget ran out" in res.output


def test_malformed_file_exits_2_naming_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    path.write_text('{"type": "invoke", "process": 0, "f": "read"}\n{oops\n{}\n')
    res = run("--model", "register", str(path))
    assert res.exit_code == 2
    assert f"error: {path}:2: not valid JSON" in res.output
    assert "Traceback" not in res.output


@pytest.mark.parametrize("text", ["garbage", "garbage\n", '{"garbage'])
def test_a_one_line_garbage_file_is_a_format_error_not_an_empty_history(
    tmp_path: Path, text: str
) -> None:
    path = tmp_path / "history.jsonl"
    path.write_text(text)
    res = run("--model", "register", str(path))
    assert res.exit_code == 2, res.output
    assert f"error: {path}:1: not valid JSON" in res.output
    assert "empty" not in res.output


def test_a_torn_last_line_is_skipped_with_a_warning(tmp_path: Path) -> None:
    """A run stopped mid-write: its history is checked without the torn line, and says so."""
    run_dir = lin_kv_run(tmp_path, read_value=1, workload=None)
    history_file = run_dir / "history.jsonl"
    with open(history_file, "a") as fh:
        fh.write('{"index":4,"time":4,"type":"invoke","pro')
    res = run("--model", "kv", str(run_dir))
    assert res.exit_code == 0, res.output
    assert (f"warning: {history_file}:5: the last line is cut short (no newline after it: "
            "the run stopped mid-write); skipped it and checked the 4 operation(s) before it"
            ) in res.output
    res = run("--model", "kv", "--json", str(run_dir))
    doc = json.loads(res.stdout)
    assert doc["files"][str(run_dir)]["warnings"][0].startswith(f"{history_file}:5: ")


def test_usage_error_wins_over_verdicts(tmp_path: Path) -> None:
    res = run(str(DATA / "etcd_002.log"), str(tmp_path / "missing.log"))
    assert res.exit_code == 2
    assert "no such file" in res.output


def test_bad_option_exits_2() -> None:
    assert run("--model", "nonsense", str(DATA / "etcd_002.log")).exit_code == 2
    assert run("--time-limit", "-1", str(DATA / "etcd_002.log")).exit_code == 2
    assert run().exit_code == 2


def test_wrong_model_for_the_operations_is_a_usage_error() -> None:
    res = run("--model", "mutex", str(DATA / "etcd_002.log"))
    assert res.exit_code == 2
    assert "has no operation 'read'" in res.output


def test_python_dash_m_checker_runs_the_same_command() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "checker", str(DATA / "etcd_000.log"), str(DATA / "etcd_002.log")],
        capture_output=True, text=True, cwd=REPO, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert "2 file(s): 1 valid, 1 invalid" in proc.stdout
