// /login: starts and finishes a Google sign-in, bound to this browser tab, so that a link
// carrying someone else's ID token signs no one in (login CSRF: the visitor would otherwise end
// up in the sender's account, and connect their TikTok to it).
//
// Start: "Sign in with Google" asks POST /auth/google/start for a fresh random state (the
// server keeps it in a short-lived HttpOnly cookie too), keeps it in this tab's sessionStorage
// and goes to the sign-in page with it. Finish: the sign-in page sends the browser back here
// with #id_token=<jwt>&state=<state>; the fragment is taken out of the address bar at once (so
// the token is not left in history), and the token is only exchanged for our session cookie when
// the state is the one this tab is waiting for. The server checks it against its cookie as well.
"use strict";

(function () {
  const PENDING = "mktpost_signin_state";
  const AGAIN = "Click \u201cSign in with Google\u201d to sign in to your own account.";
  const NOT_STARTED =
    "This sign-in was not started in this browser tab, so you were not signed in. " +
    "Someone may have sent you a link that signs you into their account. " + AGAIN;
  const MISMATCH =
    "This sign-in is not the one this browser tab started, so you were not signed in. " +
    "Someone may have sent you a link that signs you into their account. " + AGAIN;

  // The pending state, removed as it is read: one attempt per start.
  function takePending() {
    try {
      const v = window.sessionStorage.getItem(PENDING);
      window.sessionStorage.removeItem(PENDING);
      return v;
    } catch (_) {
      return null;
    }
  }

  async function start(button, error) {
    button.disabled = true;
    window.MKT.showError(error, "");
    const r = await window.MKT.api("POST", "/auth/google/start");
    if (!r.ok) {
      button.disabled = false;
      window.MKT.showError(error, r.error.message);
      return;
    }
    try {
      window.sessionStorage.setItem(PENDING, r.data.state);
    } catch (_) {
      button.disabled = false;
      window.MKT.showError(error, "Signing in needs this site's session storage, which your browser refuses. Allow it for this site and try again.");
      return;
    }
    window.location.assign(r.data.signin_url);
  }

  async function finish(params, status, error) {
    const token = params.get("id_token");
    const returned = params.get("state");
    history.replaceState(null, "", window.location.pathname);
    const pending = takePending();
    if (!pending) {
      window.MKT.showError(error, NOT_STARTED);
      return;
    }
    if (returned !== pending) {
      window.MKT.showError(error, MISMATCH);
      return;
    }
    status.hidden = false;
    const r = await window.MKT.api("POST", "/auth/session", { id_token: token, state: returned });
    status.hidden = true;
    if (r.ok) {
      window.location.assign(afterSignIn());
      return;
    }
    const verifying = r.status === 401 && r.error.code.startsWith("id_token_");
    const why = verifying
      ? "Google's sign-in could not be verified (" + r.data.error.message + "). Please sign in again."
      : r.error.message;
    window.MKT.showError(error, why);
  }

  // An invitation link opened signed out (`/join#<token>`) arrives here with its token in the
  // fragment: keep it in this tab only, sign in, then go on to the join page with it.
  const JOIN = "mktpost.join";

  function keepInvitation() {
    const hash = window.location.hash.slice(1);
    if (!/^mki_[A-Za-z0-9_-]+$/.test(hash)) return;
    try {
      window.sessionStorage.setItem(JOIN, hash);
    } catch (_) {
      return;
    }
    history.replaceState(null, "", window.location.pathname);
  }

  function afterSignIn() {
    let token = null;
    try {
      token = window.sessionStorage.getItem(JOIN);
      window.sessionStorage.removeItem(JOIN);
    } catch (_) {
      token = null;
    }
    return token ? "/join#" + token : "/accounts";
  }

  document.addEventListener("DOMContentLoaded", () => {
    const status = document.getElementById("signin-status");
    const error = document.getElementById("signin-error");
    const button = document.getElementById("google-signin");
    if (button) button.addEventListener("click", () => start(button, error));
    const params = new URLSearchParams(window.location.hash.slice(1));
    if (params.has("id_token")) finish(params, status, error);
    else keepInvitation();
  });
})();
