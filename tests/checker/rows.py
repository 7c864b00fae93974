"""Helpers for the small checkers' tests: histories as literal rows.

A row is `(type, process, f, value[, extra])`; `extra` may carry `node` and `error`, the rest
goes to the op's `extra`. `op(...)` makes the invocation and completion rows of one operation.
"""

from __future__ import annotations

from typing import Any

from checker.history import Op

NODES = ["n1", "n2", "n3"]


def h(*rows: tuple[Any, ...]) -> list[Op]:
    ops = []
    for i, row in enumerate(rows):
        type_, process, f, value, *rest = row
        kw: dict[str, Any] = dict(rest[0]) if rest else {}
        node = kw.pop("node", None)
        error = kw.pop("error", None)
        ops.append(Op(type_, process, f, value, time=i, index=i, node=node, error=error, extra=kw))
    return ops


def op(p: Any, f: str, value: Any, result: Any = None, outcome: str = "ok", **kw: Any) -> list:
    extra = {k: v for k, v in kw.items() if k != "error"}
    done = dict(kw)
    return [("invoke", p, f, value, extra), (outcome, p, f, result, done)]
