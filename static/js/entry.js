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
  let draftTimer = null;
  let lastContact = Date.now();
  const editable = Boolean(form.querySelector("button[name='action'][value='save']"));

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
    clearTimeout(draftTimer);
    draftTimer = setTimeout(keepDraft, 300);
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
      if (loggedOut(response)) {
        sessionEnded();
        return;
      }
      data = await response.json();
    } catch (error) {
      if (number === sent) setState("error", "无法连接服务器，合计未更新；填写的内容仍在页面上，并已保留在本机。");
      return;
    }
    lastContact = Date.now();
    hideSessionWarning();
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

  // Keyboard. Enter in a one-line field moves to the next field instead of sending the
  // form half-filled; Ctrl+S (⌘S) saves the draft; Alt+N goes to the next empty field.
  function fields() {
    return Array.from(form.querySelectorAll("input[type='text'], textarea, .rich-editor"))
      .filter((field) => !field.disabled && field.getClientRects().length > 0);
  }

  function isEmpty(field) {
    const value = field.matches(".rich-editor") ? field.textContent : field.value;
    if (value.trim()) return false;
    // 偏差及原因分析 is asked for only where 得分 is below 分值.
    if (field.matches(".reason textarea")) return Boolean(field.closest("tr.reason-missing"));
    return true;
  }

  function nextEmpty() {
    const all = fields();
    const here = all.indexOf(document.activeElement);
    const ordered = [...all.slice(here + 1), ...all.slice(0, here + 1)];
    const field = ordered.find(isEmpty);
    if (field) {
      field.focus();
      field.scrollIntoView({ block: "center" });
      setState("idle", "已跳到下一个未填项");
    } else {
      setState("idle", "没有未填的项");
    }
  }

  function saveDraft() {
    const button = form.querySelector("button[name='action'][value='save']");
    if (button) form.requestSubmit(button);
  }

  form.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && event.target.matches("input[type='text']")) {
      event.preventDefault();
      const all = fields();
      all[all.indexOf(event.target) + 1]?.focus();
    }
  });
  document.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && !event.altKey && event.key.toLowerCase() === "s") {
      event.preventDefault(); // not the browser's "save page as"
      saveDraft();
    } else if (event.altKey && !event.ctrlKey && !event.metaKey && event.code === "KeyN") {
      event.preventDefault();
      nextEmpty();
    }
  });
  document.getElementById("next-empty")?.addEventListener("click", nextEmpty);

  // Drafts in this browser (static/js/drafts.js): what was typed and not yet saved is
  // kept under user + form + version, and offered again when the page opens.
  const drafts = window.entryDrafts;
  const user = form.dataset.user;
  const evaluationId = form.dataset.evaluation;
  const version = Number(form.elements.namedItem("version").value);
  const draftKey = drafts && drafts.keyOf(user, evaluationId, version);
  const notice = document.getElementById("draft-notice");
  let baseline = {};

  function snapshot() {
    syncEditors();
    const values = {};
    for (const [name, value] of new FormData(form)) {
      if (name === "csrfmiddlewaretoken" || name === "version" || typeof value !== "string") continue;
      (values[name] ||= []).push(value);
    }
    return values;
  }

  function changes(values) {
    const changed = {};
    for (const [name, value] of Object.entries(values)) {
      if (JSON.stringify(value) !== JSON.stringify(baseline[name])) changed[name] = value;
    }
    return changed;
  }

  function keepDraft(flags = {}) {
    if (!drafts || !editable || drafts.loggingOut) return;
    const changed = changes(snapshot());
    const kept = drafts.read(draftKey) || {};
    if (!Object.keys(changed).length) {
      drafts.remove(draftKey);
      return;
    }
    // The rows and 二级 removed since the page was drawn: on restore only these go, never
    // a row someone else added meanwhile.
    const removed = [];
    for (const name of ["rows", "categories"]) {
      const now = new Set(changed[name] || baseline[name] || []);
      if (changed[name]) removed.push(...(baseline[name] || []).filter((key) => !now.has(key)));
    }
    drafts.write(draftKey, {
      savedAt: Date.now(),
      sent: Boolean(flags.sent || (kept.sent && flags.sent !== false)),
      expired: Boolean(flags.expired || kept.expired),
      fields: changed,
      removed: [...new Set([...removed, ...(flags.removed || [])])],
    });
  }

  function loggedOut(response) {
    return response.redirected && new URL(response.url).pathname === form.dataset.loginPath;
  }

  function loginLink() {
    const link = document.createElement("a");
    link.href = `${form.dataset.loginPath}?next=${encodeURIComponent(location.pathname)}`;
    link.textContent = "重新登录";
    return link;
  }

  function sessionEnded() {
    keepDraft({ expired: true });
    setState("error", "登录已过期：填写的内容已保留在本机，重新登录后自动恢复。");
    showNotice("error", ["登录已过期：您填写的内容已保留在本机。", loginLink(), "后将自动恢复，再保存即可。"]);
  }

  function showNotice(kind, parts, withDiscard) {
    if (!notice) return;
    notice.dataset.kind = kind;
    const text = document.createElement("p");
    text.append(...parts);
    const children = [text];
    if (withDiscard) {
      const discard = document.createElement("button");
      discard.type = "button";
      discard.className = "button small";
      discard.textContent = "放弃这些内容，恢复已保存的";
      discard.addEventListener("click", () => {
        drafts.remove(draftKey);
        dirty = false;
        location.reload();
      });
      children.push(discard);
    }
    notice.replaceChildren(...children);
    notice.hidden = false;
  }

  // The rich-text editor gets back only what it can make: paragraphs, line breaks,
  // bold and lists, without attributes.
  const KEPT_TAGS = new Set(["P", "BR", "B", "STRONG", "UL", "OL", "LI"]);

  function cleanNodes(source) {
    const nodes = [];
    source.childNodes.forEach((node) => {
      if (node.nodeType === Node.TEXT_NODE) nodes.push(document.createTextNode(node.textContent));
      else if (node.nodeType === Node.ELEMENT_NODE && KEPT_TAGS.has(node.tagName)) {
        const element = document.createElement(node.tagName);
        element.append(...cleanNodes(node));
        nodes.push(element);
      } else if (node.nodeType === Node.ELEMENT_NODE) nodes.push(...cleanNodes(node));
    });
    return nodes;
  }

  function categoryHead(key) {
    return form.querySelector(`tr.category-head[data-category-head="${CSS.escape(key)}"]`);
  }

  function restoreStructure(values, removed) {
    if (!entryStructure) return;
    const gone = new Set(removed);
    for (const key of values.categories || []) {
      if (categoryHead(key)) continue;
      const group = form.querySelector(`tbody.group[data-group="${CSS.escape((values[`${key}-group`] || [""])[0])}"]`);
      const match = key.match(/^category-(new\d+)$/);
      if (!group || !match) continue;
      const [head] = fromTemplate("category-template", { __CATEGORY__: match[1], __GROUP__: group.dataset.group });
      group.append(head);
    }
    if (values.rows) {
      form.querySelectorAll("tr.indicator-row").forEach((row) => {
        if (gone.has(row.id)) row.remove();
      });
      const last = {};
      for (const key of values.rows) {
        let row = document.getElementById(key);
        const categoryKey = row ? row.dataset.category : (values[`${key}-category`] || [""])[0];
        const head = categoryHead(categoryKey);
        const match = key.match(/^indicator-(new\d+)$/);
        if (!head || (!row && !match)) continue;
        if (!row) {
          [row] = fromTemplate("row-template", {
            __ROW__: match[1], __CATEGORYKEY__: categoryKey, __GROUP__: head.dataset.group,
          });
        }
        (last[categoryKey] || head).after(row);
        last[categoryKey] = row;
      }
    }
    if (values.categories) {
      form.querySelectorAll("tr.category-head").forEach((head) => {
        if (!gone.has(head.dataset.categoryHead)) return;
        rowsOf(head.dataset.categoryHead).forEach((row) => row.remove());
        head.remove();
      });
    }
    form.querySelectorAll("[id^='indicator-new'], [id^='category-new']").forEach((element) => {
      const match = element.id.match(/new(\d+)$/);
      if (match) counter = Math.max(counter, Number(match[1]));
    });
  }

  function restoreValues(values) {
    for (const [name, value] of Object.entries(values)) {
      if (name === "rows" || name === "categories" || name === "action") continue;
      const editor = editors.find((element) => element.dataset.input === name);
      if (editor) {
        const parsed = new DOMParser().parseFromString(value[0], "text/html");
        editor.replaceChildren(...cleanNodes(parsed.body));
        continue;
      }
      const field = form.elements.namedItem(name);
      if (field && "value" in field && !field.disabled && field.type !== "hidden") field.value = value[0];
    }
  }

  const entryStructure = Boolean(document.getElementById("row-template"));

  function restore() {
    if (!drafts || !editable) return;
    let restored = null;
    for (const { key, version: draftVersion, draft } of drafts.of(user, evaluationId)) {
      if (draftVersion < version && draft.sent) {
        drafts.remove(key); // its save went through: the version moved on
        continue;
      }
      if (form.dataset.unsaved && draft.sent && draftVersion === version) {
        // The post this page answers (mistakes in it, nothing else changed): what it
        // sent is on the page already, drawn as typed. Not a login that ended.
        drafts.remove(key);
        continue;
      }
      const differing = changes(draft.fields || {});
      if (!Object.keys(differing).length || draftVersion > version) {
        drafts.remove(key);
        continue;
      }
      if (!restored || draft.savedAt > restored.draft.savedAt) restored = { key, draftVersion, draft, differing };
    }
    if (!restored) return;
    restoreStructure(restored.differing, restored.draft.removed || []);
    restoreValues(restored.differing);
    if (restored.key !== draftKey) drafts.remove(restored.key);
    const when = new Date(restored.draft.savedAt).toLocaleString("zh-CN", { hour12: false });
    const ended = restored.draft.sent || restored.draft.expired;
    const parts = [
      ended ? "登录已过期，已为您保留未保存的内容" : "已恢复您在本机未保存的内容",
      `（${when} 填写）。请核对后点击“保存草稿”。`,
    ];
    if (restored.draftVersion < version) parts.push("此后他人已保存过本表，请逐项核对。");
    keepDraft({ sent: false, expired: ended, removed: restored.draft.removed });
    showNotice("restored", parts, true);
    schedule();
  }

  baseline = form.dataset.unsaved ? {} : snapshot();
  restore();
  if (form.dataset.unsaved && editable) {
    // Drawn again from what was posted (mistakes, a stale version): not saved yet.
    dirty = true;
    keepDraft({ sent: false });
  }

  // A warning before the login ends while something is unsaved: each answer of the
  // server (the live figures) extends the session by its full length.
  const sessionSeconds = Number(form.dataset.sessionSeconds) || 0;
  const warning = document.getElementById("session-warning");
  const warnBefore = Math.min(5 * 60, sessionSeconds / 4) * 1000;

  function hideSessionWarning() {
    if (warning) warning.hidden = true;
  }

  function checkSession() {
    if (!sessionSeconds || !warning || !dirty) return;
    const left = sessionSeconds * 1000 - (Date.now() - lastContact);
    if (left > warnBefore) return;
    const minutes = Math.max(0, Math.ceil(left / 60000));
    warning.querySelector("[data-session-left]").textContent =
      left > 0 ? `登录将在约 ${minutes} 分钟后因长时间未操作而过期。` : "登录可能已过期。";
    warning.hidden = false;
  }

  document.getElementById("keep-session")?.addEventListener("click", () => {
    hideSessionWarning();
    preview();
  });
  setInterval(checkSession, Math.max(1000, Math.min(15000, warnBefore / 4)));

  // The sticky summary and save bar must not cover what a link or the focus goes to
  // (the fault list, a row a return comment names): the page scrolls by their heights.
  const summary = form.querySelector(".entry-summary");
  const actions = form.querySelector(".entry-actions");

  function measureBars() {
    const root = document.documentElement.style;
    if (summary) root.setProperty("--sticky-top", `${summary.offsetHeight + 8}px`);
    if (actions) root.setProperty("--sticky-bottom", `${actions.offsetHeight + 8}px`);
  }

  measureBars();
  if (window.ResizeObserver) {
    const observer = new ResizeObserver(measureBars);
    [summary, actions].forEach((bar) => bar && observer.observe(bar));
  }
  if (location.hash) document.getElementById(location.hash.slice(1))?.scrollIntoView();

  form.addEventListener("submit", (event) => {
    syncEditors();
    keepDraft({ sent: true }); // kept until the page after the save shows it arrived
    dirty = false;
    if (event.submitter) form.dataset.sending = event.submitter.value;
  });
  window.addEventListener("pagehide", () => {
    if (dirty) keepDraft();
  });
  window.addEventListener("beforeunload", (event) => {
    if (dirty) event.preventDefault();
  });
})();
