// The production sign-in page, hosted on the Firebase project's own domain (Firebase Hosting),
// so the Firebase Auth SDK and Google's sign-in run there and MKT POST's pages keep a CSP that
// allows no third-party script. It does what the sandbox's `/_google/signin` does in
// development: signs the person in with Google (Firebase Auth), then sends the browser to
// `return_to` with the Firebase ID token in the URL fragment (`#id_token=…`), which MKT POST's
// /login page exchanges for its session cookie. Fragments are not sent to servers or in Referer.
//
// `return_to` must be one of the addresses listed in `mktpost-signin.json` (deployed next to
// this page): anything else would hand a user's ID token to another site.
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
  const given = new URLSearchParams(window.location.search).get("return_to");
  if (given) sessionStorage.setItem("mktpost_return_to", given);
  const returnTo = given || sessionStorage.getItem("mktpost_return_to");
  if (!returnTo || !(allowed.return_to || []).includes(returnTo)) {
    fail("This sign-in link is not for a MKT POST address we know. Open MKT POST and sign in from there.");
    return;
  }
  const auth = getAuth(initializeApp(config));
  const result = await getRedirectResult(auth);
  if (result && result.user) {
    status.textContent = "Signed in. Taking you back to MKT POST…";
    const token = await result.user.getIdToken();
    sessionStorage.removeItem("mktpost_return_to");
    window.location.replace(returnTo + "#id_token=" + encodeURIComponent(token));
    return;
  }
  const provider = new GoogleAuthProvider();
  provider.setCustomParameters({ prompt: "select_account" });
  await signInWithRedirect(auth, provider);
}

main().catch((e) => fail("Google sign-in did not work (" + e.message + "). Please try again."));
