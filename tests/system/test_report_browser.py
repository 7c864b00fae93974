"""`report.html` in a real browser: Debian's chromium, headless, driven by selenium.

The page must load from a `file://` URL with nothing in the console at SEVERE (a script error,
a resource it tried to fetch), draw a lane per client process and a band per fault, zoom and
pan (the buttons, the wheel, a drag: each changes the plots' viewBox), draw an aggregated
timeline's operations one by one once zoomed in, and show an invalid run's counterexample.

The runs are a simulated `chaos run` (a few seconds in one process: no node processes, so no
`cluster` mark) and run directories written here. One browser serves the whole module. The
tests skip, saying why, where chromium, chromedriver or selenium are missing (`.ci/run`
installs them).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from checker.fault_kinds import breaks
from checker.history import Op, dump_jsonl, load_jsonl
from checker.report import MAX_DRAWN, write_report
from checker.result import compose, result

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.actions.wheel_input import ScrollOrigin  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WAIT_S = 10
MS = 1_000_000


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.exists():
            pytest.skip(f"{path} is missing: install Debian's chromium and chromium-driver "
                        "(apt-get install chromium chromium-driver; .ci/run does)")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = tmp_path_factory.mktemp("chromium-profile")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
                "--window-size=1400,1000"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)),
                               options=options)
    try:
        yield browser
    finally:
        browser.quit()


def simulated_run(store: Path, *extra: str) -> Path:
    """A simulated partition-heal run (seconds, one process); its run directory."""
    args = [sys.executable, "-m", "chaos", "run", "partition-heal", "--simulate", "--seed", "1",
            "--time-limit", "4", "--store", str(store), *extra]
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)
    runs = [p.parent for p in store.glob("partition-heal/*/run.json")]
    assert len(runs) == 1, (f"{' '.join(args)} exited {proc.returncode}\n{proc.stdout[-2000:]}"
                            f"\n{proc.stderr[-2000:]}")
    assert (runs[0] / "report.html").exists(), f"no report in {runs[0]}"
    return runs[0]


@pytest.fixture(scope="module")
def valid_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = simulated_run(tmp_path_factory.mktemp("valid"))
    assert json.loads((run_dir / "results.json").read_text())["valid"] is True, run_dir
    return run_dir


def open_page(driver: WebDriver, run_dir: Path) -> None:
    driver.get((run_dir / "report.html").as_uri())
    WebDriverWait(driver, WAIT_S).until(
        lambda d: d.execute_script("return document.readyState") == "complete")


def severe(driver: WebDriver) -> list[dict[str, Any]]:
    return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def view_box(driver: WebDriver, plot_id: str = "run-timeline") -> list[float]:
    box = driver.find_element(By.ID, plot_id).get_dom_attribute("viewBox") or ""
    return [float(v) for v in box.split()]


def wait_for(driver: WebDriver, condition: Any, what: str) -> Any:
    try:
        return WebDriverWait(driver, WAIT_S).until(lambda d: condition())
    except TimeoutException:
        pytest.fail(f"waited {WAIT_S} s for {what}")


def client_processes(run_dir: Path) -> set[Any]:
    return {op.process for op in load_jsonl(run_dir / "history.jsonl")
            if op.process != "nemesis"}


def faults(run_dir: Path) -> list[Op]:
    return [op for op in load_jsonl(run_dir / "history.jsonl")
            if op.process == "nemesis" and op.type == "ok" and breaks(op.f, op.value)]


def test_the_page_loads_from_a_file_without_console_errors(driver: WebDriver,
                                                          valid_run: Path) -> None:
    driver.get_log("browser")  # what earlier pages logged
    open_page(driver, valid_run)
    assert driver.title.startswith("chaos run partition-heal: valid")
    assert severe(driver) == [], f"console errors on {valid_run / 'report.html'}"
    # Links to the node logs and the run's files are relative and resolve beside the page.
    hrefs = {a.get_attribute("href") for a in driver.find_elements(By.CSS_SELECTOR, "#files a")}
    assert (valid_run / "history.jsonl").as_uri() in hrefs
    assert (valid_run / "nodes" / "n1.log").as_uri() in hrefs


def test_the_timeline_has_a_lane_per_process_and_a_band_per_fault(driver: WebDriver,
                                                                  valid_run: Path) -> None:
    open_page(driver, valid_run)
    lanes = driver.find_elements(By.CSS_SELECTOR, "#run-timeline rect.lane")
    processes = client_processes(valid_run)
    assert 1 < len(processes) == len(lanes)
    labels = [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".chart svg.labels text")]
    assert {str(p) for p in processes} <= set(labels)
    bands = driver.find_elements(By.CSS_SELECTOR, "#run-timeline rect.fault")
    expected = faults(valid_run)
    assert len(expected) == 2  # the scenario partitions twice
    assert len(bands) == len(expected)
    # Each band says what it was on hover (names under the timeline hide where they overlap).
    titles = [b.find_element(By.TAG_NAME, "title").get_attribute("textContent") for b in bands]
    assert all(t.startswith("partition majority-minority ") for t in titles), titles
    for plot_id in ("run-latency", "run-throughput"):  # the charts over time carry the bands too
        assert len(driver.find_elements(By.CSS_SELECTOR, f"#{plot_id} rect.fault")) == 2
    assert severe(driver) == []


def test_zoom_and_pan_change_the_viewbox_of_every_time_chart(driver: WebDriver,
                                                             valid_run: Path) -> None:
    open_page(driver, valid_run)
    x0, _, width0, height = view_box(driver)
    assert (x0, width0) == (0, 1000)
    driver.find_element(By.ID, "run-zoom-in").click()
    wait_for(driver, lambda: view_box(driver)[2] == width0 / 2, "the button to zoom in")
    assert view_box(driver)[0] == width0 / 4  # about the middle
    assert view_box(driver)[3] == height  # only time is zoomed
    for plot_id in ("run-latency", "run-throughput"):
        assert view_box(driver, plot_id)[:3] == view_box(driver)[:3]
    timeline = driver.find_element(By.ID, "run-timeline")
    ActionChains(driver).scroll_from_origin(ScrollOrigin.from_element(timeline), 0,
                                            -300).perform()
    wait_for(driver, lambda: view_box(driver)[2] < width0 / 2, "the wheel to zoom in")
    before = view_box(driver)[0]
    ActionChains(driver).click_and_hold(timeline).move_by_offset(200, 0).release().perform()
    wait_for(driver, lambda: view_box(driver)[0] < before, "a drag to the right to pan back")
    assert "s of" in driver.find_element(By.ID, "run-zoom-range").text
    driver.find_element(By.ID, "run-zoom-reset").click()
    wait_for(driver, lambda: view_box(driver)[:3] == [0, 0, width0], "the reset")
    assert severe(driver) == []


def write_run(run_dir: Path, ops: list[Op], results: dict[str, Any]) -> Path:
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text(json.dumps({"scenario": "synthetic", "seed": 3,
                                                  "reproduce": "chaos run synthetic --seed 3"}))
    (run_dir / "results.json").write_text(json.dumps(results))
    dump_jsonl(ops, run_dir / "history.jsonl")
    write_report(run_dir)
    return run_dir


def test_an_invalid_run_shows_its_counterexample(driver: WebDriver, tmp_path: Path) -> None:
    ops = [Op("invoke", 0, "add", 7, time=0, index=0), Op("ok", 0, "add", 7, time=MS, index=1),
           Op("invoke", 1, "read", None, time=2 * MS, index=2),
           Op("ok", 1, "read", [], time=3 * MS, index=3)]
    lost = result("report-browser-test", False, headline=("lost_count",), lost_count=1,
                  counterexample="element 7 was acknowledged at 0.001 s and read by no one")
    run_dir = write_run(tmp_path / "run", ops, compose({"lost-elements": lost}))
    open_page(driver, run_dir)
    assert driver.find_element(By.TAG_NAME, "h1").text == "synthetic: INVALID"
    section = driver.find_element(By.CSS_SELECTOR, "section.checker")
    assert "element 7 was acknowledged at 0.001 s and read by no one" in section.text
    assert severe(driver) == []


def test_an_invalid_lin_kv_run_shows_the_operation_that_cannot_be_placed(
    driver: WebDriver, tmp_path_factory: pytest.TempPathFactory
) -> None:
    run_dir = simulated_run(tmp_path_factory.mktemp("stale-read"), "--bug", "stale-read")
    results = json.loads((run_dir / "results.json").read_text())
    lin = results["results"]["linearizability"]
    assert lin["valid"] is False, f"stale-read was not caught at seed 1: {run_dir}"
    open_page(driver, run_dir)
    assert driver.find_element(By.TAG_NAME, "h1").text == "partition-heal: INVALID"
    sections = [s for s in driver.find_elements(By.CSS_SELECTOR, "section.checker")
                if "linearizability" in s.find_element(By.TAG_NAME, "h2").text]
    assert len(sections) == 1
    assert "INVALID" in sections[0].find_element(By.TAG_NAME, "h2").text
    # However the section draws it, it names the operation that cannot be placed.
    assert str(lin["failure"]["op"]["index"]) in sections[0].text
    assert severe(driver) == [], f"console errors on {run_dir / 'report.html'}"


def test_an_aggregated_timeline_draws_operations_one_by_one_once_zoomed_in(
    driver: WebDriver, tmp_path: Path
) -> None:
    ops = []
    n = 4 * MAX_DRAWN
    for i in range(n):  # 10 clients, an operation every ms, each 5 ms long
        p = i % 10
        ops += [Op("invoke", p, "read", None, time=i * MS, index=2 * i),
                Op("info" if i % 97 == 0 else "ok", p, "read", [i], time=i * MS + 5 * MS,
                   index=2 * i + 1)]
    run_dir = write_run(tmp_path / "run", ops, compose({"ok": result("report-ok", True)}))
    open_page(driver, run_dir)
    cells = driver.find_element(By.CSS_SELECTOR, "#run-timeline g.cells")
    assert cells.is_displayed()
    assert driver.find_elements(By.CSS_SELECTOR, "#run-timeline g.zoomed-ops rect") == []
    zoom_in = driver.find_element(By.ID, "run-zoom-in")
    for _ in range(3):  # 1/8 of the run: 1,500 operations
        zoom_in.click()
    wait_for(driver, lambda: driver.find_elements(By.CSS_SELECTOR,
                                                  "#run-timeline g.zoomed-ops rect"),
             "the operations in view to be drawn")
    drawn = driver.find_elements(By.CSS_SELECTOR, "#run-timeline g.zoomed-ops rect")
    assert n / 8 <= len(drawn) <= MAX_DRAWN
    assert not cells.is_displayed()
    driver.find_element(By.ID, "run-zoom-reset").click()
    wait_for(driver, cells.is_displayed, "the cells to come back")
    assert severe(driver) == []


def test_a_zoomed_view_gets_throughput_buckets_of_its_own_scale(
    driver: WebDriver, tmp_path: Path
) -> None:
    # 12 s of completions, one a millisecond: 0.1 s buckets over the run; an eighth of it
    # (1.5 s) is regrouped into 10 ms buckets, each holding exactly ten completions.
    ops = []
    n = 12_000
    for i in range(n):
        p = i % 10
        ops += [Op("invoke", p, "read", None, time=i * MS, index=2 * i),
                Op("fail" if i % 7 == 0 else "ok", p, "read", [i], time=i * MS + 5 * MS,
                   index=2 * i + 1)]
    run_dir = write_run(tmp_path / "run", ops, compose({"ok": result("report-ok", True)}))
    open_page(driver, run_dir)
    bucket = driver.find_element(By.ID, "run-throughput-bucket")
    assert bucket.text == "0.1 s"
    zoom_in = driver.find_element(By.ID, "run-zoom-in")
    for _ in range(3):
        zoom_in.click()
    wait_for(driver, lambda: bucket.text == "0.01 s", "the throughput to be regrouped")
    titles = driver.execute_script(
        "return Array.prototype.map.call("
        "document.querySelectorAll('#run-throughput g.columns rect title'),"
        "function (t) { return t.textContent; });")
    assert 100 <= len(titles) <= 200, len(titles)
    for title in titles:  # "5.63 to 5.64 s: 700 ok/s, 300 fail/s, 0 info/s"
        span, rates = title.split(": ")
        a_ms, b_ms = (round(float(v) * 1000) for v in span.removesuffix(" s").split(" to "))
        ok, fail, info = (float(r.split()[0]) for r in rates.split(", "))
        expected_ok = sum(1 for i in range(a_ms - 5, b_ms - 5) if 0 <= i < n and i % 7)
        expected_fail = sum(1 for i in range(a_ms - 5, b_ms - 5) if 0 <= i < n and not i % 7)
        assert (ok * 0.01, fail * 0.01, info) == pytest.approx(
            (expected_ok, expected_fail, 0)), title
    top = driver.find_elements(By.CSS_SELECTOR, "#throughput-section svg.labels text")[0]
    assert top.text == "1000 ops/s"  # ten a bucket of 10 ms: the view's own peak
    driver.find_element(By.ID, "run-zoom-reset").click()
    wait_for(driver, lambda: bucket.text == "0.1 s", "the whole run's buckets to come back")
    assert severe(driver) == []

