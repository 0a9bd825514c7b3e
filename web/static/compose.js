// /compose: TikTok's required posting flow (tiktok-api.md §5.12). The account's live
// creator_info drives the form: the creator's nickname is shown, the privacy choices come
// from privacy_level_options with nothing preselected, interaction toggles start off and stay
// off where the creator disabled them, and the form stops when TikTok says the creator cannot
// post now. The video is previewed from a local object URL and uploaded with a real progress
// bar (XHR upload progress), cancellable at any time.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("compose");
  if (!form) return;
  const M = window.MKT;
  const $ = (id) => document.getElementById(id);
  const el = {
    account: $("account"), creator: $("creator"), creatorAvatar: $("creator-avatar"),
    creatorNickname: $("creator-nickname"), creatorStatus: $("creator-status"),
    accountError: $("account-error"), fields: $("post-fields"),
    video: $("video"), videoHint: $("video-hint"), preview: $("preview"), upload: $("upload"),
    progress: $("upload-progress"), uploadText: $("upload-text"), uploadCancel: $("upload-cancel"),
    videoError: $("video-error"),
    caption: $("caption"), captionCount: $("caption-count"), captionError: $("caption-error"),
    privacy: $("privacy"), privacyError: $("privacy-error"),
    allow: { comment: $("allow-comment"), duet: $("allow-duet"), stitch: $("allow-stitch") },
    interactionsError: $("interactions-error"),
    disclose: $("disclose"), discloseOptions: $("disclose-options"),
    brandOrganic: $("brand-organic"), brandContent: $("brand-content"), discloseError: $("disclose-error"),
    whenNow: $("when-now"), whenLater: $("when-later"), schedule: $("schedule"),
    scheduledAt: $("scheduled-at"), scheduledTz: $("scheduled-tz"), scheduleUtc: $("schedule-utc"),
    scheduleError: $("schedule-error"), consentBranded: $("consent-branded"),
    publish: $("publish"), formStatus: $("form-status"), formError: $("form-error"),
  };
  const CAPTION_MAX = Number(form.dataset.captionMax) || 2200;
  const MAX_UPLOAD = Number(form.dataset.maxUpload) || Infinity;
  const PRIVACY_WORDS = {
    PUBLIC_TO_EVERYONE: "Everyone",
    MUTUAL_FOLLOW_FRIENDS: "Friends (followers you follow back)",
    FOLLOWER_OF_CREATOR: "Followers",
    SELF_ONLY: "Only me",
  };
  const VIDEO_HINT = el.videoHint.textContent;

  let info = null; // the selected account's creator_info
  let infoRequest = 0; // only the latest creator_info answer counts
  let media = null; // the staged video {id, size}
  let xhr = null; // the running upload
  let objectUrl = null;
  let durationSec = null;
  // One key per post attempt: a retry after a lost answer cannot create a second post.
  let idempotencyKey = newKey();

  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return String(Date.now()) + Math.random().toString(16).slice(2);
  }

  function fmtBytes(n) {
    if (n < 1024) return n + " B";
    if (n < 1024 * 1024) return (n / 1024).toFixed(0) + " KB";
    if (n < 1024 * 1024 * 1024) return (n / 1024 / 1024).toFixed(1) + " MB";
    return (n / 1024 / 1024 / 1024).toFixed(2) + " GB";
  }

  function fmtDuration(sec) {
    const s = Math.round(sec);
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }

  // ---- account → creator_info ----

  async function loadCreator() {
    const id = el.account.value;
    info = null;
    infoRequest += 1;
    const mine = infoRequest;
    el.fields.disabled = true;
    el.creator.hidden = true;
    M.showError(el.accountError, "", el.account);
    if (!id) {
      el.creatorStatus.hidden = true;
      return;
    }
    el.creatorStatus.textContent = "Asking TikTok what this account can post…";
    el.creatorStatus.hidden = false;
    const r = await M.api("GET", "/api/accounts/" + encodeURIComponent(id) + "/creator-info");
    if (mine !== infoRequest) return;
    el.creatorStatus.hidden = true;
    if (!r.ok) {
      let why = r.error.message;
      if (r.error.code === "needs_reconnect") why += " Reconnect it on the Accounts page.";
      else if (r.error.code === "tiktok_refused") why = "This account cannot post right now. " + why;
      M.showError(el.accountError, why, el.account);
      return;
    }
    info = r.data;
    const nick = info.creator_nickname || "this account";
    el.creatorNickname.textContent = info.creator_username ? nick + " (@" + info.creator_username + ")" : nick;
    el.creatorAvatar.src = "/accounts/" + encodeURIComponent(id) + "/avatar";
    el.creator.hidden = false;
    buildPrivacy();
    applyToggles();
    el.fields.disabled = false;
    checkDuration();
  }

  function buildPrivacy() {
    const keep = el.privacy.value;
    const branded = el.disclose.checked && el.brandContent.checked;
    el.privacy.textContent = "";
    const none = document.createElement("option");
    none.value = "";
    none.textContent = "Choose who can watch";
    el.privacy.appendChild(none);
    (info ? info.privacy_level_options : []).forEach((level) => {
      const o = document.createElement("option");
      o.value = level;
      o.textContent = PRIVACY_WORDS[level] || level;
      if (branded && level === "SELF_ONLY") {
        o.disabled = true;
        o.textContent += " (not available for branded content)";
      }
      el.privacy.appendChild(o);
    });
    // Never a default: keep only what the creator already picked, if still offered.
    const still = Array.from(el.privacy.options).some((o) => o.value === keep && !o.disabled);
    el.privacy.value = still ? keep : "";
  }

  function applyToggles() {
    [["comment", "comment_disabled"], ["duet", "duet_disabled"], ["stitch", "stitch_disabled"]].forEach(([name, flag]) => {
      const box = el.allow[name];
      const off = Boolean(info && info[flag]);
      box.disabled = off;
      if (off) box.checked = false;
      $("allow-" + name + "-note").hidden = !off;
    });
  }

  // ---- video: preview, duration, upload with progress ----

  function checkDuration() {
    if (!info || durationSec === null) return true;
    const max = info.max_video_post_duration_sec;
    if (max && durationSec > max) {
      M.showError(el.videoError, "This video is " + fmtDuration(durationSec) + " long; this account can post videos up to " + fmtDuration(max) + ". Choose a shorter video.", el.video);
      return false;
    }
    return true;
  }

  function stopUpload() {
    if (xhr) {
      const running = xhr;
      xhr = null;
      running.abort();
    }
  }

  function resetVideo() {
    stopUpload();
    media = null;
    durationSec = null;
    el.videoHint.textContent = VIDEO_HINT;
    if (objectUrl) URL.revokeObjectURL(objectUrl);
    objectUrl = null;
    el.preview.removeAttribute("src");
    el.preview.hidden = true;
  }

  el.preview.addEventListener("loadedmetadata", () => {
    if (Number.isFinite(el.preview.duration)) {
      durationSec = el.preview.duration;
      checkDuration();
    }
  });
  el.preview.addEventListener("error", () => {
    if (!el.preview.getAttribute("src")) return;
    el.preview.hidden = true;
    el.videoHint.textContent = "This browser cannot preview this file. It is still uploaded and checked.";
  });

  el.video.addEventListener("change", () => {
    resetVideo();
    M.showError(el.videoError, "", el.video);
    el.upload.hidden = true;
    const file = el.video.files && el.video.files[0];
    if (!file) return;
    if (file.size === 0) {
      M.showError(el.videoError, "This file is empty. Choose the video file again.", el.video);
      return;
    }
    if (file.size > MAX_UPLOAD) {
      M.showError(el.videoError, "This file is " + fmtBytes(file.size) + "; the upload limit is " + fmtBytes(MAX_UPLOAD) + ".", el.video);
      return;
    }
    objectUrl = URL.createObjectURL(file);
    el.preview.src = objectUrl;
    el.preview.hidden = false;
    upload(file);
  });

  function upload(file) {
    const req = new XMLHttpRequest();
    xhr = req;
    req.open("POST", "/api/media");
    req.setRequestHeader("Content-Type", file.type || "application/octet-stream");
    req.setRequestHeader("Accept", "application/json");
    el.upload.hidden = false;
    el.uploadCancel.hidden = false;
    el.progress.max = file.size;
    el.progress.value = 0;
    el.uploadText.textContent = "Uploading: 0 B of " + fmtBytes(file.size) + " (0%)";
    req.upload.addEventListener("progress", (e) => {
      if (xhr !== req) return;
      const total = e.lengthComputable ? e.total : file.size;
      el.progress.max = total;
      el.progress.value = e.loaded;
      const pct = total ? Math.floor((e.loaded * 100) / total) : 0;
      el.uploadText.textContent = "Uploading: " + fmtBytes(e.loaded) + " of " + fmtBytes(total) + " (" + pct + "%)";
    });
    req.addEventListener("load", () => {
      if (xhr !== req) return;
      xhr = null;
      el.uploadCancel.hidden = true;
      const body = M.xhrJson(req);
      if (req.status >= 200 && req.status < 300 && body && body.id) {
        media = body;
        el.progress.value = el.progress.max;
        el.uploadText.textContent = "Uploaded: " + fmtBytes(body.size) + ". Ready to post.";
        return;
      }
      el.upload.hidden = true;
      let why = body && body.error ? body.error.message : "The upload failed (" + req.status + "). Please try again.";
      if (req.status === 401) why = "You are signed out. Sign in again, then choose the video again.";
      if (req.status >= 500) why = "The upload failed on our side. Please choose the video again.";
      M.showError(el.videoError, why, el.video);
    });
    req.addEventListener("error", () => {
      if (xhr !== req) return;
      xhr = null;
      el.upload.hidden = true;
      M.showError(el.videoError, "The upload was interrupted. Check your connection and choose the video again.", el.video);
    });
    req.send(file);
  }

  el.uploadCancel.addEventListener("click", () => {
    resetVideo();
    el.video.value = "";
    el.uploadCancel.hidden = true;
    el.progress.value = 0;
    el.uploadText.textContent = "Upload cancelled. Choose a video to upload it again.";
    el.video.focus();
  });

  // ---- caption ----

  function captionOk() {
    const n = el.caption.value.length; // UTF-16 code units, as TikTok counts
    el.captionCount.textContent = n + " / " + CAPTION_MAX;
    const over = n > CAPTION_MAX;
    el.captionCount.classList.toggle("over", over);
    M.showError(el.captionError, over ? "The caption is " + (n - CAPTION_MAX) + " characters too long for TikTok (" + n + " of " + CAPTION_MAX + ")." : "", el.caption);
    return !over;
  }
  el.caption.addEventListener("input", captionOk);

  // ---- commercial content disclosure ----

  function disclosureChanged() {
    el.discloseOptions.hidden = !el.disclose.checked;
    if (!el.disclose.checked) {
      el.brandOrganic.checked = false;
      el.brandContent.checked = false;
    }
    const branded = el.disclose.checked && el.brandContent.checked;
    el.consentBranded.hidden = !branded;
    M.showError(el.discloseError, "");
    if (info) buildPrivacy();
    if (branded && !el.privacy.value) {
      M.showError(el.privacyError, "", el.privacy);
    }
  }
  el.disclose.addEventListener("change", disclosureChanged);
  el.brandOrganic.addEventListener("change", disclosureChanged);
  el.brandContent.addEventListener("change", disclosureChanged);
  el.privacy.addEventListener("change", () => M.showError(el.privacyError, "", el.privacy));

  // ---- when ----

  function nextHour() {
    const d = new Date(Date.now() + 60 * 60 * 1000);
    d.setMinutes(0, 0, 0);
    return d;
  }

  function scheduleChanged() {
    const later = el.whenLater.checked;
    el.schedule.hidden = !later;
    el.publish.textContent = later ? "Schedule post" : "Post now";
    if (!later) return;
    if (!el.scheduledTz.options.length) M.fillZones(el.scheduledTz);
    if (!el.scheduledAt.value) el.scheduledAt.value = M.localInput(nextHour());
    const utc = M.zonedToUtc(el.scheduledAt.value, el.scheduledTz.value);
    el.scheduleUtc.textContent = utc ? "That is " + M.utcText(utc) + "." : "";
    M.showError(el.scheduleError, "", el.scheduledAt);
  }
  el.whenNow.addEventListener("change", scheduleChanged);
  el.whenLater.addEventListener("change", scheduleChanged);
  el.scheduledAt.addEventListener("input", scheduleChanged);
  el.scheduledAt.addEventListener("change", scheduleChanged);
  el.scheduledTz.addEventListener("change", scheduleChanged);

  // ---- submit ----

  // Where each API error code belongs: the message is shown next to that control.
  const PLACE = {
    privacy_level_required: "privacy", privacy_level_option_mismatch: "privacy",
    branded_content_cannot_be_private: "privacy",
    title_too_long: "caption",
    comments_disabled_by_creator: "interactions", duet_disabled_by_creator: "interactions",
    stitch_disabled_by_creator: "interactions",
    video_too_long: "video", media_in_use: "video", media_gone: "video", empty_upload: "video",
    invalid_time: "schedule", unknown_time_zone: "schedule", nonexistent_local_time: "schedule",
    ambiguous_local_time: "schedule", offset_mismatch: "schedule", time_in_past: "schedule",
    needs_reconnect: "account", account_cannot_publish: "account", cannot_post_now: "account",
  };
  const SLOTS = {
    privacy: [el.privacyError, el.privacy], caption: [el.captionError, el.caption],
    interactions: [el.interactionsError, el.allow.comment], video: [el.videoError, el.video],
    schedule: [el.scheduleError, el.scheduledAt], account: [el.accountError, el.account],
    form: [el.formError, el.publish],
  };

  function clearErrors() {
    Object.values(SLOTS).forEach(([err, control]) => M.showError(err, "", control));
    M.showError(el.discloseError, "");
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearErrors();
    let first = null;
    const bad = (slot, message, control) => {
      const [err, ctl] = SLOTS[slot] || [slot, control];
      M.showError(err, message, control || ctl);
      first = first || control || ctl;
    };
    if (!info) bad("account", "Choose the TikTok account to post to.");
    if (!media) {
      bad("video", xhr ? "The video is still uploading; wait for it to finish." : "Choose a video to post.");
    } else if (!checkDuration()) {
      first = first || el.video;
    }
    if (!captionOk()) first = first || el.caption;
    const branded = el.disclose.checked && el.brandContent.checked;
    if (!el.privacy.value) bad("privacy", "Choose who can watch this video.");
    else if (branded && el.privacy.value === "SELF_ONLY") bad("privacy", "Branded content cannot be private. Choose who else can watch.");
    if (el.disclose.checked && !el.brandOrganic.checked && !el.brandContent.checked) {
      bad(el.discloseError, "Choose whether the video promotes your own brand, another brand, or both; or turn the disclosure off.", el.brandOrganic);
    }
    const later = el.whenLater.checked;
    if (later) {
      const utc = M.zonedToUtc(el.scheduledAt.value, el.scheduledTz.value);
      if (!el.scheduledAt.value) bad("schedule", "Choose the date and time to post.");
      else if (utc && utc.getTime() < Date.now()) bad("schedule", "That time has passed. Choose a time in the future.");
    }
    if (first) {
      M.showError(el.formError, "Please fix the marked fields above.");
      first.focus();
      return;
    }
    const body = {
      account_id: el.account.value,
      media_id: media.id,
      title: el.caption.value,
      privacy_level: el.privacy.value,
      disable_comment: !el.allow.comment.checked,
      disable_duet: !el.allow.duet.checked,
      disable_stitch: !el.allow.stitch.checked,
      brand_content_toggle: branded,
      brand_organic_toggle: el.disclose.checked && el.brandOrganic.checked,
    };
    if (later) {
      body.scheduled_at = el.scheduledAt.value;
      body.scheduled_tz = el.scheduledTz.value;
    }
    el.publish.disabled = true;
    el.formStatus.textContent = later ? "Scheduling…" : "Sending to TikTok…";
    el.formStatus.hidden = false;
    const r = await M.api("POST", "/api/posts", body, { "Idempotency-Key": idempotencyKey });
    if (r.ok) {
      // In a workspace that requires approval, an editor's post waits for an admin first.
      const sent = r.data && r.data.state === "pending_approval" ? "approval" : later ? "scheduled" : "now";
      window.location.assign("/history?sent=" + sent);
      return;
    }
    el.publish.disabled = false;
    el.formStatus.hidden = true;
    // A refused request created nothing: the corrected one is a new request with a new key.
    // After a lost answer (network, 5xx) the same key lets the server recognise a retry.
    if (r.status >= 400 && r.status < 500) idempotencyKey = newKey();
    const slot = PLACE[r.error.code] || "form";
    bad(slot, r.error.message);
    if (slot !== "form") M.showError(el.formError, "Please fix the marked field above.");
    first.focus();
  });

  el.account.addEventListener("change", loadCreator);
  if (el.account.value) loadCreator();
});
