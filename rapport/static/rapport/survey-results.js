// Survey results: each question's distribution as a Chart.js bar chart. Without JavaScript the
// server-rendered bars below each chart stay; with it, the chart replaces them.
(function () {
  "use strict";
  if (!window.Chart) return;
  document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
    var data = document.getElementById(canvas.getAttribute("data-chart"));
    if (!data) return;
    var chart = JSON.parse(data.textContent);
    var box = canvas.parentElement;
    box.hidden = false;
    var list = box.parentElement.querySelector("ul.dist");
    if (list) list.hidden = true;
    new window.Chart(canvas, {
      type: "bar",
      data: { labels: chart.labels, datasets: [{ data: chart.counts, backgroundColor: "#1f5fbf", borderRadius: 2 }] },
      options: {
        indexAxis: chart.labels.length > 6 ? "x" : "y",
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        plugins: { legend: { display: false } },
        scales: { x: { beginAtZero: true, ticks: { precision: 0 } }, y: { beginAtZero: true, ticks: { precision: 0 } } },
      },
    });
  });
})();
