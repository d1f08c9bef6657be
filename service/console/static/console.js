// The console's small behaviours, without inline script (the CSP forbids it): due-time countdowns,
// the draft's character count against the channel limit, keyboard shortcuts, auto-submitting selects,
// confirmations. Everything works without it too: plain forms and links.
(function () {
  "use strict";
  var body = document.body;

  function fmt(seconds) {
    var s = Math.abs(Math.round(seconds));
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    if (d) return d + "d " + h + "h";
    if (h) return h + "h " + m + "m";
    return m + "m " + (r < 10 ? "0" : "") + r + "s";
  }

  function tickDue() {
    var now = Date.now();
    document.querySelectorAll("time.due[datetime]").forEach(function (el) {
      var left = (Date.parse(el.getAttribute("datetime")) - now) / 1000;
      if (isNaN(left)) return;
      el.classList.toggle("overdue", left < 0);
      el.classList.toggle("soon", left >= 0 && left < 900);
      el.textContent = left < 0 ? body.dataset.dueOver + " " + fmt(left) : body.dataset.dueIn + " " + fmt(left);
    });
  }

  function count(textarea) {
    var counter = document.getElementById("counter");
    if (!counter) return;
    var limit = parseInt(textarea.dataset.limit, 10);
    var n = Array.from(textarea.value).length; // code points, as the server counts them
    var over = limit && n > limit;
    counter.textContent = n + " / " + limit + " " + body.dataset.characters + (over ? " · " + body.dataset.overLimit : "");
    counter.classList.toggle("over", !!over);
    textarea.classList.toggle("over", !!over);
  }

  function rows() { return Array.from(document.querySelectorAll("tr.queue-item")); }
  var selected = -1;
  function select(i) {
    var all = rows();
    if (!all.length) return;
    selected = Math.max(0, Math.min(all.length - 1, i));
    all.forEach(function (r, k) { r.classList.toggle("selected", k === selected); });
    all[selected].scrollIntoView({ block: "nearest" });
  }

  function click(id) { var el = document.getElementById(id); if (el) el.click(); return !!el; }

  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    var tag = (e.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select" || e.target.isContentEditable) {
      if (e.key === "Escape") e.target.blur();
      return;
    }
    var onQueue = rows().length > 0;
    switch (e.key) {
      case "j": case "n":
        if (onQueue) select(selected + 1); else if (!click("next-post")) return;
        break;
      case "k":
        if (onQueue) select(selected - 1); else if (!click("back-to-queue")) return;
        break;
      case "Enter": case "o":
        if (onQueue && selected >= 0) window.location.href = rows()[selected].dataset.href; else return;
        break;
      case "a": if (!click("approve")) return; break;
      case "g": if (!click("regenerate")) return; break;
      case "r": var reason = document.getElementById("reject-reason"); if (!reason) return; reason.focus(); break;
      default: return;
    }
    e.preventDefault();
  });

  document.addEventListener("change", function (e) {
    if (e.target.matches("select[data-autosubmit]")) e.target.form.requestSubmit();
  });
  document.addEventListener("submit", function (e) {
    var message = e.target.dataset.confirm;
    if (message && !window.confirm(message)) e.preventDefault();
  });
  document.addEventListener("input", function (e) { if (e.target.id === "draft-text") count(e.target); });
  document.addEventListener("htmx:afterSwap", function () { tickDue(); if (selected >= 0) select(selected); });

  var textarea = document.getElementById("draft-text");
  if (textarea) count(textarea);
  tickDue();
  setInterval(tickDue, 1000);
})();
