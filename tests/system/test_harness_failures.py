"""A harness problem ends with exit 4 and one line, never exit 1, never a traceback.

The store is made to fail two ways. `DiskFaults` fails writes to chosen files inside this
process as a filling disk does (a file takes so many bytes, then ENOSPC) or as a read-only one
does (EACCES at open): no root needed, so these always run, on simulated runs (milliseconds, no
mark) and on one real cluster (`cluster`). `tmpfs` mounts a real 200 KB file system where the
machine allows it (root) and skips, saying why, where it does not.

Each test checks the whole contract: exit 4, one `chaos: harness failed:` line naming the file
and the fix, no traceback, `run.json` with the exit code and the reason (when it could still be
written), no `.tmp` or `.reserve` left, and every history line recorded before the failure kept.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chaos import cli, store
from checker.history import load_jsonl
from tests.system.conftest import ROOT, chaos

# What a run prints on stderr besides an error (with --json): its seed and directory, status.
PROGRESS_LINE = re.compile(r"^(\s+\d+\.\d+s  |chaos: seed \d+, run directory )")


class _FillingFile(io.RawIOBase):
    """A file that takes what is left of a budget, then answers ENOSPC: a disk filling up."""

    def __init__(self, real: Any, budget: list[int]) -> None:
        self._real = real
        self._budget = budget

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        n = min(len(data), self._budget[0])
        if n == 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._real.write(bytes(data[:n]))
        self._budget[0] -= n
        return n

    def close(self) -> None:
        self._real.close()
        super().close()


class DiskFaults:
    """Writes to files named in `budgets` get that many bytes, then ENOSPC; with
    `errno=EACCES` opening them for writing fails, as in a read-only directory."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, budgets: dict[str, int], *,
                 errno_: int = errno.ENOSPC) -> None:
        self.budgets = {name: [n] for name, n in budgets.items()}
        self.errno = errno_
        self._open = io.open
        monkeypatch.setattr(builtins, "open", self.open)
        monkeypatch.setattr(io, "open", self.open)

    def open(self, file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        name = os.path.basename(os.fspath(file)) if isinstance(file, str | os.PathLike) else ""
        if name not in self.budgets or mode[:1] not in ("w", "a", "x"):  # r+: a truncation
            return self._open(file, mode, *args, **kwargs)
        if self.errno != errno.ENOSPC:
            raise OSError(self.errno, os.strerror(self.errno), os.fspath(file))
        raw = _FillingFile(self._open(file, mode.replace("t", "").replace("b", "") + "b",
                                      buffering=0), self.budgets[name])
        buffered = io.BufferedWriter(raw)
        if "b" in mode:
            return buffered
        return io.TextIOWrapper(buffered, encoding=kwargs.get("encoding") or "utf-8")


@contextlib.contextmanager
def mounted_tmpfs(path: Path, size: str = "200k") -> Iterator[Path]:
    """A small real file system at `path`, unmounted afterwards; skips where mount is refused."""
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(directory: Path) -> None:
    """Write zeros into `directory` until its file system is full."""
    with open(directory / "filler", "wb", buffering=0) as fh:
        with contextlib.suppress(OSError):
            while True:
                fh.write(bytes(4096))
        with contextlib.suppress(OSError):
            while True:
                fh.write(b"\0")


def the_harness_line(stderr: str) -> str:
    """The one line saying the harness failed; every other stderr line is progress."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line and not PROGRESS_LINE.match(line)]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("chaos: harness failed: "), stderr
    return lines[0]


def assert_nothing_half_written(run_dir: Path) -> None:
    """Of the harness's own files (nodes/<id>/ is the nodes' data, theirs to keep whole)."""
    leftovers = [p.name for p in run_dir.iterdir() if p.name.endswith(".tmp")
                 or p.name == store.RESERVE_NAME]
    assert not leftovers, leftovers
    history = run_dir / "history.jsonl"
    if history.exists():
        text = history.read_text()
        assert text == "" or text.endswith("\n"), "half a history line left"
        load_jsonl(history)  # every line parses


def run_in_process(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`chaos ARGS` through the console script's own entry point, in this process."""
    code: Any = 0  # a command that returns exits 0
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sys, "argv", ["chaos", *args])
        try:
            cli.main()
        except SystemExit as e:
            code = e.code
    out, err = capsys.readouterr()
    return (code if isinstance(code, int) else 1), out, err


