//! Login Kit: the consent page at `/v2/auth/authorize/` (tiktok-api.md §2), which issues
//! authorization codes.
//!
//! The consent page is a plain HTML form so tests drive it with any HTTP client: GET the page,
//! POST the form. Query knobs on the authorize URL pick the consenting creator
//! (`sandbox_open_id`), the granted scopes (`sandbox_grant`) or skip the page
//! (`sandbox_auto=approve|deny`).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use chrono::TimeDelta;
use rand::Rng;

use crate::html::html_escape;
use crate::ids::random_string;
use crate::state::tiktok::AuthCode;
use crate::state::{Inner, SandboxState};

/// Parsed authorize parameters that passed validation.
struct Authorize {
    client_key: String,
    redirect_uri: String,
    state: String,
    scopes: Vec<String>,
    code_challenge: Option<String>,
}

/// Why an authorize request cannot proceed.
enum AuthorizeFailure {
    /// No trustworthy redirect URI: show an error page.
    Page(String),
    /// Send the error back to the app.
    Redirect {
        redirect_uri: String,
        state: String,
        error: &'static str,
        description: String,
    },
}

fn validate(inner: &Inner, p: &HashMap<String, String>) -> Result<Authorize, AuthorizeFailure> {
    let get = |k: &str| p.get(k).map(String::as_str).unwrap_or("");
    let client_key = get("client_key");
    let Some(app) = inner.tiktok.apps.get(client_key) else {
        return Err(AuthorizeFailure::Page(format!(
            "Unknown client_key \"{client_key}\"."
        )));
    };
    let redirect_uri = get("redirect_uri");
    if !app.redirect_uris.iter().any(|u| u == redirect_uri) {
        return Err(AuthorizeFailure::Page(format!(
            "redirect_uri \"{redirect_uri}\" is not registered for this app."
        )));
    }
    let state = get("state").to_owned();
    let fail = |error, description: &str| AuthorizeFailure::Redirect {
        redirect_uri: redirect_uri.to_owned(),
        state: state.clone(),
        error,
        description: description.to_owned(),
    };
    if get("response_type") != "code" {
        return Err(fail(
            "unsupported_response_type",
            "response_type must be code.",
        ));
    }
    let scopes: Vec<String> = get("scope")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if scopes.is_empty() {
        return Err(fail("invalid_scope", "scope is required."));
    }
    if let Some(bad) = scopes.iter().find(|s| !app.scopes.contains(*s)) {
        return Err(fail(
            "invalid_scope",
            &format!("The scope {bad} is not enabled for this app."),
        ));
    }
    if state.is_empty() {
        return Err(fail("invalid_request", "state is required."));
    }
    let code_challenge = p.get("code_challenge").filter(|c| !c.is_empty()).cloned();
    if code_challenge.is_some() && !matches!(get("code_challenge_method"), "S256" | "") {
        return Err(fail(
            "invalid_request",
            "code_challenge_method must be S256.",
        ));
    }
    Ok(Authorize {
        client_key: client_key.into(),
        redirect_uri: redirect_uri.into(),
        state,
        scopes,
        code_challenge,
    })
}

fn redirect_with(redirect_uri: &str, pairs: &[(&str, &str)]) -> Response {
    match url::Url::parse(redirect_uri) {
        Ok(mut url) => {
            {
                let mut q = url.query_pairs_mut();
                for (k, v) in pairs {
                    q.append_pair(k, v);
                }
            }
            // 302, like TikTok's own consent redirect.
            (StatusCode::FOUND, [(header::LOCATION, url.to_string())]).into_response()
        }
        Err(_) => error_page("The redirect_uri is not a valid URL."),
    }
}

fn error_page(message: &str) -> Response {
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>TikTok sandbox - error</title></head>\
         <body><h1>Something went wrong</h1><p id=\"error\">{}</p></body></html>",
        html_escape(message)
    );
    (StatusCode::BAD_REQUEST, Html(body)).into_response()
}

