// /compose: TikTok's required posting flow (tiktok-api.md §5.12) for every posting path. The
// account's live creator_info drives the form: the creator's nickname is shown, the privacy
// choices come from privacy_level_options with nothing preselected (and why they are limited,
// when TikTok has not audited the app), interaction toggles start off and stay off where the
// creator disabled them, and the form stops when TikTok says the creator cannot post now.
// What is posted: a video from this device, a video TikTok downloads from a verified address
// (it never passes through us), or 1 to 35 photos put in order with a cover. How: posted
// directly, or sent as a draft to the creator's TikTok inbox, finished in the TikTok app (then
// TikTok, not this form, asks who can watch). Media is previewed from local object URLs and
// nothing is sent until the creator submits. "Post now" streams a video straight to TikTok
// through our server's memory (POST /api/posts with "upload": "stream", then
// PUT /api/posts/{id}/video): it is never stored on our side. Whatever waits (a schedule, a
// draft, photos TikTok fetches) is uploaded first (POST /api/media) and kept encrypted until
// TikTok has it. Uploads show real progress (XHR upload progress); leaving mid-way asks first.
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
    video: $("video"), videoHint: $("video-hint"), videoChosen: $("video-chosen"),
    preview: $("preview"), upload: $("upload"),
    progress: $("upload-progress"), uploadText: $("upload-text"), uploadCancel: $("upload-cancel"),
    videoError: $("video-error"),
    coverField: $("cover-field"), coverRangeWrap: $("cover-range-wrap"), coverRange: $("cover-frame"),
    coverSecondsWrap: $("cover-seconds-wrap"), coverSeconds: $("cover-seconds"),
    coverText: $("cover-frame-text"), coverError: $("cover-error"),
    sourceFile: $("source-file"), sourceUrl: $("source-url"), sourcePhotos: $("source-photos"),
    videoField: $("video-field"), urlField: $("url-field"), photosField: $("photos-field"),
    videoUrl: $("video-url"), videoUrlError: $("video-url-error"),
    photos: $("photos"), photoList: $("photo-list"), photosStatus: $("photos-status"),
    photosError: $("photos-error"), autoMusic: $("auto-music"),
    asDraft: $("as-draft"), asDraftNote: $("as-draft-note"), directOnly: $("direct-only"),
    captionLabel: $("caption-label"), captionNote: $("caption-note"),
    descriptionField: $("description-field"), description: $("description"),
    descriptionCount: $("description-count"), descriptionError: $("description-error"),
    privacyNote: $("privacy-note"), toggleDuet: $("toggle-duet"), toggleStitch: $("toggle-stitch"),
    consent: $("consent"),
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
  const PHOTO_TITLE_MAX = Number(form.dataset.photoTitleMax) || 90;
  const DESCRIPTION_MAX = Number(form.dataset.descriptionMax) || 4000;
  const MAX_PHOTOS = Number(form.dataset.maxPhotos) || 35;
  const MAX_UPLOAD = Number(form.dataset.maxUpload) || Infinity;
  const MAX_PHOTO = Math.min(Number(form.dataset.maxPhotoBytes) || Infinity, MAX_UPLOAD);
  const URL_PREFIXES = (form.dataset.urlPrefixes || "").split(" ").filter(Boolean);
  const PRIVACY_WORDS = {
    PUBLIC_TO_EVERYONE: "Everyone",
    MUTUAL_FOLLOW_FRIENDS: "Friends (followers you follow back)",
    FOLLOWER_OF_CREATOR: "Followers",
    SELF_ONLY: "Only me",
  };
  const VIDEO_HINT = el.videoHint.textContent;

  let info = null; // the selected account's creator_info
  let draftsOnly = false; // the account granted only video.upload: drafts, no creator_info
  let photos = []; // the chosen photos, in posting order: {key, file, url, media}
  let coverKey = null; // the photo chosen as cover
  let photoKeys = 0;
  let infoRequest = 0; // only the latest creator_info answer counts
  let media = null; // the staged video {id, size} (scheduled posts)
  let file = null; // the chosen video file
  let streamPost = null; // the pass-through post waiting for its bytes {id, upload_path}
  let xhr = null; // the running upload
  let objectUrl = null;
  let durationSec = null;
  let coverMs = null; // the cover frame the creator chose, in ms; null: TikTok's first frame
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

  // What the chosen account allows: a direct post (video.publish), drafts (video.upload), or
  // both. A drafts-only account has no creator_info to ask (TikTok asks for none for drafts).
  function accountModes() {
    const o = el.account.selectedOptions[0];
    return { direct: !o || o.dataset.direct !== "false", drafts: !o || o.dataset.drafts !== "false", name: o ? o.dataset.name : "" };
  }

  function applyAccountModes(modes) {
    draftsOnly = !modes.direct;
    if (!modes.direct) {
      el.asDraft.checked = true;
      el.asDraft.disabled = true;
      el.asDraftNote.textContent = "This account allowed MKT POST only to send drafts (TikTok's “video.upload” permission). To post directly, reconnect it on the Accounts page and allow posting.";
    } else if (!modes.drafts) {
      el.asDraft.checked = false;
      el.asDraft.disabled = true;
      el.asDraftNote.textContent = "This account did not allow drafts (TikTok's “video.upload” permission). To send drafts, reconnect it on the Accounts page and allow uploads.";
    } else {
      el.asDraft.disabled = false;
      el.asDraftNote.textContent = "";
    }
    el.asDraftNote.hidden = !el.asDraftNote.textContent;
    modeChanged();
  }

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
    const modes = accountModes();
    applyAccountModes(modes);
    if (!modes.direct) {
      el.creatorStatus.hidden = true;
      el.creatorNickname.textContent = modes.name;
      el.creatorAvatar.src = "/accounts/" + encodeURIComponent(id) + "/avatar";
      el.creator.hidden = false;
      buildPrivacy();
      el.fields.disabled = false;
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
    el.privacyNote.textContent = info.private_only_reason || "";
    el.privacyNote.hidden = !info.private_only_reason;
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
    if (!info || durationSec === null || source() !== "file") return true;
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
    file = null;
    streamPost = null;
    durationSec = null;
    el.videoHint.textContent = VIDEO_HINT;
    if (objectUrl) URL.revokeObjectURL(objectUrl);
    objectUrl = null;
    el.preview.removeAttribute("src");
    el.preview.hidden = true;
    el.videoChosen.hidden = true;
    coverReset();
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
    el.videoHint.textContent = "This browser cannot preview this file. It is still checked when you post.";
  });

  // MP4/MOV (an ISO-BMFF "ftyp" box at byte 4) or WebM (an EBML header): what TikTok takes.
  async function looksLikeVideo(f) {
    const head = new Uint8Array(await f.slice(0, 12).arrayBuffer());
    const ebml = head[0] === 0x1a && head[1] === 0x45 && head[2] === 0xdf && head[3] === 0xa3;
    const ftyp = String.fromCharCode(head[4], head[5], head[6], head[7]) === "ftyp";
    return ebml || ftyp;
  }

  function videoType(f) {
    if (["video/mp4", "video/quicktime", "video/webm"].includes(f.type)) return f.type;
    if (/\.mov$/i.test(f.name)) return "video/quicktime";
    if (/\.webm$/i.test(f.name)) return "video/webm";
    return "video/mp4";
  }

  el.video.addEventListener("change", async () => {
    resetVideo();
    M.showError(el.videoError, "", el.video);
    el.upload.hidden = true;
    const chosen = el.video.files && el.video.files[0];
    if (!chosen) return;
    if (chosen.size === 0) {
      M.showError(el.videoError, "This file is empty. Choose the video file again.", el.video);
      return;
    }
    if (chosen.size > MAX_UPLOAD) {
      M.showError(el.videoError, "This file is " + fmtBytes(chosen.size) + "; the upload limit is " + fmtBytes(MAX_UPLOAD) + ".", el.video);
      return;
    }
    if (!(await looksLikeVideo(chosen))) {
      M.showError(el.videoError, "This file is not a video TikTok accepts: choose an MP4, MOV or WebM file.", el.video);
      return;
    }
    file = chosen;
    el.videoChosen.textContent = "Chosen: " + chosen.name + " (" + fmtBytes(chosen.size) + "). Nothing is sent until you post.";
    el.videoChosen.hidden = false;
    objectUrl = URL.createObjectURL(chosen);
    el.preview.src = objectUrl;
    el.preview.hidden = false;
    coverShow();
  });

  // ---- cover frame ----

  // TikTok shows the frame at video_cover_timestamp_ms as the video's cover, the first frame
  // when none is sent, so nothing is sent until the creator moves the control. They pick it on
  // the local preview, which seeks to that frame (the video goes nowhere for this): a range
  // over the video once the browser has read its length, else a number of seconds (a file
  // this browser cannot decode still gets a cover; the server and TikTok check it then).

  // A video from this device posted directly: a draft's cover is chosen in the TikTok app, and
  // a video at a web address cannot be previewed here.
  function coverApplies() {
    return source() === "file" && !isDraft() && Boolean(file);
  }

  function fmtCover(ms) {
    const t = Math.round(ms / 100);
    return Math.floor(t / 600) + ":" + String(Math.floor(t / 10) % 60).padStart(2, "0") + "." + (t % 10);
  }

  function coverControl() {
    return el.coverRangeWrap.hidden ? el.coverSeconds : el.coverRange;
  }

  function coverShow() {
    el.coverField.hidden = !coverApplies();
    const known = durationSec !== null;
    el.coverRangeWrap.hidden = !known;
    el.coverSecondsWrap.hidden = known;
    if (known) {
      // The last 100 ms step before the end: a cover at the very end is past the video.
      const max = Math.max(0, Math.floor((Math.floor(durationSec * 1000) - 1) / 100) * 100);
      el.coverRange.max = String(max);
      if (coverMs !== null) coverMs = Math.min(coverMs, max);
      el.coverRange.value = String(coverMs || 0);
    }
    coverText();
  }

  function coverText() {
    el.coverText.textContent = coverMs === null
      ? "Cover: the first frame (TikTok's default). Move the control to choose another."
      : "Cover: the frame at " + fmtCover(coverMs);
    el.coverRange.setAttribute("aria-valuetext", fmtCover(Number(el.coverRange.value)));
  }

  function coverSeek() {
    // Only a preview that has read the file's metadata can seek.
    if (coverMs !== null && el.preview.readyState >= 1) el.preview.currentTime = coverMs / 1000;
  }

  function coverReset() {
    coverMs = null;
    el.coverSeconds.value = "";
    el.coverRange.value = "0";
    M.showError(el.coverError, "", coverControl());
    coverShow();
  }

  // What is wrong with the typed cover time, in words; "" when it can be sent (or is unset).
  function coverProblem() {
    if (!coverApplies() || el.coverSecondsWrap.hidden) return "";
    if (el.coverSeconds.validity.badInput) return "Enter the cover frame's time in seconds, for example 1.5.";
    const v = el.coverSeconds.value.trim();
    if (v !== "" && !(Number(v) >= 0)) return "The cover frame is a time from 0 seconds into the video.";
    return "";
  }

  el.preview.addEventListener("loadedmetadata", () => {
    coverShow();
    coverSeek();
  });
  el.coverRange.addEventListener("input", () => {
    coverMs = Number(el.coverRange.value);
    M.showError(el.coverError, "", el.coverRange);
    coverText();
    coverSeek();
  });
  el.coverSeconds.addEventListener("input", () => {
    M.showError(el.coverError, "", el.coverSeconds);
    const v = el.coverSeconds.value.trim();
    const sec = Number(v);
    // Emptied again: back to TikTok's default.
    coverMs = v === "" || !(sec >= 0) ? null : Math.round(sec * 1000);
    coverText();
    coverSeek();
  });

  // Leaving mid-upload loses it: the browser asks first.
  window.addEventListener("beforeunload", (e) => {
    if (!xhr) return;
    e.preventDefault();
    e.returnValue = "";
  });

  function showProgress(verb, loaded, total) {
    el.progress.max = total;
    el.progress.value = loaded;
    const pct = total ? Math.floor((loaded * 100) / total) : 0;
    el.uploadText.textContent = verb + ": " + fmtBytes(loaded) + " of " + fmtBytes(total) + " (" + pct + "%)";
  }

  // One XHR carrying `blob` (the video file unless given; or its tail from `offset`) with
  // progress; resolves to {status, body}: status 0 when the connection broke, -1 when the
  // creator cancelled.
  function send(method, path, verb, offset, headers, blob) {
    const body = blob || file;
    return new Promise((resolve) => {
      const req = new XMLHttpRequest();
      xhr = req;
      req.open(method, path);
      Object.entries(headers).forEach(([k, v]) => req.setRequestHeader(k, v));
      req.setRequestHeader("Accept", "application/json");
      el.upload.hidden = false;
      el.uploadCancel.hidden = false;
      showProgress(verb, offset, body.size);
      req.upload.addEventListener("progress", (e) => {
        if (xhr === req) showProgress(verb, offset + e.loaded, body.size);
      });
      const done = (status) => {
        const mine = xhr === req;
        if (mine) xhr = null;
        el.uploadCancel.hidden = true;
        resolve({ status: mine ? status : -1, body: M.xhrJson(req) });
      };
      req.addEventListener("load", () => done(req.status));
      req.addEventListener("error", () => done(0));
      req.addEventListener("abort", () => done(-1));
      req.send(offset ? body.slice(offset) : body);
    });
  }

  // Schedule: the video is uploaded first and waits encrypted on our side until its time.
  async function stage() {
    if (media) return { ok: true };
    const r = await send("POST", "/api/media", "Uploading", 0, { "Content-Type": videoType(file) });
    if (r.status >= 200 && r.status < 300 && r.body && r.body.id) {
      media = r.body;
      el.uploadText.textContent = "Uploaded: " + fmtBytes(r.body.size) + ".";
      return { ok: true };
    }
    return { ok: false, status: r.status, body: r.body };
  }

  // Post now: the bytes go straight through to TikTok. An interrupted send resumes from the
  // byte TikTok has (GET on the same path), a few times, while TikTok still takes it.
  async function streamBytes() {
    let offset = 0;
    let last = { ok: false, status: 0, body: null };
    for (let attempt = 0; attempt < 4; attempt += 1) {
      const headers = { "Content-Type": videoType(file) };
      if (offset) headers["Content-Range"] = "bytes " + offset + "-" + (file.size - 1) + "/" + file.size;
      const r = await send("PUT", streamPost.upload_path, "Sending to TikTok", offset, headers);
      if (r.status >= 200 && r.status < 300) return { ok: true };
      last = { ok: false, status: r.status, body: r.body };
      const code = r.body && r.body.error ? r.body.error.code : "";
      const resumable = r.status === 0 || code === "upload_interrupted" || code === "range_mismatch" || code === "upload_in_progress";
      if (!resumable) return last;
      await new Promise((ok) => setTimeout(ok, 1000 * (attempt + 1)));
      const p = await M.api("GET", streamPost.upload_path);
      if (!p.ok || (p.data.state !== "uploading" && p.data.state !== "draft")) return last;
      offset = p.data.received || 0;
    }
    return last;
  }

  async function withdraw(id) {
    for (let attempt = 0; attempt < 10; attempt += 1) {
      const r = await M.api("DELETE", "/api/posts/" + encodeURIComponent(id));
      if (r.ok || r.error.code !== "upload_in_progress") return;
      await new Promise((ok) => setTimeout(ok, 500));
    }
  }

  el.uploadCancel.addEventListener("click", () => {
    const waiting = streamPost;
    resetVideo();
    // A pass-through post stopped before TikTok had all of it is withdrawn: TikTok never gets
    // the rest, so it can never be posted. The server may need a moment to notice the send
    // stopped, so a refusal because it is still being sent is tried again.
    if (waiting) withdraw(waiting.id);
    // The next try is a new post.
    idempotencyKey = newKey();
    el.video.value = "";
    el.uploadCancel.hidden = true;
    el.progress.value = 0;
    el.uploadText.textContent = "Upload cancelled. Nothing was posted; choose a video to try again.";
    el.publish.disabled = false;
    el.formStatus.hidden = true;
    el.video.focus();
  });

  // ---- what to post, and how ----

  function source() {
    if (el.sourceUrl.checked) return "url";
    if (el.sourcePhotos.checked) return "photos";
    return "file";
  }

  function isDraft() {
    return el.asDraft.checked;
  }

  function sourceChanged() {
    const src = source();
    el.videoField.hidden = src !== "file";
    el.urlField.hidden = src !== "url";
    el.photosField.hidden = src !== "photos";
    el.descriptionField.hidden = src !== "photos";
    // Duet and Stitch do not exist for photos.
    el.toggleDuet.hidden = src === "photos";
    el.toggleStitch.hidden = src === "photos";
    el.captionLabel.textContent = src === "photos" ? "Title" : "Caption";
    M.showError(el.videoError, "", el.video);
    M.showError(el.videoUrlError, "", el.videoUrl);
    M.showError(el.photosError, "", el.photos);
    captionOk();
    modeChanged();
  }

  function modeChanged() {
    const draft = isDraft();
    // A draft's audience, interactions and disclosure are chosen in the TikTok app.
    el.directOnly.hidden = draft;
    el.consent.hidden = draft;
    // TikTok takes a photo draft's title and description, but nothing but the video of a
    // video draft.
    el.captionNote.hidden = !(draft && source() !== "photos");
    coverShow();
    publishLabel();
  }

  function publishLabel() {
    const later = el.whenLater.checked;
    if (isDraft()) el.publish.textContent = later ? "Schedule draft" : "Send draft to TikTok";
    else el.publish.textContent = later ? "Schedule post" : "Post now";
  }

  [el.sourceFile, el.sourceUrl, el.sourcePhotos].forEach((r) => r.addEventListener("change", sourceChanged));
  el.asDraft.addEventListener("change", modeChanged);
  el.videoUrl.addEventListener("input", () => M.showError(el.videoUrlError, "", el.videoUrl));

  // What is wrong with the address, in words; "" when TikTok may download from it.
  function urlProblem(value) {
    const v = value.trim();
    if (!v) return "Enter the address of the video.";
    let u = null;
    try {
      u = new URL(v);
    } catch (_) {
      return "This is not a web address. It starts with https://.";
    }
    if (u.protocol !== "https:") return "TikTok downloads only from https:// addresses.";
    if (URL_PREFIXES.length && !URL_PREFIXES.some((p) => v.startsWith(p))) {
      return "TikTok downloads only from addresses verified for this app; this one must start with " + URL_PREFIXES.join(" or ") + ".";
    }
    return "";
  }

  // ---- photos: choose, order, cover ----

  // JPEG (FF D8 FF) or WebP (RIFF....WEBP), by the bytes, as the server checks.
  async function looksLikePhoto(f) {
    const h = new Uint8Array(await f.slice(0, 12).arrayBuffer());
    const jpeg = h[0] === 0xff && h[1] === 0xd8 && h[2] === 0xff;
    const tag = (a, b) => String.fromCharCode(...h.slice(a, b));
    return jpeg || (tag(0, 4) === "RIFF" && tag(8, 12) === "WEBP");
  }

  function photoType(f) {
    if (f.type === "image/jpeg" || f.type === "image/webp") return f.type;
    return /\.webp$/i.test(f.name) ? "image/webp" : "image/jpeg";
  }

  function coverIndex() {
    const i = photos.findIndex((p) => p.key === coverKey);
    return i < 0 ? 0 : i;
  }

  function renderPhotos(focus) {
    el.photoList.textContent = "";
    if (photos.length && !photos.some((p) => p.key === coverKey)) coverKey = photos[0].key;
    photos.forEach((p, i) => {
      const n = i + 1;
      const li = document.createElement("li");
      li.draggable = true;
      li.dataset.key = p.key;
      li.classList.toggle("is-cover", p.key === coverKey);
      const img = document.createElement("img");
      img.src = p.url;
      img.alt = "Photo " + n;
      const name = document.createElement("span");
      name.className = "photo-name";
      name.textContent = n + ". " + p.file.name + " (" + fmtBytes(p.file.size) + ")";
      const cover = document.createElement("span");
      cover.className = "toggle";
      const radio = document.createElement("input");
      radio.type = "radio";
      radio.name = "cover";
      radio.id = "cover-" + p.key;
      radio.className = "js-cover";
      radio.checked = p.key === coverKey;
      const label = document.createElement("label");
      label.htmlFor = radio.id;
      label.textContent = "Cover";
      cover.append(radio, label);
      const button = (cls, text, aria, disabled) => {
        const b = document.createElement("button");
        b.type = "button";
        b.className = "button " + cls;
        b.textContent = text;
        b.setAttribute("aria-label", aria);
        b.disabled = disabled;
        return b;
      };
      li.append(img, name, cover,
        button("js-up", "↑", "Move photo " + n + " earlier", i === 0),
        button("js-down", "↓", "Move photo " + n + " later", i === photos.length - 1),
        button("js-remove", "Remove", "Remove photo " + n, false));
      el.photoList.appendChild(li);
    });
    el.photosStatus.textContent = photos.length
      ? photos.length + (photos.length === 1 ? " photo" : " photos") + ", in this order. Cover: photo " + (coverIndex() + 1) + "."
      : "";
    // Keep the keyboard where it was: on the same control of the photo that moved.
    if (focus) {
      const li = el.photoList.querySelector('li[data-key="' + focus.key + '"]');
      const target = li && li.querySelector(focus.css);
      if (target && !target.disabled) target.focus();
      else if (li) li.querySelector(".js-cover").focus();
    }
  }

  function movePhoto(key, to) {
    const from = photos.findIndex((p) => p.key === key);
    if (from < 0 || to < 0 || to >= photos.length || to === from) return;
    const [p] = photos.splice(from, 1);
    photos.splice(to, 0, p);
  }

  el.photos.addEventListener("change", async () => {
    M.showError(el.photosError, "", el.photos);
    const chosen = Array.from(el.photos.files || []);
    el.photos.value = "";
    const refused = [];
    for (const f of chosen) {
      if (photos.length >= MAX_PHOTOS) {
        refused.push("A photo post has at most " + MAX_PHOTOS + " photos; " + f.name + " and the rest were not added.");
        break;
      }
      if (f.size === 0) refused.push(f.name + " is empty.");
      else if (f.size > MAX_PHOTO) refused.push(f.name + " is " + fmtBytes(f.size) + "; a photo may be up to " + fmtBytes(MAX_PHOTO) + ".");
      else if (!(await looksLikePhoto(f))) refused.push(f.name + " is not a JPEG or WebP image.");
      else {
        photoKeys += 1;
        photos.push({ key: "p" + photoKeys, file: f, url: URL.createObjectURL(f), media: null });
      }
    }
    renderPhotos();
    if (refused.length) M.showError(el.photosError, refused.join(" "), el.photos);
  });

  el.photoList.addEventListener("click", (e) => {
    const b = e.target.closest("button");
    const li = e.target.closest("li");
    if (!b || !li) return;
    const key = li.dataset.key;
    const at = photos.findIndex((p) => p.key === key);
    if (b.classList.contains("js-up")) {
      movePhoto(key, at - 1);
      renderPhotos({ key, css: ".js-up" });
    } else if (b.classList.contains("js-down")) {
      movePhoto(key, at + 1);
      renderPhotos({ key, css: ".js-down" });
    } else if (b.classList.contains("js-remove")) {
      const [gone] = photos.splice(at, 1);
      URL.revokeObjectURL(gone.url);
      const next = photos[Math.min(at, photos.length - 1)];
      renderPhotos(next ? { key: next.key, css: ".js-remove" } : null);
      if (!next) el.photos.focus();
    }
  });

  el.photoList.addEventListener("change", (e) => {
    if (!e.target.classList.contains("js-cover")) return;
    coverKey = e.target.closest("li").dataset.key;
    renderPhotos({ key: coverKey, css: ".js-cover" });
  });

  // Dragging a photo onto another puts it in that one's place.
  let dragKey = null;
  el.photoList.addEventListener("dragstart", (e) => {
    const li = e.target.closest("li");
    if (!li) return;
    dragKey = li.dataset.key;
    li.classList.add("dragging");
    e.dataTransfer.effectAllowed = "move";
    e.dataTransfer.setData("text/plain", dragKey);
  });
  el.photoList.addEventListener("dragover", (e) => {
    if (dragKey) e.preventDefault();
  });
  el.photoList.addEventListener("drop", (e) => {
    const li = e.target.closest("li");
    if (!dragKey || !li) return;
    e.preventDefault();
    movePhoto(dragKey, photos.findIndex((p) => p.key === li.dataset.key));
    renderPhotos();
  });
  el.photoList.addEventListener("dragend", () => {
    dragKey = null;
    renderPhotos();
  });

  // ---- caption (a photo post's title) and description ----

  function captionOk() {
    const photo = source() === "photos";
    // A video caption counts UTF-16 code units, a photo title characters, as TikTok counts.
    const n = photo ? Array.from(el.caption.value).length : el.caption.value.length;
    const max = photo ? PHOTO_TITLE_MAX : CAPTION_MAX;
    el.captionCount.textContent = n + " / " + max;
    const over = n > max;
    el.captionCount.classList.toggle("over", over);
    const what = photo ? "title" : "caption";
    M.showError(el.captionError, over ? "The " + what + " is " + (n - max) + " characters too long for TikTok (" + n + " of " + max + ")." : "", el.caption);
    return !over;
  }
  el.caption.addEventListener("input", captionOk);

  function descriptionOk() {
    const n = Array.from(el.description.value).length;
    el.descriptionCount.textContent = n + " / " + DESCRIPTION_MAX;
    const over = n > DESCRIPTION_MAX;
    el.descriptionCount.classList.toggle("over", over);
    M.showError(el.descriptionError, over ? "The description is " + (n - DESCRIPTION_MAX) + " characters too long for TikTok (" + n + " of " + DESCRIPTION_MAX + ")." : "", el.description);
    return !over;
  }
  el.description.addEventListener("input", descriptionOk);

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
    publishLabel();
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
    branded_content_cannot_be_private: "privacy", unaudited_app_private_only: "privacy",
    title_too_long: "caption", photo_title_too_long: "caption",
    photo_description_too_long: "description",
    comments_disabled_by_creator: "interactions", duet_disabled_by_creator: "interactions",
    stitch_disabled_by_creator: "interactions",
    cover_out_of_range: "cover", cover_not_applicable: "cover",
    video_too_long: "video", media_in_use: "video", media_gone: "video", empty_upload: "video",
    not_a_video: "video", unsupported_type: "video", too_large: "video", upload_expired: "video",
    passthrough_busy: "video", tiktok_rate_limited: "video", upload_interrupted: "video",
    url_not_verified: "url", invalid_video_url: "url",
    photo_count: "photos", photo_duplicate: "photos", photo_cover_index: "photos",
    photo_not_found: "photos", photo_not_image: "photos", image_too_large: "photos",
    image_resolution_too_high: "photos", image_unreadable: "photos",
    invalid_time: "schedule", unknown_time_zone: "schedule", nonexistent_local_time: "schedule",
    ambiguous_local_time: "schedule", offset_mismatch: "schedule", time_in_past: "schedule",
    needs_reconnect: "account", account_cannot_publish: "account", cannot_post_now: "account",
    scope_missing: "account",
  };
  const SLOTS = {
    privacy: [el.privacyError, el.privacy], caption: [el.captionError, el.caption],
    description: [el.descriptionError, el.description],
    interactions: [el.interactionsError, el.allow.comment], video: [el.videoError, el.video],
    get cover() { return [el.coverError, coverControl()]; },
    url: [el.videoUrlError, el.videoUrl], photos: [el.photosError, el.photos],
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
    const src = source();
    const draft = isDraft();
    if (!info && !(draftsOnly && el.account.value)) bad("account", "Choose the TikTok account to post to.");
    if (src === "file") {
      if (!file) bad("video", "Choose a video to post.");
      else if (!checkDuration()) first = first || el.video;
      const why = coverProblem();
      if (why) bad("cover", why);
    } else if (src === "url") {
      const why = urlProblem(el.videoUrl.value);
      if (why) bad("url", why);
    } else if (!photos.length) {
      bad("photos", "Choose the photos to post (1 to " + MAX_PHOTOS + ").");
    }
    if (!captionOk()) first = first || el.caption;
    if (src === "photos" && !descriptionOk()) first = first || el.description;
    const branded = !draft && el.disclose.checked && el.brandContent.checked;
    if (!draft) {
      const what = src === "photos" ? "these photos" : "this video";
      if (!el.privacy.value) bad("privacy", "Choose who can watch " + what + ".");
      else if (branded && el.privacy.value === "SELF_ONLY") bad("privacy", "Branded content cannot be private. Choose who else can watch.");
      if (el.disclose.checked && !el.brandOrganic.checked && !el.brandContent.checked) {
        bad(el.discloseError, "Choose whether the post promotes your own brand, another brand, or both; or turn the disclosure off.", el.brandOrganic);
      }
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
    const body = { account_id: el.account.value, title: el.caption.value };
    if (draft) {
      // The creator chooses the audience and the rest in the TikTok app.
      body.post_mode = "inbox";
    } else {
      Object.assign(body, {
        privacy_level: el.privacy.value,
        disable_comment: !el.allow.comment.checked,
        disable_duet: !el.allow.duet.checked,
        disable_stitch: !el.allow.stitch.checked,
        brand_content_toggle: branded,
        brand_organic_toggle: el.disclose.checked && el.brandOrganic.checked,
      });
    }
    if (coverApplies() && coverMs !== null) body.video_cover_timestamp_ms = coverMs;
    if (src === "photos") {
      body.description = el.description.value;
      body.auto_add_music = el.autoMusic.checked;
    }
    if (later) {
      body.scheduled_at = el.scheduledAt.value;
      body.scheduled_tz = el.scheduledTz.value;
    }
    el.publish.disabled = true;
    el.formStatus.textContent = later ? "Scheduling…" : "Sending to TikTok…";
    el.formStatus.hidden = false;
    let r;
    if (src === "url") r = await create(Object.assign(body, { video_url: el.videoUrl.value.trim() }));
    else if (src === "photos") r = await photoPost(body);
    else if (draft || later) r = await schedulePost(body);
    else r = await postNow(body);
    if (r.ok) {
      // In a workspace that requires approval, an editor's post waits for an admin first.
      const sent = r.data && r.data.state === "pending_approval" ? "approval" : later ? "scheduled" : draft ? "draft" : "now";
      window.location.assign("/history?sent=" + sent);
      return;
    }
    el.publish.disabled = false;
    el.formStatus.hidden = true;
    if (r.cancelled) return;
    // A refused request created nothing: the corrected one is a new request with a new key.
    // After a lost answer (network, 5xx) the same key lets the server recognise a retry.
    if (r.status >= 400 && r.status < 500) idempotencyKey = newKey();
    let slot = PLACE[r.error.code] || "form";
    // A file's refusal belongs to the field of what was sent.
    if (slot === "video" && src === "photos") slot = "photos";
    bad(slot, r.error.message);
    if (slot !== "form") M.showError(el.formError, "Please fix the marked field above.");
    first.focus();
  });

  function create(body) {
    return M.api("POST", "/api/posts", body, { "Idempotency-Key": idempotencyKey });
  }

  // An upload that did not end well, in the shape M.api answers with.
  function uploadFailure(u, fallback) {
    if (u.status === -1) return { ok: false, cancelled: true };
    const error = u.body && u.body.error ? u.body.error : { code: "upload_failed", message: "The upload failed (" + u.status + "). Please try again." };
    if (u.status === 0) error.message = "The upload was interrupted. Check your connection and try again.";
    if (u.status === 401) error.message = "You are signed out. Sign in again, then try again.";
    return { ok: false, status: u.status, error: { code: PLACE[error.code] ? error.code : fallback || "media_gone", message: error.message } };
  }

  async function schedulePost(body) {
    const u = await stage();
    if (!u.ok) return uploadFailure(u);
    body.media_id = media.id;
    return create(body);
  }

  // Photos wait encrypted on our side until TikTok fetches them (from capability URLs), so
  // each is uploaded first; one already uploaded is not sent again when the post is retried.
  async function photoPost(body) {
    for (let i = 0; i < photos.length; i += 1) {
      const p = photos[i];
      if (p.media) continue;
      const verb = "Uploading photo " + (i + 1) + " of " + photos.length;
      const u = await send("POST", "/api/media", verb, 0, { "Content-Type": photoType(p.file) }, p.file);
      if (!(u.status >= 200 && u.status < 300 && u.body && u.body.id)) {
        const r = uploadFailure(u, "photo_not_image");
        if (r.error) r.error.message = "Photo " + (i + 1) + " (" + p.file.name + "): " + r.error.message;
        return r;
      }
      p.media = u.body;
    }
    el.uploadText.textContent = "Uploaded " + photos.length + (photos.length === 1 ? " photo." : " photos.");
    body.media_ids = photos.map((p) => p.media.id);
    body.photo_cover_index = coverIndex();
    return create(body);
  }

  async function postNow(body) {
    if (!streamPost) {
      const r = await create(Object.assign({ upload: "stream" }, body));
      // Where posts wait for an approver, the video must wait with them: staged, as scheduled.
      if (!r.ok && r.error.code === "approval_required") return schedulePost(body);
      if (!r.ok) return r;
      streamPost = r.data;
    }
    const u = await streamBytes();
    if (!u.ok) return uploadFailure(u);
    return { ok: true, data: streamPost };
  }

  el.account.addEventListener("change", loadCreator);
  sourceChanged();
  if (el.account.value) loadCreator();
});
