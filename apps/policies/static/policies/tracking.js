/* Charts of the policy tracking dashboard: actual values of each published period, the
   planned trajectory from the baseline to the target, the target, and the projection to the
   target year with its 95 % prediction interval. Data from the json_script block
   "track-charts"; ECharts from static/vendor (SVG renderer, sharp in print). */
(function () {
  "use strict";
  var FONT = '"Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", sans-serif';
  function labels() {
    var el = document.getElementById("track-labels");
    return el ? JSON.parse(el.textContent) : {};
  }
  function draw() {
    var src = document.getElementById("track-charts");
    if (!src || !window.echarts) { return; }
    var L = labels();
    JSON.parse(src.textContent).forEach(function (d) {
      var el = document.getElementById("track-chart-" + d.id);
      if (!el) { return; }
      var chart = echarts.init(el, null, {renderer: "svg"});
      var actual = d.years.map(function (y, i) { return [y, d.actual[i]]; }).filter(function (p) { return p[1] !== null; });
      var planned = d.years.map(function (y, i) { return [y, d.expected[i]]; }).filter(function (p) { return p[1] !== null; });
      if (planned.length) { planned.push([d.target_year, d.target]); }
      var series = [
        {name: L.actual, type: "line", data: actual, symbolSize: 7, label: {show: true, formatter: function (p) { return p.value[1].toFixed(1); }}},
        {name: L.planned, type: "line", data: planned, lineStyle: {type: "dashed"}, symbol: "none"},
        {name: L.target, type: "scatter", data: [[d.target_year, d.target]], symbol: "diamond", symbolSize: 12}
      ];
      if (d.projection !== null && actual.length) {
        var last = actual[actual.length - 1];
        series.push({name: L.projection, type: "line", data: [last, [d.target_year, d.projection]], lineStyle: {type: "dotted"}});
        series.push({name: L.interval, type: "line", data: [[d.target_year, d.projection_low], [d.target_year, d.projection_high]],
                     lineStyle: {width: 6, opacity: 0.35}, symbol: "none"});
      }
      var hidden = d.hidden.some(function (h) { return h; });
      chart.setOption({
        animation: false,
        color: ["#0b57d0", "#5b636d", "#b3261e", "#9a6700", "#9a6700"],
        textStyle: {fontFamily: FONT},
        title: hidden ? {text: L.hidden, left: "center", top: 0, textStyle: {fontSize: 12, fontWeight: "normal", color: "#5b636d"}} : undefined,
        tooltip: {trigger: "item"},
        legend: {bottom: 0, textStyle: {fontFamily: FONT}},
        grid: {left: 44, right: 16, top: 24, bottom: 48},
        xAxis: {type: "value", min: Math.floor(Math.min.apply(null, d.years.concat([d.target_year]))), max: d.target_year + 0.3,
                interval: 1, axisLabel: {formatter: function (v) { return Number.isInteger(v) ? String(v) : ""; }}},
        yAxis: {type: "value", min: 0},  // every tracked metric is a score or a share: from 0
        series: series
      });
      window.addEventListener("resize", function () { chart.resize(); });
    });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", draw); } else { draw(); }
})();
