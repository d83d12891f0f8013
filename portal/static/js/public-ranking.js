/* Chart of the public ranking page: data from the json_script block. */
(function () {
  function draw() {
    var el = document.getElementById("ranking-chart");
    if (!el) { return; }
    var data = JSON.parse(document.getElementById("ranking-data").textContent);
    var chart = echarts.init(el, null, {renderer: "svg"});
    chart.setOption({
      animation: false,
      grid: {left: 8, right: 56, top: 8, bottom: 8, containLabel: true},
      tooltip: {trigger: "axis", axisPointer: {type: "shadow"}},
      xAxis: {type: "value", min: 0, max: 100, splitNumber: 5, axisLabel: {color: "#5b636d"}},
      yAxis: {type: "category", data: data.names, inverse: true, axisTick: {show: false},
              axisLabel: {color: "#1f2328", width: 180, overflow: "truncate"}},
      series: [{type: "bar", name: data.label, data: data.values, barMaxWidth: 18,
                itemStyle: {color: "#b3261e", borderRadius: [0, 3, 3, 0]},
                label: {show: true, position: "right", color: "#1f2328", formatter: function (p) { return p.value.toFixed(1); }}}]
    });
    window.addEventListener("resize", function () { chart.resize(); });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", draw); } else { draw(); }
})();
