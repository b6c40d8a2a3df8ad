// The coverage trend: draws an SVG line chart into every element with data-chart="trend",
// from the JSON in the <script type="application/json"> the element names in data-source.
// Served by Burndown itself; no library, no network.
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var SERIES = [
    { key: "backlog_coverage", label: "of issues closed", color: "#2f6fdb" },
    { key: "agent_coverage", label: "of tickets handed", color: "#e07b00" },
  ];

  function el(name, attrs, parent) {
    var node = document.createElementNS(NS, name);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, String(attrs[k])); });
    if (parent) parent.appendChild(node);
    return node;
  }

  function text(parent, x, y, value, anchor, cls) {
    var t = el("text", { x: x, y: y, "text-anchor": anchor || "start", class: cls || "axis" }, parent);
    t.textContent = value;
    return t;
  }

  function draw(box) {
    var source = document.getElementById(box.getAttribute("data-source"));
    var points = JSON.parse(source.textContent);
    var width = 720, height = 260, left = 44, right = 16, top = 16, bottom = 40;
    var svg = el("svg", { viewBox: "0 0 " + width + " " + height, role: "img",
                          "aria-label": "coverage by week", class: "trend" });
    var plotW = width - left - right, plotH = height - top - bottom;
    var n = points.length;
    function x(i) { return left + (n <= 1 ? plotW / 2 : (i * plotW) / (n - 1)); }
    function y(v) { return top + plotH - v * plotH; }
    [0, 0.25, 0.5, 0.75, 1].forEach(function (v) {
      el("line", { x1: left, x2: width - right, y1: y(v), y2: y(v), class: "grid" }, svg);
      text(svg, left - 6, y(v) + 4, Math.round(v * 100) + "%", "end");
    });
    var step = Math.max(1, Math.ceil(n / 8));
    points.forEach(function (p, i) {
      if (i % step === 0 || i === n - 1) text(svg, x(i), height - bottom + 16, p.week.slice(5), "middle");
    });
    var drawn = 0;
    SERIES.forEach(function (s, k) {
      var path = [];
      points.forEach(function (p, i) {
        var v = p[s.key];
        if (v === null || v === undefined) return;
        path.push((path.length ? "L" : "M") + x(i).toFixed(1) + " " + y(Math.min(v, 1)).toFixed(1));
        var dot = el("circle", { cx: x(i).toFixed(1), cy: y(Math.min(v, 1)).toFixed(1), r: 3.5,
                                 fill: s.color, class: "point", "data-series": s.key,
                                 "data-week": p.week, "data-value": v }, svg);
        el("title", {}, dot).textContent = p.week + ": " + (v * 100).toFixed(1) + "% " + s.label;
        drawn += 1;
      });
      if (path.length) el("path", { d: path.join(" "), stroke: s.color, fill: "none",
                                    "stroke-width": 2, class: "line", "data-series": s.key }, svg);
      el("rect", { x: left + 8 + k * 170, y: height - 14, width: 10, height: 10, fill: s.color }, svg);
      text(svg, left + 22 + k * 170, height - 5, s.label);
    });
    if (!n) text(svg, width / 2, height / 2, "no weeks in this period", "middle", "empty");
    box.appendChild(svg);
    box.setAttribute("data-drawn", "true");
    box.setAttribute("data-points", String(drawn));
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll('[data-chart="trend"]'), draw);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
