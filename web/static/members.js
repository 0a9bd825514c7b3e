// /members: change a member's role, remove a member or leave (after a confirmation in the
// row), revoke an invitation, invite someone (the single-use link is shown once, with Copy),
// and, for owners, whether editors' posts need approval. The server decides what is allowed;
// the page only offers what the signed-in member's role may do.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const M = window.MKT;
  const BASE = "/api/workspaces/current";

  // ---- members ----

  document.querySelectorAll("#members tbody tr").forEach((tr) => {
    const id = encodeURIComponent(tr.dataset.userId);
    const error = tr.querySelector(".js-error");
    const select = tr.querySelector(".js-role");
    if (select) {
      const saved = tr.querySelector(".js-saved");
      select.addEventListener("change", async () => {
        M.showError(error, "");
        saved.textContent = "";
        select.disabled = true;
        const r = await M.api("PATCH", BASE + "/members/" + id, { role: select.value });
        select.disabled = false;
        if (!r.ok) {
          select.value = select.dataset.current;
          M.showError(error, r.error.message, select);
          return;
        }
        select.dataset.current = r.data.role;
        saved.textContent = "Saved: now " + r.data.role + ".";
      });
    }
    const ask = tr.querySelector(".js-ask");
    if (!ask) return;
    const confirm = tr.querySelector(".confirm-inline");
    const close = confirm.querySelector(".js-close");
    ask.addEventListener("click", () => {
      confirm.hidden = false;
      ask.setAttribute("aria-expanded", "true");
      close.focus();
    });
    close.addEventListener("click", () => {
      confirm.hidden = true;
      ask.setAttribute("aria-expanded", "false");
      M.showError(error, "");
      ask.focus();
    });
    const remove = confirm.querySelector(".js-remove");
    if (remove) {
      M.onClickCall(remove, error, () => M.api("DELETE", BASE + "/members/" + id), () => tr.remove());
    }
    const leave = confirm.querySelector(".js-leave");
    if (leave) {
      // Out of the workspace: the next page falls back to the personal one.
      M.onClickCall(leave, error, () => M.api("DELETE", BASE + "/members/" + id),
        () => window.location.assign("/"));
    }
  });

  // ---- invitations ----

  const invitations = document.getElementById("invitations");
  const none = document.getElementById("no-invitations");

  function showEmptiness() {
    if (!invitations) return;
    const empty = !invitations.querySelector("tbody tr");
    invitations.hidden = empty;
    none.hidden = !empty;
  }

  function bindInvitation(tr) {
    const revoke = tr.querySelector(".js-revoke");
    const error = tr.querySelector(".js-error");
    M.onClickCall(revoke, error,
      () => M.api("DELETE", BASE + "/invitations/" + encodeURIComponent(tr.dataset.invitationId)),
      () => { tr.remove(); showEmptiness(); });
  }

  function addInvitation(inv) {
    const tr = document.createElement("tr");
    tr.dataset.invitationId = inv.id;
    [inv.email, inv.role, M.formatLocal(new Date(inv.expires_at))].forEach((text) => {
      const td = document.createElement("td");
      td.textContent = text;
      tr.appendChild(td);
    });
    const td = document.createElement("td");
    const revoke = document.createElement("button");
    revoke.type = "button";
    revoke.className = "button danger-outline js-revoke";
    revoke.textContent = "Revoke";
    revoke.setAttribute("aria-label", "Revoke the invitation for " + inv.email);
    const error = document.createElement("p");
    error.className = "error js-error";
    error.setAttribute("role", "alert");
    error.hidden = true;
    td.append(revoke, error);
    tr.appendChild(td);
    invitations.querySelector("tbody").prepend(tr);
    bindInvitation(tr);
    showEmptiness();
  }

  if (invitations) invitations.querySelectorAll("tbody tr").forEach(bindInvitation);

  const form = document.getElementById("invite");
  if (form) {
    const { email, role, error, box, link, linkEmail, copy, copyStatus } = M.elements({
      email: "invite-email", role: "invite-role", error: "invite-error", box: "invite-link-box",
      link: "invite-link", linkEmail: "invite-link-email", copy: "copy-invite",
      copyStatus: "copy-invite-status",
    });
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      M.showError(error, "", email);
      const r = await M.api("POST", BASE + "/invitations", { email: email.value, role: role.value });
      if (!r.ok) {
        M.showError(error, r.error.message, email);
        email.focus();
        return;
      }
      link.value = r.data.link;
      linkEmail.textContent = r.data.email;
      copyStatus.textContent = "";
      box.hidden = false;
      email.value = "";
      addInvitation(r.data);
      link.focus();
      link.select();
    });
    copy.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(link.value);
        copyStatus.textContent = "Copied.";
      } catch (_) {
        link.select();
        copyStatus.textContent = "Select the link and copy it (Ctrl+C or ⌘+C).";
      }
    });
  }

  // ---- approval (owners) ----

  const approval = document.getElementById("approval-required");
  if (approval) {
    const status = document.getElementById("approval-status");
    const error = document.getElementById("approval-error");
    approval.addEventListener("change", async () => {
      M.showError(error, "");
      status.textContent = "";
      approval.disabled = true;
      const wanted = approval.checked;
      const r = await M.api("PATCH", BASE, {
        version: Number(approval.dataset.version), approval_required: wanted,
      });
      approval.disabled = false;
      if (!r.ok) {
        approval.checked = !wanted;
        M.showError(error, r.error.message);
        return;
      }
      approval.dataset.version = String(r.data.version);
      approval.checked = r.data.approval_required;
      status.textContent = r.data.approval_required
        ? "Saved: editors' posts now wait for approval."
        : "Saved: editors' posts go out without approval.";
    });
  }
});
