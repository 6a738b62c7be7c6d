// The order list and the order page: submit countdowns, the bulk selection count.
// Loaded after podhub.js (base.html's `scripts` block), so "select all" has ticked
// the boxes before the count runs.
(function () {
  "use strict";

  // Countdowns to the store's submit time, refreshed every 30 s and after htmx swaps.
  function fmt(ms) {
    var s = Math.floor(ms / 1000);
    if (s <= 0) return "submitting now";
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    if (d) return "submits in " + d + " d " + h + " h";
    if (h) return "submits in " + h + " h " + m + " min";
    return "submits in " + Math.max(1, m) + " min";
  }
  function tick() {
    document.querySelectorAll(".countdown[data-deadline]").forEach(function (el) {
      el.textContent = fmt(new Date(el.dataset.deadline) - new Date());
    });
  }
  // Bulk selection: the selected count; the bulk actions show once something is selected
  // (CSS: html.js-bulk #bulk-form:not(.has-selection): set once here, so a list swapped in
  // by htmx starts hidden; without this script they always show).
  document.documentElement.classList.add("js-bulk");
  function count() {
    var form = document.getElementById("bulk-form");
    if (!form) return;
    var n = form.querySelectorAll("input[name=order_ids]:checked").length;
    form.classList.toggle("has-selection", n > 0);
    var out = form.querySelector("[data-testid=selected-count]");
    if (out) out.textContent = n ? n + " selected" : "Select orders to pay, submit or cancel them";
  }
  document.addEventListener("change", function (e) {
    if (e.target.closest && e.target.closest("#bulk-form")) count();
  });
  document.body.addEventListener("htmx:afterSettle", function () { tick(); count(); });
  setInterval(tick, 30000);
  count();
})();
