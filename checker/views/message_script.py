"""The message diagram's inline script: redraws the diagram for the window a reader picks.

One copy per diagram; it finds its root by id (`__ID__`, replaced by `messages.render`),
reads the JSON the page embeds (`messages._data`: the messages as columns, times in µs, the
send times as deltas) and draws the window given by the inputs, the buttons, the list of
embedded stretches or a drag over the overview, with the same geometry as
`messages.diagram` (`messages.LAYOUT`; `__FAULT__` and `__OPACITY__` are the fault bands'
colour). Every name and type from the run reaches the page through `textContent` or
`setAttribute`, never as markup. Plain JavaScript any current browser runs: no library, no
network.
"""

SCRIPT = r"""
(function () {
  var root = document.getElementById("__ID__");
  if (!root) return;
  var D = JSON.parse(root.querySelector("script.msg-data").textContent);
  var L = D.layout, n = D.s.length, NS = "http://www.w3.org/2000/svg";
  var S = new Float64Array(n), acc = 0, i;
  for (i = 0; i < n; i++) { acc += D.s[i]; S[i] = acc; }
  var lost = {}; D.lost.forEach(function (f) { lost[f] = true; });
  var svgEl = root.querySelector("svg.msg-svg"), body = root.querySelector("g.msg-body");
  var ov = root.querySelector("svg.msg-overview"), brush = ov.querySelector("rect.brush");
  var from = root.querySelector("input.msg-from"), to = root.querySelector("input.msg-to");
  var note = root.querySelector(".msg-note");
  var view = D.view.slice();

  function el(name, attrs, parent, text) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }
  function r1(v) { return Math.round(v * 10) / 10; }
  function lower(t) {
    var lo = 0, hi = n;
    while (lo < hi) { var m = (lo + hi) >> 1; if (S[m] < t) lo = m + 1; else hi = m; }
    return lo;
  }
  function select(t0, t1) {
    var out = [], total = 0;
    for (var k = lower(t0 - D.maxd); k < n && S[k] <= t1; k++) {
      if (S[k] + D.d[k] >= t0) { total++; if (out.length < L.drawMax) out.push(k); }
    }
    return [out, total];
  }
  function niceStep(raw) {
    if (raw <= 0) return 1;
    var base = Math.pow(10, Math.floor(Math.log10(raw)));
    var ms = [1, 2, 5, 10];
    for (var k = 0; k < ms.length; k++) if (ms[k] * base >= raw) return ms[k] * base;
    return 10 * base;
  }
  function hover(k) {
    var t = D.types[D.y[k]];
    if (D.i[k]) t += " msg_id=" + D.i[k];
    if (D.r[k]) t += " in_reply_to=" + D.r[k];
    return t + "\n" + D.names[D.a[k]] + " \u2192 " + D.names[D.b[k]] + ", sent " +
      (S[k] / 1e6).toFixed(6) + " s, " + D.fates[D.f[k]] + " at " +
      ((S[k] + D.d[k]) / 1e6).toFixed(6) + " s (" + (D.d[k] / 1000).toFixed(3) +
      " ms in the proxy)";
  }
  function draw(t0, t1) {
    if (!(t1 > t0)) t1 = t0 + 1000;
    view = [t0, t1];
    var sel = select(t0, t1), drawn = sel[0];
    var h = Math.min(L.hMax, Math.max(L.hMin, drawn.length * L.perMsg));
    var width = L.left + D.cols.length * L.col + L.right, height = L.top + h + L.bottom;
    function y(t) { return L.top + (t - t0) / Math.max(t1 - t0, 1) * h; }
    function x(c) { return L.left + c * L.col + L.col / 2; }
    svgEl.setAttribute("width", Math.round(width));
    svgEl.setAttribute("height", Math.round(height));
    svgEl.setAttribute("viewBox", "0 0 " + Math.round(width) + " " + Math.round(height));
    while (body.firstChild) body.removeChild(body.firstChild);
    var step = niceStep((t1 - t0) / 10), t = Math.ceil(t0 / step) * step, ticks = 0;
    for (; t <= t1 && ticks < 60; t += step, ticks++) {
      el("line", {"class": "tick", x1: L.left - 4, x2: width, y1: r1(y(t)), y2: r1(y(t)),
                  stroke: "#eee"}, body);
      el("text", {x: L.left - 6, y: r1(y(t) + 4), "text-anchor": "end"}, body,
         +(t / 1e6).toPrecision(6) + " s");
    }
    D.faults.forEach(function (f) {
      var a = f[0], b = f[1] === null ? t1 : f[1];
      if (b < t0 || a > t1) return;
      var y1 = Math.max(y(a), L.top), y2 = Math.min(y(b), L.top + h);
      var r = el("rect", {"class": "fault", x: L.left, y: r1(y1), width: width - L.left,
                          height: r1(Math.max(1, y2 - y1)), fill: "__FAULT__",
                          "fill-opacity": "__OPACITY__"}, body);
      el("title", {}, r, f[2]);
      el("text", {"class": "fault-label", x: width - 4, y: r1(y1 + 11), "text-anchor": "end"},
         body, f[2].slice(0, 40));
    });
    D.cols.forEach(function (label, c) {
      el("line", {"class": "column", x1: x(c), x2: x(c), y1: L.top - 6, y2: L.top + h,
                  stroke: "#bbb"}, body);
      el("text", {"class": "lane-label", x: x(c), y: L.top - 12, "text-anchor": "middle"}, body,
         label.slice(0, 16));
    });
    var labelled = drawn.length <= L.labelsMax;
    drawn.forEach(function (k) {
      var xs = x(D.col[D.a[k]]), xd = x(D.col[D.b[k]]), ys = y(S[k]), yr = y(S[k] + D.d[k]);
      if (xs === xd) xd = xs + L.col * 0.3;
      var isLost = !!lost[D.f[k]], x2 = xd, y2 = yr, colour = D.colours[D.f[k]];
      if (isLost) { x2 = xs + (xd - xs) * L.lostFrac; y2 = ys + (yr - ys) * L.lostFrac; }
      var attrs = {"class": "msg " + D.fates[D.f[k]] + (isLost ? " lost" : ""), "data-i": k,
                   "data-src": D.names[D.a[k]], "data-dest": D.names[D.b[k]],
                   x1: r1(xs), y1: r1(ys), x2: r1(x2), y2: r1(y2), stroke: colour,
                   "stroke-width": "1.2"};
      if (!isLost) attrs["marker-end"] = "url(#__ID__-a" + D.f[k] + ")";
      var line = el("line", attrs, body);
      el("title", {}, line, hover(k));
      if (isLost) {
        el("path", {"class": "cross", stroke: colour, "stroke-width": "1.6",
                    d: "M " + r1(x2 - 4) + " " + r1(y2 - 4) + " L " + r1(x2 + 4) + " " +
                       r1(y2 + 4) + " M " + r1(x2 - 4) + " " + r1(y2 + 4) + " L " +
                       r1(x2 + 4) + " " + r1(y2 - 4)}, body);
      }
      if (labelled) {
        el("text", {x: r1((xs + x2) / 2), y: r1((ys + y2) / 2 - 2), "text-anchor": "middle",
                    style: "fill:" + colour}, body, D.types[D.y[k]].slice(0, 24));
      }
    });
    from.value = (t0 / 1e6).toFixed(6); to.value = (t1 / 1e6).toFixed(6);
    var outside = D.embedded.length > 0 && !D.embedded.some(function (w) {
      return w[0] <= t1 && w[1] >= t0;
    });
    note.textContent = outside ?
      "This window lies outside the embedded stretches: its messages were left out of the " +
      "page (the overview counts them)." :
      sel[1] > drawn.length ?
      "This window holds " + sel[1] + " messages; the first " + drawn.length +
      " are drawn: pick a narrower window to see the rest." :
      sel[1] + " messages in this window.";
    var ox = function (t) {
      return L.ovLeft + Math.min(1, Math.max(0, t / D.end)) * L.ovWidth;
    };
    brush.setAttribute("x", r1(ox(t0)));
    brush.setAttribute("width", r1(Math.max(2, ox(t1) - ox(t0))));
  }
  function fromInputs() {
    var a = parseFloat(from.value) * 1e6, b = parseFloat(to.value) * 1e6;
    if (isFinite(a) && isFinite(b) && b > a) draw(a, b);
  }
  root.querySelector(".msg-show").addEventListener("click", fromInputs);
  from.addEventListener("change", fromInputs); to.addEventListener("change", fromInputs);
  root.querySelector(".msg-prev").addEventListener("click", function () {
    var w = view[1] - view[0]; draw(Math.max(0, view[0] - w), Math.max(w, view[0]));
  });
  root.querySelector(".msg-next").addEventListener("click", function () {
    var w = view[1] - view[0]; draw(view[1], view[1] + w);
  });
  var windows = root.querySelector("select.msg-windows");
  if (windows) windows.addEventListener("change", function () {
    if (!windows.value) return;
    var ab = windows.value.split(",").map(Number); draw(ab[0], ab[1]);
  });
  function ovTime(ev) {
    var pt = ov.createSVGPoint(); pt.x = ev.clientX; pt.y = ev.clientY;
    var p = pt.matrixTransform(ov.getScreenCTM().inverse());
    return Math.min(1, Math.max(0, (p.x - L.ovLeft) / L.ovWidth)) * D.end;
  }
  var dragFrom = null;
  ov.addEventListener("mousedown", function (ev) { dragFrom = ovTime(ev); ev.preventDefault(); });
  ov.addEventListener("mousemove", function (ev) {
    if (dragFrom === null) return;
    var t = ovTime(ev), a = Math.min(dragFrom, t), b = Math.max(dragFrom, t);
    var ox = function (u) { return L.ovLeft + u / D.end * L.ovWidth; };
    brush.setAttribute("x", r1(ox(a))); brush.setAttribute("width", r1(Math.max(2, ox(b) - ox(a))));
  });
  window.addEventListener("mouseup", function (ev) {
    if (dragFrom === null) return;
    var t = ovTime(ev), a = Math.min(dragFrom, t), b = Math.max(dragFrom, t);
    dragFrom = null;
    if (b - a < D.end / 2000) { var w = view[1] - view[0]; a = t - w / 2; b = t + w / 2; }
    draw(Math.max(0, a), b);
  });
})();
"""
