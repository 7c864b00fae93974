"""`chaos check` / `python -m checker`: outputs and exit codes 0, 1, 2, 3."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from lin_helpers import history, inv, ok

from checker.cli import check
from checker.history import dump_jsonl

DATA = Path(__file__).resolve().parent / "data"
REPO = Path(__file__).resolve().parents[2]


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(check, list(args))


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


def test_run_dir_picks_the_model_from_run_json(tmp_path: Path) -> None:
    assert run(str(lin_kv_run(tmp_path, 1))).exit_code == 0


def test_run_dir_invalid(tmp_path: Path) -> None:
    res = run(str(lin_kv_run(tmp_path, 2)))
    assert res.exit_code == 1
    assert "key 'k'" in res.output


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
