"""The operation record and `history.jsonl`, as DESIGN.md defines them.

A history is a list of `Op`s in the order they happened. Field names and meaning are Jepsen's:

- `index`: position in the history (0, 1, 2, ...).
- `time`: nanoseconds since the run started, from one monotonic clock.
- `type`: `invoke`, then exactly one of `ok` (took effect), `fail` (did not take effect) or
  `info` (may or may not have taken effect, now or at any later time).
- `process`: the logical client (an int), or `"nemesis"` for fault operations. A process has at
  most one operation outstanding; after an `info` its client continues under a new process.
- `f`: the operation's function (`read`, `write`, `cas`, `broadcast`, ...).
- `value`: the operation's argument on invoke, its result on completion.
- `error`: why an operation failed or is indeterminate (on `fail`/`info`), else absent.
- `node`: which node served the request, where useful.

Only invocations and their completions are paired here; checkers decide what they mean.

## A torn last line
The recorder writes each operation as one line and flushes it, so a run killed mid-write (or
out of disk space) can leave its last line cut short: the start of a record, `{"index":...`,
with no newline after it. `parse_jsonl` skips such a line and reports it to `warnings`
(`chaos check` prints it and checks everything before it), because refusing the whole history
would throw away a crashed run's evidence, which is what the history is flushed for. Anything
else that does not parse is an error naming the file and the line, the last line included: a
line that ends with a newline was written whole, and one that does not begin as our records
begin (`{"index":`) was not written by us. So a file of one garbage line is an error, never
an empty history.

## Compact reads
A read of a growing set (broadcast, g-set) may be recorded compactly (`checker.intset`), marked
by the op's `value_encoding`: `"int-ranges"`, the set as integer ranges (an `IntRanges`, a
`Sequence[int]`), or `"int-ranges-delta"`, the change since the same node's previous read (an
`IntRangesDelta`: `{"base": I, "add": [[lo, hi], ...], "remove": [...], "count": N}`). A
history without the field is plain Jepsen JSON.

A delta's base I is the `index` of the previous `ok` operation of the same `f` from the same
`node` whose value was ranges or a delta (`chain_key`); a node's first such read, and one after
a read that could not be encoded, is written whole. `ValueEncoder` writes them so (a recorder
calls it for every line, in the order it assigns indexes), and `Op.to_json` and `encoded` write
a loaded value back as it was read. The loader checks what is cheap: each value on its own
(sorted, disjoint ranges; a delta only on an `ok` operation), that a delta's base is that
previous read, and that its count is the base's count plus what it adds less what it removes.
Whether it really applies (adds only elements the base lacks, removes only ones it holds) needs
the base's set: `resolved_values` replays the deltas per node in history order, one running set
each, for a consumer that needs every value whole, and raises `HistoryError` naming the
operation where one does not apply; `checker.setfull` replays them itself, without resolving
every read.

## Memory
Checking a history should take a small multiple of its size (issue 7), and a broadcast history
is mostly read sets: every read lists the whole set so far, as small integers. So a file is
read line by line (`open_text`, `parse_jsonl_lines`), never whole, and the scalars that repeat
are shared (`Sharing`): the numbers of long lines are one `int` per distinct number, not one
per read that holds it, and an op's `type`, `f`, `node` and string `process` and `error` are
one `str` per distinct value. A read set then costs its list (an 8-byte pointer per element,
written in about 5 bytes), and an 80 MB broadcast history loads in about twice its size. Short
lines are decoded as they are: their numbers are mostly their own index and time, which no
other line repeats, and looking them up would only cost time. What is remembered is bounded
(`SHARED_VALUES_MAX`, then it starts afresh). Lists are never shared (an `Op`'s value is its
own), nor are strings inside values. A line with a `value_encoding` is decoded as it is: its
numbers are range bounds, which no other line repeats, and the shared decoder's Python hook per
number would make it several times slower.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from checker.intset import DELTA_ENCODING, ENCODING, IntRanges, IntRangesDelta

TYPES = ("invoke", "ok", "fail", "info")


class HistoryError(ValueError):
    """A history file or record is malformed. The message names the place and the fix."""


@dataclass(slots=True)
class Op:
    type: str
    process: Any
    f: str
    value: Any = None
    time: int = -1
    index: int = -1
    error: Any = None
    node: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        value, how = encoded(self.value)
        d: dict[str, Any] = {
            "index": self.index,
            "time": self.time,
            "type": self.type,
            "process": self.process,
            "f": self.f,
            "value": value,
            **how,
        }
        if self.error is not None:
            d["error"] = self.error
        if self.node is not None:
            d["node"] = self.node
        d.update(self.extra)
        return d


_KNOWN = {"index", "time", "type", "process", "f", "value", "error", "node", "value_encoding"}


def encoded(value: Any) -> tuple[Any, dict[str, Any]]:
    """A value as a history line holds it, and the fields that say how (`value_encoding`):
    what a recorder writing its own dicts needs to write an `IntRanges` or an `IntRangesDelta`
    as `Op.to_json` does."""
    if isinstance(value, IntRanges):
        return value.to_json(), {"value_encoding": ENCODING}
    if isinstance(value, IntRangesDelta):
        return value.to_json(), {"value_encoding": DELTA_ENCODING}
    return value, {}


def chain_key(node: Any, f: str) -> tuple[Hashable, str]:
    """Whose reads a delta is against: the same `node` (any JSON value) and the same `f`."""
    return (json.dumps(node, sort_keys=True) if isinstance(node, list | dict) else node), f


class ValueEncoder:
    """Writes each `ok` read held as ranges as a delta against the same node's previous one.

    A recorder calls `encode` for every line it writes, in the order it assigns their
    `index`es, instead of `encoded`. It keeps, per `(node, f)`, the index and the `IntRanges`
    of the latest `ok` completion whose value was an `IntRanges` (a reference: the value is
    immutable), and writes the next one as `IntRangesDelta.between` them, which costs the
    ranges after the ones the two share at their start, not their elements. A node's first
    such read, and one after an `ok` completion whose value is not an `IntRanges` (a read that
    could not be encoded), is written whole; anything else passes through `encoded`.
    """

    def __init__(self) -> None:
        self._latest: dict[tuple[Hashable, str], tuple[int, IntRanges]] = {}

    def encode(
        self, *, type: str, f: str, node: Any, index: int, value: Any
    ) -> tuple[Any, dict[str, Any]]:
        """The value as the line at `index` holds it, and the fields that say how."""
        if type == "ok":
            key = chain_key(node, f)
            latest = self._latest.pop(key, None)
            if isinstance(value, IntRanges):
                self._latest[key] = (index, value)
                if latest is not None:
                    base, held = latest
                    return encoded(IntRangesDelta.between(base, held, value))
        return encoded(value)


def is_chained(op: Op) -> bool:
    """Whether `op` is a read a later delta may be against, or is itself a delta: an `ok`
    completion whose value is an `IntRanges` or an `IntRangesDelta`."""
    return op.type == "ok" and isinstance(op.value, IntRanges | IntRangesDelta)


def base_problem(op: Op, delta: IntRangesDelta, latest: int | None) -> str | None:
    """What is wrong with `delta`'s base, the value of `op`, when `latest` is the index of the
    node's previous read held as ranges (None: there was none); None when it is that read."""
    if latest is None:
        return (f"its {DELTA_ENCODING} is against operation {delta.base}, but node "
                f"{op.node!r} has no earlier ok {op.f} held as ranges; a node's first one must "
                f"be written whole ({ENCODING})")
    if delta.base != latest:
        return (f"its {DELTA_ENCODING} is against operation {delta.base}, but the previous "
                f"ok {op.f} of node {op.node!r} held as ranges is operation {latest}: a delta "
                "is against that one")
    return None


