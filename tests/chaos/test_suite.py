"""`chaos suite` (chaos/suite.py, chaos/runner.py, chaos/junit.py): suite files and options
refused in one line (exit 2), the matrix and its shards, judging a run against what was
expected, the suite's exit code, JUnit XML that validates against the schema CI systems read
(tests/data/junit.xsd), runs stopped with everything they started, and one whole suite split
over two shards whose JUnit files make up the whole matrix (the issue's "done when").

Only the last two start processes: a sleeping Python, and simulated runs (`--simulate`, one
process each, about a second), so nothing here carries the `cluster` mark.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import pytest
import xmlschema
from hypothesis import given
from hypothesis import strategies as st

from chaos import suite as suite_mod
from chaos.cli import main
from chaos.junit import junit_xml
from chaos.runner import (
    EXIT_INTERRUPTED,
    Anomaly,
    Finished,
    RunOutcome,
    RunSpec,
    judge,
    run_process,
    skipped,
    worst_exit_code,
)
from chaos.suite import SuiteError, build_matrix, load_suite, parse_seeds, parse_shard, shard
from scenarios.loader import load_scenario

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = xmlschema.XMLSchema(ROOT / "tests" / "data" / "junit.xsd")
STORE = Path("/tmp/logs")


def chaos_exit(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`chaos ARGS` in this process, as the console script runs it: (exit code, out, err)."""
    old = sys.argv
    sys.argv = ["chaos", *args]
    try:
        main()
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    finally:
        sys.argv = old
    out, err = capsys.readouterr()
    return code, out, err


