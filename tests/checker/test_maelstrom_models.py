"""`chaos check FILE --model kafka | broadcast | unique-ids`: Maelstrom's own histories.

Each case is a small history as Maelstrom records it (`history.edn` op maps, or the same as
elle-cli's JSON array), good and bad, with the exit code and the verdict the command gives:
0 valid, 1 invalid, 3 unknown, 2 usage error (one line naming the file and what to do).
One case runs the real `chaos` executable; the rest click's runner on `checker.cli.check`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from checker.cli import check

DATA = Path(__file__).resolve().parent / "data" / "maelstrom"
CHAOS = Path(sys.executable).parent / "chaos"
KAFKA_VALID = (DATA / "kafka-valid.edn").read_text()
# The same run, where message 3 (key "6", offset 2) is never polled: every poll goes past it.
KAFKA_LOST = (
    KAFKA_VALID.replace('{"6" [[0 1] [2 3]], "7" [[1 2]]}', '{"6" [[0 1]], "7" [[1 2]]}')
    .replace("[[0 1] [2 3] [3 4]]", "[[0 1] [3 4]]")
    .replace('"6" [[0 1] [2 3]], "7" [[1 2] [4 6]]', '"6" [[0 1]], "7" [[1 2] [4 6]]')
)
KAFKA_TXN = """
{:type :invoke, :f :txn, :value [[:send "6" 1] [:poll]], :process 0, :index 0}
{:type :ok, :f :txn, :value [[:send "6" [0 1]] [:poll {"6" [[0 1]]}]], :process 0, :index 1}
"""
KAFKA_BAD_SEND = """
{:type :invoke, :f :send, :value [[:send "6" 1]], :time 1, :process 0, :index 0}
{:type :ok, :f :send, :value [[:send "6" 1]], :time 2, :process 0, :index 1}
"""


def jepsen_json(rows: list[tuple[str, object, str, object]]) -> str:
    """elle-cli's JSON: one array of op objects, keys without colons."""
    return json.dumps([{"type": t, "process": p, "f": f, "value": v, "time": i * 10, "index": i}
                       for i, (t, p, f, v) in enumerate(rows)])


KAFKA_OK_JSON = jepsen_json([
    ("invoke", 0, "send", [["send", "6", 1]]), ("ok", 0, "send", [["send", "6", [0, 1]]]),
    ("invoke", 1, "assign", ["6"]), ("ok", 1, "assign", ["6"]),
    ("invoke", 1, "poll", [["poll"]]), ("ok", 1, "poll", [["poll", {"6": [[0, 1]]}]]),
])
KAFKA_NONMONOTONIC_JSON = jepsen_json([
    ("invoke", 0, "send", [["send", "6", 1]]), ("ok", 0, "send", [["send", "6", [0, 1]]]),
    ("invoke", 1, "assign", ["6"]), ("ok", 1, "assign", ["6"]),
    ("invoke", 1, "poll", [["poll"]]), ("ok", 1, "poll", [["poll", {"6": [[0, 1]]}]]),
    ("invoke", 1, "poll", [["poll"]]), ("ok", 1, "poll", [["poll", {"6": [[0, 1]]}]]),
])

UNIQUE_OK_EDN = """
{:type :invoke, :f :generate, :value nil, :time 1, :process 0, :index 0}
{:type :invoke, :f :generate, :value nil, :time 2, :process 1, :index 1}
{:type :ok, :f :generate, :value "n1-1", :time 3, :process 0, :index 2}
{:type :ok, :f :generate, :value [2 "n2"], :time 4, :process 1, :index 3}
{:type :invoke, :f :generate, :value nil, :time 5, :process 0, :index 4}
{:type :info, :f :generate, :value nil, :time 6, :process 0, :index 5, :error :net-timeout}
{:type :invoke, :f :generate, :value nil, :time 7, :process 2, :index 6}
{:type :ok, :f :generate, :value 7, :time 8, :process 2, :index 7}
"""
UNIQUE_DUP_JSON = jepsen_json([
    ("invoke", 0, "generate", None), ("ok", 0, "generate", 5),
    ("invoke", 1, "generate", None), ("ok", 1, "generate", 6),
    ("invoke", 0, "generate", None), ("ok", 0, "generate", 5),
])

