"""results.json, versioned (issue 9): fault windows, counterexample locations, run parameters."""

from __future__ import annotations

import json
from typing import Any

from checker.fault_kinds import fault_label, fault_windows
from checker.history import Op
from checker.results_schema import SCHEMA, SCHEMA_VERSION, counterexamples, describe

S = 1_000_000_000


def nemesis(t_s: float, f: str, value: Any = None, type_: str = "ok") -> Op:
    return Op(type=type_, process="nemesis", f=f, value=value, time=int(t_s * S))


def test_a_window_runs_from_a_fault_to_the_heal_of_what_it_broke() -> None:
    grudge = {"n1": ["n2", "n3"], "n2": ["n1"], "n3": ["n1"]}
    ops = [
        nemesis(1, "partition", {"shape": "isolate", "grudge": grudge}),
        nemesis(2, "kill", {"target": "one", "nodes": ["n2"]}),
        nemesis(2.5, "kill", {"target": "one", "nodes": ["n3"]}, type_="fail"),  # never happened
        nemesis(3, "heal"),
        nemesis(4, "restart", {"nodes": ["n2"]}),
        nemesis(5, "clock", {"mode": "bump", "offset_ms": 500, "nodes": ["n1"]}),
        Op(type="invoke", process=0, f="read", time=6 * S),
    ]
    windows = [(w.f, w.start_ns / S, None if w.end_ns is None else w.end_ns / S, w.label)
               for w in fault_windows(ops)]
    assert windows == [
        ("partition", 1, 3, "partition isolate n1 | n2,n3"),
        ("kill", 2, 4, "kill n2"),
        ("clock", 5, None, "clock bump n1"),  # never healed: open to the end
    ]


def test_the_final_heal_closes_every_window_and_a_clock_reset_heals_the_clock() -> None:
    ops = [
        nemesis(1, "pause", {"nodes": ["n1"]}),
        nemesis(2, "clock", {"mode": "drift", "rate": 2, "nodes": ["n2"]}),
        nemesis(3, "clock", {"offset_ms": 0, "rate": 1, "nodes": ["n2"]}),
        nemesis(4, "heal", {"final": True}),
    ]
    assert [(w.f, w.end_ns) for w in fault_windows(ops)] == [("pause", 4 * S), ("clock", 3 * S)]


def test_a_label_names_the_shape_mode_and_nodes_or_target() -> None:
    assert fault_label("partition", {"shape": "halves", "nodes": ["n1", "n2"]}) == (
        "partition halves n1,n2")
    assert fault_label("kill", {"target": "leader"}) == "kill leader"
    assert fault_label("heal", None) == "heal"


def test_a_counterexample_points_at_the_checker_and_lists_the_operations_it_quotes() -> None:
    results = {
        "linearizability": {
            "checker": "linearizability", "valid": False,
            "failure": {"op": {"index": 20, "process": 3, "f": "read", "completion_index": 21},
                        "longest_prefix": [{"index": 4, "process": 1, "f": "write"},
                                           {"index": 20, "process": 3, "f": "read"}],
                        "note": {"index": 99}},  # not an operation: no process, no f
        },
        "set/full": {"checker": "set-full", "valid": False,
                     "lost": [{"element": 7, "add": {"index": 8, "process": 0, "f": "add"}}]},
        "availability": {"checker": "availability", "valid": "unknown"},
        "replies": {"checker": "replies", "valid": True, "op": {"index": 1, "process": 0,
                                                                 "f": "read"}},
    }
    assert counterexamples(results) == [
        {"checker": "linearizability", "pointer": "/results/linearizability",
         "operations": [20, 21, 4]},
        {"checker": "set/full", "pointer": "/results/set~1full", "operations": [8]},
    ]


def test_describe_versions_the_file_and_repeats_the_run_parameters() -> None:
    judged = {"valid": True, "results": {}, "counts": {"ok": 3}}
    run_info = {"scenario": "partition-heal", "seed": 7, "workload": "lin-kv",
                "reproduce": "chaos run partition-heal --seed 7", "pid": 123}
    out = describe(judged, run_info=run_info,
                   ops=[nemesis(1, "partition", {"shape": "halves", "nodes": ["n1"]})])
    assert out["schema"] == SCHEMA and out["schema_version"] == SCHEMA_VERSION == 1
    assert out["run"]["seed"] == 7 and out["run"]["reproduce"].endswith("--seed 7")
    assert "pid" not in out["run"]  # the process is not a parameter
    assert out["counts"] == {"ok": 3} and out["counterexamples"] == []
    assert out["fault_windows"] == [{"f": "partition", "label": "partition halves n1",
                                     "value": {"shape": "halves", "nodes": ["n1"]},
                                     "start_s": 1.0, "end_s": None}]
    json.dumps(out)  # all of it JSON


def test_a_link_fault_is_labelled_by_its_rules() -> None:
    value = {"faults": [{"src": "*", "dest": "*", "drop_probability": 0.3},
                        {"src": "n1", "dest": "n2", "delay": {"distribution": "constant",
                                                              "ms": 50}}]}
    assert fault_label("link", value) == (
        "link *->*: drop 0.3 n1->n2: delay distribution constant ms 50")
