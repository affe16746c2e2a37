// The portal's behaviour beyond plain HTML forms, with no inline script and no eval (the Content-Security-Policy
// allows neither): questions shown only while their `when` condition holds, the live preview (htmx.ajax), the
// warning before an edited script is replaced, and the status refresh that slows down while the tab is hidden.
// Every page works without it: the form is still checked and rendered by the server when it is sent.
(function () {
  "use strict";

  var PREVIEW_DELAY_MS = 350;
  var POLL_VISIBLE_MS = 3000;
  var POLL_HIDDEN_MS = 30000;

  // Conditional questions -------------------------------------------------------------------------------------

  function answerOf(field) {
    // One question's answer as the server reads the form (applications.questions.answer_from_text).
    var kind = field.dataset.kind;
    var inputs = Array.prototype.slice.call(field.querySelectorAll("input:not([type=hidden]), select, textarea"));
    if (kind === "boolean") return inputs.length ? inputs[0].checked : false;
    if (kind === "multi_choice") return inputs.filter(function (i) { return i.checked; }).map(function (i) { return i.value; });
    if (inputs.length && inputs[0].type === "radio") {
      var chosen = inputs.filter(function (i) { return i.checked; })[0];
      return chosen ? chosen.value : null;
    }
    var value = inputs.length ? inputs[0].value : "";
    return value === "" ? null : value;
  }

  function holds(value, expected) {
    var allowed = Array.isArray(expected) ? expected : [expected];
    return allowed.some(function (item) { return String(item) === String(value); });
  }

  function applyConditions(form) {
    // In order, as the server does: a question applies when every earlier answer its `when` names is allowed.
    var answers = {};
    form.querySelectorAll(".field[data-question]").forEach(function (field) {
      var when = {};
      try { when = JSON.parse(field.dataset.when || "{}"); } catch (error) { when = {}; }
      var shown = Object.keys(when).every(function (name) {
        return Object.prototype.hasOwnProperty.call(answers, name) && holds(answers[name], when[name]);
      });
      field.hidden = !shown;
      field.querySelectorAll("input, select, textarea").forEach(function (input) { input.disabled = !shown; });
      if (shown) answers[field.dataset.question] = answerOf(field);
    });
  }

  // Live preview ------------------------------------------------------------------------------------------------

  function setUpForm(form) {
    var marker = document.getElementById("entrypoint_edited");
    var edited = !!(marker && marker.value === "true");
    var timer = null;

    function preview() {
      timer = null;
      if (edited) { warn(); return; }
      htmx.ajax("POST", form.getAttribute("data-preview"), { source: form, target: "#preview", swap: "innerHTML" });
    }

    function warn() {
      var target = document.getElementById("preview");
      if (!target || document.getElementById("edit-warning")) return;
      var bar = document.createElement("div");
      bar.className = "warning-bar";
      bar.id = "edit-warning";
      bar.setAttribute("role", "alert");
      var text = document.createElement("span");
      text.textContent = "You edited the script, so the preview no longer follows the form.";
      var button = document.createElement("button");
      button.type = "button";
      button.id = "replace-edit";
      button.textContent = "Discard my edit and update the preview";
      button.addEventListener("click", function () {
        edited = false;
        if (marker) marker.value = "";
        preview();
      });
      bar.appendChild(text);
      bar.appendChild(button);
      target.insertBefore(bar, target.firstChild);
    }

    form.addEventListener("input", function (event) {
      applyConditions(form);
      if (event.target.name === "preset_name" || event.target.name === "entrypoint") return;
      if (timer) clearTimeout(timer);
      timer = setTimeout(preview, PREVIEW_DELAY_MS);
    });
    form.addEventListener("change", function () { applyConditions(form); });
    document.addEventListener("input", function (event) {
      if (event.target.id === "entrypoint" || (event.target.name === "entrypoint" && event.target.form === form)) {
        edited = true;
        if (marker) marker.value = "true";
      }
    }, true);
    applyConditions(form);
    if (!edited) preview();
  }

  // Status refresh ----------------------------------------------------------------------------------------------

  function setUpPolling() {
    var timer = null;

    function schedule() {
      var panel = document.getElementById("status");
      if (!panel || !panel.dataset.poll || panel.dataset.final === "true") return;
      if (timer) clearTimeout(timer);
      timer = setTimeout(refresh, document.visibilityState === "hidden" ? POLL_HIDDEN_MS : POLL_VISIBLE_MS);
    }

    function refresh() {
      timer = null;
      var panel = document.getElementById("status");
      if (!panel || !panel.dataset.poll) return;
      htmx.ajax("GET", panel.dataset.poll, { target: "#status", swap: "outerHTML" }).then(schedule, schedule);
    }

    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible" && timer) { clearTimeout(timer); refresh(); }
    });
    schedule();
  }

  // Job output ---------------------------------------------------------------------------------------------------
  // Each answer to a panel's poller is the text after what is shown and the next poller (portal/views.py,
  // submission_output), which htmx swaps in: the text is escaped by the server and lands as text. Here only what
  // htmx does not do without eval: wait while the tab is hidden, try again after a failure, keep the end in view.

  function isOutputPoller(element) {
    return element && element.classList && element.classList.contains("output-poll");
  }

  function setUpOutput() {
    var waiting = [];

    document.addEventListener("htmx:confirm", function (event) {
      if (!isOutputPoller(event.target) || document.visibilityState !== "hidden") return;
      event.preventDefault();  // looked again when the tab is shown, or after the hidden pace
      var go = function () {
        if (waiting.indexOf(go) < 0) return;
        waiting.splice(waiting.indexOf(go), 1);
        event.detail.issueRequest(true);
      };
      waiting.push(go);
      setTimeout(go, POLL_HIDDEN_MS);
    });
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible") waiting.slice().forEach(function (go) { go(); });
    });

    function retry(event) {
      var poller = event.detail.elt;
      if (!isOutputPoller(poller)) return;
      setTimeout(function () {
        if (poller.isConnected) {
          htmx.ajax("GET", poller.getAttribute("hx-get"), { source: poller, target: poller, swap: "outerHTML" });
        }
      }, POLL_HIDDEN_MS);
    }
    document.addEventListener("htmx:sendError", retry);
    document.addEventListener("htmx:responseError", retry);

    document.addEventListener("htmx:beforeSwap", function (event) {
      if (!isOutputPoller(event.detail.target)) return;
      var log = event.detail.target.closest("pre");
      if (log && log.scrollTop + log.clientHeight >= log.scrollHeight - 4) {
        setTimeout(function () { log.scrollTop = log.scrollHeight; }, 0);
      }
    });
  }

  setUpOutput();  // listeners on the document, before htmx sends the panels' first looks

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("run-form");
    // getAttribute, not form.dataset: a form's inputs are its properties too, and a question may be named "dataset".
    if (form && form.getAttribute("data-preview") && window.htmx) setUpForm(form);
    if (window.htmx) setUpPolling();
  });
})();