def write_suite(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


# --- options and suite files -------------------------------------------------------------------


@pytest.mark.parametrize(("text", "seeds"), [
    ("1-5", (1, 2, 3, 4, 5)),
    ("3", (3,)),
    ("1,2,7", (1, 2, 7)),
    (" 1 - 3 , 9 ", (1, 2, 3, 9)),
    ([4, 2], (4, 2)),
])
def test_seeds_are_a_range_a_list_or_both(text: Any, seeds: tuple[int, ...]) -> None:
    assert parse_seeds(text, "--seeds") == seeds


@pytest.mark.parametrize(("text", "words"), [
    ("5-1", "runs backwards; write 1-5"),
    ("one", "is not seeds"),
    ("-1", "is not seeds"),
    ("", "is not seeds"),
    ([], "no seeds"),
    ([1, 1], "seed 1 is listed twice"),
    ([True], "is not a whole number"),
    (1.5, "is not seeds"),
    ("1-20000", "more than 10000 seeds"),
    ([2**63], "out of range"),
])
def test_bad_seeds_say_what_to_write(text: Any, words: str) -> None:
    with pytest.raises(SuiteError, match=r"^--seeds") as e:
        parse_seeds(text, "--seeds")
    assert words in str(e.value)


@pytest.mark.parametrize(("text", "parsed"), [("1/1", (1, 1)), ("2/3", (2, 3)), (" 4/4", (4, 4))])
def test_shard_is_k_of_n(text: str, parsed: tuple[int, int]) -> None:
    assert parse_shard(text) == parsed


@pytest.mark.parametrize("text", ["0/2", "3/2", "1/0", "a/b", "1/2/3", "1", "1/1001", ""])
def test_bad_shards_are_refused(text: str) -> None:
    with pytest.raises(SuiteError, match=r"^--shard: .*1 <= K <= N"):
        parse_shard(text)


BAD_SUITES = [
    ('scenarioz = ["lin-kv"]', "scenarioz: unknown key (did you mean 'scenarios'?)"),
    ('scenarios = ["lin-kv"]\ntime_limit = 5', "did you mean 'time_limit_s'?"),
    ('scenarios = ["lin-kv"]\nnode_cmd = ["python3 x.py"]', "did you mean 'node_cmds'?"),
    ("seeds = [1]", "scenarios: missing"),
    ('scenarios = "lin-kv"', "scenarios: must be a list of names"),
    ('scenarios = []', "scenarios: is empty"),
    ('scenarios = ["partition-heel"]', "(did you mean 'partition-heal'?)"),
    ('scenarios = ["nowhere/x.toml"]', "no such scenario file"),
    ('scenarios = ["lin-kv"]\nseeds = 1.5', "seeds: 1.5 is not seeds"),
    ('scenarios = ["lin-kv"]\nseeds = "3-1"', "seeds: '3-1' runs backwards"),
    ('scenarios = ["lin-kv"]\nsimulate = "yes"', "simulate: must be true or false"),
    ('scenarios = ["lin-kv"]\nbudget_s = -1', "budget_s: -1 is out of range"),
    ('scenarios = ["lin-kv"]\nrun_timeout_s = "long"', "run_timeout_s: must be a number"),
    ('scenarios = ["lin-kv"]\nworkloads = ["lin-kvv"]', "unknown workload 'lin-kvv'"),
    ('scenarios = ["lin-kv"]\nservices = ["rafts"]', "unknown service 'rafts'"),
    ('scenarios = ["lin-kv"]\nnode_cmds = ["no-such-program-xyz"]', "is not an executable"),
    ('scenarios = ["lin-kv"]\nname = "a b"', "name: 'a b' is not a name"),
    ('scenarios = ["lin-kv"]\n[options]\nnodez = 3', "options.nodez: unknown key"),
    ('scenarios = ["lin-kv"]\n[options]\nnodes = "5"', "options.nodes: must be a whole number"),
    ('scenarios = ["lin-kv"]\n[options]\nnemesis = ["flood"]', "unknown fault 'flood'"),
    ('scenarios = ["lin-kv"]\n[options]\nnodes = 1', "nodes"),  # lin-kv partitions 3 nodes
    ('scenarios = ["lin-kv"]\n[[bugs]]\nbug = "stale-reed"', "unknown bug 'stale-reed'"),
    ('scenarios = ["lin-kv"]\n[[bugs]]\nservice = "raft"', "bugs[0]: gives neither bug"),
    ('scenarios = ["lin-kv"]\n[[bugs]]\nbug = "stale-read"\nexpect = "caught"',
     "bugs[0].expect: unknown expectation 'caught'"),
    ('scenarios = ["lin-kv"]\n[[bugs]]\nbug = "stale-read"\nbugz = 1', "bugs[0].bugz: unknown"),
    ('scenarios = ["lin-kv"]\nbugs = 3', "bugs: must be an array of tables"),
    ('scenarios = ["lin-kv"]\n[[bugs]]\nbug = "stale-read"\n[[bugs]]\nbug = "stale-read"',
     "is in the suite twice"),
    ('scenarios = ["leader-kill"]\nnode_cmds = ["python3 x.py"]', "leader"),
    ('scenarios = ["lin-kv"]\nsimulate = true\nnode_cmds = ["python3 x.py"]',
     "cannot be simulated"),
    ("scenarios = [", "not valid TOML"),
]


@pytest.mark.parametrize(("text", "words"), BAD_SUITES, ids=[w for _, w in BAD_SUITES])
def test_a_bad_suite_file_is_one_line_naming_the_file_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, words: str
) -> None:
    path = write_suite(tmp_path, text + "\n")
    code, out, err = chaos_exit(capsys, "suite", str(path), "--store", str(tmp_path / "logs"))
    assert code == 2, (out, err)
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"chaos suite: error: {path}"), err
    assert words in err, err
    assert not (tmp_path / "logs").exists()  # refused before anything ran


@pytest.mark.parametrize(("args", "words"), [
    ([], "nothing to run: give a suite file"),
    (["--scenarios", "lin-kv,nope"], "--scenarios: nope: no such scenario"),
    (["--scenarios", ","], "--scenarios is empty"),
    (["--scenarios", "lin-kv,lin-kv"], "listed twice"),
    (["--scenarios", "lin-kv", "--seeds", "x"], "--seeds: 'x' is not seeds"),
    (["--scenarios", "lin-kv", "--shard", "3/2"], "--shard: 3/2 is out of range"),
    (["--scenarios", "lin-kv", "--seeds", "1-2", "--shard", "1/3"],
     "splits 2 runs 3 ways"),
    (["--scenarios", "lin-kv", "--time-limit", "0"], "--time-limit"),
    (["no-such-suite.toml"], "no-such-suite.toml: no such suite file"),
])
def test_bad_options_are_one_line(capsys: pytest.CaptureFixture[str], args: list[str],
                                  words: str) -> None:
    code, out, err = chaos_exit(capsys, "suite", *args)
    assert code == 2, (out, err)
    assert len(err.strip().splitlines()) == 1, err
    assert words in err, err