# Maelstrom's final reads (`:final? true`, one per thread) see everything.
BROADCAST_OK_EDN = """
{:type :invoke, :f :broadcast, :value 0, :time 1, :process 0, :index 0}
{:type :ok, :f :broadcast, :value 0, :time 2, :process 0, :index 1}
{:type :invoke, :f :read, :value nil, :time 3, :process 1, :index 2}
{:type :invoke, :f :broadcast, :value 1, :time 4, :process 0, :index 3}
{:type :ok, :f :read, :value [0], :time 5, :process 1, :index 4}
{:type :info, :f :broadcast, :value 1, :time 6, :process 0, :index 5, :error :net-timeout}
{:type :invoke, :f :read, :final? true, :value nil, :time 7, :process 1, :index 6}
{:type :ok, :f :read, :final? true, :value [0 1], :time 8, :process 1, :index 7}
{:type :invoke, :f :read, :final? true, :value nil, :time 9, :process 2, :index 8}
{:type :ok, :f :read, :final? true, :value [1 0], :time 10, :process 2, :index 9}
"""
# 1 was acknowledged; the last read, begun after, lacks it, and no later read saw it.
BROADCAST_LOST_EDN = """
{:type :invoke, :f :broadcast, :value 0, :time 1, :process 0, :index 0}
{:type :ok, :f :broadcast, :value 0, :time 2, :process 0, :index 1}
{:type :invoke, :f :broadcast, :value 1, :time 3, :process 0, :index 2}
{:type :ok, :f :broadcast, :value 1, :time 4, :process 0, :index 3}
{:type :invoke, :f :read, :value nil, :time 5, :process 1, :index 4}
{:type :ok, :f :read, :value [0 1], :time 6, :process 1, :index 5}
{:type :invoke, :f :read, :final? true, :value nil, :time 7, :process 1, :index 6}
{:type :ok, :f :read, :final? true, :value [0], :time 8, :process 1, :index 7}
"""
# A final read lacks 1 but a later one has it: stale, not lost, to Jepsen's set-full (which
# Maelstrom's checker is), and so to --model broadcast, even when the reads say "final": true.
BROADCAST_STALE_FINAL_JSON = json.dumps([
    {"type": "invoke", "process": 0, "f": "broadcast", "value": 1, "index": 0},
    {"type": "ok", "process": 0, "f": "broadcast", "value": 1, "index": 1},
    {"type": "invoke", "process": 1, "f": "read", "value": None, "index": 2, "final": True},
    {"type": "ok", "process": 1, "f": "read", "value": [], "index": 3, "final": True},
    {"type": "invoke", "process": 2, "f": "read", "value": None, "index": 4, "final": True},
    {"type": "ok", "process": 2, "f": "read", "value": [1], "index": 5, "final": True},
])

# (file name, text, model, exit code, checker, what the checker reports)
CASES = [
    ("kafka-valid.edn", KAFKA_VALID, "kafka", 0, "kafka", {"final_poll_count": 4}),
    ("kafka-lost.edn", KAFKA_LOST, "kafka", 1, "kafka", {"lost_count": 1}),
    ("kafka-ok.json", KAFKA_OK_JSON, "kafka", 0, "kafka", {"consumed_count": 1}),
    ("kafka-nonmonotonic.json", KAFKA_NONMONOTONIC_JSON, "kafka", 1, "kafka",
     {"error_types": ["nonmonotonic-poll"]}),
    ("kafka-empty.edn", "", "kafka", 3, "kafka",
     {"reason": "nothing to judge: no send was acknowledged"}),
    ("unique-ok.edn", UNIQUE_OK_EDN, "unique-ids", 0, "unique-ids",
     {"attempted_count": 4, "acknowledged_count": 3, "duplicated_count": 0}),
    ("unique-dup.json", UNIQUE_DUP_JSON, "unique-ids", 1, "unique-ids",
     {"duplicated": [{"id": 5, "count": 2, "indices": [1, 5]}], "range": [5, 6]}),
    ("broadcast-ok.edn", BROADCAST_OK_EDN, "broadcast", 0, "set-full",
     {"stable_count": 2, "lost_count": 0}),
    ("broadcast-lost.edn", BROADCAST_LOST_EDN, "broadcast", 1, "set-full",
     {"lost": [1], "lost_count": 1}),
    ("broadcast-stale-final.json", BROADCAST_STALE_FINAL_JSON, "broadcast", 0, "set-full",
     {"stale_count": 1, "final_read_count": 0}),
]  # fmt: skip


@pytest.mark.parametrize(("name", "text", "model", "code", "checker", "expect"), CASES,
                         ids=[c[0] for c in CASES])
