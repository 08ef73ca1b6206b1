// Polls the LNURL-auth login until a wallet signs it, then opens the dashboard.
(function () {
  "use strict";
  var box = document.getElementById("lnurl");
  if (!box || !window.fetch) { return; }
  var k1 = box.getAttribute("data-k1");
  function poll() {
    fetch("/dashboard/login/lnurl/poll?k1=" + encodeURIComponent(k1), { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.json(); })
      .then(function (d) {
        if (d.signedIn) { window.location.assign("/dashboard"); return; }
        if (d.error) { document.getElementById("lnurl-status").textContent = d.message || d.error; return; }
        setTimeout(poll, 1500);
      })
      .catch(function () { setTimeout(poll, 3000); });
  }
  setTimeout(poll, 1500);
})();
