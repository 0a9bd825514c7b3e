// The production sign-in page, hosted on the Firebase project's own domain (Firebase Hosting),
// so the Firebase Auth SDK and Google's sign-in run there and MKT POST's pages keep a CSP that
// allows no third-party script. It does what the sandbox's `/_google/signin` does in
// development: signs the person in with Google (Firebase Auth), then sends the browser to
// `return_to` with the Firebase ID token and MKT POST's `state` in the URL fragment
// (`#id_token=…&state=…`), which MKT POST's /login page exchanges for its session cookie.
// Fragments are not sent to servers or in Referer.
//
// `return_to` must be one of the addresses listed in `mktpost-signin.json` (deployed next to
// this page): anything else would hand a user's ID token to another site. `state` is the random
// value MKT POST drew when the person clicked "Sign in with Google" (it also keeps it in a cookie
// and in that tab): it binds the token to the browser that asked for it, so a link carrying
// someone else's token signs no one in. It is handed back untouched; without one there is no
// sign-in MKT POST would accept, so none is started.
import { initializeApp } from "https://www.gstatic.com/firebasejs/10.12.2/firebase-app.js";
import {
  getAuth,
  GoogleAuthProvider,
  getRedirectResult,
  signInWithRedirect,
} from "https://www.gstatic.com/firebasejs/10.12.2/firebase-auth.js";

const status = document.getElementById("status");
const error = document.getElementById("error");

function fail(message) {
  status.hidden = true;
  error.hidden = false;
  error.textContent = message;
}

async function json(path) {
  const r = await fetch(path, { cache: "no-store" });
  if (!r.ok) throw new Error(path + " answered " + r.status);
  return r.json();
}

async function main() {
  // Firebase Hosting serves the project's web config at this reserved address.
  const [config, allowed] = await Promise.all([
    json("/__/firebase/init.json"),
    json("/mktpost-signin.json"),
  ]);
  // Both come in the query on the way in, and are kept for the way back from Google (the
  // redirect flow reloads this page without them).
  const query = new URLSearchParams(window.location.search);
  if (query.has("return_to")) {
    sessionStorage.setItem("mktpost_return_to", query.get("return_to"));
    sessionStorage.setItem("mktpost_state", query.get("state") || "");
  }
  const returnTo = sessionStorage.getItem("mktpost_return_to");
  const state = sessionStorage.getItem("mktpost_state");
  if (!returnTo || !(allowed.return_to || []).includes(returnTo)) {
    fail("This sign-in link is not for a MKT POST address we know. Open MKT POST and sign in from there.");
    return;
  }
  if (!state) {
    fail("This sign-in did not start from MKT POST's \u201cSign in with Google\u201d button. Open MKT POST and sign in from there.");
    return;
  }
  const auth = getAuth(initializeApp(config));
  const result = await getRedirectResult(auth);
  if (result && result.user) {
    status.textContent = "Signed in. Taking you back to MKT POST…";
    const token = await result.user.getIdToken();
    sessionStorage.removeItem("mktpost_return_to");
    sessionStorage.removeItem("mktpost_state");
    const fragment = new URLSearchParams({ id_token: token, state });
    window.location.replace(returnTo + "#" + fragment.toString());
    return;
  }
  const provider = new GoogleAuthProvider();
  provider.setCustomParameters({ prompt: "select_account" });
  await signInWithRedirect(auth, provider);
}

main().catch((e) => fail("Google sign-in did not work (" + e.message + "). Please try again."));
