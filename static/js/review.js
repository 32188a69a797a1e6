/* The reviewer's workspace: keyboard and one request at a time.
 *
 * The server renders everything and every control is a plain form (see
 * review/views.py); this file only adds:
 *
 * - keys: a label's hotkey chooses the gold value (or the blind label),
 *   Shift+1…9 accept annotation 1…9, Enter resolves with the chosen value
 *   (or records the blind label), Shift+X exclude, Shift+B give back,
 *   Shift+G guidelines, ? the key map. Ignored while a text field or list
 *   has the focus, while an IME composes, with Ctrl/Alt/Meta, and for a held
 *   key (event.repeat). A key that acts is prevented from doing anything
 *   else, so no shortcut ever types;
 * - the reason's keys are Alt chords, which work in the reason field too and
 *   never type there (the key event is prevented): Alt+R the reason field,
 *   Alt+1…9 reason code 1…9, Alt+0 no code. Read by physical key (event.
 *   code), so Option+digit on a Mac chooses a code too instead of typing
 *   "¡". A plain key typed in a text field is text, Shift+R included;
 * - Shift+digit is read from event.code ("Digit2"), the physical key, so it
 *   works on every layout: Shift+2 is "@" on a US keyboard and '"' on a
 *   German one. Label hotkeys are single lowercase letters or digits
 *   pressed without Shift, so the two never collide;
 * - one request at a time: an in-flight flag here and hx-sync="#review:
 *   drop" on every form. A stale form is harmless anyway: it posts to its
 *   own review's URL;
 * - the focus moves to the new item after each swap, and what is being
 *   sent (or why it was not) is said in a live region; a 401 says how to
 *   sign in again and keeps the form as it was.
 */
