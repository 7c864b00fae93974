"""The baseline latency (Maelstrom's `--latency`): the pure decision, the scenario keys, and
`chaos run --latency MS --latency-dist D` as `build_config` takes it.

The decision (`chaos.faults.network_fate`) is the one the proxy and the simulated network both
make, so these literal cases hold for both; tests/chaos/test_latency_proxy.py and
tests/simulation/test_latency_simulated.py check that each really applies it. Nothing here
starts a process."""

from __future__ import annotations

import json
import math
import random
import statistics
import sys
from pathlib import Path
from typing import Any

import pytest

from chaos.cli import UsageProblem, _replayed_latency
from chaos.faults import (
    ADMIN_ID,
    BASELINES,
    DELAY_MS_MAX,
    DELIVER_NOW,
    DROP,
    Delay,
    FaultTable,
    LinkFault,
    baseline_delay,
    network_fate,
)
from chaos.processes import proxy_command
from node.cluster_services import SERVICE_IDS
from orchestrator import Run, reproduce_command
from scenarios.loader import load_scenario
from scenarios.schema import LATENCY_DISTRIBUTIONS, ScenarioError, parse_scenario
from tests.chaos.cli_helpers import refusal, reproduced, run_config

NODES = ["n1", "n2", "n3"]
EXEMPT = frozenset({ADMIN_ID, *SERVICE_IDS})  # the proxy's, services' links not faulted
DRAWS = 20_000


def fate(table: FaultTable, baseline: Delay | None, rng: random.Random, src: str = "n1",
         dest: str = "n2") -> Any:
    return network_fate(table, src, dest, rng, exempt=EXEMPT, baseline=baseline)


def empty() -> FaultTable:
    return FaultTable(nodes=NODES)


# -- the distributions -------------------------------------------------------------------------


def test_each_distribution_is_a_delay_of_mean_latency_ms() -> None:
    assert baseline_delay(50, "constant") == Delay.constant(50)
    assert baseline_delay(50, "uniform") == Delay.uniform(low_ms=0, high_ms=100)
    assert baseline_delay(50, "exponential") == Delay.exponential(50)
    assert baseline_delay(50) == Delay.constant(50)  # constant by default, as Maelstrom
    for name in LATENCY_DISTRIBUTIONS:
        assert baseline_delay(0, name) is None  # no baseline: nothing to draw, ever
    # scenarios/ cannot import chaos/, so it names the distributions itself: the same ones
    assert tuple(BASELINES) == LATENCY_DISTRIBUTIONS


