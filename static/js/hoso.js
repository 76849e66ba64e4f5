// Hoso's own script. No inline script anywhere: the CSP forbids it.
"use strict";
document.addEventListener("submit", function (event) {
  var form = event.target;
  var question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
}, true);

// A form sent back with errors: its summary (templates/_forms.html, error_summary) takes the
// focus, so the whole list is read out and in view, whatever autofocus a field asks for.
document.addEventListener("DOMContentLoaded", function () {
  var summary = document.querySelector("[data-error-summary]");
  if (summary) {
    summary.focus();
  }
});
