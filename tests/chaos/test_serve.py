"""`chaos serve` over HTTP on loopback: the list of runs, their reports and files, and refusals.

Run directories are written by hand (run.json, results.json, report.html, logs), so each test
says exactly what the store holds. The server runs in a thread on a port the OS picks; the
command itself runs as a subprocess once, to see it print its URL and stop on Ctrl-C.
"""

from __future__ import annotations

import http.client
import json
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chaos import cli
from chaos.runindex import verdict_of
from chaos.serve import HOST, make_server, serve_command
from chaos.store import link_latest

ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 20.0
SECRET = "the-secret-outside-the-store"


def make_run(store: Path, scenario: str, stamp: str, seed: int, *, valid: Any = True,
             exit_code: int | None = 0, report: bool = True, **info: Any) -> Path:
    """A run directory as `chaos run` leaves it (only the files these tests read)."""
    run_dir = store / scenario / f"2025010{stamp}T120000.000000Z-s{seed}"
    (run_dir / "nodes").mkdir(parents=True)
    started = f"2025-01-0{stamp}T12:00:00.000+00:00"
    run_info = {"scenario": scenario, "seed": seed, "workload": "lin-kv", "service": "raft",
                "node_cmd": None, "bug": None, "started_at": started,
                "ended_at": f"2025-01-0{stamp}T12:00:12.500+00:00", "exit_code": exit_code,
                "valid": valid, "pid": 0, **info}
    (run_dir / "run.json").write_text(json.dumps(run_info), encoding="utf-8")
    (run_dir / "results.json").write_text(json.dumps({"valid": valid, "results": {}}),
                                          encoding="utf-8")
    (run_dir / "history.jsonl").write_text('{"index": 0, "type": "invoke"}\n', encoding="utf-8")
    (run_dir / "nodes" / "n1.log").write_text("<b>n1 started</b>\n", encoding="utf-8")
    if report:
        (run_dir / "report.html").write_text(f"<html>report of seed {seed}</html>",
                                             encoding="utf-8")
    return run_dir


@pytest.fixture
def store(tmp_path: Path) -> Path:
    store = tmp_path / "logs"
    store.mkdir()
    (tmp_path / "secret.txt").write_text(SECRET, encoding="utf-8")
    return store


@pytest.fixture
def served(store: Path) -> Iterator[tuple[Any, int]]:
    """The server on 127.0.0.1, in a thread, ready; its server object and port."""
    server = make_server(store, 0)
    # A short poll, so that shutdown() returns soon after each test.
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    port = server.server_address[1]
    try:
        _wait_ready(port)
        yield server, port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(WAIT_S)


def _wait_ready(port: int) -> None:
    deadline = time.monotonic() + WAIT_S
    while True:
        try:
            if get(port, "/")[0] == 200:
                return
        except OSError:
            if time.monotonic() > deadline:
                raise


