/* Accord's page behaviour.
 *
 * The Content-Security-Policy allows no inline script, no inline style and
 * no on* attributes, so everything the templates need is wired here from
 * data- attributes. Every page works without this file; it only adds
 * convenience (label colours, the label editor, focus after htmx swaps).
 */
(function () {
  "use strict";

  var HEX_COLOUR = /^#[0-9a-fA-F]{6}$/;

  // --- shared by the two keyboard workspaces (workspace.js, review.js) --------
  // Loaded before them (base.html, defer keeps the order).
  window.AccordKeys = {
    // A field the user types into: keys there are text, never shortcuts.
    typing: function (elt) {
      if (!elt) return false;
      if (elt.isContentEditable) return true;
      if (elt.tagName === "TEXTAREA" || elt.tagName === "SELECT") return true;
      if (elt.tagName !== "INPUT") return false;
      return ["radio", "checkbox", "button", "submit", "reset", "hidden"].indexOf(elt.type) < 0;
    },
    // Controls that Enter activates themselves (a link, a button, a summary).
    activatesOnEnter: function (elt) {
      return !!(elt && elt.closest && elt.closest("a[href], button, summary, [role=button]"));
    },
    // localStorage, or null where the browser switched it off.
    storage: function () {
      try {
        return window.localStorage;
      } catch (e) {
        return null;
      }
    },
    // A key that is not a shortcut: an input method composing, a modifier
    // (the browser's own shortcuts), or an open dialog (its own keys).
    ignored: function (event) {
      if (event.isComposing || event.keyCode === 229) return true;
      if (event.ctrlKey || event.metaKey || event.altKey) return true;
      return !!document.querySelector("dialog[open]");
    },
    // Choose (or toggle) the label with this hotkey in ``form``; true if one did.
    chooseByHotkey: function (form, key) {
      if (!form) return false;
      var escaped = window.CSS && CSS.escape ? CSS.escape(key) : key;
      var input = form.querySelector('input[data-hotkey="' + escaped + '"]');
      if (!input) return false;
      input.checked = input.type === "checkbox" ? !input.checked : true;
      input.dispatchEvent(new Event("change", { bubbles: true }));
      // On the control, so a screen reader says what is now chosen.
      input.focus();
      return true;
    },
    // After a swap: the first field the server marked invalid (the checked
    // choice of its group, if any), else ``target``. True if it moved focus.
    focusInvalid: function (root) {
      var invalid = root.querySelector('[aria-invalid="true"]');
      if (!invalid) return false;
      var group = invalid.closest("fieldset");
      var checked = group && group.querySelector("input:checked");
      (checked || invalid).focus();
      return true;
    },
  };

  // --- label colours -------------------------------------------------------
  // Colours come from data-color and are set through the CSSOM, which the
  // policy allows. Only #rrggbb is accepted: anything else is ignored.
  function applyColours(root) {
    root.querySelectorAll("[data-color]").forEach(function (el) {
      var colour = el.getAttribute("data-color");
      if (HEX_COLOUR.test(colour)) {
        el.style.setProperty("--label-color", colour);
      } else {
        el.style.removeProperty("--label-color");
      }
    });
  }

  // --- the label editor ----------------------------------------------------
  function enhanceRow(row) {
    if (row.dataset.enhanced) return;
    row.dataset.enhanced = "1";
    var remove = row.querySelector("[data-remove-label]");
    if (remove) remove.hidden = false;
    var text = row.querySelector(".input-color");
    var picker = row.querySelector("[data-color-picker]");
    if (text && picker) {
      picker.hidden = false;
      var sync = function () {
        if (HEX_COLOUR.test(text.value)) {
          picker.value = text.value.toLowerCase();
          picker.removeAttribute("data-empty");
        } else {
          picker.setAttribute("data-empty", "");
        }
      };
      sync();
      picker.addEventListener("input", function () {
        text.value = picker.value;
        picker.removeAttribute("data-empty");
      });
      text.addEventListener("input", sync);
    }
  }

  function enhanceEditors(root) {
    root.querySelectorAll("[data-schema-editor] .label-row").forEach(enhanceRow);
  }

  function addLabelRow(editor) {
    var template = editor.querySelector("template[data-label-template]");
    var rows = editor.querySelector("[data-label-rows]");
    var total = editor.querySelector('input[name$="-TOTAL_FORMS"]');
    if (!template || !rows || !total) return false;
    var index = parseInt(total.value, 10) || 0;
    // The template is server-rendered and escaped; only the index changes.
    rows.insertAdjacentHTML("beforeend", template.innerHTML.replace(/__prefix__/g, String(index)));
    total.value = String(index + 1);
    var row = rows.lastElementChild;
    enhanceRow(row);
    var first = row.querySelector("input");
    if (first) first.focus();
    return true;
  }

  document.addEventListener("click", function (event) {
    var add = event.target.closest("[data-add-label]");
    if (add) {
      var editor = add.closest("[data-schema-editor]");
      // Without a usable template the button falls back to the server,
      // which answers with one more empty row.
      if (editor && addLabelRow(editor)) event.preventDefault();
      return;
    }
    var remove = event.target.closest("[data-remove-label]");
    if (remove) {
      var row = remove.closest("tr");
      var next = row && (row.nextElementSibling || row.previousElementSibling);
      // A missing row posts as an empty one, which the server drops.
      if (row) row.remove();
      var focusTarget = next && next.querySelector("input");
      if (focusTarget) focusTarget.focus();
      return;
    }
    var copy = event.target.closest("[data-copy]");
    if (copy) {
      var input = document.getElementById(copy.getAttribute("data-copy"));
      if (!input) return;
      input.select();
      var done = function () {
        copy.textContent = "Copied";
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(input.value).then(done, function () {});
      } else if (document.execCommand && document.execCommand("copy")) {
        done();
      }
    }
  });

  document.addEventListener("focusin", function (event) {
    if (event.target.matches && event.target.matches("[data-select-on-focus]")) {
      event.target.select();
    }
  });

  function enhanceCopy(root) {
    root.querySelectorAll("[data-copy]").forEach(function (button) {
      button.hidden = false;
    });
  }

  function enhance(root) {
    applyColours(root);
    enhanceEditors(root);
    enhanceCopy(root);
    enhanceSelectAll(root);
  }

  // --- items: select all, upload size, search hotkey ----------------------
  function enhanceSelectAll(root) {
    root.querySelectorAll("[data-select-all]").forEach(function (button) {
      button.hidden = false;
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-select-all]");
    if (!button) return;
    var form = document.getElementById(button.getAttribute("data-select-all"));
    if (!form) return;
    var boxes = form.querySelectorAll('input[type="checkbox"][name="ids"]');
    var all = Array.prototype.every.call(boxes, function (box) {
      return box.checked;
    });
    boxes.forEach(function (box) {
      box.checked = !all;
    });
    button.setAttribute("aria-pressed", all ? "false" : "true");
    button.textContent = all ? "Select all on this page" : "Select none";
  });

  function fieldError(input, text) {
    var id = input.id + "_error";
    var list = document.getElementById(id);
    if (!list) {
      list = document.createElement("ul");
      list.className = "errorlist";
      list.id = id;
      input.parentNode.insertBefore(list, input);
    }
    var item = document.createElement("li");
    item.textContent = text;
    list.replaceChildren(item);
    input.setAttribute("aria-invalid", "true");
    var described = (input.getAttribute("aria-describedby") || "").split(" ");
    if (described.indexOf(id) < 0) input.setAttribute("aria-describedby", described.concat(id).join(" ").trim());
    input.focus();
  }

  // A file over the upload limit would be refused (413) only after it was
  // sent: say so beside the field before sending a byte. Capture phase, so
  // this runs before htmx sends the form.
  document.addEventListener(
    "submit",
    function (event) {
      var input = event.target.querySelector && event.target.querySelector('input[type="file"][data-max-bytes]');
      if (!input || !input.files || !input.files.length) return;
      var limit = parseInt(input.getAttribute("data-max-bytes"), 10);
      var file = input.files[0];
      if (limit && file.size > limit) {
        event.preventDefault();
        event.stopPropagation();
        fieldError(input, "The file is larger than the upload limit (" + formatBytes(limit) + "); nothing was sent.");
      }
    },
    true
  );

  function formatBytes(n) {
    var units = ["bytes", "KB", "MB", "GB"];
    var i = 0;
    while (n >= 1024 && i < units.length - 1) {
      n /= 1024;
      i += 1;
    }
    return (i ? n.toFixed(1) : String(n)) + " " + units[i];
  }

  // A search form marked data-drop-empty leaves its empty fields out of the
  // address (?q=kettle, not ?q=kettle&external_id=&state=); they mean the
  // same to the server.
  document.addEventListener("htmx:configRequest", function (event) {
    var detail = event.detail;
    if (detail.verb !== "get" || !detail.elt.closest || !detail.elt.closest("[data-drop-empty]")) return;
    var empty = [];
    detail.formData.forEach(function (value, key) {
      if (value === "") empty.push(key);
    });
    empty.forEach(function (key) {
      detail.formData.delete(key);
    });
  });

  // "/" focuses the search field, as in most list pages on the web.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
    var active = document.activeElement;
    if (active && (active.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName))) return;
    var search = document.querySelector('[aria-keyshortcuts="/"]');
    if (search) {
      event.preventDefault();
      search.focus();
      search.select();
    }
  });

  // --- htmx: focus, session expiry, errors ---------------------------------
  var focusedId = null;

  document.addEventListener("htmx:beforeRequest", function () {
    var active = document.activeElement;
    focusedId = active && active.id ? active.id : null;
  });

  document.addEventListener("htmx:beforeSwap", function (event) {
    // An expired session answers with the login page: go there for real
    // instead of drawing it inside the section.
    var xhr = event.detail.xhr;
    if (xhr && xhr.responseURL) {
      var url = new URL(xhr.responseURL);
      if (url.origin === window.location.origin && url.pathname.indexOf("/accounts/login/") === 0) {
        event.detail.shouldSwap = false;
        window.location.assign(xhr.responseURL);
        return;
      }
    }
    // A whole page answered to a section's request (Django's CSRF failure
    // page, which knows nothing of htmx): swap in only its main content.
    var text = event.detail.serverResponse;
    if (event.detail.shouldSwap && typeof text === "string" && /^\s*<!doctype/i.test(text)) {
      var main = new DOMParser().parseFromString(text, "text/html").querySelector("main");
      if (main) event.detail.serverResponse = main.innerHTML;
    }
  });

  // After a swap, keep keyboard users where they were: on the first field
  // with an error, else on what the answer asks to focus (a new invite
  // link), else on the control they used (if it is still there), else on
  // the section's heading.
  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail.target;
    if (!target || target.id !== "project-page") return;
    var first = target.querySelector('[aria-invalid="true"]') || target.querySelector("[data-focus-on-swap]");
    if (first) {
      first.focus();
      return;
    }
    var same = focusedId && document.getElementById(focusedId);
    if (same && target.contains(same)) {
      same.focus();
      return;
    }
    var heading = target.querySelector("[data-focus-target]");
    if (heading) heading.focus();
  });

  // A job's card replaces itself; when the Cancel button that had the
  // focus is gone (cancelled, or the job finished), the focus goes to the
  // card's title instead of falling back to the top of the page.
  document.addEventListener("htmx:afterSettle", function () {
    var match = focusedId && /^cancel-job-(\d+)$/.exec(focusedId);
    if (!match || document.getElementById(focusedId)) return;
    if (document.activeElement && document.activeElement !== document.body) return;
    var title = document.getElementById("job-" + match[1] + "-link");
    if (title) title.focus();
  });

  function say(text) {
    var region = document.getElementById("messages");
    if (!region) return;
    var p = document.createElement("p");
    p.className = "message message--error";
    var kind = document.createElement("span");
    kind.className = "message__kind";
    kind.textContent = "Error:";
    p.appendChild(kind);
    p.appendChild(document.createTextNode(" " + text));
    region.replaceChildren(p);
  }

  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr ? event.detail.xhr.status : 0;
    if (status === 413) {
      // The upload limit (accord/middleware.py) answers in plain text.
      var text = event.detail.xhr.responseText || "";
      say(text.length < 300 && !/</.test(text) ? text : "The upload is larger than the limit.");
    } else if (status >= 500) {
      say("The server could not finish this request (" + status + "). Please try again.");
    }
  });

  document.addEventListener("htmx:sendError", function () {
    say("The server could not be reached. Check your connection and try again.");
  });

  // --- start ---------------------------------------------------------------
  if (window.htmx) {
    // htmx:load fires for the page and for every piece of swapped content.
    window.htmx.onLoad(enhance);
  } else {
    document.addEventListener("DOMContentLoaded", function () {
      enhance(document);
    });
  }
})();
