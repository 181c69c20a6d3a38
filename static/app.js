/* NovaTime web app: the little JavaScript the pages use (no inline scripts:
   the Content-Security-Policy forbids them). Everything works without it;
   this only makes the running timer tick. */
(function () {
  "use strict";

  function pad(n) {
    return (n < 10 ? "0" : "") + n;
  }

  function elapsed(since) {
    var total = Math.max(0, Math.floor((Date.now() - since) / 1000));
    var hours = Math.floor(total / 3600);
    var minutes = Math.floor((total % 3600) / 60);
    return hours + ":" + pad(minutes) + ":" + pad(total % 60);
  }

  function tick() {
    var timers = document.querySelectorAll("[role=timer][data-started-at]");
    for (var i = 0; i < timers.length; i++) {
      var since = Date.parse(timers[i].getAttribute("data-started-at"));
      if (!isNaN(since)) {
        timers[i].textContent = elapsed(since);
      }
    }
  }

  function start() {
    if (document.querySelector("[role=timer][data-started-at]")) {
      tick();
      window.setInterval(tick, 1000);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
