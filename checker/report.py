"""`report.html`: one self-contained page that shows a person why a run got its verdict.

It reads only the run directory (`run.json`, `history.jsonl`, `results.json`) and writes a
single HTML file with inline CSS and SVG: no scripts, no network, so it can be attached to a CI
job or mailed. Sections: the verdict and each checker's result with its headline fields; the
timeline (one row per client process, an operation as a bar from invoke to completion coloured
ok/fail/info, nemesis faults as shaded bands until the heal of what they broke); latency
quantiles per operation; and each checker's details, where a linearizability counterexample or
a lost element shows up. Every value from the run is HTML-escaped.
"""

from __future__ import annotations

import html
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from checker.fault_kinds import breaks, heals
from checker.history import HistoryError, Op, load_jsonl, pair
from checker.result import brief

COLOURS = {"ok": "#3a9d5d", "fail": "#d9534f", "info": "#f0ad4e", None: "#999999"}
ROW_PX = 14
WIDTH_PX = 1100
LABEL_PX = 70
MAX_ROWS = 120  # processes beyond this are summarised, not drawn


def quantiles(
    values: list[float], qs: tuple[float, ...] = (0.5, 0.95, 0.99, 1.0)
) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    out = {}
    for q in qs:
        i = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
        out[f"p{int(q * 100)}" if q < 1 else "max"] = ordered[i]
    return out


def _nemesis_windows(ops: list[Op]) -> list[tuple[int, int | None, str]]:
    """(start_ns, end_ns or None, label) of each fault, from its `ok` until an `ok` heal of the
    condition it broke, read from the fault-kind table (`checker.fault_kinds`): a network heal
    ends partitions and link faults, a restart ends kills and stops, the final heal ends all."""
    windows: list[tuple[int, int | None, str]] = []
    open_: dict[str, list[tuple[int, str]]] = defaultdict(list)  # condition -> open bands
    for op in ops:
        if op.process != "nemesis" or op.type != "ok":
            continue
        for condition in sorted(heals(op.f, op.value)):
            windows.extend((start, op.time, label) for start, label in open_.pop(condition, []))
        broken = breaks(op.f, op.value)
        if broken is None:
            continue
        value = op.value if isinstance(op.value, dict) else {}
        label = op.f + (f" {value.get('shape')}" if value.get("shape") else "")
        if value.get("nodes"):
            label += " " + ",".join(map(str, value["nodes"]))
        open_[broken].append((op.time, label))
    for bands in open_.values():
        windows.extend((start, None, label) for start, label in bands)
    return windows


def timeline_svg(ops: list[Op]) -> str:
    client = [op for op in ops if op.process != "nemesis"]
    if not client:
        return "<p>No client operations.</p>"
    try:
        pairs = pair(client)
    except HistoryError as e:
        return f"<p>Timeline unavailable: {html.escape(str(e))}</p>"
    end_ns = max(op.time for op in ops) or 1
    processes = sorted({inv.process for inv, _ in pairs}, key=lambda p: (str(type(p)), p))
    shown = processes[:MAX_ROWS]
    row_of = {p: i for i, p in enumerate(shown)}
    height = ROW_PX * len(shown) + 30
    scale = (WIDTH_PX - LABEL_PX - 10) / end_ns

    def x(t: int) -> float:
        return LABEL_PX + t * scale

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH_PX}" height="{height}" '
             'font-family="monospace" font-size="10">']
    for start, end, label in _nemesis_windows(ops):
        stop = end if end is not None else end_ns
        parts.append(f'<rect x="{x(start):.1f}" y="0" width="{max(1.0, x(stop) - x(start)):.1f}" '
                     f'height="{height - 20}" fill="#c8d8f0" opacity="0.6">'
                     f"<title>{html.escape(label)}</title></rect>")
        parts.append(f'<text x="{x(start) + 2:.1f}" y="{height - 8}">{html.escape(label)}</text>')
    for p in shown:
        y = row_of[p] * ROW_PX
        parts.append(f'<text x="2" y="{y + 10}">{html.escape(str(p))}</text>')
    for inv, comp in pairs:
        if inv.process not in row_of:
            continue
        y = row_of[inv.process] * ROW_PX + 2
        end = comp.time if comp is not None else end_ns
        colour = COLOURS.get(comp.type if comp else None, "#999999")
        title = f"{inv.f} {json.dumps(inv.value)} -> {comp.type if comp else 'open'}"
        if comp is not None:
            title += f" {json.dumps(comp.value)}"
            if comp.error is not None:
                title += f" ({json.dumps(comp.error)})"
        parts.append(f'<rect x="{x(inv.time):.1f}" y="{y}" '
                     f'width="{max(1.0, x(end) - x(inv.time)):.1f}" height="{ROW_PX - 4}" '
                     f'fill="{colour}"><title>{html.escape(title)}</title></rect>')
    parts.append("</svg>")
    if len(processes) > MAX_ROWS:
        parts.append(f"<p>{len(processes) - MAX_ROWS} more processes not drawn.</p>")
    return "".join(parts)