class _Bases:
    """The loader's check of deltas against their bases (module docstring, "Compact reads"):
    per `(node, f)`, the index and size of the latest read held as ranges."""

    def __init__(self) -> None:
        self._latest: dict[tuple[Hashable, str], tuple[int, int]] = {}

    def check(self, op: Op) -> str | None:
        """What is wrong with `op`'s delta, or None (and `op` becomes its node's latest)."""
        if not is_chained(op):
            return None
        key = chain_key(op.node, op.f)
        value = op.value
        if isinstance(value, IntRanges):
            size = len(value)
        else:
            index, base_size = self._latest.get(key, (None, 0))
            problem = base_problem(op, value, index)
            if problem is not None:
                return problem
            size = base_size + len(value.add) - len(value.remove)
            if size != value.count:
                return (f"its {DELTA_ENCODING} says count {value.count}, but its base "
                        f"(operation {value.base}) held {base_size}, and {base_size} + "
                        f"{len(value.add)} added - {len(value.remove)} removed is {size}")
        self._latest[key] = (op.index, size)
        return None


def resolved_values(ops: Iterable[Op]) -> Iterator[tuple[Op, Any]]:
    """Every operation with its value whole: a delta's as the `IntRanges` it makes of its
    base's, replayed per `(node, f)` in history order (one running set each, costing the
    ranges a delta touches); any other value as it is. Raises `HistoryError` naming the
    operation whose delta is not against its node's previous read, or does not apply."""
    latest: dict[tuple[Hashable, str], tuple[int, IntRanges]] = {}
    for op in ops:
        value = op.value
        if is_chained(op):
            key = chain_key(op.node, op.f)
            if isinstance(value, IntRangesDelta):
                index, held = latest.get(key, (None, None))
                problem = base_problem(op, value, index)
                if problem is not None:
                    raise HistoryError(f"operation {op.index}: {problem}")
                assert held is not None
                try:
                    value = value.apply(held)
                except ValueError as e:
                    raise HistoryError(f"operation {op.index}: {e}") from None
            latest[key] = (op.index, value)
        yield op, value