fn failure_response(f: AuthorizeFailure) -> Response {
    match f {
        AuthorizeFailure::Page(msg) => error_page(&msg),
        AuthorizeFailure::Redirect {
            redirect_uri,
            state,
            error,
            description,
        } => redirect_with(
            &redirect_uri,
            &[
                ("error", error),
                ("error_description", &description),
                ("state", &state),
            ],
        ),
    }
}

/// Issues a code and redirects with `code`, `scopes`, `state`.
fn approve(
    inner: &mut Inner,
    now: chrono::DateTime<chrono::Utc>,
    a: &Authorize,
    open_id: &str,
    granted: &[String],
) -> Response {
    if !inner.tiktok.creators.contains_key(open_id) {
        return error_page(&format!("Unknown sandbox creator \"{open_id}\"."));
    }
    if granted.is_empty() {
        return redirect_with(
            &a.redirect_uri,
            &[
                ("error", "access_denied"),
                ("error_description", "No scope was granted."),
                ("state", &a.state),
            ],
        );
    }
    // Real codes contain characters such as `*` and `!`, so clients must URL-decode them.
    let code = format!(
        "{}*3!{}",
        random_string(40),
        rand::rng().random_range(1000..10_000)
    );
    inner.tiktok.codes.insert(
        code.clone(),
        AuthCode {
            client_key: a.client_key.clone(),
            redirect_uri: a.redirect_uri.clone(),
            scopes: granted.to_vec(),
            open_id: open_id.into(),
            code_challenge: a.code_challenge.clone(),
            expires_at: now + TimeDelta::seconds(inner.knobs.auth_code_ttl_secs),
            used: false,
        },
    );
    let scopes = granted.join(",");
    redirect_with(
        &a.redirect_uri,
        &[("code", &code), ("scopes", &scopes), ("state", &a.state)],
    )
}

fn deny(a: &Authorize) -> Response {
    redirect_with(
        &a.redirect_uri,
        &[
            ("error", "access_denied"),
            ("error_description", "The user denied the request."),
            ("state", &a.state),
        ],
    )
}

