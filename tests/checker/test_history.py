"""Loading `history.jsonl` line by line, with repeated scalars shared (checker/history.py,
"Memory"): the same operations and the same errors as reading the whole text, in less memory.

The plain model here is the loader as it was before issue 7 made it stream: decode the whole
file, split it into lines, `json.loads` each one. Hypothesis compares the two on files made of
good records, long reads, blank lines, torn and garbage lines, three kinds of newline and bytes
that are not UTF-8. The memory itself is measured in test_long_histories.py.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checker import history
from checker.formats import load
from checker.history import (
    SHARED_LINE_CHARS,
    HistoryError,
    Op,
    is_torn,
    lines_of,
    op_from_json,
    parse_jsonl,
)


def plain_load(path: Path) -> list[Op] | str:
    """The operations, or the error message, as the loader before streaming gave them."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        return f"{path}: not UTF-8 text (byte {e.start}); is it a history?"
    if not text.strip():
        return []
    ops: list[Op] = []
    lines = text.split("\n")
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
        except json.JSONDecodeError as e:
            if is_torn(line, is_last=lineno == len(lines)):
                break
            return f"{path}:{lineno}: not valid JSON ({e.msg}); each line must be one JSON object"
        try:
            op = op_from_json(d, where=f"{path}:{lineno}")
        except HistoryError as e:
            return str(e)
        if op.index < 0:
            op.index = len(ops)
        ops.append(op)
    return ops


def typed(value: Any) -> Any:
    """A value with the type of every scalar in it: `True`, `1` and `1.0` are equal, not alike."""
    if isinstance(value, list):
        return [typed(v) for v in value]
    if isinstance(value, dict):
        return {k: typed(v) for k, v in value.items()}
    return (type(value).__name__, value)


def record(i: int, value: Any, **fields: Any) -> str:
    d = {"index": i, "time": 10 * i, "type": "ok", "process": i % 3, "f": "read", "value": value}
    return json.dumps({**d, **fields}, separators=(",", ":"))


scalars = st.one_of(
    st.integers(-300, 100_000), st.booleans(), st.none(), st.floats(allow_nan=False), st.text()
)
lines = st.one_of(
    st.builds(record, st.integers(0, 99), st.lists(st.integers(0, 2_000), max_size=300)),
    st.builds(record, st.integers(0, 99), st.lists(scalars, max_size=150)),  # long, mixed
    st.builds(record, st.integers(0, 99), scalars, node=st.sampled_from(["n1", "n2"])),
    st.builds(lambda i: record(i, None, final=True, error="timeout"), st.integers(0, 99)),
    st.just('{"type": "done", "process": 0, "f": "x"}'),
    st.just('{"index":1,"time":5,"type":"ok","proc'),  # torn, if it is the last
    st.just('{"type":"ok","process":0,"f":"read","value":"' + "x" * SHARED_LINE_CHARS),
    st.just("\ufeff" + record(0, list(range(200)))),
    st.sampled_from(["", "  ", "garbage", "{oops", "[1, 2]"]),
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(lines, st.sampled_from(["\n", "\r\n", "\r"])), max_size=8),
    st.booleans(),
    st.one_of(st.none(), st.sampled_from([b"\xff", b"\xe2\x82", b"\xed\xa0\x80"])),
    st.integers(0, 8),
)
def test_streaming_load_gives_what_the_whole_text_gave(
    rows: list[tuple[str, str]], ends_with_newline: bool, bad: bytes | None, bad_at: int
) -> None:
    parts = [(line + newline).encode() for line, newline in rows]
    if parts and not ends_with_newline:
        parts[-1] = rows[-1][0].encode()
    if bad is not None:
        parts.insert(min(bad_at, len(parts)), bad)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "history.jsonl"
        path.write_bytes(b"".join(parts))
        expected = plain_load(path)
        try:
            got: list[Op] | str = load(path, "jsonl").ops
        except HistoryError as e:
            got = str(e)
    if isinstance(expected, str) or isinstance(got, str):
        assert got == expected
    else:
        assert [typed(op.to_json()) for op in got] == [typed(op.to_json()) for op in expected]


def test_a_long_lines_numbers_and_every_lines_strings_are_shared() -> None:
    elements = list(range(1_000, 1_300))
    text = "\n".join(
        [record(0, elements[:200], node="n1"), record(1, elements, node="n1"), record(2, 7)]
    )
    first, second, third = parse_jsonl(text, where="h")
    assert len(json.dumps(first.value)) > SHARED_LINE_CHARS
    assert all(a is b for a, b in zip(first.value, second.value, strict=False))
    assert first.value is not second.value  # a value is its op's own: lists are never shared
    assert first.node is second.node
    assert first.f is second.f is third.f
    assert first.type is third.type


def test_sharing_keeps_true_one_and_one_point_oh_apart() -> None:
    value = [1, True, 1.0, 0, False, -0, 0.0, 10**30, "1"] * 30
    (op,) = parse_jsonl(record(0, value), where="h")
    assert typed(op.value) == typed(value)


def test_sharing_is_bounded_and_starts_afresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(history, "SHARED_VALUES_MAX", 8)
    reads = [list(range(n, n + 150)) for n in range(0, 600, 50)]
    ops = parse_jsonl("\n".join(record(i, r) for i, r in enumerate(reads)), where="h")
    assert [op.value for op in ops] == reads


@pytest.mark.parametrize(
    "text", ["", "\n", "a", "a\n", "a\nb", "a\n\nb\n", "\r\n", "x\ry\n", "\n\n"]
)
def test_lines_of_splits_as_split_does_keeping_newlines(text: str) -> None:
    got = list(lines_of(text))
    assert "".join(got) == text
    expected = text.split("\n")
    if expected[-1] == "":
        expected.pop()  # the empty rest after a last newline: no line
    assert [line.removesuffix("\n") for line in got] == expected
    assert all(line.endswith("\n") for line in got[:-1])


def test_a_line_with_a_value_encoding_is_decoded_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    """Its numbers are range bounds, its own: the shared decoder's hook would only be slow."""
    def refuse(self: object, digits: str) -> int:
        raise AssertionError(f"the shared decoder parsed {digits}")

    monkeypatch.setattr(history._SharedInts, "__missing__", refuse)
    ranges = [[i, i] for i in range(0, 600, 2)]
    text = json.dumps({"index": 0, "type": "ok", "process": 0, "f": "read", "value": ranges,
                       "value_encoding": "int-ranges"})
    assert len(text) > SHARED_LINE_CHARS
    (op,) = parse_jsonl(text, where="h")
    assert op.value.to_json() == ranges
    with pytest.raises(AssertionError, match="the shared decoder parsed"):
        parse_jsonl(record(0, list(range(300))), where="h")  # a plain long line shares
