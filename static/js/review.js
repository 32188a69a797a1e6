/* The reviewer's part of the workspace shell (static/js/shell.js): its
 * decisions. The shell gives Enter (resolve with the chosen value, or
 * record the blind label), the task type's keys (choose the gold value or
 * the blind label), Shift+G and ?; this file adds:
 *
 * - Shift+1…9 accept annotation 1…9, Shift+X exclude, Shift+B give back.
 *   Shift+digit is read from event.code ("Digit2"), the physical key, so it
 *   works on every layout: Shift+2 is "@" on a US keyboard and '"' on a
 *   German one. Task keys are single lowercase letters or digits pressed
 *   without Shift, so the two never collide;
 * - the reason's keys are Alt chords, which work in the reason field too and
 *   never type there (the key event is prevented): Alt+R the reason field,
 *   Alt+1…9 reason code 1…9, Alt+0 no code. Read by physical key (event.
 *   code), so Option+digit on a Mac chooses a code too instead of typing
 *   "¡". A plain key typed in a text field is text, Shift+R included; Esc
 *   there hands the keys back;
 * - what the shell says while sending, and why a request was not done: a
 *   401 says how to sign in again and keeps the form as it was.
 */
(function () {
  "use strict";

  var shell = window.AccordShell;

  function decisionForm() {
    return document.querySelector("#review [data-decision-form]");
  }

  // The form the task keys and Enter act on.
  function answerForm() {
    return document.querySelector("#review [data-blind-form]") || decisionForm();
  }

  // Shift+1…9 by the physical key: "Digit1"… (the top row) or "Numpad1"….
  function acceptNumber(event) {
    var match = /^(?:Digit|Numpad)([1-9])$/.exec(event.code || "");
    return match ? parseInt(match[1], 10) : 0;
  }

  function accept(n) {
    var form = decisionForm();
    var button = form && form.querySelector('button[data-accept="' + n + '"]');
    if (!button) return false;
    shell.send(form, button);
    return true;
  }

  function focusReason() {
    var reason = document.getElementById("reason");
    if (!reason) return false;
    reason.focus();
    return true;
  }

  function exclude() {
    var form = decisionForm();
    var reason = document.getElementById("reason");
    if (!form || !reason) return;
    if (!reason.value.trim()) {
      // The server would refuse it: ask for the reason first, here.
      reason.focus();
      shell.say("error", "Write why the item is excluded, press Esc, then Shift+X again.");
      return;
    }
    shell.send(form, form.querySelector("[data-exclude]"));
  }

  // Esc in the reason field (or the reason code) hands the keys back.
  function leaveField(event) {
    event.preventDefault();
    var target = event.target;
    target.blur();
    var form = answerForm();
    var back = form && (form.querySelector("input[name=value]:checked") || form.querySelector("[data-item-text]"));
    if (back) back.focus();
  }

  // Alt (Option) with the physical key: not AltGr, which is Ctrl+Alt on
  // Windows and types characters on many layouts.
  function reasonChord(event) {
    if (!event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return null;
    var code = event.code || "";
    if (code === "KeyR") return "reason";
    var match = /^(?:Digit|Numpad)([0-9])$/.exec(code);
    return match ? parseInt(match[1], 10) : null;
  }

  function chooseCode(n) {
    var select = document.getElementById("reason-code");
    if (!select) return false;
    // Option 0 is "(none)"; code n is option n.
    if (n >= select.options.length) {
      shell.say("error", "There is no reason code " + n + ".");
      return true;
    }
    select.selectedIndex = n;
    select.dispatchEvent(new Event("change", { bubbles: true }));
    shell.say("", n ? "Reason code: " + select.options[n].getAttribute("data-name") + "." : "No reason code.");
    return true;
  }

  function onChord(event) {
    var chord = reasonChord(event);
    if (chord === null || event.repeat) return false;
    if (chord === "reason" ? focusReason() : chooseCode(chord)) {
      event.preventDefault();
      return true;
    }
    return false;
  }

  function onShift(event) {
    var n = acceptNumber(event);
    if (n) {
      if (accept(n)) event.preventDefault();
      return;
    }
    var action = event.key.length === 1 ? event.key.toUpperCase() : "";
    if (action === "X") {
      event.preventDefault();
      exclude();
    } else if (action === "B") {
      event.preventDefault();
      shell.send(document.getElementById("release-form"));
    }
  }

  shell.page("review", {
    answerForm: answerForm,
    submit: function (form) {
      shell.send(form, form && form.querySelector("[data-resolve]"));
    },
    onChord: onChord,
    onShift: onShift,
    onEscapeInField: leaveField,
    texts: {
      sending: "Sending…",
      offline: "Not sent: the server cannot be reached. Nothing was decided; check your connection, then try again.",
      // The form stays as it was: sign in (in a new tab), then send it again.
      login: "Not sent: your session has ended. Sign in again in a new tab, then press the same key again.",
      error: function (status) {
        return "Not sent: the server could not finish this request (" + status + "). Try again.";
      },
      refused: "Not done: see the marked field or the message below.",
    },
  });
})();
