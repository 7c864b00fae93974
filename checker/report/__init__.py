"""`report.html`: one self-contained page that shows a person why a run got its verdict.

    from checker.report import write_report
    write_report(run_dir)          # -> run_dir / "report.html"

It reads only the run directory (`run.json`, `results.json`, `history.jsonl`; and links to
`messages.jsonl` and the node logs) and writes a single HTML file, rendered from the jinja2
templates in `templates/` (autoescaped: every value from the run is escaped) with inline CSS,
inline SVG and a small inline script for zooming: no network and no other file is needed to
view it, so it can be attached to a CI job or mailed. Sections, top to bottom:

- the verdict, the reproduce command, any harness error, a table of every checker's verdict
  and headline; the run's parameters as a table, with the operation and network counts;
- each checker's own section (`checker.sections`: a checker registers a renderer with
  `@section(name)`; one that does not gets the generic section, its headline fields then its
  result as JSON; one whose renderer raises gets the generic section and the error);
- the timeline (`timeline`): a lane per client process, each operation a bar from invocation
  to completion coloured ok/fail/info, the nemesis's faults as labelled bands until the heal of
  what they broke, details on hover;
- latency over time (a dot per operation, log scale) and throughput over time (completions per
  second by outcome), with the same fault bands, and latency quantiles per `f` (`charts`). The
  three time charts zoom and pan together (`templates/zoom.js`: wheel, drag, buttons), and a
  zoomed view's throughput is regrouped into buckets of its own scale;
- the message diagram (`checker.views.messages`), and links to the run's files and node logs.

The page stays small however long the run (issue 7: a 60 s broadcast run once made an 80 MB
page, each of 11,120 bars carrying a whole read set in its tooltip; issue 9: a 100,000-operation
run gives a page of a few MB in a couple of seconds, see bench/report.py), and it says on the
page whatever it left out (the bounds are in `limits`):

- A tooltip shows at most `TITLE_ELEMENTS` elements of a value, its first and its last ("[0, 1,
  2, 3, 4, ... +1234 more ..., 1240, ...]"), and at most `TITLE_CHARS` characters of any text.
- At most `MAX_DRAWN` operations are drawn one by one. Beyond that the timeline aggregates: each
  row is cut into time cells (at most `MAX_CELLS` cells in all), and a cell is coloured by the
  worst outcome of the operations that overlap it (fail, then info, then open, then ok), its
  tooltip counting the operations invoked in it by outcome and by `f`. The operations go along
  as compact columns (times, outcome, kind; no values), at most `MAX_ZOOM_OPS`, and the script
  draws them one by one once a zoom holds at most `MAX_DRAWN`.
- More processes than `MAX_ROWS` (a long run retires a client's process at every `info`) are
  packed into rows one after another, a row holding processes whose operations do not overlap;
  only what still does not fit is left out.
- More than `MAX_BANDS` faults are merged into bands where they touch on the page; more than
  `MAX_POINTS` latency dots are merged where they fall on one small square; more than
  `MAX_TABLE_ROWS` kinds of operation are cut from the latency table; checker details and a
  harness error are cut at `DETAILS_CHARS` characters (results.json holds them whole).

`write_report` reads the history one line at a time and keeps a few numbers per operation (no
values), so its memory grows with the number of operations, not with the size of the reads. A
line it cannot read is left out and counted on the page: a report shows what it can.

Not done yet: the page's charts are drawn for the whole run and only magnified by zooming (but
for the aggregated timeline's operations); a chart per key or per node.
"""

from __future__ import annotations

from checker.report.limits import (
    COLOURS,
    DETAILS_CHARS,
    MAX_BANDS,
    MAX_CELLS,
    MAX_DRAWN,
    MAX_POINTS,
    MAX_ROWS,
    MAX_TABLE_ROWS,
    PLOT_PX,
    TITLE_CHARS,
    TITLE_ELEMENTS,
)
from checker.report.page import render, write_report
from checker.report.summary import brief_value, fault_windows, quantiles, summarize

__all__ = [
    "COLOURS",
    "DETAILS_CHARS",
    "MAX_BANDS",
    "MAX_CELLS",
    "MAX_DRAWN",
    "MAX_POINTS",
    "MAX_ROWS",
    "MAX_TABLE_ROWS",
    "PLOT_PX",
    "TITLE_CHARS",
    "TITLE_ELEMENTS",
    "brief_value",
    "fault_windows",
    "quantiles",
    "render",
    "summarize",
    "write_report",
]
