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

// A link of the error summary puts the focus in its field, not only the page's scroll, so
// the next keystroke corrects it (the GOV.UK error summary does the same).
document.addEventListener("click", function (event) {
  var link = event.target.closest ? event.target.closest("[data-error-summary] a[href^='#']") : null;
  var field = link ? document.getElementById(link.getAttribute("href").slice(1)) : null;
  if (field) {
    event.preventDefault();
    field.scrollIntoView({block: "center"});
    field.focus();
    history.replaceState(null, "", link.getAttribute("href"));
  }
});
