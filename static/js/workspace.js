/* The annotator's workspace: keyboard, drafts, and work that survives a
 * dropped network or an ended session (SECURITY.md E4).
 *
 * The server renders everything and every control is a plain form; this
 * file only adds:
 *
 * - keys: a label's hotkey chooses it, Enter submits, Shift+S/L/U/G skip,
 *   later, undo, guidelines, ? the key map. Ignored while a text field has
 *   the focus, while an IME composes, with Ctrl/Alt/Meta, and for a held
 *   key (event.repeat). A key that acts is prevented from doing anything
 *   else, so no shortcut ever types;
 * - one request at a time: an in-flight flag here and hx-sync="#workspace:
 *   drop" on every form. A stale form is harmless anyway: it posts to its
 *   own assignment's URL, and the server answers a replay idempotently;
 * - keys typed ahead: while a request is in flight (and until the item its
 *   answer shows has been painted), label keys, Enter, Shift+U, Shift+L and
 *   Shift+S are kept, in order, and applied to the item that answer shows,
 *   once it is on screen. An Enter typed ahead submits that item only if a
 *   label key typed ahead after the previous Enter chose something on it
 *   first, so a double Enter never submits an item nobody saw; Shift+L and
 *   Shift+S typed ahead would act on an unseen item and are not applied. When
 *   the answer is not another item (a refusal, an error), nothing typed
 *   ahead is applied. Whatever is not applied is said in a live region;
 * - drafts: every change is kept in localStorage under the assignment id
 *   and sent (debounced) to the assignment's draft URL;
 * - a request the network dropped is sent again when the browser is back
 *   online (and every few seconds meanwhile); a 401 opens a sign-in dialog,
 *   the form stays as it was, and after signing in the same request goes
 *   again with the new CSRF token.
 */