(function () {
  "use strict";

  // Loaded by the page itself and possibly by the layout: wire once.
  if (window.__accordReview) return;
  window.__accordReview = true;

  var GUIDELINES_KEY = "accord:review-guidelines-open";
  var busy = false; // a review request (resolve, blind, release, next) is in flight

  function reviewPage() {
    return document.querySelector("[data-review-page]");
  }

  function inReview(elt) {
    return !!(elt && elt.closest && elt.closest("[data-review-page]"));
  }

  function decisionForm() {
    return document.querySelector("[data-decision-form]");
  }

  function blindForm() {
    return document.querySelector("[data-blind-form]");
  }

  // The form the label keys and Enter act on.
  function answerForm() {
    return blindForm() || decisionForm();
  }

  // --- the live region -------------------------------------------------------
  function say(state, text) {
    var region = document.querySelector("[data-review-status]");
    if (!region) return;
    region.setAttribute("data-state", state || "");
    // Writing the same words again would make some screen readers repeat them.
    if (region.textContent !== (text || "")) region.textContent = text || "";
  }

  // --- storage (the guidelines panel's state) --------------------------------
  var storage = window.AccordKeys.storage;

  function applyGuidelinesPreference() {
    var panel = document.querySelector("[data-review-guidelines]");
    var store = storage();
    if (!panel || !store || store.getItem(GUIDELINES_KEY) === null) return;
    panel.open = store.getItem(GUIDELINES_KEY) === "1";
  }

  function toggleGuidelines() {
    var panel = document.querySelector("[data-review-guidelines]");
    if (!panel) return;
    panel.open = !panel.open;
    var store = storage();
    if (store) store.setItem(GUIDELINES_KEY, panel.open ? "1" : "0");
    if (panel.open) {
      var body = panel.querySelector(".ws-guidelines__body");
      if (body) body.focus();
    } else {
      var summary = panel.querySelector("summary");
      if (summary) summary.focus();
    }
  }

  // --- key map -----------------------------------------------------------------
  function openKeymap() {
    var dialog = document.getElementById("keymap");
    if (!dialog || dialog.open || !inReview(dialog)) return;
    dialog.showModal();
    var close = dialog.querySelector("[data-dialog-close]");
    if (close) close.focus();
  }

  document.addEventListener("click", function (event) {
    if (!reviewPage() || !event.target.closest) return;
    var close = event.target.closest("[data-dialog-close]");
    if (close && inReview(close)) {
      var box = close.closest("dialog");
      if (box) box.close();
      return;
    }
    if (event.target.closest("[data-review-keymap-open]")) openKeymap();
  });

  // --- htmx: one request at a time, and what happens when it fails --------------
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (!inReview(event.detail.elt)) return;
    if (busy) {
      event.preventDefault();
      return;
    }
    busy = true;
    say("saving", "Sending…");
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    if (inReview(event.detail.elt)) busy = false;
  });

  document.addEventListener("htmx:sendError", function (event) {
    if (!inReview(event.detail.elt)) return;
    say("offline", "Not sent: the server cannot be reached. Nothing was decided; check your connection, then try again.");
  });

  document.addEventListener("htmx:responseError", function (event) {
    if (!inReview(event.detail.elt)) return;
    var status = event.detail.xhr.status;
    if (status === 401) {
      // The form stays as it was: sign in (in a new tab), then send it again.
      say("login", "Not sent: your session has ended. Sign in again in a new tab, then press the same key again.");
    } else if (status >= 500) {
      say("error", "Not sent: the server could not finish this request (" + status + "). Try again.");
    }
  });

  // After a swap: the new item (or state) has the focus; a refused
  // decision puts it on the first field the server marked.
  document.addEventListener("htmx:afterSwap", function (event) {
    if (!event.detail.target || event.detail.target.id !== "review") return;
    var status = event.detail.xhr ? event.detail.xhr.status : 200;
    say("", status >= 400 ? "Not done: see the marked field or the message below." : "");
    applyGuidelinesPreference();
    focusReview();
  });

  function focusReview() {
    var root = document.getElementById("review");
    if (!root) return;
    if (window.AccordKeys.focusInvalid(root)) return;
    var alert = root.querySelector('[role="alert"]');
    var target = root.querySelector("[data-item-text]") || root.querySelector("[data-review-focus]");
    if (target) target.focus({ preventScroll: !!alert });
    if (alert) alert.scrollIntoView({ block: "nearest" });
  }

  // --- keys ----------------------------------------------------------------------
  var typing = window.AccordKeys.typing;
  var activatesOnEnter = window.AccordKeys.activatesOnEnter;

  // A button is clicked rather than passed to requestSubmit: htmx learns
  // which button sent the form (its name and value: annotation, exclude)
  // from the click, not from the submit event.
  function submit(form, button) {
    if (!form || busy) return;
    if (button) button.click();
    else form.requestSubmit();
  }

  function chooseByHotkey(key) {
    return window.AccordKeys.chooseByHotkey(answerForm(), key);
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
    submit(form, button);
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
      say("error", "Write why the item is excluded, press Esc, then Shift+X again.");
      return;
    }
    submit(form, form.querySelector("[data-exclude]"));
  }

  // Esc in the reason field (or the reason code) hands the keys back.
  function leaveField(target) {
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
      say("error", "There is no reason code " + n + ".");
      return true;
    }
    select.selectedIndex = n;
    select.dispatchEvent(new Event("change", { bubbles: true }));
    say("", n ? "Reason code: " + select.options[n].getAttribute("data-name") + "." : "No reason code.");
    return true;
  }

  function onReasonChord(event) {
    var chord = reasonChord(event);
    if (chord === null || event.repeat) return false;
    if (chord === "reason" ? focusReason() : chooseCode(chord)) {
      event.preventDefault();
      return true;
    }
    return false;
  }

  function onShiftKey(event) {
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
      submit(document.getElementById("release-form"));
    } else if (action === "G") {
      event.preventDefault();
      toggleGuidelines();
    }
  }

  document.addEventListener("keydown", function (event) {
    if (!reviewPage() || event.isComposing || document.querySelector("dialog[open]")) return;
    if (onReasonChord(event)) return;
    if (window.AccordKeys.ignored(event)) return;
    var target = event.target;
    if (typing(target)) {
      if (event.key === "Escape" && inReview(target)) {
        event.preventDefault();
        leaveField(target);
      }
      return;
    }
    var key = event.key;
    if (key === "Enter") {
      if (activatesOnEnter(target)) return;
      event.preventDefault();
      // A held Enter repeats: never let it decide the next item.
      if (event.repeat) return;
      var form = answerForm();
      submit(form, form && form.querySelector("[data-resolve]"));
      return;
    }
    if (event.repeat) return;
    if (key === "?") {
      event.preventDefault();
      openKeymap();
      return;
    }
    if (event.shiftKey) {
      onShiftKey(event);
      return;
    }
    if (key.length === 1 && chooseByHotkey(key.toLowerCase())) event.preventDefault();
  });

  // --- start -------------------------------------------------------------------------
  function enhance(root) {
    if (!reviewPage()) return;
    document.querySelectorAll("[data-review-keymap-open]").forEach(function (button) {
      button.hidden = false;
    });
    if (root === document || root === document.body || (root.querySelector && root.querySelector("[data-review-page]"))) {
      applyGuidelinesPreference();
      var text = document.querySelector("#review [data-item-text]");
      if (text && (!document.activeElement || document.activeElement === document.body)) text.focus();
    }
  }

  if (window.htmx) {
    window.htmx.onLoad(enhance);
    // Loaded after htmx started (the script in the page's section): the
    // page is already there.
    enhance(document);
  } else {
    document.addEventListener("DOMContentLoaded", function () {
      enhance(document);
    });
  }
})();
