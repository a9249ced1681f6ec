// Unsaved entry-page drafts kept in this browser's localStorage, so that nothing typed
// is lost to a reload, a closed tab or an expired login. On a shared office computer:
// only the entry form's typed fields are kept (no password, no token), one draft per
// user, form and version; a draft older than DRAFT_DAYS is deleted when any page of
// the site opens, and every draft on the computer is deleted at 退出登录.
(function () {
  "use strict";
  const PREFIX = "jixiao-draft:";
  const DRAFT_DAYS = 7;

  function storage() {
    try {
      return window.localStorage;
    } catch (error) {
      return null; // storage refused (private mode, a policy): the page works without drafts
    }
  }

  function keyOf(user, evaluation, version) {
    return `${PREFIX}${user}:${evaluation}:${version}`;
  }

  function read(key) {
    try {
      return JSON.parse(storage().getItem(key));
    } catch (error) {
      return null;
    }
  }

  function write(key, draft) {
    try {
      storage().setItem(key, JSON.stringify(draft));
      return true;
    } catch (error) {
      return false; // full or refused: the page still has the text
    }
  }

  function remove(key) {
    storage()?.removeItem(key);
  }

  // The drafts of one user's form, any version: [{key, version, draft}].
  function of(user, evaluation) {
    const store = storage();
    if (!store) return [];
    const start = `${PREFIX}${user}:${evaluation}:`;
    const found = [];
    for (let index = 0; index < store.length; index++) {
      const key = store.key(index);
      if (!key || !key.startsWith(start)) continue;
      const draft = read(key);
      if (draft) found.push({ key, version: Number(key.slice(start.length)), draft });
      else remove(key);
    }
    return found;
  }

  function allKeys() {
    const store = storage();
    if (!store) return [];
    const keys = [];
    for (let index = 0; index < store.length; index++) {
      const key = store.key(index);
      if (key && key.startsWith(PREFIX)) keys.push(key);
    }
    return keys;
  }

  function clearAll() {
    allKeys().forEach(remove);
  }

  function prune() {
    const oldest = Date.now() - DRAFT_DAYS * 24 * 60 * 60 * 1000;
    allKeys().forEach((key) => {
      const draft = read(key);
      if (!draft || !(draft.savedAt >= oldest)) remove(key);
    });
  }

  window.entryDrafts = { keyOf, read, write, remove, of, clearAll };

  prune();
  // 退出登录 on any page (the site's header, the entry page's, the admin's).
  document.addEventListener("submit", (event) => {
    const action = event.target.getAttribute("action") || "";
    if (action.endsWith("/accounts/logout/") || action.endsWith("/admin/logout/")) {
      window.entryDrafts.loggingOut = true; // the entry page keeps nothing after this
      clearAll();
    }
  }, true);

  // The table page after a submission: the drafts the submit carried are saved now.
  const saved = document.querySelector("[data-saved-version]");
  if (saved) {
    of(saved.dataset.user, saved.dataset.evaluation).forEach(({ key, version, draft }) => {
      if (draft.sent && version < Number(saved.dataset.savedVersion)) remove(key);
    });
  }

  // The login page, reached because a login ended: say the typed text is still here.
  const login = document.querySelector("[data-draft-login-notice]");
  if (login && allKeys().some((key) => read(key)?.sent || read(key)?.expired)) {
    login.hidden = false;
  }
})();
