"""`report.html`: one self-contained page with the verdict, the parameters, each checker's
section, the timeline, latency and throughput with their fault bands, and links to the run's
files; every value from the run is escaped; the page stays bounded however long the run.

The geometry tests read the SVG the page draws (each plot is well-formed XML) for small
literal histories whose times are round milliseconds."""

from __future__ import annotations

import json
import re
import sys
import types
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from checker.history import Op, dump_jsonl
from checker.intset import IntRanges, IntRangesDelta
from checker.report import (
    MAX_BANDS,
    MAX_CELLS,
    MAX_DRAWN,
    MAX_POINTS,
    MAX_ROWS,
    PLOT_PX,
    TITLE_CHARS,
    TITLE_ELEMENTS,
    brief_value,
    fault_windows,
    render,
    write_report,
)
from checker.report.charts import (
    PAD_PX,
    bucket_length_ns,
    decade_bounds,
    fine_length_ns,
    latency_chart,
    log_y,
    throughput_chart,
)
from checker.report.limits import DETAILS_CHARS, LATENCY_PX, MAX_FINE_BUCKETS, ROW_PX
from checker.report.summary import summarize
from checker.report.timeline import time_ticks
from checker.result import compose, result
from checker.sections import SectionContext, section

EVIL = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
MS = 1_000_000
SVG = "{http://www.w3.org/2000/svg}"


def op(i: int, type_: str, process: Any, f: str, value: Any = None, **kw: Any) -> Op:
    return Op(type_, process, f, value, time=i * MS, index=i, **kw)


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


# Checker names that no module registers a section for: their sections are the generic one.
def run_results() -> dict[str, Any]:
    lost = result("report-test-lost", False, headline=("lost_count", "stale_count"),
                  lost_count=1, stale_count=0, lost=[EVIL])
    ok = result("report-test-ok", True, headline=("ok_fraction",), ok_fraction=0.5)
    return compose({"lost": lost, "ok": ok})


RUN_INFO = {"scenario": "partition-heal", "workload": "broadcast", "seed": 7,
            "nodes": ["n1", "n2", "n3"], "command_line": ["chaos", "run", "partition-heal"],
            "workload_params": {"keys": 5}, "reproduce": f"chaos run partition-heal --seed 7 "
                                                         f"--bug '{EVIL}'"}


def page(ops: list[Op] | None = None, results: Mapping[str, Any] | None = None) -> str:
    return render(RUN_INFO, run_results() if results is None else results,
                  run_ops() if ops is None else ops)


def plot(text: str, plot_id: str) -> ET.Element:
    """The plot SVG of that id, parsed."""
    match = re.search(rf'<svg [^>]*id="{plot_id}".*?</svg>', text, re.S)
    assert match is not None, f"no {plot_id} plot"
    return ET.fromstring(match.group(0))


def rects(svg: ET.Element, group: str) -> list[ET.Element]:
    g = svg.find(f"{SVG}g[@class='{group}']")
    assert g is not None, group
    return g.findall(f"{SVG}rect")


def title(el: ET.Element) -> str:
    t = el.find(f"{SVG}title")
    return "" if t is None or t.text is None else t.text


def notes(text: str) -> list[str]:
    return [re.sub(r"\s+", " ", n) for n in re.findall(r'<p class="note">(.*?)</p>', text, re.S)]


# -- the page ---------------------------------------------------------------------------------


def test_the_page_is_self_contained() -> None:
    text = page()
    assert text.startswith("<!doctype html>")
    assert "<link" not in text and "<iframe" not in text and "@import" not in text
    assert not re.search(r"<script[^>]*\ssrc\s*=", text)  # scripts are inline
    assert not re.search(r"\ssrc\s*=", text)
    # The only URL is the SVG namespace, which is never fetched; links are in-page anchors.
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", text))
    assert urls <= {"http://www.w3.org/2000/svg"}
    assert all(h.startswith("#") for h in re.findall(r'href="([^"]*)"', text))


