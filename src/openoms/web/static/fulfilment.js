// Fulfilment order page: "Add package" for shipments in several parcels, and printing the pick
// list. Without this file the ship form sends one package, which is the usual case.
(function () {
  "use strict";
  var list = document.querySelector("[data-packages]");
  var template = document.getElementById("package-template");
  var add = document.querySelector("[data-add-package]");

  function renumber() {
    var boxes = list.querySelectorAll("fieldset.package");
    Array.prototype.forEach.call(boxes, function (box, i) {
      box.querySelector("legend").textContent = "Package " + (i + 1);
      var remove = box.querySelector("[data-remove-package]");
      if (remove) { remove.textContent = "Remove package " + (i + 1); remove.hidden = false; }
    });
    if (add) { add.disabled = boxes.length >= Number(list.getAttribute("data-max") || 50); }
  }

  if (list && template && add) {
    add.hidden = false;
    add.addEventListener("click", function () {
      var next = 0;
      Array.prototype.forEach.call(list.querySelectorAll("fieldset.package"), function (box) {
        next = Math.max(next, Number(box.getAttribute("data-package")) + 1);
      });
      var html = template.innerHTML.split("__P__").join(String(next)).split("__N__").join(String(next + 1));
      list.insertAdjacentHTML("beforeend", html);
      renumber();
      var added = list.lastElementChild;
      var first = added && added.querySelector("input");
      if (first) { first.focus(); }
    });
    list.addEventListener("click", function (ev) {
      var button = ev.target.closest && ev.target.closest("[data-remove-package]");
      if (!button) { return; }
      button.closest("fieldset.package").remove();
      renumber();
      add.focus();
    });
    renumber();
  }

  var print = document.querySelector("[data-print]");
  if (print) {
    print.hidden = false;
    print.addEventListener("click", function () { window.print(); });
  }
  var summary = document.querySelector("[data-focus]");
  if (summary) { summary.focus(); }
})();
