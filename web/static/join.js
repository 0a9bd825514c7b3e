// /join#<token>: joins the workspace of an invitation. The token is in the fragment (never
// sent to a server by the browser); "Join workspace" hands it to POST /api/invitations/accept,
// which checks that it is for the signed-in Google account. Then on to Compose (History for a
// viewer, who may not post).
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const M = window.MKT;
  const { button, status, error, missing } = M.elements({
    button: "join", status: "join-status", error: "join-error", missing: "join-missing",
  });
  if (!button) return;
  const token = decodeURIComponent(window.location.hash.slice(1));
  if (!token) {
    missing.hidden = false;
    return;
  }
  button.disabled = false;
  button.addEventListener("click", async () => {
    button.disabled = true;
    M.showError(error, "");
    status.hidden = false;
    const r = await M.api("POST", "/api/invitations/accept", { token });
    status.hidden = true;
    if (!r.ok) {
      button.disabled = false;
      M.showError(error, r.error.message);
      return;
    }
    // Joined, and switched to the workspace; the used link leaves the history.
    window.location.replace(r.data.role === "viewer" ? "/history" : "/compose");
  });
});