def op_from_json(d: Any, *, where: str = "history") -> Op:
    """Build an `Op` from one decoded JSON object, or raise `HistoryError` naming `where`."""
    if not isinstance(d, dict):
        raise HistoryError(f"{where}: expected a JSON object, got {type(d).__name__}")
    for key in ("type", "process", "f"):
        if key not in d:
            raise HistoryError(
                f"{where}: missing field {key!r} (every operation needs type, process and f)"
            )
    if d["type"] not in TYPES:
        raise HistoryError(f"{where}: type {d['type']!r} is not one of {', '.join(TYPES)}")
    if not isinstance(d["f"], str):
        raise HistoryError(f"{where}: f must be a string, got {d['f']!r}")
    extra = {k: v for k, v in d.items() if k not in _KNOWN}
    value = d.get("value")
    encoding = d.get("value_encoding")
    if encoding is not None:
        value = _decoded(d, encoding, where)
    return Op(
        type=d["type"],
        process=d["process"],
        f=d["f"],
        value=value,
        time=int(d.get("time", -1)),
        index=int(d.get("index", -1)),
        error=d.get("error"),
        node=d.get("node"),
        extra=extra,
    )


def _decoded(d: dict[str, Any], encoding: Any, where: str) -> IntRanges | IntRangesDelta:
    """The value of a record with a `value_encoding` (module docstring, "Compact reads")."""
    if encoding not in (ENCODING, DELTA_ENCODING):
        raise HistoryError(f"{where}: value_encoding {encoding!r} is not known; the known ones "
                           f"are {ENCODING!r} and {DELTA_ENCODING!r} (checker/intset.py)")
    if encoding == DELTA_ENCODING and d["type"] != "ok":
        raise HistoryError(f"{where}: an {DELTA_ENCODING} value on an {d['type']} operation: "
                           "only an ok read is written as a delta")
    try:
        if encoding == ENCODING:
            return IntRanges.from_json(d.get("value"))
        delta = IntRangesDelta.from_json(d.get("value"))
    except ValueError as e:
        raise HistoryError(f"{where}: {e}") from None
    index = d.get("index")
    if type(index) is int and delta.base >= index:
        raise HistoryError(f"{where}: its {DELTA_ENCODING} is against operation {delta.base}, "
                           f"which is not before it (its index is {index})")
    return delta


