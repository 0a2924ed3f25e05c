/*
 * ll-partial.js: Ledgerlink's own few lines of htmx-style behaviour (no third-party code).
 *
 *  - Polling: an element with hx-get="URL" hx-trigger="every Ns" is refreshed every N seconds by
 *    GET URL (header HX-Request: true); the HTML answer replaces its content (hx-swap="innerHTML").
 *    The answer is server-rendered and escaped by Django. Polling pauses while the tab is hidden,
 *    while focus or an open <details> is inside the element, and stops on a redirect (signed out).
 *  - JSON check: form[data-json-check=ID] checks textarea#ID with JSON.parse as you type and shows
 *    the error's line and column (the server checks again on submit).
 *  - Customer picker: input[data-customer-picker=URL] searches the Customers mirror and fills the
 *    CustomerRef value/name (and BillEmail when empty) quick-fix fields.
 *  - Quick-fix fields are mirrored into the payload textarea when it holds valid JSON.
 */
(function () {
  "use strict";

  function startPolling(el) {
    var trigger = el.getAttribute("hx-trigger") || "";
    var m = /every\s+(\d+)(ms|s)/.exec(trigger);
    if (!m) return;
    var ms = parseInt(m[1], 10) * (m[2] === "s" ? 1000 : 1);
    var url = el.getAttribute("hx-get");
    var busy = false;
    var timer = setInterval(function () {
      if (busy || document.hidden) return;
      if (el.contains(document.activeElement) && document.activeElement !== el) return;
      if (el.querySelector("details[open]")) return;
      busy = true;
      fetch(url, { headers: { "HX-Request": "true" }, credentials: "same-origin" })
        .then(function (resp) {
          if (resp.redirected || !resp.ok) {
            if (resp.redirected || resp.status === 403) clearInterval(timer);
            return null;
          }
          return resp.text();
        })
        .then(function (html) {
          if (html !== null && html !== undefined) {
            el.innerHTML = html;
            el.setAttribute("data-refreshed", new Date().toISOString());
          }
        })
        .catch(function () { /* offline: try again next tick */ })
        .then(function () { busy = false; });
    }, ms);
  }

  function lineCol(text, pos) {
    var before = text.slice(0, pos).split("\n");
    return { line: before.length, col: before[before.length - 1].length + 1 };
  }

  function jsonError(text) {
    try { JSON.parse(text); return null; } catch (e) {
      var msg = String(e.message || e);
      var lc = /line (\d+) column (\d+)/.exec(msg);
      if (lc) return { line: +lc[1], col: +lc[2], msg: msg };
      var pos = /position (\d+)/.exec(msg);
      if (pos) { var p = lineCol(text, +pos[1]); return { line: p.line, col: p.col, msg: msg }; }
      return { line: null, col: null, msg: msg };
    }
  }

  function caretTo(area, line, col) {
    var lines = area.value.split("\n");
    var offset = 0;
    for (var i = 0; i < line - 1 && i < lines.length; i++) offset += lines[i].length + 1;
    offset += Math.max(col - 1, 0);
    area.focus();
    area.setSelectionRange(offset, offset);
  }

  function setupJsonCheck(form) {
    var area = document.getElementById(form.getAttribute("data-json-check"));
    if (!area) return;
    var out = document.getElementById(area.getAttribute("aria-describedby"));
    var t = null;
    function check() {
      var err = jsonError(area.value);
      if (err) {
        area.setAttribute("aria-invalid", "true");
        if (out) out.textContent = "Invalid JSON" + (err.line ? " at line " + err.line + ", column " + err.col : "") + ": " + err.msg;
      } else {
        area.removeAttribute("aria-invalid");
        if (out) out.textContent = "";
      }
      return err;
    }
    area.addEventListener("input", function () { clearTimeout(t); t = setTimeout(check, 250); });
    var line = parseInt(area.getAttribute("data-error-line") || "", 10);
    if (line) caretTo(area, line, parseInt(area.getAttribute("data-error-col") || "1", 10));
    form.llCheck = check;
  }

  function mirrorQuickFix(form) {
    var area = form.querySelector("textarea[name=payload]");
    if (!area) return;
    function apply() {
      var payload;
      try { payload = JSON.parse(area.value); } catch (e) { return; }
      if (!payload || typeof payload !== "object" || Array.isArray(payload)) return;
      function val(n) { var el = form.querySelector("[name=" + n + "]"); return el ? el.value.trim() : ""; }
      var email = val("bill_email");
      var value = val("customer_value");
      var name = val("customer_name");
      if (email) payload.BillEmail = { Address: email };
      if (value) { payload.CustomerRef = { value: value }; if (name) payload.CustomerRef.name = name; }
      if (email || value) area.value = JSON.stringify(payload, null, 2);
    }
    ["bill_email", "customer_value", "customer_name"].forEach(function (n) {
      var input = form.querySelector("[name=" + n + "]");
      if (input) input.addEventListener("change", apply);
    });
    form.llApplyQuickFix = apply;
  }

  function setupPicker(input) {
    var url = input.getAttribute("data-customer-picker");
    var list = document.getElementById(input.getAttribute("aria-controls"));
    var form = input.form;
    var t = null;
    function choose(c) {
      form.querySelector("[name=customer_value]").value = c.value;
      form.querySelector("[name=customer_name]").value = c.name;
      var email = form.querySelector("[name=bill_email]");
      if (email && !email.value && c.email) email.value = c.email.split(",")[0].trim();
      list.textContent = "";
      var note = document.createElement("li");
      note.className = "muted";
      note.textContent = "Chosen: " + c.name + " (Id " + c.value + ")";
      list.appendChild(note);
      if (form.llApplyQuickFix) form.llApplyQuickFix();
      form.querySelector("[name=customer_value]").focus();
    }
    function search() {
      var q = input.value.trim();
      if (q.length < 2) { list.textContent = ""; return; }
      fetch(url + "&q=" + encodeURIComponent(q), { headers: { "HX-Request": "true" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : { results: [] }; })
        .then(function (data) {
          list.textContent = "";
          if (!data.results.length) {
            var none = document.createElement("li");
            none.className = "muted";
            none.textContent = "No customer matches.";
            list.appendChild(none);
          }
          data.results.forEach(function (c) {
            var li = document.createElement("li");
            var b = document.createElement("button");
            b.type = "button";
            b.className = "small";
            b.textContent = c.name + " — " + (c.email || "no email") + " (Id " + c.value + ")" + (c.active ? "" : " [inactive]");
            b.addEventListener("click", function () { choose(c); });
            li.appendChild(b);
            list.appendChild(li);
          });
        })
        .catch(function () {});
    }
    input.addEventListener("input", function () { clearTimeout(t); t = setTimeout(search, 250); });
    input.addEventListener("keydown", function (e) {
      if (e.key === "Enter") { e.preventDefault(); clearTimeout(t); search(); }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[hx-get][hx-trigger]").forEach(startPolling);
    document.querySelectorAll("form[data-json-check]").forEach(function (f) { setupJsonCheck(f); mirrorQuickFix(f); });
    document.querySelectorAll("input[data-customer-picker]").forEach(setupPicker);
  });
})();
