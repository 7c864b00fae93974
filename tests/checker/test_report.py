"""`report.html`: one self-contained page with the verdict, the checkers, the nemesis bands and
the timeline; every value from the run is escaped."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from checker.history import Op, dump_jsonl
from checker.intset import IntRanges, IntRangesDelta
from checker.report import (
    COLOURS,
    MAX_BANDS,
    MAX_CELLS,
    MAX_DRAWN,
    MAX_ROWS,
    PLOT_PX,
    TITLE_CHARS,
    TITLE_ELEMENTS,
    _nemesis_windows,
    brief_value,
    render,
    write_report,
)
from checker.result import compose, result
from checker.setfull import HEADLINE as SET_FULL_HEADLINE

EVIL = "<script>alert(1)</script>"


def op(i: int, type_: str, process: Any, f: str, value: Any = None, **kw: Any) -> Op:
    return Op(type_, process, f, value, time=i * 1_000_000, index=i, **kw)


def run_ops() -> list[Op]:
    return [
        op(0, "invoke", 0, "broadcast", 1),
        op(1, "ok", 0, "broadcast", 1),
        op(2, "invoke", "nemesis", "partition", {"shape": "halves"}),
        op(3, "ok", "nemesis", "partition", {"shape": "halves", "nodes": ["n1", "n2"]}),
        op(4, "invoke", 1, "broadcast", EVIL),
        op(5, "info", 1, "broadcast", EVIL, error=EVIL),
        op(6, "invoke", "nemesis", "kill", {"target": "one"}),
        op(7, "ok", "nemesis", "kill", {"nodes": ["n3"]}),
        op(8, "invoke", "nemesis", "heal", None),
        op(9, "ok", "nemesis", "heal", None),
        op(10, "invoke", 2, "read", None),
        op(11, "ok", 2, "read", [1]),
        op(12, "invoke", "nemesis", "restart", None),
        op(13, "ok", "nemesis", "restart", None),
        op(14, "invoke", 2, "read", None),
        op(15, "fail", 2, "read", None),
    ]


def run_results() -> dict[str, Any]:
    lost = result("set-full", False, headline=SET_FULL_HEADLINE, lost_count=1, lost=[EVIL])
    ok = result("availability", True, headline=("ok_fraction",), ok_fraction=0.5)
    return compose({"set-full": lost, "availability": ok})


RUN_INFO = {"scenario": "partition-heal", "workload": "broadcast", "seed": 7,
            "reproduce": f"chaos run partition-heal --seed 7 --bug '{EVIL}'"}


def page() -> str:
    return render(RUN_INFO, run_results(), run_ops())


def test_the_page_is_self_contained() -> None:
    text = page()
    assert "<script" not in text and "<link" not in text and "<iframe" not in text
    assert "@import" not in text
    # The only URL is the SVG namespace, which is never fetched.
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", text))
    assert urls <= {"http://www.w3.org/2000/svg"}
    assert not re.search(r"(src|href)\s*=", text)
    assert text.startswith("<!doctype html>")


def test_the_page_shows_the_verdict_and_each_checker_with_its_headline() -> None:
    text = page()
    assert re.search(r"<h1>partition-heal: <span[^>]*>INVALID</span></h1>", text)
    assert "set-full</summary>" not in text  # the headline follows the name
    assert re.search(r"INVALID</b> set-full <code>lost_count=1</code>", text)
    assert re.search(r"valid</b> availability <code>ok_fraction=0.5</code>", text)
    assert "<details open><summary>" in text  # the invalid checker is unfolded
    valid_page = render(RUN_INFO, compose({"availability": run_results()["results"]
                                           ["availability"]}), run_ops())
    assert re.search(r"<h1>partition-heal: <span[^>]*>valid</span></h1>", valid_page)
    assert ">unknown</span>" in render(RUN_INFO, {"valid": "unknown", "results": {}}, [])


def test_the_page_draws_nemesis_bands_and_operations() -> None:
    text = page()
    bands = re.findall(r'fill="#c8d8f0"[^>]*><title>([^<]*)</title>', text)
    assert bands == ["partition halves n1,n2", "kill n3"]
    assert text.count('fill="#3a9d5d"') == 2  # two ok operations
    assert text.count('fill="#d9534f"') == 1  # one fail
    assert text.count('fill="#f0ad4e"') == 1  # one info


def test_nemesis_bands_end_at_the_heal_of_what_they_broke() -> None:
    ms = 1_000_000
    windows = _nemesis_windows(run_ops())
    # The network heal ends the partition; the kill lasts until the restart.
    assert windows == [(3 * ms, 9 * ms, "partition halves n1,n2"), (7 * ms, 13 * ms, "kill n3")]
    skew = [op(0, "ok", "nemesis", "clock", {"offset_ms": 200}),
            op(1, "ok", "nemesis", "clock", {"offset_ms": 0, "rate": 1}),
            op(2, "ok", "nemesis", "pause", {"nodes": ["n1"]}),
            op(3, "ok", "nemesis", "heal", {"final": True})]  # fmt: skip
    assert _nemesis_windows(skew) == [(0, ms, "clock"), (2 * ms, 3 * ms, "pause n1")]
    assert _nemesis_windows([op(0, "ok", "nemesis", "pause", None)]) == [(0, None, "pause")]


def test_values_are_escaped() -> None:
    text = page()
    assert EVIL not in text
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert escaped in text  # in the reproduce line and the set-full details
    assert f"--bug &#x27;{escaped}&#x27;" in text
    assert "&quot;&lt;script&gt;alert(1)&lt;/script&gt;&quot;" in text  # the op's title


def test_write_report_reads_the_run_directory(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text(json.dumps(RUN_INFO))
    (tmp_path / "results.json").write_text(json.dumps(run_results()))
    dump_jsonl(run_ops(), tmp_path / "history.jsonl")
    path = write_report(tmp_path)
    assert path == tmp_path / "report.html"
    assert path.read_text(encoding="utf-8") == page()


def test_a_run_without_a_history_or_results_still_renders(tmp_path: Path) -> None:
    text = write_report(tmp_path).read_text(encoding="utf-8")
    assert "No checker ran." in text
    assert "No client operations." in text


# -- bounded however long the run (issue 7) -------------------------------------------------------

PAGE_LIMIT_BYTES = 10 * 1000 * 1000


def titles(text: str) -> list[str]:
    return re.findall(r"<title>([^<]*)</title>", text)


def test_a_tooltip_shows_a_few_elements_of_a_value_and_says_how_many_more() -> None:
    big = list(range(5000))
    ops = [op(0, "invoke", 0, "read", None), op(1, "ok", 0, "read", big),
           op(2, "invoke", 0, "write", "x" * 10_000), op(3, "info", 0, "write", None,
                                                        error="y" * 10_000)]
    text = render(RUN_INFO, {"valid": True, "results": {}}, ops)
    read_title, write_title = (t for t in titles(text) if t.startswith(("read", "write")))
    assert read_title == ("read null -&gt; ok [0, 1, 2, 3, 4, ... +4990 more ..., 4995, 4996, "
                          "4997, 4998, 4999]")
    assert len(write_title) < 3 * (TITLE_CHARS + 60)
    assert "more characters)" in write_title
    assert f"at most {TITLE_ELEMENTS} elements" in text
    assert brief_value([1, [2, 3]]) == "[1, [2, 3]]"  # short values are shown whole


def test_a_tooltip_shows_a_read_held_as_ranges_by_its_ranges() -> None:
    few = IntRanges.encode([*range(0, 1000), 1002, *range(1005, 1010)])
    assert brief_value(few) == "1006 elements: 0..999, 1002, 1005..1009"
    many = IntRanges.encode(list(range(0, 100, 2)))
    assert many is not None
    text = brief_value(many)
    assert text.startswith("50 elements: 0, 2, 4, 6, 8, ... +40 more ranges ..., 90, 92")
    assert text.endswith("96, 98")


def many_ops(n: int, *, processes: int = 10, size: int = 0) -> list[Op]:
    """n operations on `processes` clients, each 1 ms long, every tenth an info, one fail; reads
    return `size` elements (one list, shared)."""
    ops = []
    value = list(range(size)) if size else None
    for i in range(n):
        p = i % processes
        outcome = "fail" if i == n // 2 else "info" if i % 10 == 3 else "ok"
        ops.append(op(2 * i, "invoke", p, "read", None))
        ops.append(op(2 * i + 1, outcome, p, "read", value))
    return ops


def test_beyond_max_drawn_operations_the_timeline_aggregates_and_says_so() -> None:
    few = render(RUN_INFO, {"valid": True, "results": {}}, many_ops(MAX_DRAWN))
    assert "aggregates" not in few
    assert few.count('fill="#3a9d5d"') + few.count('fill="#f0ad4e"') == MAX_DRAWN - 1
    text = render(RUN_INFO, {"valid": True, "results": {}}, many_ops(50_000, size=200))
    assert f"50,000 client operations, more than the {MAX_DRAWN:,} drawn one by one" in text
    cells = re.findall(r'<rect [^>]*fill="(#[0-9a-f]+)"><title>([^<]*)</title>', text)
    assert len(cells) <= MAX_CELLS
    assert sum(1 for colour, _ in cells if colour == COLOURS["fail"]) == 1  # the one fail shows
    assert any(colour == COLOURS["info"] for colour, _ in cells)
    invoked = [int(m) for _, t in cells for m in re.findall(r" s, (\d+) invoked", t)]
    assert sum(invoked) == 50_000  # every operation is counted in some cell
    assert len(text.encode()) < PAGE_LIMIT_BYTES / 4


def test_more_processes_than_rows_share_rows_one_after_another() -> None:
    # A long run retires a client's process at every info: 10 clients, 500 processes.
    ops = []
    for i in range(500):
        ops += [op(2 * i, "invoke", i, "read", None), op(2 * i + 1, "info", i, "read", None)]
    text = render(RUN_INFO, {"valid": True, "results": {}}, ops)
    assert "each row holds several processes one after another" in text
    assert "not drawn" not in text
    assert text.count('fill="#f0ad4e"') == 500  # every operation drawn, in one row
    assert "<text x=\"2\" y=\"10\">0 +499</text>" in text
    # Processes that all overlap cannot share: what does not fit is left out, and said so.
    overlapping = [op(i, "invoke", i, "read", None) for i in range(MAX_ROWS + 5)]
    text = render(RUN_INFO, {"valid": True, "results": {}}, overlapping)
    assert "5 more processes not drawn (5 operations)." in text


def test_many_faults_are_merged_where_they_touch() -> None:
    ops = [op(0, "invoke", 0, "read", None)]
    for i in range(5000):  # a fault and its heal every 2 ms
        ops.append(op(1 + 2 * i, "ok", "nemesis", "partition", {"shape": "halves"}))
        ops.append(op(2 + 2 * i, "ok", "nemesis", "heal", None))
    ops.append(op(20_000, "ok", 0, "read", [1]))
    text = render(RUN_INFO, {"valid": True, "results": {}}, ops)
    bands = re.findall(r'fill="#c8d8f0"[^>]*><title>([^<]*)</title>', text)
    assert 0 < len(bands) <= PLOT_PX
    assert bands[0].endswith("faults: partition x" + bands[0].split(" x")[-1])
    assert sum(int(b.split(" x")[-1]) for b in bands) == 5000
    assert f"more than {MAX_BANDS} faults" in text


def test_the_page_stays_under_10_mb_whatever_the_history() -> None:
    # Everything at once: huge values, many processes, many kinds of operation, long results.
    ops = many_ops(20_000, processes=3000, size=2000)
    ops += [op(40_000 + 2 * i + j, t, 5000 + i, f"f{i}" * 50, "v" * 5000)
            for i in range(2000) for j, t in enumerate(("invoke", "ok"))]
    huge = result("set-full", False, headline=SET_FULL_HEADLINE, lost=list(range(100_000)),
                  lost_count=100_000)
    text = render({**RUN_INFO, "reproduce": "x" * 1_000_000},
                  {**compose({f"c{i}": huge for i in range(10)}), "harness_error": "e" * 10**6},
                  ops)
    assert len(text.encode()) < PAGE_LIMIT_BYTES
    assert "less frequent kinds of operation not shown" in text
    assert "see results.json" in text


def test_the_report_streams_the_history_and_skips_what_it_cannot_read(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text(json.dumps(RUN_INFO))
    (tmp_path / "results.json").write_text(json.dumps(run_results()))
    dump_jsonl(run_ops(), tmp_path / "history.jsonl")
    with open(tmp_path / "history.jsonl", "a", encoding="utf-8") as fh:
        fh.write('{"type": "bogus"}\nnot json\n{"index": 99, "time": 1, "ty')  # cut short
    text = write_report(tmp_path).read_text(encoding="utf-8")
    note = "<p>3 line(s) of history.jsonl could not be read and are left out.</p>"
    assert note in text
    assert text.replace(note, "") == page()


def test_a_tooltip_shows_a_read_held_as_a_delta_by_its_size_and_change() -> None:
    change = IntRangesDelta(17, IntRanges([(5, 7)]), IntRanges([(1, 1)]), 120)
    assert brief_value(change) == "120 elements (+3, -1 since #17)"
