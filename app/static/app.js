// Billchain pages: line items with live amounts on the issue form, and live bill status.
(function () {
  "use strict";

  // amount_fen = round_half_up(quantity × unit_price_fen), in integers (BigInt): no float touches money.
  function parseDecimal(text, maxDecimals) {
    var t = String(text || "").trim().replace(/[,，]/g, "");
    var m = /^(\d{1,12})(?:\.(\d+))?$/.exec(t);
    if (!m || (m[2] && m[2].length > maxDecimals)) return null;
    var frac = (m[2] || "");
    return { units: BigInt(m[1] + frac), scale: BigInt(10) ** BigInt(frac.length) };
  }
  function lineAmountFen(qtyText, priceText) {
    var q = parseDecimal(qtyText, 6), p = parseDecimal(priceText, 2);
    if (!q || !p) return null;
    var priceFen = p.units * (BigInt(100) / p.scale);
    var num = q.units * priceFen;
    return (num * BigInt(2) + q.scale) / (BigInt(2) * q.scale); // half up, non-negative
  }
  function formatFen(fen) {
    var s = fen.toString().padStart(3, "0");
    var yuan = s.slice(0, -2).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    return yuan + "." + s.slice(-2);
  }

  var form = document.getElementById("issue-form");
  if (form) {
    var tbody = form.querySelector("[data-items]");
    var template = document.getElementById("item-template");
    var totalEl = document.getElementById("preview-total");
    var capitalEl = document.getElementById("preview-capital");
    var capitalTimer = null;
    var nextIndex = tbody.querySelectorAll("[data-item-row]").length;
    var recompute = function () {
      var total = BigInt(0), ok = true;
      tbody.querySelectorAll("[data-item-row]").forEach(function (row) {
        var q = row.querySelector("[data-quantity]").value, p = row.querySelector("[data-unit-price]").value;
        var cell = row.querySelector("[data-amount]");
        if (!q && !p) { cell.textContent = "—"; return; }
        var a = lineAmountFen(q, p);
        if (a === null) { cell.textContent = "?"; ok = false; return; }
        cell.textContent = formatFen(a);
        total += a;
      });
      totalEl.textContent = ok ? "¥" + formatFen(total) : "¥" + formatFen(total) + " (?)";
      clearTimeout(capitalTimer);
      capitalEl.textContent = ok ? "…" : "—"; // never show words that disagree with the figures
      if (!ok) return;
      capitalTimer = setTimeout(function () {
        fetch(document.getElementById("issue-form").dataset.capitalUrl + "?fen=" + total.toString(), { credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.json() : null; })
          .then(function (d) { if (d) capitalEl.textContent = d.capital; });
      }, 200);
    };
    form.querySelector("[data-add-row]").addEventListener("click", function () {
      var html = template.innerHTML.replace(/__INDEX__/g, String(nextIndex++));
      tbody.insertAdjacentHTML("beforeend", html);
      tbody.lastElementChild.querySelector("input").focus();
    });
    tbody.addEventListener("click", function (e) {
      var btn = e.target.closest("[data-remove-row]");
      if (!btn) return;
      var rows = tbody.querySelectorAll("[data-item-row]");
      if (rows.length > 1) btn.closest("[data-item-row]").remove();
      else btn.closest("[data-item-row]").querySelectorAll("input").forEach(function (i) { i.value = ""; });
      recompute();
    });
    tbody.addEventListener("input", recompute);
    recompute();
  }

  // Bill page: poll the status while the bill waits for the chain, then reload once to show the anchoring.
  var status = document.getElementById("bill-status");
  if (status && status.dataset.status === "pending") {
    var poll = setInterval(function () {
      fetch(status.dataset.statusUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (d) {
          if (d && d.status !== "pending") { clearInterval(poll); window.location.reload(); }
        })
        .catch(function () {});
    }, 2000);
  }
})();

// Confirmations and print buttons by data attribute: no inline handlers, so the CSP can forbid them.
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) event.preventDefault();
  }, true);
  document.addEventListener("click", function (event) {
    var target = event.target.closest && event.target.closest("[data-print]");
    if (target) {
      event.preventDefault();
      window.print();
    }
  });
})();
