// Orders list: leave empty filters out of the address, so links people share read
// /orders?status=allocated rather than /orders?q=&channel=&hold=&status=allocated.
// The form works the same without this file.
(function () {
  "use strict";
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!form.matches || !form.matches("form.orders-filters")) { return; }
    Array.prototype.forEach.call(form.elements, function (el) {
      if (el.name && (el.type !== "checkbox") && el.value === "") { el.disabled = true; }
    });
    // Re-enable after the browser has read the form, so "back" shows the fields usable.
    window.setTimeout(function () {
      Array.prototype.forEach.call(form.elements, function (el) { el.disabled = false; });
    }, 0);
  });
})();
