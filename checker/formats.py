"""Reading and writing histories in other tools' formats, and telling the formats apart.

`load(path, fmt=None)` returns a `Loaded(ops, fmt, semantics, default_model, default_init,
warnings)`; `fmt` is one of `FORMATS`, detected from the file name and its first bytes when
not given:

| format          | what it is                                                               |
|-----------------|--------------------------------------------------------------------------|
| `jsonl`         | ours: `history.jsonl`, one JSON object per line (`checker.history`)       |
| `json`          | one JSON array of operation objects, as `dump_elle_json` writes it        |
| `edn`           | Jepsen's `history.edn`: a vector or a sequence of op maps (or records     |
|                 | `#jepsen.history.Op{...}`), or the older `[process type f value]` tuples |
| `porcupine-etcd`| Porcupine's Jepsen etcd logs: `INFO  jepsen.util - 2 :invoke :cas [3 0]`  |
| `porcupine-kv`  | Porcupine's kv logs: `{:process 9, :type :invoke, :f :append, :key "0",  |
|                 | :value "x 9 0 y"}` (one EDN map per line)                               |

Every importer produces `Op`s in our encoding: EDN keywords become strings, the time is the
event's position in the file when the file has none, and kv operations carry `value = [key, v]`
(Porcupine's kv logs put the key in `:key`). Each format fixes the semantics the checker uses
(`knossos` for ours and Jepsen's, `porcupine` for Porcupine's; see `checker.linearizability`)
and Porcupine's logs fix their model too (`cas-register`, init nil; `kv`, init "").

`dump_elle_json(ops)` writes a history as the JSON array that Jepsen's elle-cli reads with
`--format json` (keys without colons, one object per operation), so a history can be
cross-checked with Jepsen's own tools.

Errors are `HistoryError`s whose message is `path:line: what is wrong; what to do`. A line
that does not parse is an error wherever it is, the last one too; the one exception is ours: a
torn last line of a `jsonl` history (a run stopped mid-write, `checker.history`), which is
skipped with a line in `Loaded.warnings` for the caller to show.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any, TextIO

from checker.history import (
    TYPES,
    HistoryError,
    Op,
    lines_of,
    op_from_json,
    open_text,
    parse_jsonl_lines,
    resolved_values,
)
from checker.intset import IntRanges

FORMATS = ("jsonl", "json", "edn", "porcupine-etcd", "porcupine-kv")


@dataclass(slots=True)
class Loaded:
    ops: list[Op]
    fmt: str
    semantics: str
    default_model: str | None = None
    default_init: Any = None
    warnings: list[str] = field(default_factory=list)  # one line each, naming file and line


_ETCD = re.compile(
    r"^INFO\s+jepsen\.util\s+-\s+(\d+)\s+:(invoke|ok|fail|info)\s+:(read|write|cas)\s+(.*?)\s*$",
    re.MULTILINE,
)
_ETCD_VALUE = re.compile(r"nil|-?\d+|\[\s*(-?\d+)\s+(-?\d+)\s*\]|:[\w-]+")
_KV = re.compile(
    r"^\{:process (\d+), :type :(invoke|ok|fail|info), :f :(get|put|append), "
    r':key "((?:[^"\\]|\\.)*)", :value (nil|"(?:[^"\\]|\\.)*")\}\s*$'
)


def detect(path: Path, head: str) -> str:
    """The format of a file, from its name and its first characters."""
    name = path.name
    stripped = head.lstrip()
    if name.endswith(".jsonl") or stripped.startswith('{"'):
        return "jsonl"
    if name.endswith(".json") or re.match(r'\[\s*(\{\s*"|\])', stripped):
        return "json"
    if stripped.startswith("INFO") and "jepsen.util" in head:
        return "porcupine-etcd"
    if stripped.startswith("{:process") and ":key" in head.split("\n", 1)[0]:
        return "porcupine-kv"
    if name.endswith(".edn") or stripped[:1] in "[({#":
        return "edn"
    raise HistoryError(
        f"{path}: cannot tell the history format; pass --format with one of {', '.join(FORMATS)}"
    )


HEAD_CHARS = 4096  # what `detect` looks at
CHUNK_CHARS = 1 << 16


def load(path: Path, fmt: str | None = None) -> Loaded:
    """Read a history file in `fmt` (detected when None). Our `jsonl` and Porcupine's kv logs
    are read line by line, never whole (`checker.history`, "Memory"); the other formats are
    one form each (a JSON array, an EDN vector) or Porcupine's small logs, and read whole."""
    try:
        with open_text(path) as fh:
            return _load(fh, path, fmt)
    except FileNotFoundError:
        raise HistoryError(
            f"{path}: no such file; pass a run directory or a history file"
        ) from None
    except IsADirectoryError:
        raise HistoryError(f"{path}: is a directory without history.jsonl") from None
    except UnicodeDecodeError as e:
        raise HistoryError(f"{path}: not UTF-8 text (byte {e.start}); is it a history?") from None
    except OSError as e:
        raise HistoryError(f"{path}: cannot read it ({e.strerror})") from None


