"""`chaos run --nemesis F,F --nemesis-interval S`, and `leader` refused for `--node-cmd`: each bad
value is one usage error naming the option (or the scenario entry) and the fix; the reproduce
command and run.json carry the mix, so that reproducing or replaying a run plans its schedule
again exactly. `build_config` is called as `chaos run` calls it; nothing is started."""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Any

import pytest

from chaos.cli import UsageProblem, _replayed_mix
from chaos.nemesis import plan_scenario
from orchestrator import Run, reproduce_command
from tests.chaos.cli_helpers import refusal, reproduced, run_config

NODE_CMD = f"{sys.executable} tests/maelstrom_nodes/lin_kv_leader.py"


def config(store: Path, scenario: str = "lin-kv", **options: Any) -> Any:
    return run_config(store, scenario, **{"node_cmd": NODE_CMD, **options})


def test_the_mix_replaces_the_timeline_and_the_reproduce_command_carries_it(
        tmp_path: Path) -> None:
    c = config(tmp_path, nemesis="partition, kill", nemesis_interval_s=2.5)
    assert (c.scenario.nemesis, c.scenario.mix_interval_s, c.scenario.timeline) == (
        ("partition", "kill"), 2.5, ())
    command = reproduce_command(c)
    assert "--nemesis partition,kill --nemesis-interval 2.5" in command
    again = reproduced(tmp_path, command)
    assert again.scenario == c.scenario
    rng = f"{c.seed}/nemesis"
    assert plan_scenario(again.scenario, random.Random(rng)) == plan_scenario(
        c.scenario, random.Random(rng))


def test_a_rescaled_interval_is_reproduced_exactly(tmp_path: Path) -> None:
    path = tmp_path / "mix.toml"
    path.write_text('workload = "lin-kv"\nnodes = 5\ntime_limit_s = 7\n'
                    'nemesis = ["pause", "link"]\nnemesis_interval_s = 3\n')
    c = config(tmp_path, str(path), time_limit_s=5.0)
    assert c.scenario.mix_interval_s == pytest.approx(15 / 7)  # 2.142857: not a short number
    command = reproduce_command(c)
    assert f"--nemesis-interval {c.scenario.mix_interval_s!r}" in command
    assert reproduced(tmp_path, command).scenario.mix_interval_s == c.scenario.mix_interval_s


def test_a_mix_from_the_file_is_reproduced_too_and_a_timeline_says_nothing(
        tmp_path: Path) -> None:
    c = config(tmp_path, "random", time_limit_s=6.0)
    assert "--nemesis partition,kill,pause,clock,link --nemesis-interval 1.5" in (
        reproduce_command(c))
    assert "--nemesis" not in reproduce_command(config(tmp_path, "lin-kv"))
    default = config(tmp_path, nemesis="pause")  # lin-kv's 10 s: a quarter of it
    assert "--nemesis pause --nemesis-interval 2.5" in reproduce_command(default)


def test_run_json_records_the_mix_and_replay_takes_it_back(tmp_path: Path) -> None:
    c = config(tmp_path, nemesis="clock,link", nemesis_interval_s=4)
    info = Run(c).run_info()
    assert (info["nemesis"], info["nemesis_interval_s"]) == (["clock", "link"], 4.0)
    assert _replayed_mix(tmp_path, info) == {"nemesis": "clock,link", "nemesis_interval_s": 4.0}
    plain = Run(config(tmp_path)).run_info()
    assert (plain["nemesis"], plain["nemesis_interval_s"]) == (None, None)
    assert _replayed_mix(tmp_path, plain) == {}
    with pytest.raises(UsageProblem, match=r"run\.json: nemesis or nemesis_interval_s is damaged"):
        _replayed_mix(tmp_path, {"nemesis": ["kill"], "nemesis_interval_s": "soon"})


@pytest.mark.parametrize(("options", "message"), [
    ({"nemesis": "flood"}, "--nemesis: unknown fault 'flood'; use one or more of partition, "
                           "link, kill, stop, pause, clock, comma-separated"),
    ({"nemesis": "partiton"}, "--nemesis: unknown fault 'partiton' (did you mean 'partition'?)"),
    ({"nemesis": " , "}, "--nemesis is empty; give one or more of partition"),
    ({"nemesis": "kill,pause,kill"}, "--nemesis: 'kill' is listed twice; list each fault once"),
    ({"nemesis": "kill", "nemesis_interval_s": 0.0},
     "--nemesis-interval: 0 is not a length of time; give the seconds between faults"),
    ({"nemesis": "kill", "nemesis_interval_s": -2.0}, "--nemesis-interval: -2 is not a length"),
    ({"nemesis": "kill", "nemesis_interval_s": 10.5},
     "--nemesis-interval: 10.5 s is longer than the fault phase (10 s), so no fault would fit; "
     "use at most 10, or a longer --time-limit"),
    ({"nemesis": "kill", "time_limit_s": 6.0, "nemesis_interval_s": 8.0},
     "longer than the fault phase (6 s)"),
    ({"nemesis_interval_s": 2.0}, "--nemesis-interval sets the interval of a random mix, and "
                                  "lin-kv has none; add --nemesis partition,kill"),
])
def test_bad_mix_options_are_one_line_naming_the_option_and_the_fix(
        tmp_path: Path, options: dict[str, Any], message: str) -> None:
    assert message in refusal(config, tmp_path, **options)


def test_leader_targets_are_refused_for_node_cmd_programs(tmp_path: Path) -> None:
    with pytest.raises(UsageProblem) as info:
        config(tmp_path, "leader-kill", time_limit_s=6.0)
    text = info.value.format_message()
    assert text.startswith(f"{Path('scenarios/leader-kill.toml').resolve()}:")
    # timeline[0] is the slow network; the first leader kill is timeline[1]
    assert ": timeline[1].target: 'leader' is found by asking the nodes (chaos_status), and a "\
           "--node-cmd program cannot be asked; aim it at one, minority" in text
    # A built-in service can be asked; and a mix replacing the timeline aims at no leader.
    native = config(tmp_path, "leader-kill", node_cmd=None, service="echo")
    assert native.scenario.name == "leader-kill"
    assert config(tmp_path, "leader-kill", nemesis="kill").scenario.nemesis == ("kill",)
