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

  // The PDF is drawn on its first request (2–3 s): say so while the browser waits, and
  // let a second click wait for the same download rather than start another. A
  // download tells the page nothing when it arrives; the response sets a cookie with
  // the mark the link sent (views.evaluation_pdf), and the note goes when it is there.
  const pdfLink = document.querySelector("[data-pdf-link]");
  const pdfProgress = document.querySelector(".pdf-progress");
  if (pdfLink && pdfProgress) {
    let timer = null;
    pdfLink.addEventListener("click", (event) => {
      if (timer) {
        event.preventDefault();
        return;
      }
      const mark = Array.from(crypto.getRandomValues(new Uint8Array(8)),
        (byte) => byte.toString(16).padStart(2, "0")).join("");
      const url = new URL(pdfLink.href, location.href);
      url.searchParams.set("ready", mark);
      pdfLink.href = url.toString();
      pdfProgress.hidden = false;
      pdfLink.setAttribute("aria-disabled", "true");
      const started = Date.now();
      timer = setInterval(() => {
        const arrived = document.cookie.split("; ").includes(`pdf-ready=${mark}`);
        if (arrived || Date.now() - started > 30000) {
          clearInterval(timer);
          timer = null;
          pdfProgress.hidden = true;
          pdfLink.removeAttribute("aria-disabled");
        }
      }, 250);
    });
  }

  // 再复核 on a phone scrolls inside its box under sticky column names: the box's scroll
  // padding follows their height (0 while the fold is closed), so a field the focus
  // moves to is not hidden under them.
  const recheckBox = document.querySelector(".recheck-scroll");
  const recheckHead = recheckBox && recheckBox.querySelector("thead");
  if (recheckHead && window.ResizeObserver) {
    new ResizeObserver(() => {
      recheckBox.style.setProperty("--recheck-head", `${recheckHead.offsetHeight + 4}px`);
    }).observe(recheckHead);
  }

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