# --- the matrix ----------------------------------------------------------------------------------


def test_the_matrix_is_scenarios_workloads_targets_seeds_then_the_bugs(tmp_path: Path) -> None:
    node = f"{sys.executable} {ROOT / 'tests' / 'maelstrom_nodes' / 'lin_kv_leader.py'}"
    bad = f"{sys.executable} {ROOT / 'tests' / 'maelstrom_nodes' / 'lin_kv_local.py'}"
    path = write_suite(tmp_path, f"""
        name = "night"
        scenarios = ["lin-kv", "isolate-node"]
        seeds = "1-2"
        time_limit_s = 4
        services = ["raft"]
        node_cmds = ["{node}"]
        [options]
        rate = 20
        nemesis = ["partition", "kill"]
        [[bugs]]
        bug = "stale-read"
        scenarios = ["partition-heal"]
        seeds = [7]
        simulate = true
        [[bugs]]
        node_cmd = "{bad}"
        scenarios = ["lin-kv"]
    """)
    runs = build_matrix(load_suite(path))
    assert [r.index for r in runs] == list(range(len(runs)))
    program = f"node-cmd='{node}'"
    assert [(r.scenario, r.target, r.seed) for r in runs] == [
        ("lin-kv", "raft", 1), ("lin-kv", "raft", 2),
        ("lin-kv", program, 1), ("lin-kv", program, 2),
        ("isolate-node", "raft", 1), ("isolate-node", "raft", 2),
        ("isolate-node", program, 1), ("isolate-node", program, 2),
        ("partition-heal", "raft bug=stale-read", 7),
        ("lin-kv", f"node-cmd='{bad}'", 1), ("lin-kv", f"node-cmd='{bad}'", 2),
    ]
    bug, faulty = runs[8], runs[9]
    assert (bug.service, bug.bug, bug.expect, bug.simulate) == ("raft", "stale-read", "invalid",
                                                                True)
    assert (faulty.node_cmd, faulty.service, faulty.expect, faulty.simulate) == (
        bad, None, "invalid", False)
    assert all(r.expect == "valid" and not r.simulate for r in runs[:8])
    assert runs[0].argv(STORE) == [
        "run", "lin-kv", "--seed", "1", "--workload", "lin-kv", "--time-limit", "4",
        "--service", "raft", "--rate", "20", "--nemesis", "partition,kill",
        "--store", "/tmp/logs", "--json"]
    assert bug.command(STORE) == (
        "chaos run partition-heal --seed 7 --workload lin-kv --time-limit 4 --service raft "
        "--bug stale-read --rate 20 --nemesis partition,kill --simulate --store /tmp/logs")
    assert len({(r.scenario, r.case_name) for r in runs}) == len(runs)  # JUnit names unique
    # The default run timeout: 120 s and twice the run (warm-up, faults, recovery, settling).
    duration_s = load_scenario("lin-kv").rescaled(4).duration_s
    assert runs[0].timeout_s == pytest.approx(120 + 2 * duration_s)


def test_options_replace_the_files_values_and_entries_keep_their_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_suite(tmp_path, """
        scenarios = ["lin-kv"]
        seeds = "1-3"
        [[bugs]]
        bug = "stale-read"
        [[bugs]]
        bug = "no-fsync"
        scenarios = ["kill-restart"]
        seeds = [9]
    """)
    suite = suite_mod._configure(path, scenarios="partition-heal", seeds="5", time_limit_s=2.0,
                                 simulate=True, run_timeout_s=30.0, budget_s=None)
    runs = build_matrix(suite)
    assert [(r.scenario, r.bug, r.seed) for r in runs] == [
        ("partition-heal", None, 5), ("partition-heal", "stale-read", 5),
        ("kill-restart", "no-fsync", 9)]
    assert all(r.simulate and r.time_limit_s == 2.0 and r.timeout_s == 30.0 for r in runs)


