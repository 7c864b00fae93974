"""The run store: run directory names, the `latest` link, atomic JSON writes, and what a store
that cannot be written says (one line: what, where, what to do)."""

from __future__ import annotations

import datetime
import errno
import json
import os
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from chaos import store


def test_a_run_directory_is_named_by_scenario_time_and_seed(tmp_path: Path) -> None:
    run_dir = store.make_run_dir(tmp_path, "partition-heal", 7)
    assert run_dir.parent == tmp_path / "partition-heal"
    assert re.fullmatch(r"\d{8}T\d{6}\.\d{6}Z-s7", run_dir.name), run_dir.name
    assert run_dir.is_dir()


def test_two_runs_at_once_get_two_directories(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                              ) -> None:
    class Frozen(datetime.datetime):  # both runs start in the same microsecond
        @classmethod
        def now(cls, tz: datetime.tzinfo | None = None) -> Frozen:
            return cls(2030, 1, 2, 3, 4, 5, 6, tzinfo=tz)

    monkeypatch.setattr(store, "datetime", SimpleNamespace(datetime=Frozen, UTC=datetime.UTC))
    first = store.make_run_dir(tmp_path, "echo", 1)
    second = store.make_run_dir(tmp_path, "echo", 1)
    assert first.name == "20300102T030405.000006Z-s1"
    assert second.name == "20300102T030405.000006Z-s1-1"


def test_latest_points_at_the_newest_run(tmp_path: Path) -> None:
    first = store.make_run_dir(tmp_path, "echo", 1)
    assert (tmp_path / "latest").resolve() == first.resolve()
    second = store.make_run_dir(tmp_path, "unique-ids", 2)
    latest = tmp_path / "latest"
    assert latest.is_symlink()
    assert not os.path.isabs(os.readlink(latest))  # relative: the store can be moved
    assert latest.resolve() == second.resolve()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".latest")] == []


def test_json_is_written_whole_or_not_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                            ) -> None:
    path = tmp_path / "run.json"
    store.write_json_atomic(path, {"exit_code": None})
    store.write_json_atomic(path, {"exit_code": 0, "at": Path("x")})
    assert json.loads(path.read_text()) == {"exit_code": 0, "at": "x"}

    def full_disk(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store.os, "replace", full_disk)
    with pytest.raises(store.StoreError) as raised:
        store.write_json_atomic(path, {"exit_code": 1})
    assert str(raised.value) == (f"the run store is full (No space left on device writing "
                                 f"{path}); free space or pass --store DIR")
    assert raised.value.errno == errno.ENOSPC
    assert isinstance(raised.value, OSError)  # callers that catch OSError still do
    assert json.loads(path.read_text()) == {"exit_code": 0, "at": "x"}  # the old one, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]  # no .tmp left behind


def test_a_half_written_temporary_file_is_removed(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    write_text = Path.write_text

    def half_then_full(self: Path, text: str, *args: object, **kwargs: object) -> int:
        write_text(self, text[: len(text) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Path, "write_text", half_then_full)
    with pytest.raises(store.StoreError, match=r"^the run store is full"):
        store.write_json_atomic(tmp_path / "results.json", {"valid": True})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (errno.ENOSPC, "the run store is full (No space left on device writing RUN/x.json); "
                       "free space or pass --store DIR"),
        (errno.EDQUOT, "the run store is full (Disk quota exceeded writing RUN/x.json); "
                       "free space or pass --store DIR"),
        (errno.EACCES, "the run store is not writable (Permission denied writing RUN/x.json); "
                       "make it writable or pass --store DIR"),
        (errno.EROFS, "the run store is not writable (Read-only file system writing "
                      "RUN/x.json); make it writable or pass --store DIR"),
        (errno.EIO, "cannot write the run store (Input/output error writing RUN/x.json); "
                    "check the disk or pass --store DIR"),
    ],
)
def test_a_failed_write_is_described_in_one_line(code: int, expected: str) -> None:
    assert store.describe(OSError(code, os.strerror(code)), "RUN/x.json") == expected


