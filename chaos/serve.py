"""`chaos serve [STORE] [--port N]`: the run store in a browser, as Jepsen's `serve`.

    chaos serve                  # logs/, where `chaos run` writes, at http://127.0.0.1:8080/
    chaos serve /tmp/ci-logs --port 0     # any free port; the URL is printed

The first page lists every run in the store, newest first: scenario, start time, seed, service
or node command, workload, bug, verdict (colour-coded), exit code and duration, read from each
run directory's `run.json` and `results.json`. A text box and a verdict menu filter the rows in
the page itself (inline script: the pages load nothing from anywhere). Each row links to the
run's `report.html` (or, when it has none, to a link that builds it with
`checker.report.write_report` and then shows it) and to a listing of its files, each served as
what it is: logs and `.jsonl` as text/plain, `.json` as application/json, the report as
text/html, anything else as a download.

A run whose `run.json` is missing or is not a JSON object, or whose `results.json` cannot be
read, is a row saying `damaged` (and why, on hover), never an error page. The store's `latest`
link is not a row of its own: runs are found as `STORE/<scenario>/<run>/` real directories.

Security: the server binds 127.0.0.1 only, with no option to change that (DESIGN.md: any TCP
endpoint binds to 127.0.0.1). Only GET and HEAD are answered. Every path is resolved (links
followed) and must stay inside STORE: `..`, absolute paths, encoded traversal and links that
lead out are refused (403), hidden files (`.reserve`) are not served (404). A request whose
Host is not 127.0.0.1 or localhost is refused, so that a web page cannot reach the store by
rebinding its own name to 127.0.0.1. Every value on a page is escaped (jinja2 autoescape),
HTML is served only for `report.html` (a program's log is text, whatever it contains), and
building a report from another site's page is refused (`Sec-Fetch-Site`).

Shape: `StoreSite.respond(method, target, headers)` decides every answer with no socket in
sight (the tests call it directly too); `make_server` wraps it in the standard library's
`ThreadingHTTPServer`, imported only when the server starts, as jinja2 is, so that `chaos`
starts fast. Ctrl-C (or SIGTERM) stops it with exit 130; a port in use or a STORE that is not
a directory is one line and exit 2.
"""

from __future__ import annotations

import datetime
import errno
import os
import signal
import stat
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import quote, unquote

import click

from chaos.runindex import RUN_FILES, VERDICTS, RunRow, read_run, run_dirs

if TYPE_CHECKING:
    from http.server import ThreadingHTTPServer

HOST = "127.0.0.1"  # never another interface (DESIGN.md)
DEFAULT_PORT = 8080
ALLOWED_HOSTS = ("127.0.0.1", "localhost")  # the Host header's name, whatever the port
ROWS_MAX = 5000  # runs listed at most (the newest)
CACHE_MAX = 20_000  # runs whose rows are remembered between requests
TEXT = "text/plain; charset=utf-8"
CONTENT_TYPES = {".json": "application/json", ".jsonl": TEXT, ".log": TEXT, ".txt": TEXT,
                 ".edn": TEXT, ".toml": TEXT, ".xml": TEXT, ".csv": TEXT, ".md": TEXT}
