// Draws the console's charts from their data (Chart.js, vendored).
document.addEventListener("DOMContentLoaded", function () {
  if (typeof Chart === "undefined") return;
  document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
    var spec = JSON.parse(canvas.getAttribute("data-chart"));
    var datasets = spec.datasets.slice();
    if (spec.target !== undefined) {
      datasets.push({ type: "line", label: "target", data: spec.labels.map(function () { return spec.target; }), borderDash: [6, 4], pointRadius: 0 });
    }
    new Chart(canvas, { type: spec.type, data: { labels: spec.labels, datasets: datasets }, options: { animation: false, responsive: true } });
  });
});