def _load(fh: TextIO, path: Path, fmt: str | None) -> Loaded:
    head = fh.read(HEAD_CHARS)
    read = [head]  # the text read so far
    if not head.strip():  # perhaps a blank file: read on until it is not
        while chunk := fh.read(CHUNK_CHARS):
            read.append(chunk)
            if chunk.strip():
                break
        else:  # nothing to judge: the verdict is unknown
            return Loaded([], fmt or "empty", "knossos")
    if fmt is None:
        fmt = detect(path, head)
    if fmt not in FORMATS:
        raise HistoryError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    read.append(fh.readline())  # to the end of the line the text read so far stops in
    start = "".join(read)
    if fmt == "jsonl":
        warnings: list[str] = []
        ops = parse_jsonl_lines(chain(lines_of(start), fh), where=str(path), warnings=warnings)
        return Loaded(ops, fmt, "knossos", warnings=warnings)
    if fmt == "porcupine-kv":
        return Loaded(parse_kv_lines(chain(lines_of(start), fh), path), fmt, "porcupine", "kv", "")
    text = start + fh.read()
    if fmt == "json":
        return Loaded(_parse_json_array(text, path), fmt, "knossos")
    if fmt == "porcupine-etcd":
        return Loaded(parse_etcd(text, path), fmt, "porcupine", "cas-register", None)
    return Loaded(parse_edn(text, path), fmt, "knossos")


def _parse_json_array(text: str, path: Path) -> list[Op]:
    try:
        rows = json.loads(text)
    except json.JSONDecodeError as e:
        raise HistoryError(
            f"{path}:{e.lineno}: not valid JSON ({e.msg}); expected one array of operations"
        ) from None
    if not isinstance(rows, list):
        raise HistoryError(f"{path}:1: expected a JSON array of operations")
    ops = [
        op_from_json(txn_defaults(row), where=f"{path}: operation {n}")
        for n, row in enumerate(rows)
    ]
    for n, op in enumerate(ops):
        if op.index < 0:
            op.index = n
    return ops


def parse_etcd(text: str, path: Path) -> list[Op]:
    """Porcupine's Jepsen etcd logs. Lines that are not operations are skipped, as Porcupine
    does; an operation line with a value it cannot read is an error."""
    ops: list[Op] = []
    for m in _ETCD.finditer(text):
        process, typ, f, raw = m.groups()
        v = _ETCD_VALUE.fullmatch(raw)
        if v is None:
            lineno = text.count("\n", 0, m.start()) + 1
            raise HistoryError(
                f"{path}:{lineno}: cannot read the value {raw!r}; expected nil, an integer, "
                "[from to] or a :keyword"
            )
        if v.group(1) is not None:
            value: Any = [int(v.group(1)), int(v.group(2))]
        elif raw == "nil":
            value = None
        elif raw[0] == ":":
            value = raw[1:]
        else:
            value = int(raw)
        n = len(ops)
        ops.append(Op(typ, int(process), f, value, n, n))
    return ops


def _unquote(s: str) -> str:
    return s[1:-1] if "\\" not in s else json.loads(s)


def parse_kv(text: str, path: Path) -> list[Op]:
    """Porcupine's kv logs, one EDN map per line (see `parse_kv_lines`)."""
    return parse_kv_lines(lines_of(text), path)


