"""Validation helpers for scenario files: one-line errors that name the file, line, key and fix.

`Validator.fail` raises `ScenarioError` as `FILE:LINE: KEY: problem; fix`. The line is found
on a best-effort basis from the file's text (top-level keys and `[[timeline]]` entries).
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Sequence
from typing import Any, NoReturn

from checker.fault_kinds import TARGETS

NODE_RE = re.compile(r"^n(\d+)$")


class ScenarioError(ValueError):
    """A scenario file or value is wrong. The message is one line naming the place and the fix."""


class Validator:
    """Raises `ScenarioError`s that name the file, the line where it can find one, and the key."""

    def __init__(self, where: str, text: str | None) -> None:
        self.where = where
        self.text = text

    def fail(self, key: str, problem: str, fix: str, *, entry: int | None = None) -> NoReturn:
        line = line_of(self.text, key, entry) if self.text is not None else None
        place = f"{self.where}:{line}" if line else self.where
        raise ScenarioError(f"{place}: {key}: {problem}; {fix}")

    def number(
        self,
        key: str,
        value: Any,
        *,
        low: float,
        high: float,
        low_open: bool = False,
        entry: int | None = None,
    ) -> float:
        problem = number_problem(value, low=low, high=high, low_open=low_open)
        if problem is not None:
            self.fail(key, *problem, entry=entry)
        return float(value)

    def integer(self, key: str, value: Any, *, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(
                key,
                f"must be a whole number, not {value!r}",
                f"write an integer from {low} to {high}",
            )
        if not low <= value <= high:
            self.fail(key, f"{value} is out of range", f"use {low} to {high}")
        return int(value)

    def choice(self, key: str, value: Any, choices: Sequence[str], *, what: str,
               entry: int | None = None) -> str:
        """`value` must be one of `choices` (a fault, a shape, a workload...): a missing one
        and an unknown one (with the closest name) each get their one-line error."""
        if value is None:
            self.fail(key, "missing", f"use one of {', '.join(choices)}", entry=entry)
        if value not in choices:
            self.fail(key, f"unknown {what} {value!r}{suggest(str(value), choices)}",
                      f"use one of {', '.join(choices)}", entry=entry)
        return str(value)

    def boolean(self, key: str, value: Any, *, entry: int | None = None) -> None:
        if not isinstance(value, bool):
            self.fail(
                key, f"must be true or false, not {value!r}", "write true or false", entry=entry
            )

    def node_id(self, key: str, value: Any, *, nodes: int, entry: int, star: bool = False) -> None:
        m = NODE_RE.match(value) if isinstance(value, str) else None
        if m is None or not 1 <= int(m.group(1)) <= nodes:
            extra = " or '*'" if star else ""
            self.fail(
                key,
                f"{value!r} is not a node of this scenario",
                f"use n1 to n{nodes}{extra}",
                entry=entry,
            )

    def target(self, key: str, value: Any, *, nodes: int, entry: int) -> None:
        if isinstance(value, str) and value in TARGETS:
            return
        if isinstance(value, list):
            if not value:
                self.fail(key, "an empty list of nodes", "name at least one node", entry=entry)
            for j, node in enumerate(value):
                self.node_id(f"{key}[{j}]", node, nodes=nodes, entry=entry)
            return
        if isinstance(value, str) and NODE_RE.match(value):
            self.node_id(key, value, nodes=nodes, entry=entry)
            return
        self.fail(
            key,
            f"unknown target {value!r}{suggest(str(value), TARGETS)}",
            f"use one of {', '.join(TARGETS)}, a node id (n1 to n{nodes}) or a list of them",
            entry=entry,
        )


def number_problem(
    value: Any, *, low: float, high: float, low_open: bool = False
) -> tuple[str, str] | None:
    """What is wrong with `value` as a number in its range, and the fix; None if nothing."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return f"must be a number, not {value!r}", f"write a number {_range(low, high, low_open)}"
    if value < low or value > high or (low_open and value == low):
        return f"{value:g} is out of range", f"use a number {_range(low, high, low_open)}"
    return None


def _range(low: float, high: float, low_open: bool) -> str:
    return f"above {low:g} and at most {high:g}" if low_open else f"from {low:g} to {high:g}"


def suggest(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def line_of(text: str | None, key: str, entry: int | None) -> int | None:
    """Best effort: the line of the `entry`-th `[[timeline]]` header, or of a top-level `key =`.
    Inline tables and arrays are not traced; the key path alone then names the place."""
    if text is None:
        return None
    lines = text.splitlines()
    if entry is not None:
        headers = [
            i for i, line in enumerate(lines, 1) if re.match(r"^\s*\[\[\s*timeline\s*\]\]", line)
        ]
        if entry >= len(headers):
            return None
        start = headers[entry]
        # Point at the key inside the entry when it is written there.
        leaf = key.rsplit(".", 1)[-1].split("[", 1)[0]
        end = headers[entry + 1] if entry + 1 < len(headers) else len(lines) + 1
        for i in range(start, end - 1):
            if re.match(rf"^\s*{re.escape(leaf)}\s*=", lines[i]):
                return i + 1
        return start
    top = key.split(".", 1)[0].split("[", 1)[0]
    for i, line in enumerate(lines, 1):
        if re.match(r"^\s*\[", line):
            break  # past the top-level keys
        if re.match(rf"^\s*{re.escape(top)}\s*=", line):
            return i
    return None

