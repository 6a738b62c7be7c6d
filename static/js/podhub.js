// PodHub's page behaviour, loaded by base.html on every page. There is no inline
// script anywhere (no <script> bodies, no on* attributes, no javascript: links):
// the Content-Security-Policy forbids it (docs/security.md, "Headers and CSP").
// Templates ask for behaviour with data- attributes instead:
//   <form data-confirm="Cancel order #1001?">   ask before the form is sent
//   <select data-autosubmit>                    send its form when the choice changes
//   <input type=checkbox data-select-all[="name"]>  tick every box of that name
//                                               in its form (default: order_ids)
//   <button data-print>                         the browser's print dialog
//   <a data-open-details=id>                    open that <details> and scroll to it
//   <button data-menu-toggle aria-controls=id>  on small screens, fold the navigation
//                                               (shown once this file runs: without
//                                               JavaScript the navigation stays open)
(function () {
  "use strict";

  // Show htmx error responses (409 with a reason, 400 ...) instead of failing silently.
  document.addEventListener("htmx:responseError", function (e) {
    var box = document.getElementById("htmx-error");
    if (!box) return;
    box.textContent = e.detail.xhr.responseText.slice(0, 500);
    box.hidden = false;
  });

  // Captured on the way down, so it runs before htmx's own submit handler on the form.
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      e.preventDefault();
      e.stopImmediatePropagation();
    }
  }, true);

  document.addEventListener("change", function (e) {
    var el = e.target;
    if (!el.matches) return;
    if (el.matches("select[data-autosubmit]") && el.form) el.form.submit();
    if (el.matches("input[type=checkbox][data-select-all]")) {
      var name = el.dataset.selectAll || "order_ids";
      var within = el.closest("form") || document;
      within.querySelectorAll("input[type=checkbox]").forEach(function (box) {
        if (box.name === name && !box.disabled) box.checked = el.checked;
      });
    }
  });

  document.addEventListener("click", function (e) {
    if (e.target.closest && e.target.closest("[data-print]")) window.print();
    var opener = e.target.closest && e.target.closest("[data-open-details]");
    if (opener) {
      var details = document.getElementById(opener.getAttribute("data-open-details"));
      if (details) {
        e.preventDefault();
        details.open = true;
        details.scrollIntoView({block: "start"});
      }
    }
    var toggle = e.target.closest && e.target.closest("[data-menu-toggle]");
    if (toggle) {
      var open = toggle.getAttribute("aria-expanded") !== "true";
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
    }
  });

  // On a phone, wide tables scroll sideways inside their card (podhub.css): a region that
  // scrolls must be reachable by keyboard (WCAG 2.1.1), so those that do take focus.
  function focusableScrollers() {
    document.querySelectorAll("main table").forEach(function (table) {
      var scrolls = table.scrollWidth > table.clientWidth;
      if (scrolls && !table.hasAttribute("tabindex")) {
        table.tabIndex = 0;
        table.dataset.scrollFocus = "";
      } else if (!scrolls && "scrollFocus" in table.dataset) {
        table.removeAttribute("tabindex");
        delete table.dataset.scrollFocus;
      }
    });
  }
  focusableScrollers();
  document.addEventListener("htmx:afterSettle", focusableScrollers);
  window.addEventListener("resize", focusableScrollers);

  // The CSS folds #navpanel on small screens only when the page has a menu button.
  document.querySelectorAll("[data-menu-toggle]").forEach(function (button) {
    button.hidden = false;
    document.documentElement.classList.add("has-menu");
  });
})();