def test_latency_and_availability_options_reach_each_run(tmp_path: Path) -> None:
    path = write_suite(tmp_path, """
        scenarios = ["partition-heal"]
        [options]
        latency_ms = 20
        latency_dist = "exponential"
        availability = "total"
        [options.params]
        keys = 4
    """)
    (run,) = build_matrix(load_suite(path))
    argv = run.argv(tmp_path / "logs")
    flags = {argv[i]: argv[i + 1] for i in range(len(argv) - 1) if argv[i].startswith("--")}
    assert (flags["--latency"], flags["--latency-dist"], flags["--availability"]) == (
        "20", "exponential", "total")
    assert flags["--param"] == "keys=4"
    bad = write_suite(tmp_path, """
        scenarios = ["partition-heal"]
        [options.params]
        topology = "tree4"
    """)
    with pytest.raises(suite_mod.SuiteError, match=re.escape("unknown parameter(s) topology")):
        build_matrix(load_suite(bad))  # lin-kv has no topology


@pytest.mark.parametrize(("options", "complaint"), [
    ("latency_ms = -1", "options.latency_ms"),
    ('latency_dist = "gauss"', "unknown latency distribution 'gauss'"),
    ("availability = 2", "options.availability"),
    ("latency_ms = 900", "request_timeout_s"),  # a round trip longer than the timeout
])
def test_bad_latency_or_availability_options_are_refused(tmp_path: Path, options: str,
                                                        complaint: str) -> None:
    path = write_suite(tmp_path, f'scenarios = ["partition-heal"]\n[options]\n{options}\n')
    with pytest.raises(suite_mod.SuiteError, match=re.escape(complaint)):
        build_matrix(load_suite(path))


def test_a_scenario_file_in_a_suite_is_found_from_the_suite(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "quick.toml").write_text(
        (ROOT / "scenarios" / "lin-kv.toml").read_text())
    path = write_suite(tmp_path, 'scenarios = ["mine/quick.toml"]\n')
    (run,) = build_matrix(load_suite(path))
    assert run.scenario == str(tmp_path / "mine" / "quick.toml")
    assert run.scenario_name == "quick"


def specs(count: int) -> list[RunSpec]:
    return [RunSpec(scenario="lin-kv", seed=i, index=i) for i in range(count)]


@given(count=st.integers(1, 300), data=st.data())
def test_shards_partition_the_matrix(count: int, data: st.DataObject) -> None:
    n = data.draw(st.integers(1, count))
    runs = specs(count)
    shares = [shard(runs, k, n) for k in range(1, n + 1)]
    seen = [r.index for share in shares for r in share]
    assert sorted(seen) == list(range(count))  # the union is the matrix, with no overlap
    assert max(map(len, shares)) - min(map(len, shares)) <= 1  # and the runners share evenly
    assert all(share for share in shares)


def test_shards_of_a_real_suite_partition_it(tmp_path: Path) -> None:
    runs = build_matrix(load_suite(ROOT / "suites" / "nightly.toml"))
    assert len(runs) == 8 * 5 + 4 * 5  # eight scenarios and four bugs, five seeds each
    names = [(r.scenario, r.case_name) for r in runs]
    for n in (1, 2, 3, 7):
        union = [(r.scenario, r.case_name) for k in range(1, n + 1) for r in shard(runs, k, n)]
        assert sorted(union) == sorted(names)
    assert [r.index for r in shard(runs, 2, 4)][:3] == [1, 5, 9]


# --- judging a run, and the suite's exit code ----------------------------------------------------


SUMMARY = ('{"valid": %s, "exit_code": %d, "run_dir": "/tmp/logs/lin-kv/T-s1", '
           '"reproduce": "chaos run lin-kv --seed 1", "counts": {"ok": 5}, '
           '"checkers": {"linearizability": %s}}')
INVALID_RESULTS = {"results": {
    "linearizability": {"checker": "linearizability", "valid": False,
                        "headline": ["failed_keys"], "failed_keys": [3],
                        "failure": {"text": "key 3: operation #260 could not be placed"}},
    "availability": {"checker": "availability", "valid": True, "headline": []},
}}


def finished(code: int, *, valid: str = "true", timed_out: bool = False,
             stderr: str = "chaos: seed 1, run directory /tmp/logs/lin-kv/T-s1\n") -> Finished:
    stdout = SUMMARY % (valid, code, valid) + "\n" if code in (0, 1, 3) else ""
    return Finished(returncode=code, stdout=stdout, stderr=stderr, duration_s=1.5,
                    timed_out=timed_out)


