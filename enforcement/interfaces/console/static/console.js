// Comfort only: every page works without this file. The first error summary or refusal takes
// the focus, so a keyboard or screen-reader user lands on what went wrong.
document.addEventListener("DOMContentLoaded", () => {
  const alert = document.querySelector("#refusal, #error-summary");
  if (alert) alert.focus();
});
