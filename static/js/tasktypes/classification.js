/* The classification task type's module for the workspace shell
 * (static/js/shell.js): its partials (templates/tasktypes/classification/)
 * render the labels as radio buttons, or checkboxes when multi-label, all
 * named "value", each with its hotkey as data-hotkey.
 *
 * - a label's hotkey chooses it (ticks or unticks it, multi-label) and moves
 *   the focus onto it, so a screen reader says what is now chosen;
 * - the value, for drafts, is the list of the chosen label keys.
 */
(function () {
  "use strict";

  function inputs(form) {
    return form.querySelectorAll('input[name="value"]');
  }

  window.AccordShell.taskType("classification", {
    choose: function (form, key) {
      return window.AccordKeys.chooseByHotkey(form, key);
    },
    hasKey: function (form, key) {
      var escaped = window.CSS && CSS.escape ? CSS.escape(key) : key;
      return !!form.querySelector('input[name="value"][data-hotkey="' + escaped + '"]');
    },
    read: function (form) {
      var values = [];
      inputs(form).forEach(function (input) {
        if (input.checked) values.push(input.value);
      });
      return values;
    },
    restore: function (form, values) {
      if (!Array.isArray(values)) return;
      inputs(form).forEach(function (input) {
        input.checked = values.indexOf(input.value) >= 0;
      });
    },
  });
})();
