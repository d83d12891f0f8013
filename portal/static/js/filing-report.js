/* Radar of the enterprise report: data from the json_script block "radar-data". */
(function () {
 function draw() {
  var data = JSON.parse(document.getElementById("radar-data").textContent);
  var chart = echarts.init(document.getElementById("radar"), null, {renderer: "svg"});
  chart.setOption({
    animation: false,
    radar: {indicator: data.indicators.map(function (i) { return Object.assign({min: 0}, i); }), radius: "65%", axisName: {color: "#1f2328"}},
    series: [{type: "radar", data: [{value: data.values, name: data.name, areaStyle: {opacity: 0.2}}], label: {show: true}}],
    color: ["#b3261e"]
  });
  // Re-lay the chart out for paper: the print layout is narrower than the screen.
  var relayout = function () { chart.resize(); };
  window.addEventListener("beforeprint", relayout);
  window.addEventListener("afterprint", relayout);
  window.matchMedia("print").addEventListener("change", relayout);
 }
 // Runs on a normal load and when htmx swaps the finished report in after polling.
 if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", draw); } else { draw(); }
})();
