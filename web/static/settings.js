// /settings: API keys (created with the chosen scopes; a new key is shown once, here; the list
// shows prefixes only), "sign out everywhere", and the creator's data: export, and erasure
// after typing "erase".
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const M = window.MKT;
  const form = document.getElementById("new-key");
  if (!form) return;
  const { name, error, box, value, copy, copyStatus, table, none } = M.elements({
    name: "key-name", error: "key-error", box: "new-key-box", value: "new-key-value",
    copy: "copy-key", copyStatus: "copy-status", table: "keys", none: "no-keys",
  });
  const tbody = table.querySelector("tbody");

  function bindRow(tr) {
    const ask = tr.querySelector(".js-revoke");
    const confirm = tr.querySelector(".confirm-inline");
    const err = tr.querySelector(".js-error");
    ask.addEventListener("click", () => {
      confirm.hidden = false;
      confirm.querySelector(".js-close").focus();
    });
    confirm.querySelector(".js-close").addEventListener("click", () => {
      confirm.hidden = true;
      M.showError(err, "");
      ask.focus();
    });
    confirm.querySelector(".js-revoke-yes").addEventListener("click", async (e) => {
      e.target.disabled = true;
      const r = await M.api("DELETE", "/api/keys/" + encodeURIComponent(tr.dataset.keyId));
      e.target.disabled = false;
      if (!r.ok) {
        M.showError(err, r.error.message);
        return;
      }
      tr.remove();
      const empty = !tbody.querySelector("tr");
      table.hidden = empty;
      none.hidden = !empty;
      name.focus();
    });
  }

  function cell(text, cls) {
    const td = document.createElement("td");
    if (cls) {
      const c = document.createElement(cls);
      c.textContent = text;
      td.appendChild(c);
    } else {
      td.textContent = text;
    }
    return td;
  }

  function addRow(k) {
    const tr = document.createElement("tr");
    tr.dataset.keyId = k.id;
    tr.appendChild(cell(k.name));
    tr.appendChild(cell(k.prefix + "…", "code"));
    tr.appendChild(cell(k.scopes.join(", ")));
    tr.appendChild(cell(M.formatLocal(new Date(k.created_at))));
    tr.appendChild(cell("never"));
    const actions = document.createElement("td");
    const ask = document.createElement("button");
    ask.type = "button";
    ask.className = "button danger-outline js-revoke";
    ask.textContent = "Revoke";
    ask.setAttribute("aria-label", "Revoke " + k.name);
    const confirm = document.createElement("span");
    confirm.className = "confirm-inline";
    confirm.hidden = true;
    confirm.append("Revoke? Tools using it stop working at once. ");
    const yes = document.createElement("button");
    yes.type = "button";
    yes.className = "button danger js-revoke-yes";
    yes.textContent = "Yes, revoke";
    const keep = document.createElement("button");
    keep.type = "button";
    keep.className = "button js-close";
    keep.textContent = "Keep";
    confirm.append(yes, " ", keep);
    const err = document.createElement("p");
    err.className = "error js-error";
    err.setAttribute("role", "alert");
    err.hidden = true;
    actions.append(ask, confirm, err);
    tr.appendChild(actions);
    tbody.prepend(tr);
    table.hidden = false;
    none.hidden = true;
    bindRow(tr);
  }

  tbody.querySelectorAll("tr").forEach(bindRow);

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    M.showError(error, "", name);
    const scopes = Array.from(form.querySelectorAll('input[name="scopes"]:checked')).map((c) => c.value);
    const r = await M.api("POST", "/api/keys", { name: name.value, scopes });
    if (!r.ok) {
      M.showError(error, r.error.message, name);
      name.focus();
      return;
    }
    value.value = r.data.key;
    box.hidden = false;
    copyStatus.textContent = "";
    name.value = "";
    addRow(r.data);
    value.focus();
    value.select();
  });

  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(value.value);
      copyStatus.textContent = "Copied.";
    } catch (_) {
      value.select();
      copyStatus.textContent = "Select the key and copy it (Ctrl+C or ⌘+C).";
    }
  });
});

document.addEventListener("DOMContentLoaded", () => {
  const M = window.MKT;
  const ask = document.getElementById("erase-ask");
  if (!ask) return;
  const { box, word, yes, no, error } = M.elements({
    box: "erase-confirm", word: "erase-word", yes: "erase-yes", no: "erase-no", error: "erase-error",
  });
  ask.addEventListener("click", () => {
    box.hidden = false;
    ask.hidden = true;
    word.focus();
  });
  no.addEventListener("click", () => {
    box.hidden = true;
    ask.hidden = false;
    word.value = "";
    yes.disabled = true;
    M.showError(error, "");
    ask.focus();
  });
  word.addEventListener("input", () => {
    yes.disabled = word.value.trim().toLowerCase() !== "erase";
  });
  M.onClickCall(yes, error, () => M.api("DELETE", "/api/me"),
    () => window.location.assign("/login?erased=1"));
});

document.addEventListener("DOMContentLoaded", () => {
  const M = window.MKT;
  const button = document.getElementById("sign-out-everywhere");
  if (!button) return;
  const error = document.getElementById("sessions-error");
  M.onClickCall(button, error, () => M.api("DELETE", "/auth/sessions"),
    () => window.location.assign("/login"));
});
