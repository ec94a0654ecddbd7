// The home page's chart: touchpoints per day. The same numbers are in a table for no-JS readers.
(function () {
  "use strict";
  var data = document.getElementById("daily-data");
  var canvas = document.getElementById("daily-chart");
  if (!data || !canvas || !window.Chart) return;
  var chart = JSON.parse(data.textContent);
  new window.Chart(canvas, {
    type: "bar",
    data: {
      labels: chart.labels.map(function (d) { return d.slice(5); }),
      datasets: [{ data: chart.values, backgroundColor: "#1f5fbf", borderRadius: 2 }],
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      plugins: { legend: { display: false } },
      scales: { y: { beginAtZero: true, ticks: { precision: 0 } }, x: { ticks: { maxRotation: 0, autoSkip: true } } },
    },
  });
})();