BUG = RunSpec(scenario="lin-kv", seed=1, service="raft", bug="stale-read", expect="invalid")
PLAIN = RunSpec(scenario="lin-kv", seed=1, service="raft", timeout_s=60)


@pytest.mark.parametrize(("spec", "done", "status", "counted", "words"), [
    (PLAIN, finished(0), "passed", 0, ""),
    (PLAIN, finished(1, valid="false"), "failed", 1,
     "INVALID: linearizability (failed_keys=[3])"),
    (BUG, finished(1, valid="false"), "passed", 0, "caught as expected by linearizability"),
    (BUG, finished(0), "failed", 4, "planted bug stale-read not caught"),
    (PLAIN, finished(3, valid='"unknown"'), "error", 3, "unknown"),
    (BUG, finished(3, valid='"unknown"'), "error", 3, "unknown"),
    (PLAIN, finished(2, stderr="chaos run: error: --nodes: 1 is too few\n"), "error", 2,
     "the run refused its options: chaos run: error: --nodes: 1 is too few"),
    (PLAIN, finished(4, stderr="chaos: seed 1, run directory /tmp/logs/lin-kv/T-s1\n"
                               "chaos: harness failed: node n2 died: exit 1\n"),
     "error", 4, "harness: node n2 died: exit 1"),
    (PLAIN, finished(-9), "error", 4, "killed by signal 9"),
    (PLAIN, finished(-15, timed_out=True), "error", 4, "stopped after 60 s, over its run timeout"),
    (BUG, finished(130), "error", 130, "interrupted"),
    (PLAIN, finished(70, stderr="Segmentation fault\n"), "error", 4, "exited 70"),
])
def test_a_run_is_judged_against_what_was_expected(
    spec: RunSpec, done: Finished, status: str, counted: int, words: str
) -> None:
    outcome = judge(spec, done, store=STORE, results=INVALID_RESULTS)
    assert (outcome.status, outcome.counted_exit_code) == (status, counted), outcome.reason
    assert words in outcome.reason
    if "run directory" in done.stdout + done.stderr:
        assert outcome.run_dir == "/tmp/logs/lin-kv/T-s1"  # from the summary, or from stderr
    assert outcome.reproduce.startswith("chaos run lin-kv --seed 1")
    if status == "failed" and counted == 1:
        assert outcome.anomalies == (Anomaly("linearizability", "failed_keys=[3]",
                                             "key 3: operation #260 could not be placed"),)
        text = outcome.describe()
        for part in ("linearizability: INVALID failed_keys=[3]", "could not be placed",
                     "run directory: /tmp/logs/lin-kv/T-s1", "reproduce with: chaos run"):
            assert part in text


def outcome(status: str, counted: int, *, seed: int = 1, **fields: Any) -> RunOutcome:
    spec = RunSpec(scenario="lin-kv", seed=seed, workload="lin-kv", service="raft", index=seed)
    return RunOutcome(spec=spec, status=status, exit_code=counted,  # type: ignore[arg-type]
                      counted_exit_code=counted, reason=fields.pop("reason", ""), **fields)


@pytest.mark.parametrize(("codes", "worst"), [
    ([], 0),
    ([0, 0], 0),
    ([0, 3], 3),
    ([3, 2], 2),
    ([2, 4, 3], 4),
    ([4, 1, 0], 1),  # an anomaly outranks a harness problem: it is certain
    ([1, 130], 130),
    ([0, 0, 130, 4], 130),
])
def test_the_suite_exits_with_its_worst_run(codes: list[int], worst: int) -> None:
    outcomes = [outcome("error", c, seed=i) for i, c in enumerate(codes)]
    assert worst_exit_code(outcomes) == worst


def fake_runs(monkeypatch: pytest.MonkeyPatch, codes: list[int | None]) -> list[RunSpec]:
    """`run_one` answering `codes` in turn (None: Ctrl-C during that run), no process."""
    answers = iter(codes)

    def run_one(spec: RunSpec, store: Path) -> RunOutcome:
        code = next(answers)
        if code is None:
            raise KeyboardInterrupt
        status = "passed" if code == 0 else "failed" if code == 1 else "error"
        return RunOutcome(spec=spec, status=status,  # type: ignore[arg-type]
                          exit_code=code, counted_exit_code=code, reason="")

    monkeypatch.setattr(suite_mod, "run_one", run_one)
    return specs(len(codes))


