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
})();
