// The table page: a fold the address names (#recheck after its save) is open, so a
// reviewer's 再复核 box does not close after each save.
(function () {
  "use strict";
  function openTarget() {
    const target = location.hash && document.getElementById(location.hash.slice(1));
    if (target && target.tagName === "DETAILS") {
      target.open = true;
      target.scrollIntoView();
    }
  }
  openTarget();
  window.addEventListener("hashchange", openTarget);

  // Enter in a one-line field of the review forms (逐行意见, 再复核) moves to the next
  // field: it must never send a return or the re-check half-typed.
  document.addEventListener("keydown", (event) => {
    const field = event.target;
    if (event.key !== "Enter" || !field.matches("form input[type='text']")) return;
    event.preventDefault();
    const fields = Array.from(field.form.querySelectorAll("input[type='text'], textarea"));
    fields[fields.indexOf(field) + 1]?.focus();
  });
})();