def test_fail_fast_skips_the_rest(monkeypatch: pytest.MonkeyPatch) -> None:
    runs = fake_runs(monkeypatch, [0, 1, 0, 0])
    outcomes, interrupted = suite_mod.run_suite(runs, STORE, fail_fast=True, budget_s=None)
    assert [o.status for o in outcomes] == ["passed", "failed", "skipped", "skipped"]
    assert "--fail-fast" in outcomes[2].reason
    assert not interrupted
    assert worst_exit_code(outcomes) == 1


def test_a_spent_budget_starts_no_more_runs_and_is_unknown(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = fake_runs(monkeypatch, [0, 0, 0])
    clock = iter([0.0, 1.0, 5.0, 9.0, 9.0])
    monkeypatch.setattr(suite_mod.time, "monotonic", lambda: next(clock))
    outcomes, _ = suite_mod.run_suite(runs, STORE, fail_fast=False, budget_s=4.0)
    assert [o.status for o in outcomes] == ["passed", "skipped", "skipped"]
    assert "budget of 4 s was spent" in outcomes[1].reason
    assert worst_exit_code(outcomes) == 3  # DESIGN.md: a budget ran out


def test_ctrl_c_stops_the_suite_and_exits_130(monkeypatch: pytest.MonkeyPatch) -> None:
    runs = fake_runs(monkeypatch, [1, None, 0])
    outcomes, interrupted = suite_mod.run_suite(runs, STORE, fail_fast=False, budget_s=None)
    assert interrupted
    assert [o.status for o in outcomes] == ["failed", "error", "skipped"]
    assert worst_exit_code(outcomes) == EXIT_INTERRUPTED


# --- JUnit ---------------------------------------------------------------------------------------


def literal_outcomes() -> list[RunOutcome]:
    anomaly = Anomaly("linearizability", "failed_keys=[3]", "key 3: read -> [3 0] <stale> & co")
    return [
        outcome("passed", 0, seed=1, duration_s=1.25),
        outcome("failed", 1, seed=2, duration_s=2.5, reason="INVALID: linearizability",
                anomalies=(anomaly,), run_dir="/tmp/logs/lin-kv/T-s2",
                reproduce="chaos run lin-kv --seed 2", log_tail="bell \x07 and \x1b[31m"),
        outcome("error", 4, seed=3, reason="harness: node n2 died", run_dir="/tmp/logs/x",
                reproduce="chaos run lin-kv --seed 3"),
        outcome("error", 3, seed=4, reason="unknown: linearizability (budget)"),
        skipped(RunSpec(scenario="lin-kv", seed=5, workload="lin-kv", service="raft"),
                "not started: --fail-fast after a run that did not pass"),
        outcome("passed", 0, seed=6, reason="caught as expected by election-safety"),
    ]


def test_junit_validates_against_the_schema_ci_systems_read() -> None:
    xml = junit_xml("nightly", literal_outcomes(),
                    timestamp=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), hostname="ci",
                    properties={"shard": "1/2"})
    SCHEMA.validate(xml)
    root = ET.fromstring(xml)
    (suite,) = root.findall("testsuite")
    assert {k: suite.get(k) for k in ("tests", "failures", "errors", "skipped", "timestamp")} == {
        "tests": "6", "failures": "1", "errors": "2", "skipped": "1",
        "timestamp": "2026-01-02T03:04:05"}
    assert suite.get("time") == "3.750"
    cases = suite.findall("testcase")
    assert [(c.get("classname"), c.get("name")) for c in cases][:2] == [
        ("nightly.lin-kv", "lin-kv raft seed=1"), ("nightly.lin-kv", "lin-kv raft seed=2")]
    failure = cases[1].find("failure")
    assert failure is not None
    message = failure.get("message") or ""
    for part in ("linearizability", "run directory /tmp/logs/lin-kv/T-s2",
                 "reproduce with: chaos run lin-kv --seed 2"):
        assert part in message
    assert "failed_keys=[3]" in (failure.text or "")
    assert "<stale> & co" in (failure.text or "")  # escaped on the way, intact on the way back
    assert cases[1].findtext("system-err") == "bell \\x07 and \\x1b[31m"
    assert [c.find(k) is not None for c, k in zip(cases[2:5], ("error", "error", "skipped"),
                                                  strict=True)] == [True] * 3
    assert cases[2].find("error").get("type") == "harness"  # type: ignore[union-attr]
    assert cases[3].find("error").get("type") == "unknown"  # type: ignore[union-attr]
    assert "election-safety" in (cases[5].findtext("system-out") or "")


