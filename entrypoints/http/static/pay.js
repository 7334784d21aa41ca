// Paygate's hosted pay page: counts down to the payment's expiry, watches its status and, once the
// payment is settled, sends the customer back to the marketplace's return URL.
(function () {
  "use strict";
  var page = document.getElementById("pay");
  var statusLine = document.getElementById("status");
  var countdown = document.getElementById("countdown");
  var POLL_MS = 3000;
  var RETURN_AFTER_MS = 1500;

  function returnTo(url) {
    if (url) { setTimeout(function () { window.location.assign(url); }, RETURN_AFTER_MS); }
  }

  function show(view) {
    statusLine.textContent = view.status_text;
    statusLine.dataset.status = view.status;
    statusLine.dataset.final = String(view.final);
    if (view.final) {
      var kaspi = document.getElementById("kaspi");
      if (kaspi) { kaspi.hidden = true; }
      returnTo(view.return_url);
    }
  }

  function poll() {
    fetch(page.dataset.statusUrl, { cache: "no-store", credentials: "omit" })
      .then(function (answer) { return answer.ok ? answer.json() : null; })
      .then(function (view) {
        if (view) { show(view); }
        if (!view || !view.final) { setTimeout(poll, POLL_MS); }
      })
      .catch(function () { setTimeout(poll, POLL_MS); });
  }

  function tick() {
    var left = Math.max(0, Date.parse(page.dataset.expiresAt) - Date.now());
    var minutes = Math.floor(left / 60000);
    var seconds = Math.floor((left % 60000) / 1000);
    countdown.textContent = minutes + ":" + (seconds < 10 ? "0" : "") + seconds;
    if (left > 0) { setTimeout(tick, 1000); }
  }

  if (countdown && page.dataset.expiresAt) { tick(); }
  if (page.dataset.final === "true") { returnTo(page.dataset.returnUrl); } else { poll(); }
})();
