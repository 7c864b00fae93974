"""`report.html`: one self-contained page with the verdict, the checkers, the nemesis bands and
the timeline; every value from the run is escaped."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from checker.history import Op, dump_jsonl
from checker.report import _nemesis_windows, render, write_report
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