def test_the_schema_is_seen_to_refuse_what_ci_systems_would_not_read() -> None:
    good = junit_xml("s", literal_outcomes()[:1], timestamp=datetime.now(UTC), hostname="ci")
    assert SCHEMA.is_valid(good)
    for bad in (re.sub(r'(<testsuite name="s"[^>]*?) failures="0"', r"\1", good),
                good.replace('time="1.250"', 'time="1.25 s"'),
                good.replace("<testcase ", "<testcase flaky=\"yes\" ")):
        assert bad != good
        assert not SCHEMA.is_valid(bad)


# --- processes -----------------------------------------------------------------------------------


SPAWNER = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                         start_new_session=True)
print(child.pid, flush=True)
time.sleep(600)
"""


@pytest.fixture
def leftovers() -> Iterator[list[int]]:
    """Pids that must be gone by the end of the test (killed here if not, to keep clean)."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        try:
            psutil.Process(pid).kill()
        except psutil.Error:
            continue


def test_a_run_over_its_time_is_stopped_with_what_it_started(leftovers: list[int]) -> None:
    # The grandchild is in a session of its own, as a run's nodes are: no group signal reaches
    # it, and the run's SIGTERM handler is Python's default (it dies at once, without cleanup).
    done = run_process([sys.executable, "-c", SPAWNER], timeout_s=4.0, grace_s=2.0)
    assert done.timed_out
    assert done.returncode == -15
    assert done.stdout, f"the spawner had not started its child in 4 s: {done.stderr}"
    grandchild = int(done.stdout.split()[0])
    leftovers.append(grandchild)
    assert not psutil.pid_exists(grandchild) or psutil.Process(grandchild).status() == "zombie"


def test_a_run_that_ends_is_waited_for_and_its_output_kept() -> None:
    done = run_process([sys.executable, "-c", "import sys; print('out'); "
                        "sys.stderr.write('err'); sys.exit(3)"], timeout_s=60)
    assert (done.returncode, done.stdout, done.stderr, done.timed_out) == (3, "out\n", "err",
                                                                           False)


# --- the whole command ---------------------------------------------------------------------------


def test_two_shards_of_a_simulated_suite_make_up_its_matrix(tmp_path: Path) -> None:
    """The issue's "done when": 3 scenarios x 3 seeds over two shards, two JUnit files whose
    union is the whole matrix, each file valid, every run valid."""
    scenarios = ("partition-heal", "isolate-node", "lin-kv")
    cases: list[tuple[str, str]] = []
    for k in (1, 2):
        junit = tmp_path / f"junit-{k}.xml"
        proc = subprocess.run(
            [sys.executable, "-m", "chaos", "suite", "--scenarios", ",".join(scenarios),
             "--seeds", "1-3", "--time-limit", "3", "--simulate", "--shard", f"{k}/2",
             "--junit", str(junit), "--store", str(tmp_path / "logs")],
            cwd=ROOT, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
            env={**os.environ, "COLUMNS": "200"},
        )
        explain = f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        assert proc.returncode == 0, explain
        assert f"shard {k}/2 of 9" in proc.stdout, explain
        assert f"[{5 if k == 1 else 4}/{5 if k == 1 else 4}] pass" in proc.stdout, explain
        SCHEMA.validate(str(junit))
        suite = ET.parse(junit).getroot().find("testsuite")
        assert suite is not None
        assert suite.get("tests") == str(5 if k == 1 else 4)
        assert (suite.get("failures"), suite.get("errors")) == ("0", "0"), explain
        cases += [(c.get("classname") or "", c.get("name") or "")
                  for c in suite.iter("testcase")]
    assert sorted(cases) == sorted(
        (f"chaos-suite.{sc}", f"lin-kv raft seed={seed} simulated")
        for sc in scenarios for seed in (1, 2, 3))
    runs = sorted(p.name for p in (tmp_path / "logs").glob("*/*-s*"))
    assert len(runs) == 9
