// /approvals: approve a waiting post, or reject it with a comment (asked for in the item).
// Both send the version of the post the page showed; when someone else decided first or the
// post changed since (409), the API's message is shown and the list is reloaded from the page.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const M = window.MKT;
  const { list, none, notice, error } = M.elements({
    list: "approvals", none: "no-approvals", notice: "approvals-notice", error: "approvals-error",
  });
  if (!list) return;

  function showEmptiness() {
    none.hidden = list.querySelector(".pending") !== null;
  }

  function say(text) {
    notice.textContent = text;
    notice.hidden = !text;
  }

  // The list as the server renders it now (only the items; the rest of the page stays).
  async function reload() {
    let html;
    try {
      const resp = await fetch("/approvals", { credentials: "same-origin" });
      if (!resp.ok || resp.redirected) return;
      html = await resp.text();
    } catch (_) {
      return;
    }
    const doc = new DOMParser().parseFromString(html, "text/html");
    const fresh = doc.getElementById("approvals");
    if (!fresh) return;
    const items = Array.from(fresh.querySelectorAll(".pending")).map((li) => document.importNode(li, true));
    list.replaceChildren(...items);
    M.localizeTimes(list);
    items.forEach(bind);
    showEmptiness();
  }

  function bind(li) {
    const id = encodeURIComponent(li.dataset.postId);
    const version = Number(li.dataset.version);
    const who = li.querySelector(".js-account").textContent;
    const err = li.querySelector(".js-error");
    const approve = li.querySelector(".js-approve");
    const reject = li.querySelector(".js-reject");
    const form = li.querySelector(".js-reject-form");
    const comment = form.querySelector(".js-comment");
    const send = form.querySelector(".js-reject-send");

    // Success: the item goes, with a short notice. A conflict: the API's words, then the list
    // as it is now.
    async function decided(r, words) {
      if (r.ok) {
        li.remove();
        showEmptiness();
        M.showError(error, "");
        say(words);
        return true;
      }
      if (r.status === 409) {
        say("");
        M.showError(error, r.error.message);
        await reload();
        return false;
      }
      M.showError(err, r.error.message);
      return false;
    }

    approve.addEventListener("click", async () => {
      M.showError(err, "");
      approve.disabled = true;
      const r = await M.api("POST", "/api/posts/" + id + "/approve", { version });
      approve.disabled = false;
      await decided(r, "Approved the post to " + who + ".");
    });

    reject.addEventListener("click", () => {
      form.hidden = false;
      reject.setAttribute("aria-expanded", "true");
      comment.focus();
    });
    form.querySelector(".js-close").addEventListener("click", () => {
      form.hidden = true;
      reject.setAttribute("aria-expanded", "false");
      M.showError(err, "", comment);
      reject.focus();
    });
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      M.showError(err, "", comment);
      if (!comment.value.trim()) {
        M.showError(err, "Write a comment: the author reads why it was rejected.", comment);
        comment.focus();
        return;
      }
      send.disabled = true;
      const r = await M.api("POST", "/api/posts/" + id + "/reject", { version, comment: comment.value });
      send.disabled = false;
      if (!r.ok && r.status !== 409) {
        M.showError(err, r.error.message, comment);
        comment.focus();
        return;
      }
      await decided(r, "Rejected the post to " + who + "; its author sees your comment.");
    });
  }

  list.querySelectorAll(".pending").forEach(bind);
});