def parse_kv_lines(lines: Iterable[str], path: Path) -> list[Op]:
    """Porcupine's kv logs, one EDN map per line, each with its newline (as a file gives them);
    `:key` moves into `value = [key, v]`."""
    ops: list[Op] = []
    match = _KV.match
    for lineno, line_read in enumerate(lines, 1):
        line = line_read.removesuffix("\n")
        m = match(line)
        if m is None:
            if not line.strip():
                continue
            ops.append(_kv_from_edn(line, path, lineno, len(ops)))
            continue
        process, typ, f, key, raw = m.groups()
        key = key if "\\" not in key else json.loads(f'"{key}"')
        value = None if raw == "nil" else _unquote(raw)
        n = len(ops)
        ops.append(Op(typ, int(process), f, [key, value], n, n))
    return ops


def _kv_from_edn(line: str, path: Path, lineno: int, n: int) -> Op:
    from checker import edn

    try:
        d = edn.loads(line)
    except edn.EdnError as e:
        raise HistoryError(f"{path}:{lineno}: {e}") from None
    op = _op_from_map(d, path, lineno, n)
    key = d.get("key") if isinstance(d, dict) else None
    op.value = [key, op.value]
    return op


def _op_from_map(d: Any, path: Path, lineno: int, n: int) -> Op:
    if not isinstance(d, dict):
        raise HistoryError(f"{path}:{lineno}: expected an operation map, got {d!r}")
    plain = {str(k): _plain(v) for k, v in d.items()}
    plain.setdefault("index", n)
    plain.setdefault("time", n)
    if isinstance(plain.get("f"), str | int) and not isinstance(plain.get("f"), str):
        plain["f"] = str(plain["f"])
    return op_from_json(txn_defaults(plain), where=f"{path}:{lineno}")


def txn_defaults(row: Any) -> Any:
    """Elle's own histories (its paper example, elle-cli's test histories) leave `:f :txn`,
    and sometimes `:process`, out of transaction rows, which Jepsen reads as nil (elle-cli
    says so in its row-family). A row whose value is a list of micro-operations `[f k v]` and
    that lacks them gets `f` "txn" and `process` null (one process); any other row is left
    as it is, and refused if it lacks them."""
    if not isinstance(row, dict) or ("f" in row and "process" in row):
        return row
    value = row.get("value")
    if not (isinstance(value, list) and value and all(isinstance(m, list) for m in value)):
        return row
    return {"f": "txn", "process": None, **row}


def _plain(value: Any) -> Any:
    """EDN values as JSON-like values: keywords and symbols become plain strings."""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, frozenset):
        return sorted((_plain(v) for v in value), key=repr)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def parse_edn(text: str, path: Path) -> list[Op]:
    """Jepsen's `history.edn`: a vector of op maps, a bare sequence of them, or tuples."""
    from checker import edn

    try:
        forms = edn.loads_all(text)
    except edn.EdnError as e:
        raise HistoryError(f"{path}:{e.line}: {e}; is this a Jepsen history.edn?") from None
    if len(forms) == 1 and isinstance(forms[0], list):
        forms = forms[0]
    lines = _form_lines(text)
    ops: list[Op] = []
    for n, form in enumerate(forms):
        lineno = lines[n] if n < len(lines) else 0
        if isinstance(form, list) and len(form) == 4 and str(form[1]) in TYPES:
            # The older Knossos tuple form: [process type f value].
            form = {"process": form[0], "type": form[1], "f": form[2], "value": form[3]}
        ops.append(_op_from_map(form, path, lineno, n))
    return ops


def _form_lines(text: str) -> list[int]:
    """Line numbers where top-level maps/tuples start (best effort, for error messages)."""
    return [
        text.count("\n", 0, m.start()) + 1
        for m in re.finditer(r"^\s*\[?\s*[{\[]", text, re.MULTILINE)
    ]


def dump_elle_json(ops: list[Op]) -> str:
    """A history as the JSON array Jepsen's elle-cli (`--format json`) and Knossos read."""
    # Jepsen's fields only: `node` and our extras mean nothing to elle-cli or Knossos.
    keys = ("index", "time", "type", "process", "f", "value", "error")

    def row(op: Op, value: Any) -> str:
        fields = {k: v for k, v in op.to_json().items() if k in keys}
        if isinstance(value, IntRanges):  # written out whole: Jepsen reads plain lists
            fields["value"] = list(value)
        return json.dumps(fields, separators=(",", ":"))

    # A read held as ranges or as a delta (`checker.intset`) is resolved to its whole set.
    return "[\n" + ",\n".join(row(op, value) for op, value in resolved_values(ops)) + "\n]\n"
