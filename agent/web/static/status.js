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

  function draw(box, values) {
    var width = 160, height = 32, pad = 2;
    var ys = values.map(function (v) { return parseFloat(v[1]); }).filter(isFinite);
    if (ys.length < 2) return;
    var t0 = values[0][0], t1 = values[values.length - 1][0];
    var lo = Math.min.apply(null, ys), hi = Math.max.apply(null, ys);
    var span = hi - lo || 1, tspan = t1 - t0 || 1;
    var points = values.map(function (v) {
      var x = pad + (v[0] - t0) / tspan * (width - 2 * pad);
      var y = height - pad - (parseFloat(v[1]) - lo) / span * (height - 2 * pad);
      return x.toFixed(1) + "," + y.toFixed(1);
    });
    var svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 " + width + " " + height);
    svg.setAttribute("width", width);
    svg.setAttribute("height", height);
    svg.setAttribute("class", "sparkline");
    var title = document.createElementNS(SVG, "title");
    title.textContent = "min " + lo + ", max " + hi;
    var line = document.createElementNS(SVG, "polyline");
    line.setAttribute("points", points.join(" "));
    svg.appendChild(title);
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
    fetch("/api/v1/query?query=" + encodeURIComponent(query) + "&time=" + now, {credentials: "same-origin"})
      .then(function (response) { return response.json(); })
      .then(function (body) {
        if (body.status !== "success" || body.data.resultType !== "matrix") return;
        var series = body.data.result.filter(function (s) { return subset(s.metric, labels); })[0];
        if (series) draw(box, series.values);
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
