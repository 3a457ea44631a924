// Phone-order form: type-ahead for customers and SKUs, live stock per location under each
// line, add/remove lines, running totals. The form works without this file (5 blank lines,
// "Check stock" re-shows it with stock); this only makes it quicker.
(function () {
  "use strict";
  var form = document.getElementById("phone-order");
  if (!form) { return; }
  var currency = form.getAttribute("data-currency") || "USD";
  var nextRow = parseInt(form.getAttribute("data-next-row"), 10) || 0;
  var table = form.querySelector(".lines-table");
  var template = document.getElementById("line-template");
  var products = {};  // SKU -> last look-up result, for totals and "short by" notes
  var digits = 2;
  try { digits = new Intl.NumberFormat("en-US", { style: "currency", currency: currency }).resolvedOptions().maximumFractionDigits; } catch (e) { /* keep 2 */ }

  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function num(n) { return Number(n).toLocaleString("en-US"); }
  function money(minor) {
    return (minor / Math.pow(10, digits)).toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits }) + " " + currency;
  }
  // "24.5" -> 2450 (minor units) without floating-point surprises; null when not an amount.
  function toMinor(text) {
    var t = String(text || "").replace(/[,$\s]/g, "");
    var m = /^(\d+)(?:\.(\d*))?$/.exec(t);
    if (!m) { return null; }
    var frac = (m[2] || "");
    if (frac.length > digits) { return null; }
    while (frac.length < digits) { frac += "0"; }
    return parseInt(m[1] + frac, 10);
  }
  function debounce(fn, ms) {
    var t;
    return function () { var args = arguments, self = this; clearTimeout(t); t = setTimeout(function () { fn.apply(self, args); }, ms); };
  }
  function getJSON(url, signal) {
    return fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin", signal: signal })
      .then(function (r) {
        var type = r.headers.get("content-type") || "";
        if (!r.ok || type.indexOf("application/json") === -1) { throw new Error("look-up failed (" + r.status + ")"); }
        return r.json();
      });
  }

  // --- a small accessible combobox (WAI-ARIA 1.2 list autocomplete) ---------------------------
  function Combo(input, opts) {
    var list = document.getElementById(input.getAttribute("aria-controls"));
    var items = [], active = -1, ctrl = null, lastQuery = null;
    function close() {
      list.hidden = true; input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant"); active = -1;
    }
    function highlight(i) {
      var nodes = list.querySelectorAll("[role=option]");
      nodes.forEach(function (n, j) { n.setAttribute("aria-selected", j === i ? "true" : "false"); });
      active = i;
      if (i >= 0 && nodes[i]) {
        input.setAttribute("aria-activedescendant", nodes[i].id);
        nodes[i].scrollIntoView({ block: "nearest" });
      } else { input.removeAttribute("aria-activedescendant"); }
    }
    function pick(i) {
      var item = items[i];
      close();
      if (item) { opts.onPick(item); }
    }
    function render(found, query) {
      items = found;
      list.innerHTML = "";
      if (!found.length) {
        if (!opts.emptyText) { close(); return; }
        var li = document.createElement("li");
        li.className = "combo-empty"; li.setAttribute("role", "presentation");
        li.textContent = opts.emptyText(query);
        list.appendChild(li);
      }
      found.forEach(function (item, i) {
        var li = document.createElement("li");
        li.id = input.id + "-opt-" + i;
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", "false");
        li.innerHTML = opts.option(item);
        li.addEventListener("mousedown", function (ev) { ev.preventDefault(); });  // keep focus in the input
        li.addEventListener("click", function () { pick(i); });
        list.appendChild(li);
      });
      list.hidden = false; input.setAttribute("aria-expanded", "true");
      active = -1;
      // Open upwards when the list would run off the bottom of the window and fits above.
      var box = input.getBoundingClientRect(), height = list.offsetHeight;
      list.classList.toggle("combo-up", box.bottom + height + 8 > window.innerHeight && box.top - height - 8 > 56);
    }
    var search = debounce(function () {
      var q = input.value.trim();
      if (q.length < (opts.minLength || 1)) { close(); if (opts.onResults) { opts.onResults([], q); } return; }
      if (q === lastQuery && !list.hidden) { return; }
      lastQuery = q;
      if (ctrl) { ctrl.abort(); }
      ctrl = new AbortController();
      getJSON(opts.url + encodeURIComponent(q), ctrl.signal).then(function (data) {
        if (input.value.trim() !== q) { return; }
        if (opts.onResults) { opts.onResults(data.items, q); }
        if (document.activeElement === input) { render(data.items, q); }
      }).catch(function (err) { if (err.name !== "AbortError") { close(); } });
    }, 180);
    input.addEventListener("input", function () { lastQuery = null; search(); });
    input.addEventListener("focus", function () { if (input.value.trim()) { search(); } });
    input.addEventListener("blur", function () { setTimeout(close, 120); });
    input.addEventListener("keydown", function (ev) {
      var open = !list.hidden && items.length;
      if (ev.key === "ArrowDown") {
        ev.preventDefault();
        if (!open) { lastQuery = null; search(); return; }
        highlight(active < items.length - 1 ? active + 1 : 0);
      } else if (ev.key === "ArrowUp") {
        if (!open) { return; }
        ev.preventDefault();
        highlight(active > 0 ? active - 1 : items.length - 1);
      } else if (ev.key === "Enter") {
        if (open && active >= 0) { ev.preventDefault(); pick(active); }
        else if (!list.hidden) { ev.preventDefault(); close(); }
      } else if (ev.key === "Escape") {
        if (!list.hidden) { ev.preventDefault(); close(); }
      } else if (ev.key === "Tab" && open && active >= 0) {
        pick(active);
      }
    });
  }

  // --- stock under a line ---------------------------------------------------------------------
  function availabilityHTML(item, qty) {
    var badge;
    if (!item.active) { badge = '<span class="badge badge-bad">inactive: cannot be ordered</span>'; }
    else if (item.network_available <= 0) { badge = '<span class="badge badge-bad">out of stock</span>'; }
    else { badge = '<span class="badge badge-ok">' + num(item.network_available) + " available to ship</span>"; }
    var q = parseInt(qty, 10);
    if (q > 0 && String(q) === String(qty).trim() && q > item.network_available) {
      badge += ' <span class="badge badge-warn">' + q + " wanted: short by " + (q - item.network_available) + "</span>";
    }
    var price = item.list_price != null ? '<span class="muted">List ' + esc(Number(item.list_price).toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits })) + " " + esc(item.currency) + "</span>" : "";
    var html = '<div class="avail-head"><span class="avail-name">' + esc(item.name) + "</span> " + price + " " + badge + "</div>";
    if (!item.locations.length) {
      return html + '<p class="muted small">No stock has been booked for this SKU at any location.</p>';
    }
    function row(label, cell, cls) {
      return "<tr" + (cls ? ' class="' + cls + '"' : "") + '><th scope="row">' + label + "</th>" + item.locations.map(cell).join("") + "</tr>";
    }
    return html + '<div class="avail-scroll"><table class="avail"><caption class="visually-hidden">Stock of ' + esc(item.sku) + " by location</caption>" +
      "<thead><tr><td></td>" + item.locations.map(function (l) { return '<th scope="col" title="' + esc(l.name) + '">' + esc(l.location) + "</th>"; }).join("") + "</tr></thead><tbody>" +
      row("On hand", function (l) { return "<td>" + num(l.on_hand) + "</td>"; }) +
      row("Reserved", function (l) { return "<td>" + num(l.reserved) + "</td>"; }) +
      row("Available", function (l) { return '<td class="' + (l.available <= 0 ? "zero" : "") + '">' + num(l.available) + "</td>"; }, "avail-row") +
      row("Ships", function (l) { return "<td>" + (l.ships ? '<span class="ships-yes">Yes</span>' : '<span class="ships-no">No</span>') + "</td>"; }) +
      "</tbody></table></div>";
  }

  function parts(line) {
    return {
      sku: line.querySelector("[data-lookup=sku]"),
      qty: line.querySelector("[data-role=quantity]"),
      price: line.querySelector("[data-role=price]"),
      total: line.querySelector("[data-role=line-total]"),
      panel: line.querySelector(".avail-panel"),
      remove: line.querySelector("[data-action=remove-line]")
    };
  }

  function showStock(line) {
    var p = parts(line);
    var item = products[p.sku.value.trim()];
    if (item) {
      p.panel.innerHTML = availabilityHTML(item, p.qty.value);
      p.price.placeholder = item.list_price != null ? item.list_price : "List price";
    } else if (!p.sku.value.trim()) {
      p.panel.innerHTML = "";
      p.price.placeholder = "List price";
    }
  }

  function lookUpExact(line) {
    var p = parts(line), sku = p.sku.value.trim();
    if (!sku) { showStock(line); totals(); return; }
    if (products[sku]) { showStock(line); totals(); return; }
    getJSON("/orders/new/sku?q=" + encodeURIComponent(sku)).then(function (data) {
      data.items.forEach(function (it) { products[it.sku] = it; });
      if (p.sku.value.trim() === sku) { showStock(line); totals(); }
    }).catch(function () { /* the server checks on submit */ });
  }

  function wireLine(line) {
    var p = parts(line);
    new Combo(p.sku, {
      url: "/orders/new/sku?q=",
      option: function (it) {
        var avail = it.active ? '<strong class="' + (it.network_available > 0 ? "" : "none") + '">' + num(it.network_available) + "</strong>available" : '<strong class="none">inactive</strong>';
        return '<span class="opt-main mono">' + esc(it.sku) + '</span><span class="opt-side">' + avail + '</span><span class="opt-sub">' + esc(it.name) +
          (it.list_price != null ? " · " + esc(it.list_price) + " " + esc(it.currency) : "") + "</span>";
      },
      emptyText: function (q) { return "No product matches “" + q + "”"; },
      onResults: function (items, q) {
        items.forEach(function (it) { products[it.sku] = it; });
        // An exact SKU shows its stock as soon as it is typed, without picking it.
        if (products[q]) { showStock(line); totals(); }
        else { p.panel.innerHTML = ""; totals(); }
      },
      onPick: function (it) {
        products[it.sku] = it;
        p.sku.value = it.sku;
        showStock(line);
        totals();
        p.qty.focus();
        if (!p.qty.value) { p.qty.value = "1"; p.qty.select(); showStock(line); totals(); }
      }
    });
    p.sku.addEventListener("change", function () { lookUpExact(line); });
    p.qty.addEventListener("input", function () { showStock(line); totals(); });
    p.price.addEventListener("input", totals);
    p.remove.hidden = false;
    p.remove.addEventListener("click", function () { removeLine(line); });
  }

  function lines() { return Array.prototype.slice.call(table.querySelectorAll("tbody.line")); }
  function isBlank(line) {
    var p = parts(line);
    return !p.sku.value.trim() && !p.qty.value.trim() && !p.price.value.trim();
  }
  function renumber() {
    lines().forEach(function (line, i) {
      var n = i + 1, p = parts(line);
      line.querySelector(".ln-no").textContent = n;
      [["sku", "SKU"], ["quantity", "quantity"], ["unit_price", "unit price (" + currency + ")"]].forEach(function (f) {
        var label = line.querySelector('label[for$="-' + f[0] + '"]');
        if (label) { label.textContent = "Line " + n + " " + f[1]; }
      });
      p.remove.setAttribute("aria-label", "Remove line " + n);
    });
  }
  function addLine(focus) {
    var html = template.innerHTML.replace(/__ROW__/g, String(nextRow)).replace(/__NUM__/g, String(lines().length + 1));
    nextRow += 1;
    var holder = document.createElement("table");
    holder.innerHTML = html;
    var line = holder.querySelector("tbody.line");
    table.appendChild(line);
    wireLine(line);
    renumber();
    if (focus) { parts(line).sku.focus(); }
    return line;
  }
  function removeLine(line) {
    var all = lines(), i = all.indexOf(line);
    if (all.length === 1) {
      var p = parts(line);
      p.sku.value = ""; p.qty.value = ""; p.price.value = ""; showStock(line); totals(); p.sku.focus();
      return;
    }
    line.parentNode.removeChild(line);
    renumber(); totals();
    var rest = lines();
    parts(rest[Math.min(i, rest.length - 1)]).sku.focus();
  }

  // --- totals -----------------------------------------------------------------------------------
  function totals() {
    var subtotal = 0, count = 0, units = 0, unknown = false;
    lines().forEach(function (line) {
      var p = parts(line), qty = parseInt(p.qty.value, 10);
      var price = p.price.value.trim() ? toMinor(p.price.value) : toMinor(p.price.placeholder);
      if (!p.sku.value.trim() || !(qty > 0) || String(qty) !== p.qty.value.trim()) { p.total.textContent = ""; return; }
      count += 1; units += qty;
      if (price == null) { unknown = true; p.total.textContent = "—"; return; }
      p.total.textContent = money(price * qty);
      subtotal += price * qty;
    });
    var shipField = form.querySelector("#shipping_total");
    var shipping = shipField.value.trim() ? toMinor(shipField.value) : 0;
    var set = function (k, v) { form.querySelector('[data-total="' + k + '"]').textContent = v; };
    set("lines", count ? count + (count === 1 ? " line · " : " lines · ") + units + (units === 1 ? " unit" : " units") : "—");
    set("subtotal", count && !unknown ? money(subtotal) : "—");
    set("shipping", shipping == null ? "—" : money(shipping));
    set("grand", count && !unknown && shipping != null ? money(subtotal + shipping) : "—");
  }

  // --- customer -------------------------------------------------------------------------------
  var customerInput = document.getElementById("customer_email");
  var card = document.getElementById("customer-card");
  function showCustomer(c) {
    var initial = (c.name || c.email || "?").charAt(0).toUpperCase();
    card.innerHTML = '<span class="avatar" aria-hidden="true">' + esc(initial) + "</span><div><strong>" + esc(c.name || c.email) +
      '</strong><br><span class="muted small">' + esc(c.email) + (c.phone ? " · " + esc(c.phone) : "") +
      (c.orders ? " · " + c.orders + (c.orders === 1 ? " order" : " orders") + (c.last_order ? ", latest " + esc(c.last_order) : "") : " · no orders yet") + "</span></div>";
    card.hidden = false;
  }
  function fillAddress(c) {
    var fields = ["line1", "line2", "city", "region", "postal_code"];
    var empty = fields.every(function (f) { return !form.querySelector("#ship_" + f).value.trim(); });
    var name = form.querySelector("#ship_name");
    if (!name.value.trim() && c.name) { name.value = c.name; }
    var hint = document.getElementById("ship-hint");
    if (empty && c.last_address) {
      fields.concat(["country"]).forEach(function (f) {
        if (c.last_address[f]) { form.querySelector("#ship_" + f).value = c.last_address[f]; }
      });
      if (c.last_address.name) { name.value = c.last_address.name; }
      hint.textContent = "Filled in from " + (c.last_order || "their latest order") + "; check it with the caller.";
    } else { hint.textContent = ""; }
  }
  if (customerInput) {
    new Combo(customerInput, {
      url: "/orders/new/customers?q=",
      minLength: 2,
      option: function (c) {
        return '<span class="opt-main">' + esc(c.name || c.email) + '</span><span class="opt-side">' + (c.orders ? c.orders + (c.orders === 1 ? " order" : " orders") : "new") +
          '</span><span class="opt-sub">' + esc(c.email) + (c.phone ? " · " + esc(c.phone) : "") + "</span>";
      },
      emptyText: function (q) { return "No customer matches “" + q + "”. Choose New customer to add one."; },
      onPick: function (c) {
        customerInput.value = c.email;
        customerInput.removeAttribute("aria-invalid");
        showCustomer(c);
        fillAddress(c);
      }
    });
    customerInput.addEventListener("input", function () { card.hidden = true; });
  }

  // --- start ----------------------------------------------------------------------------------
  // Keep the lines that have something in them and one blank line; "Add line" adds more.
  var all = lines();
  for (var i = all.length - 1; i > 0; i--) {
    if (isBlank(all[i]) && isBlank(all[i - 1])) { all[i].parentNode.removeChild(all[i]); } else { break; }
  }
  lines().forEach(wireLine);
  nextRow = lines().reduce(function (m, l) { return Math.max(m, parseInt(l.getAttribute("data-row"), 10) + 1); }, 0);
  renumber();
  lines().forEach(function (line) { if (parts(line).sku.value.trim() && !parts(line).panel.innerHTML.trim()) { lookUpExact(line); } });
  var add = form.querySelector("[data-action=add-line]");
  add.hidden = false;
  add.addEventListener("click", function () { addLine(true); });
  var check = form.querySelector("[data-action=check]");
  if (check) { check.hidden = true; }
  form.querySelector("[data-totals-note]").textContent = "Tax is not calculated for phone orders.";
  form.querySelector("#shipping_total").addEventListener("input", totals);
  totals();

  form.addEventListener("submit", function (ev) {
    var create = form.querySelector("[data-action=create]");
    if (form.getAttribute("data-sent")) { ev.preventDefault(); return; }  // a double click sends once
    form.setAttribute("data-sent", "1");
    setTimeout(function () { create.disabled = true; create.textContent = "Creating order…"; }, 0);
  });
  // Back/forward cache: a restored page must be usable again.
  window.addEventListener("pageshow", function () {
    form.removeAttribute("data-sent");
    var create = form.querySelector("[data-action=create]");
    create.disabled = false; create.textContent = "Create order";
  });
  var summary = document.getElementById("error-summary");
  if (summary) {
    summary.focus();
    // A link in the summary takes the keyboard to the field, with its label in view.
    summary.addEventListener("click", function (ev) {
      var link = ev.target.closest("a[href^='#']");
      var target = link && document.getElementById(link.getAttribute("href").slice(1));
      if (!target) { return; }
      ev.preventDefault();
      var label = document.querySelector('label[for="' + target.id + '"]');
      var visible = label && label.offsetParent ? label : target;
      visible.scrollIntoView({ block: "center" });
      target.focus({ preventScroll: true });
    });
  }
})();
