"""`chaos run --param NAME=VALUE`: a workload parameter from the command line, kept by the
reproduce command and `chaos replay`."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from tests.system.conftest import chaos


def test_a_parameter_reaches_the_workload_and_survives_replay(tmp_path: Path) -> None:
    store = tmp_path / "logs"
    done = chaos("run", "partition-heal", "--workload", "broadcast", "--simulate", "--seed", "3",
                 "--time-limit", "3", "--param", "topology=line", "--param",
                 "read_probability=0.25", "--json", store=store)
    assert done.returncode == 0, done.explain()
    info = json.loads((done.run_dir / "run.json").read_text())
    assert info["workload_params"] == {"topology": "line", "read_probability": 0.25}
    assert info["param_overrides"] == {"topology": "line", "read_probability": 0.25}
    argv = shlex.split(info["reproduce"])
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "--param"] == [
        "read_probability=0.25", "topology=line"]
    history = (done.run_dir / "history.jsonl").read_text()
    again = chaos("replay", str(done.run_dir), "--json", store=store)
    assert again.returncode == 0, again.explain()
    replayed = json.loads((again.run_dir / "run.json").read_text())
    assert replayed["workload_params"] == info["workload_params"]
    assert replayed["reproduce"] == info["reproduce"]
    assert (again.run_dir / "history.jsonl").read_text() == history


@pytest.mark.parametrize(("param", "complaint"), [
    ("topology", "is not NAME=VALUE"),
    ("=line", "is not NAME=VALUE"),
    ("topology=tree9", "unknown topology 'tree9'"),
    ("bogus=1", "unknown parameter(s) bogus"),
])
def test_a_bad_parameter_is_one_line_and_exit_2(tmp_path: Path, param: str,
                                               complaint: str) -> None:
    done = chaos("run", "partition-heal", "--workload", "broadcast", "--simulate", "--param",
                 param, store=tmp_path / "logs")
    assert done.returncode == 2, done.explain()
    assert complaint in done.stderr and "Traceback" not in done.stderr


def test_a_parameter_given_twice_is_refused(tmp_path: Path) -> None:
    done = chaos("run", "partition-heal", "--workload", "broadcast", "--simulate", "--param",
                 "topology=line", "--param", "topology=ring", store=tmp_path / "logs")
    assert done.returncode == 2 and "given twice" in done.stderr, done.explain()