def get(port: int, path: str, *, method: str = "GET", headers: dict[str, str] | None = None
        ) -> tuple[int, dict[str, str], bytes]:
    """One request with the path sent exactly as given (no normalising, no redirects)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=WAIT_S)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        conn.close()


def test_the_list_shows_runs_newest_first_with_their_verdicts(store: Path,
                                                              served: tuple[Any, int]) -> None:
    make_run(store, "partition-heal", "1", 11, valid=True)
    make_run(store, "leader-kill", "3", 33, valid=False, exit_code=1, bug="stale-read")
    newest = make_run(store, "clock-skew", "5", 55, valid="unknown", exit_code=3,
                      node_cmd=["python3", "my node.py"])
    link_latest(store, newest)
    status, headers, body = get(served[1], "/")
    page = body.decode()
    assert status == 200
    assert headers["content-type"] == "text/html; charset=utf-8"
    rows = [line for line in page.splitlines() if line.startswith("<tr data-verdict=")]
    assert [row.split('"')[1] for row in rows] == ["unknown", "invalid", "valid"]
    assert [page.index(f"-s{seed}/") for seed in (55, 33, 11)] == sorted(
        page.index(f"-s{seed}/") for seed in (55, 33, 11))
    assert page.count("clock-skew/20250105T120000.000000Z-s55/report.html") == 1  # latest: once
    assert "python3 &#39;my node.py&#39;" in page  # the node command, escaped
    assert "stale-read" in page
    assert "12.5 s" in page
    assert 'class="v v-invalid"' in page


def test_a_damaged_run_shows_as_damaged(store: Path, served: tuple[Any, int]) -> None:
    broken = make_run(store, "partition-heal", "1", 1)
    (broken / "run.json").write_text('{"scenario": "partition-heal", ', encoding="utf-8")
    no_object = make_run(store, "partition-heal", "2", 2)
    (no_object / "run.json").write_text("[1, 2]", encoding="utf-8")
    bad_results = make_run(store, "partition-heal", "3", 3)
    (bad_results / "results.json").write_bytes(b"\xff\xfe")
    make_run(store, "partition-heal", "4", 4)
    status, _, body = get(served[1], "/")
    page = body.decode()
    assert status == 200
    rows = [line for line in page.splitlines() if line.startswith("<tr data-verdict=")]
    assert [row.split('"')[1] for row in rows] == ["valid", "damaged", "damaged", "damaged"]
    assert "run.json:1: not valid JSON" in page
    assert "run.json: not a JSON object" in page
    assert "results.json: cannot read it" in page


def test_a_runs_report_and_files_are_served_as_what_they_are(store: Path,
                                                             served: tuple[Any, int]) -> None:
    run_dir = make_run(store, "partition-heal", "1", 7)
    base = "/store/partition-heal/" + run_dir.name
    expected = {
        "/report.html": ("text/html; charset=utf-8", "report of seed 7"),
        "/history.jsonl": ("text/plain; charset=utf-8", '"invoke"'),
        "/results.json": ("application/json", '"valid": true'),
        "/nodes/n1.log": ("text/plain; charset=utf-8", "<b>n1 started</b>"),
    }
    for name, (kind, text) in expected.items():
        status, headers, body = get(served[1], base + name)
        assert (status, headers["content-type"]) == (200, kind), name
        assert text in body.decode(), name
        assert headers["x-content-type-options"] == "nosniff"
    status, headers, body = get(served[1], base + "/history.jsonl", method="HEAD")
    assert (status, body) == (200, b"")
    assert int(headers["content-length"]) == (run_dir / "history.jsonl").stat().st_size
    status, _, listing = get(served[1], base + "/")
    assert status == 200
    for name in ("history.jsonl", "results.json", "run.json", "report.html", "nodes/"):
        assert f'href="{base}/{name}"' in listing.decode()
    status, _, nodes = get(served[1], base + "/nodes/")
    assert f'href="{base}/nodes/n1.log"' in nodes.decode()


def test_a_missing_report_is_built_on_request(store: Path, served: tuple[Any, int],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from checker import report

    built: list[Path] = []

    def write_report(run_dir: Path) -> Path:
        built.append(run_dir)
        (run_dir / "report.html").write_text("<html>built</html>", encoding="utf-8")
        return run_dir / "report.html"

    monkeypatch.setattr(report, "write_report", write_report)
    run_dir = make_run(store, "partition-heal", "1", 9, report=False)
    path = f"partition-heal/{run_dir.name}"
    page = get(served[1], "/")[2].decode()
    assert f'href="/build/{path}"' in page
    assert f'href="/store/{path}/report.html"' not in page
    status, headers, _ = get(served[1], f"/build/{path}")
    assert (status, headers["location"]) == (303, f"/store/{path}/report.html")
    assert built == [run_dir.resolve()]
    assert get(served[1], f"/store/{path}/report.html")[2] == b"<html>built</html>"
    get(served[1], f"/build/{path}")  # built once: now it is there
    assert len(built) == 1
    assert f'href="/store/{path}/report.html"' in get(served[1], "/")[2].decode()
    status, _, _ = get(served[1], f"/build/{path}", headers={"Sec-Fetch-Site": "cross-site"})
    assert status == 403


@pytest.mark.parametrize("path", [
    "/store/../secret.txt",
    "/store/%2e%2e/secret.txt",
    "/store/%2E%2E%2Fsecret.txt",
    "/store/..%2fsecret.txt",
    "/store/partition-heal/../../secret.txt",
    "/store//etc/passwd",
    "/store/%2Fetc%2Fpasswd",
    "/store/%252e%252e/secret.txt",  # encoded twice: a name, not a step up
    "/store/outside/secret.txt",  # a link to a directory outside
    "/store/leak.txt",  # a link to a file outside
    "/store/.reserve",
    "/store/%00",
    "/build/../secret.txt",
    "/build/outside",
    "/../secret.txt",
    "/secret.txt",
])
def test_paths_outside_the_store_are_refused(store: Path, served: tuple[Any, int],
                                             path: str) -> None:
    make_run(store, "partition-heal", "1", 1)
    (store / "outside").symlink_to(store.parent)
    (store / "leak.txt").symlink_to(store.parent / "secret.txt")
    (store / ".reserve").write_text(SECRET, encoding="utf-8")
    status, _, body = get(served[1], path)
    assert status in (403, 404), (path, status)
    assert SECRET not in body.decode(errors="replace")


def test_only_get_and_head_are_answered(store: Path, served: tuple[Any, int]) -> None:
    for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
        status, headers, _ = get(served[1], "/", method=method)
        assert (status, headers.get("allow")) == (405, "GET, HEAD"), method


def test_a_page_asked_for_under_another_host_name_is_refused(store: Path,
                                                             served: tuple[Any, int]) -> None:
    """A web page that rebinds its name to 127.0.0.1 cannot read the store."""
    assert get(served[1], "/", headers={"Host": "attacker.example:8080"})[0] == 403
    assert get(served[1], "/", headers={"Host": f"localhost:{served[1]}"})[0] == 200


def test_it_listens_on_127_0_0_1_only(served: tuple[Any, int]) -> None:
    server, port = served
    assert server.socket.getsockname() == ("127.0.0.1", port)
    assert {p.name for p in serve_command.params} == {"store", "port"}  # no --host to give


def test_what_the_runs_say_is_escaped(store: Path, served: tuple[Any, int]) -> None:
    make_run(store, "evil", "1", 1, workload="<script>alert(1)</script>",
             error='"><img src=x onerror=alert(1)>', exit_code=4)
    page = get(served[1], "/")[2].decode()
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page
    assert 'data-verdict="harness failed"' in page


@pytest.mark.parametrize(("info", "results", "is_alive", "verdict"), [
    ({"exit_code": 0}, {"valid": True}, False, "valid"),
    ({"exit_code": 1}, {"valid": False}, False, "invalid"),
    ({"exit_code": 3}, {"valid": "unknown"}, False, "unknown"),
    ({"exit_code": 4, "valid": "unknown"}, {"valid": "unknown"}, False, "harness failed"),
    ({"exit_code": 130, "interrupted": True}, None, False, "interrupted"),
    ({"exit_code": None}, None, True, "running"),
    ({"exit_code": None}, None, False, "unfinished"),  # killed with kill -9
    ({"exit_code": 0, "valid": True, "ended_at": "x"}, None, False, "valid"),  # results lost
])
def test_verdicts(info: dict[str, Any], results: dict[str, Any] | None, is_alive: bool,
                  verdict: str) -> None:
    assert verdict_of(info, results, is_alive=is_alive) == verdict


# -- the command -------------------------------------------------------------------------------


def _main(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["chaos", "serve", *args])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    return int(exited.value.code or 0)


def test_a_port_in_use_is_one_line_and_exit_2(store: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    first = make_server(store, 0)  # another `chaos serve` holds the port
    port = first.server_address[1]
    try:
        assert _main(monkeypatch, str(store), "--port", str(port)) == 2
    finally:
        first.server_close()
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"--port {port}" in err
    assert "--port 0" in err


def test_a_store_that_does_not_exist_is_one_line_and_exit_2(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    assert _main(monkeypatch, str(tmp_path / "nowhere")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "nowhere" in err


def test_the_command_prints_its_url_serves_and_stops_on_ctrl_c(store: Path) -> None:
    make_run(store, "partition-heal", "1", 1)
    proc = subprocess.Popen([sys.executable, "-m", "chaos", "serve", str(store), "--port", "0"],
                            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = _read_line(proc, deadline=time.monotonic() + WAIT_S)
        assert line.startswith(f"chaos: serving {store.resolve()} at http://127.0.0.1:"), line
        port = int(line.split("http://127.0.0.1:")[1].split("/")[0])
        assert get(port, "/")[0] == 200
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=WAIT_S)
        assert proc.returncode == 130, err
        assert "Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def _read_line(proc: subprocess.Popen[str], *, deadline: float) -> str:
    """The first line the command prints, waiting at most until `deadline`."""
    assert proc.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        if not selector.select(timeout=max(0.0, deadline - time.monotonic())):
            raise AssertionError(f"chaos serve printed nothing within {WAIT_S} s")
    return proc.stdout.readline()