def simulated(tmp_path: Path, capsys: pytest.CaptureFixture[str], scenario: str = "echo",
              seed: int = 3) -> tuple[int, str, str]:
    return run_in_process(capsys, "run", scenario, "--simulate", "--seed", str(seed),
                          "--store", str(tmp_path / "logs"), "--json")


def latest(tmp_path: Path) -> Path:
    return (tmp_path / "logs" / "latest").resolve()


# -- simulated runs, writes failed in this process (no root, no mark) ----------------------------


def test_judging_out_of_memory_is_a_harness_failure(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A history too big to judge here is the harness's limit: exit 4 and one line, with the
    exit code and reason in run.json (the soak of issue 7 hung instead)."""
    import orchestrator

    def exhausted(*args: object, **kwargs: object) -> None:
        raise MemoryError

    monkeypatch.setattr(orchestrator, "judge", exhausted)
    code, out, err = simulated(tmp_path, capsys)
    assert code == 4, out + err
    assert "ran out of memory" in err
    assert "Traceback" not in err
    info = json.loads((latest(tmp_path) / "run.json").read_text())
    assert info["exit_code"] == 4
    assert "ran out of memory" in info["error"]


def test_a_results_json_that_cannot_be_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    DiskFaults(monkeypatch, {"results.json.tmp": 100})  # half a document, then a full disk
    code, out, err = simulated(tmp_path, capsys)
    assert code == 4, out + err
    line = the_harness_line(err)
    run_dir = latest(tmp_path)
    assert line == (f"chaos: harness failed: the run store is full (No space left on device "
                    f"writing {run_dir}/results.json); free space or pass --store DIR")
    info = json.loads((run_dir / "run.json").read_text())
    assert info["exit_code"] == 4
    assert info["error"] == line.removeprefix("chaos: harness failed: ")
    assert info["valid"] == "unknown"
    assert not (run_dir / "results.json").exists()
    assert json.loads(out.splitlines()[-1])["exit_code"] == 4
    assert_nothing_half_written(run_dir)


def test_a_history_that_fills_the_disk_keeps_every_line_it_flushed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = simulated(tmp_path / "whole", capsys, "partition-heal")
    assert code == 0, out + err
    whole = (latest(tmp_path / "whole") / "history.jsonl").read_bytes()
    budget = 20_000
    assert len(whole) > 2 * budget

    DiskFaults(monkeypatch, {"history.jsonl": budget})
    code, out, err = simulated(tmp_path, capsys, "partition-heal")
    assert code == 4, out + err
    run_dir = latest(tmp_path)
    line = the_harness_line(err)
    assert "the run store is full (No space left on device writing into" in line
    assert str(run_dir) in line
    assert line.endswith("; free space or pass --store DIR")
    # The same seed gives the same history: the full disk's is its prefix, whole lines only.
    kept = (run_dir / "history.jsonl").read_bytes()
    assert kept == whole[: whole.rindex(b"\n", 0, budget) + 1]
    info = json.loads((run_dir / "run.json").read_text())
    assert (info["exit_code"], info["valid"]) == (4, "unknown")
    assert "No space left on device" in info["error"]
    results = json.loads((run_dir / "results.json").read_text())
    assert results["valid"] == "unknown"
    assert results["harness_error"] == info["error"]
    assert_nothing_half_written(run_dir)


def test_a_run_json_that_cannot_be_written_at_all(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    DiskFaults(monkeypatch, {"run.json.tmp": 0}, errno_=errno.EACCES)
    code, out, err = simulated(tmp_path, capsys)
    assert code == 4, out + err
    run_dir = latest(tmp_path)
    line = the_harness_line(err)
    assert line == (f"chaos: harness failed: the run store is not writable (Permission denied "
                    f"writing {run_dir}/run.json); make it writable or pass --store DIR")
    assert not (run_dir / "run.json").exists()
    # What can still be written says why: results.json has the reason.
    results = json.loads((run_dir / "results.json").read_text())
    assert results["harness_error"] == line.removeprefix("chaos: harness failed: ")
    assert_nothing_half_written(run_dir)


def test_a_report_that_cannot_be_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    DiskFaults(monkeypatch, {"report.html": 500, "report.html.tmp": 500})
    code, out, err = simulated(tmp_path, capsys)
    assert code == 4, out + err
    run_dir = latest(tmp_path)
    assert "writing" in the_harness_line(err)
    assert "report.html); free space or pass --store DIR" in err
    assert not (run_dir / "report.html").exists()  # half a page is no page
    info = json.loads((run_dir / "run.json").read_text())
    assert (info["exit_code"], info["valid"]) == (4, "unknown")
    assert "report.html" in info["error"]
    # The checkers' findings were written before the page failed, and stay.
    assert json.loads((run_dir / "results.json").read_text())["valid"] is True
    assert_nothing_half_written(run_dir)


@pytest.mark.parametrize(
    ("name", "errno_", "expected"),
    [
        ("schedule.jsonl.tmp", errno.ENOSPC, "the run store is full (No space left on device "
                                             "writing RUN/schedule.jsonl); free space or"),
        ("n1.log", errno.EACCES, "the run store is not writable (Permission denied writing "
                                 "RUN/nodes/n1.log); make it writable or"),
    ],
)
def test_a_schedule_or_node_log_that_cannot_be_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        name: str, errno_: int, expected: str) -> None:
    DiskFaults(monkeypatch, {name: 10}, errno_=errno_)
    code, out, err = simulated(tmp_path, capsys)
    assert code == 4, out + err
    run_dir = latest(tmp_path)
    line = the_harness_line(err)
    expected = expected.replace("RUN", str(run_dir))
    assert line == f"chaos: harness failed: {expected} pass --store DIR"
    info = json.loads((run_dir / "run.json").read_text())
    assert (info["exit_code"], info["error"]) == (4, line.removeprefix("chaos: harness failed: "))
    assert_nothing_half_written(run_dir)


def test_a_store_that_fails_before_the_run_directory(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    mkdir = Path.mkdir

    def no_room(self: Path, *args: Any, **kwargs: Any) -> None:
        if self.exists():
            return mkdir(self, *args, **kwargs)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))

    (tmp_path / "logs").mkdir()
    monkeypatch.setattr(Path, "mkdir", no_room)
    code, out, err = simulated(tmp_path, capsys)
    assert code == 4, out + err
    assert the_harness_line(err) == (
        f"chaos: harness failed: the run store is full (No space left on device writing "
        f"{tmp_path}/logs/echo); free space or pass --store DIR")
    # The store's root itself on a full disk: the same exit, said of --store.
    code, out, err = run_in_process(capsys, "run", "echo", "--simulate", "--store",
                                    str(tmp_path / "new-logs"))
    assert code == 4, out + err
    assert the_harness_line(err) == (
        f"chaos: harness failed: --store: cannot create {tmp_path}/new-logs (No space left on "
        f"device); free space or pass another --store DIR")


def test_a_bug_of_ours_is_exit_4_with_its_traceback(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    import orchestrator

    def broken_judge(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("planted")

    monkeypatch.setattr(orchestrator, "judge", broken_judge)
    code, out, err = simulated(tmp_path, capsys)
    assert code == 4, out + err
    assert "Traceback" in err  # for the bug report
    last = err.strip().splitlines()[-1]
    assert last.startswith("chaos: harness failed: internal error (RuntimeError: planted)")
    info = json.loads((latest(tmp_path) / "run.json").read_text())
    assert info["exit_code"] == 4
    assert "RuntimeError: planted" in info["error"]


# -- chaos report and chaos replay on a broken store ---------------------------------------------


def test_chaos_report_on_a_full_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = simulated(tmp_path, capsys)
    assert code == 0, out + err
    run_dir = latest(tmp_path)
    (run_dir / "report.html").unlink()
    with monkeypatch.context() as mp:
        DiskFaults(mp, {"report.html": 300, "report.html.tmp": 300})
        code, out, err = run_in_process(capsys, "report", str(run_dir))
    assert code == 4, out + err
    assert the_harness_line(err) == (
        f"chaos: harness failed: the run store is full (No space left on device writing "
        f"{run_dir}/report.html); free space and run chaos report again")
    assert not (run_dir / "report.html").exists()
    code, out, err = run_in_process(capsys, "report", str(run_dir))
    assert code == 0, out + err
    assert (run_dir / "report.html").stat().st_size > 1000


@pytest.mark.parametrize(
    ("damage", "fragment"),
    [
        ({"results.json": "{not json"}, "is damaged"),
        ({"run.json": ""}, "run.json:1: not valid JSON"),
    ],
)
def test_chaos_report_on_a_damaged_run_is_exit_2(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str],
                                                 damage: dict[str, str], fragment: str) -> None:
    code, out, err = simulated(tmp_path, capsys)
    assert code == 0, out + err
    run_dir = latest(tmp_path)
    for name, text in damage.items():
        (run_dir / name).write_text(text)
    code, out, err = run_in_process(capsys, "report", str(run_dir))
    assert code == 2, out + err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert fragment in err


def test_chaos_report_of_a_damaged_history_says_what_it_left_out(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The page is a view: lines of history.jsonl it cannot read are left out and counted on
    the page, rather than no page at all (`chaos check` is the one that refuses them)."""
    code, out, err = simulated(tmp_path, capsys)
    assert code == 0, out + err
    run_dir = latest(tmp_path)
    lines = (run_dir / "history.jsonl").read_text().splitlines()
    (run_dir / "history.jsonl").write_text("\n".join([lines[0], "garbage", *lines[1:]]) + "\n")
    code, out, err = run_in_process(capsys, "report", str(run_dir))
    assert code == 0, out + err
    assert "1 line(s) of history.jsonl could not be read" in (run_dir / "report.html").read_text()
    code, out, err = run_in_process(capsys, "check", str(run_dir))
    assert code == 2, out + err
    assert "Traceback" not in err


def test_chaos_replay_of_a_damaged_schedule_is_exit_2(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = simulated(tmp_path, capsys, "partition-heal")
    assert code == 0, out + err
    run_dir = latest(tmp_path)
    schedule = run_dir / "schedule.jsonl"
    schedule.write_text(schedule.read_text() + '{"at_s": 3, "f": "heal"')  # cut by a full disk
    code, out, err = run_in_process(capsys, "replay", str(run_dir))
    assert code == 2, out + err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    lines = len(schedule.read_text().splitlines())
    assert f"schedule.jsonl:{lines}: not a schedule step" in err


def test_chaos_replay_into_a_full_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = simulated(tmp_path, capsys)
    assert code == 0, out + err
    run_dir = latest(tmp_path)
    DiskFaults(monkeypatch, {"results.json.tmp": 0})
    code, out, err = run_in_process(capsys, "replay", str(run_dir), "--json")
    assert code == 4, out + err
    assert "results.json); free space or pass --store DIR" in the_harness_line(err)
    replayed = latest(tmp_path)
    assert replayed != run_dir
    assert json.loads((replayed / "run.json").read_text())["exit_code"] == 4


def test_a_directory_is_not_a_scenario(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                       ) -> None:
    (tmp_path / "mine.toml").write_text("")
    code, out, err = run_in_process(capsys, "run", str(tmp_path), "--store",
                                    str(tmp_path / "logs"))
    assert code == 2, out + err
    assert err.count("\n") == 1
    assert f"{tmp_path}: is a directory, not a scenario" in err
    assert "or a .toml file such as" in err
    assert "mine.toml" in err
    assert "no such scenario file" not in err


# -- a real full disk (a 200 KB tmpfs, where the machine allows it) ------------------------------


def test_a_simulated_run_on_a_full_disk(tmp_path: Path) -> None:
    with mounted_tmpfs(tmp_path / "small") as small:
        done = chaos("run", "partition-heal", "--simulate", "--seed", "1", "--time-limit",
                     "300", store=small)
        assert done.returncode == 4, done.explain()
        line = the_harness_line(done.stderr)
        assert "the run store is full (No space left on device writing" in line
        run_dir = (small / "latest").resolve()
        info = json.loads((run_dir / "run.json").read_text())
        assert (info["exit_code"], info["valid"]) == (4, "unknown")
        assert info["error"] == line.removeprefix("chaos: harness failed: ")
        assert_nothing_half_written(run_dir)
        # The summary still counts what the history holds (it said "0 ok" once).
        oks = sum(1 for op in load_jsonl(run_dir / "history.jsonl")
                  if op.type == "ok" and op.process != "nemesis")
        assert oks > 0 and f"chaos: {oks} ok, " in done.stdout, done.explain()


@pytest.mark.cluster
def test_a_real_run_on_a_full_disk_and_report_and_replay_there(tmp_path: Path) -> None:
    with mounted_tmpfs(tmp_path / "small") as small:
        done = chaos("run", "partition-heal", "--seed", "1", "--time-limit", "3", "--rate",
                     "100", store=small)  # fills 200 KB within the run, however slow the host
        assert done.returncode == 4, done.explain()
        line = the_harness_line(done.stderr)
        assert "the run store is full (" in line, done.explain()
        assert "free space or pass --store DIR" in line
        run_dir = (small / "latest").resolve()
        info = json.loads((run_dir / "run.json").read_text())
        assert (info["exit_code"], info["valid"]) == (4, "unknown")
        assert info["error"] == line.removeprefix("chaos: harness failed: ")
        assert_nothing_half_written(run_dir)
        assert load_jsonl(run_dir / "history.jsonl")

        (run_dir / "report.html").unlink(missing_ok=True)
        fill(small)
        report = chaos("report", str(run_dir), store=small)
        assert report.returncode == 4, report.explain()
        assert the_harness_line(report.stderr).endswith("free space and run chaos report again")
        assert not (run_dir / "report.html").exists()

        replay = chaos("replay", str(run_dir), store=small)
        assert replay.returncode == 4, replay.explain()
        assert "the run store is full" in the_harness_line(replay.stderr)


# -- a real cluster whose files cannot be written (no root needed) -------------------------------


@pytest.mark.cluster
def test_a_real_run_whose_node_log_cannot_be_opened(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    import psutil

    monkeypatch.chdir(ROOT)
    DiskFaults(monkeypatch, {"n2.log": 0}, errno_=errno.EACCES)
    code, out, err = run_in_process(capsys, "run", "echo", "--seed", "2",
                                    "--time-limit", "2", "--store", str(tmp_path / "logs"),
                                    "--json")
    assert code == 4, out + err
    run_dir = latest(tmp_path)
    assert the_harness_line(err) == (
        f"chaos: harness failed: the run store is not writable (Permission denied writing "
        f"{run_dir}/nodes/n2.log); make it writable or pass --store DIR")
    assert json.loads((run_dir / "run.json").read_text())["exit_code"] == 4
    assert psutil.Process().children(recursive=True) == []  # the proxy and n1 were stopped


@pytest.mark.cluster
def test_a_real_run_whose_history_fills_the_disk(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(ROOT)
    DiskFaults(monkeypatch, {"history.jsonl": 3000})
    code, out, err = run_in_process(capsys, "run", "echo", "--seed", "2",
                                    "--time-limit", "2", "--store", str(tmp_path / "logs"),
                                    "--json")
    assert code == 4, out + err
    run_dir = latest(tmp_path)
    line = the_harness_line(err)
    assert line == (f"chaos: harness failed: the run store is full (No space left on device "
                    f"writing {run_dir}/history.jsonl); free space or pass --store DIR")
    info = json.loads((run_dir / "run.json").read_text())
    assert (info["exit_code"], info["error"]) == (4, line.removeprefix("chaos: harness failed: "))
    kept = (run_dir / "history.jsonl").read_text()
    assert 2000 < len(kept) <= 3000
    assert_nothing_half_written(run_dir)
