// Character counters for scenario write-ups: counts as the server does (a line break is one
// character), shows how many remain of the limit in data-max-chars.
(function () {
  function count(text) { return text.replace(/\r\n?/g, "\n").length; }
  function update(area, out) {
    var max = parseInt(area.getAttribute("data-max-chars"), 10);
    var n = count(area.value);
    out.textContent = n + " / " + max;
    out.classList.toggle("field-error", n > max);
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".char-count").forEach(function (out) {
      var area = document.getElementById(out.getAttribute("data-for"));
      if (!area) return;
      update(area, out);
      area.addEventListener("input", function () { update(area, out); });
    });
  });
})();
