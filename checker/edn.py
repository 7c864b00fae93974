"""A small, strict reader for EDN, the data notation Jepsen writes its histories in.

EDN (https://github.com/edn-format/edn) is Clojure's data syntax. Jepsen's `history.edn` is a
vector (or a bare sequence) of maps such as `{:type :invoke, :f :read, :process 0, :value nil}`,
or, in newer Jepsen, of tagged records `#jepsen.history.Op{...}`. This module reads the subset of
EDN that such files use, and a little more, into plain Python values:

| EDN                         | Python                                                |
|-----------------------------|-------------------------------------------------------|
| `nil`, `true`, `false`      | `None`, `True`, `False`                               |
| `42`, `-7`, `42N`           | `int`                                                 |
| `1.5`, `1e3`, `1.5M`, `1/2` | `float`                                               |
| `"a\\n\\"b"`                | `str` (escapes `\\t \\r \\n \\\\ \\" \\b \\f \\uXXXX`) |
| `:read`, `:jepsen/op`       | `Keyword` (a `str` subclass: `Keyword("read") == "read"`) |
| `foo`, `a.b/c`              | `Symbol` (a `str` subclass)                           |
| `\\a`, `\\newline`          | `str` of one character                                |
| `[1 2]`, `(1 2)`            | `list`                                                |
| `{:a 1}`                    | `dict` (vector/set keys become tuples/frozensets)     |
| `#{1 2}`                    | `frozenset`                                           |
| `#inst "..."`, `#uuid "..."`, any `#tag x` | `x`: the tag is dropped, its value kept |
| `#_ x`                      | nothing: `x` is discarded                             |
| `; comment`, `,`            | whitespace                                            |

Use `loads(text)` for exactly one value, `loads_all(text)` for a sequence of top-level values.
Malformed input raises `EdnError` whose message names the line and column and says what was
expected. The reader does not keep tags (a `#inst` becomes its string, not a datetime), does not
distinguish lists from vectors, and does not support metadata (`^`) or reader conditionals.
"""

from __future__ import annotations

import re
from typing import Any


class EdnError(ValueError):
    """Malformed EDN. `line` and `column` are 1-based; the message says where and what to fix."""

    def __init__(self, message: str, *, line: int, column: int) -> None:
        super().__init__(f"line {line}, column {column}: {message}")
        self.line = line
        self.column = column


class Keyword(str):
    """An EDN keyword, without its colon. Compares equal to the plain string."""

    __slots__ = ()

    def __repr__(self) -> str:
        return ":" + str.__str__(self)