RECORD_START = '{"index":'  # how every line our recorder (and `dump_jsonl`) writes begins


def is_torn(line: str, *, is_last: bool) -> bool:
    """Whether an unparseable line is what a write cut short leaves (module docstring): the
    last one, with no newline after it (`is_last`: the text does not end with one), beginning
    as our records begin (`RECORD_START`, or as much of it as there is)."""
    return is_last and (line.startswith(RECORD_START) or RECORD_START.startswith(line))


SHARED_LINE_CHARS = 512  # lines longer than this (read sets) share their numbers
SHARED_VALUES_MAX = 1 << 16  # distinct values a `Sharing` remembers before it starts afresh


class _SharedInts(dict[str, int]):
    """JSON integer literals to one `int` each: `parse_int` for a `json.JSONDecoder`. Bounded:
    when full it starts afresh (values it held stay shared by the ops that hold them)."""

    __slots__ = ()

    def __missing__(self, digits: str) -> int:
        if len(self) >= SHARED_VALUES_MAX:
            self.clear()
        value = self[digits] = int(digits)
        return value


_TYPES = {t: t for t in TYPES}


class Sharing:
    """One object per distinct repeated scalar of a history being loaded (module docstring)."""

    def __init__(self) -> None:
        self._decoder = json.JSONDecoder(parse_int=_SharedInts().__getitem__)
        self._texts: dict[str, str] = {}

    def loads(self, text: str) -> Any:
        """`json.loads(text)`, with the numbers of a long line shared."""
        # json.loads, unlike JSONDecoder.decode, refuses a byte-order mark: leave that line to it.
        if (len(text) <= SHARED_LINE_CHARS or text.startswith("\ufeff")
                or '"value_encoding"' in text):  # its numbers are its own (module docstring)
            return json.loads(text)
        return self._decoder.decode(text)

    def text(self, value: str) -> str:
        if len(self._texts) >= SHARED_VALUES_MAX:
            self._texts.clear()
        return self._texts.setdefault(value, value)

    def share(self, op: Op) -> None:
        """Point `op`'s repeated strings at the objects other ops hold."""
        op.type = _TYPES[op.type]
        op.f = self.text(op.f)
        if type(op.process) is str:
            op.process = self.text(op.process)
        if type(op.node) is str:
            op.node = self.text(op.node)
        if type(op.error) is str:
            op.error = self.text(op.error)
        if op.extra:
            op.extra = {self.text(k): v for k, v in op.extra.items()}


def lines_of(text: str) -> Iterator[str]:
    """The lines of `text`, split at "\\n" only (as `text.split("\\n")` splits it), each with its
    newline, as reading a file gives them: only the last one may lack it."""
    start = 0
    while (end := text.find("\n", start)) >= 0:
        yield text[start : end + 1]
        start = end + 1
    if start < len(text):
        yield text[start:]


def parse_jsonl(text: str, *, where: str, warnings: list[str] | None = None) -> list[Op]:
    """Parse the text of a `history.jsonl` (see `parse_jsonl_lines`)."""
    return parse_jsonl_lines(lines_of(text), where=where, warnings=warnings)


