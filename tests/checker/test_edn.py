"""The EDN reader: values, tags, comments, and errors that say where and what to fix."""

from __future__ import annotations

import pytest

from checker.edn import EdnError, Keyword, Symbol, loads, loads_all


def test_scalars() -> None:
    assert loads("nil") is None
    assert loads("true") is True
    assert loads("false") is False
    assert loads("42") == 42
    assert loads("-7") == -7
    assert loads("+3") == 3
    assert loads("42N") == 42
    assert loads("1.5") == 1.5
    assert loads("1e3") == 1000.0
    assert loads("2.5M") == 2.5
    assert loads("1/4") == 0.25


def test_keywords_and_symbols_are_distinct_strings() -> None:
    kw = loads(":invoke")
    assert isinstance(kw, Keyword)
    assert kw == "invoke"
    assert loads(":jepsen/op") == "jepsen/op"
    sym = loads("foo.bar/baz")
    assert isinstance(sym, Symbol)
    assert sym == "foo.bar/baz"
    assert not isinstance(loads('"invoke"'), Keyword)


def test_strings_with_escapes() -> None:
    assert loads(r'"a\"b\\c\nd\te\u00e9"') == 'a"b\\c\nd\te\u00e9'
    assert loads('"multi\nline"') == "multi\nline"


def test_characters() -> None:
    assert loads(r"[\a \newline \space \u0041]") == ["a", "\n", " ", "A"]


def test_collections() -> None:
    assert loads("[1 [2 3] (4 5)]") == [1, [2, 3], [4, 5]]
    assert loads("{:a 1, :b [2]}") == {"a": 1, "b": [2]}
    assert loads("#{1 2 3}") == frozenset({1, 2, 3})
    assert loads("{[1 2] :x}") == {(1, 2): "x"}
    assert loads("[]") == []
    assert loads("{}") == {}


def test_commas_and_comments_are_whitespace() -> None:
    assert loads("[1,2 ,, 3] ; the end") == [1, 2, 3]
    assert loads("; leading comment\n[:a ; inside\n :b]") == ["a", "b"]


def test_tagged_literals_keep_their_value() -> None:
    assert loads('#inst "2024-01-01T00:00:00Z"') == "2024-01-01T00:00:00Z"
    assert loads("#jepsen.history.Op{:type :ok, :f :read}") == {"type": "ok", "f": "read"}


def test_discard() -> None:
    assert loads("[1 #_ 2 3]") == [1, 3]
    assert loads("[1 #_ [2 3]]") == [1]
    assert loads("#_ :x 5") == 5


def test_loads_all_reads_a_stream() -> None:
    assert loads_all("{:a 1}\n{:a 2}\n") == [{"a": 1}, {"a": 2}]
    assert loads_all("  ; nothing\n") == []


@pytest.mark.parametrize(
    ("text", "line", "column", "hint"),
    [
        ("[1 2", 1, 5, "never closed; add ']'"),
        ("{:a 1\n :b}", 1, 1, "even number of forms"),
        ('"abc', 1, 1, "unterminated string"),
        ("]", 1, 1, "unmatched"),
        ("[1 2)", 1, 5, "expected ']'"),
        ('[\n"\\q"]', 2, 2, "unknown string escape"),
        ("#_", 1, 3, "must be followed"),
        ("", 1, 1, "holds no value"),
        ("1 2", 1, 3, "wrap several values"),
        ("[:]", 1, 2, "malformed keyword"),
    ],
)
def test_malformed_input_names_line_column_and_fix(
    text: str, line: int, column: int, hint: str
) -> None:
    with pytest.raises(EdnError) as caught:
        loads(text)
    assert (caught.value.line, caught.value.column) == (line, column)
    assert hint in str(caught.value)
    assert str(caught.value).startswith(f"line {line}, column {column}:")
