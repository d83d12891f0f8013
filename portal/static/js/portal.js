/* Small behaviours of every page, declared with data- attributes instead of inline
   on*= handlers (the Content-Security-Policy allows no inline script):
   data-autosubmit        a select that submits its form when changed;
   data-print             a button that opens the print dialog;
   data-disable-on-submit a form whose submit buttons are disabled once it is sent;
   data-focus             an element focused when the page loads (the error summary);
   data-disables-text     a checkbox that disables the text field of its .kpi block;
   data-clears="#sel"     after its htmx request, the select #sel is emptied (region cascade).
   Events are delegated from the document, so content swapped in by htmx works too. */
(function () {
  document.addEventListener("change", function (e) {
    var el = e.target;
    if (el.matches("select[data-autosubmit]") && el.form) { el.form.submit(); }
    if (el.matches("input[data-disables-text]")) {
      var text = el.closest(".kpi") && el.closest(".kpi").querySelector("input[type=text]");
      if (text) { text.disabled = el.checked; }
    }
  });
  document.addEventListener("click", function (e) {
    var el = e.target.closest("[data-print]");
    if (el) { window.print(); }
  });
  document.addEventListener("submit", function (e) {
    if (e.target.matches("form[data-disable-on-submit]")) {
      e.target.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
    }
  });
  document.addEventListener("htmx:afterRequest", function (e) {
    var el = e.target.closest && e.target.closest("[data-clears]");
    var target = el && document.querySelector(el.getAttribute("data-clears"));
    if (target) { target.innerHTML = '<option value="">—</option>'; }
  });
  function focusMarked() {
    var el = document.querySelector("[data-focus]");
    if (el) { el.focus(); }
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", focusMarked); } else { focusMarked(); }
})();
