/* Charts of the insights pages: ECharts from static/vendor, SVG renderer (sharp in print),
   data from json_script blocks. Drawn on load and after htmx swaps; scaled to the paper when printed. */
(function () {
  var FONT = '"Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", sans-serif';
  var COLORS = ["#b3261e", "#0b57d0", "#5b636d", "#1a7f37", "#9a6700", "#8250df"];
  var charts = [];
  function data(id) { var el = document.getElementById(id); return el ? JSON.parse(el.textContent) : null; }
  function init(id) {
    var el = document.getElementById(id);
    if (!el || !window.echarts) { return null; }
    var old = echarts.getInstanceByDom(el);
    if (old) { old.dispose(); }
    var chart = echarts.init(el, null, {renderer: "svg"});
    // A viewBox lets the print stylesheet scale the drawing to the paper's width.
    chart.on("finished", function () {
      var svg = el.querySelector("svg");
      if (svg) { svg.setAttribute("viewBox", "0 0 " + chart.getWidth() + " " + chart.getHeight()); }
    });
    charts.push(chart);
    return chart;
  }
  function fixed(p) { return (typeof p.value === "object" && p.value !== null ? p.value.value : p.value).toFixed(1); }
  var base = {animation: false, color: COLORS, textStyle: {fontFamily: FONT, color: "#1f2328"}};
  function opt(o) { return Object.assign({}, base, o); }
  var draw = {
    radar: function (id, d) {
      var c = init(id); if (!c || !d || !d.series.length) { return; }
      if (d.indicators.length < 3) {  // a radar needs three axes: grouped bars instead
        c.setOption(opt({
          legend: {bottom: 0, textStyle: {fontFamily: FONT}},
          tooltip: {trigger: "axis"},
          grid: {left: 48, right: 16, top: 24, bottom: 56},
          xAxis: {type: "category", data: d.indicators.map(function (i) { return i.name; }), axisLabel: {fontFamily: FONT}},
          yAxis: {type: "value", min: 0, max: 100},
          series: d.series.map(function (s) { return {type: "bar", name: s.name, data: s.value, barMaxWidth: 40, label: {show: true, position: "top", formatter: fixed}}; })
        }));
        return;
      }
      c.setOption(opt({
        legend: {bottom: 0, textStyle: {fontFamily: FONT}},
        tooltip: {},
        // scores start at 0 on every axis, never at the smallest value shown
        radar: {indicator: d.indicators.map(function (i) { return Object.assign({min: 0, max: 100}, i); }), radius: "62%", center: ["50%", "48%"], axisName: {color: "#1f2328", fontFamily: FONT}},
        series: [{type: "radar", data: d.series.map(function (s, i) {
          return {name: s.name, value: s.value, areaStyle: {opacity: i === 0 ? 0.25 : 0.05}, lineStyle: {width: i === 0 ? 3 : 1.5, type: i === 0 ? "solid" : "dashed"}};
        })}]
      }));
    },
    levels: function (id, d) {
      var c = init(id); if (!c || !d || !d.series.length) { return; }
      c.setOption(opt({
        legend: {bottom: 0, textStyle: {fontFamily: FONT}},
        tooltip: {trigger: "axis", valueFormatter: function (v) { return v + "%"; }},
        grid: {left: 48, right: 16, top: 24, bottom: 56},
        xAxis: {type: "category", data: d.levels, axisLabel: {interval: 0, fontFamily: FONT}},
        yAxis: {type: "value", min: 0, axisLabel: {formatter: "{value}%"}},
        series: d.series.map(function (s) { return {type: "bar", name: s.name, data: s.value, label: {show: d.series.length === 1, position: "top", formatter: "{c}%"}}; })
      }));
    },
    ranking: function (id, d) {
      var c = init(id); if (!c || !d || !d.values.length) { return; }
      var el = document.getElementById(id);
      el.style.height = Math.max(240, 28 * d.values.length + 80) + "px";
      c.resize();
      c.setOption(opt({
        tooltip: {trigger: "axis", axisPointer: {type: "shadow"}},
        grid: {left: 8, right: 56, top: 28, bottom: 36, containLabel: true},
        xAxis: {type: "value", min: 0, max: 100, name: d.labels.index, nameLocation: "middle", nameGap: 26},
        yAxis: {type: "category", data: d.names, inverse: true, axisLabel: {fontFamily: FONT}},
        series: [{
          type: "bar", name: d.labels.index, barMaxWidth: 18,
          data: d.values.map(function (v, i) { return {value: v, itemStyle: {color: d.confidential[i] ? "#a0a7b0" : COLORS[0]}}; }),
          label: {show: true, position: "right", formatter: fixed},
          markLine: d.national === null ? undefined : {symbol: "none", data: [{xAxis: d.national, name: d.labels.national}],
            label: {position: "start", formatter: d.labels.national + " " + d.national.toFixed(1), fontFamily: FONT}, lineStyle: {color: "#0b57d0", type: "dashed"}}
        }]
      }));
    },
    trend: function (id, d) {
      var c = init(id); if (!c || !d || !d.periods.length) { return; }
      c.setOption(opt({
        legend: {bottom: 0, textStyle: {fontFamily: FONT}},
        tooltip: {trigger: "axis"},
        grid: {left: 48, right: 24, top: 24, bottom: 56},
        xAxis: {type: "category", data: d.periods},
        // from 0: an axis starting near the smallest score makes small changes look large
        // (no fixed top: the development index may pass 100)
        yAxis: {type: "value", name: d.labels.index, min: 0},
        series: d.lines.map(function (s, i) { return {type: "line", name: s.name, data: s.value, connectNulls: false, symbolSize: 8, lineStyle: {width: i === 0 ? 3 : 1.5}, label: {show: i === 0, position: "top", formatter: function (p) { return p.value === null ? "" : p.value.toFixed(1); }}}; })
      }));
    },
    shares: function (id, d) {
      var c = init(id); if (!c || !d || !d.periods.length) { return; }
      c.setOption(opt({
        legend: {bottom: 0, textStyle: {fontFamily: FONT}},
        tooltip: {trigger: "axis", valueFormatter: function (v) { return v === null ? "—" : v + "%"; }},
        grid: {left: 48, right: 24, top: 24, bottom: 56},
        xAxis: {type: "category", data: d.periods},
        yAxis: {type: "value", min: 0, max: 100, axisLabel: {formatter: "{value}%"}},
        series: d.levels.map(function (name, i) { return {type: "bar", stack: "levels", name: name, data: d.shares[i], barMaxWidth: 56}; })
      }));
    }
  };
  function drawAll() {
    charts.forEach(function (c) { c.dispose(); });
    charts = [];
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      var kind = el.getAttribute("data-chart");
      if (draw[kind]) { draw[kind](el.id, data(el.getAttribute("data-source"))); }
    });
  }
  function clickableRows() {
    document.querySelectorAll("tr.clickable[data-href]").forEach(function (tr) {
      tr.addEventListener("click", function (e) { if (e.target.closest("a")) { return; } window.location = tr.getAttribute("data-href"); });
    });
  }
  function ready() { drawAll(); clickableRows(); }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", ready); } else { ready(); }
  document.addEventListener("htmx:afterSettle", drawAll);
  // Printing scales the SVG through its viewBox (print stylesheet); redrawing at print time
  // would fight that, so charts follow the window only on screen.
  var print = window.matchMedia ? window.matchMedia("print") : null;
  window.addEventListener("resize", function () {
    if (print && print.matches) { return; }
    charts.forEach(function (c) { c.resize(); });
  });
})();
