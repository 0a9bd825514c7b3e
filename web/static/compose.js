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
// A video can go to other accounts too ("Also post to other accounts"): each gets its own
// creator_info-driven block, the video is staged once (even "Post now": one stream cannot feed
// several TikTok uploads) and POST /api/post-groups makes a post per account, or none.
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
    targets: $("targets"), addTarget: $("add-target"), targetsNone: $("targets-none"),
    targetsStatus: $("targets-status"), targetsVideo: $("targets-video"),
    targetsPhotosNote: $("targets-photos-note"), videoManyHint: $("video-many-hint"),
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
    // The main account cannot also be an extra one: a block that had it starts over.
    targets.forEach((t) => {
      if (id && t.q.account.value === id) {
        t.q.account.value = "";
        targetAccountChanged(t);
      }
    });
    refreshTargetAccounts();
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
    targets.forEach(buildTargetPrivacy);
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
      targets.forEach(targetDuration);
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
    targetsChanged();
  }

  function publishLabel() {
    const later = el.whenLater.checked;
    if (groupApplies()) {
      const n = targets.length + 1;
      if (isDraft()) el.publish.textContent = later ? "Schedule drafts for " + n + " accounts" : "Send drafts to " + n + " accounts";
      else el.publish.textContent = later ? "Schedule for " + n + " accounts" : "Post to " + n + " accounts";
      return;
    }
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
    targets.forEach(buildTargetPrivacy);
    if (branded && !el.privacy.value) {
      M.showError(el.privacyError, "", el.privacy);
    }
  }
  el.disclose.addEventListener("change", disclosureChanged);
  el.brandOrganic.addEventListener("change", disclosureChanged);
  el.brandContent.addEventListener("change", disclosureChanged);
  el.privacy.addEventListener("change", () => {
    M.showError(el.privacyError, "", el.privacy);
    targets.forEach(buildTargetPrivacy);
  });

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

  // ---- other accounts: one video, a post per account ----

  // Each extra account is a target block: its own account and live creator_info, its own
  // privacy (never a default: "same as the main post" only when that choice is among this
  // creator's options), the interactions this creator turned off shown forced off, and optional
  // caption, time and cover of its own. A target sends only what it changes; the server applies
  // the main post's values to the rest (POST /api/post-groups).
  const targets = []; // {key, li, q: {…controls}, info, draftsOnly, request, privacyTouched}
  let targetKeys = 0;
  const targetTemplate = $("target-template");

  // Video sources only: the posts of a group share one staged video or one address.
  function groupApplies() {
    return source() !== "photos" && targets.length > 0;
  }

  // The usable accounts of the workspace, as the main picker lists them.
  function usableAccounts() {
    return Array.from(el.account.options).filter((o) => o.value && !o.disabled);
  }

  function targetOption(t) {
    return t.q.account.selectedOptions[0] || null;
  }

  // How a target's account is named in its messages: as the person knows it, with TikTok's
  // @username once creator_info told it.
  function targetName(t) {
    const o = targetOption(t);
    if (!o || !o.value) return "Account " + (targets.indexOf(t) + 2);
    const name = o.dataset.name || o.textContent;
    return t.info && t.info.creator_username ? name + " (@" + t.info.creator_username + ")" : name;
  }

  function targetError(t, message, control) {
    M.showError(t.q.error, message, control || null);
  }

  // Every picker offers the accounts no other picker (nor the main one) has taken.
  function refreshTargetAccounts() {
    const taken = new Set([el.account.value].concat(targets.map((t) => t.q.account.value)).filter(Boolean));
    targets.forEach((t) => {
      const mine = t.q.account.value;
      t.q.account.textContent = "";
      const none = document.createElement("option");
      none.value = "";
      none.textContent = "Choose an account";
      t.q.account.appendChild(none);
      usableAccounts().forEach((src) => {
        if (taken.has(src.value) && src.value !== mine) return;
        const o = src.cloneNode(true);
        o.selected = false;
        t.q.account.appendChild(o);
      });
      t.q.account.value = mine;
      const label = mine ? targetName(t) : "this account";
      t.q.remove.setAttribute("aria-label", "Remove " + label + " from this post");
    });
    const left = usableAccounts().filter((o) => !taken.has(o.value)).length;
    // One picker still empty can take any of the rest: no new block until it is chosen.
    const open = targets.some((t) => !t.q.account.value);
    el.addTarget.disabled = left === 0 || open;
    el.targetsNone.hidden = left !== 0;
  }

  function wireIds(li, key) {
    li.querySelectorAll("[data-id]").forEach((n) => { n.id = "t" + key + "-" + n.dataset.id; });
    li.querySelectorAll("[data-for]").forEach((n) => { n.htmlFor = "t" + key + "-" + n.dataset.for; });
    li.querySelectorAll("[data-describedby]").forEach((n) => {
      n.setAttribute("aria-describedby", n.dataset.describedby.split(" ").map((d) => "t" + key + "-" + d).join(" "));
    });
  }

  function addTarget() {
    targetKeys += 1;
    const key = targetKeys;
    const li = targetTemplate.content.firstElementChild.cloneNode(true);
    wireIds(li, key);
    li.dataset.key = String(key);
    const q = (c) => li.querySelector("." + c);
    const t = {
      key, li, info: null, draftsOnly: false, request: 0, privacyTouched: false,
      q: {
        account: q("js-target-account"), remove: q("js-remove-target"), creator: q("js-target-creator"),
        avatar: q("js-target-avatar"), nickname: q("js-target-nickname"), status: q("js-target-status"),
        direct: q("js-target-direct"), privacy: q("js-target-privacy"), privacyNote: q("js-target-privacy-note"),
        forced: q("js-target-forced"), changeCaption: q("js-change-caption"), caption: q("js-target-caption"),
        captionCount: q("js-target-caption-count"), changeWhen: q("js-change-when"), when: q("js-target-when"),
        tz: q("js-target-tz"), utc: q("js-target-utc"), changeCover: q("js-change-cover"), cover: q("js-target-cover"),
        error: q("js-target-error"), changeSettings: q("js-change-settings"),
        own: {
          comment: q("js-own-comment"), duet: q("js-own-duet"), stitch: q("js-own-stitch"),
          brandOrganic: q("js-own-brand-organic"), brandContent: q("js-own-brand-content"),
        },
      },
    };
    targets.push(t);
    el.targets.appendChild(li);
    t.q.account.addEventListener("change", () => targetAccountChanged(t));
    t.q.remove.addEventListener("click", () => removeTarget(t));
    t.q.privacy.addEventListener("change", () => {
      t.privacyTouched = true;
      targetError(t, "", t.q.privacy);
    });
    t.q.changeCaption.addEventListener("toggle", () => {
      // Opening starts from the main caption, to edit rather than retype.
      if (t.q.changeCaption.open && !t.q.caption.value) t.q.caption.value = el.caption.value;
      targetCaptionOk(t);
    });
    t.q.caption.addEventListener("input", () => targetCaptionOk(t));
    t.q.changeWhen.addEventListener("toggle", () => {
      if (!t.q.changeWhen.open) return;
      if (!t.q.tz.options.length) M.fillZones(t.q.tz, el.scheduledTz.value || undefined);
      if (!t.q.when.value) t.q.when.value = el.scheduledAt.value || M.localInput(nextHour());
      targetWhenText(t);
    });
    [t.q.when, t.q.tz].forEach((c) => {
      c.addEventListener("input", () => targetWhenText(t));
      c.addEventListener("change", () => targetWhenText(t));
    });
    t.q.cover.addEventListener("input", () => targetError(t, "", t.q.cover));
    // Opening starts from the main post's choices; what this creator turned off stays off.
    t.q.changeSettings.addEventListener("toggle", () => {
      if (!t.q.changeSettings.open) return;
      const own = t.q.own;
      [["comment", "comment_disabled"], ["duet", "duet_disabled"], ["stitch", "stitch_disabled"]].forEach(([name, flag]) => {
        const off = Boolean(t.info && t.info[flag]);
        own[name].disabled = off;
        own[name].checked = !off && el.allow[name].checked;
      });
      own.brandOrganic.checked = el.disclose.checked && el.brandOrganic.checked;
      own.brandContent.checked = el.disclose.checked && el.brandContent.checked;
    });
    // An open disclosure is this account's own value; closing it follows the main post again.
    li.querySelectorAll("details.target-change").forEach((d) => d.addEventListener("toggle", () => {
      const sum = d.querySelector("summary");
      sum.querySelector(".js-summary-state").textContent = sum.dataset.what + (d.open ? ": this account's own, below." : ": same as the main post.");
      sum.querySelector(".js-summary-action").textContent = d.open ? "Use the main post's instead" : "Change for this account";
    }));
    buildTargetPrivacy(t);
    targetFieldsShow();
    refreshTargetAccounts();
    targetsChanged();
    t.q.account.focus();
  }

  function removeTarget(t) {
    const at = targets.indexOf(t);
    const name = t.q.account.value ? targetName(t) : "The empty account";
    t.request += 1;
    targets.splice(at, 1);
    t.li.remove();
    refreshTargetAccounts();
    targetsChanged();
    el.targetsStatus.textContent = name + " was removed from this post.";
    // The keyboard stays in the list: on the next block, else the previous, else "Add".
    const next = targets[Math.min(at, targets.length - 1)];
    if (next) next.q.account.focus();
    else el.addTarget.focus();
  }

  async function targetAccountChanged(t) {
    t.info = null;
    t.request += 1;
    const mine = t.request;
    t.privacyTouched = false;
    targetError(t, "", t.q.account);
    t.q.creator.hidden = true;
    t.q.direct.hidden = true;
    el.targetsStatus.textContent = "";
    refreshTargetAccounts();
    const o = targetOption(t);
    const id = t.q.account.value;
    t.li.dataset.accountId = id;
    if (!id) {
      t.q.status.hidden = true;
      buildTargetPrivacy(t);
      return;
    }
    t.draftsOnly = o.dataset.direct === "false";
    t.q.avatar.src = "/accounts/" + encodeURIComponent(id) + "/avatar";
    if (t.draftsOnly) {
      // TikTok asks for no creator_info for drafts, and this account allowed nothing else.
      t.q.nickname.textContent = o.dataset.name;
      t.q.creator.hidden = false;
      t.q.status.textContent = "This account allowed MKT POST only to send drafts: it can take this post only as a draft.";
      t.q.status.hidden = false;
      targetFieldsShow();
      return;
    }
    t.q.status.textContent = "Asking TikTok what this account can post…";
    t.q.status.hidden = false;
    const r = await M.api("GET", "/api/accounts/" + encodeURIComponent(id) + "/creator-info");
    if (mine !== t.request) return;
    t.q.status.hidden = true;
    if (!r.ok) {
      let why = r.error.message;
      if (r.error.code === "needs_reconnect") why += " Reconnect it on the Accounts page.";
      else if (r.error.code === "tiktok_refused") why = "This account cannot post right now. " + why;
      targetError(t, targetName(t) + ": " + why, t.q.account);
      return;
    }
    t.info = r.data;
    const nick = t.info.creator_nickname || o.dataset.name;
    t.q.nickname.textContent = t.info.creator_username ? nick + " (@" + t.info.creator_username + ")" : nick;
    t.q.creator.hidden = false;
    t.q.privacyNote.textContent = t.info.private_only_reason || "";
    t.q.privacyNote.hidden = !t.info.private_only_reason;
    buildTargetPrivacy(t);
    // The interactions this creator turned off: shown off, and sent off for this account.
    let anyForced = false;
    ["comment", "duet", "stitch"].forEach((name) => {
      const off = Boolean(t.info[name + "_disabled"]);
      part(t, "js-forced-" + name).hidden = !off;
      anyForced = anyForced || off;
    });
    t.q.forced.hidden = !anyForced;
    refreshTargetAccounts();
    targetFieldsShow();
    targetDuration(t);
  }

  function part(t, cls) {
    return t.li.querySelector("." + cls);
  }

  function buildTargetPrivacy(t) {
    const keep = t.q.privacy.value;
    const branded = el.disclose.checked && el.brandContent.checked;
    const options = t.info ? t.info.privacy_level_options : [];
    const shared = el.privacy.value;
    const sharedOk = Boolean(shared) && options.includes(shared) && !(branded && shared === "SELF_ONLY");
    t.q.privacy.textContent = "";
    const add = (value, text, disabled) => {
      const o = document.createElement("option");
      o.value = value;
      o.textContent = text;
      o.disabled = Boolean(disabled);
      t.q.privacy.appendChild(o);
    };
    add("", "Choose who can watch");
    if (sharedOk) add("same", "Same as the main post (" + (PRIVACY_WORDS[shared] || shared) + ")");
    options.forEach((level) => {
      const off = branded && level === "SELF_ONLY";
      add(level, (PRIVACY_WORDS[level] || level) + (off ? " (not available for branded content)" : ""), off);
    });
    const still = Array.from(t.q.privacy.options).some((o) => o.value === keep && !o.disabled);
    // Nothing is chosen for the creator; following the main post's own explicit choice is
    // offered first while they have not picked, and only when this creator has that option.
    if (still && (t.privacyTouched || keep !== "")) t.q.privacy.value = keep;
    else t.q.privacy.value = sharedOk && !t.privacyTouched ? "same" : "";
  }

  function targetCaptionOk(t) {
    if (!t.q.changeCaption.open) return true;
    const n = t.q.caption.value.length;
    t.q.captionCount.textContent = n + " / " + CAPTION_MAX;
    const over = n > CAPTION_MAX;
    t.q.captionCount.classList.toggle("over", over);
    if (over) targetError(t, targetName(t) + ": the caption is " + (n - CAPTION_MAX) + " characters too long for TikTok (" + n + " of " + CAPTION_MAX + ").", t.q.caption);
    else if (t.q.caption.getAttribute("aria-invalid")) targetError(t, "", t.q.caption);
    return !over;
  }

  function targetWhenText(t) {
    const utc = M.zonedToUtc(t.q.when.value, t.q.tz.value);
    t.q.utc.textContent = utc ? "That is " + M.utcText(utc) + "." : "";
    targetError(t, "", t.q.when);
  }

  function targetDuration(t) {
    if (!t.info || durationSec === null || source() !== "file") return "";
    const max = t.info.max_video_post_duration_sec;
    if (max && durationSec > max) {
      const why = targetName(t) + ": this video is " + fmtDuration(durationSec) + " long; this account can post videos up to " + fmtDuration(max) + ". Remove it from this post or choose a shorter video.";
      targetError(t, why, t.q.account);
      return why;
    }
    return "";
  }

  // What each block shows follows the main form: privacy only for direct posts, the cover
  // only for a video from this device posted directly.
  function targetFieldsShow() {
    const draft = isDraft();
    const cover = source() === "file" && !draft;
    targets.forEach((t) => {
      t.q.direct.hidden = draft || !t.info;
      t.q.changeCover.hidden = !cover;
      // A draft's interactions and disclosure are the creator's to choose in the app.
      t.q.changeSettings.hidden = draft;
    });
  }

  function targetsChanged() {
    const many = groupApplies();
    el.targetsVideo.hidden = source() === "photos";
    el.targetsPhotosNote.hidden = source() !== "photos";
    el.videoManyHint.hidden = !(many && source() === "file");
    targetFieldsShow();
    publishLabel();
  }

  // Checks every target before anything is sent; marks each problem in its block, naming the
  // account. Answers the controls to fix, in page order.
  function checkTargets(draft) {
    const controls = [];
    const mainBranded = !draft && el.disclose.checked && el.brandContent.checked;
    targets.forEach((t) => {
      const branded = t.q.changeSettings.open ? !draft && t.q.own.brandContent.checked : mainBranded;
      targetError(t, "");
      [t.q.account, t.q.privacy, t.q.caption, t.q.when, t.q.cover].forEach((c) => c.removeAttribute("aria-invalid"));
      const problem = (message, control) => {
        targetError(t, message, control);
        controls.push(control);
      };
      const name = targetName(t);
      if (!t.q.account.value) return problem(name + ": choose the account, or remove this one.", t.q.account);
      const o = targetOption(t);
      if (draft && o.dataset.drafts === "false") return problem(name + ": this account did not allow drafts. Remove it, or reconnect it on the Accounts page and allow uploads.", t.q.account);
      if (!draft && t.draftsOnly) return problem(name + ": this account allowed only drafts. Send the post as a draft, or remove this account.", t.q.account);
      if (!draft && !t.info) return problem(name + ": TikTok has not said what this account can post. Choose it again, or remove it.", t.q.account);
      const long = targetDuration(t);
      if (long) return controls.push(t.q.account);
      if (!draft) {
        const v = t.q.privacy.value;
        const level = v === "same" ? el.privacy.value : v;
        if (!v) return problem(name + ": choose who can watch this video on this account.", t.q.privacy);
        if (branded && level === "SELF_ONLY") return problem(name + ": branded content cannot be private. Choose who else can watch.", t.q.privacy);
      }
      if (!targetCaptionOk(t)) return controls.push(t.q.caption);
      if (t.q.changeWhen.open) {
        const utc = M.zonedToUtc(t.q.when.value, t.q.tz.value);
        if (!t.q.when.value) return problem(name + ": choose the date and time to post to this account.", t.q.when);
        if (utc && utc.getTime() < Date.now()) return problem(name + ": that time has passed. Choose a time in the future.", t.q.when);
      }
      if (!t.q.changeCover.hidden && t.q.changeCover.open) {
        const v = t.q.cover.value.trim();
        if (t.q.cover.validity.badInput || (v !== "" && !(Number(v) >= 0))) return problem(name + ": enter the cover frame's time in seconds, for example 1.5.", t.q.cover);
        if (v !== "" && durationSec !== null && Number(v) >= durationSec) return problem(name + ": the cover frame is past the video's end (" + fmtDuration(durationSec) + ").", t.q.cover);
      }
      return undefined;
    });
    return controls;
  }

  // A target as the group takes it: its account and only what it changes.
  function targetBody(t, draft, shared) {
    const b = { account_id: t.q.account.value };
    if (!draft) {
      if (t.q.privacy.value !== "same") b.privacy_level = t.q.privacy.value;
      // What this creator turned off goes off for this account, whatever the main post allows.
      if (t.info && t.info.comment_disabled && !shared.disable_comment) b.disable_comment = true;
      if (t.info && t.info.duet_disabled && !shared.disable_duet) b.disable_duet = true;
      if (t.info && t.info.stitch_disabled && !shared.disable_stitch) b.disable_stitch = true;
      if (t.q.changeSettings.open) {
        const own = t.q.own;
        b.disable_comment = !own.comment.checked;
        b.disable_duet = !own.duet.checked;
        b.disable_stitch = !own.stitch.checked;
        b.brand_organic_toggle = own.brandOrganic.checked;
        b.brand_content_toggle = own.brandContent.checked;
      }
    }
    if (t.q.changeCaption.open) b.title = t.q.caption.value;
    if (t.q.changeWhen.open) {
      b.scheduled_at = t.q.when.value;
      b.scheduled_tz = t.q.tz.value;
    }
    const cover = t.q.cover.value.trim();
    if (!t.q.changeCover.hidden && t.q.changeCover.open && cover !== "") b.video_cover_timestamp_ms = Math.round(Number(cover) * 1000);
    return b;
  }

  // The server's refusal, target by target: target 0 is the main account, the rest are the
  // blocks in order. Answers the controls to fix.
  function showTargetProblems(list) {
    const controls = [];
    (list || []).forEach((p) => {
      if (p.target === 0) {
        const slot = PLACE[p.code] || "account";
        const [err, ctl] = SLOTS[slot];
        M.showError(err, p.message, ctl);
        controls.push(ctl);
        return;
      }
      const t = targets[p.target - 1];
      if (!t) return;
      const slot = PLACE[p.code];
      let control = t.q.account;
      if (slot === "privacy" && !t.q.direct.hidden) control = t.q.privacy;
      else if (slot === "caption" && t.q.changeCaption.open) control = t.q.caption;
      else if (slot === "schedule" && t.q.changeWhen.open) control = t.q.when;
      else if (slot === "cover" && t.q.changeCover.open) control = t.q.cover;
      // Two problems of one account are both shown.
      const before = t.q.error.hidden ? "" : t.q.error.textContent + " ";
      targetError(t, before + p.message, control);
      controls.push(control);
    });
    return controls;
  }

  async function groupPost(body, src) {
    const shared = Object.assign({}, body);
    delete shared.account_id;
    if (src === "url") {
      shared.video_url = el.videoUrl.value.trim();
    } else {
      const u = await stage();
      if (!u.ok) return uploadFailure(u);
      shared.media_id = media.id;
    }
    shared.post_mode = isDraft() ? "inbox" : "direct";
    shared.targets = [{ account_id: el.account.value }].concat(targets.map((t) => targetBody(t, isDraft(), body)));
    return M.api("POST", "/api/post-groups", shared, { "Idempotency-Key": idempotencyKey });
  }

  el.addTarget.addEventListener("click", addTarget);

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
    // The keyboard goes to the first control to fix, in page order (the other accounts come
    // before the video).
    const mark = (control) => {
      if (!control) return;
      if (!first || (control.compareDocumentPosition(first) & Node.DOCUMENT_POSITION_FOLLOWING)) first = control;
    };
    const bad = (slot, message, control) => {
      const [err, ctl] = SLOTS[slot] || [slot, control];
      M.showError(err, message, control || ctl);
      mark(control || ctl);
    };
    const src = source();
    const draft = isDraft();
    if (!info && !(draftsOnly && el.account.value)) bad("account", "Choose the TikTok account to post to.");
    if (src === "file") {
      if (!file) bad("video", "Choose a video to post.");
      else if (!checkDuration()) mark(el.video);
      const why = coverProblem();
      if (why) bad("cover", why);
    } else if (src === "url") {
      const why = urlProblem(el.videoUrl.value);
      if (why) bad("url", why);
    } else if (!photos.length) {
      bad("photos", "Choose the photos to post (1 to " + MAX_PHOTOS + ").");
    }
    if (!captionOk()) mark(el.caption);
    if (src === "photos" && !descriptionOk()) mark(el.description);
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
    const group = groupApplies();
    if (group) checkTargets(draft).forEach(mark);
    if (first) {
      M.showError(el.formError, "Please fix the marked fields above. Nothing was sent.");
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
    if (group) r = await groupPost(body, src);
    else if (src === "url") r = await create(Object.assign(body, { video_url: el.videoUrl.value.trim() }));
    else if (src === "photos") r = await photoPost(body);
    else if (draft || later) r = await schedulePost(body);
    else r = await postNow(body);
    if (r.ok) {
      // In a workspace that requires approval, an editor's post waits for an admin first.
      const made = r.data && r.data.posts ? r.data.posts : [r.data];
      const sent = made.some((p) => p && p.state === "pending_approval") ? "approval" : later ? "scheduled" : draft ? "draft" : "now";
      window.location.assign("/history?sent=" + sent);
      return;
    }
    el.publish.disabled = false;
    el.formStatus.hidden = true;
    if (r.cancelled) return;
    // A refused request created nothing: the corrected one is a new request with a new key.
    // After a lost answer (network, 5xx) the same key lets the server recognise a retry.
    // A group stopped half way is finished by sending again with the same key.
    if (r.status >= 400 && r.status < 500 && r.error.code !== "group_incomplete") idempotencyKey = newKey();
    if (group && r.data && Array.isArray(r.data.targets)) {
      showTargetProblems(r.data.targets).forEach(mark);
      M.showError(el.formError, r.error.message);
      if (first) first.focus();
      return;
    }
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
