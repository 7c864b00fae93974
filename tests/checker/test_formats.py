"""Importers, format detection, validation messages, and the elle-cli exporter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lin_helpers import history, info, inv, ok

from checker.formats import detect, dump_elle_json, load
from checker.history import HistoryError, dump_jsonl
from checker.intset import IntRanges
from checker.linearizability import check
from checker.models import make

DATA = Path(__file__).resolve().parent / "data"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_porcupine_etcd_log() -> None:
    loaded = load(DATA / "etcd_000.log")
    assert loaded.fmt == "porcupine-etcd"
    assert loaded.semantics == "porcupine"
    assert loaded.default_model == "cas-register"
    first = loaded.ops[0]
    assert (first.process, first.type, first.f, first.value) == (0, "invoke", "read", None)
    cas = next(op for op in loaded.ops if op.f == "cas")
    assert cas.value == [3, 0]
    assert any(op.type == "info" and op.value == "timed-out" for op in loaded.ops)


def test_porcupine_kv_log_moves_the_key_into_the_value() -> None:
    loaded = load(DATA / "c01-ok.txt")
    assert loaded.fmt == "porcupine-kv"
    assert loaded.default_model == "kv"
    assert loaded.default_init == ""
    op = loaded.ops[0]
    assert (op.f, op.value) == ("append", ["0", "x 0 0 y"])


def test_porcupine_kv_odd_lines_fall_back_to_the_edn_reader(tmp_path: Path) -> None:
    text = '{:process 1, :type :invoke, :f :get, :key "a\\"b", :value nil}\n'
    text += '{:type :ok, :process 1, :f :get, :key "a\\"b", :value "v"}\n'
    loaded = load(write(tmp_path, "h.txt", text))
    assert [op.value for op in loaded.ops] == [['a"b', None], ['a"b', "v"]]


EDN_MAPS = """[{:type :invoke, :f :write, :value 1, :process 0, :time 10, :index 0}
 {:type :ok, :f :write, :value 1, :process 0, :time 20, :index 1}
 {:type :invoke, :f :read, :value nil, :process 1, :time 30, :index 2}
 {:type :ok, :f :read, :value 1, :process 1, :time 40, :index 3}
 {:type :info, :f :start-partition, :value nil, :process :nemesis, :time 45, :index 4}]"""


def test_jepsen_edn_vector_of_maps() -> None:
    loaded = load_text(EDN_MAPS)
    assert loaded.fmt == "edn"
    assert [op.type for op in loaded.ops] == ["invoke", "ok", "invoke", "ok", "info"]
    assert loaded.ops[3].value == 1
    assert loaded.ops[4].process == "nemesis"
    res = check(loaded.ops, make("register"))
    assert res["valid"] is True


def load_text(text: str, name: str = "history.edn"):  # type: ignore[no-untyped-def]
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / name
        path.write_text(text)
        return load(path)


def test_jepsen_edn_sequence_of_records() -> None:
    text = (
        "#jepsen.history.Op{:index 0, :time 1, :type :invoke, :process 0, :f :write, :value 2}\n"
        "#jepsen.history.Op{:index 1, :time 2, :type :ok, :process 0, :f :write, :value 2}\n"
        "#jepsen.history.Op{:index 2, :time 3, :type :invoke, :process 1, :f :read, :value nil}\n"
        "#jepsen.history.Op{:index 3, :time 4, :type :ok, :process 1, :f :read, :value 3}\n"
    )
    loaded = load_text(text)
    assert len(loaded.ops) == 4
    assert check(loaded.ops, make("register"))["valid"] is False


def test_jepsen_edn_old_tuples() -> None:
    text = "[[0 :invoke :write 1] [0 :ok :write 1] [1 :invoke :read nil] [1 :ok :read 1]]"
    loaded = load_text(text)
    assert [(op.process, op.type, op.f, op.value) for op in loaded.ops][-1] == (1, "ok", "read", 1)
    assert check(loaded.ops, make("register"))["valid"] is True


def test_jepsen_independent_values_become_kv_pairs() -> None:
    text = "[{:type :invoke, :f :write, :value [:k 1], :process 0}]"
    assert load_text(text).ops[0].value == ["k", 1]


def test_malformed_edn_names_file_and_line() -> None:
    with pytest.raises(HistoryError, match=r"history\.edn:2: line 2, column \d+: .*never closed"):
        load_text("[{:type :invoke\n :f :read, :process 0}")


def test_edn_op_without_type_names_its_line() -> None:
    with pytest.raises(HistoryError, match=r"history\.edn:2: missing field 'type'"):
        load_text("[{:type :invoke, :f :read, :process 0}\n {:f :read, :process 0}]")


def test_jsonl_errors_name_file_and_line(tmp_path: Path) -> None:
    good = json.dumps({"type": "invoke", "process": 0, "f": "read"})
    path = write(tmp_path, "history.jsonl", f"{good}\n{{not json\n{good}\n")
    with pytest.raises(HistoryError, match=r"history\.jsonl:2: not valid JSON"):
        load(path)
    path = write(tmp_path, "history.jsonl", f'{good}\n{{"type": "done", "process": 0, "f": "x"}}\n')
    with pytest.raises(HistoryError, match=r"history\.jsonl:2: type 'done' is not one of"):
        load(path)


GOOD_LINE = json.dumps({"type": "invoke", "process": 0, "f": "read"})


@pytest.mark.parametrize(
    ("text", "skipped_line"),
    [
        (f'{GOOD_LINE}\n{{"index":1,"time":5,"type":"ok","proc', 2),  # stopped mid-write
        (f"{GOOD_LINE}\n{{", 2),  # ... after the first byte of a record
        (f'{GOOD_LINE}\n{{"ind', 2),
        ('{"index":0,"ti', 1),  # ... during its first record: nothing before it
    ],
)
def test_jsonl_torn_last_line_is_skipped_with_a_warning(
    tmp_path: Path, text: str, skipped_line: int
) -> None:
    path = write(tmp_path, "history.jsonl", text)
    loaded = load(path)
    assert len(loaded.ops) == skipped_line - 1
    assert len(loaded.warnings) == 1
    assert loaded.warnings[0].startswith(f"{path}:{skipped_line}: the last line is cut short")


@pytest.mark.parametrize(
    ("name", "text", "bad_line"),
    [
        ("history.jsonl", "garbage", 1),  # a one-line garbage file is not an empty history
        ("history.jsonl", "garbage\n", 1),
        ("h.txt", '{"garbage', 1),  # detected as jsonl, but not how our records begin
        ("history.jsonl", f'{GOOD_LINE}\n{{"type": "ok", "proc', 2),  # nor is this
        ("history.jsonl", f"{GOOD_LINE}\n{{oops\n", 2),  # a newline after it: written whole
        ("history.jsonl", f"{GOOD_LINE}\n[1, 2", 2),  # no newline, but no record's start
        ("history.jsonl", f"{GOOD_LINE}\nINFO done", 2),
    ],
)
def test_jsonl_unparseable_last_line_is_an_error_naming_file_and_line(
    tmp_path: Path, name: str, text: str, bad_line: int
) -> None:
    path = write(tmp_path, name, text)
    with pytest.raises(HistoryError, match=rf"{name}:{bad_line}: not valid JSON"):
        load(path)


def test_a_whole_history_loads_without_warnings(tmp_path: Path) -> None:
    loaded = load(write(tmp_path, "history.jsonl", f"{GOOD_LINE}\n{GOOD_LINE}"))
    assert (len(loaded.ops), loaded.warnings) == (2, [])  # a last line whole but unterminated


def test_a_byte_that_is_not_utf8_is_named_first_wherever_it_is(tmp_path: Path) -> None:
    # The file is read line by line, yet reported as when it was decoded whole before parsing:
    # the bad byte's position from the file's start, ahead of an earlier line's error.
    good = f"{GOOD_LINE}\n".encode()
    data = good + b"{oops\n" + good * 10_000 + b"\xff\n"
    path = tmp_path / "history.jsonl"
    path.write_bytes(data)
    with pytest.raises(HistoryError, match=rf"not UTF-8 text \(byte {len(data) - 2}\)"):
        load(path)
    path = tmp_path / "notes.txt"  # nor can its format be told
    path.write_bytes(b"hello\n" + b"\xe2\x82")
    with pytest.raises(HistoryError, match=r"not UTF-8 text \(byte 6\)"):
        load(path)


def test_a_long_blank_start_counts_its_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "history.jsonl", "\n" * 5_000 + f"{GOOD_LINE}\n{{oops\n")
    with pytest.raises(HistoryError, match=r"history\.jsonl:5002: not valid JSON"):
        load(path)
    assert load(write(tmp_path, "blank.jsonl", " \n" * 50_000)).ops == []


def test_unreadable_and_undetectable_files(tmp_path: Path) -> None:
    with pytest.raises(HistoryError, match="no such file"):
        load(tmp_path / "missing.jsonl")
    with pytest.raises(HistoryError, match="pass --format"):
        load(write(tmp_path, "notes.txt", "hello there\n"))
    assert load(write(tmp_path, "empty.log", "")).ops == []


def test_detection() -> None:
    assert detect(Path("x"), "INFO  jepsen.util - 0\t:invoke\t:read\tnil") == "porcupine-etcd"
    assert detect(Path("x"), '{:process 0, :type :invoke, :f :get, :key "1"}') == "porcupine-kv"
    assert detect(Path("x"), "{:process 0, :type :invoke, :f :read}") == "edn"
    assert detect(Path("x"), '{"type": "invoke"}') == "jsonl"
    assert detect(Path("x"), '[{"type": "invoke"}]') == "json"


def test_elle_export_round_trips(tmp_path: Path) -> None:
    ops = history(
        inv(0, "write", ["k", 1]), ok(0, "write", ["k", 1]),
        inv(1, "cas", ["k", [1, 2]]), info(1, "cas", ["k", [1, 2]]),
        inv(2, "read", ["k", None]), ok(2, "read", ["k", 2]),
    )  # fmt: skip
    ops[3].error = "timeout"
    text = dump_elle_json(ops)
    rows = json.loads(text)
    assert rows[3] == {
        "index": 3, "time": 3, "type": "info", "process": 1, "f": "cas",
        "value": ["k", [1, 2]], "error": "timeout",
    }  # fmt: skip
    path = write(tmp_path, "export.json", text)
    back = load(path).ops
    assert [op.to_json() for op in back] == [op.to_json() for op in ops]
    # and the jsonl writer round-trips through the reader too
    dump_jsonl(ops, tmp_path / "history.jsonl")
    assert [op.to_json() for op in load(tmp_path / "history.jsonl").ops] == [
        op.to_json() for op in ops
    ]


def test_elle_export_writes_a_read_held_as_ranges_as_its_list() -> None:
    ranges = IntRanges.encode([1, 2, 3, 7])
    ops = history(inv(0, "read", None), ok(0, "read", ranges))
    rows = json.loads(dump_elle_json(ops))
    assert rows[1]["value"] == [1, 2, 3, 7] and "value_encoding" not in rows[1]
