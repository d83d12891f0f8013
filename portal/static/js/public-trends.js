/* Chart of the public trends page: data from the json_script block. */
(function () {
  function draw() {
    var data = JSON.parse(document.getElementById("trend-data").textContent);
    var chart = echarts.init(document.getElementById("trend-chart"), null, {renderer: "svg"});
    var colors = ["#b3261e", "#0b57d0"];
    chart.setOption({
      animation: false,
      color: colors,
      legend: {top: 0},
      tooltip: {trigger: "axis"},
      grid: {left: 8, right: 24, top: 36, bottom: 8, containLabel: true},
      xAxis: {type: "category", data: data.periods, boundaryGap: true},
      // Scores run from 0 to 100; the axis shows all of it, so small changes are not magnified.
      yAxis: {type: "value", min: 0, max: 100},
      series: data.series.map(function (s, i) {
        return {type: "line", name: s.name, data: s.values, connectNulls: false, symbolSize: 8,
                label: {show: true, position: i === 0 ? "top" : "bottom",
                        formatter: function (p) { return p.value == null ? "" : p.value.toFixed(1); }}};
      })
    });
    window.addEventListener("resize", function () { chart.resize(); });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", draw); } else { draw(); }
})();
