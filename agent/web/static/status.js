// Progressive enhancement of the status page: it works without this file.
// Refreshes the sections in place, and draws a sparkline of the series behind each alert
// from /api/v1/query. Data is put into the page with textContent and SVG attributes only.
(function () {
  "use strict";
  var REFRESH_MS = 15000;
  var SVG = "http://www.w3.org/2000/svg";

  function busy() {
    var active = document.activeElement;
    if (active && active.closest && active.closest("form")) return true;
    return document.querySelector("details.silence-form[open]") !== null;
  }

  function refresh() {
    if (document.hidden || busy()) return;
    fetch(window.location.pathname, {credentials: "same-origin", headers: {"Accept": "text/html"}})
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (text) {
        if (text === null || busy()) return;
        var fresh = new DOMParser().parseFromString(text, "text/html");
        document.querySelectorAll("section[data-refresh]").forEach(function (section) {
          var replacement = fresh.getElementById(section.id);
          if (replacement) section.replaceWith(document.importNode(replacement, true));
        });
        var updated = fresh.getElementById("updated");
        if (updated) document.getElementById("updated").replaceWith(document.importNode(updated, true));
        document.title = fresh.title;
        sparklines();
      })
      .catch(function () { /* the daemon is restarting: try again next time */ });
  }

  function subset(metric, labels) {
    return Object.keys(metric).every(function (name) {
      return name === "__name__" || labels[name] === metric[name];
    });
  }

  function sig4(v) { return String(Number(v.toPrecision(4))); }

  function scaled(v, base, prefixes) {
    var i = 0;
    while (Math.abs(v) >= base && i < prefixes.length) { v /= base; i++; }
    return sig4(v) + (i ? prefixes[i - 1] : "");
  }

  function duration(v) {
    var a = Math.abs(v), sign = v < 0 ? "-" : "";
    if (a < 1) return sig4(v * 1000) + "ms";
    if (a < 60) return sig4(v) + "s";
    if (a < 3600) return sign + Math.floor(a / 60) + "m " + Math.floor(a % 60) + "s";
    if (a < 86400) return sign + Math.floor(a / 3600) + "h " + Math.floor(a % 3600 / 60) + "m";
    return sign + Math.floor(a / 86400) + "d " + Math.floor(a % 86400 / 3600) + "h";
  }

  // The axis labels, in the unit the server read from the metric names (data-unit), the way
  // Prometheus' humanize, humanize1024, humanizeDuration and humanizePercentage write values.
  function humanize(v, unit) {
    if (!isFinite(v)) return String(v);
    if (unit === "ratio") return sig4(v * 100) + "%";
    if (unit === "percent") return sig4(v) + "%";
    if (unit === "seconds") return duration(v);
    if (unit === "bytes") return scaled(v, 1024, ["Ki", "Mi", "Gi", "Ti", "Pi"]) + "B";
    if (unit === "bytes/s") return scaled(v, 1024, ["Ki", "Mi", "Gi", "Ti", "Pi"]) + "B/s";
    return scaled(v, 1000, ["k", "M", "G", "T", "P"]) + (unit === "/s" ? "/s" : "");
  }

  function text(x, y, anchor, content) {
    var label = document.createElementNS(SVG, "text");
    label.setAttribute("x", x);
    label.setAttribute("y", y);
    label.setAttribute("text-anchor", anchor);
    label.textContent = content;
    return label;
  }

  function axis(x1, y1, x2, y2) {
    var line = document.createElementNS(SVG, "line");
    line.setAttribute("x1", x1); line.setAttribute("y1", y1);
    line.setAttribute("x2", x2); line.setAttribute("y2", y2);
    line.setAttribute("class", "axis");
    return line;
  }

  // A line of the values with a y axis (lowest and highest value, in their unit) and a time
  // axis (how long ago the first point was, and now).
  function draw(box, values, unit) {
    var width = 260, height = 64, left = 52, right = 4, top = 8, bottom = 14;
    var ys = values.map(function (v) { return parseFloat(v[1]); }).filter(isFinite);
    if (ys.length < 2) return;
    var t0 = values[0][0], t1 = values[values.length - 1][0];
    var lo = Math.min.apply(null, ys), hi = Math.max.apply(null, ys);
    var span = hi - lo || 1, tspan = t1 - t0 || 1;
    var plotW = width - left - right, plotH = height - top - bottom;
    var points = values.map(function (v) {
      var x = left + (v[0] - t0) / tspan * plotW;
      var y = top + plotH - (parseFloat(v[1]) - lo) / span * plotH;
      return x.toFixed(1) + "," + y.toFixed(1);
    });
    var svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 " + width + " " + height);
    svg.setAttribute("width", width);
    svg.setAttribute("height", height);
    svg.setAttribute("class", "sparkline");
    svg.setAttribute("data-min", humanize(lo, unit));
    svg.setAttribute("data-max", humanize(hi, unit));
    var title = document.createElementNS(SVG, "title");
    title.textContent = "min " + humanize(lo, unit) + ", max " + humanize(hi, unit);
    var line = document.createElementNS(SVG, "polyline");
    line.setAttribute("points", points.join(" "));
    svg.appendChild(title);
    svg.appendChild(axis(left, top, left, top + plotH));
    svg.appendChild(axis(left, top + plotH, width - right, top + plotH));
    svg.appendChild(text(left - 3, top + 4, "end", humanize(hi, unit)));
    svg.appendChild(text(left - 3, top + plotH, "end", humanize(lo, unit)));
    svg.appendChild(text(left, height - 2, "start", "-" + duration(t1 - t0)));
    svg.appendChild(text(width - right, height - 2, "end", "now"));
    svg.appendChild(line);
    box.replaceChildren(svg);
  }

  function sparkline(item) {
    var expr = item.getAttribute("data-expr");
    var box = item.querySelector(".spark");
    if (!expr || !box) return;
    var labels = JSON.parse(item.getAttribute("data-labels") || "{}");
    // The server's time, not the browser's: the two clocks may disagree.
    var now = Date.parse(document.getElementById("updated").getAttribute("datetime")) / 1000 || Date.now() / 1000;
    var since = parseFloat(item.getAttribute("data-active-at")) || now;
    var range = Math.min(3600, Math.max(600, Math.ceil(2 * (now - since))));
    var step = Math.max(1, Math.ceil(range / 60));
    var query = "(" + expr + ")[" + range + "s:" + step + "s]";
    var root = document.documentElement.getAttribute("data-root") || "";
    fetch(root + "/api/v1/query?query=" + encodeURIComponent(query) + "&time=" + now, {credentials: "same-origin"})
      .then(function (response) { return response.json(); })
      .then(function (body) {
        if (body.status !== "success" || body.data.resultType !== "matrix") return;
        var series = body.data.result.filter(function (s) { return subset(s.metric, labels); })[0];
        if (series) draw(box, series.values, item.getAttribute("data-unit") || "");
      })
      .catch(function () { /* no sparkline, the numbers are still there */ });
  }

  function sparklines() {
    document.querySelectorAll("li.alert[data-expr]").forEach(sparkline);
  }

  document.documentElement.classList.add("js");
  sparklines();
  window.setInterval(refresh, REFRESH_MS);
})();
