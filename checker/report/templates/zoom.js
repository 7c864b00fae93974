// Zoom and pan of the report's time charts (the timeline, latency and throughput plots: every
// `svg.time-plot`), by their viewBox: x runs over the plot's width in units for the whole run in
// all of them, so one view [vx, vx + vw] applies to each. The wheel zooms about the cursor,
// dragging pans, the buttons of #run-zoom-controls step. Text in a plot (class `nz`) is scaled back
// horizontally so that it is not stretched (the plots use preserveAspectRatio="none"), and the
// time axis is drawn again for the view. An aggregated timeline carries its operations as
// columns (#run-timeline-ops, see checker/report/timeline.py `zoom_data`): once a view holds few
// enough of them they are drawn one by one over the cells. The throughput chart is regrouped
// for a zoomed view from the finer counts the page carries (#run-throughput-data, see
// checker/report/charts.py): buckets of the view's own scale, a y axis for its own peak. No
// network, no library.
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var plots = Array.prototype.slice.call(document.querySelectorAll("svg.time-plot"));
  var controls = document.getElementById("run-zoom-controls");
  if (!plots.length || !controls) {
    return;
  }
  var plot = plots[0].viewBox.baseVal.width;
  var endNs = Number(controls.getAttribute("data-end-ns")) || 1;
  var MAX_ZOOM = Number(controls.getAttribute("data-max-zoom"));
  var MAX_DRAWN = Number(controls.getAttribute("data-max-drawn"));
  var ROW_PX = Number(controls.getAttribute("data-row-px"));
  var vx = 0;
  var vw = plot;
  var pending = false;
  var ops = null; // the decoded #run-timeline-ops, on first need

  function clampView() {
    vw = Math.min(plot, Math.max(plot / MAX_ZOOM, vw));
    vx = Math.min(plot - vw, Math.max(0, vx));
  }

  function niceStep(raw) {
    if (raw <= 0) {
      return 1;
    }
    var power = Math.pow(10, Math.floor(Math.log10(raw)));
    var ms = [1, 2, 5, 10];
    for (var i = 0; i < ms.length; i++) {
      if (ms[i] * power >= raw * (1 - 1e-9)) {
        return ms[i] * power;
      }
    }
    return 10 * power;
  }

  function unstretch(svg) {
    var k = plot / vw;
    var texts = svg.querySelectorAll(".nz");
    for (var i = 0; i < texts.length; i++) {
      var x = Number(texts[i].getAttribute("x"));
      texts[i].setAttribute("transform", k === 1 ? "" :
        "translate(" + x * (1 - 1 / k) + ",0) scale(" + 1 / k + ",1)");
    }
  }

  function drawAxis(svg) {
    var axis = svg.querySelector("g.axis");
    if (!axis) {
      return;
    }
    var t0 = vx / plot * endNs / 1e9;
    var t1 = (vx + vw) / plot * endNs / 1e9;
    var step = niceStep((t1 - t0) / 10);
    var decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
    var old = axis.querySelectorAll("line:not(.rule), text");
    for (var i = 0; i < old.length; i++) {
      axis.removeChild(old[i]);
    }
    for (var t = Math.ceil(t0 / step - 1e-9) * step; t <= t1 + step * 1e-9; t += step) {
      var x = t * 1e9 / endNs * plot;
      var line = document.createElementNS(SVG, "line");
      line.setAttribute("x1", x);
      line.setAttribute("x2", x);
      line.setAttribute("y1", 0);
      line.setAttribute("y2", 4);
      line.setAttribute("vector-effect", "non-scaling-stroke");
      axis.appendChild(line);
      var text = document.createElementNS(SVG, "text");
      text.setAttribute("class", "nz");
      text.setAttribute("x", x);
      text.setAttribute("y", 14);
      text.textContent = t.toFixed(decimals) + " s";
      axis.appendChild(text);
    }
  }

  function decodeOps() {
    var el = document.getElementById("run-timeline-ops");
    if (!el) {
      return null;
    }
    var raw = JSON.parse(el.textContent);
    var n = raw.t.length;
    var start = new Float64Array(n);
    var end = new Float64Array(n);
    var at = 0;
    var longest = 0;
    var endUs = endNs / 1000;
    for (var i = 0; i < n; i++) {
      at += raw.t[i];
      start[i] = at;
      end[i] = raw.d[i] < 0 ? endUs : at + raw.d[i];
      longest = Math.max(longest, end[i] - start[i]);
    }
    return {start: start, end: end, open: raw.d, lane: raw.l, outcome: raw.o, kind: raw.k,
      fs: raw.fs, longest: longest};
  }

  var OUTCOMES = {o: "ok", f: "fail", i: "info", n: "open"};

  // The first index whose start is >= t (starts ascend).
  function firstAtOrAfter(start, t) {
    var lo = 0;
    var hi = start.length;
    while (lo < hi) {
      var mid = (lo + hi) >> 1;
      if (start[mid] < t) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return lo;
  }

  function drawZoomedOps() {
    var timeline = document.getElementById("run-timeline");
    if (!timeline || !document.getElementById("run-timeline-ops")) {
      return;
    }
    var layer = timeline.querySelector("g.zoomed-ops");
    var cells = timeline.querySelector("g.cells");
    while (layer.firstChild) {
      layer.removeChild(layer.firstChild);
    }
    if (ops === null) {
      ops = decodeOps();
    }
    var endUs = endNs / 1000;
    var t0 = vx / plot * endUs;
    var t1 = (vx + vw) / plot * endUs;
    var from = firstAtOrAfter(ops.start, t0 - ops.longest);
    var to = firstAtOrAfter(ops.start, t1 + 1e-9);
    var shown = [];
    for (var i = from; i < to && shown.length <= MAX_DRAWN; i++) {
      if (ops.end[i] >= t0) {
        shown.push(i);
      }
    }
    var latency = document.getElementById("run-latency");
    var merged = latency && latency.querySelector("g.merged-dots");
    var exact = latency && latency.querySelector("g.zoomed-dots");
    if (exact) {
      while (exact.firstChild) {
        exact.removeChild(exact.firstChild);
      }
    }
    if (vw >= plot || shown.length > MAX_DRAWN) {
      cells.style.display = "";
      if (merged) {
        merged.style.display = "";
      }
      return;
    }
    cells.style.display = "none";
    if (merged && exact) {
      merged.style.display = "none";
      drawDots(latency, exact, shown, t0, t1);
    }
    var minWidth = vw / plot; // one screen pixel
    for (var j = 0; j < shown.length; j++) {
      var k = shown[j];
      var x = ops.start[k] / endUs * plot;
      var w = Math.max(minWidth, (ops.end[k] - ops.start[k]) / endUs * plot);
      var outcome = OUTCOMES[ops.outcome[k]];
      var rect = document.createElementNS(SVG, "rect");
      rect.setAttribute("class", outcome);
      rect.setAttribute("x", x);
      rect.setAttribute("y", ops.lane[k] * ROW_PX + 2);
      rect.setAttribute("width", w);
      rect.setAttribute("height", ROW_PX - 4);
      var title = document.createElementNS(SVG, "title");
      title.textContent = ops.fs[ops.kind[k]] + " -> " + outcome + ", " +
        (ops.start[k] / 1e6).toFixed(3) + " s to " +
        (ops.open[k] < 0 ? "the end" : (ops.end[k] / 1e6).toFixed(3) + " s (" +
          ((ops.end[k] - ops.start[k]) / 1e3).toFixed(2) + " ms)");
      rect.appendChild(title);
      layer.appendChild(rect);
    }
  }

  // The latency dots of the operations in view, one by one, instead of the merged ones.
  function drawDots(latency, layer, shown, t0, t1) {
    var endUs = endNs / 1000;
    var lo = Math.log10(Number(latency.getAttribute("data-lo-ms")));
    var hi = Math.log10(Number(latency.getAttribute("data-hi-ms")));
    var floor = Number(latency.getAttribute("data-floor-ms"));
    var pad = Number(latency.getAttribute("data-pad"));
    var height = Number(latency.getAttribute("data-plot-height"));
    var paths = {ok: [], info: [], fail: []};
    for (var j = 0; j < shown.length; j++) {
      var k = shown[j];
      var outcome = OUTCOMES[ops.outcome[k]];
      if (ops.open[k] < 0 || ops.start[k] < t0 || ops.start[k] > t1 || !paths[outcome]) {
        continue;
      }
      var ms = Math.max(floor, (ops.end[k] - ops.start[k]) / 1000);
      var y = pad + (hi - Math.log10(ms)) / (hi - lo) * (height - 2 * pad);
      paths[outcome].push("M" + (ops.start[k] / endUs * plot) + " " + y + "h0");
    }
    ["ok", "info", "fail"].forEach(function (outcome) {
      if (paths[outcome].length) {
        var path = document.createElementNS(SVG, "path");
        path.setAttribute("class", "dots " + outcome);
        path.setAttribute("vector-effect", "non-scaling-stroke");
        path.setAttribute("d", paths[outcome].join(""));
        layer.appendChild(path);
      }
    });
  }

  // The throughput chart for the view, regrouped from the fine counts; the whole run's chart,
  // as the page drew it, at zoom 1.
  var throughput = null; // decoded on first need
  var MAX_BUCKETS = Number(controls.getAttribute("data-max-buckets")) || 200;

  function gFormat(x) {
    return String(Number(x.toPrecision(6)));
  }

  function decodeThroughput(svg) {
    var el = document.getElementById("run-throughput-data");
    if (!el) {
      return null;
    }
    var raw = JSON.parse(el.textContent);
    var sums = {};
    var n = 0;
    ["ok", "info", "fail"].forEach(function (outcome) {
      var counts = raw[outcome];
      if (!counts) {
        return;
      }
      var prefix = new Float64Array(counts.length + 1);
      for (var i = 0; i < counts.length; i++) {
        prefix[i + 1] = prefix[i] + counts[i];
      }
      sums[outcome] = prefix;
      n = counts.length;
    });
    var labels = svg.parentNode.querySelectorAll("svg.labels text");
    var columns = svg.querySelector("g.columns");
    var bucket = document.getElementById("run-throughput-bucket");
    var paths = {};
    svg.querySelectorAll("path.line").forEach(function (path) {
      paths[path.getAttribute("class").split(" ")[1]] = {el: path, d: path.getAttribute("d")};
    });
    return {ns: raw.ns, n: n, sums: sums, paths: paths, columns: columns,
      columnsHtml: columns ? columns.innerHTML : "", labels: labels,
      labelTexts: Array.prototype.map.call(labels, function (t) { return t.textContent; }),
      bucket: bucket, bucketText: bucket ? bucket.textContent : "",
      pad: Number(svg.getAttribute("data-pad")),
      height: Number(svg.getAttribute("data-plot-height"))};
  }

  function drawThroughput() {
    var svg = document.getElementById("run-throughput");
    if (!svg) {
      return;
    }
    if (throughput === null) {
      throughput = decodeThroughput(svg) || false;
    }
    var th = throughput;
    if (!th) {
      return;
    }
    if (vw >= plot) {
      Object.keys(th.paths).forEach(function (o) { th.paths[o].el.setAttribute("d", th.paths[o].d); });
      if (th.columns) {
        th.columns.innerHTML = th.columnsHtml;
      }
      for (var l = 0; l < th.labels.length; l++) {
        th.labels[l].textContent = th.labelTexts[l];
      }
      if (th.bucket) {
        th.bucket.textContent = th.bucketText;
      }
      return;
    }
    var t0 = vx / plot * endNs;
    var t1 = (vx + vw) / plot * endNs;
    // The shortest round length (1, 2 or 5 times a power of ten ns) that is a multiple of the
    // fine one and leaves at most MAX_BUCKETS in view.
    var b = th.ns;
    for (var p = 0; (t1 - t0) / b > MAX_BUCKETS || b % th.ns !== 0; p++) {
      b = [1, 2, 5][p % 3] * Math.pow(10, Math.floor(p / 3));
    }
    var k = b / th.ns; // fine buckets per bucket
    var bucketS = b / 1e9;
    var first = Math.max(0, Math.floor(t0 / b));
    var last = Math.min(Math.ceil(th.n / k), Math.ceil(t1 / b)); // exclusive
    var rates = {};
    var top = 0;
    Object.keys(th.sums).forEach(function (o) {
      var prefix = th.sums[o];
      var r = [];
      for (var i = first; i < last; i++) {
        var c = prefix[Math.min(th.n, (i + 1) * k)] - prefix[Math.min(th.n, i * k)];
        r.push(c / bucketS);
        top = Math.max(top, c / bucketS);
      }
      rates[o] = r;
    });
    var maxRate = top > 0 ? niceStep(top) : 1;
    function y(rate) {
      return th.pad + (1 - rate / maxRate) * (th.height - 2 * th.pad);
    }
    function x(i) {
      return Math.min(i * b, endNs) / endNs * plot;
    }
    Object.keys(th.paths).forEach(function (o) {
      var r = rates[o] || [];
      var d = ["M" + x(first) + " " + y(r.length ? r[0] : 0)];
      for (var j = 0; j < r.length; j++) {
        if (j) {
          d.push("V" + y(r[j]));
        }
        d.push("H" + x(first + j + 1));
      }
      th.paths[o].el.setAttribute("d", d.join(""));
    });
    if (th.columns) {
      while (th.columns.firstChild) {
        th.columns.removeChild(th.columns.firstChild);
      }
      for (var i = first; i < last; i++) {
        var rect = document.createElementNS(SVG, "rect");
        rect.setAttribute("x", x(i));
        rect.setAttribute("y", 0);
        rect.setAttribute("width", x(i + 1) - x(i));
        rect.setAttribute("height", th.height);
        var title = document.createElementNS(SVG, "title");
        title.textContent = gFormat(i * bucketS) + " to " + gFormat((i + 1) * bucketS) + " s: " +
          ["ok", "fail", "info"].map(function (o) {
            return gFormat(rates[o] ? rates[o][i - first] : 0) + " " + o + "/s";
          }).join(", ");
        rect.appendChild(title);
        th.columns.appendChild(rect);
      }
    }
    var values = [maxRate, maxRate / 2, 0];
    for (var v = 0; v < th.labels.length && v < values.length; v++) {
      th.labels[v].textContent = gFormat(values[v]) + " ops/s";
    }
    if (th.bucket) {
      th.bucket.textContent = gFormat(bucketS) + " s";
    }
  }

  // Fault names under the timeline: each shown only where it does not run into the one
  // before it on the screen (hover the band for the others).
  function declutter() {
    var labels = document.querySelectorAll("#run-timeline g.band-labels text");
    var k = plot / vw;
    var free = -Infinity;
    for (var i = 0; i < labels.length; i++) {
      var x = (Number(labels[i].getAttribute("x")) - vx) * k;
      var width = labels[i].getComputedTextLength();
      var fits = x >= free && x + width > 0;
      labels[i].style.visibility = fits ? "" : "hidden";
      if (fits) {
        free = x + width + 6;
      }
    }
  }

  function apply() {
    pending = false;
    clampView();
    for (var i = 0; i < plots.length; i++) {
      var svg = plots[i];
      var height = svg.viewBox.baseVal.height;
      svg.setAttribute("viewBox", vx + " 0 " + vw + " " + height);
      drawAxis(svg);
      unstretch(svg);
    }
    drawZoomedOps();
    drawThroughput();
    declutter();
    var range = document.getElementById("run-zoom-range");
    if (range) {
      var s0 = vx / plot * endNs / 1e9;
      var s1 = (vx + vw) / plot * endNs / 1e9;
      range.textContent = s0.toFixed(3) + " to " + s1.toFixed(3) + " s of " +
        (endNs / 1e9).toFixed(3) + " s (x" + (plot / vw).toFixed(1) + ")";
    }
  }

  function schedule() {
    if (!pending) {
      pending = true;
      window.requestAnimationFrame(apply);
    }
  }

  function zoomAbout(fraction, factor) {
    var t = vx + fraction * vw;
    vw = Math.min(plot, Math.max(plot / MAX_ZOOM, vw * factor));
    vx = t - fraction * vw;
    schedule();
  }

  var drag = null;
  plots.forEach(function (svg) {
    svg.addEventListener("wheel", function (e) {
      e.preventDefault();
      var box = svg.getBoundingClientRect();
      var delta = e.deltaY * (e.deltaMode === 1 ? 40 : e.deltaMode === 2 ? 400 : 1);
      zoomAbout((e.clientX - box.left) / box.width, Math.pow(1.0015, delta));
    }, {passive: false});
    svg.addEventListener("mousedown", function (e) {
      if (e.button !== 0) {
        return;
      }
      e.preventDefault();
      drag = {x: e.clientX, vx: vx, svg: svg};
      svg.classList.add("dragging");
    });
  });
  window.addEventListener("mousemove", function (e) {
    if (drag) {
      var box = drag.svg.getBoundingClientRect();
      vx = drag.vx - (e.clientX - drag.x) * vw / box.width;
      schedule();
    }
  });
  window.addEventListener("mouseup", function () {
    if (drag) {
      drag.svg.classList.remove("dragging");
      drag = null;
    }
  });
  function onClick(id, action) {
    var button = document.getElementById(id);
    if (button) {
      button.addEventListener("click", action);
    }
  }
  onClick("run-zoom-in", function () { zoomAbout(0.5, 0.5); });
  onClick("run-zoom-out", function () { zoomAbout(0.5, 2); });
  onClick("run-pan-left", function () { vx -= vw / 2; schedule(); });
  onClick("run-pan-right", function () { vx += vw / 2; schedule(); });
  onClick("run-zoom-reset", function () { vx = 0; vw = plot; schedule(); });
  declutter();
})();