def test_the_page_shows_the_verdict_and_a_row_per_checker_with_its_headline() -> None:
    text = page()
    assert re.search(r'<h1>partition-heal: <span class="verdict invalid">INVALID</span></h1>',
                     text)
    rows = re.findall(r'<tr><td class="verdict (\w+)">(\w+)</td><td><a href="#([^"]+)">'
                      r"([^<]+)</a></td><td><code>([^<]*)</code></td></tr>", text)
    assert [(r[0], r[1], r[3], r[4]) for r in rows] == [
        ("invalid", "INVALID", "lost", "lost_count=1"),  # zero fields are left out
        ("valid", "valid", "ok", "ok_fraction=0.5"),
    ]
    assert all(f'id="{anchor}"' in text for _, _, anchor, _, _ in rows)  # each has a section
    valid = page(results=compose({"ok": run_results()["results"]["ok"]}))
    assert '<span class="verdict valid">valid</span></h1>' in valid
    unknown = render(RUN_INFO, {"valid": "unknown", "results": {}}, [])
    assert '<span class="verdict unknown">unknown</span></h1>' in unknown
    assert "No checker ran." in unknown


def test_the_parameters_are_a_table_not_json() -> None:
    text = page()
    params = dict(re.findall(r"<tr><th>([^<]+)</th><td>([^<]*)</td></tr>", text))
    assert params["scenario"] == "partition-heal"
    assert params["seed"] == "7"
    assert params["nodes"] == "n1, n2, n3"
    assert params["command_line"] == "chaos run partition-heal"
    assert params["workload_params"] == "keys=5"
    assert "reproduce" not in params  # it has its own line
    assert '"scenario"' not in text and "{&#34;scenario" not in text
    assert f"Reproduce: <code>chaos run partition-heal --seed 7 --bug &#39;{ESCAPED}&#39;" in text


def test_a_harness_error_is_shown_cut_short() -> None:
    text = render(RUN_INFO, {"valid": "unknown", "results": {},
                             "harness_error": "node n1 died: " + "e" * 50_000}, [])
    assert "<h2>Harness error</h2>" in text
    assert "node n1 died: eee" in text
    assert "more characters)" in text
    assert "e" * (DETAILS_CHARS + 10) not in text


def test_a_checker_without_a_section_of_its_own_gets_the_generic_one() -> None:
    text = page()
    lost = re.search(r'<section class="checker" id="checker-0-lost">(.*?)</section>', text, re.S)
    assert lost is not None
    body = lost.group(1)
    headline = re.findall(r"<tr><th>(\w+)</th><td><code>([^<]*)</code></td></tr>", body)
    assert headline == [("lost_count", "1")]  # stale_count=0 tells nothing
    assert "<details class=\"result\" open>" in body  # an invalid result is unfolded
    assert f"&#34;lost&#34;: [\n    &#34;{ESCAPED}&#34;" in body  # the details, escaped
    ok = re.search(r'id="checker-1-ok">(.*?)</section>', text, re.S)
    assert ok is not None
    assert '<details class="result">' in ok.group(1)  # a valid one is folded


def test_long_details_are_cut_and_point_to_results_json() -> None:
    huge = result("report-test-lost", False, lost=list(range(100_000)), lost_count=100_000)
    text = render(RUN_INFO, compose({"c": huge}), [])
    assert "see results.json)" in text
    assert len(text) < 100_000


@section("report-test-section")
def _test_section(res: Mapping[str, Any], ctx: SectionContext) -> str:
    if res.get("boom"):
        raise ValueError(f"boom {EVIL}")
    if res.get("not_a_string"):
        return 42  # type: ignore[return-value]
    ops = list(ctx.iter_ops())
    again = list(ctx.iter_ops())  # the history can be read again from the start
    faults = ", ".join(f"{w.label} {w.start_ns}-{w.end_ns}" for w in ctx.faults)
    return (f'<p class="own">own section: {len(ops)} ops, again {len(again)}; faults: '
            f"{faults}; end {ctx.end_ns}; seed {ctx.run_info.get('seed')}</p>")


