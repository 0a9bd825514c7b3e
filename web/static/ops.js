// /ops: refreshes queue counts and the scheduler's health; replays or discards dead tasks.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const M = window.MKT;
  const table = document.getElementById("queues");
  if (!table) return;
  const { error, health, detail, box } = M.elements({
    error: "queues-error", health: "scheduler-health", detail: "scheduler-detail", box: "scheduler",
  });

  async function refresh() {
    const r = await M.api("GET", "/api/ops/queues");
    if (!r.ok) {
      M.showError(error, r.error.message);
      return;
    }
    M.showError(error, "");
    for (const q of r.data.queues) {
      const row = table.querySelector('tr[data-job="' + q.job + '"]');
      if (!row) continue;
      for (const td of row.querySelectorAll("td[data-k]")) {
        td.textContent = String(q[td.dataset.k]);
      }
    }
    const s = r.data.scheduler;
    box.dataset.health = s.health;
    health.textContent = s.health;
    detail.textContent = s.health === "missing"
      ? "no scheduler has ever reported"
      : "last tick " + Math.round(s.age_ms / 1000) + " s ago by " + s.instance;
  }
  setInterval(refresh, 5000);

  for (const row of document.querySelectorAll("#dead tr[data-task]")) {
    const out = row.querySelector(".js-result");
    const path = "/api/ops/queues/" + encodeURIComponent(row.dataset.job) +
      "/dead/" + encodeURIComponent(row.dataset.task);
    const act = async (method, url, done) => {
      for (const b of row.querySelectorAll("button")) b.disabled = true;
      const r = await M.api(method, url);
      out.hidden = false;
      if (r.ok) {
        out.textContent = done(r.data);
        refresh();
      } else {
        out.textContent = r.error.message;
        for (const b of row.querySelectorAll("button")) b.disabled = false;
      }
    };
    row.querySelector(".js-replay").addEventListener("click", () =>
      act("POST", path + "/replay", (b) => "Replayed as " + b.task_id));
    row.querySelector(".js-discard").addEventListener("click", () =>
      act("DELETE", path, () => "Discarded"));
  }
});