@pytest.mark.parametrize(("latency_ms", "distribution", "message"), [
    (-1, "constant", "latency_ms must be in [0, 30000], not -1"),
    (math.nan, "constant", "latency_ms must be a number in [0, 30000], not nan"),
    (math.inf, "uniform", "latency_ms must be a number"),
    (True, "constant", "latency_ms must be a number"),
    ("50", "constant", "latency_ms must be a number"),
    (50, "normal", "latency_dist must be one of constant, uniform, exponential, not 'normal'"),
])
def test_a_bad_baseline_is_refused_naming_the_key(latency_ms: Any, distribution: str,
                                                 message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        baseline_delay(latency_ms, distribution)


def test_constant_is_exact_and_draws_nothing() -> None:
    rng = random.Random(1)
    state = rng.getstate()
    baseline = baseline_delay(50, "constant")
    fates = [fate(empty(), baseline, rng) for _ in range(100)]
    assert {f.held_ms for f in fates} == {(50.0,)}
    assert {f.delays_ms for f in fates} == {(0.0,)}  # the fault part: none
    assert rng.getstate() == state


def test_uniform_stays_in_zero_to_twice_the_latency_with_mean_latency() -> None:
    rng = random.Random(2)
    baseline = baseline_delay(50, "uniform")
    held = [fate(empty(), baseline, rng).held_ms[0] for _ in range(DRAWS)]
    assert min(held) >= 0
    assert max(held) <= 100
    assert min(held) < 5 and max(held) > 95  # it spans the range, not a corner of it
    assert statistics.fmean(held) == pytest.approx(50, rel=0.03)


def test_exponential_has_mean_latency() -> None:
    rng = random.Random(3)
    baseline = baseline_delay(50, "exponential")
    held = [fate(empty(), baseline, rng).held_ms[0] for _ in range(DRAWS)]
    assert min(held) >= 0
    assert statistics.fmean(held) == pytest.approx(50, rel=0.05)
    assert statistics.median(held) == pytest.approx(50 * math.log(2), rel=0.05)  # not uniform


def test_the_same_seed_draws_the_same_latencies() -> None:
    baseline = baseline_delay(20, "exponential")
    runs = [[fate(empty(), baseline, rng) for _ in range(50)]
            for rng in (random.Random(9), random.Random(9))]
    assert runs[0] == runs[1]


# -- with the fault table ----------------------------------------------------------------------


def test_no_latency_draws_nothing_and_decides_as_the_table_alone() -> None:
    assert fate(empty(), None, random.Random(1)) is DELIVER_NOW
    table = FaultTable([LinkFault(drop_probability=0.3, delay=Delay.uniform(low_ms=1,
                                                                               high_ms=9))],
                       nodes=NODES)
    with_none, alone = random.Random(4), random.Random(4)
    for _ in range(200):
        assert fate(table, None, with_none) == table.fate("n1", "n2", alone)
    assert with_none.getstate() == alone.getstate()


def test_a_dropped_message_stays_dropped_and_draws_no_latency() -> None:
    table = FaultTable([LinkFault(drop_probability=1.0)], nodes=NODES)
    rng, reference = random.Random(5), random.Random(5)
    assert fate(table, baseline_delay(50, "uniform"), rng) is DROP
    table.fate("n1", "n2", reference)  # the drop's own draw, and nothing after it
    assert rng.getstate() == reference.getstate()


def test_each_copy_of_a_duplicate_draws_its_own_latency() -> None:
    table = FaultTable([LinkFault(duplicate_probability=1.0)], nodes=NODES)
    rng = random.Random(6)
    f = fate(table, baseline_delay(50, "uniform"), rng)
    assert f.is_duplicated
    assert f.delays_ms == (0.0, 0.0)
    assert len(f.baseline_ms) == 2
    assert f.baseline_ms[0] != f.baseline_ms[1]
    assert all(0 <= b <= 100 for b in f.baseline_ms)
    constant = fate(table, baseline_delay(50), rng)
    assert constant.held_ms == (50.0, 50.0)


def test_a_fault_delay_and_the_latency_add_up_and_stay_apart() -> None:
    table = FaultTable([LinkFault(delay=Delay.constant(30))], nodes=NODES)
    f = fate(table, baseline_delay(50), random.Random(7))
    assert (f.delays_ms, f.baseline_ms, f.held_ms) == ((30.0,), (50.0,), (80.0,))
    longest = FaultTable([LinkFault(delay=Delay.constant(DELAY_MS_MAX))], nodes=NODES)
    f = fate(longest, baseline_delay(50), random.Random(7))
    assert f.held_ms == (DELAY_MS_MAX,)  # a limit on everything: the whole wait, too


def test_the_latency_is_not_in_the_fault_table_so_a_heal_keeps_it() -> None:
    # The proxy and the simulated network heal by replacing the table with an empty one; the
    # baseline is theirs, beside the table, so the next message still waits.
    faulted = FaultTable([LinkFault(drop_probability=1.0)], nodes=NODES)
    baseline = baseline_delay(50)
    assert fate(faulted, baseline, random.Random(1)) is DROP
    healed = FaultTable(nodes=NODES)
    assert fate(healed, baseline, random.Random(1)).held_ms == (50.0,)


@pytest.mark.parametrize(("src", "dest"), [(ADMIN_ID, "n1"), ("n1", ADMIN_ID)])
def test_the_admin_clients_links_get_neither_faults_nor_latency(src: str, dest: str) -> None:
    table = FaultTable([LinkFault(drop_probability=1.0)], nodes=NODES, clients=True)
    rng = random.Random(8)
    state = rng.getstate()
    assert fate(table, baseline_delay(50, "uniform"), rng, src, dest) is DELIVER_NOW
    assert rng.getstate() == state


@pytest.mark.parametrize(("src", "dest"), [("c3", "n1"), ("n1", "c3"), ("n1", "seq-kv"),
                                           ("lin-kv", "n2")])
def test_client_and_service_links_get_the_latency_but_not_node_faults(src: str,
                                                                      dest: str) -> None:
    # Maelstrom delays every message of its network, its services' included; faults reach
    # client links only with "clients": true, and service links only when the run says so.
    table = FaultTable([LinkFault(drop_probability=1.0)], nodes=NODES)
    f = fate(table, baseline_delay(50), random.Random(1), src, dest)
    assert (f.delays_ms, f.held_ms) == ((0.0,), (50.0,))


# -- the scenario keys --------------------------------------------------------------------------


def scenario(**keys: Any) -> Any:
    raw = {"name": "t", "workload": "echo", "nodes": 3, "time_limit_s": 4, **keys}
    return parse_scenario(raw, where="t.toml")


def test_the_scenario_keys_default_to_no_latency_and_round_trip() -> None:
    assert (scenario().latency_ms, scenario().latency_dist) == (0.0, "constant")
    sc = scenario(latency_ms=100, latency_dist="exponential")
    assert (sc.latency_ms, sc.latency_dist) == (100.0, "exponential")
    assert sc.with_overrides(rate=5) == sc.with_overrides(rate=5).with_overrides()
    assert sc.with_overrides(rate=5).latency_ms == 100.0  # another override keeps it
    assert sc.with_overrides(latency_ms=20).latency_dist == "exponential"
    assert sc.with_overrides(latency_dist="uniform").latency_ms == 100.0
    assert sc.to_dict()["latency_ms"] == 100.0


@pytest.mark.parametrize(("keys", "message"), [
    ({"latency_ms": "x"}, "t.toml: latency_ms: must be a number, not 'x'; write a number "
                          "from 0 to 10000"),
    ({"latency_ms": -5}, "t.toml: latency_ms: -5 is out of range; use a number from 0 to 10000"),
    ({"latency_ms": 20_000}, "latency_ms: 20000 is out of range"),
    ({"latency_ms": math.nan}, "latency_ms: must be a number, not nan"),
    ({"latency_ms": True}, "latency_ms: must be a number, not True"),
    ({"latency_ms": 5, "latency_dist": "unifrom"},
     "t.toml: latency_dist: unknown latency distribution 'unifrom' (did you mean 'uniform'?); "
     "use one of constant, uniform, exponential"),
    ({"latency_dist": "uniform"}, "t.toml: latency_dist: a latency distribution without a "
                                  "latency; add latency_ms = 100"),
    ({"latency_ms": 500}, "t.toml: latency_ms: a request and its reply each wait 500 ms, so a "
                          "typical operation takes 1000 ms and cannot finish within "
                          "request_timeout_s (1 s); lower the latency below 500 ms, or raise "
                          "request_timeout_s above 1 s"),
    ({"latency_mss": 5}, "unknown key 'latency_mss' (did you mean 'latency_ms'?)"),
])
def test_bad_scenario_keys_are_one_line_naming_the_key_and_the_fix(keys: dict[str, Any],
                                                                   message: str) -> None:
    with pytest.raises(ScenarioError) as info:
        scenario(**keys)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_a_longer_request_timeout_admits_a_longer_latency() -> None:
    assert scenario(latency_ms=500, request_timeout_s=1.5).latency_ms == 500


def test_the_file_says_where(tmp_path: Path) -> None:
    path = tmp_path / "slow.toml"
    path.write_text('workload = "echo"\nnodes = 3\ntime_limit_s = 4\nlatency_ms = "x"\n')
    with pytest.raises(ScenarioError, match=rf"^{path}:4: latency_ms: must be a number"):
        load_scenario(str(path))


# -- chaos run --latency: build_config, the reproduce command, run.json, replay ----------------


def config(store: Path, scenario: str = "echo", **options: Any) -> Any:
    return run_config(store, scenario, **options)


def test_the_options_set_the_latency_and_the_reproduce_command_carries_it(
        tmp_path: Path) -> None:
    c = config(tmp_path, latency_ms=50.0, latency_dist="constant")
    assert (c.scenario.latency_ms, c.scenario.latency_dist) == (50.0, "constant")
    command = reproduce_command(c)
    assert "--latency 50 --latency-dist constant" in command
    assert reproduced(tmp_path, command).scenario == c.scenario
    default = config(tmp_path, latency_ms=12.5)  # the distribution defaults to constant
    assert "--latency 12.5 --latency-dist constant" in reproduce_command(default)
    odd = config(tmp_path, latency_ms=100 / 3, latency_dist="exponential")
    assert reproduced(tmp_path, reproduce_command(odd)).scenario.latency_ms == 100 / 3
    assert "--latency" not in reproduce_command(config(tmp_path))


def test_a_latency_from_the_file_is_reproduced_and_the_options_override_it(
        tmp_path: Path) -> None:
    path = tmp_path / "slow.toml"
    path.write_text('workload = "echo"\nnodes = 3\ntime_limit_s = 4\nlatency_ms = 40\n'
                    'latency_dist = "uniform"\n')
    c = config(tmp_path, str(path))
    assert "--latency 40 --latency-dist uniform" in reproduce_command(c)
    assert config(tmp_path, str(path), latency_dist="exponential").scenario.latency_ms == 40
    assert config(tmp_path, str(path), latency_ms=0.0).scenario.latency_ms == 0.0
    assert "--latency" not in reproduce_command(config(tmp_path, str(path), latency_ms=0.0))


def test_run_json_records_the_latency_and_replay_takes_it_back(tmp_path: Path) -> None:
    c = config(tmp_path, latency_ms=50.0, latency_dist="uniform")
    info = Run(c).run_info()
    assert (info["latency_ms"], info["latency_dist"]) == (50.0, "uniform")
    assert "--latency 50 --latency-dist uniform" in info["reproduce"]
    taken = _replayed_latency(tmp_path, json.loads(json.dumps(info)))
    assert taken == {"latency_ms": 50.0, "latency_dist": "uniform"}
    assert config(tmp_path, **taken).scenario == c.scenario
    plain = Run(config(tmp_path)).run_info()
    assert (plain["latency_ms"], plain["latency_dist"]) == (0.0, "constant")
    assert _replayed_latency(tmp_path, {}) == {}  # a run recorded before there was one
    with pytest.raises(UsageProblem, match=r"run\.json: latency_ms or latency_dist is damaged"):
        _replayed_latency(tmp_path, {"latency_ms": "slow", "latency_dist": "constant"})


@pytest.mark.parametrize(("options", "message"), [
    ({"latency_ms": -1.0}, "--latency: -1 ms is out of range; give the mean delay of every "
                           "message in ms, from 0 to 10000, such as 100"),
    ({"latency_ms": math.nan}, "--latency: nan is not a latency; give the mean delay"),
    ({"latency_ms": math.inf}, "--latency: inf is not a latency"),
    ({"latency_ms": 10_001.0}, "--latency: 10001 ms is out of range"),
    ({"latency_ms": 50.0, "latency_dist": "bogus"},
     "--latency-dist: unknown distribution 'bogus'; use one of constant, uniform, exponential"),
    ({"latency_ms": 50.0, "latency_dist": "exponental"}, "(did you mean 'exponential'?)"),
    ({"latency_dist": "uniform"}, "--latency-dist sets the distribution of a baseline latency, "
                                  "and echo has none; add --latency MS"),
    ({"latency_ms": 600.0}, "echo (with command-line overrides): latency_ms: a request and its "
                            "reply each wait 600 ms"),
])
def test_bad_latency_options_are_one_line_naming_the_option_and_the_fix(
        tmp_path: Path, options: dict[str, Any], message: str) -> None:
    assert message in refusal(config, tmp_path, **options)


@pytest.mark.parametrize(("args", "message"), [
    (["--latency", "-1"], "chaos run: error: --latency: -1 ms is out of range"),
    (["--latency", "nan"], "chaos run: error: --latency: nan is not a latency"),
    (["--latency", "50", "--latency-dist", "bogus"],
     "chaos run: error: --latency-dist: unknown distribution 'bogus'"),
    (["--latency-dist", "uniform"], "chaos run: error: --latency-dist sets the distribution"),
    (["--latency", "soon"], "chaos run: error: Invalid value for '--latency'"),
])
def test_chaos_run_exits_2_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str], args: list[str],
                                         message: str) -> None:
    exit_code, err = chaos_main(monkeypatch, capsys, "echo", *args, "--store", str(tmp_path))
    assert exit_code == 2
    assert err.startswith(message)
    assert err.count("\n") == 1  # one line
    assert not any(tmp_path.iterdir())  # refused before anything ran