PAGE_POLICY = ("default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
               "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


# == Pages ======================================================================================

_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:1.2em 1.5em;color:#222}
h1{font-size:1.3em;margin:.2em 0 .6em}
a{color:#0b57d0}
table{border-collapse:collapse}
th,td{padding:.3em .6em;border-bottom:1px solid #e3e3e3;text-align:left;vertical-align:top}
th{background:#f5f5f5;position:sticky;top:0}
td.cmd{max-width:30em;overflow-wrap:anywhere;font-family:monospace;font-size:12px}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.v{font-weight:600;padding:.05em .5em;border-radius:.3em;color:#fff;white-space:nowrap}
.v-valid{background:#2e7d32}.v-invalid{background:#c62828}.v-unknown{background:#a07800}
.v-harness-failed{background:#d84315}.v-interrupted{background:#616161}
.v-running{background:#1565c0}.v-unfinished{background:#757575}.v-damaged{background:#6a1b9a}
.controls{margin:.6em 0 1em}.controls input{width:26em;padding:.25em}
.note{color:#666;font-size:12px}
"""

_INDEX = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>chaos runs: {{ store }}</title><style>{{ style }}</style></head><body>
<h1>Runs in {{ store }}</h1>
<div class="controls">
<input id="q" type="search" placeholder="filter: scenario, seed, service, bug, date" autofocus>
<select id="verdict"><option value="">every verdict</option>
{%- for v, n in verdict_counts %}<option value="{{ v }}">{{ v }} ({{ n }})</option>{% endfor -%}
</select> <span id="shown" class="note"></span> · <a href="/store/">all files</a>
</div>
{% if truncated %}<p class="note">The newest {{ rows|length }} of {{ total }} runs.</p>{% endif %}
{% if not rows %}<p>No runs in this store yet:
<code>chaos run partition-heal --store {{ store }}</code> makes one.</p>{% endif %}
<table id="runs"><thead><tr><th>started (UTC)</th><th>scenario</th><th>seed</th>
<th>service or node command</th><th>workload</th><th>bug</th><th>verdict</th><th>exit</th>
<th>duration</th><th>run</th></tr></thead><tbody>
{% for r in rows -%}
{%- set href = "/store/" ~ (r.path|urlencode) %}
<tr data-verdict="{{ r.verdict }}"><td>{{ r.started }}</td><td>{{ r.scenario }}</td>
<td class="num">{{ r.seed }}</td><td class="cmd">{{ r.target }}</td><td>{{ r.workload }}</td>
<td>{{ r.bug }}</td><td><span class="v v-{{ r.verdict|replace(" ", "-") }}"
 title="{{ r.note }}">{{ r.verdict }}</span>
</td><td class="num">{{ r.exit_code }}</td><td class="num">{{ r.duration }}</td><td>
{%- if r.has_report %}<a href="{{ href }}/report.html">report</a>
{%- elif r.can_build %}<a href="/build/{{ r.path|urlencode }}"
 title="build report.html from the run's files">build report</a>
{%- else %}<span class="note">no report</span>{% endif %} ·
<a href="{{ href }}/">files</a></td></tr>
{% endfor -%}
</tbody></table>
<script>
(function () {
  var q = document.getElementById("q"), menu = document.getElementById("verdict");
  var shown = document.getElementById("shown");
  var rows = Array.prototype.slice.call(document.querySelectorAll("#runs tbody tr"));
  function apply() {
    var words = q.value.toLowerCase().split(/\\s+/).filter(Boolean), want = menu.value, n = 0;
    rows.forEach(function (tr) {
      var text = tr.textContent.toLowerCase();
      var keep = (!want || tr.getAttribute("data-verdict") === want) &&
                 words.every(function (w) { return text.indexOf(w) >= 0; });
      tr.hidden = !keep;
      if (keep) { n += 1; }
    });
    shown.textContent = n + " of " + rows.length + " runs shown";
  }
  q.addEventListener("input", apply);
  menu.addEventListener("change", apply);
  apply();
})();
</script>
</body></html>
"""

_LISTING = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>{{ style }}</style></head><body>
<p><a href="/">runs</a>
{%- for name, href in crumbs %} / <a href="{{ href }}">{{ name }}</a>{% endfor %}</p>
<h1>{{ title }}</h1>
{% if run %}<p><span class="v v-{{ run.verdict|replace(" ", "-") }}"
 title="{{ run.note }}">{{ run.verdict }}</span>
{% if run.exit_code %} exit {{ run.exit_code }}{% endif %} · seed {{ run.seed }} ·
{% if run.has_report %}<a href="/store/{{ run.path|urlencode }}/report.html">report</a>
{%- elif run.can_build %}<a href="/build/{{ run.path|urlencode }}">build report</a>
{%- else %}no report{% endif %}
{%- if run.note %}<br><span class="note">{{ run.note }}</span>{% endif %}</p>{% endif %}
<table><thead><tr><th>name</th><th>size</th><th>modified (UTC)</th></tr></thead><tbody>
{% for e in entries %}<tr><td><a href="{{ e.href }}">{{ e.name }}</a></td>
<td class="num">{{ e.size }}</td><td>{{ e.modified }}</td></tr>
{% else %}<tr><td colspan="3" class="note">empty</td></tr>{% endfor %}
</tbody></table></body></html>
"""

_MESSAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ status }} {{ title }}</title>
<style>{{ style }}</style></head><body><p><a href="/">runs</a></p>
<h1>{{ status }} {{ title }}</h1><p>{{ message }}</p></body></html>
"""

_templates: dict[str, Any] = {}
_templates_lock = threading.Lock()


def _render(template: str, **values: Any) -> bytes:
    """A page from one of the templates above, every value escaped."""
    with _templates_lock:
        if not _templates:
            import jinja2

            env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
            _templates.update((t, env.from_string(t)) for t in (_INDEX, _LISTING, _MESSAGE))
    return str(_templates[template].render(style=_STYLE, **values)).encode("utf-8")


def index_page(store: Path, rows: list[RunRow], *, total: int) -> bytes:
    counts = {v: sum(1 for r in rows if r.verdict == v) for v in VERDICTS}
    return _render(_INDEX, store=str(store), rows=rows, total=total,
                   truncated=total > len(rows),
                   verdict_counts=[(v, n) for v, n in counts.items() if n])


def _size(n_bytes: int) -> str:
    if n_bytes < 1024:
        return f"{n_bytes} B"
    size = n_bytes / 1024
    for unit in ("KiB", "MiB"):
        if size < 1024:
            return f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def listing_page(root: Path, directory: Path, run: RunRow | None) -> bytes:
    rel = directory.relative_to(root).as_posix()
    rel = "" if rel == "." else rel
    entries = []
    try:
        children = sorted(os.scandir(directory), key=lambda e: (not e.is_dir(), e.name))
    except OSError:
        children = []
    for child in children:
        if child.name.startswith(".") or child.name.endswith(".tmp"):
            continue  # the run's .reserve, files being written
        try:
            st = child.stat()
        except OSError:
            continue
        is_dir = stat.S_ISDIR(st.st_mode)
        href = "/store/" + quote(f"{rel}/{child.name}" if rel else child.name)
        modified = datetime.datetime.fromtimestamp(st.st_mtime, datetime.UTC)
        entries.append({"name": child.name + ("/" if is_dir else ""),
                        "href": href + ("/" if is_dir else ""),
                        "size": "" if is_dir else _size(st.st_size),
                        "modified": modified.strftime("%Y-%m-%d %H:%M:%S")})
    crumbs = []
    parts = rel.split("/") if rel else []
    for i, name in enumerate(parts):
        crumbs.append((name, "/store/" + quote("/".join(parts[: i + 1])) + "/"))
    return _render(_LISTING, title=rel or "the run store", crumbs=crumbs, entries=entries,
                   run=run)


def message_page(status: int, title: str, message: str) -> bytes:
    return _render(_MESSAGE, status=status, title=title, message=message)


# == The site ===================================================================================


class Refused(Exception):
    """A request answered with an error page: its status, title and one line for the user."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message


def not_found() -> Refused:
    return Refused(404, "Not Found", "Nothing here: go back to the list of runs.")


OUTSIDE = "Paths outside the run store are not served."


@dataclass
class Response:
    """An answer: status, headers, and a body: bytes, or an open file of `length` bytes that
    the server streams and closes (to a HEAD request, only the `length` of the file)."""

    status: int
    content_type: str
    body: bytes = b""
    file: IO[bytes] | None = None
    length: int = 0
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def content_length(self) -> int:
        return self.length or len(self.body)


def resolve_inside(root: Path, url_path: str) -> Path:
    """The file or directory `url_path` (still %-encoded, relative to the store) names, with
    links followed, if it lies inside `root` (itself resolved); otherwise `Refused`."""
    try:
        text = unquote(url_path, errors="strict")
    except UnicodeDecodeError:
        raise not_found() from None
    if "\x00" in text or "\\" in text:
        raise not_found()
    parts = text.split("/")
    if parts and parts[-1] == "":
        parts.pop()  # a directory asked for with its slash
    if any(part in ("..", ".", "") for part in parts):  # "": `//`, an absolute path
        raise Refused(403, "Forbidden", OUTSIDE)
    if any(part.startswith(".") for part in parts):
        raise not_found()  # .reserve and the like: the store's own, not the user's
    try:
        real = root.joinpath(*parts).resolve(strict=True)
    except (OSError, RuntimeError):
        raise not_found() from None
    if not real.is_relative_to(root):  # a link that leads out
        raise Refused(403, "Forbidden", OUTSIDE)
    return real


def content_type(path: Path) -> str:
    """What a file of the store is served as: HTML only for a run's own report."""
    if path.name == "report.html":
        return "text/html; charset=utf-8"
    return CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream")


class StoreSite:
    """Every answer of `chaos serve`, decided from the request alone (no sockets here)."""

    def __init__(self, store: Path) -> None:
        self.root = store.resolve(strict=True)
        self._cache: dict[Path, tuple[tuple[Any, ...], RunRow]] = {}
        self._lock = threading.Lock()
        self._build_lock = threading.Lock()  # one report written at a time

    # -- the list ------------------------------------------------------------------------------

    def rows(self) -> tuple[list[RunRow], int]:
        """The runs, newest first (at most `ROWS_MAX`), and how many there are."""
        rows = [self.row(d) for d in run_dirs(self.root)]
        rows.sort(key=lambda r: (r.started_ts, r.path), reverse=True)
        return rows[:ROWS_MAX], len(rows)

    def row(self, run_dir: Path) -> RunRow:
        """`read_run`, remembered while run.json, results.json and report.html are unchanged
        (a running run is read again each time: whether it still runs is not in its files)."""
        key = tuple(_stamp(run_dir / name) for name in ("run.json", "results.json",
                                                        "report.html"))
        with self._lock:
            cached = self._cache.get(run_dir)
        if cached is not None and cached[0] == key:
            return cached[1]
        row = read_run(self.root, run_dir)
        if row.verdict not in ("running", "unfinished"):
            with self._lock:
                if len(self._cache) >= CACHE_MAX:
                    self._cache.clear()
                self._cache[run_dir] = (key, row)
        return row

    # -- requests ------------------------------------------------------------------------------

    def respond(self, method: str, target: str, headers: Mapping[str, str]) -> Response:
        """The answer to `method target`; `headers` with lower-case names."""
        try:
            return self._respond(method, target, headers)
        except Refused as e:
            response = Response(e.status, "text/html; charset=utf-8",
                                message_page(e.status, e.title, e.message))
            if e.status == 405:
                response.headers["Allow"] = "GET, HEAD"
            return response

    def _respond(self, method: str, target: str, headers: Mapping[str, str]) -> Response:
        if method not in ("GET", "HEAD"):
            raise Refused(405, "Method Not Allowed", "This server only reads: GET and HEAD.")
        host = (headers.get("host") or "").strip().lower()
        if host.rsplit(":", 1)[0] not in ALLOWED_HOSTS:
            raise Refused(403, "Forbidden", f"Open this server as http://{HOST}:PORT/; other "
                                            "host names are refused.")
        path = target.split("?", 1)[0].split("#", 1)[0]  # origin-form: no scheme or host
        if path in ("/", "/index.html"):
            rows, total = self.rows()
            return Response(200, "text/html; charset=utf-8",
                            index_page(self.root, rows, total=total))
        if path == "/store":
            return Response(301, "text/plain", headers={"Location": "/store/"})
        if path.startswith("/store/"):
            return self._store_path(path.removeprefix("/store/"), method)
        if path.startswith("/build/"):
            if method != "GET":
                raise Refused(405, "Method Not Allowed", "Build a report with GET.")
            return self._build(path.removeprefix("/build/"), headers)
        raise not_found()

    def _store_path(self, url_path: str, method: str) -> Response:
        real = resolve_inside(self.root, url_path)
        if real.is_dir():
            is_run = real != self.root and any((real / n).exists() for n in RUN_FILES)
            run = self.row(real) if is_run else None
            return Response(200, "text/html; charset=utf-8", listing_page(self.root, real, run))
        # Opened without following a last link (it was resolved above) and without blocking
        # on a FIFO; only regular files are served.
        try:
            fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            raise not_found() from None
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise not_found()
        if method == "HEAD":
            os.close(fd)
            return Response(200, content_type(real), length=st.st_size)
        return Response(200, content_type(real), file=os.fdopen(fd, "rb"), length=st.st_size)

    def _build(self, url_path: str, headers: Mapping[str, str]) -> Response:
        """Write the run's report.html (unless it has one), then show it."""
        if headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            raise Refused(403, "Forbidden", "Reports are built from this server's own pages.")
        run_dir = resolve_inside(self.root, url_path)
        row = self.row(run_dir) if (run_dir / "run.json").is_file() else None
        if row is None:
            raise Refused(404, "Not Found", "That is not a run directory (it has no run.json).")
        report = run_dir / "report.html"
        if not report.is_file():
            if not row.can_build:
                raise Refused(409, "Conflict", f"The run is {row.verdict}: its report is "
                                               "written when it ends.")
            self._write_report(run_dir)
        location = "/store/" + quote(run_dir.relative_to(self.root).as_posix()) + "/report.html"
        return Response(303, "text/plain", headers={"Location": location})

    def _write_report(self, run_dir: Path) -> None:
        from chaos import store
        from checker import report

        rel = run_dir.relative_to(self.root).as_posix()
        with self._build_lock:
            if (run_dir / "report.html").is_file():
                return  # built by another request meanwhile
            try:
                with store.whole_or_none(run_dir / "report.html"):
                    report.write_report(run_dir)
            except OSError as e:
                raise Refused(500, "Cannot Write the Report", store.describe(
                    e, run_dir / "report.html",
                    otherwise=f"and run chaos report {rel}")) from e
            except ValueError as e:  # damaged results.json or history
                raise Refused(500, "Cannot Build the Report", f"{rel}: {e}; its run.json, "
                              "results.json or history.jsonl is damaged") from e


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


# == The server =================================================================================


def make_server(store: Path, port: int) -> ThreadingHTTPServer:
    """A server for `store` listening on 127.0.0.1:`port` (0: a free port; see
    `server.server_address`), not yet serving: call `serve_forever`. Raises OSError if the
    port cannot be had."""
    import shutil
    import socketserver
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    site = StoreSite(store)

    class Handler(BaseHTTPRequestHandler):
        def version_string(self) -> str:
            return "chaos-serve"

        def do_GET(self) -> None:
            self._answer("GET")

        def do_HEAD(self) -> None:
            self._answer("HEAD")

        def _refuse(self) -> None:
            self._answer(self.command)

        do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = do_CONNECT = _refuse

        def _answer(self, method: str) -> None:
            try:
                response = site.respond(
                    method, self.path, {k.lower(): v for k, v in self.headers.items()})
            except Exception as e:  # a bug of ours: one page, not a dropped connection
                self.log_error("%s", f"{type(e).__name__}: {e}")
                response = Response(500, "text/html; charset=utf-8", message_page(
                    500, "Internal Error", f"{type(e).__name__}: {e}"))
            try:
                self.send_response(response.status)
                self.send_header("Content-Type", response.content_type)
                self.send_header("Content-Length", str(response.content_length))
                self.send_header("X-Content-Type-Options", "nosniff")
                self.send_header("Referrer-Policy", "no-referrer")
                self.send_header("Cache-Control", "no-cache")
                if response.file is None and response.content_type.startswith("text/html"):
                    self.send_header("Content-Security-Policy", PAGE_POLICY)
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                if method == "HEAD":
                    return
                if response.file is not None:
                    shutil.copyfileobj(response.file, self.wfile, 256 * 1024)
                else:
                    self.wfile.write(response.body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the browser went away
            finally:
                if response.file is not None:
                    response.file.close()

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        allow_reuse_port = False  # a second `chaos serve` on the port is refused, not shared

        def server_bind(self) -> None:
            # HTTPServer's own asks the resolver for the host's name; 127.0.0.1 it is.
            socketserver.TCPServer.server_bind(self)
            self.server_name, self.server_port = HOST, self.server_address[1]

    return Server((HOST, port), Handler)


@click.command()
@click.argument("store", required=False, default="logs",
                type=click.Path(path_type=Path))
@click.option("--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True,
              help="Port on 127.0.0.1 (0: any free port).")
def serve_command(store: Path, port: int) -> None:
    """Serve the run store STORE (default: logs, where chaos run writes) on 127.0.0.1: a list
    of runs, newest first, with their reports and files. Ctrl-C stops it."""
    ctx = click.get_current_context()
    if not store.is_dir():
        raise click.UsageError(f"{store}: no such run store directory; give the --store of "
                               "chaos run (default: logs)", ctx=ctx)
    try:
        server = make_server(store, port)
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise click.UsageError(f"--port {port}: {HOST}:{port} is already in use; pass "
                                   "another --port N, or --port 0 for any free one",
                                   ctx=ctx) from e
        if e.errno == errno.EACCES:
            raise click.UsageError(f"--port {port}: not allowed to listen there (ports below "
                                   "1024 need privileges); pass --port 0 or a port above 1024",
                                   ctx=ctx) from e
        raise
    actual_port = server.server_address[1]
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _interrupt)  # stop as on Ctrl-C
    print(f"chaos: serving {store.resolve()} at http://{HOST}:{actual_port}/ "
          "(Ctrl-C stops it)", flush=True)
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        print("\nchaos: serve stopped", file=sys.stderr)
        sys.exit(130)
    finally:
        server.server_close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt
