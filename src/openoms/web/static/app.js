// OpenOMS back office: small progressive enhancements. Every page works without this file.
(function () {
  "use strict";
  // Forms that do something drastic ask first: <form data-confirm="Cancel this order?">.
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { ev.preventDefault(); }
  }, true);
  // Rows that link somewhere: <tr data-href="/orders/12"> (the row also contains a real link).
  document.addEventListener("click", function (ev) {
    var row = ev.target.closest && ev.target.closest("tr[data-href]");
    if (!row || ev.target.closest("a, button, input, select, label, summary")) { return; }
    window.location.href = row.getAttribute("data-href");
  });
  // Auto-submit filters: <select data-autosubmit>.
  document.addEventListener("change", function (ev) {
    if (ev.target.matches && ev.target.matches("[data-autosubmit]")) { ev.target.form.requestSubmit(); }
  });
  window.OpenOMS = {
    csrf: function () { var m = document.querySelector('meta[name="csrf-token"]'); return m ? m.content : ""; },
  };
})();
