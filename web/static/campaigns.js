// /campaigns: a CSV (one row per post, naming its video by file name) and the videos. The CSV is
// read here first (a row naming a video that was not chosen stops everything before a byte is
// sent), each named video is uploaded once (POST /api/media, with progress; kept across retries
// on this page, so fixing a row does not upload again), then the rows go to POST /api/campaigns
// with the videos' ids. The Idempotency-Key is made once per CSV on this page, so sending again
// after a timeout or a half-way failure finishes the campaign instead of doubling it.
"use strict";

// RFC 4180: commas, quoted fields with "" escapes and line breaks, CRLF or LF.
function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c === '"' && field === "") {
      quoted = true;
    } else if (c === ",") {
      row.push(field);
      field = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(field);
      field = "";
      if (row.some((f) => f.trim() !== "")) rows.push(row);
      row = [];
    } else {
      field += c;
    }
  }
  row.push(field);
  if (row.some((f) => f.trim() !== "")) rows.push(row);
  return rows;
}

const FLAGS = ["disable_comment", "disable_duet", "disable_stitch", "brand_content_toggle",
  "brand_organic_toggle", "is_aigc"];

document.addEventListener("DOMContentLoaded", () => {
  const M = window.MKT;
  const form = document.getElementById("campaign");
  if (!form) return;
  const $ = (id) => document.getElementById(id);
  const csvInput = $("campaign-csv");
  const videoInput = $("campaign-videos");
  const submit = $("campaign-submit");
  const error = $("campaign-error");
  const progress = $("campaign-progress");
  const bar = $("campaign-upload");
  const barText = $("campaign-upload-text");
  const problems = $("campaign-problems");
  const problemRows = $("campaign-problem-rows");
  const done = $("campaign-done");
  const doneTitle = $("campaign-done-title");
  // file name + size -> media id, for this page's life (a retry does not upload again).
  const uploaded = new Map();
  // CSV text -> Idempotency-Key.
  const keys = new Map();

  function reset() {
    M.showError(error, "");
    problems.hidden = true;
    done.hidden = true;
    problemRows.textContent = "";
  }

  function showProblems(list) {
    for (const p of list) {
      const tr = document.createElement("tr");
      const row = document.createElement("td");
      row.textContent = String(p.row);
      const what = document.createElement("td");
      what.textContent = p.message;
      if (p.code) what.dataset.code = p.code;
      tr.append(row, what);
      problemRows.appendChild(tr);
    }
    problems.hidden = false;
  }

  function upload(file, index, count) {
    return new Promise((resolve, reject) => {
      const req = new XMLHttpRequest();
      req.open("POST", "/api/media");
      req.setRequestHeader("Content-Type", file.type || "application/octet-stream");
      req.setRequestHeader("Accept", "application/json");
      req.upload.addEventListener("progress", (e) => {
        const total = e.lengthComputable ? e.total : file.size;
        bar.max = total || 1;
        bar.value = e.loaded;
        barText.textContent = "Video " + (index + 1) + " of " + count + ": " + file.name + " (" +
          (total ? Math.floor((e.loaded * 100) / total) : 0) + "%)";
      });
      req.addEventListener("load", () => {
        const body = M.xhrJson(req);
        if (req.status >= 200 && req.status < 300 && body && body.id) {
          resolve(body.id);
        } else {
          reject(new Error(file.name + ": " + (body && body.error ? body.error.message
            : "the upload failed (" + req.status + ")")));
        }
      });
      req.addEventListener("error", () => reject(new Error(file.name + ": the upload was interrupted")));
      req.send(file);
    });
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    reset();
    const csvFile = csvInput.files[0];
    if (!csvFile) {
      M.showError(error, "Choose the campaign's CSV file.", csvInput);
      return;
    }
    const text = await csvFile.text();
    const table = parseCsv(text);
    if (table.length < 2) {
      M.showError(error, "The CSV needs a header row and at least one post.", csvInput);
      return;
    }
    const header = table[0].map((h) => h.trim());
    const col = (name) => header.indexOf(name);
    if (col("account") < 0 || (col("file") < 0 && col("media_id") < 0)) {
      M.showError(error, "The CSV header needs an account column and a file column.", csvInput);
      return;
    }
    const videos = new Map();
    for (const f of videoInput.files) videos.set(f.name, f);
    const missing = [];
    const rows = table.slice(1).map((cells, i) => {
      const get = (name) => (col(name) >= 0 ? (cells[col(name)] || "").trim() : "");
      const row = { account: get("account"), title: get("title") };
      const privacy = get("privacy_level");
      if (privacy) row.privacy_level = privacy;
      for (const flag of FLAGS) {
        const v = get(flag).toLowerCase();
        if (v) row[flag] = v === "true" || v === "1" || v === "yes";
      }
      const at = get("scheduled_at");
      if (at) row.scheduled_at = at;
      const tz = get("scheduled_tz");
      if (tz) row.scheduled_tz = tz;
      const name = get("file");
      if (name) {
        if (!videos.has(name)) missing.push({ row: i + 1, message: "no chosen video is named " + name });
        row.file = name;
      } else {
        row.media_id = get("media_id");
      }
      return row;
    });
    if (missing.length) {
      showProblems(missing);
      return;
    }
    submit.disabled = true;
    try {
      const names = [...new Set(rows.filter((r) => r.file).map((r) => r.file))];
      progress.hidden = names.length === 0;
      for (let i = 0; i < names.length; i++) {
        const f = videos.get(names[i]);
        const id = f.name + "/" + f.size;
        if (!uploaded.has(id)) uploaded.set(id, await upload(f, i, names.length));
      }
      progress.hidden = true;
      const posts = rows.map((r) => {
        const out = Object.assign({}, r);
        if (r.file) {
          const f = videos.get(r.file);
          out.media_id = uploaded.get(f.name + "/" + f.size);
          delete out.file;
        }
        return out;
      });
      if (!keys.has(text)) keys.set(text, "campaign-" + crypto.randomUUID());
      const r = await M.api("POST", "/api/campaigns", { posts }, { "Idempotency-Key": keys.get(text) });
      if (r.ok) {
        doneTitle.textContent = r.data.created + " posts queued" +
          (r.data.already_created ? " (" + r.data.already_created + " were already queued)" : "") + ".";
        done.hidden = false;
      } else if (r.data && r.data.rows) {
        M.showError(error, r.error.message);
        showProblems(r.data.rows);
      } else {
        M.showError(error, r.error.message);
      }
    } catch (err) {
      progress.hidden = true;
      M.showError(error, err.message);
    } finally {
      submit.disabled = false;
    }
  });
});