def parse_jsonl_lines(
    lines: Iterable[str], *, where: str, warnings: list[str] | None = None
) -> list[Op]:
    """Parse the lines of a `history.jsonl`, each with its newline (as a file, or `lines_of`,
    gives them); errors name `where` and the line.

    A torn last line (module docstring) is skipped and a line saying so is appended to
    `warnings`: everything before it is still a history. An operation without an `index` gets
    its position. A delta is checked against its base as far as that is cheap (module
    docstring, "Compact reads").
    """
    ops: list[Op] = []
    sharing = Sharing()
    bases = _Bases()
    for lineno, line in enumerate(lines, 1):
        if not line or line.isspace():
            continue
        is_last = not line.endswith("\n")  # only the last line has no newline after it
        # Without its newline, the line reads as it always did: an unterminated string says so,
        # not "invalid control character".
        text = line if is_last else line[:-1]
        try:
            d = sharing.loads(text)
        except json.JSONDecodeError as e:
            if is_torn(text, is_last=is_last):
                if warnings is not None:
                    warnings.append(
                        f"{where}:{lineno}: the last line is cut short (no newline after it: "
                        f"the run stopped mid-write); skipped it and checked the "
                        f"{len(ops)} operation(s) before it"
                    )
                break
            raise HistoryError(
                f"{where}:{lineno}: not valid JSON ({e.msg}); each line must be one JSON object"
            ) from None
        op = op_from_json(d, where=f"{where}:{lineno}")
        sharing.share(op)
        if op.index < 0:
            op.index = len(ops)
        problem = bases.check(op)
        if problem is not None:
            raise HistoryError(f"{where}:{lineno}: {problem}")
        ops.append(op)
    return ops


def undecodable(path: Path) -> UnicodeDecodeError | None:
    """The first byte of `path` that is not UTF-8, as decoding the whole file reports it
    (`start` and `end` count from the file's start), or None; read line by line."""
    offset = 0
    with open(path, "rb") as fh:
        for line in fh:
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as e:
                return UnicodeDecodeError(
                    e.encoding, e.object, offset + e.start, offset + e.end, e.reason
                )
            offset += len(line)
    return None


@contextmanager
def open_text(path: Path) -> Iterator[TextIO]:
    """`path` open as UTF-8 text, to be read line by line (newlines as `Path.read_text` reads
    them). A file that is not UTF-8 is refused as such whatever else is wrong with it, as when
    the whole text was decoded before anything read it: if the block raises, and the file holds
    a byte that is not UTF-8 anywhere, the error raised is that `UnicodeDecodeError`, its
    position counted from the file's start (`undecodable`)."""
    with open(path, encoding="utf-8") as fh:
        try:
            yield fh
        except Exception:
            error = undecodable(path)
            if error is None:
                raise
            raise error from None


def iter_jsonl(path: Path) -> Iterator[Op]:
    """The operations of a `history.jsonl` file (see `parse_jsonl_lines`)."""
    yield from load_jsonl(path)


def load_jsonl(path: Path, *, warnings: list[str] | None = None) -> list[Op]:
    """The operations of a `history.jsonl` file, read line by line (`parse_jsonl_lines`)."""
    with open_text(path) as fh:
        return parse_jsonl_lines(fh, where=str(path), warnings=warnings)


def dump_jsonl(ops: Iterable[Op], path: Path) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for op in ops:
            fh.write(json.dumps(op.to_json(), separators=(",", ":")) + "\n")


def pair(ops: list[Op]) -> list[tuple[Op, Op | None]]:
    """Pair each invocation with its completion (or None if it never completed).

    Raises `HistoryError` when a process invokes twice without completing, or completes an
    operation it never invoked: such a history was not recorded by a Jepsen-style client.
    Nemesis operations are paired like any other process.
    """
    open_by_process: dict[Any, int] = {}
    pairs: list[list[Any]] = []
    for op in ops:
        key = op.process
        if op.type == "invoke":
            if key in open_by_process:
                raise HistoryError(
                    f"operation {op.index}: process {key!r} invoked again while operation "
                    f"{pairs[open_by_process[key]][0].index} is still open"
                )
            open_by_process[key] = len(pairs)
            pairs.append([op, None])
        else:
            if key not in open_by_process:
                raise HistoryError(
                    f"operation {op.index}: process {key!r} completed ({op.type}) with no open "
                    "invocation"
                )
            pairs[open_by_process.pop(key)][1] = op
    return [(inv, comp) for inv, comp in pairs]


def client_ops(ops: Iterable[Op]) -> list[Op]:
    """The operations of clients, leaving out the nemesis."""
    return [op for op in ops if op.process != "nemesis"]
