// /login: finishes a Google sign-in. The sign-in page sends the browser back here with
// #id_token=<jwt>; the token is taken out of the address bar at once (so it is not left in
// history), exchanged for our session cookie, and the creator goes on to Accounts.
"use strict";

document.addEventListener("DOMContentLoaded", async () => {
  const params = new URLSearchParams(window.location.hash.slice(1));
  const token = params.get("id_token");
  if (!token) return;
  history.replaceState(null, "", window.location.pathname);
  const status = document.getElementById("signin-status");
  const error = document.getElementById("signin-error");
  status.hidden = false;
  const r = await window.MKT.api("POST", "/auth/session", { id_token: token });
  status.hidden = true;
  if (r.ok) {
    window.location.assign("/accounts");
    return;
  }
  const why = r.status === 401
    ? "Google's sign-in could not be verified (" + r.error.message + "). Please sign in again."
    : r.error.message;
  window.MKT.showError(error, why);
});
