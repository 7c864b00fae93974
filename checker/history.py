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
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
        d: dict[str, Any] = {
            "index": self.index,
            "time": self.time,
            "type": self.type,
            "process": self.process,
            "f": self.f,
            "value": self.value,
        }
        if self.error is not None:
            d["error"] = self.error
        if self.node is not None:
            d["node"] = self.node
        d.update(self.extra)
        return d


_KNOWN = {"index", "time", "type", "process", "f", "value", "error", "node"}


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
    return Op(
        type=d["type"],
        process=d["process"],
        f=d["f"],
        value=d.get("value"),
        time=int(d.get("time", -1)),
        index=int(d.get("index", -1)),
        error=d.get("error"),
        node=d.get("node"),
        extra=extra,
    )


def parse_jsonl(text: str, *, where: str) -> list[Op]:
    """Parse the text of a `history.jsonl`; errors name `where` and the line.

    A last line cut short (the run died mid-write) is skipped: everything before it is still a
    history. An operation without an `index` gets its position.
    """
    ops: list[Op] = []
    lines = text.split("\n")
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
        except json.JSONDecodeError as e:
            if lineno == len(lines):
                break  # no newline after it: cut short
            raise HistoryError(
                f"{where}:{lineno}: not valid JSON ({e.msg}); each line must be one JSON object"
            ) from None
        op = op_from_json(d, where=f"{where}:{lineno}")
        if op.index < 0:
            op.index = len(ops)
        ops.append(op)
    return ops


def iter_jsonl(path: Path) -> Iterator[Op]:
    """The operations of a `history.jsonl` file (see `parse_jsonl`)."""
    yield from load_jsonl(path)


def load_jsonl(path: Path) -> list[Op]:
    return parse_jsonl(path.read_text(encoding="utf-8"), where=str(path))


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
