"""The page itself: the run's files in, one HTML string out, through the jinja2 templates in
`templates/` (autoescaped: every value from the run is escaped where it is written).

`render(run_info, results, ops)` builds the page from values (tests call it with literal
histories); `write_report(run_dir)` reads the run directory, streaming the history, and writes
`report.html`. The history is read once for the page (`summary.summarize`) and again by any
section that asks (`SectionContext.iter_ops`).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from checker.history import Op
from checker.report import limits
from checker.report.charts import latency_chart, latency_rows, throughput_chart
from checker.report.checkers import (
    checker_sections,
    load_renderers,
    message_diagram,
    verdict_class,
    verdict_word,
)
from checker.report.limits import DETAILS_CHARS, MAX_PARAMS, PARAM_CHARS, TITLE_CHARS
from checker.report.summary import HistoryLines, as_json, cut, summarize
from checker.report.timeline import bands, time_ticks, timeline
from checker.sections import SectionContext

# Parameters in the order a reader looks for them; the rest of run.json follows, by name.
PARAMETER_ORDER = (
    "scenario", "scenario_file", "workload", "workload_params", "service", "node_cmd", "bug",
    "seed", "nodes", "simulated", "time_limit_s", "warmup_s", "recovery_s", "settle_s", "rate",
    "concurrency", "request_timeout_s", "nemesis", "nemesis_interval_s", "latency_ms",
    "latency_dist", "availability", "started_at",
    "ended_at", "exit_code", "command_line", "store", "versions",
)  # fmt: skip
NOT_PARAMETERS = {"reproduce", "valid", "error"}  # shown elsewhere on the page
RUN_FILES = ("history.jsonl", "results.json", "messages.jsonl", "run.json", "schedule.jsonl")


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("checker.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["verdict"] = verdict_word
    env.filters["verdict_class"] = verdict_class
    return env


@cache
def raw(name: str) -> Markup:
    """A template file's text as it is (the script: never parsed by jinja2)."""
    env = environment()
    assert env.loader is not None
    source, _, _ = env.loader.get_source(env, name)
    assert "</script" not in source.lower(), name
    return Markup(source)


def json_script(value: Any) -> Markup:
    """`value` as JSON to sit inside a `<script type="application/json">` element."""
    return Markup(json.dumps(value, separators=(",", ":")).replace("<", "\\u003c"))


def parameter_text(key: str, value: Any) -> str:
    """A parameter's value as a person reads it: lists joined, a command line quoted."""
    if value is None:
        return "-"
    if isinstance(value, str):
        text = value
    elif key == "command_line" and isinstance(value, list):
        text = shlex.join(str(v) for v in value)
    elif isinstance(value, list) and all(not isinstance(v, list | dict) for v in value):
        text = ", ".join(str(v) for v in value)
    elif isinstance(value, dict) and all(not isinstance(v, list | dict) for v in value.values()):
        text = ", ".join(f"{k}={v}" for k, v in value.items())
    else:
        text = as_json(value)
    return cut(text, PARAM_CHARS)


def parameters(run_info: Mapping[str, Any]) -> tuple[list[tuple[str, str]], int]:
    """(name, text) rows of run.json, at most `MAX_PARAMS`, and how many were left out."""
    keys = [k for k in PARAMETER_ORDER if k in run_info]
    keys += sorted(k for k in run_info if k not in PARAMETER_ORDER and k not in NOT_PARAMETERS)
    rows = [(cut(str(k), TITLE_CHARS), parameter_text(k, run_info[k])) for k in keys]
    return rows[:MAX_PARAMS], max(0, len(rows) - MAX_PARAMS)


def scalar_rows(value: Any) -> list[tuple[str, str]]:
    """The scalar entries of a dict (counts, network statistics) as (name, text) rows."""
    if not isinstance(value, Mapping):
        return []
    return [(cut(str(k), TITLE_CHARS), cut(str(v), TITLE_CHARS)) for k, v in value.items()
            if not isinstance(v, list | dict)][:MAX_PARAMS]