def latency_table(ops: list[Op]) -> str:
    by_f: dict[str, list[float]] = defaultdict(list)
    outcomes: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    try:
        pairs = pair([op for op in ops if op.process != "nemesis"])
    except HistoryError:
        return ""
    for inv, comp in pairs:
        if comp is None:
            continue
        outcomes[inv.f][comp.type] += 1
        if comp.type == "ok":
            by_f[inv.f].append((comp.time - inv.time) / 1e6)
    rows = ["<tr><th>f</th><th>ok</th><th>fail</th><th>info</th><th>p50 ms</th><th>p95 ms</th>"
            "<th>p99 ms</th><th>max ms</th></tr>"]
    for f in sorted(outcomes):
        q = quantiles(by_f.get(f, []))
        cells = "".join(f"<td>{q[k]:.2f}</td>" if k in q else "<td>-</td>"
                        for k in ("p50", "p95", "p99", "max"))
        o = outcomes[f]
        rows.append(f"<tr><td>{html.escape(f)}</td><td>{o['ok']}</td><td>{o['fail']}</td>"
                    f"<td>{o['info']}</td>{cells}</tr>")
    return "<table>" + "".join(rows) + "</table>"


def _verdict(valid: Any) -> tuple[str, str]:
    if valid is True:
        return "valid", "#3a9d5d"
    if valid is False:
        return "INVALID", "#d9534f"
    return "unknown", "#f0ad4e"


def render(run_info: dict[str, Any], results: dict[str, Any], ops: list[Op]) -> str:
    word, colour = _verdict(results.get("valid"))
    checker_rows = []
    for name, r in results.get("results", {}).items():
        w, c = _verdict(r.get("valid"))
        details = json.dumps(r, indent=2, default=str)
        if len(details) > 20_000:
            details = details[:20_000] + "\n... (truncated; see results.json)"
        headline = brief(r)
        checker_rows.append(
            f'<details{" open" if r.get("valid") is not True else ""}><summary>'
            f'<b style="color:{c}">{w}</b> {html.escape(name)}'
            + (f" <code>{html.escape(headline)}</code>" if headline else "")
            + f"</summary><pre>{html.escape(details)}</pre></details>"
        )
    if results.get("harness_error"):
        checker_rows.insert(0, f"<pre>{html.escape(str(results['harness_error']))}</pre>")
    params = {k: run_info.get(k) for k in ("scenario", "workload", "service", "node_cmd", "bug",
                                           "seed", "nodes", "time_limit_s", "rate",
                                           "concurrency", "started_at", "exit_code")}
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>chaos run {html.escape(str(params['scenario']))}</title>
<style>body{{font-family:sans-serif;margin:1.5em;max-width:1200px}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 8px;text-align:right}}
pre{{background:#f6f6f6;padding:8px;overflow:auto;max-height:30em}}</style></head><body>
<h1>{html.escape(str(params['scenario']))}: <span style="color:{colour}">{word}</span></h1>
<p>Reproduce: <code>{html.escape(str(run_info.get('reproduce', '')))}</code></p>
<pre>{html.escape(json.dumps(params, indent=2, default=str))}</pre>
<h2>Checkers</h2>{''.join(checker_rows) or '<p>No checker ran.</p>'}
<h2>Timeline</h2><p>One row per client process; green ok, red fail, orange info; blue bands are
faults until their heal. Hover for details.</p>{timeline_svg(ops)}
<h2>Latency</h2>{latency_table(ops)}
</body></html>
"""


def write_report(run_dir: Path) -> Path:
    """Render `run_dir/report.html` from the run's files and return its path."""
    run_info = _read_json(run_dir / "run.json")
    results = _read_json(run_dir / "results.json")
    history = run_dir / "history.jsonl"
    ops = load_jsonl(history) if history.exists() else []
    path = run_dir / "report.html"
    path.write_text(render(run_info, results, ops), encoding="utf-8")
    return path


def _read_json(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}
