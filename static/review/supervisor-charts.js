// Charts page: reads the figures rendered by json_script (#chart-data) and draws them with the
// vendored Chart.js (static/vendor/chartjs). No inline script: the page's CSP allows only 'self'.
(function () {
  var source = document.getElementById("chart-data");
  if (!source || typeof Chart === "undefined") return;
  var data = JSON.parse(source.textContent);
  var colours = {
    duplicate: "#b5442c", related: "#2c6fb5", distinct: "#4f8a3a",
    skip: "#9a9a9a", escalate: "#c99a1e"
  };
  function datasets(series, fill) {
    return series.map(function (s) {
      return {
        label: s.label, data: s.counts, borderColor: colours[s.kind] || "#555",
        backgroundColor: colours[s.kind] || "#555", fill: fill, tension: 0.2
      };
    });
  }
  var common = { responsive: true, maintainAspectRatio: false, animation: false };
  if (!data.days.length) document.getElementById("chart-empty").hidden = false;
  new Chart(document.getElementById("chart-over-time"), {
    type: "line",
    data: { labels: data.days, datasets: datasets(data.over_time, false) },
    options: Object.assign({ scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }, common)
  });
  new Chart(document.getElementById("chart-scores"), {
    type: "bar",
    data: { labels: data.bands, datasets: datasets(data.scores, true) },
    options: Object.assign({ scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true,
      ticks: { precision: 0 } } } }, common)
  });
  document.body.dataset.chartsReady = "1";
})();
