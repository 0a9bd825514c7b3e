//! The Google / Firebase side's routes: signing keys published in Google's two formats, and a
//! sign-in page that hands the app an ID token (and the app's `state`) in the URL fragment.
//! Keys, test users and minting live in the state's Google half.

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::error::SandboxError;
use crate::html::html_escape;
use crate::knobs::GoogleClock;
use crate::model::GoogleUser;
use crate::state::SandboxState;
pub use crate::state::google::{IdTokenRequest, IdTokenVariant, MintedIdToken};

/// Where Google publishes the securetoken certificates as `{kid: PEM certificate}`.
pub const X509_PATH: &str = "/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com";
/// Where Google publishes the same keys as a JWKS.
pub const JWKS_PATH: &str = "/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com";
/// The sandbox's Google sign-in page.
pub const SIGNIN_PATH: &str = "/_google/signin";

pub(crate) fn router() -> Router<SandboxState> {
    Router::new()
        .route(X509_PATH, get(x509))
        .route(JWKS_PATH, get(jwks))
        .route(SIGNIN_PATH, get(signin_page).post(signin_submit))
}

impl SandboxState {
    /// Mints a Firebase-style ID token for `user`.
    pub fn mint_id_token(
        &self,
        user: &GoogleUser,
        variant: IdTokenVariant,
    ) -> Result<MintedIdToken, SandboxError> {
        let (ttl, clock) = {
            let inner = self.lock();
            (
                inner.knobs.google_id_token_ttl_secs,
                inner.knobs.google_clock,
            )
        };
        let now = match clock {
            GoogleClock::Real => chrono::Utc::now(),
            GoogleClock::Sandbox => self.now(),
        }
        .timestamp();
        let project = &self.config().firebase_project_id;
        self.google().mint(user, variant, now, ttl, project)
    }

    /// Resolves a request to a user: by uid, else by email (a new user if unknown), else the
    /// first seeded user.
    pub(crate) fn google_user_for(&self, req: &IdTokenRequest) -> GoogleUser {
        self.google().user_for(req)
    }
}

fn cached_json(s: &SandboxState, body: Value) -> Response {
    let max_age = s.lock().knobs.google_cert_max_age_secs;
    (
        [(
            header::CACHE_CONTROL,
            format!("public, max-age={max_age}, must-revalidate, no-transform"),
        )],
        axum::Json(body),
    )
        .into_response()
}

/// `GET /robot/v1/metadata/x509/securetoken@…` — `{kid: PEM certificate}`.
async fn x509(State(s): State<SandboxState>) -> Response {
    let map = s.google().keys.certificates();
    cached_json(&s, json!(map))
}

/// `GET /service_accounts/v1/jwk/securetoken@…` — the same keys as a JWKS.
async fn jwks(State(s): State<SandboxState>) -> Response {
    let keys = s.google().keys.jwks();
    cached_json(&s, json!({ "keys": keys }))
}

/// `return_to` must be an absolute http(s) URL; the token goes into its fragment.
/// Refusals are a 400 with the reason as text.
fn parse_return_to(raw: Option<&String>) -> Result<url::Url, (StatusCode, &'static str)> {
    let bad = |m| (StatusCode::BAD_REQUEST, m);
    let raw = raw
        .filter(|r| !r.is_empty())
        .ok_or_else(|| bad("return_to is required"))?;
    let url = url::Url::parse(raw).map_err(|_| bad("return_to must be an absolute URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("return_to must be an http(s) URL"));
    }
    Ok(url)
}

/// `GET /_google/signin?return_to=…&state=…` — pick a seeded user or type an email. `state` is
/// the app's nonce binding the sign-in to the browser that started it; it is carried through
/// the form and handed back untouched.
async fn signin_page(
    State(s): State<SandboxState>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let return_to = match parse_return_to(q.get("return_to")) {
        Ok(u) => u,
        Err(r) => return r.into_response(),
    };
    let state_field = q
        .get("state")
        .map(|st| {
            format!(
                "<input type=\"hidden\" name=\"state\" value=\"{}\">\n",
                html_escape(st)
            )
        })
        .unwrap_or_default();
    let users = s.google().users.clone();
    let mut radios = String::new();
    for (i, u) in users.iter().enumerate() {
        radios.push_str(&format!(
            "<label><input type=\"radio\" name=\"uid\" value=\"{}\"{}> {} &lt;{}&gt;</label><br>\n",
            html_escape(&u.uid),
            if i == 0 { " checked" } else { "" },
            html_escape(&u.name),
            html_escape(&u.email)
        ));
    }
    let body = format!(
        "<!doctype html>
<html><head><meta charset=\"utf-8\"><title>Sign in with Google (sandbox)</title>
<style>body{{font-family:sans-serif;max-width:32rem;margin:2rem auto}}input[type=text],input[type=email]{{width:100%}}</style>
</head><body>
<h1>Sign in with Google</h1>
<p>This is the MKT POST sandbox standing in for Google. Pick a test user or type any email.</p>
<form method=\"post\" action=\"{SIGNIN_PATH}\">
<input type=\"hidden\" name=\"return_to\" value=\"{return_to}\">
{state_field}<fieldset><legend>Test users</legend>
{radios}</fieldset>
<fieldset><legend>Or another account</legend>
<label>Email <input type=\"email\" name=\"email\"></label><br>
<label>Name <input type=\"text\" name=\"name\"></label>
</fieldset>
<p><button type=\"submit\">Continue</button></p>
</form></body></html>",
        return_to = html_escape(return_to.as_str()),
    );
    Html(body).into_response()
}

/// `POST /_google/signin` — fields `return_to`, optional `state`, and `email` (+ `name`) or
/// `uid`. Answers 303 to `return_to#id_token=<jwt>&state=<state>` (no `&state` when none came).
async fn signin_submit(State(s): State<SandboxState>, body: Bytes) -> Response {
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let mut return_to = match parse_return_to(form.get("return_to")) {
        Ok(u) => u,
        Err(r) => return r.into_response(),
    };
    let field = |k: &str| {
        form.get(k)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let req = match field("email") {
        Some(email) => IdTokenRequest {
            email: Some(email),
            name: field("name"),
            ..IdTokenRequest::default()
        },
        None => IdTokenRequest {
            uid: field("uid"),
            ..IdTokenRequest::default()
        },
    };
    let user = s.google_user_for(&req);
    {
        let mut google = s.google();
        if !google.users.iter().any(|u| u.uid == user.uid) {
            google.users.push(user.clone());
        }
    }
    match s.mint_id_token(&user, IdTokenVariant::Valid) {
        Ok(minted) => {
            let mut fragment = url::form_urlencoded::Serializer::new(String::new());
            fragment.append_pair("id_token", &minted.id_token);
            if let Some(state) = form.get("state") {
                fragment.append_pair("state", state);
            }
            return_to.set_fragment(Some(&fragment.finish()));
            (
                StatusCode::SEE_OTHER,
                [(header::LOCATION, return_to.to_string())],
            )
                .into_response()
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