def test_a_scenario_file_with_a_bad_latency_exits_2_naming_the_file_and_key(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "slow.toml"
    path.write_text('workload = "echo"\nnodes = 3\ntime_limit_s = 4\nlatency_ms = "x"\n')
    exit_code, err = chaos_main(monkeypatch, capsys, str(path), "--store", str(tmp_path / "s"))
    assert exit_code == 2
    assert err == (f"chaos run: error: {path}:4: latency_ms: must be a number, not 'x'; write a "
                   "number from 0 to 10000\n")


def chaos_main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
               *args: str) -> tuple[int, str]:
    """`chaos run ARGS` as the console script runs it (`chaos.cli.main`), in this process:
    usage errors never get as far as starting anything."""
    from chaos.cli import main

    monkeypatch.setattr(sys, "argv", ["chaos", "run", *args])
    with pytest.raises(SystemExit) as info:
        main()
    assert isinstance(info.value.code, int)
    return info.value.code, capsys.readouterr().err


def test_the_proxy_is_told_the_latency_on_its_command_line_only_when_there_is_one(
        tmp_path: Path) -> None:
    common: dict[str, Any] = {"nodes": NODES, "seed": 1, "epoch_ns": 0, "parent_pid": 1}
    assert "--latency-ms" not in proxy_command(tmp_path, **common)
    command = proxy_command(tmp_path, **common, latency_ms=100 / 3, latency_dist="uniform")
    assert command[command.index("--latency-ms") + 1] == repr(100 / 3)  # read back exactly
    assert command[command.index("--latency-dist") + 1] == "uniform"
    assert command[:3] == [sys.executable, "-m", "chaos.proxy"]
