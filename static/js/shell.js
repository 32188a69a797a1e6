/* The workspace shell: what the annotator's and the reviewer's workspaces
 * share (templates/shell/page.html, annotation/shell.py). Over 500 lines
 * on purpose: one module both workspaces and every task type register with.
 *
 * The server renders everything and every control is a plain form; this
 * file only adds, inside [data-shell]:
 *
 * - keys: Enter sends the answer form, ? the key map, Shift+G the
 *   guidelines, a task type's key chooses (through its module), and the
 *   page's own keys go to its module. Ignored while a text field has the
 *   focus, while an IME composes, with Ctrl/Alt/Meta (a page may take Alt
 *   chords first: onChord), while a dialog is open, and for a held key
 *   (event.repeat). A key that acts is prevented from doing anything else,
 *   so no shortcut ever types;
 * - one request at a time: a busy flag here and hx-sync="#<frame>:drop" on
 *   every form. A stale form is harmless anyway: it posts to the URL of its
 *   own assignment or review, and the server answers a replay idempotently;
 * - keys typed ahead (pages with data-shell-typeahead): while a request is
 *   in flight (and until the item its answer shows has been painted), task
 *   keys, Enter and the page's item actions (aheadShift) are kept, in
 *   order, and applied to the item that answer shows, once it is on screen.
 *   An Enter typed ahead submits that item only if a task key typed ahead
 *   after the previous Enter chose something on it first, so a double Enter
 *   never submits an item nobody saw; a Shift action typed ahead is applied
 *   only where the page says it is safe (replayShift: undo). When the answer
 *   is not another item (a refusal, an error), nothing typed ahead is
 *   applied. Whatever is not applied is said in a live region;
 * - drafts and work that survives a lost network or session: shell-keep.js,
 *   a part of the shell (AccordShell.addPart) for pages with the sign-in
 *   dialog. Elsewhere the page's texts say what became of a request.
 *
 * One closure of over 500 lines: the keys, the request in flight and the
 * keys typed ahead are one state that every handler here reads.
 *
 * A task type registers its module with AccordShell.taskType(key, module)
 * (static/js/tasktypes/), a workspace its own with AccordShell.page(frame,
 * module) (workspace.js, review.js); both are loaded by base.html after
 * this file.
 */