def test_maelstrom_histories_are_judged_as_maelstrom_judges_them(
    tmp_path: Path, name: str, text: str, model: str, code: int, checker: str,
    expect: dict[str, object],
) -> None:
    path = tmp_path / name
    path.write_text(text)
    out = CliRunner().invoke(check, [str(path), "--model", model, "--json"])
    assert out.exit_code == code, out.output
    res = json.loads(out.output)["files"][str(path)]
    assert res.get("checker") == checker
    for key, value in expect.items():
        assert res[key] == value, (key, res)


def test_set_full_alone_does_not_take_broadcasts(tmp_path: Path) -> None:
    # Why --model broadcast exists: to set-full, a broadcast is no add, so every read message
    # is one nobody added.
    path = tmp_path / "broadcast.edn"
    path.write_text(BROADCAST_OK_EDN)
    out = CliRunner().invoke(check, [str(path), "--model", "set-full", "--json"])
    assert out.exit_code == 1
    assert json.loads(out.output)["files"][str(path)]["unexpected_count"] == 2


def test_the_real_chaos_check_judges_a_maelstrom_kafka_history(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.edn", tmp_path / "lost.edn"
    good.write_text(KAFKA_VALID)
    bad.write_text(KAFKA_LOST)
    proc = subprocess.run([str(CHAOS), "check", str(good), str(bad), "--model", "kafka"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"valid   {good} (kafka")
    assert lines[1].startswith(f"INVALID {bad} (kafka: lost_count=1")
    assert "  lost-write: 1 case(s); the first: key '6', operations 6, 7, 19, 20" in lines
    assert lines[-1] == "2 file(s): 1 valid, 1 invalid, 0 unknown"


def test_text_output_names_each_checker(tmp_path: Path) -> None:
    for name, text, model, line in [
        ("u.json", UNIQUE_DUP_JSON, "unique-ids", "(unique-ids: duplicated_count=1)"),
        ("b.edn", BROADCAST_LOST_EDN, "broadcast", "(set-full: lost_count=1)"),
        ("k.json", KAFKA_NONMONOTONIC_JSON, "kafka", "(kafka: nonmonotonic_poll_count=1)"),
    ]:
        path = tmp_path / name
        path.write_text(text)
        out = CliRunner().invoke(check, [str(path), "--model", model])
        assert out.exit_code == 1
        assert out.output.splitlines()[0] == f"INVALID {path} {line}"
    assert "  nonmonotonic-poll: 1 case(s); the first: key '6', operations 4, 5, 6, 7" in (
        out.output.splitlines())


@pytest.mark.parametrize(
    ("text", "model", "says"),
    [
        (KAFKA_TXN, "kafka", "operation 0: a :txn operation: transactional kafka histories "
         "(jepsen.tests.kafka with :txn? true) are not supported"),
        (KAFKA_BAD_SEND, "kafka", "operation 1: an ok send's micro-operation must be "
         "[:send key [offset msg]]"),
        ('{:type :invoke, :f :send, :value ["6" 1], :process 0, :index 0}', "kafka",
         "operation 0: a send's value must be [[:send key msg]]"),
        ('{:type :invoke, :f :read, :value nil, :process 0, :index 0}\n'
         '{:type :ok, :f :read, :value 5, :process 0, :index 1}', "broadcast",
         "operation 1: an ok read's value must be the list of messages the node holds"),
    ],
    ids=["kafka-txn", "kafka-ok-send-without-offset", "kafka-ours-not-jepsens",
         "broadcast-read-not-a-list"],
)
def test_malformed_or_unsupported_histories_exit_2_with_one_line(
    tmp_path: Path, text: str, model: str, says: str
) -> None:
    path = tmp_path / "history.edn"
    path.write_text(text)
    out = CliRunner().invoke(check, [str(path), "--model", model])
    assert out.exit_code == 2
    assert out.exception is None or isinstance(out.exception, SystemExit)
    (error,) = [line for line in out.output.splitlines() if line.startswith("error: ")]
    assert error.startswith(f"error: {path}: {says}")
    assert "Traceback" not in out.output


def test_the_models_are_offered(tmp_path: Path) -> None:
    out = CliRunner().invoke(check, ["--help"])
    assert "kafka / broadcast / unique-ids" in " ".join(out.output.split())
    path = tmp_path / "h.edn"
    path.write_text(UNIQUE_OK_EDN)
    out = CliRunner().invoke(check, [str(path), "--model", "no-such-model"])
    assert out.exit_code == 2
    for name in ("'kafka'", "'broadcast'", "'unique-ids'"):
        assert name in out.output
    out = CliRunner().invoke(check, [str(path), "--model", "unique-ids", "--init", "0"])
    assert out.exit_code == 2
    assert "--init does not apply to --model unique-ids" in out.output
