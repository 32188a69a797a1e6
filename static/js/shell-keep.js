/* The workspace shell's drafts, and work that survives a dropped network or
 * an ended session (SECURITY.md E4): a part of static/js/shell.js
 * (AccordShell.addPart), loaded after it.
 *
 * - drafts (an answer form with data-draft-url and data-assignment): every
 *   change is kept in localStorage under the assignment and sent (debounced)
 *   to the draft URL; the task type's module reads and restores the value.
 *   A draft the server never confirmed is put back when its item is shown
 *   again, and sent;
 * - on a page with the sign-in dialog ([data-relogin]), a request the
 *   network dropped is sent again when the browser is back online (and
 *   every few seconds meanwhile); a 401 opens the dialog, the form stays as
 *   it was, and after signing in the same request goes again with the new
 *   CSRF token. A 403 is the CSRF check (the workspace's views answer 404
 *   for anything that is not the caller's): sent once more with the token
 *   from the cookie.
 */
(function () {
  "use strict";

  var DRAFT_PREFIX = "accord:draft:";
  var DRAFT_DELAY_MS = 400;
  var RETRY_MS = 4000;
  var DRAFT_MAX_AGE_MS = 14 * 24 * 3600 * 1000;
  // While the annotator works on an item (keys, pointer, scrolling), its
  // draft is saved this often even without a new choice: that renews the
  // lease, so a long read does not lose the item. An idle tab renews nothing.
  var HEARTBEAT_MS = 60 * 1000;
  // Django's default CSRF cookie (readable by scripts: CSRF_COOKIE_HTTPONLY is off).
  var CSRF_COOKIE = "csrftoken";

  var shell = window.AccordShell;
  var storage = window.AccordKeys.storage;
  var say = shell.say;
  var answerForm = shell.answerForm;
  var taskType = shell.taskTypeOf;

  var pending = null; // the form to send again: offline, or waiting for a sign-in
  var csrfRetried = false;
  var retryTimer = null;
  var draft = { timer: null, inFlight: false, again: false, failed: false };
  var lastActivity = 0;
  var lastDraftSent = 0;

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

  // --- drafts in localStorage ----------------------------------------------------
  function drafting(form) {
    return !!(form && form.dataset.draftUrl && form.dataset.assignment);
  }

  function readValue(form) {
    return JSON.stringify(taskType(form).read(form));
  }

  function keepLocal(form, saved) {
    var store = storage();
    if (!store || !drafting(form)) return;
    var entry = { values: taskType(form).read(form), saved: saved, at: Date.now() };
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
  // rendered as the chosen value.
  function restoreLocal(form) {
    if (!drafting(form)) return;
    var entry = readLocal(form.dataset.assignment);
    if (!entry || entry.saved || entry.values === undefined) return;
    taskType(form).restore(form, entry.values);
    say("unsaved");
    scheduleDraft(form, 0);
  }

  // --- drafts on the server ------------------------------------------------------
  function scheduleDraft(form, delay) {
    clearTimeout(draft.timer);
    draft.timer = setTimeout(function () {
      sendDraft(form);
    }, delay);
  }

  function sendDraft(form) {
    if (!form || !form.isConnected || !drafting(form)) return;
    if (draft.inFlight) {
      draft.again = true;
      return;
    }
    draft.inFlight = true;
    lastDraftSent = Date.now();
    var id = form.dataset.assignment;
    var sent = readValue(form);
    say("saving");
    fetch(form.dataset.draftUrl, {
      method: "POST",
      body: new URLSearchParams(new FormData(form)),
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(), "X-Requested-With": "fetch" },
    })
      .then(function (response) {
        if (response.status === 204 || response.ok) {
          draft.failed = false;
          // Saved what was on screen when it left; a later change is sent next.
          if (form.isConnected && readValue(form) === sent) {
            keepLocal(form, true);
            if (!pending) say("saved");
          }
          return;
        }
        if (response.status === 403 && refreshCsrf()) {
          draft.again = true;
          return;
        }
        if (response.status === 401 || response.status === 403) {
          draft.failed = true;
          askToSignIn(null);
          return;
        }
        if (response.status >= 500) throw new Error("server " + response.status);
        // 400 or 409: the reason, in plain text, beside the save state.
        return response.text().then(function (text) {
          if (form.isConnected && form.dataset.assignment === id) {
            say("error", "Draft not saved: " + text.slice(0, 300));
          }
        });
      })
      .catch(function () {
        draft.failed = true;
        if (form.isConnected) say("offline");
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
    if (!drafting(form) || !taskType(form).isAnswer(event.target)) return;
    keepLocal(form, false);
    say("unsaved");
    scheduleDraft(form, DRAFT_DELAY_MS);
  });

  // --- resending -------------------------------------------------------------------
  function scheduleRetry() {
    if (retryTimer) return;
    retryTimer = setInterval(resend, RETRY_MS);
  }

  function resend() {
    if (navigator.onLine === false) return;
    var form = answerForm();
    if (pending && pending.isConnected) {
      if (!shell.busy()) {
        say("sending");
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
    if (!drafting(form) || shell.busy() || pending || draft.inFlight || document.visibilityState !== "visible") return;
    if (lastActivity > lastDraftSent && Date.now() - lastDraftSent >= HEARTBEAT_MS) sendDraft(form);
  }, HEARTBEAT_MS / 4);

  // A tab closed with a value the server has not confirmed: one last try.
  // A beacon cannot carry the CSRF header; the form's own token field goes
  // in the body instead.
  window.addEventListener("pagehide", function () {
    var form = answerForm();
    if (!drafting(form) || !navigator.sendBeacon) return;
    var entry = readLocal(form.dataset.assignment);
    if (entry && !entry.saved) {
      navigator.sendBeacon(form.dataset.draftUrl, new URLSearchParams(new FormData(form)));
    }
  });

  // --- signing in again ------------------------------------------------------------
  function askToSignIn(form) {
    if (form) pending = form;
    say("login");
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
    draft.failed = draft.failed || drafting(answerForm());
    if (pending && pending.isConnected) {
      say("sending");
      pending.requestSubmit();
    } else {
      pending = null;
      sendDraft(answerForm());
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
    if (!retry || !shell.inShell(retry)) return;
    var dialog = retry.closest("dialog");
    refreshCsrf();
    if (dialog) dialog.close();
    resend();
  });

  // --- htmx: what becomes of a request that failed ---------------------------------
  function keeps(elt) {
    return shell.inShell(elt) && shell.resilient() && elt.tagName === "FORM";
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    // Refused by the shell (a request already in flight): nothing was sent.
    if (event.defaultPrevented) return;
    if (shell.inShell(elt) && elt.matches && elt.matches("[data-answer-form]")) {
      // The submit carries the value; a draft still waiting is not needed.
      clearTimeout(draft.timer);
    }
  });

  document.addEventListener("htmx:sendError", function (event) {
    var elt = event.detail.elt;
    if (!keeps(elt)) return;
    pending = elt;
    keepLocal(answerForm(), false);
    say("offline");
    scheduleRetry();
  });

  document.addEventListener("htmx:responseError", function (event) {
    var elt = event.detail.elt;
    if (!keeps(elt)) return;
    var status = event.detail.xhr.status;
    if (status === 401) {
      askToSignIn(elt);
    } else if (status === 502 || status === 503 || status === 504) {
      // A proxy with no server behind it: like a dropped network.
      pending = elt;
      say("offline");
      scheduleRetry();
    }
  });

  document.addEventListener("htmx:beforeSwap", function (event) {
    var elt = event.detail.elt;
    if (event.detail.xhr.status !== 403 || !shell.inShell(elt) || !shell.resilient()) return;
    // Take the new token from the cookie and send once more, else sign in.
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
  });

  shell.addPart({
    // After a swap: the request kept is done, and the draft of the item
    // that was answered is forgotten.
    swapped: function (elt, status) {
      csrfRetried = false;
      if (elt === pending) pending = null;
      var answered = elt && elt.closest ? elt.closest("[data-assignment]") : null;
      var form = answerForm();
      if (answered && status !== 400 && (!form || form.dataset.assignment !== answered.dataset.assignment)) {
        dropLocal(answered.dataset.assignment);
      }
    },
    item: restoreLocal,
    start: pruneLocal,
    holding: function () {
      return !!pending;
    },
  });
})();
