// /history: live updates while posts are in flight, cancel / reschedule / retry, and each
// account's published videos. Posts are rendered by the server (one template); this script
// polls GET /api/posts and, when a post changed, swaps in its re-rendered item.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const M = window.MKT;
  const list = document.getElementById("posts");
  const live = document.getElementById("live");
  if (!list) return;
  const IN_FLIGHT = ["queued", "uploading", "processing", "unconfirmed"];
  const FAST = 3000;
  // A draft in the TikTok inbox moves when its creator posts it from the app, at any moment.
  const DRAFT = 15000;
  const SLOW = 60000;
  let timer = null;

  // ---- polling ----

  // How soon to look again: fast while anything is moving or a scheduled post is due within
  // ten minutes; every few seconds while a draft waits in a TikTok inbox; slowly while only
  // later schedules or approvals wait; not at all when everything is settled.
  function nextDelay(posts) {
    if (posts.some((p) => IN_FLIGHT.includes(p.state))) return FAST;
    const scheduled = posts.filter((p) => p.state === "scheduled");
    if (scheduled.some((p) => !p.scheduled_at || Date.parse(p.scheduled_at) - Date.now() < 10 * 60 * 1000)) return FAST;
    if (posts.some((p) => p.state === "in_inbox")) return DRAFT;
    // A post waiting for approval changes when an admin decides: look now and then.
    return scheduled.length || posts.some((p) => p.state === "pending_approval") ? SLOW : null;
  }

  function schedulePoll(delay) {
    clearTimeout(timer);
    timer = delay ? setTimeout(poll, delay) : null;
  }

  function changed(posts) {
    const items = list.querySelectorAll(".post");
    if (items.length !== posts.length) return true;
    return posts.some((p) => {
      const li = document.getElementById("post-" + p.id);
      return !li || li.dataset.state !== p.state || li.dataset.updated !== p.updated_at;
    });
  }

  async function poll() {
    const r = await M.api("GET", "/api/posts?limit=50");
    if (!r.ok) {
      live.textContent = "Live updates paused: " + r.error.message;
      schedulePoll(SLOW / 4);
      return;
    }
    live.textContent = "";
    const posts = r.data.posts || [];
    if (changed(posts)) await refresh();
    schedulePoll(nextDelay(posts));
  }

  function isOpen(li) {
    return Array.from(li.querySelectorAll(".reschedule, .confirm")).some((p) => !p.hidden);
  }

  async function refresh() {
    let html;
    try {
      const resp = await fetch("/history/posts", { credentials: "same-origin" });
      // A lapsed session is redirected to the sign-in page: keep what is shown.
      if (!resp.ok || resp.redirected) return;
      html = await resp.text();
    } catch (_) {
      return;
    }
    const tpl = document.createElement("template");
    tpl.innerHTML = html;
    const fresh = Array.from(tpl.content.querySelectorAll(".post"));
    const news = [];
    const nodes = fresh.map((li) => {
      const old = document.getElementById(li.id);
      if (old && old.dataset.updated === li.dataset.updated && old.dataset.state === li.dataset.state) return old;
      // Never pull a form away from someone using it; the next poll catches up.
      if (old && isOpen(old)) return old;
      if (!old || old.dataset.state !== li.dataset.state) {
        news.push((li.querySelector(".badge") || {}).textContent);
      }
      if (old && old.contains(document.activeElement)) {
        li.tabIndex = -1;
        setTimeout(() => li.focus(), 0);
      }
      M.localizeTimes(li);
      bind(li);
      return li;
    });
    list.replaceChildren(...nodes);
    const none = document.getElementById("no-posts");
    if (none) none.hidden = nodes.length > 0;
    if (news.length) live.textContent = "Updated: " + news.filter(Boolean).join(", ") + ".";
  }

  // ---- actions on one post ----

  function bind(li) {
    if (li.dataset.bound) return;
    li.dataset.bound = "1";
    const id = li.dataset.postId;
    const error = li.querySelector(".js-error");
    const path = "/api/posts/" + encodeURIComponent(id);
    const open = (btn, panel) => {
      li.querySelectorAll(".reschedule, .confirm").forEach((p) => { p.hidden = p !== panel; });
      li.querySelectorAll("[aria-expanded]").forEach((b) => b.setAttribute("aria-expanded", String(b === btn)));
      const first = panel.querySelector("input, select, button");
      if (first) first.focus();
    };
    const close = () => {
      li.querySelectorAll(".reschedule, .confirm").forEach((p) => { p.hidden = true; });
      li.querySelectorAll("[aria-expanded]").forEach((b) => b.setAttribute("aria-expanded", "false"));
      M.showError(error, "");
    };
    const done = async (r) => {
      if (r.ok) {
        close();
        await refresh();
        poll();
      } else {
        M.showError(error, r.error.message);
      }
    };
    li.querySelectorAll(".js-close").forEach((b) => b.addEventListener("click", close));

    const cancelBtn = li.querySelector(".js-cancel");
    const cancelPanel = li.querySelector(".confirm");
    if (cancelBtn && cancelPanel) {
      cancelBtn.addEventListener("click", () => open(cancelBtn, cancelPanel));
      li.querySelector(".js-cancel-yes").addEventListener("click", async (e) => {
        e.target.disabled = true;
        const r = await M.api("DELETE", path);
        e.target.disabled = false;
        done(r);
      });
    }

    const moveBtn = li.querySelector(".js-reschedule");
    const moveForm = li.querySelector(".reschedule");
    if (moveBtn && moveForm) {
      const tz = moveForm.querySelector(".js-tz");
      moveBtn.addEventListener("click", () => {
        if (tz.options.length < 2) M.fillZones(tz, tz.dataset.current || undefined);
        open(moveBtn, moveForm);
      });
      moveForm.addEventListener("submit", async (e) => {
        e.preventDefault();
        const at = moveForm.querySelector(".js-at");
        if (!at.value) {
          M.showError(error, "Choose the new date and time.", at);
          at.focus();
          return;
        }
        const r = await M.api("PATCH", path, { scheduled_at: at.value, scheduled_tz: tz.value });
        if (!r.ok) at.setAttribute("aria-invalid", "true");
        done(r);
      });
    }

    const retry = li.querySelector(".js-retry");
    if (retry) {
      retry.addEventListener("click", async () => {
        retry.disabled = true;
        const r = await M.api("POST", path + "/retry");
        retry.disabled = false;
        done(r);
      });
    }
  }

  list.querySelectorAll(".post").forEach(bind);
  const states = Array.from(list.querySelectorAll(".post")).map((li) => ({ state: li.dataset.state }));
  if (states.some((p) => IN_FLIGHT.includes(p.state) || p.state === "scheduled")) schedulePoll(FAST);
  else if (states.some((p) => p.state === "in_inbox")) schedulePoll(DRAFT);
  else if (states.some((p) => p.state === "pending_approval")) schedulePoll(SLOW);

  // ---- published videos per account (video.list) ----

  document.querySelectorAll("section.videos").forEach(async (section) => {
    const id = section.dataset.accountId;
    const status = section.querySelector(".js-videos-status");
    const ul = section.querySelector(".js-videos");
    const error = section.querySelector(".js-error");
    const r = await M.api("GET", "/api/accounts/" + encodeURIComponent(id) + "/videos?limit=10");
    status.hidden = true;
    if (!r.ok) {
      M.showError(error, "Could not load this account's videos from TikTok: " + r.error.message);
      return;
    }
    const videos = r.data.videos || [];
    if (!videos.length) {
      status.textContent = "No public videos on this account yet.";
      status.hidden = false;
      return;
    }
    videos.forEach((v) => {
      const li = document.createElement("li");
      const text = document.createElement("span");
      text.textContent = v.title || "(no caption)";
      li.appendChild(text);
      const meta = document.createElement("span");
      meta.className = "muted";
      if (v.create_time) meta.textContent = M.formatLocal(new Date(v.create_time * 1000)) + " ";
      if (v.share_url) {
        const a = document.createElement("a");
        a.href = v.share_url;
        a.rel = "noopener noreferrer";
        a.target = "_blank";
        a.textContent = "Watch on TikTok";
        meta.appendChild(a);
      }
      li.appendChild(meta);
      ul.appendChild(li);
    });
  });
});
