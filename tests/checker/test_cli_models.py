"""`chaos check FILE --model counter | set-full`: Jepsen histories judged as elle-cli does.

Each case is a small literal history as Jepsen writes it (EDN op maps, or elle-cli's JSON
array), good and bad, with the exit code and the verdict the command must give: 0 valid,
1 invalid, 3 unknown, 2 usage error.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from checker.cli import check

COUNTER_OK_EDN = """[
{:type :invoke, :f :add, :value 1, :process 0, :time 10, :index 0}
{:type :ok, :f :add, :value 1, :process 0, :time 20, :index 1}
{:type :invoke, :f :read, :value nil, :process 1, :time 30, :index 2}
{:type :invoke, :f :add, :value 2, :process 0, :time 35, :index 3}
{:type :ok, :f :read, :value 3, :process 1, :time 40, :index 4}
{:type :info, :f :add, :value 2, :process 0, :time 45, :index 5}
{:type :invoke, :f :start, :value nil, :process :nemesis, :time 50, :index 6}
{:type :info, :f :start, :value [:isolated {"n1" #{"n2"}}], :process :nemesis, :time 51, :index 7}
{:type :invoke, :f :read, :value nil, :process 1, :time 60, :index 8}
{:type :ok, :f :read, :value 1, :process 1, :time 70, :index 9}
]"""

# An acknowledged add of 2 completed before the read began, which saw only 1.
COUNTER_LOW_EDN = """
{:type :invoke, :f :add, :value 1, :process 0, :time 1, :index 0}
{:type :ok, :f :add, :value 1, :process 0, :time 2, :index 1}
{:type :invoke, :f :add, :value 2, :process 0, :time 3, :index 2}
{:type :ok, :f :add, :value 2, :process 0, :time 4, :index 3}
{:type :invoke, :f :read, :value nil, :process 1, :time 5, :index 4}
{:type :ok, :f :read, :value 1, :process 1, :time 6, :index 5}
"""

# Maelstrom's pn-counter: final reads (`:final? true`) that disagree.
PN_FINALS_EDN = """[
{:type :invoke, :f :add, :value -3, :process 0, :index 0}
{:type :ok, :f :add, :value -3, :process 0, :index 1}
{:type :invoke, :f :add, :value 5, :process 0, :index 2}
{:type :info, :f :add, :value 5, :process 0, :index 3}
{:type :invoke, :f :read, :final? true, :value nil, :process 1, :index 4}
{:type :ok, :f :read, :final? true, :value 2, :process 1, :index 5}
{:type :invoke, :f :read, :final? true, :value nil, :process 2, :index 6}
{:type :ok, :f :read, :final? true, :value -3, :process 2, :index 7}
]"""


def jepsen_json(rows: list[tuple[str, int, str, object]]) -> str:
    """elle-cli's JSON: one array of op objects, keys without colons."""
    return json.dumps([{"type": t, "process": p, "f": f, "value": v, "time": i * 10, "index": i}
                       for i, (t, p, f, v) in enumerate(rows)])


COUNTER_OK_JSON = jepsen_json([("invoke", 0, "add", 1), ("ok", 0, "add", 1),
                               ("invoke", 1, "read", None), ("ok", 1, "read", 1)])
COUNTER_HIGH_JSON = jepsen_json([("invoke", 0, "add", 1), ("fail", 0, "add", 1),
                                 ("invoke", 1, "read", None), ("ok", 1, "read", 1)])

SET_OK_EDN = """[
{:type :invoke, :f :add, :value 0, :process 0, :time 1, :index 0}
{:type :ok, :f :add, :value 0, :process 0, :time 2, :index 1}
{:type :invoke, :f :add, :value 1, :process 0, :time 3, :index 2}
{:type :invoke, :f :read, :value nil, :process 1, :time 4, :index 3}
{:type :ok, :f :read, :value #{0}, :process 1, :time 5, :index 4}
{:type :ok, :f :add, :value 1, :process 0, :time 6, :index 5}
{:type :invoke, :f :read, :value nil, :process 1, :time 7, :index 6}
{:type :ok, :f :read, :value #{0 1}, :process 1, :time 8, :index 7}
]"""

# 1 was acknowledged and read, then the last read lost it.
SET_LOST_EDN = """[
{:type :invoke, :f :add, :value 1, :process 0, :time 1, :index 0}
{:type :ok, :f :add, :value 1, :process 0, :time 2, :index 1}
{:type :invoke, :f :read, :value nil, :process 1, :time 3, :index 2}
{:type :ok, :f :read, :value #{1}, :process 1, :time 4, :index 3}
{:type :invoke, :f :read, :value nil, :process 1, :time 5, :index 4}
{:type :ok, :f :read, :value #{}, :process 1, :time 6, :index 5}
]"""

SET_OK_JSON = jepsen_json([("invoke", 0, "add", 7), ("ok", 0, "add", 7),
                           ("invoke", 1, "read", None), ("ok", 1, "read", [7])])
SET_UNEXPECTED_JSON = jepsen_json([("invoke", 0, "add", 7), ("ok", 0, "add", 7),
                                   ("invoke", 1, "read", None), ("ok", 1, "read", [7, 8])])

# (file name, text, model, exit code, what the checker reports)
CASES = [
    ("counter-ok.edn", COUNTER_OK_EDN, "counter", 0, {"read_count": 2}),
    ("counter-low.edn", COUNTER_LOW_EDN, "counter", 1, {"violation_count": 1}),
    ("pn-finals.edn", PN_FINALS_EDN, "counter", 1, {"agreement": "disagree"}),
    ("counter-ok.json", COUNTER_OK_JSON, "counter", 0, {"violation_count": 0}),
    ("counter-high.json", COUNTER_HIGH_JSON, "counter", 1, {"violation_count": 1}),
    ("set-ok.edn", SET_OK_EDN, "set-full", 0, {"stable_count": 2, "stale_count": 0}),
    ("set-lost.edn", SET_LOST_EDN, "set-full", 1, {"lost_count": 1}),
    ("set-ok.json", SET_OK_JSON, "set-full", 0, {"stable_count": 1}),
    ("set-unexpected.json", SET_UNEXPECTED_JSON, "set-full", 1, {"unexpected_count": 1}),
]


@pytest.mark.parametrize(("name", "text", "model", "code", "expect"), CASES,
                         ids=[c[0] for c in CASES])
def test_jepsen_histories_are_judged_by_the_named_checker(
    tmp_path: Path, name: str, text: str, model: str, code: int, expect: dict[str, object]
) -> None:
    path = tmp_path / name
    path.write_text(text)
    out = CliRunner().invoke(check, [str(path), "--model", model, "--json"])
    assert out.exit_code == code, out.output
    res = json.loads(out.output)["files"][str(path)]
    assert res["checker"] == model
    for key, value in expect.items():
        assert res[key] == value, (key, res)


def test_the_text_output_names_the_checker_and_the_violation(tmp_path: Path) -> None:
    path = tmp_path / "h.edn"
    path.write_text(COUNTER_LOW_EDN)
    out = CliRunner().invoke(check, [str(path), "--model", "counter"])
    assert out.exit_code == 1
    first = out.output.splitlines()[0]
    assert first.startswith(f"INVALID {path} (counter: violation_count=1")
    assert "below the lower bound 3" in out.output
    ok = tmp_path / "ok.edn"
    ok.write_text(SET_OK_EDN)
    out = CliRunner().invoke(check, [str(ok), "--model", "set-full"])
    assert out.output.splitlines()[0] == f"valid   {ok} (set-full)"


def test_a_history_without_reads_is_unknown(tmp_path: Path) -> None:
    path = tmp_path / "adds.json"
    path.write_text(jepsen_json([("invoke", 0, "add", 1), ("ok", 0, "add", 1)]))
    for model in ("counter", "set-full"):
        out = CliRunner().invoke(check, [str(path), "--model", model])
        assert out.exit_code == 3, out.output


def test_init_does_not_apply_and_bad_values_are_usage_errors(tmp_path: Path) -> None:
    path = tmp_path / "h.edn"
    path.write_text(COUNTER_LOW_EDN)
    out = CliRunner().invoke(check, [str(path), "--model", "counter", "--init", "0"])
    assert out.exit_code == 2
    assert "--init does not apply to --model counter" in out.output
    bad = tmp_path / "bad.json"
    bad.write_text(jepsen_json([("invoke", 0, "add", "x"), ("ok", 0, "add", "x")]))
    out = CliRunner().invoke(check, [str(bad), "--model", "counter"])
    assert out.exit_code == 2
    assert "must be an integer delta" in out.output


def test_the_models_are_offered_and_unknown_ones_refused(tmp_path: Path) -> None:
    path = tmp_path / "h.edn"
    path.write_text(COUNTER_LOW_EDN)
    out = CliRunner().invoke(check, [str(path), "--model", "no-such-model"])
    assert out.exit_code == 2
    assert "'counter'" in out.output
    assert "'set-full'" in out.output
