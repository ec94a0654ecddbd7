/* Feedback dashboard trend chart (Chart.js, vendored). Data comes from a json_script element. */
(function () {
  "use strict";
  function draw() {
    var canvas = document.getElementById("fb-trend");
    var source = document.getElementById("fb-trend-data");
    if (!canvas || !source || typeof Chart === "undefined") return;
    var data = JSON.parse(source.textContent);
    new Chart(canvas, {
      data: {
        labels: data.labels,
        datasets: [
          { type: "bar", label: canvas.dataset.volume || "Items", data: data.volume, backgroundColor: "#9db8e3" },
          { type: "line", label: canvas.dataset.negative || "Negative", data: data.negative, borderColor: "#b3261e", backgroundColor: "#b3261e", tension: 0.2 }
        ]
      },
      options: { maintainAspectRatio: false, animation: false, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