(function () {
  "use strict";

  var keys = window.AccordKeys;
  var storage = keys.storage;

  // --- the registries ------------------------------------------------------------
  // A task type's module: how its keys choose, how its value is read and
  // put back (drafts), and what to wire when an item is shown (enhance: a
  // widget that writes its value as JSON into a field named "value"). What
  // a module leaves out, this default does: form controls named "value", a
  // key on the control as data-hotkey.
  var DEFAULT_TYPE = {
    enhance: function () {},
    choose: function (form, key) {
      return keys.chooseByHotkey(form, key);
    },
    hasKey: function (form, key) {
      var escaped = window.CSS && CSS.escape ? CSS.escape(key) : key;
      return !!form.querySelector('[data-hotkey="' + escaped + '"]');
    },
    isAnswer: function (elt) {
      return elt.name === "value";
    },
    read: function (form) {
      var values = [];
      form.querySelectorAll('[name="value"]').forEach(function (input) {
        if ((input.type === "radio" || input.type === "checkbox") && !input.checked) return;
        values.push(input.value);
      });
      return values;
    },
    restore: function (form, values) {
      if (!Array.isArray(values)) return;
      form.querySelectorAll('[name="value"]').forEach(function (input) {
        if (input.type === "radio" || input.type === "checkbox") {
          input.checked = values.indexOf(input.value) >= 0;
        } else if (values.length === 1) {
          input.value = values[0];
        }
      });
    },
  };
  var taskTypes = {};
  var pages = {};
  // Parts that add to the shell (shell-keep.js), told of each request, swap
  // and item: swapped(elt, status), item(form), start(), and holding(),
  // true while a request is kept to be sent again.
  var parts = [];

  function tell(name, a, b) {
    parts.forEach(function (part) {
      if (part[name]) part[name](a, b);
    });
  }

  function holding() {
    return parts.some(function (part) {
      return part.holding && part.holding();
    });
  }

  function extend(base, module) {
    var out = {};
    Object.keys(base).forEach(function (name) {
      out[name] = base[name];
    });
    Object.keys(module || {}).forEach(function (name) {
      out[name] = module[name];
    });
    return out;
  }

  function taskType(form) {
    return (form && taskTypes[form.getAttribute("data-task-type")]) || DEFAULT_TYPE;
  }

  function shellPage() {
    return document.querySelector("[data-shell]");
  }

  // The page module of the workspace on screen (an empty one elsewhere).
  function page() {
    var section = shellPage();
    return (section && pages[section.getAttribute("data-shell")]) || {};
  }

  function frameId() {
    var section = shellPage();
    return section ? section.getAttribute("data-shell") : null;
  }

  function inShell(elt) {
    return !!(elt && elt.closest && elt.closest("[data-shell]"));
  }

  // The form the task keys and Enter act on.
  function answerForm() {
    return page().answerForm ? page().answerForm() : null;
  }

  function typeahead() {
    var section = shellPage();
    return !!section && section.hasAttribute("data-shell-typeahead");
  }

  // A page with the sign-in dialog keeps its work across a lost network or
  // session; others say what happened (their texts).
  function resilient() {
    return !!document.querySelector("[data-shell] [data-relogin]");
  }

  var busy = false; // a request of the frame (an answer, an action, next) is in flight
  // Keys typed while busy, or after an answer was swapped in but before it
  // was painted: applied to the item that answer shows (see the top).
  var ahead = { keys: [], painting: false, painted: false, settled: false, another: false, sentFrom: null };
  var inFlight = null; // the element whose request made us busy

  // --- the status region (a live region outside the swapped part) -------------
  var STATE_TEXT = {
    saving: "Saving your draft…",
    saved: "Draft saved.",
    unsaved: "Not saved yet.",
    offline: "Not saved: the server cannot be reached. Your answer is kept here and sent again when the connection is back.",
    login: "Not saved: your session has ended. Sign in to go on; your answer is kept.",
    sending: "Sending again…",
  };

  function say(state, text) {
    var region = document.querySelector("[data-shell-status]");
    if (!region) return;
    var words = text === undefined ? STATE_TEXT[state] || "" : text;
    region.setAttribute("data-state", state || "");
    // Writing the same words again would make some screen readers repeat them.
    if (region.textContent !== words) region.textContent = words;
  }

  function pageText(name, arg) {
    var texts = page().texts || {};
    var text = texts[name];
    return typeof text === "function" ? text(arg) : text;
  }

  document.addEventListener("click", function (event) {
    if (!event.target.closest || !inShell(event.target)) return;
    var close = event.target.closest("[data-dialog-close]");
    if (close) {
      var box = close.closest("dialog");
      if (box) box.close();
      return;
    }
    if (event.target.closest("[data-keymap-open]")) openKeymap();
  });

  // --- htmx: one request at a time, and what happens when it fails ------------------
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (!inShell(event.detail.elt)) return;
    if (busy) {
      event.preventDefault();
      return;
    }
    busy = true;
    inFlight = event.detail.elt;
    var onScreen = answerForm();
    ahead.sentFrom = onScreen ? onScreen.dataset.assignment || onScreen.dataset.review : null;
    var sending = pageText("sending");
    if (sending) say("saving", sending);
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    // The answer may have swapped the form out: htmx then tells the event on
    // another element, with the form (detached, outside the page) as elt.
    if (event.detail.elt !== inFlight && !inShell(event.detail.elt)) return;
    busy = false;
    inFlight = null;
    replayWhenReady();
  });

  document.addEventListener("htmx:sendError", function (event) {
    var elt = event.detail.elt;
    if (!inShell(elt)) return;
    if (!resilient()) {
      say("offline", pageText("offline"));
      return;
    }
    // shell-keep.js keeps the request and sends it again.
    if (elt.tagName === "FORM") dropAhead(NOT_SENT_AHEAD);
  });

  document.addEventListener("htmx:responseError", function (event) {
    var elt = event.detail.elt;
    if (!inShell(elt)) return;
    var status = event.detail.xhr.status;
    if (!resilient()) {
      if (status === 401) say("login", pageText("login"));
      else if (status >= 500) say("error", pageText("error", status));
      return;
    }
    // shell-keep.js asks to sign in, or keeps the request to send again.
    if (elt.tagName === "FORM") dropAhead(NOT_SENT_AHEAD);
  });

  document.addEventListener("htmx:beforeSwap", function (event) {
    var elt = event.detail.elt;
    if (!inShell(elt)) return;
    var status = event.detail.xhr.status;
    if (status === 429) {
      // A workspace renders "come back in a minute" with this status.
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  // After a swap of the frame: start the new item, and move the focus to it.
  document.addEventListener("htmx:afterSwap", function (event) {
    if (!event.detail.target || event.detail.target.id !== frameId()) return;
    var status = event.detail.xhr ? event.detail.xhr.status : 200;
    tell("swapped", event.detail.elt, status);
    if (!holding()) say("", status >= 400 ? pageText("refused") || "" : "");
    startItem();
    focusFrame();
    var form = answerForm();
    var shown = form ? form.dataset.assignment || form.dataset.review : null;
    afterSwap(status < 400 && !!form && shown !== ahead.sentFrom);
  });

  function focusFrame() {
    var frame = document.getElementById(frameId());
    if (!frame) return;
    if (keys.focusInvalid(frame)) return;
    var alert = frame.querySelector('[role="alert"]');
    var target = frame.querySelector("[data-item-text]") || frame.querySelector("[data-shell-focus]");
    if (target) target.focus({ preventScroll: !!alert });
    if (alert) alert.scrollIntoView({ block: "nearest" });
  }

  // --- the item on screen ----------------------------------------------------------
  function startItem() {
    var form = answerForm();
    if (form) taskType(form).enhance(form);
    if (page().onItem) page().onItem(form);
    if (form) tell("item", form);
    applyGuidelinesPreference();
  }

  // --- guidelines panel ------------------------------------------------------------
  // The panel's data-guidelines names where the user's choice is kept.
  var applyingPreference = false;

  function guidelinesPanel() {
    return document.querySelector("[data-shell] [data-guidelines]");
  }

  function applyGuidelinesPreference() {
    var panel = guidelinesPanel();
    var store = storage();
    if (!panel) return;
    var key = panel.getAttribute("data-guidelines");
    applyingPreference = true;
    if (panel.hasAttribute("data-changed")) {
      panel.open = true; // a new version: show it, whatever was chosen before
    } else if (store && key && store.getItem(key) !== null) {
      panel.open = store.getItem(key) === "1";
    }
    // "toggle" fires asynchronously; only a user's toggle is remembered.
    setTimeout(function () {
      applyingPreference = false;
    }, 0);
  }

  function rememberGuidelines(panel) {
    var store = storage();
    var key = panel.getAttribute("data-guidelines");
    if (store && key) store.setItem(key, panel.open ? "1" : "0");
  }

  document.addEventListener(
    "toggle",
    function (event) {
      var panel = event.target;
      if (!panel.matches || !panel.matches("[data-guidelines]") || applyingPreference) return;
      rememberGuidelines(panel);
    },
    true
  );

  function toggleGuidelines() {
    var panel = guidelinesPanel();
    if (!panel) return;
    panel.open = !panel.open;
    rememberGuidelines(panel);
    var target = panel.open ? panel.querySelector(".ws-guidelines__body") : panel.querySelector("summary");
    if (target) target.focus();
  }

  // --- key map ---------------------------------------------------------------------
  function openKeymap() {
    var dialog = document.querySelector("[data-shell] #keymap");
    if (!dialog || dialog.open) return;
    dialog.showModal();
    var close = dialog.querySelector("[data-dialog-close]");
    if (close) close.focus();
  }

  // --- sending ---------------------------------------------------------------------
  // A button is clicked rather than passed to requestSubmit: htmx learns
  // which button sent the form (its name and value) from the click, not
  // from the submit event.
  function send(form, button) {
    if (!form || busy) return;
    if (button) button.click();
    else form.requestSubmit();
  }

  function submitAnswer() {
    if (page().submit) page().submit(answerForm());
    else send(answerForm());
  }

  function choose(key) {
    var form = answerForm();
    return !!form && taskType(form).choose(form, key);
  }

  // --- keys typed ahead --------------------------------------------------------------
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

  // The keys a request in flight holds back: task keys (of the form on
  // screen, which the next item shares; any key when there is none yet),
  // Enter, and the page's Shift actions on an item. Shift+G and ? act at
  // once: they do not touch the item.
  function keepAhead(event) {
    var key = event.key;
    if (key === "Enter") return !keys.activatesOnEnter(event.target);
    if (key.length !== 1) return false;
    if (event.shiftKey) return (page().aheadShift || "").indexOf(key.toUpperCase()) >= 0;
    var form = answerForm();
    return !form || taskType(form).hasKey(form, key.toLowerCase());
  }

  // The item an answer swapped in is ready for typed-ahead keys when it
  // has been painted (a task queued from requestAnimationFrame runs after
  // the frame that paints it) and htmx has settled it: htmx wires the new
  // forms only then (about 20 ms on), and a form submitted before that would
  // be sent by the browser itself, as a page load.
  function afterSwap(another) {
    if (!typeahead()) return;
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
    if (!ahead.painting || !event.detail.target || event.detail.target.id !== frameId()) return;
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
    var typed = ahead.keys;
    ahead.keys = [];
    var chosen = false;
    var notes = [];
    for (var i = 0; i < typed.length; i += 1) {
      var one = typed[i];
      if (one.key === "Enter") {
        if (chosen && answerForm()) {
          // What follows is for the item this submit brings.
          ahead.keys = typed.slice(i + 1);
          submitAnswer();
          break;
        }
        notes.push(DROPPED_ENTER);
        continue;
      }
      if (one.shift) {
        if (page().replayShift && page().replayShift(one.key)) {
          ahead.keys = typed.slice(i + 1);
          break;
        }
        notes.push("Shift+" + one.key + " was pressed before this item was on screen, so it was not applied to it.");
        continue;
      }
      if (choose(one.key)) chosen = true;
    }
    if (notes.length) sayAhead(notes[notes.length - 1]);
  }

  // --- keys ------------------------------------------------------------------------
  document.addEventListener("keydown", function (event) {
    if (!shellPage() || event.isComposing || document.querySelector("dialog[open]")) return;
    // A page's Alt chords work in its text fields too (they never type).
    if (page().onChord && page().onChord(event)) return;
    if (keys.ignored(event)) return;
    var target = event.target;
    if (keys.typing(target)) {
      if (event.key === "Escape" && inShell(target) && page().onEscapeInField) page().onEscapeInField(event);
      return;
    }
    if (typeahead() && (busy || ahead.painting) && keepAhead(event)) {
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
    var key = event.key;
    if (key === "Enter") {
      if (keys.activatesOnEnter(event.target)) return;
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
      if (page().onEscape) page().onEscape(event);
      return;
    }
    if (event.shiftKey) {
      if (key.length === 1 && key.toUpperCase() === "G" && !/^(?:Digit|Numpad)/.test(event.code || "")) {
        event.preventDefault();
        toggleGuidelines();
      } else if (page().onShift) {
        page().onShift(event);
      }
      return;
    }
    if (key.length === 1 && choose(key.toLowerCase())) event.preventDefault();
  }

  // --- start -----------------------------------------------------------------------
  function enhance(root) {
    if (!shellPage()) return;
    document.querySelectorAll("[data-shell] [data-keymap-open]").forEach(function (button) {
      button.hidden = false;
    });
    if (root === document.body || root === document || (root.querySelector && root.querySelector("[data-shell]")) || (root.matches && root.matches("[data-shell]"))) {
      // A full page or the section of a tab: the item is new on screen.
      tell("start");
      startItem();
      var text = document.querySelector("[data-shell] [data-item-text]");
      if (text && (!document.activeElement || document.activeElement === document.body)) text.focus();
    }
  }

  // The pages and task types register before the page is enhanced: every
  // script is deferred, and htmx runs onLoad once the document is parsed.
  window.AccordShell = {
    taskType: function (key, module) {
      taskTypes[key] = extend(DEFAULT_TYPE, module);
    },
    page: function (frame, module) {
      pages[frame] = module;
    },
    send: send,
    say: say,
    busy: function () {
      return busy;
    },
    answerForm: answerForm,
    taskTypeOf: taskType,
    inShell: inShell,
    resilient: resilient,
    addPart: function (part) {
      parts.push(part);
    },
  };

  if (window.htmx) {
    window.htmx.onLoad(enhance);
  } else {
    document.addEventListener("DOMContentLoaded", function () {
      enhance(document);
    });
  }
})();