/// Scopes from a comma list, kept in request order and limited to what was requested.
fn pick_granted(requested: &[String], chosen: &[String]) -> Vec<String> {
    requested
        .iter()
        .filter(|s| chosen.contains(s))
        .cloned()
        .collect()
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `GET /v2/auth/authorize/` — the consent page.
pub(crate) async fn authorize_page(
    State(s): State<SandboxState>,
    Query(p): Query<HashMap<String, String>>,
) -> Response {
    let now = s.now();
    let mut inner = s.lock();
    let a = match validate(&inner, &p) {
        Ok(a) => a,
        Err(f) => return failure_response(f),
    };
    let open_id = p
        .get("sandbox_open_id")
        .cloned()
        .filter(|o| !o.is_empty())
        .or_else(|| inner.default_open_id());
    let granted = match p.get("sandbox_grant") {
        Some(g) => pick_granted(&a.scopes, &split_list(g)),
        None => a.scopes.clone(),
    };
    match p.get("sandbox_auto").map(String::as_str) {
        Some("approve") => {
            let Some(open_id) = open_id else {
                return error_page("No sandbox creator exists.");
            };
            return approve(&mut inner, now, &a, &open_id, &granted);
        }
        Some("deny") => return deny(&a),
        _ => {}
    }
    consent_page(&inner, &a, open_id.as_ref(), &granted)
}

/// The consent form: creators to continue as, the requested scopes to grant, the authorize
/// parameters carried in hidden fields.
fn consent_page(
    inner: &Inner,
    a: &Authorize,
    open_id: Option<&String>,
    granted: &[String],
) -> Response {
    let app_name = inner
        .tiktok
        .apps
        .get(&a.client_key)
        .map(|a| a.name.clone())
        .unwrap_or_default();
    let mut creators = String::new();
    for c in inner.tiktok.creators.values() {
        let checked = if Some(&c.open_id) == open_id {
            " checked"
        } else {
            ""
        };
        creators.push_str(&format!(
            "<label><input type=\"radio\" name=\"open_id\" value=\"{id}\"{checked}> {name} (@{user}{private})</label><br>\n",
            id = html_escape(&c.open_id),
            name = html_escape(&c.display_name),
            user = html_escape(&c.username),
            private = if c.private_account { ", private account" } else { "" },
        ));
    }
    let mut scopes = String::new();
    for sc in &a.scopes {
        let checked = if granted.contains(sc) { " checked" } else { "" };
        scopes.push_str(&format!(
            "<li><label><input type=\"checkbox\" name=\"grant\" value=\"{sc}\"{checked}> {sc}</label></li>\n",
            sc = html_escape(sc)
        ));
    }
    let hidden = |k: &str, v: &str| {
        format!(
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">\n",
            html_escape(k),
            html_escape(v)
        )
    };
    let mut fields = String::new();
    fields.push_str(&hidden("client_key", &a.client_key));
    fields.push_str(&hidden("redirect_uri", &a.redirect_uri));
    fields.push_str(&hidden("state", &a.state));
    fields.push_str(&hidden("scope", &a.scopes.join(",")));
    fields.push_str(&hidden("response_type", "code"));
    fields.push_str(&hidden("grant_present", "1"));
    if let Some(c) = &a.code_challenge {
        fields.push_str(&hidden("code_challenge", c));
        fields.push_str(&hidden("code_challenge_method", "S256"));
    }
    let body = format!(
        "<!doctype html>
<html><head><meta charset=\"utf-8\"><title>TikTok sandbox - authorize {app}</title>
<style>body{{font-family:sans-serif;max-width:32rem;margin:2rem auto}}button{{padding:.5rem 1.5rem;margin-right:1rem}}</style>
</head><body>
<h1>{app} would like to access your TikTok account</h1>
<p>This is the MKT POST sandbox standing in for TikTok. Nothing leaves this machine.</p>
<form method=\"post\" action=\"/v2/auth/authorize/\">
{fields}<fieldset><legend>Continue as</legend>
{creators}</fieldset>
<fieldset><legend>Permissions requested</legend><ul>
{scopes}</ul></fieldset>
<p><button type=\"submit\" name=\"decision\" value=\"authorize\">Authorize</button>
<button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></p>
</form></body></html>",
        app = html_escape(&app_name),
    );
    Html(body).into_response()
}

/// `POST /v2/auth/authorize/` — the consent form's target.
///
/// Fields: the authorize parameters, `open_id`, `decision=authorize|deny`, and the granted
/// scopes as repeated `grant` fields or one comma-separated `granted` (all requested scopes
/// when neither is sent and `grant_present` is absent).
pub(crate) async fn authorize_decision(State(s): State<SandboxState>, body: Bytes) -> Response {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let mut p: HashMap<String, String> = HashMap::new();
    let mut chosen: Vec<String> = Vec::new();
    for (k, v) in pairs {
        match k.as_str() {
            "grant" => chosen.push(v),
            "granted" => chosen.extend(split_list(&v)),
            _ => {
                p.insert(k, v);
            }
        }
    }
    let now = s.now();
    let mut inner = s.lock();
    let a = match validate(&inner, &p) {
        Ok(a) => a,
        Err(f) => return failure_response(f),
    };
    if p.get("decision").map(String::as_str) == Some("deny") {
        return deny(&a);
    }
    let granted = if chosen.is_empty() && !p.contains_key("grant_present") {
        a.scopes.clone()
    } else {
        pick_granted(&a.scopes, &chosen)
    };
    let open_id = p
        .get("open_id")
        .cloned()
        .filter(|o| !o.is_empty())
        .or_else(|| inner.default_open_id());
    let Some(open_id) = open_id else {
        return error_page("No sandbox creator exists.");
    };
    approve(&mut inner, now, &a, &open_id, &granted)
}
