"""The pytest plugin (chaos/pytest_plugin.py), as a user's test suite meets it: pytest's own
`pytester` writes a user's test file and runs pytest on it in a subprocess, which loads the
plugin through its `pytest11` entry point.

A user's test passes against a built-in service (simulated: one process, about a second); a
planted bug fails it with the failing checker, the run directory and the reproduce command in
the report; a harness problem or a refused run fails it with the reason, never a silent pass.
One test runs real processes: a user's faulty Maelstrom program (tests/maelstrom_nodes) caught.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]
LOCAL_MAPS = ROOT / "tests" / "maelstrom_nodes" / "lin_kv_local.py"


def run_users_tests(pytester: pytest.Pytester, source: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_users=source)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "0", *args,
                                         timeout=300)


def test_a_users_test_passes_against_a_simulated_service(pytester: pytest.Pytester,
                                                         tmp_path: Path) -> None:
    store = tmp_path / "kept"
    result = run_users_tests(pytester, """
        def test_raft_is_linearizable(chaos_run):
            result = chaos_run("lin-kv", seed=1, time_limit_s=3, simulate=True)
            assert result.valid is True
            assert result.exit_code == 0
            assert result.checkers["linearizability"] is True
            assert result.counts["ok"] > 0
            assert result.results["results"]["linearizability"]["valid"] is True
            assert "--seed 1" in result.reproduce
            result.assert_valid()

        def test_the_canary_is_caught(chaos_run):
            result = chaos_run("partition-heal", service="raft", bug="stale-read", seed=1,
                               time_limit_s=3, simulate=True, expect="invalid")
            assert result.valid is False
            assert [a.checker for a in result.anomalies] == ["linearizability"]
    """, "--chaos-store", str(store))
    result.assert_outcomes(passed=2)
    assert len(list(store.glob("*/*-s1"))) == 2  # --chaos-store kept the runs there


def test_a_planted_bug_fails_the_users_test_with_the_reproduce_command(
    pytester: pytest.Pytester
) -> None:
    result = run_users_tests(pytester, """
        def test_checked_by_the_fixture(chaos_run):
            chaos_run("partition-heal", service="raft", bug="stale-read", seed=1,
                      time_limit_s=3, simulate=True)

        def test_checked_by_the_user(chaos_run):
            result = chaos_run("partition-heal", service="raft", bug="stale-read", seed=1,
                               time_limit_s=3, simulate=True, expect=None)
            assert result.valid is False
            result.assert_valid()
    """)
    result.assert_outcomes(failed=2)
    out = result.stdout.str()
    # Each test's own failure report says it all (the short summary at the end may repeat
    # some of it, more or less of it as pytest decides: all of it where CI is set).
    for name in ("test_checked_by_the_fixture", "test_checked_by_the_user"):
        (report,) = re.findall(rf"_{{3,}} {name} _{{3,}}\n(.*?)(?=\n_{{3,}} |\n={{3,}} )", out,
                               re.S)
        assert "expected a valid run, got invalid (exit 1)" in report, out
        assert "linearizability: INVALID" in report, out
        assert "could not be placed" in report  # the anomaly, in the checker's own words
        assert "run directory: " in report, out
        assert "reproduce with: chaos run partition-heal --seed 1 --time-limit 3" in report, out
        assert "--bug stale-read --simulate --store " in report, out


def test_a_harness_problem_or_a_refused_run_fails_with_the_reason(
    pytester: pytest.Pytester
) -> None:
    result = run_users_tests(pytester, """
        def test_over_its_time(chaos_run):
            chaos_run("lin-kv", seed=1, time_limit_s=3, simulate=True, timeout_s=0.1,
                      expect=None)

        def test_refused(chaos_run):
            chaos_run("no-such-scenario", expect=None)
    """)
    result.assert_outcomes(failed=2)
    out = result.stdout.str()
    assert out.count("chaos_run could not judge the run") >= 2, out  # (and the summary)
    assert "seed=1 simulated: harness: stopped after 0.1 s, over its run timeout" in out, out
    assert "no-such-scenario seed=1: the run refused its options" in out, out
    assert "no-such-scenario: no such scenario" in out, out


@pytest.mark.cluster
@pytest.mark.nightly  # the fixture's every path is tested above on simulated runs
def test_a_users_faulty_program_is_caught_on_real_processes(pytester: pytest.Pytester) -> None:
    result = run_users_tests(pytester, f"""
        def test_my_node(chaos_run):
            chaos_run("lin-kv", node_cmd=["{sys.executable}", "{LOCAL_MAPS}"], seed=1,
                      time_limit_s=5)
    """)
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "linearizability: INVALID" in out, out
    assert "reproduce with: chaos run lin-kv --seed 1 --time-limit 5" in out, out
    assert f"--node-cmd '{sys.executable} {LOCAL_MAPS}'" in out, out
