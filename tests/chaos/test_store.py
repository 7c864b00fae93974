"""The run store: run directory names, the `latest` link, atomic JSON writes."""

from __future__ import annotations

import datetime
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
    with pytest.raises(OSError, match="No space"):
        store.write_json_atomic(path, {"exit_code": 1})
    assert json.loads(path.read_text()) == {"exit_code": 0, "at": "x"}  # the old one, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]  # no .tmp left behind


def test_utc_now_is_iso_with_milliseconds() -> None:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", store.utc_now())
