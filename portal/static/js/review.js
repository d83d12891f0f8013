/* The compact review page (filings/review.html), without inline script (CSP):
   - a hint link (data-open-item) or a #ind-… address opens the collapsed group holding the
     item and scrolls to it;
   - 全部展开 / 全部收起 (data-expand-all / data-collapse-all) open or close every group;
   - the decision bar counts the reasons typed (data-reason-count, texts in data-none /
     data-some with {n}), so a reviewer sees what "退回修改" will send. */
(function () {
  function openItem(id) {
    var item = id && document.getElementById(id);
    if (!item) { return; }
    var group = item.closest("details.review-dim");
    if (group) { group.open = true; }
    item.classList.add("is-target");
    item.scrollIntoView({ block: "center" });
  }
  function countReasons() {
    var label = document.querySelector("[data-reason-count]");
    if (!label) { return; }
    var n = 0;
    document.querySelectorAll("textarea[data-reason]").forEach(function (t) { if (t.value.trim()) { n += 1; } });
    label.textContent = n ? label.getAttribute("data-some").replace("{n}", n) : label.getAttribute("data-none");
  }
  document.addEventListener("click", function (e) {
    var link = e.target.closest("a[data-open-item]");
    if (link) {
      e.preventDefault();
      var id = link.getAttribute("href").slice(1);
      history.replaceState(null, "", "#" + id);
      openItem(id);
      return;
    }
    if (e.target.closest("[data-expand-all], [data-collapse-all]")) {
      var open = !!e.target.closest("[data-expand-all]");
      document.querySelectorAll("details.review-dim").forEach(function (d) { d.open = open; });
    }
  });
  document.addEventListener("input", function (e) {
    if (e.target.matches("textarea[data-reason]")) { countReasons(); }
  });
  window.addEventListener("hashchange", function () { openItem(location.hash.slice(1)); });
  document.addEventListener("DOMContentLoaded", function () {
    if (location.hash.indexOf("#ind-") === 0) { openItem(location.hash.slice(1)); }
    countReasons();
  });
})();
