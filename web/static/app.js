// MKT POST: helpers shared by every page. Plain JS, no dependencies, nothing from other sites.
"use strict";

(function () {
  const NETWORK = {
    code: "network",
    message: "MKT POST could not be reached. Check your connection and try again.",
  };

  // Words for errors whose API message is written for programs rather than people.
  function plain(status, error) {
    if (status === 401) return "You are signed out. Sign in again, then retry.";
    if (status === 429) return "Too many requests in a short time. Wait a moment and try again.";
    if (status === 503) return error && error.message
      ? error.message.replace(/ is unavailable$/, " is not answering right now. Try again in a minute.")
      : "A service MKT POST needs is not answering right now. Try again in a minute.";
    if (status >= 500 || !error) return "Something went wrong on our side. Please try again.";
    return error.message;
  }

  // Calls the JSON API. Resolves to {ok, status, data, error}; `error` is {code, message} in
  // words a creator understands, never a thrown exception.
  async function api(method, path, body, headers) {
    const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    Object.assign(init.headers, headers || {});
    let resp;
    try {
      resp = await fetch(path, init);
    } catch (_) {
      return { ok: false, status: 0, data: null, error: NETWORK };
    }
    let data = null;
    try {
      data = resp.status === 204 ? null : await resp.json();
    } catch (_) {
      data = null;
    }
    if (resp.ok) return { ok: true, status: resp.status, data, error: null };
    const error = data && data.error ? data.error : null;
    return {
      ok: false,
      status: resp.status,
      data,
      error: { code: error ? error.code : "http_" + resp.status, message: plain(resp.status, error) },
    };
  }

  // Shows `message` in the error slot `el` and marks `control` invalid (or clears both).
  function showError(el, message, control) {
    if (!el) return;
    el.textContent = message || "";
    el.hidden = !message;
    if (control) {
      if (message) control.setAttribute("aria-invalid", "true");
      else control.removeAttribute("aria-invalid");
    }
  }

  function formatLocal(date) {
    return date.toLocaleString(undefined, {
      year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
    });
  }

  // Rewrites <time data-localize> in the browser's own time zone.
  function localizeTimes(root) {
    (root || document).querySelectorAll("time[data-localize]").forEach((t) => {
      const d = new Date(t.getAttribute("datetime"));
      if (!isNaN(d)) {
        t.textContent = formatLocal(d);
        t.title = t.getAttribute("datetime");
      }
    });
  }

  // The IANA zone the browser is in (what scheduled_tz sends by default).
  function browserZone() {
    try {
      return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
    } catch (_) {
      return "UTC";
    }
  }

  // Every zone the browser knows, with the browser's own first; fills a <select>.
  function fillZones(select, selected) {
    const zone = selected || browserZone();
    let zones = [];
    try {
      zones = Intl.supportedValuesOf("timeZone");
    } catch (_) {
      zones = [];
    }
    const all = new Set([zone, "UTC"].concat(zones));
    select.textContent = "";
    all.forEach((z) => {
      const o = document.createElement("option");
      o.value = z;
      o.textContent = z === browserZone() ? z + " (this device)" : z;
      select.appendChild(o);
    });
    select.value = zone;
  }

  // The UTC instant of a wall-clock time ("YYYY-MM-DDTHH:MM") in `zone`, or null. Used only
  // to show the time in UTC next to the picker; the server converts authoritatively (and
  // refuses times that do not exist or happen twice on DST days).
  function zonedToUtc(local, zone) {
    const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(local || "");
    if (!m) return null;
    const wall = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]);
    let fmt;
    try {
      fmt = new Intl.DateTimeFormat("en-US", {
        timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
        hour: "2-digit", minute: "2-digit", second: "2-digit",
      });
    } catch (_) {
      return null;
    }
    const offsetAt = (t) => {
      const p = {};
      fmt.formatToParts(new Date(t)).forEach((x) => { p[x.type] = x.value; });
      const asUtc = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour % 24, +p.minute, +p.second);
      return asUtc - t;
    };
    let t = wall - offsetAt(wall);
    t = wall - offsetAt(t);
    return new Date(t);
  }

  function utcText(d) {
    return d.toISOString().slice(0, 16).replace("T", " ") + " UTC";
  }

  // A local "YYYY-MM-DDTHH:MM" for a Date, in the browser's zone (datetime-local's format).
  function localInput(d) {
    const pad = (n) => String(n).padStart(2, "0");
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) +
      "T" + pad(d.getHours()) + ":" + pad(d.getMinutes());
  }

  // The JSON body of a finished XMLHttpRequest (uploads use XHR for progress), or null.
  function xhrJson(req) {
    try {
      return JSON.parse(req.responseText);
    } catch (_) {
      return null;
    }
  }

  // The elements with these ids, under the keys given: elements({ name: "key-name" }).name.
  function elements(ids) {
    const found = {};
    for (const [key, id] of Object.entries(ids)) found[key] = document.getElementById(id);
    return found;
  }

  // On a click of `button`, runs `call` (an api() request) with the button disabled: then
  // `done(reply)` when it succeeded, or the button back and the reply's message in `error`.
  function onClickCall(button, error, call, done) {
    button.addEventListener("click", async () => {
      button.disabled = true;
      const r = await call();
      if (!r.ok) {
        button.disabled = false;
        showError(error, r.error.message);
        return;
      }
      done(r);
    });
  }

  window.MKT = {
    api, xhrJson, showError, localizeTimes, browserZone, fillZones, zonedToUtc, utcText, localInput,
    formatLocal, elements, onClickCall,
  };

  // The header's workspace switcher: choosing a workspace makes it the current one (an
  // HttpOnly cookie set by PUT /api/workspaces/current) and reloads the page in it; the last
  // entry asks for a name and makes a new team workspace (POST /api/workspaces), then reloads.
  function workspaceSwitcher() {
    const { select, form, name, cancel, error } = elements({
      select: "workspace-switch", form: "new-workspace", name: "new-workspace-name",
      cancel: "new-workspace-cancel", error: "workspace-error",
    });
    if (!select || !form) return;
    const chosen = Array.from(select.options).find((o) => o.defaultSelected);
    const current = chosen ? chosen.value : "";
    const back = () => { select.value = current; };
    select.addEventListener("change", async () => {
      showError(error, "");
      if (select.value === "new") {
        form.hidden = false;
        name.focus();
        return;
      }
      form.hidden = true;
      if (select.value === current) return;
      select.disabled = true;
      const r = await api("PUT", "/api/workspaces/current", { workspace_id: select.value });
      if (!r.ok) {
        select.disabled = false;
        back();
        showError(error, r.error.message);
        return;
      }
      window.location.reload();
    });
    cancel.addEventListener("click", () => {
      form.hidden = true;
      name.value = "";
      showError(error, "", name);
      back();
      select.focus();
    });
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      showError(error, "", name);
      const r = await api("POST", "/api/workspaces", { name: name.value });
      if (!r.ok) {
        showError(error, r.error.message, name);
        name.focus();
        return;
      }
      window.location.reload();
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    localizeTimes(document);
    workspaceSwitcher();
    const out = document.getElementById("sign-out");
    if (out) {
      onClickCall(out, document.getElementById("sign-out-error"),
        () => api("DELETE", "/auth/session"), () => window.location.assign("/login"));
    }
  });
})();
