"""`chaos check FILE --model list-append|rw-register|bank|long-fork [--consistency-models]`.

Histories as Jepsen writes them (EDN, `:f :txn`, values `[[:append 1 2] [:r 1 [1 2]]]`) and as
Elle and elle-cli store them (JSON arrays, often without `f` and `process`), with the exit
code and verdict the command must give: 0 valid, 1 invalid, 3 unknown, 2 usage error.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from checker.cli import check
from checker.formats import load

# Elle's paper example, as elle-cli stores it (histories/elle/paper-example.json): no "f".
PAPER_JSON = """[
{"index":0,"process":1,"type":"invoke","value":[["append",253,1],["append",253,3],["append",253,4],["append",255,2],["append",255,3],["append",255,4],["append",255,5],["append",256,1],["append",256,2]]},
{"index":1,"process":1,"type":"ok","value":[["append",253,1],["append",253,3],["append",253,4],["append",255,2],["append",255,3],["append",255,4],["append",255,5],["append",256,1],["append",256,2]]},
{"index":2,"process":1,"type":"invoke","value":[["append",255,8],["r",253,null]]},
{"index":3,"process":1,"type":"ok","value":[["append",255,8],["r",253,[1,3,4]]]},
{"index":4,"process":1,"type":"invoke","value":[["append",256,4],["r",255,null],["r",256,null],["r",253,null]]},
{"index":5,"process":1,"type":"ok","value":[["append",256,4],["r",255,[2,3,4,5,8]],["r",256,[1,2,4]],["r",253,[1,3,4]]]},
{"index":6,"process":1,"type":"invoke","value":[["append",250,10],["r",253,null],["r",255,null],["append",256,3]]},
{"index":7,"process":1,"type":"ok","value":[["append",250,10],["r",253,[1,3,4]],["r",255,[2,3,4,5]],["append",256,3]]}
]"""

GOOD_EDN = """[
{:type :invoke, :f :txn, :value [[:append :x 1] [:r :y nil]], :process 0, :time 1, :index 0}
{:type :ok, :f :txn, :value [[:append :x 1] [:r :y []]], :process 0, :time 2, :index 1}
{:type :invoke, :f :txn, :value [[:r :x nil] [:append :y 2]], :process 1, :time 3, :index 2}
{:type :ok, :f :txn, :value [[:r :x [1]] [:append :y 2]], :process 1, :time 4, :index 3}
{:type :invoke, :f :start, :value nil, :process :nemesis, :time 5, :index 4}
{:type :info, :f :start, :value [:isolated {"n1" #{"n2"}}], :process :nemesis, :time 6, :index 5}
]"""

# Write skew on registers: each read nil of the key the other wrote.
SKEW_EDN = """[
{:type :invoke, :f :txn, :value [[:r :x nil] [:w :y 1]], :process 0, :index 0}
{:type :invoke, :f :txn, :value [[:r :y nil] [:w :x 1]], :process 1, :index 1}
{:type :ok, :f :txn, :value [[:r :x nil] [:w :y 1]], :process 0, :index 2}
{:type :ok, :f :txn, :value [[:r :y nil] [:w :x 1]], :process 1, :index 3}
]"""

BANK_EDN = """[
{:type :invoke, :f :transfer, :value {:from 0 :to 1 :amount 3}, :process 0, :index 0}
{:type :ok, :f :transfer, :value {:from 0 :to 1 :amount 3}, :process 0, :index 1}
{:type :invoke, :f :read, :value nil, :process 1, :index 2}
{:type :ok, :f :read, :value {0 7, 1 13}, :process 1, :index 3}
{:type :invoke, :f :read, :value nil, :process 1, :index 4}
{:type :ok, :f :read, :value {0 7, 1 10}, :process 1, :index 5}
]"""

LONG_FORK_EDN = """[
{:type :invoke, :f :read, :value [[:r 0 nil] [:r 1 nil]], :process 0}
{:type :ok, :f :read, :value [[:r 0 1] [:r 1 nil]], :process 0}
{:type :invoke, :f :read, :value [[:r 1 nil] [:r 0 nil]], :process 1}
{:type :ok, :f :read, :value [[:r 1 1] [:r 0 nil]], :process 1}
]"""


def run(tmp_path: Path, name: str, text: str, *args: str) -> tuple[int, str, str]:
    path = tmp_path / name
    path.write_text(text)
    result = CliRunner().invoke(check, [str(path), *args])
    return result.exit_code, result.stdout, result.stderr


def test_edn_txn_values_parse_into_lists_of_strings(tmp_path: Path) -> None:
    path = tmp_path / "h.edn"
    path.write_text(GOOD_EDN)
    ops = load(path).ops
    assert ops[1].value == [["append", "x", 1], ["r", "y", []]]
    assert type(ops[1].value[0][0]) is str
    assert ops[3].value[0] == ["r", "x", [1]]


def test_paper_example_from_elle_json(tmp_path: Path) -> None:
    code, out, _ = run(tmp_path, "paper-example.json", PAPER_JSON, "--model", "list-append")
    assert code == 1
    assert "INVALID" in out
    assert "anomaly-types=['G-single']" in out
    assert "not=['consistent-view', 'repeatable-read']" in out
    assert "  G-single (T1=op 5, T2=op 7, T3=op 3): " in out


def test_valid_edn(tmp_path: Path) -> None:
    code, out, _ = run(tmp_path, "h.edn", GOOD_EDN, "--model", "list-append")
    assert code == 0, out
    assert out.startswith("valid ")


def test_consistency_models_decide(tmp_path: Path) -> None:
    code, _, _ = run(tmp_path, "skew.edn", SKEW_EDN, "--model", "rw-register")
    assert code == 1
    code, out, _ = run(tmp_path, "skew.edn", SKEW_EDN, "--model", "rw-register",
                       "--consistency-models", "snapshot-isolation,read-committed")
    assert code == 0, out
    code, out, _ = run(tmp_path, "skew.edn", SKEW_EDN, "--model", "rw-register",
                       "--consistency-models", "PL-3", "--json")
    assert code == 1
    res = json.loads(out)["files"][str(tmp_path / "skew.edn")]
    assert res["consistency_models"] == ["serializable"]
    assert res["anomaly-types"] == ["G2-item"]
    assert res["not"] == ["repeatable-read"]
    assert "explanation" in res["anomalies"]["G2-item"][0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--model", "counter", "--consistency-models", "serializable"),
         "error: --consistency-models applies to --model list-append or rw-register only"),
        (("--consistency-models", "serializable"),
         "error: --consistency-models applies to --model list-append or rw-register only"),
        (("--model", "list-append", "--consistency-models", "serialisable"),
         "error: --consistency-models: unknown consistency model 'serialisable'; known models:"),
    ],
)
def test_consistency_models_usage_errors(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    code, out, err = run(tmp_path, "h.edn", GOOD_EDN, *args)
    assert code == 2
    assert err.startswith(message)
    assert err.count("\n") == 1  # one line
    assert out == ""


def test_wrong_model_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = run(tmp_path, "bank.edn", BANK_EDN, "--model", "list-append")
    assert code == 2
    assert "list-append takes" in err


def test_bank(tmp_path: Path) -> None:
    code, out, _ = run(tmp_path, "bank.edn", BANK_EDN, "--model", "bank")
    assert code == 1
    assert "wrong-total: operation 5 read balances summing to 17, not 20" in out


def test_long_fork(tmp_path: Path) -> None:
    code, out, _ = run(tmp_path, "lf.edn", LONG_FORK_EDN, "--model", "long-fork")
    assert code == 1
    assert "long fork: operation 1 read 0=1, 1=nil and operation 3 read 1=1, 0=nil" in out


def test_nothing_to_judge_exits_3(tmp_path: Path) -> None:
    text = '[{"type":"invoke","process":0,"f":"txn","value":[["append","x",1]]},' \
        '{"type":"fail","process":0,"f":"txn","value":[["append","x",1]]}]'
    code, out, _ = run(tmp_path, "h.json", text, "--model", "list-append")
    assert code == 3, out