def test_a_registered_section_renders_its_checker_with_the_run_context() -> None:
    res = result("report-test-section", True)
    text = page(results=compose({"mine": res}))
    assert ('<p class="own">own section: 16 ops, again 16; faults: partition halves n1,n2 '
            "3000000-9000000, kill n3 7000000-13000000; end 15000000; seed 7</p>") in text
    assert "details (as in results.json)" not in text  # no generic body


@pytest.mark.parametrize(("field", "error"), [("boom", "ValueError: boom"),
                                              ("not_a_string", "TypeError: the section "
                                                               "returned int, not str")])
def test_a_section_that_fails_gets_the_generic_body_and_its_error(field: str,
                                                                  error: str) -> None:
    res = result("report-test-section", False, headline=("lost_count",), lost_count=3,
                 **{field: True})
    text = page(results=compose({"mine": res}))
    assert "This checker's own section failed, so it is shown generically" in text
    assert error in text
    assert EVIL not in text  # the error is escaped too
    assert re.search(r"<tr><th>lost_count</th><td><code>3</code></td></tr>", text)
    assert "details (as in results.json)" in text


def test_the_messages_section_shows_the_diagram_or_says_why_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[SectionContext] = []

    def diagram(ctx: SectionContext) -> str:
        seen.append(ctx)
        return '<svg id="messages-svg"></svg>'

    fake = types.ModuleType("checker.views.messages")
    fake.message_diagram = diagram  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "checker.views.messages", fake)
    text = page()
    assert '<svg id="messages-svg"></svg>' in text
    (ctx,) = seen
    assert ctx.end_ns == 15 * MS
    assert [w.label for w in ctx.faults] == ["partition halves n1,n2", "kill n3"]

    def broken(ctx: SectionContext) -> str:
        raise RuntimeError(EVIL)

    fake.message_diagram = broken  # type: ignore[attr-defined]
    text = page()
    assert "the message diagram failed" in text and f"RuntimeError: {ESCAPED}" in text


def test_values_are_escaped() -> None:
    ops = [*run_ops(), op(16, "invoke", EVIL, EVIL, EVIL), op(17, "ok", EVIL, EVIL, EVIL)]
    text = page(ops=ops, results=compose({EVIL: result(EVIL, False, headline=("x",), x=EVIL)}))
    assert EVIL not in text
    # Only the page's own: its script and the throughput's counts (no zoom data: few operations).
    assert text.count("<script") == 2
    assert text.count('<script type="application/json" id="run-throughput-data">') == 1
    assert ESCAPED in text
    assert f"&#34;{ESCAPED}&#34;" in text  # an operation's value in its tooltip


