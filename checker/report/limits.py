"""The report's bounds and its few fixed sizes, in one place: a page stays small because each
kind of mark has a limit here, and the page says so whenever a limit was reached."""

from __future__ import annotations

# Outcome colours, used by the templates' CSS classes and the legend.
COLOURS = {"ok": "#3a9d5d", "fail": "#d9534f", "info": "#f0ad4e", None: "#999999"}
OUTCOME_CLASS = {"ok": "ok", "fail": "fail", "info": "info", None: "open"}
SEVERITY = {"ok": 0, None: 1, "info": 2, "fail": 3}  # a cell's colour: its worst outcome
# (in ascending order: the aggregated timeline relies on it)

# Every time chart (timeline, latency, throughput) plots time on the same x axis: `PLOT_PX`
# wide, in pixels and in viewBox units at zoom 1, so that the charts zoom and pan together.
PLOT_PX = 1000
LABEL_PX = 90  # the column of lane names and y-axis labels left of a chart (never zoomed)
ROW_PX = 14  # one lane of the timeline
BAND_LABEL_PX = 14  # the row of fault names under the timeline
AXIS_PX = 18  # the time axis under a chart
LATENCY_PX = 200  # height of the latency plot
THROUGHPUT_PX = 120  # height of the throughput plot
MAX_ZOOM = 100_000  # the narrowest view is PLOT_PX / MAX_ZOOM units wide

MAX_ROWS = 120  # lanes of the timeline
MAX_DRAWN = 3000  # operations drawn one by one; beyond, the timeline aggregates them
MAX_CELLS = 6000  # cells of an aggregated timeline, over all its lanes
CELL_PX_MIN = 3  # the narrowest cell
CELLS_PER_ROW_MIN = 20
MAX_ZOOM_OPS = 250_000  # operations an aggregated timeline carries to draw when zoomed in
MAX_BANDS = 200  # fault bands drawn one by one; beyond, bands that touch are merged
MAX_LABELLED_BANDS = 40  # fault names written under the timeline
MAX_POINTS = 40_000  # latency dots drawn one by one; beyond, dots on one square are merged
MAX_BUCKETS = 200  # time buckets of the throughput chart (in the whole run, or in a zoomed view)
MAX_FINE_BUCKETS = 20_000  # the throughput's finest buckets, carried for zoom.js to regroup
FINE_BUCKET_MIN_NS = 1_000_000  # and never shorter than a millisecond
MAX_TABLE_ROWS = 50  # kinds of operation in the latency table
MAX_PARAMS = 60  # rows of the parameters table
TITLE_ELEMENTS = 10  # elements of a list shown in a tooltip
TITLE_CHARS = 200  # characters of any one value shown in a tooltip
PARAM_CHARS = 400  # characters of one parameter's value
DETAILS_CHARS = 20_000  # characters of a checker's details (results.json holds them whole)
