// Draws the charts of the django-pareto HTML report with Chart.js (inlined before this).
// All data comes from the json_script block "pareto-charts"; all labels are drawn on
// canvases, and the only text this script puts in the page goes through textContent.
(function () {
  "use strict";
  var COLORS = {
    bar: "#2f5fd0", barRest: "#b9c7ea", line: "#e8912d", mark: "#8a94a3",
    db: "#e8912d", app: "#4f7fe0", before: "#a9b3c1", after: "#2f5fd0", p95: "#c62828"
  };
  var data = JSON.parse(document.getElementById("pareto-charts").textContent);
  var charts = {};
  window.paretoCharts = charts;

  function fail(message) {
    var note = document.createElement("p");
    note.className = "note";
    note.textContent = message;
    document.querySelector("main").prepend(note);
  }
  if (typeof Chart === "undefined") {
    fail("The charts could not be drawn: Chart.js did not load.");
    return;
  }
  Chart.defaults.animation = false;  // a report is read, not watched; screenshots are exact
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.color = "#5f6b7a";

  function shorten(label) {
    label = String(label);
    return label.length > 32 ? label.slice(0, 31) + "\u2026" : label;
  }
  function tickLabel() {
    return function (value) { return shorten(this.getLabelForValue(value)); };
  }

  function pareto(d, tooltipTitle) {
    return {
      type: "bar",
      data: {
        labels: d.labels,
        datasets: [
          { type: "bar", label: "total time (ms)", data: d.total_ms, yAxisID: "y", order: 2,
            backgroundColor: d.in_top.map(function (top) { return top ? COLORS.bar : COLORS.barRest; }) },
          { type: "line", label: "cumulative share (%)", data: d.cumulative_pct, yAxisID: "pct",
            order: 1, borderColor: COLORS.line, backgroundColor: COLORS.line, pointRadius: 3, tension: 0 },
          { type: "line", label: d.mark_pct + "% of the time", data: d.labels.map(function () { return d.mark_pct; }),
            yAxisID: "pct", order: 0, borderColor: COLORS.mark, borderDash: [6, 4], borderWidth: 1.5,
            pointRadius: 0, pointHitRadius: 0 }
        ]
      },
      options: {
        interaction: { mode: "index", intersect: false },
        scales: {
          x: { ticks: { callback: tickLabel(), autoSkip: false, maxRotation: 60 }, grid: { display: false } },
          y: { beginAtZero: true, title: { display: true, text: "total time (ms)" } },
          pct: { position: "right", min: 0, max: 100, grid: { drawOnChartArea: false },
                 title: { display: true, text: "cumulative %" },
                 ticks: { callback: function (v) { return v + "%"; } } }
        },
        plugins: {
          legend: { reverse: true },  // datasets are ordered for drawing; read bars first
          tooltip: { callbacks: { title: tooltipTitle || function (items) { return items[0].label; } } }
        }
      }
    };
  }

  function horizontal(labels, datasets, stacked, axisTitle) {
    return {
      type: "bar",
      data: { labels: labels, datasets: datasets },
      options: {
        indexAxis: "y",
        interaction: { mode: "index", intersect: false },
        scales: {
          x: { stacked: stacked, beginAtZero: true, title: { display: true, text: axisTitle } },
          y: { stacked: stacked, ticks: { callback: tickLabel(), autoSkip: false }, grid: { display: false } }
        }
      }
    };
  }

  var builders = {
    endpoints: function (d) { return pareto(d); },
    queries: function (d) {
      return pareto(d, function (items) {
        var i = items[0].dataIndex;
        return d.sql[i] ? items[0].label + "  " + d.sql[i] : items[0].label;
      });
    },
    latency: function (d) {
      return {
        type: "bar",
        data: { labels: d.labels, datasets: [{ label: "requests", data: d.counts, backgroundColor: COLORS.bar,
                                                barPercentage: 1, categoryPercentage: 0.96 }] },
        options: {
          scales: { x: { title: { display: true, text: "request wall time (log buckets)" }, grid: { display: false } },
                    y: { beginAtZero: true, title: { display: true, text: "requests" }, ticks: { precision: 0 } } },
          plugins: { legend: { display: false } }
        }
      };
    },
    breakdown: function (d) {
      return horizontal(d.labels, [
        { label: "database ms per request", data: d.db_ms, backgroundColor: COLORS.db },
        { label: "application ms per request", data: d.app_ms, backgroundColor: COLORS.app }
      ], true, "mean ms per request");
    },
    compare_p95: compare,
    compare_queries: compare,
    scale: function (d) {
      var datasets = [
        { type: "scatter", label: "measured throughput", data: d.measured, yAxisID: "y",
          backgroundColor: COLORS.bar, pointRadius: 5, order: 1 }
      ];
      if (d.curve.length) {
        datasets.push({ type: "line", label: "USL fit", data: d.curve, yAxisID: "y", borderColor: COLORS.bar,
                        borderWidth: 2, pointRadius: 0, tension: 0.3, order: 2 });
      }
      if (d.peak.length) {
        datasets.push({ type: "scatter", label: "peak", data: d.peak, yAxisID: "y", pointStyle: "triangle",
                        pointRadius: 9, backgroundColor: COLORS.line, order: 0 });
      }
      datasets.push({ type: "line", label: "p95 (ms)", data: d.p95, yAxisID: "latency", borderColor: COLORS.p95,
                      backgroundColor: COLORS.p95, borderWidth: 1.5, pointRadius: 3, order: 3 });
      if (d.objective_p95_ms !== null && d.measured.length) {
        var xs = d.measured.map(function (p) { return p.x; });
        datasets.push({ type: "line", label: "p95 objective", yAxisID: "latency", borderColor: COLORS.p95,
                        borderDash: [6, 4], borderWidth: 1, pointRadius: 0, order: 4,
                        data: [{ x: Math.min.apply(null, xs), y: d.objective_p95_ms },
                               { x: Math.max.apply(null, xs), y: d.objective_p95_ms }] });
      }
      return {
        type: "scatter",
        data: { datasets: datasets },
        options: {
          scales: {
            x: { type: "linear", beginAtZero: true, title: { display: true, text: "workers" } },
            y: { beginAtZero: true, grace: "8%", title: { display: true, text: "throughput (requests/s)" } },
            latency: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false },
                       title: { display: true, text: "p95 (ms)" } }
          }
        }
      };
    }
  };

  function compare(d) {
    var unit = d.metric === "p95_ms" ? "p95 (ms)" : "queries per request";
    return horizontal(d.labels, [
      { label: d.before_name, data: d.before, backgroundColor: COLORS.before },
      { label: d.after_name, data: d.after, backgroundColor: COLORS.after }
    ], false, unit);
  }

  document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
    var name = canvas.getAttribute("data-chart");
    var box = canvas.parentElement;
    var rows = box.getAttribute("data-rows");
    if (rows !== null) {  // horizontal bars: as tall as the rows need
      box.style.height = Math.max(200, 70 + 30 * Number(rows)) + "px";
    }
    try {
      charts[name] = new Chart(canvas, builders[name](data[name]));
    } catch (error) {
      fail("The chart " + name + " could not be drawn: " + error);
    }
  });
  document.body.setAttribute("data-charts-ready", String(Object.keys(charts).length));
})();
