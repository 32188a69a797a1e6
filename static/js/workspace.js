/* The annotator's part of the workspace shell (static/js/shell.js): its
 * actions on an item and the count of active time.
 *
 * - keys: Shift+S opens the skip form (its reason has the focus), Shift+L
 *   puts the item back for later, Shift+U undoes the last submission; Esc
 *   closes the skip form. Typed while the next item loads, Shift+S/L/U are
 *   kept by the shell; only an undo is applied to the item that then shows
 *   (it acts on the last submission, not on the unseen item);
 * - active time: counted while the tab is visible and focused, sent with
 *   the answer (active_ms).
 */
(function () {
  "use strict";

  var shell = window.AccordShell;
  var active = { ms: 0, since: null };

  function answerForm() {
    return document.getElementById("answer-form");
  }

  function closeSkip(focusSummary) {
    var box = document.getElementById("skip-box");
    if (!box || !box.open) return;
    box.open = false;
    var summary = box.querySelector("summary");
    if (summary && focusSummary) summary.focus();
  }

  function onShift(event) {
    var action = event.key.length === 1 ? event.key.toUpperCase() : "";
    if (action === "S") {
      var skipBox = document.getElementById("skip-box");
      if (!skipBox || shell.busy()) return;
      // Prevented, or the "S" would be typed into the reason that now has the focus.
      event.preventDefault();
      skipBox.open = true;
      var reason = document.getElementById("skip-reason");
      if (reason) reason.focus();
    } else if (action === "L" || action === "U") {
      var form = document.getElementById(action === "L" ? "later-form" : "undo-form");
      if (!form || shell.busy()) return;
      event.preventDefault();
      form.requestSubmit();
    }
  }

  // --- active time ---------------------------------------------------------------
  function startClock(form) {
    active.ms = 0;
    active.since = form && document.visibilityState === "visible" && document.hasFocus() ? Date.now() : null;
  }

  function pauseClock() {
    if (active.since !== null) {
      active.ms += Date.now() - active.since;
      active.since = null;
    }
  }

  function resumeClock() {
    if (active.since === null && answerForm() && document.visibilityState === "visible") {
      active.since = Date.now();
    }
  }

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") resumeClock();
    else pauseClock();
  });
  window.addEventListener("blur", pauseClock);
  window.addEventListener("focus", resumeClock);

  // Capture phase: runs before htmx reads the form.
  document.addEventListener(
    "submit",
    function (event) {
      var form = event.target;
      if (!form.matches || !form.matches("#workspace [data-answer-form]")) return;
      var field = form.querySelector("[data-active-ms]");
      if (!field) return;
      var total = active.ms + (active.since !== null ? Date.now() - active.since : 0);
      field.value = String(Math.max(0, Math.round(total)));
    },
    true
  );

  shell.page("workspace", {
    answerForm: answerForm,
    onItem: startClock,
    onShift: onShift,
    // Esc in the skip reason closes the skip form; the focus goes back to its summary.
    onEscapeInField: function (event) {
      if (event.target.closest("#skip-box")) closeSkip(true);
    },
    onEscape: function () {
      closeSkip(false);
    },
    aheadShift: "SLU",
    replayShift: function (key) {
      var undo = key === "U" && document.getElementById("undo-form");
      if (undo) undo.requestSubmit();
      return !!undo;
    },
  });
})();
