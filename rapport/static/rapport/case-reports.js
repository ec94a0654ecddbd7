// Case reports: the charts above the tables (volume by cause, weekly trend, SLA attainment), drawn
// with the vendored Chart.js from the JSON the page embeds. Without JavaScript the tables remain.
(function () {
  "use strict";
  if (!window.Chart) return;
  var colours = ["#1f5fbf", "#b3261e", "#2f8f5b", "#8a5a00"];
  document.querySelectorAll("canvas[data-report-chart]").forEach(function (canvas) {
    var source = document.getElementById(canvas.getAttribute("data-report-chart"));
    if (!source) return;
    var chart = JSON.parse(source.textContent);
    if (!chart.labels.length) { canvas.parentElement.hidden = true; return; }
    new window.Chart(canvas, {
      type: chart.type,
      data: {
        labels: chart.labels,
        datasets: chart.series.map(function (s, i) {
          return { label: s.label, data: s.data, backgroundColor: colours[i % colours.length], borderColor: colours[i % colours.length], tension: 0.2 };
        }),
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        plugins: { legend: { display: chart.series.length > 1 } },
        scales: { x: { stacked: !!chart.stacked }, y: { stacked: !!chart.stacked, beginAtZero: true, ticks: { precision: 0 } } },
      },
    });
  });
})();