def test_the_way_out_depends_on_the_command() -> None:
    e = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert store.describe(e, "r.html", otherwise="and run chaos report again").endswith(
        "; free space and run chaos report again")


def test_a_run_directory_that_cannot_be_made_is_a_store_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mkdir = Path.mkdir

    def read_only(self: Path, *args: object, **kwargs: object) -> None:
        if self.parent.name == "echo":
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        mkdir(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "mkdir", read_only)
    with pytest.raises(store.StoreError, match=r"^the run store is not writable \(Permission "
                                               r"denied writing .*/echo/\d{8}T"):
        store.make_run_dir(tmp_path, "echo", 1)
    assert not (tmp_path / "latest").exists()


def test_a_partial_last_line_is_cut_and_whole_lines_stay(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    path.write_bytes(b'{"index":0}\n{"index":1}\n{"ind')
    assert store.trim_partial_line(path) == len(b'{"ind')
    assert path.read_bytes() == b'{"index":0}\n{"index":1}\n'
    assert store.trim_partial_line(path) == 0  # whole lines: untouched
    assert path.read_bytes() == b'{"index":0}\n{"index":1}\n'


def test_trimming_finds_a_newline_far_back_and_handles_no_newline(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    long_tail = b"x" * 200_000  # longer than one chunk read from the end
    path.write_bytes(b"a\n" + long_tail)
    assert store.trim_partial_line(path) == len(long_tail)
    assert path.read_bytes() == b"a\n"
    path.write_bytes(b"no newline at all")
    assert store.trim_partial_line(path) == len(b"no newline at all")
    assert path.read_bytes() == b""
    assert store.trim_partial_line(tmp_path / "missing.jsonl") == 0


def test_room_is_set_aside_for_the_last_documents_and_given_back(tmp_path: Path) -> None:
    store.reserve_space(tmp_path)
    reserve = tmp_path / store.RESERVE_NAME
    assert reserve.stat().st_size == store.RESERVE_BYTES
    assert reserve.stat().st_blocks * 512 >= store.RESERVE_BYTES  # allocated, not sparse
    store.release_space(tmp_path)
    assert not reserve.exists()
    store.release_space(tmp_path)  # nothing to give back: no error


def test_a_full_store_is_named_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store, "free_bytes", lambda path: 0)
    died = "node n2 died unprompted with exit code 1; log RUN/nodes/n2.log:\n  OSError: ..."
    reason = store.full_store_reason(died, tmp_path, store=Path("logs"))
    assert reason == ("the run store is full (0 bytes free in logs as the run ended; logs may "
                      "have lost lines); free space or pass --store DIR; and so: node n2 died "
                      "unprompted with exit code 1; log RUN/nodes/n2.log")
    assert store.full_store_reason(None, tmp_path, store=Path("logs")) == reason.split(
        "; and so")[0]
    own = "the run store is full (No space left on device writing RUN/results.json); ..."
    assert store.full_store_reason(own, tmp_path, store=Path("logs")) == own
    monkeypatch.setattr(store, "free_bytes", lambda path: 10**9)
    assert store.full_store_reason(died, tmp_path, store=Path("logs")) == died
    assert store.full_store_reason(None, tmp_path, store=Path("logs")) is None


def test_a_page_that_fails_half_written_is_removed(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    with pytest.raises(OSError), store.whole_or_none(page):
        page.write_text("<html>half")
        raise OSError(errno.ENOSPC, "No space left on device")
    assert not page.exists()
    page.write_text("<html>the old page</html>")
    with pytest.raises(OSError), store.whole_or_none(page):  # an atomic writer failed: keep it
        raise OSError(errno.ENOSPC, "No space left on device")
    assert page.read_text() == "<html>the old page</html>"


def test_utc_now_is_iso_with_milliseconds() -> None:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", store.utc_now())