(function () {
  "use strict";

  var DRAFT_PREFIX = "accord:draft:";
  var GUIDELINES_KEY = "accord:guidelines-open";
  var DRAFT_DELAY_MS = 400;
  var RETRY_MS = 4000;
  var DRAFT_MAX_AGE_MS = 14 * 24 * 3600 * 1000;
  // While the annotator works on an item (keys, pointer, scrolling), its
  // draft is saved this often even without a new choice: that renews the
  // lease, so a long read does not lose the item. An idle tab renews nothing.
  var HEARTBEAT_MS = 60 * 1000;
  // Django's default CSRF cookie (readable by scripts: CSRF_COOKIE_HTTPONLY is off).
  var CSRF_COOKIE = "csrftoken";

  var busy = false; // a workspace request (submit, skip, later, undo, next) is in flight
  // Keys typed while busy, or after an answer was swapped in but before it
  // was painted: applied to the item that answer shows (see the top).
  var ahead = { keys: [], painting: false, painted: false, settled: false, another: false, sentFrom: null };
  var inFlight = null; // the element whose request made us busy
  var pending = null; // the form to send again: offline, or waiting for a sign-in
  var csrfRetried = false;
  var retryTimer = null;
  var draft = { timer: null, inFlight: false, again: false, failed: false };
  var active = { ms: 0, since: null };
  var lastActivity = 0;
  var lastDraftSent = 0;

  function workspacePage() {
    return document.querySelector("[data-workspace-page]");
  }

  function answerForm() {
    return document.getElementById("answer-form");
  }

  function inWorkspace(elt) {
    return !!(elt && elt.closest && elt.closest("[data-workspace-page]"));
  }

  // --- the save state (a live region outside the swapped part) -------------
  var STATE_TEXT = {
    saving: "Saving your draft…",
    saved: "Draft saved.",
    unsaved: "Not saved yet.",
    offline: "Not saved: the server cannot be reached. Your answer is kept here and sent again when the connection is back.",
    login: "Not saved: your session has ended. Sign in to go on; your answer is kept.",
    sending: "Sending again…",
  };

  function setSaveState(state, text) {
    var region = document.querySelector("[data-save-state]");
    if (!region) return;
    var words = text || STATE_TEXT[state] || "";
    region.setAttribute("data-state", state || "");
    // Writing the same words again would make some screen readers repeat them.
    if (region.textContent !== words) region.textContent = words;
  }

  // --- CSRF ----------------------------------------------------------------
  function readCookie(name) {
    var found = null;
    document.cookie.split(";").forEach(function (part) {
      var pair = part.trim().split("=");
      if (pair[0] === name) found = decodeURIComponent(pair.slice(1).join("="));
    });
    return found;
  }

  function headerToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || null;
    } catch (e) {
      return null;
    }
  }

  function csrfToken() {
    return readCookie(CSRF_COOKIE) || headerToken();
  }

  // Signing in rotates the token: htmx reads hx-headers on every request,
  // so updating the attribute is enough for the requests that follow.
  function refreshCsrf() {
    var token = readCookie(CSRF_COOKIE);
    if (!token || token === headerToken()) return false;
    document.body.setAttribute("hx-headers", JSON.stringify({ "X-CSRFToken": token }));
    document.querySelectorAll('input[name="csrfmiddlewaretoken"]').forEach(function (input) {
      input.value = token;
    });
    return true;
  }

  // --- drafts in localStorage ----------------------------------------------
  var storage = window.AccordKeys.storage;

  function formValues(form) {
    var values = [];
    form.querySelectorAll('input[name="value"]').forEach(function (input) {
      if ((input.type === "radio" || input.type === "checkbox") && !input.checked) return;
      values.push(input.value);
    });
    return values;
  }

  function keepLocal(form, saved) {
    var store = storage();
    if (!store || !form.dataset.assignment) return;
    var entry = { values: formValues(form), saved: saved, at: Date.now() };
    try {
      store.setItem(DRAFT_PREFIX + form.dataset.assignment, JSON.stringify(entry));
    } catch (e) {
      /* full: the server draft is the fallback */
    }
  }

  function readLocal(id) {
    var store = storage();
    if (!store) return null;
    try {
      return JSON.parse(store.getItem(DRAFT_PREFIX + id) || "null");
    } catch (e) {
      return null;
    }
  }

  function dropLocal(id) {
    var store = storage();
    if (store && id) store.removeItem(DRAFT_PREFIX + id);
  }

  function pruneLocal() {
    var store = storage();
    if (!store) return;
    var now = Date.now();
    for (var i = store.length - 1; i >= 0; i -= 1) {
      var key = store.key(i);
      if (!key || key.indexOf(DRAFT_PREFIX) !== 0) continue;
      var entry = readLocal(key.slice(DRAFT_PREFIX.length));
      if (!entry || !entry.at || now - entry.at > DRAFT_MAX_AGE_MS) store.removeItem(key);
    }
  }

  // A draft that never reached the server (offline, signed out, a closed
  // tab) is put back on screen and sent; the server's own draft is already
  // rendered as the checked choice.
  function restoreLocal(form) {
    var entry = readLocal(form.dataset.assignment);
    if (!entry || entry.saved || !Array.isArray(entry.values)) return;
    form.querySelectorAll('input[name="value"]').forEach(function (input) {
      if (input.type === "radio" || input.type === "checkbox") {
        input.checked = entry.values.indexOf(input.value) >= 0;
      }
    });
    setSaveState("unsaved");
    scheduleDraft(form, 0);
  }

  // --- drafts on the server ------------------------------------------------
  function scheduleDraft(form, delay) {
    clearTimeout(draft.timer);
    draft.timer = setTimeout(function () {
      sendDraft(form);
    }, delay);
  }

  function sendDraft(form) {
    if (!form || !form.isConnected) return;
    if (draft.inFlight) {
      draft.again = true;
      return;
    }
    draft.inFlight = true;
    lastDraftSent = Date.now();
    var id = form.dataset.assignment;
    var values = formValues(form).join("\u0000");
    setSaveState("saving");
    var body = new URLSearchParams(new FormData(form));
    fetch(form.dataset.draftUrl, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(), "X-Requested-With": "fetch" },
    })
      .then(function (response) {
        if (response.status === 204 || response.ok) {
          draft.failed = false;
          // Saved what was on screen when it left; a later change is sent next.
          if (form.isConnected && formValues(form).join("\u0000") === values) {
            keepLocal(form, true);
            if (!pending) setSaveState("saved");
          }
          return;
        }
        if (response.status === 401) {
          draft.failed = true;
          askToSignIn(null);
          return;
        }
        if (response.status === 403 && refreshCsrf()) {
          draft.again = true;
          return;
        }
        if (response.status === 403) {
          draft.failed = true;
          askToSignIn(null);
          return;
        }
        if (response.status >= 500) throw new Error("server " + response.status);
        // 400 or 409: the reason, in plain text, beside the save state.
        return response.text().then(function (text) {
          if (form.isConnected && form.dataset.assignment === id) {
            setSaveState("error", "Draft not saved: " + text.slice(0, 300));
          }
        });
      })
      .catch(function () {
        draft.failed = true;
        if (form.isConnected) setSaveState("offline");
        scheduleRetry();
      })
      .then(function () {
        draft.inFlight = false;
        if (draft.again) {
          draft.again = false;
          sendDraft(answerForm());
        }
      });
  }

  document.addEventListener("change", function (event) {
    var form = event.target.closest && event.target.closest("[data-answer-form]");
    if (!form || event.target.name !== "value") return;
    keepLocal(form, false);
    setSaveState("unsaved");
    scheduleDraft(form, DRAFT_DELAY_MS);
  });

  // --- resending -----------------------------------------------------------
  function scheduleRetry() {
    if (retryTimer) return;
    retryTimer = setInterval(resend, RETRY_MS);
  }

  function resend() {
    if (navigator.onLine === false) return;
    var form = answerForm();
    if (pending && pending.isConnected) {
      if (!busy) {
        setSaveState("sending");
        pending.requestSubmit();
      }
    } else {
      pending = null;
      if (draft.failed && form) sendDraft(form);
    }
    if (!pending && !draft.failed) {
      clearInterval(retryTimer);
      retryTimer = null;
    }
  }

  window.addEventListener("online", resend);

  ["keydown", "pointerdown", "wheel"].forEach(function (name) {
    document.addEventListener(
      name,
      function () {
        lastActivity = Date.now();
      },
      { capture: true, passive: true }
    );
  });

  setInterval(function () {
    var form = answerForm();
    if (!form || busy || pending || draft.inFlight || document.visibilityState !== "visible") return;
    if (lastActivity > lastDraftSent && Date.now() - lastDraftSent >= HEARTBEAT_MS) sendDraft(form);
  }, HEARTBEAT_MS / 4);

  // A tab closed with a choice the server has not confirmed: one last try.
  // A beacon cannot carry the CSRF header; the form's own token field goes
  // in the body instead.
  window.addEventListener("pagehide", function () {
    var form = answerForm();
    if (!form || !navigator.sendBeacon) return;
    var entry = readLocal(form.dataset.assignment);
    if (entry && !entry.saved) {
      navigator.sendBeacon(form.dataset.draftUrl, new URLSearchParams(new FormData(form)));
    }
  });

  // --- signing in again ----------------------------------------------------
  function askToSignIn(form) {
    if (form) pending = form;
    setSaveState("login");
    var dialog = document.querySelector("[data-relogin]");
    if (!dialog || dialog.open) return;
    var error = dialog.querySelector("[data-relogin-error]");
    if (error) {
      error.hidden = true;
      error.replaceChildren();
    }
    dialog.showModal();
    var password = dialog.querySelector('input[type="password"]');
    if (password) password.focus();
  }

  function signInError(dialog, text) {
    var error = dialog.querySelector("[data-relogin-error]");
    if (!error) return;
    var item = document.createElement("li");
    item.textContent = text;
    error.replaceChildren(item);
    error.hidden = false;
    var password = dialog.querySelector('input[type="password"]');
    if (password) {
      password.setAttribute("aria-invalid", "true");
      password.setAttribute("aria-describedby", error.id);
      password.focus();
    }
  }

  function signedIn(dialog) {
    refreshCsrf();
    csrfRetried = false;
    var password = dialog.querySelector('input[type="password"]');
    if (password) {
      password.value = "";
      password.removeAttribute("aria-invalid");
    }
    dialog.close();
    draft.failed = draft.failed || !!answerForm();
    if (pending && pending.isConnected) {
      setSaveState("sending");
      pending.requestSubmit();
    } else {
      pending = null;
      var form = answerForm();
      if (form) sendDraft(form);
    }
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("[data-relogin-form]")) return;
    event.preventDefault();
    var dialog = form.closest("dialog");
    var body = new URLSearchParams(new FormData(form));
    body.set("csrfmiddlewaretoken", csrfToken() || "");
    var button = form.querySelector('button[type="submit"]');
    if (button) button.disabled = true;
    // The login view answers a redirect when it signs in and the form again
    // when it does not; "manual" keeps the redirect unfollowed, and the
    // browser still stores the new session and CSRF cookies it sets.
    fetch(form.action, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      redirect: "manual",
      headers: { "X-CSRFToken": csrfToken() || "" },
    })
      .then(function (response) {
        if (response.type === "opaqueredirect" || (response.status >= 300 && response.status < 400)) {
          signedIn(dialog);
        } else if (response.status === 429) {
          signInError(dialog, "Too many sign-in attempts. Wait a few minutes, then try again.");
        } else if (response.status === 403) {
          refreshCsrf();
          signInError(dialog, "The sign-in form expired. Try again.");
        } else {
          signInError(dialog, "That username and password do not match. Try again.");
        }
      })
      .catch(function () {
        signInError(dialog, "The server cannot be reached. Check your connection and try again.");
      })
      .then(function () {
        if (button) button.disabled = false;
      });
  });

  document.addEventListener("click", function (event) {
    var retry = event.target.closest && event.target.closest("[data-relogin-retry]");
    if (retry) {
      var dialog = retry.closest("dialog");
      refreshCsrf();
      if (dialog) dialog.close();
      resend();
      return;
    }
    var close = event.target.closest && event.target.closest("[data-dialog-close]");
    if (close) {
      var box = close.closest("dialog");
      if (box) box.close();
      return;
    }
    var keymap = event.target.closest && event.target.closest("[data-keymap-open]");
    if (keymap) openKeymap();
  });

  // --- htmx: one request at a time, and what happens when it fails ----------
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (!inWorkspace(event.detail.elt)) return;
    if (busy) {
      event.preventDefault();
      return;
    }
    busy = true;
    inFlight = event.detail.elt;
    var onScreen = answerForm();
    ahead.sentFrom = onScreen ? onScreen.dataset.assignment : null;
    if (event.detail.elt.matches && event.detail.elt.matches("[data-answer-form]")) {
      // The submit carries the choice; a draft still waiting is not needed.
      clearTimeout(draft.timer);
    }
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    // The answer may have swapped the form out: htmx then tells the event on
    // another element, with the form (detached, outside the page) as elt.
    if (event.detail.elt !== inFlight && !inWorkspace(event.detail.elt)) return;
    busy = false;
    inFlight = null;
    replayWhenReady();
  });

  document.addEventListener("htmx:sendError", function (event) {
    var elt = event.detail.elt;
    if (!inWorkspace(elt) || elt.tagName !== "FORM") return;
    pending = elt;
    var form = answerForm();
    if (form) keepLocal(form, false);
    setSaveState("offline");
    scheduleRetry();
    dropAhead(NOT_SENT_AHEAD);
  });

  document.addEventListener("htmx:responseError", function (event) {
    var elt = event.detail.elt;
    if (!inWorkspace(elt) || elt.tagName !== "FORM") return;
    var status = event.detail.xhr.status;
    dropAhead(NOT_SENT_AHEAD);
    if (status === 401) {
      askToSignIn(elt);
    } else if (status === 502 || status === 503 || status === 504) {
      // A proxy with no server behind it: like a dropped network.
      pending = elt;
      setSaveState("offline");
      scheduleRetry();
    }
  });

  document.addEventListener("htmx:beforeSwap", function (event) {
    var elt = event.detail.elt;
    if (!inWorkspace(elt)) return;
    var status = event.detail.xhr.status;
    if (status === 403) {
      // The workspace's views answer 404, never 403: a 403 is the CSRF
      // check (the token rotated when the user signed in elsewhere). Take
      // the new token from the cookie and send once more, else sign in.
      event.detail.shouldSwap = false;
      if (elt.tagName !== "FORM") return;
      if (!csrfRetried && refreshCsrf()) {
        csrfRetried = true;
        setTimeout(function () {
          if (elt.isConnected) elt.requestSubmit();
        }, 0);
      } else {
        askToSignIn(elt);
      }
      return;
    }
    if (status === 429) {
      // The workspace renders "come back in a minute" with this status.
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  // After a swap of the workspace: forget the draft of the item that was
  // answered, start counting for the new one, and move the focus to it.
  document.addEventListener("htmx:afterSwap", function (event) {
    if (!event.detail.target || event.detail.target.id !== "workspace") return;
    var elt = event.detail.elt;
    var status = event.detail.xhr ? event.detail.xhr.status : 200;
    csrfRetried = false;
    if (elt === pending) pending = null;
    var answered = elt && elt.closest ? elt.closest("[data-assignment]") : null;
    var form = answerForm();
    if (answered && status !== 400 && (!form || form.dataset.assignment !== answered.dataset.assignment)) {
      dropLocal(answered.dataset.assignment);
    }
    if (!pending) setSaveState("", "");
    startItem();
    focusWorkspace();
    form = answerForm();
    var another = status < 400 && !!form && form.dataset.assignment !== ahead.sentFrom;
    afterSwap(another);
  });

  function focusWorkspace() {
    var workspace = document.getElementById("workspace");
    if (!workspace) return;
    if (window.AccordKeys.focusInvalid(workspace)) return;
    var target = workspace.querySelector("[data-item-text]") || workspace.querySelector("[data-workspace-focus]");
    if (target) target.focus({ preventScroll: false });
  }

  // --- the item on screen --------------------------------------------------
  function startItem() {
    var form = answerForm();
    active.ms = 0;
    active.since = form && document.visibilityState === "visible" && document.hasFocus() ? Date.now() : null;
    if (form) restoreLocal(form);
    applyGuidelinesPreference();
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
      if (!form.matches || !form.matches("[data-answer-form]")) return;
      var field = form.querySelector("[data-active-ms]");
      if (!field) return;
      var total = active.ms + (active.since !== null ? Date.now() - active.since : 0);
      field.value = String(Math.max(0, Math.round(total)));
    },
    true
  );

  // --- guidelines panel ----------------------------------------------------
  var applyingPreference = false;

  function applyGuidelinesPreference() {
    var panel = document.querySelector("[data-guidelines]");
    var store = storage();
    if (!panel) return;
    applyingPreference = true;
    if (panel.hasAttribute("data-changed")) {
      panel.open = true; // a new version: show it, whatever was chosen before
    } else if (store && store.getItem(GUIDELINES_KEY) !== null) {
      panel.open = store.getItem(GUIDELINES_KEY) === "1";
    }
    // "toggle" fires asynchronously; only a user's toggle is remembered.
    setTimeout(function () {
      applyingPreference = false;
    }, 0);
  }

  document.addEventListener(
    "toggle",
    function (event) {
      var panel = event.target;
      if (!panel.matches || !panel.matches("[data-guidelines]") || applyingPreference) return;
      var store = storage();
      if (store) store.setItem(GUIDELINES_KEY, panel.open ? "1" : "0");
    },
    true
  );

  function toggleGuidelines() {
    var panel = document.querySelector("[data-guidelines]");
    if (!panel) return;
    panel.open = !panel.open;
    var store = storage();
    if (store) store.setItem(GUIDELINES_KEY, panel.open ? "1" : "0");
    if (panel.open) {
      var body = panel.querySelector(".ws-guidelines__body");
      if (body) body.focus();
    }
  }

  // --- key map -------------------------------------------------------------
  function openKeymap() {
    var dialog = document.getElementById("keymap");
    if (!dialog || dialog.open) return;
    var rows = dialog.querySelector("[data-keymap-labels]");
    var form = answerForm();
    if (rows) {
      var made = [];
      if (form) {
        form.querySelectorAll("input[data-hotkey]").forEach(function (input) {
          var tr = document.createElement("tr");
          var keyCell = document.createElement("td");
          var kbd = document.createElement("kbd");
          kbd.textContent = input.getAttribute("data-hotkey");
          keyCell.appendChild(kbd);
          var what = document.createElement("td");
          var name = form.querySelector('label[for="' + input.id + '"] .ws-choice__name');
          what.textContent = (input.type === "checkbox" ? "Tick or untick “" : "Choose “") + (name ? name.textContent : input.value) + "”";
          tr.appendChild(keyCell);
          tr.appendChild(what);
          made.push(tr);
        });
      }
      rows.replaceChildren.apply(rows, made);
    }
    dialog.showModal();
    var close = dialog.querySelector("[data-dialog-close]");
    if (close) close.focus();
  }

  // --- keys ----------------------------------------------------------------
  var typing = window.AccordKeys.typing;
  var activatesOnEnter = window.AccordKeys.activatesOnEnter;

  function submitAnswer() {
    var form = answerForm();
    if (!form || busy) return;
    form.requestSubmit();
  }

  function chooseByHotkey(key) {
    return window.AccordKeys.chooseByHotkey(answerForm(), key);
  }

  // --- keys typed ahead ------------------------------------------------------
  var DROPPED_ENTER =
    "Enter was pressed before this item was on screen, so this item was not submitted: check the answer, then press Enter.";
  var NOT_SENT_AHEAD = "Keys typed while sending were not used: nothing new came.";
  var NOT_NEW_AHEAD = "Keys typed while sending were not used: no new item came (see the message).";

  function sayAhead(text) {
    var region = document.querySelector("[data-typed-ahead]");
    if (region && region.textContent !== text) region.textContent = text;
  }

  function dropAhead(text) {
    var had = ahead.keys.length > 0;
    ahead.keys = [];
    if (had) sayAhead(text);
  }

  // The keys a request in flight holds back: label keys (of the form on
  // screen, which the next item shares; any key when there is none yet),
  // Enter, and the Shift actions on an item. Shift+G and ? act at once:
  // they do not touch the item.
  function keepAhead(event) {
    var key = event.key;
    if (key === "Enter") return !activatesOnEnter(event.target);
    if (key.length !== 1) return false;
    if (event.shiftKey) return "SLU".indexOf(key.toUpperCase()) >= 0;
    var form = answerForm();
    if (!form) return true;
    var escaped = window.CSS && CSS.escape ? CSS.escape(key.toLowerCase()) : key;
    return !!form.querySelector('input[data-hotkey="' + escaped + '"]');
  }

  // The item an answer swapped in is ready for typed-ahead keys when it
  // has been painted (a task queued from requestAnimationFrame runs after
  // the frame that paints it) and htmx has settled it: htmx wires the new
  // forms only then (about 20 ms on), and a form submitted before that would
  // be sent by the browser itself, as a page load.
  function afterSwap(another) {
    ahead.painting = true;
    ahead.painted = false;
    ahead.settled = false;
    ahead.another = another;
    requestAnimationFrame(function () {
      setTimeout(function () {
        ahead.painted = true;
        replayWhenReady();
      }, 0);
    });
  }

  document.addEventListener("htmx:afterSettle", function (event) {
    if (!ahead.painting || !event.detail.target || event.detail.target.id !== "workspace") return;
    ahead.settled = true;
    replayWhenReady();
  });

  // Only once the request that brought the item is over (htmx ends it after
  // the swap) can a replayed Enter send.
  function replayWhenReady() {
    if (!ahead.painting || !ahead.painted || !ahead.settled || busy) return;
    ahead.painting = false;
    if (ahead.another) replayAhead();
    else dropAhead(NOT_NEW_AHEAD);
  }

  function replayAhead() {
    var keys = ahead.keys;
    ahead.keys = [];
    var chosen = false;
    var notes = [];
    for (var i = 0; i < keys.length; i += 1) {
      var typed = keys[i];
      if (typed.key === "Enter") {
        if (chosen && answerForm()) {
          // What follows is for the item this submit brings.
          ahead.keys = keys.slice(i + 1);
          submitAnswer();
          break;
        }
        notes.push(DROPPED_ENTER);
        continue;
      }
      if (typed.shift) {
        var undo = typed.key === "U" && document.getElementById("undo-form");
        if (undo) {
          ahead.keys = keys.slice(i + 1);
          undo.requestSubmit();
          break;
        }
        notes.push(
          "Shift+" + typed.key + " was pressed before this item was on screen, so it was not applied to it."
        );
        continue;
      }
      if (chooseByHotkey(typed.key)) chosen = true;
    }
    if (notes.length) sayAhead(notes[notes.length - 1]);
  }

  document.addEventListener("keydown", function (event) {
    if (!workspacePage() || window.AccordKeys.ignored(event)) return;
    var target = event.target;
    if (typing(target)) {
      if (event.key === "Escape" && target.closest && target.closest("#skip-box")) {
        var box = document.getElementById("skip-box");
        box.open = false;
        var summary = box.querySelector("summary");
        if (summary) summary.focus();
      }
      return;
    }
    if ((busy || ahead.painting) && keepAhead(event)) {
      event.preventDefault();
      // A held key repeats: its repeats are not typed ahead either.
      if (!event.repeat) {
        var key = event.key;
        var shift = event.shiftKey && key.length === 1;
        if (key.length === 1) key = shift ? key.toUpperCase() : key.toLowerCase();
        ahead.keys.push({ key: key, shift: shift });
      }
      return;
    }
    act(event);
  });

  function act(event) {
    var target = event.target;
    var key = event.key;
    if (key === "Enter") {
      if (activatesOnEnter(target)) return;
      event.preventDefault();
      // A held Enter repeats: never let it answer the next item.
      if (event.repeat) return;
      sayAhead("");
      submitAnswer();
      return;
    }
    if (event.repeat) return;
    if (key === "?") {
      event.preventDefault();
      openKeymap();
      return;
    }
    if (key === "Escape") {
      var skip = document.getElementById("skip-box");
      if (skip && skip.open) skip.open = false;
      return;
    }
    if (event.shiftKey && key.length === 1) {
      var action = key.toUpperCase();
      if (action === "S") {
        var skipBox = document.getElementById("skip-box");
        if (!skipBox || busy) return;
        // Prevented, or the "S" would be typed into the reason that now has the focus.
        event.preventDefault();
        skipBox.open = true;
        var reason = document.getElementById("skip-reason");
        if (reason) reason.focus();
      } else if (action === "L" || action === "U") {
        var form = document.getElementById(action === "L" ? "later-form" : "undo-form");
        if (!form || busy) return;
        event.preventDefault();
        form.requestSubmit();
      } else if (action === "G") {
        event.preventDefault();
        toggleGuidelines();
      }
      return;
    }
    if (!event.shiftKey && key.length === 1 && chooseByHotkey(key.toLowerCase())) {
      event.preventDefault();
    }
  }

  // --- start ---------------------------------------------------------------
  function enhance(root) {
    if (!workspacePage()) return;
    root.querySelectorAll("[data-keymap-open]").forEach(function (button) {
      button.hidden = false;
    });
    if (root === document.body || root === document || root.querySelector("[data-workspace-page]") || root.matches("[data-workspace-page]")) {
      // A full page or the section of a tab: the item is new on screen.
      pruneLocal();
      startItem();
      var text = document.querySelector("[data-item-text]");
      if (text && (!document.activeElement || document.activeElement === document.body)) text.focus();
    }
  }

  if (window.htmx) {
    window.htmx.onLoad(function (root) {
      enhance(root);
    });
  } else {
    document.addEventListener("DOMContentLoaded", function () {
      enhance(document);
    });
  }
})();