def links(run_dir: Path | None) -> list[tuple[str, str]]:
    """(relative href, name) of the run's files and node logs that exist."""
    if run_dir is None:
        return []
    found = [name for name in RUN_FILES if (run_dir / name).is_file()]
    found += sorted(p.relative_to(run_dir).as_posix() for p in run_dir.glob("nodes/*.log"))
    return [(quote(name), name) for name in found]


def render(
    run_info: Mapping[str, Any],
    results: Mapping[str, Any],
    ops: Iterable[Op],
    *,
    run_dir: Path | None = None,
) -> str:
    """The page for a run, from its `run.json`, `results.json` and history (iterated once
    here, and again by each section that calls `iter_ops`)."""
    if iter(ops) is ops:  # a one-shot iterator: sections may need it again
        ops = list(ops)
    iter_ops: Callable[[], Iterator[Op]]
    if isinstance(ops, HistoryLines):
        path = ops.path
        iter_ops = lambda: iter(HistoryLines(path))  # noqa: E731
    else:
        iter_ops = ops.__iter__
    s = summarize(ops)
    s.skipped_lines = getattr(ops, "skipped_lines", 0)  # known once `ops` was read through
    end_ns = s.end_ns
    ctx = SectionContext(run_dir=run_dir, run_info=run_info, results=results,
                         faults=tuple(s.faults), end_ns=end_ns, iter_ops=iter_ops)
    env = environment()
    renderers_error = load_renderers()
    tl = timeline(s)
    throughput = throughput_chart(s.bars, end_ns) if tl.unavailable is None else None
    chart_bands, _ = bands(ctx.faults, end_ns, s.window_counters)
    diagram, diagram_note = message_diagram(ctx)
    rows, rows_left_out = latency_rows(s)
    params, params_left_out = parameters(run_info)
    harness_error = results.get("harness_error") or run_info.get("error")
    valid = results.get("valid", run_info.get("valid"))
    scenario = str(run_info.get("scenario") or "run")
    return env.get_template("page.html.j2").render(
        L=limits,
        scenario=cut(scenario, TITLE_CHARS),
        verdict=verdict_word(valid),
        verdict_class=verdict_class(valid),
        reproduce=cut(str(run_info.get("reproduce", "")), DETAILS_CHARS),
        harness_error=cut(str(harness_error), DETAILS_CHARS) if harness_error else None,
        params=params,
        params_left_out=params_left_out,
        counts=scalar_rows(results.get("counts")),
        network=scalar_rows(results.get("network") or results.get("proxy")),
        sections=checker_sections(env, results, ctx),
        renderers_error=renderers_error,
        skipped_lines=s.skipped_lines,
        end_ns=end_ns,
        tl=tl,
        zoom_json=json_script(tl.zoom_data) if tl.zoom_data else None,
        bands=chart_bands,
        ticks=time_ticks(end_ns),
        latency=latency_chart(s.bars, end_ns) if tl.unavailable is None else None,
        throughput=throughput,
        throughput_json=json_script(throughput.fine) if throughput is not None else None,
        quantile_rows=rows,
        quantile_rows_left_out=rows_left_out,
        diagram=diagram,
        diagram_note=diagram_note,
        links=links(run_dir),
        css=Markup(env.get_template("style.css.j2").render(C=limits.COLOURS)),
        script=raw("zoom.js"),
    )


def write_report(run_dir: Path) -> Path:
    """Render `run_dir/report.html` from the run's files and return its path."""
    run_info = read_json(run_dir / "run.json")
    results = read_json(run_dir / "results.json")
    history = run_dir / "history.jsonl"
    ops: Iterable[Op] = HistoryLines(history) if history.exists() else []
    path = run_dir / "report.html"
    path.write_text(render(run_info, results, ops, run_dir=run_dir), encoding="utf-8")
    return path


def read_json(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}