def test_write_report_reads_the_run_directory_and_links_its_files(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text(json.dumps(RUN_INFO))
    (tmp_path / "results.json").write_text(json.dumps(run_results()))
    dump_jsonl(run_ops(), tmp_path / "history.jsonl")
    (tmp_path / "nodes").mkdir()
    for node in ("n1", "n 2"):
        (tmp_path / "nodes" / f"{node}.log").write_text("started\n")
    path = write_report(tmp_path)
    assert path == tmp_path / "report.html"
    text = path.read_text(encoding="utf-8")
    assert text == render(RUN_INFO, run_results(), run_ops(), run_dir=tmp_path)
    links = re.findall(r'<li><a href="([^"]+)">([^<]+)</a></li>', text)
    assert links == [("history.jsonl", "history.jsonl"), ("results.json", "results.json"),
                     ("run.json", "run.json"), ("nodes/n%202.log", "nodes/n 2.log"),
                     ("nodes/n1.log", "nodes/n1.log")]
    (tmp_path / "messages.jsonl").write_text("")
    assert '<a href="messages.jsonl">' in write_report(tmp_path).read_text(encoding="utf-8")


def test_a_run_without_a_history_or_results_still_renders(tmp_path: Path) -> None:
    text = write_report(tmp_path).read_text(encoding="utf-8")
    assert "No checker ran." in text
    assert "No client operations." in text
    assert "No run.json." in text


# -- geometry ---------------------------------------------------------------------------------


def test_a_bar_runs_from_invocation_to_completion_in_its_process_lane() -> None:
    ops = [op(0, "invoke", 0, "read"), op(10, "ok", 0, "read", 3),
           op(20, "invoke", 1, "write", 4), op(60, "fail", 1, "write", 4),
           op(70, "invoke", 0, "cas", [1, 2]), op(80, "info", 0, "cas", [1, 2]),
           op(90, "invoke", 2, "read"), op(100, "ok", 2, "read", 5),
           op(100, "invoke", 3, "read")]  # never completes
    svg = plot(page(ops=ops), "run-timeline")
    end = 100 * MS
    lanes = rects(svg, "lanes")
    assert len(lanes) == 4  # a lane per process
    assert [title(lane) for lane in lanes] == [f"process {p}" for p in range(4)]
    bars = rects(svg, "ops")
    x = PLOT_PX / end
    assert [(b.get("class"), b.get("y")) for b in bars] == [
        ("ok", "2"), ("fail", str(ROW_PX + 2)), ("info", "2"), ("ok", str(2 * ROW_PX + 2)),
        ("open", str(3 * ROW_PX + 2))]
    geometry = [(float(b.get("x", 0)), float(b.get("width", 0))) for b in bars]
    expected = [(0, 10 * MS * x), (20 * MS * x, 40 * MS * x), (70 * MS * x, 10 * MS * x),
                (90 * MS * x, 10 * MS * x),
                (1000.0, 1.0)]  # never completed: to the end, at least a unit wide
    for got, want in zip(geometry, expected, strict=True):
        assert got == pytest.approx(want, abs=0.01)
    assert title(rects(svg, "ops")[1]).startswith(
        "process 1, 0.020 s to 0.060 s (40.00 ms): write 4 -> fail 4")


def test_a_band_per_fault_from_its_start_until_its_heal() -> None:
    text = page()
    end = 15 * MS
    for plot_id in ("run-timeline", "run-latency", "run-throughput"):
        bands = rects(plot(text, plot_id), "bands")
        assert [(float(b.get("x", 0)), float(b.get("width", 0)), title(b)) for b in bands] == [
            (pytest.approx(3 * MS * PLOT_PX / end, abs=0.01),
             pytest.approx(6 * MS * PLOT_PX / end, abs=0.01),
             "partition halves n1,n2: 0.003 s to 0.009 s"),
            (pytest.approx(7 * MS * PLOT_PX / end, abs=0.01),
             pytest.approx(6 * MS * PLOT_PX / end, abs=0.01), "kill n3: 0.007 s to 0.013 s"),
        ], plot_id
    labels = plot(text, "run-timeline").find(f"{SVG}g[@class='band-labels']")
    assert labels is not None
    assert [t[0].tail for t in labels] == ["partition halves n1,n2", "kill n3"]  # after <title>


def test_a_band_says_what_its_window_cost_when_the_heal_recorded_it() -> None:
    ops = [op(0, "invoke", 0, "read"), op(1, "ok", "nemesis", "partition", {"shape": "halves"}),
           op(3, "ok", "nemesis", "heal", None,
              extra={"windows": [{"start_ns": MS, "received": 10, "partitioned": 4,
                                  "dropped": 1}]}),
           op(4, "ok", 0, "read", 1)]
    (band,) = rects(plot(page(ops=ops), "run-timeline"), "bands")
    assert title(band) == ("partition halves: 0.001 s to 0.003 s; 4 partitioned and 1 dropped "
                           "of 10 messages")


def test_fault_windows_end_at_the_heal_of_what_they_broke() -> None:
    def spans(ops: list[Op]) -> list[tuple[int, int | None, str]]:
        return [(w.start_ns, w.end_ns, w.label) for w in fault_windows(ops)]

    # The network heal ends the partition; the kill lasts until the restart.
    assert spans(run_ops()) == [(3 * MS, 9 * MS, "partition halves n1,n2"),
                                (7 * MS, 13 * MS, "kill n3")]
    skew = [op(0, "ok", "nemesis", "clock", {"offset_ms": 200}),
            op(1, "ok", "nemesis", "clock", {"offset_ms": 0, "rate": 1}),
            op(2, "ok", "nemesis", "pause", {"nodes": ["n1"]}),
            op(3, "ok", "nemesis", "heal", {"final": True})]  # fmt: skip
    assert spans(skew) == [(0, MS, "clock"), (2 * MS, 3 * MS, "pause n1")]
    assert spans([op(0, "ok", "nemesis", "pause", None)]) == [(0, None, "pause")]
    long_label = {"shape": "halves", "nodes": [f"n{i}" for i in range(200)]}
    (window,) = fault_windows([op(0, "ok", "nemesis", "partition", long_label)])
    assert len(window.label) < 300 and "more characters" in window.label  # cut for the page


def test_latency_dots_sit_on_a_log_scale_at_their_invocation() -> None:
    ops = [op(0, "invoke", 0, "read"), op(1, "ok", 0, "read"),  # 1 ms
           op(10, "invoke", 1, "read"), op(20, "fail", 1, "read"),  # 10 ms
           op(20, "invoke", 0, "read"), op(120, "info", 0, "read")]  # 100 ms
    s = summarize(ops)
    chart = latency_chart(s.bars, s.end_ns)
    assert chart is not None
    assert (chart.lo_ms, chart.hi_ms) == (1.0, 100.0)
    bottom, middle, top = LATENCY_PX - PAD_PX, LATENCY_PX / 2, PAD_PX
    assert [chart.y(1), chart.y(10), chart.y(100)] == pytest.approx([bottom, middle, top])
    assert [label for _, label in chart.gridlines] == ["1 ms", "10 ms", "100 ms"]
    svg = plot(page(ops=ops), "run-latency")
    paths = {p.get("class"): p.get("d") for p in svg.iter(f"{SVG}path")}
    x = PLOT_PX / (120 * MS)
    assert paths == {"dots ok": f"M0.0 {bottom:.1f}h0",
                     "dots fail": f"M{10 * MS * x:.1f} {middle:.1f}h0",
                     "dots info": f"M{20 * MS * x:.1f} {top:.1f}h0"}


def test_the_log_scale_spans_whole_decades() -> None:
    assert decade_bounds([0.3, 45.0]) == (0.1, 100.0)
    assert decade_bounds([10.0]) == (10.0, 100.0)  # a single value: one decade
    assert decade_bounds([0.0, 2.0]) == (0.001, 10.0)  # 0 ms is drawn at 1 µs
    assert log_y(1e-9, lo_ms=0.001, hi_ms=10, height=100) == 100 - PAD_PX


def test_throughput_counts_completions_per_bucket_by_outcome() -> None:
    # 20 s, 400 operations: the buckets are 1 s long (about 20 completions each).
    ops = []
    for i in range(400):
        t = i * 50  # one every 50 ms
        outcome = "fail" if i % 10 == 0 else "info" if i == 105 else "ok"
        ops += [op(t, "invoke", i, "read"), op(t + 25, outcome, i, "read")]
    s = summarize(ops)
    chart = throughput_chart(s.bars, s.end_ns)
    assert chart is not None
    assert chart.bucket_ns == 1_000_000_000
    assert len(chart.counts) == 20
    assert chart.counts[0] == {"ok": 18, "fail": 2}
    assert chart.counts[5] == {"ok": 17, "fail": 2, "info": 1}
    assert sum(sum(c.values()) for c in chart.counts) == 400
    assert chart.max_rate == 20  # ops/s: the y axis tops at a round rate
    assert chart.columns[5][2] == "5 to 6 s: 17 ok/s, 2 fail/s, 1 info/s"
    assert chart.y(20) == PAD_PX
    assert chart.y(0) == chart.height - PAD_PX
    ok_line = chart.paths["ok"]
    assert ok_line.startswith(f"M0.00 {chart.y(18):.2f}H")  # a step per bucket
    assert ok_line.count("H") == 20
    assert "in buckets of <span id=\"run-throughput-bucket\">1 s</span>" in page(ops=ops)


def test_throughput_carries_finer_counts_that_add_up_to_its_buckets() -> None:
    # For zoom.js to regroup: each 1 s bucket splits into round, finer buckets (here 1,000 of
    # 1 ms: a 20 s run allows 20,000), which sum to it outcome by outcome.
    ops = []
    for i in range(400):
        t = i * 50 + i % 7  # not on bucket edges
        outcome = "fail" if i % 10 == 0 else "info" if i == 105 else "ok"
        ops += [op(t, "invoke", i, "read"), op(t + 25, outcome, i, "read")]
    s = summarize(ops)
    chart = throughput_chart(s.bars, s.end_ns)
    assert chart is not None
    fine_ns = chart.fine["ns"]
    assert fine_ns == 1_000_000 and chart.bucket_ns % fine_ns == 0
    k = chart.bucket_ns // fine_ns
    assert set(chart.fine) == {"ns", "ok", "fail", "info"}
    assert len(chart.fine["ok"]) <= MAX_FINE_BUCKETS
    for i, bucket in enumerate(chart.counts):
        for outcome in ("ok", "fail", "info"):
            assert sum(chart.fine[outcome][i * k:(i + 1) * k]) == bucket[outcome], (i, outcome)
    assert 'id="run-throughput-data"' in page(ops=ops)


@pytest.mark.parametrize(("bucket_ns", "end_ns", "fine_ns"), [
    (1_000_000_000, 20_000_000_000, 1_000_000),  # 1 ms: the floor
    (5_000_000_000, 600_000_000_000, 50_000_000),  # a 10-minute run: 12,000 of 50 ms
    (2_000_000, 300_000_000, 1_000_000),  # never under 1 ms
    (1_000_000, 100_000_000, 1_000_000),  # the bucket itself when nothing finer is allowed
    (500_000_000, 26_000_000_000, 2_000_000),  # 1 ms would make 26,000; 2 ms divides 0.5 s
])
def test_fine_buckets_are_round_bounded_and_at_least_a_millisecond(
    bucket_ns: int, end_ns: int, fine_ns: int
) -> None:
    assert fine_length_ns(bucket_ns, end_ns) == fine_ns
    assert -(-end_ns // fine_ns) <= MAX_FINE_BUCKETS


def test_bucket_lengths_are_round_and_bounded() -> None:
    assert bucket_length_ns(10**9, 10) == 100_000_000  # at least 10 buckets
    assert bucket_length_ns(600 * 10**9, 1_000_000) == 5 * 10**9  # at most 200
    assert bucket_length_ns(60 * 10**9, 12_000) == 500_000_000  # about 20 per bucket


def test_time_ticks_are_round_seconds() -> None:
    assert time_ticks(10 * 10**9) == [(i * 100.0, f"{i} s") for i in range(11)]
    assert [label for _, label in time_ticks(2_500_000_000)][:3] == ["0.0 s", "0.5 s",
                                                                     "1.0 s"]


def test_the_timeline_zooms_by_script_with_the_other_charts() -> None:
    text = page()
    for plot_id in ("run-timeline", "run-latency", "run-throughput"):
        svg = plot(text, plot_id)
        assert svg.get("class") == "time-plot"
        assert svg.get("preserveAspectRatio") == "none"
        assert svg.get("viewBox", "").startswith(f"0 0 {PLOT_PX} ")
    assert 'id="run-zoom-in"' in text and 'id="run-zoom-reset"' in text
    assert "addEventListener(\"wheel\"" in text


# -- bounded however long the run (issue 7) -------------------------------------------------------

PAGE_LIMIT_BYTES = 10 * 1000 * 1000
EMPTY_RESULTS: dict[str, Any] = {"valid": True, "results": {}}


def test_a_tooltip_shows_a_few_elements_of_a_value_and_says_how_many_more() -> None:
    big = list(range(5000))
    ops = [op(0, "invoke", 0, "read", None), op(1, "ok", 0, "read", big),
           op(2, "invoke", 0, "write", "x" * 10_000), op(3, "info", 0, "write", None,
                                                        error="y" * 10_000)]
    bars = rects(plot(render(RUN_INFO, EMPTY_RESULTS, ops), "run-timeline"), "ops")
    read_title, write_title = (title(b).split(": ", 1)[1] for b in bars)
    assert read_title == ("read null -> ok [0, 1, 2, 3, 4, ... +4990 more ..., 4995, 4996, "
                          "4997, 4998, 4999]")
    assert len(write_title) < 3 * (TITLE_CHARS + 60)
    assert "more characters)" in write_title
    assert f"at most {TITLE_ELEMENTS} elements" in render(RUN_INFO, EMPTY_RESULTS, ops)
    assert brief_value([1, [2, 3]]) == "[1, [2, 3]]"  # short values are shown whole


def test_a_tooltip_shows_a_read_held_as_ranges_by_its_ranges() -> None:
    few = IntRanges.encode([*range(0, 1000), 1002, *range(1005, 1010)])
    assert brief_value(few) == "1006 elements: 0..999, 1002, 1005..1009"
    many = IntRanges.encode(list(range(0, 100, 2)))
    assert many is not None
    text = brief_value(many)
    assert text.startswith("50 elements: 0, 2, 4, 6, 8, ... +40 more ranges ..., 90, 92")
    assert text.endswith("96, 98")


def test_a_tooltip_shows_a_read_held_as_a_delta_by_its_size_and_change() -> None:
    change = IntRangesDelta(17, IntRanges([(5, 7)]), IntRanges([(1, 1)]), 120)
    assert brief_value(change) == "120 elements (+3, -1 since #17)"


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
    few = render(RUN_INFO, EMPTY_RESULTS, many_ops(MAX_DRAWN))
    assert "aggregates" not in few
    assert len(rects(plot(few, "run-timeline"), "ops")) == MAX_DRAWN
    assert 'id="run-timeline-ops"' not in few
    text = render(RUN_INFO, EMPTY_RESULTS, many_ops(50_000, size=200))
    assert any(f"50,000 client operations, more than the {MAX_DRAWN:,} drawn one by one" in n
               for n in notes(text))
    cells = rects(plot(text, "run-timeline"), "ops cells")
    assert len(cells) <= MAX_CELLS
    assert sum(1 for c in cells if c.get("class") == "fail") == 1  # the one fail shows
    assert any(c.get("class") == "info" for c in cells)
    invoked = [int(m) for c in cells for m in re.findall(r" s, (\d+) invoked", title(c))]
    assert sum(invoked) == 50_000  # every operation is counted in some cell
    assert len(text.encode()) < PAGE_LIMIT_BYTES / 4


def test_an_aggregated_timeline_carries_its_operations_to_draw_when_zoomed_in() -> None:
    text = render(RUN_INFO, EMPTY_RESULTS, many_ops(5000))
    assert any(f"Zoom in until at most {MAX_DRAWN:,} operations are in view" in n
               for n in notes(text))
    match = re.search(r'<script type="application/json" id="run-timeline-ops">(.*?)</script>',
                      text, re.S)
    assert match is not None
    data = json.loads(match.group(1))
    starts = [sum(data["t"][: i + 1]) for i in range(3)]
    assert starts == [0, 2000, 4000]  # µs, as differences from the previous
    assert data["d"][:3] == [1000, 1000, 1000]
    assert data["l"][:3] == [0, 1, 2]
    assert data["o"][:5] == "oooio"
    assert data["fs"] == ["read"] and set(data["k"]) == {0}
    assert len(data["t"]) == 5000


def test_more_processes_than_rows_share_rows_one_after_another() -> None:
    # A long run retires a client's process at every info: 10 clients, 500 processes.
    ops = []
    for i in range(500):
        ops += [op(2 * i, "invoke", i, "read", None), op(2 * i + 1, "info", i, "read", None)]
    text = render(RUN_INFO, EMPTY_RESULTS, ops)
    assert any("each row holds several processes one after another" in n for n in notes(text))
    assert "not drawn" not in text
    svg = plot(text, "run-timeline")
    assert len(rects(svg, "lanes")) == 1
    assert len(rects(svg, "ops")) == 500  # every operation drawn, in one row
    assert ">0 +499</text>" in text
    # Processes that all overlap cannot share: what does not fit is left out, and said so.
    overlapping = [op(i, "invoke", i, "read", None) for i in range(MAX_ROWS + 5)]
    text = render(RUN_INFO, EMPTY_RESULTS, overlapping)
    assert "5 more processes not drawn (5 operations)." in notes(text)


def test_many_faults_are_merged_where_they_touch() -> None:
    ops = [op(0, "invoke", 0, "read", None)]
    for i in range(5000):  # a fault and its heal every 2 ms
        ops.append(op(1 + 2 * i, "ok", "nemesis", "partition", {"shape": "halves"}))
        ops.append(op(2 + 2 * i, "ok", "nemesis", "heal", None))
    ops.append(op(20_000, "ok", 0, "read", [1]))
    text = render(RUN_INFO, EMPTY_RESULTS, ops)
    labels = [title(b).rsplit(": ", 1)[0] for b in rects(plot(text, "run-timeline"), "bands")]
    assert 0 < len(labels) <= PLOT_PX
    assert labels[0].endswith("faults: partition x" + labels[0].split(" x")[-1])
    assert sum(int(label.split(" x")[-1]) if " x" in label else 1 for label in labels) == 5000
    assert any(f"more than {MAX_BANDS} faults" in n for n in notes(text))


def test_many_latency_dots_are_merged_and_the_page_says_so() -> None:
    ops = many_ops(MAX_POINTS + 5000, processes=50)
    s = summarize(ops)
    chart = latency_chart(s.bars, s.end_ns)
    assert chart is not None and chart.grid >= 1
    dots = sum(d.count("M") for d in chart.paths.values())
    assert 0 < dots <= MAX_POINTS
    assert chart.paths["fail"].count("M") == 1  # the one fail is never merged away
    assert any("dots drawn one by one" in n for n in chart.notes)


def test_the_page_stays_under_10_mb_whatever_the_history() -> None:
    # Everything at once: huge values, many processes, many kinds of operation, long results.
    ops = many_ops(20_000, processes=3000, size=2000)
    ops += [op(40_000 + 2 * i + j, t, 5000 + i, f"f{i}" * 50, "v" * 5000)
            for i in range(2000) for j, t in enumerate(("invoke", "ok"))]
    huge = result("report-test-lost", False, headline=("lost_count",),
                  lost=list(range(100_000)), lost_count=100_000)
    text = render({**RUN_INFO, "reproduce": "x" * 1_000_000},
                  {**compose({f"c{i}": huge for i in range(10)}), "harness_error": "e" * 10**6},
                  ops)
    assert len(text.encode()) < PAGE_LIMIT_BYTES
    assert any("less frequent kinds of operation not shown" in n for n in notes(text))
    assert "see results.json" in text


def test_the_report_streams_the_history_and_skips_what_it_cannot_read(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text(json.dumps(RUN_INFO))
    (tmp_path / "results.json").write_text(json.dumps(run_results()))
    dump_jsonl(run_ops(), tmp_path / "history.jsonl")
    with open(tmp_path / "history.jsonl", "a", encoding="utf-8") as fh:
        fh.write('{"type": "bogus"}\nnot json\n{"index": 99, "time": 1, "ty')  # cut short
    text = write_report(tmp_path).read_text(encoding="utf-8")
    note = '<p class="note">3 line(s) of history.jsonl could not be read and are left out.</p>\n'
    assert note in text
    assert text.replace(note, "") == render(RUN_INFO, run_results(), run_ops(), run_dir=tmp_path)


def test_a_history_that_cannot_be_paired_says_so() -> None:
    ops = [op(0, "invoke", 0, "read"), op(1, "invoke", 0, "read")]
    text = render(RUN_INFO, EMPTY_RESULTS, ops)
    assert "Timeline unavailable: operation 1: process 0 invoked again" in text
