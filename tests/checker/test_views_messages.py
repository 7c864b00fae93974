"""The message diagram: arrows from a literal messages.jsonl, the window, the budget."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from view_helpers import context, marks, svgs, words

from checker.sections import FaultWindow
from checker.views import messages as view

S = 1_000_000_000
LAYOUT = view.LAYOUT

# One of each fate; send = time - delay. Also a malformed frame and a garbage line: counted,
# not drawn, and a type that must be escaped.
LINES = [
    '{"time":1000000000,"src":"n1","dest":"n2","type":"append_entries","msg_id":1,'
    '"fate":"delivered","delay_ms":0.000}',
    '{"time":1200000000,"src":"n2","dest":"n1","type":"append_entries_ok","fate":"delayed",'
    '"delay_ms":100.000}',
    '{"time":1300000000,"src":"n1","dest":"n3","type":"append_entries","msg_id":2,'
    '"fate":"dropped"}',
    '{"time":1500000000,"src":"n1","dest":"n3","type":"append_entries","msg_id":3,'
    '"fate":"partitioned","delay_ms":50.000}',
    '{"time":1600000000,"src":"c1","dest":"n1","type":"write","msg_id":1,"fate":"delivered",'
    '"delay_ms":0.000}',
    '{"time":1700000000,"src":"n1","dest":"c1","type":"write_ok","fate":"duplicated",'
    '"delay_ms":0.000}',
    '{"time": 1800000000, "fate": "malformed", "src": "n9", "frames": 2, "reason": "bad"}',
    "this is not a record",
    '{"time":1900000000,"src":"n3","dest":"lin-kv","type":"<script>x</script>","msg_id":4,'
    '"in_reply_to":7,"fate":"delivered","delay_ms":0.000}',
]
# (src, dest, sent s, outcome s, lost) in send order
EXPECTED = [
    ("n1", "n2", 1.0, 1.0, False), ("n2", "n1", 1.1, 1.2, False),
    ("n1", "n3", 1.3, 1.3, True), ("n1", "n3", 1.45, 1.5, True),
    ("c1", "n1", 1.6, 1.6, False), ("n1", "c1", 1.7, 1.7, False),
    ("n3", "lin-kv", 1.9, 1.9, False),
]  # fmt: skip
COLUMNS = ["n1", "n2", "n3", "lin-kv", "c1"]  # nodes, services, clients


def run_dir(tmp_path: Path, lines: list[str]) -> Path:
    (tmp_path / "messages.jsonl").write_text("\n".join(lines) + "\n")
    return tmp_path


def diagram(tmp_path: Path, lines: list[str] = LINES, **kw: Any) -> str:
    return view.message_diagram(context(run_dir=run_dir(tmp_path, lines), **kw))


def window(fragment: str) -> tuple[float, float]:
    found = re.search(r'class="msg-from" type="number" step="0.001" value="([\d.]+)">.*?'
                      r'class="msg-to" type="number" step="0.001" value="([\d.]+)"', fragment)
    assert found is not None
    return float(found.group(1)), float(found.group(2))


def expected_arrow(src: str, dest: str, sent: float, at: float, lost: bool,
                   t0: float, t1: float, drawn: int) -> tuple[float, ...]:
    height = min(LAYOUT["hMax"], max(LAYOUT["hMin"], drawn * LAYOUT["perMsg"]))

    def x(name: str) -> float:
        return LAYOUT["left"] + COLUMNS.index(name) * LAYOUT["col"] + LAYOUT["col"] / 2

    def y(t: float) -> float:
        return LAYOUT["top"] + (t - t0) / (t1 - t0) * height

    x1, y1, x2, y2 = x(src), y(sent), x(dest), y(at)
    if lost:
        f = LAYOUT["lostFrac"]
        x2, y2 = x1 + (x2 - x1) * f, y1 + (y2 - y1) * f
    return x1, y1, x2, y2


def test_each_message_is_an_arrow_from_its_send_to_its_arrival(tmp_path: Path) -> None:
    fragment = diagram(tmp_path)
    t0, t1 = window(fragment)
    assert (t0, t1) == (1.0, 1.9)  # the first focus is the start: the first messages
    overview, svg = svgs(fragment)
    assert "msg-overview" in overview.get("class", "")
    labels = [t.text for t in marks(svg, "text", "lane-label")]
    assert labels == COLUMNS
    arrows = marks(svg, "line", "msg")
    assert len(arrows) == len(EXPECTED)
    for line, (src, dest, sent, at, lost) in zip(arrows, EXPECTED, strict=True):
        assert (line.get("data-src"), line.get("data-dest")) == (src, dest)
        got = tuple(float(line.get(k)) for k in ("x1", "y1", "x2", "y2"))
        want = expected_arrow(src, dest, sent, at, lost, t0, t1, len(EXPECTED))
        assert got == pytest.approx(want, abs=0.11)
        assert ("lost" in line.get("class").split()) is lost
        assert (line.get("marker-end") is None) is lost
    assert len(marks(svg, "path", "cross")) == 2  # the dropped and the partitioned one
    height = LAYOUT["top"] + LAYOUT["hMin"] + LAYOUT["bottom"]
    width = LAYOUT["left"] + len(COLUMNS) * LAYOUT["col"] + LAYOUT["right"]
    assert (svg.get("width"), svg.get("height")) == (str(width), str(height))


def test_the_page_counts_every_line_and_escapes_what_the_run_wrote(tmp_path: Path) -> None:
    fragment = diagram(tmp_path)
    text = words(fragment)
    assert ("messages.jsonl holds 8 messages (3 delivered, 1 delayed, 1 dropped, 1 partitioned, "
            "1 duplicated, 1 malformed). 1 unreadable lines were skipped.") in text
    assert "All 7 messages with a sender and a receiver are embedded." in text
    assert "7 messages in this window." in text
    assert "<script>x</script>" not in fragment
    assert "&lt;script&gt;x&lt;/script&gt; msg_id=4 in_reply_to=7" in fragment  # its hover
    blob = re.search(r'<script type="application/json" class="msg-data">(.*?)</script>',
                     fragment, re.S)
    assert blob is not None
    data = json.loads(blob.group(1))
    assert "<script>x</script>" in data["types"]  # the JSON holds it as \u003c...
    assert "<" not in blob.group(1)
    sends = [sum(data["s"][: i + 1]) for i in range(len(data["s"]))]
    assert sends == [round(e[2] * 1e6) for e in EXPECTED]


def test_the_first_window_is_around_the_failure(tmp_path: Path) -> None:
    lines = [
        f'{{"time":{t * 10_000_000},"src":"n{1 + t % 3}","dest":"n{1 + (t + 1) % 3}",'
        f'"type":"gossip","msg_id":{t + 1},"fate":"delivered","delay_ms":0.000}}'
        for t in range(1000)
    ]  # 10 s, one message every 10 ms
    failing = {"checker": "linearizability", "valid": False,
               "failure": {"op": {"index": 5, "f": "read", "time_ns": 7 * S - 1000,
                                  "completion_time_ns": 7 * S}}}
    fragment = diagram(tmp_path, lines, results={"results": {"linearizability": failing}})
    t0, t1 = window(fragment)
    assert t0 < 7.0 < t1
    assert (t1 - t0) == pytest.approx(view.INITIAL_MESSAGES * 0.01, abs=0.011)


def test_a_long_log_is_cut_to_the_stretches_around_the_faults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(view, "MESSAGES_MAX", 100)
    lines = [
        f'{{"time":{t * 10_000_000},"src":"n1","dest":"n2","type":"gossip","msg_id":{t + 1},'
        f'"fate":"{"partitioned" if 300 <= t < 600 else "delivered"}","delay_ms":0.000}}'
        for t in range(1000)
    ]
    fault = FaultWindow(3 * S, 6 * S, "partition halves")
    fragment = diagram(tmp_path, lines, faults=[fault], end_ns=10 * S)
    data = json.loads(re.findall(r'class="msg-data">(.*?)</script>', fragment, re.S)[0])
    assert 0 < len(data["s"]) <= 100
    stretches = data["embedded"]
    for at in (3 * S, 6 * S, 0):  # the fault's start, its end, the run's start
        assert any(a <= at // 1000 <= b for a, b in stretches), (at, stretches)
    text = words(fragment)
    assert f"To keep the page small, {len(data['s'])} of them are embedded (at most 100)" in text
    assert f"The other {1000 - len(data['s'])} are only counted in the overview" in text
    overview = svgs(fragment)[0]
    assert len(marks(overview, "rect", "embedded")) == len(stretches)
    assert marks(overview, "rect", "bin-lost")  # the partition's losses show in red
    assert len(marks(overview, "rect", "fault")) == 1


def test_no_log_is_one_line(tmp_path: Path) -> None:
    text = words(view.message_diagram(context(run_dir=tmp_path)))
    assert text == ("No message diagram: this run has no messages.jsonl (a simulated run, or an "
                    "imported history, records no proxy log).")
    assert "no messages.jsonl" in words(view.message_diagram(context()))


def test_the_script_redraws_the_same_geometry_for_a_picked_window(tmp_path: Path) -> None:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or driver is None:
        pytest.skip("needs chromium and chromedriver (.ci/run installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    fragment = diagram(tmp_path)
    page = tmp_path / "page.html"
    page.write_text(f"<!doctype html><meta charset=utf-8><body>{fragment}</body>")
    options = Options()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(service=Service(executable_path=driver), options=options)
    try:
        browser.get(page.as_uri())
        browser.execute_script(
            "var r = document.querySelector('.cv-messages');"
            "r.querySelector('input.msg-from').value = '1.05';"
            "r.querySelector('input.msg-to').value = '1.5';"
            "r.querySelector('button.msg-show').click();")
        drawn = browser.find_elements(By.CSS_SELECTOR, "svg.msg-svg line.msg")
        got = [tuple(float(line.get_attribute(k)) for k in ("x1", "y1", "x2", "y2"))
               for line in drawn]
        note = browser.find_element(By.CSS_SELECTOR, ".msg-note").text
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    finally:
        browser.quit()
    assert errors == []
    in_window = [e for e in EXPECTED if e[3] >= 1.05 and e[2] <= 1.5]  # in flight during it
    assert len(got) == len(in_window) == 3
    for arrow, (src, dest, sent, at, lost) in zip(got, in_window, strict=True):
        want = expected_arrow(src, dest, sent, at, lost, 1.05, 1.5, len(in_window))
        assert arrow == pytest.approx(want, abs=0.11)
    assert note == "3 messages in this window."
