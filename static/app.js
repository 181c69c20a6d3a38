/* NovaTime web app: the little JavaScript the pages use (no inline scripts:
   the Content-Security-Policy forbids them). Every page shows its data
   without it; this only makes the running timer tick and pages live.

   Live updates: on a signed-in organization page (<body data-live-socket>)
   one WebSocket to this host's /ws/ (the session cookie authenticates it)
   turns every server event {type, op, data} into a DOM event on <body>
   named "nt-" + type with dots as dashes ("timer" -> "nt-timer",
   "chat.message" -> "nt-chat-message"), detail = the event. Pages listen
   with htmx, e.g. hx-trigger="nt-timer from:body", and re-fetch their own
   server-rendered fragment: the server stays the one place that renders.
   After a reconnect "nt-live" fires so every live fragment catches up on
   what it missed. */
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

  function fire(name, detail) {
    document.body.dispatchEvent(new CustomEvent(name, { detail: detail }));
  }

  // Close codes after which reconnecting cannot help: signed out (4401),
  // not a member / organization inactive (4403), no such organization (4404).
  var FINAL = { 4401: true, 4403: true, 4404: true };

  function connect(path, attempt) {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var socket;
    try {
      socket = new WebSocket(scheme + window.location.host + path);
    } catch (err) {
      return;
    }
    var keepalive = null;
    socket.onopen = function () {
      document.body.setAttribute("data-live-state", "open");
      if (attempt > 0) {
        fire("nt-live", null); // catch up on what happened while away
      }
      attempt = 0;
      keepalive = window.setInterval(function () {
        socket.send('{"type": "ping"}');
      }, 25000);
    };
    socket.onmessage = function (message) {
      var event;
      try {
        event = JSON.parse(message.data);
      } catch (err) {
        return;
      }
      if (event && typeof event.type === "string" && event.type !== "pong" && event.type !== "hello") {
        fire("nt-" + event.type.replace(/\./g, "-"), event);
      }
    };
    socket.onclose = function (close) {
      window.clearInterval(keepalive);
      document.body.setAttribute("data-live-state", "closed");
      if (FINAL[close.code]) {
        return;
      }
      // Exponential back-off with jitter, at most 30 s between tries.
      var delay = Math.min(30000, 1000 * Math.pow(2, attempt)) * (0.5 + Math.random() / 2);
      window.setTimeout(function () {
        connect(path, attempt + 1);
      }, delay);
    };
  }

  function start() {
    tick();
    window.setInterval(tick, 1000); // finds timers swapped in later, too
    var path = document.body.getAttribute("data-live-socket");
    if (path && "WebSocket" in window) {
      connect(path, 0);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
