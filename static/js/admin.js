// What the admin's own markup leaves unnamed for screen readers, named once the page's
// widgets (inline tables, the two-box pickers, the autocomplete) are drawn.
(function () {
  "use strict";

  function hiddenText(text) {
    const span = document.createElement("span");
    span.className = "visually-hidden";
    span.textContent = text;
    return span;
  }

  // Inline tables: the headers of the row-title and delete columns are empty, and the
  // inputs are labelled only by their column's header.
  function nameInlineTables() {
    document.querySelectorAll(".tabular table").forEach((table) => {
      const headers = Array.from(table.querySelectorAll("thead th"));
      headers.forEach((th) => {
        if (!th.textContent.trim()) th.append(hiddenText(th.classList.contains("original") ? "行" : "操作"));
      });
      table.querySelectorAll("tbody tr").forEach((row) => {
        const title = row.querySelector("td.original p")?.textContent.trim() || "";
        Array.from(row.children).forEach((cell, index) => {
          cell.querySelectorAll("input:not([type=hidden]), select, textarea").forEach((field) => {
            if (field.labels?.length || field.getAttribute("aria-label")) return;
            const header = headers[index]?.textContent.trim();
            if (header) field.setAttribute("aria-label", `${title} ${header}`.trim());
          });
        });
      });
    });
  }

  // The two-box pickers' search icons carry a name on a bare <span>: make it an image.
  function nameFilterIcons() {
    document.querySelectorAll("span.search-label-icon[aria-label]").forEach((icon) => icon.setAttribute("role", "img"));
  }

  // The autocomplete's box takes its name from the field's label.
  function nameAutocompletes() {
    document.querySelectorAll("select.admin-autocomplete").forEach((select) => {
      const label = select.id && document.querySelector(`label[for="${CSS.escape(select.id)}"]`);
      const box = select.parentElement.querySelector(".select2-selection");
      if (!label || !box) return;
      label.id ||= `${select.id}-label`;
      box.setAttribute("aria-labelledby", label.id);
      box.querySelector(".select2-selection__rendered")?.setAttribute("aria-labelledby", label.id);
    });
  }

  function nameAll() {
    nameInlineTables();
    nameFilterIcons();
    nameAutocompletes();
  }

  // The widgets are drawn by the admin's scripts on load, some after it.
  window.addEventListener("load", () => {
    nameAll();
    new MutationObserver(nameAll).observe(document.body, { childList: true, subtree: true });
  });
})();
