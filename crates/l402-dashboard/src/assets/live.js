// Refreshes the recent payments every 5 s from /dashboard/recent.json
// (same origin; the CSP allows this file and nothing inline).
(function () {
  "use strict";
  var body = document.getElementById("recent-body");
  if (!body || !window.fetch) { return; }
  function cell(text, cls) {
    var td = document.createElement("td");
    td.textContent = text;
    if (cls) { td.className = cls; }
    return td;
  }
  function refresh() {
    fetch("/dashboard/recent.json", { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data || !data.recent) { return; }
        var rows = document.createDocumentFragment();
        data.recent.forEach(function (p) {
          var tr = document.createElement("tr");
          tr.appendChild(cell(p.paid_at));
          tr.appendChild(cell(p.endpoint || ""));
          tr.appendChild(cell(String(p.amount_sats), "num"));
          tr.appendChild(cell(p.payment_hash.slice(0, 16) + "\u2026", "mono"));
          rows.appendChild(tr);
        });
        body.replaceChildren(rows);
        var total = document.getElementById("total-payments");
        if (total) { total.textContent = String(data.totalPayments); }
      })
      .catch(function () {});
  }
  setInterval(refresh, 5000);
})();
