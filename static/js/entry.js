// The entry page: live figures from the server, row editing, a small rich-text editor.
// The server computes every figure (preview endpoint); this script only displays them.
(function () {
  "use strict";
  const form = document.getElementById("entry-form");
  if (!form) return;
  const previewUrl = form.dataset.previewUrl;
  const resultsPhase = form.dataset.phase === "results";
  const liveState = document.getElementById("live-state");
  let timer = null;
  let sent = 0;
  let shown = 0;
  let dirty = false;

  // New rows get keys "new1", "new2"…, above any already on the page (after a re-render).
  let counter = 0;
  form.querySelectorAll("[id^='indicator-new'], [id^='category-new']").forEach((element) => {
    const match = element.id.match(/new(\d+)$/);
    if (match) counter = Math.max(counter, Number(match[1]));
  });

  function setState(state, text) {
    liveState.dataset.state = state;
    liveState.textContent = text;
  }

  function schedule() {
    dirty = true;
    clearTimeout(timer);
    setState("pending", "正在计算…");
    timer = setTimeout(preview, 350);
  }

  async function preview() {
    syncEditors();
    const number = ++sent;
    let data;
    try {
      const response = await fetch(previewUrl, {
        method: "POST",
        body: new FormData(form),
        headers: { "X-Requested-With": "fetch" },
        credentials: "same-origin",
      });
      data = await response.json();
    } catch (error) {
      if (number === sent) setState("error", "无法连接服务器，合计未更新；填写的内容仍在页面上。");
      return;
    }
    if (number < shown) return;
    shown = number;
    if (data.expired) {
      setState("error", data.expired);
      return;
    }
    show(data);
    if (number === sent) setState("idle", "已按当前填写计算");
  }

  function text(selector, value) {
    form.querySelectorAll(selector).forEach((element) => { element.textContent = value; });
  }

  function faultList(container, messages) {
    if (!container) return;
    container.replaceChildren(...messages.map((message) => {
      const p = document.createElement("p");
      p.className = "fault";
      p.textContent = message;
      return p;
    }));
  }

  function show(data) {
    form.querySelectorAll(".field-error").forEach((element) => { element.textContent = ""; });
    form.querySelectorAll("[aria-invalid]").forEach((element) => element.removeAttribute("aria-invalid"));
    for (const [name, message] of Object.entries(data.errors)) {
      const error = document.getElementById("error-" + name);
      if (error) error.textContent = message;
      const field = form.elements.namedItem(name);
      if (field && field.setAttribute) field.setAttribute("aria-invalid", "true");
    }
    for (const [key, rate] of Object.entries(data.budget)) text(`[data-rate="${key}"]`, rate);
    // The project form's 年度资金总额: its sums, 执行率 and the 得分 they earn.
    for (const [name, value] of Object.entries(data.budget_total || {})) {
      text(`[data-budget-total="${name}"]`, value);
    }
    for (const [key, group] of Object.entries(data.groups)) {
      text(`[data-group-points="${key}"]`, group.points);
      text(`[data-group-score="${key}"]`, group.score);
      faultList(form.querySelector(`[data-group-faults="${key}"]`), group.faults);
      const head = document.getElementById(key)?.querySelector(".group-head");
      if (head) head.classList.toggle("faulty", group.faults.length > 0);
    }
    for (const [key, row] of Object.entries(data.rows)) {
      const tr = document.getElementById(key);
      if (!tr) continue;
      tr.classList.toggle("faulty", row.faults.length > 0);
      tr.classList.toggle("needs-reason", row.reason_required);
      tr.classList.toggle("reason-missing", row.reason_missing);
      faultList(tr.querySelector("[data-row-faults]"), row.faults);
      const cell = tr.querySelector("[data-suggested]");
      if (cell && resultsPhase) showSuggestion(cell, row, tr);
    }
    document.getElementById("live-total-points").textContent = data.total.points;
    document.getElementById("live-total-score").textContent = data.total.score;
    text('[data-total="points"]', data.total.points);
    text('[data-total="score"]', data.total.score);
    document.getElementById("live-grade").textContent = (resultsPhase && data.total.grade) || "—";
    const count = document.getElementById("live-fault-count");
    count.textContent = data.faults.length ? `${data.faults.length} 处问题` : "通过";
    count.classList.toggle("has-faults", data.faults.length > 0);
    const section = document.getElementById("faults");
    section.hidden = data.faults.length === 0;
    document.getElementById("fault-list").replaceChildren(...data.faults.map((fault) => {
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.href = "#" + fault.anchor;
      a.textContent = fault.message;
      li.append(a);
      return li;
    }));
  }

  function showSuggestion(cell, row, tr) {
    const scoreInput = tr.querySelector("input[name$='-score']");
    const parts = [];
    if (!row.reason) {
      cell.replaceChildren();
      return;
    }
    if (row.suggested) {
      const span = document.createElement("span");
      span.className = "suggested-score";
      span.textContent = row.suggested;
      parts.push(span);
      if (scoreInput) {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "button small";
        button.dataset.action = "use-suggestion";
        button.textContent = "采用";
        button.setAttribute("aria-label", "采用建议得分 " + row.suggested);
        parts.push(" ", button);
      }
    }
    const reason = document.createElement("small");
    reason.className = "suggestion-reason" + (row.far_above ? " far-above" : "");
    reason.textContent = row.reason;
    parts.push(reason);
    const focused = cell.contains(document.activeElement);
    cell.replaceChildren(...parts);
    if (focused) cell.querySelector("button")?.focus();
  }

  // Rows: add, remove, move within their 二级; add and remove a 二级.
  function rowsOf(categoryKey) {
    return Array.from(form.querySelectorAll(`tr.indicator-row[data-category="${categoryKey}"]`));
  }

  function fromTemplate(id, replacements) {
    let html = document.getElementById(id).innerHTML;
    for (const [placeholder, value] of Object.entries(replacements)) html = html.replaceAll(placeholder, value);
    const body = document.createElement("tbody");
    body.innerHTML = html.trim();
    return Array.from(body.children);
  }

  function addRow(categoryHead) {
    const categoryKey = categoryHead.dataset.categoryHead;
    const [row] = fromTemplate("row-template", {
      __ROW__: "new" + ++counter,
      __CATEGORYKEY__: categoryKey,
      __GROUP__: categoryHead.dataset.group,
    });
    const rows = rowsOf(categoryKey);
    (rows.length ? rows[rows.length - 1] : categoryHead).after(row);
    row.querySelector("input[type='text']").focus();
    schedule();
  }

  function addCategory(groupBody) {
    const [head] = fromTemplate("category-template", {
      __CATEGORY__: "new" + ++counter,
      __GROUP__: groupBody.dataset.group,
    });
    groupBody.append(head);
    addRow(head);
    head.querySelector("input[type='text']").focus();
  }

  form.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const action = button.dataset.action;
    const tr = button.closest("tr");
    if (action === "add-row") addRow(tr);
    else if (action === "add-category") addCategory(button.closest("tbody"));
    else if (action === "remove-row") {
      const next = tr.nextElementSibling;
      tr.remove();
      (next?.querySelector("input[type='text'], button") || form.querySelector("button[type='submit']"))?.focus();
      schedule();
    } else if (action === "remove-category") {
      rowsOf(tr.dataset.categoryHead).forEach((row) => row.remove());
      const next = tr.nextElementSibling;
      tr.remove();
      (next?.querySelector("input[type='text'], button") || form.querySelector("button[type='submit']"))?.focus();
      schedule();
    } else if (action === "move-up" || action === "move-down") {
      const rows = rowsOf(tr.dataset.category);
      const index = rows.indexOf(tr);
      const other = rows[action === "move-up" ? index - 1 : index + 1];
      if (!other) return;
      if (action === "move-up") other.before(tr); else other.after(tr);
      button.focus();
      schedule();
    } else if (action === "use-suggestion") {
      useSuggestion(tr);
      schedule();
    } else if (action === "fill-suggestions") {
      form.querySelectorAll("tr.indicator-row").forEach((row) => {
        const input = row.querySelector("input[name$='-score']");
        if (input && !input.value.trim()) useSuggestion(row);
      });
      schedule();
    }
  });

  function useSuggestion(tr) {
    const input = tr.querySelector("input[name$='-score']");
    const suggested = tr.querySelector(".suggested-score");
    if (input && suggested) input.value = suggested.textContent.trim();
  }

  // The rich-text editor offers only what the server keeps: paragraphs, line
  // breaks (Shift+Enter), bold, and lists.
  document.execCommand("defaultParagraphSeparator", false, "p");
  const editors = Array.from(form.querySelectorAll(".rich-editor"));

  function syncEditors() {
    editors.forEach((editor) => { form.elements.namedItem(editor.dataset.input).value = editor.innerHTML; });
  }

  editors.forEach((editor) => {
    editor.addEventListener("input", schedule);
    const toolbar = editor.previousElementSibling;
    toolbar.addEventListener("mousedown", (event) => event.preventDefault());
    toolbar.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-command]");
      if (!button) return;
      editor.focus();
      const command = button.dataset.command;
      if (command === "paragraph") document.execCommand("formatBlock", false, "p");
      else document.execCommand(command, false, null);
      schedule();
    });
  });

  form.addEventListener("input", (event) => {
    if (!event.target.closest(".rich-editor")) schedule();
  });
  // Enter in a one-line field moves on instead of sending the form half-filled.
  form.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && event.target.matches("input[type='text']")) event.preventDefault();
  });
  form.addEventListener("submit", () => {
    syncEditors();
    dirty = false;
  });
  window.addEventListener("beforeunload", (event) => {
    if (dirty) event.preventDefault();
  });
})();