class Symbol(str):
    """An EDN symbol other than nil/true/false."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Symbol(" + str.__repr__(self) + ")"


# One token per match. Order matters: numbers before symbols (so "-1" is a number, "-" a symbol).
_TOKEN = re.compile(
    r"""
    (?P<ws>[\s,]+|;[^\n]*)
  | (?P<str>"(?:[^"\\]|\\.)*")
  | (?P<num>[+-]?\d+(?:/\d+|(?:\.\d*)?(?:[eE][+-]?\d+)?)?[NM]?)(?![^\s,;()\[\]{}"])
  | (?P<kw>:[^\s,;()\[\]{}"]*)
  | (?P<open>\#\{|[(\[{])
  | (?P<close>[)\]}])
  | (?P<discard>\#_)
  | (?P<tag>\#[A-Za-z][^\s,;()\[\]{}"]*)
  | (?P<char>\\(?:newline|space|tab|return|formfeed|backspace|u[0-9A-Fa-f]{4}|.))
  | (?P<sym>[^\s,;()\[\]{}"\#\\][^\s,;()\[\]{}"]*)
    """,
    re.VERBOSE | re.DOTALL,
)
_CLOSER = {"(": ")", "[": "]", "{": "}", "#{": "}"}
_ESCAPES = {"t": "\t", "r": "\r", "n": "\n", "\\": "\\", '"': '"', "b": "\b", "f": "\f", "/": "/"}
_ESCAPE = re.compile(r"\\(u[0-9A-Fa-f]{4}|.)", re.DOTALL)
_CHARS = {
    "newline": "\n",
    "space": " ",
    "tab": "\t",
    "return": "\r",
    "formfeed": "\f",
    "backspace": "\b",
}
_DISCARD = object()  # what a `#_ x` form reads as, before it is dropped


def _unescape(body: str, text: str, pos: int) -> str:
    def one(m: re.Match[str]) -> str:
        code = m.group(1)
        if code in _ESCAPES:
            return _ESCAPES[code]
        if code[0] == "u" and len(code) == 5:
            return chr(int(code[1:], 16))
        line, column = _where(text, pos + 1 + m.start())
        raise EdnError(
            f'unknown string escape "\\{code}"; write "\\\\" for a backslash',
            line=line,
            column=column,
        )

    return _ESCAPE.sub(one, body) if "\\" in body else body


def _where(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1


def _hashable(value: Any) -> Any:
    """Turn a value into one usable as a dict key or set element."""
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted(((_hashable(k), _hashable(v)) for k, v in value.items()), key=repr))
    return value


def _number(token: str) -> int | float:
    if token.endswith("N"):
        return int(token[:-1])
    if token.endswith("M"):
        return float(token[:-1])
    if "/" in token:
        num, den = token.split("/")
        return int(num) / int(den)
    if "." in token or "e" in token or "E" in token:
        return float(token)
    return int(token)


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, message: str, pos: int | None = None) -> EdnError:
        line, column = _where(self.text, self.pos if pos is None else pos)
        return EdnError(message, line=line, column=column)

    def skip_ws(self) -> None:
        text, n = self.text, len(self.text)
        while self.pos < n:
            m = _TOKEN.match(text, self.pos)
            if m is None or m.lastgroup != "ws":
                return
            self.pos = m.end()

    def at_end(self) -> bool:
        self.skip_ws()
        return self.pos >= len(self.text)

    def read(self) -> Any:
        """Read one form; returns `_DISCARD` for `#_ x`. Raises at end of input."""
        self.skip_ws()
        text = self.text
        if self.pos >= len(text):
            raise self.error("unexpected end of input; a value was expected")
        start = self.pos
        m = _TOKEN.match(text, start)
        if m is None:
            if text[start] == '"':
                raise self.error('unterminated string; close it with "')
            raise self.error(f"unexpected character {text[start]!r}")
        kind, token = m.lastgroup, m.group()
        self.pos = m.end()
        if kind == "str":
            return _unescape(token[1:-1], text, start)
        if kind == "num":
            return _number(token)
        if kind == "kw":
            if token == ":" or token.startswith("::"):
                raise self.error(f"malformed keyword {token!r}", start)
            return Keyword(token[1:])
        if kind == "sym":
            if token == "nil":
                return None
            if token == "true":
                return True
            if token == "false":
                return False
            return Symbol(token)
        if kind == "open":
            return self.read_collection(token, start)
        if kind == "close":
            raise self.error(f"unmatched {token!r}: nothing was opened here", start)
        if kind == "discard":
            self.read_value("#_ must be followed by the form it discards")
            return _DISCARD
        if kind == "tag":
            # A tagged literal keeps its value: #inst "..." is the string, and
            # #jepsen.history.Op{...} is the map, which is what a history reader wants.
            return self.read_value(f"tag {token} must be followed by a value")
        if kind == "char":
            name = token[1:]
            if name in _CHARS:
                return _CHARS[name]
            if len(name) == 5 and name[0] == "u":
                return chr(int(name[1:], 16))
            return name
        raise self.error(f"unexpected {token!r}", start)  # pragma: no cover - regex is total

    def read_value(self, what: str) -> Any:
        """Read one form that is not discarded (skipping any `#_ x` before it)."""
        while True:
            if self.at_end():
                raise self.error(f"unexpected end of input: {what}")
            value = self.read()
            if value is not _DISCARD:
                return value

    def read_collection(self, opener: str, start: int) -> Any:
        closer = _CLOSER[opener]
        items: list[Any] = []
        text = self.text
        while True:
            self.skip_ws()
            if self.pos >= len(text):
                line, column = _where(text, start)
                raise self.error(
                    f"unexpected end of input: {opener!r} opened at line {line}, column "
                    f"{column} was never closed; add {closer!r}"
                )
            c = text[self.pos]
            if c in ")]}":
                if c != closer:
                    raise self.error(f"expected {closer!r} to close {opener!r}, found {c!r}")
                self.pos += 1
                break
            value = self.read()
            if value is not _DISCARD:
                items.append(value)
        if opener == "{":
            if len(items) % 2:
                raise self.error(
                    "a map needs an even number of forms (key value pairs); one key has no value",
                    start,
                )
            return {_hashable(items[i]): items[i + 1] for i in range(0, len(items), 2)}
        if opener == "#{":
            return frozenset(_hashable(v) for v in items)
        return items


def loads(text: str) -> Any:
    """Read exactly one EDN value from `text`."""
    reader = _Reader(text)
    value = reader.read_value("the input holds no value")
    if not reader.at_end():
        raise reader.error("extra input after the first value; wrap several values in [...]")
    return value


def loads_all(text: str) -> list[Any]:
    """Read every top-level EDN value in `text` (a stream of forms, as `history.edn` may be)."""
    reader = _Reader(text)
    values = []
    while not reader.at_end():
        value = reader.read()
        if value is not _DISCARD:
            values.append(value)
    return values
