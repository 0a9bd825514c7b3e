//! What an API key may do: each key has the scopes chosen when it was made (`read`, `publish`,
//! `campaigns`, `accounts`), and what only the person may do (keys, export, erasure,
//! disconnect, sign-out, operations, every page) needs the browser session whatever the scopes.
//!
//! [`ROUTES`] is the spec: every route of `web/src/routes/` and `web/src/pages/`, called with no
//! credentials and with a key of each single scope, and the exact answer each must get.

use anyhow::{Context, Result};
use e2e::{Backend, TestApp};
use reqwest::header::{AUTHORIZATION, ORIGIN};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::expect::*;

const SEE_LOGIN: Expect = answer(303);
const UNAUTHENTICATED: Expect = error(401, "unauthenticated");

/// What a key gets on a route.
#[derive(Debug, Clone, Copy)]
enum Keys {
    /// A key with this scope gets `Expect`; a key without it 403 `insufficient_scope`.
    Scope(&'static str, Expect),
    /// Every key gets this (only the person may do it, or keys play no part).
    All(Expect),
}

/// One route: method, path (`{id}` etc. are filled in by [`fill`]), body, the answer with no
/// credentials at all, and what keys get.
struct Route {
    method: Method,
    path: &'static str,
    body: Body,
    no_key: Expect,
    keys: Keys,
}

#[derive(Clone, Copy)]
enum Body {
    None,
    Json(&'static str),
    /// A JSON campaign with its required `Idempotency-Key`.
    Campaign,
    /// A reschedule to tomorrow (inside the schedule horizon, so only the id decides).
    Tomorrow,
}

const fn route(method: Method, path: &'static str, no_key: Expect, keys: Keys) -> Route {
    Route {
        method,
        path,
        body: Body::None,
        no_key,
        keys,
    }
}

const fn with_body(
    method: Method,
    path: &'static str,
    body: Body,
    no_key: Expect,
    keys: Keys,
) -> Route {
    Route {
        method,
        path,
        body,
        no_key,
        keys,
    }
}

const GET: Method = Method::GET;
const POST: Method = Method::POST;
const PATCH: Method = Method::PATCH;
const DELETE: Method = Method::DELETE;

/// A page for the signed-in person: the signed-out go to /login, a key is refused.
const fn page(path: &'static str) -> Route {
    route(GET, path, SEE_LOGIN, Keys::All(PAGE_REFUSED))
}

/// What only the person may do, in a browser session: no key gets in whatever its scopes.
const fn person(method: Method, path: &'static str) -> Route {
    route(method, path, UNAUTHENTICATED, Keys::All(SESSION_REQUIRED))
}

/// An API route a key with `scope` may call, answered `expect`.
const fn scoped(method: Method, path: &'static str, scope: &'static str, expect: Expect) -> Route {
    route(method, path, UNAUTHENTICATED, Keys::Scope(scope, expect))
}

/// The spec. `{id}`s are well-formed ids that belong to nobody, so a call that is let through
/// ends at the handler's 404 (or its validation), never changing anything.
const ROUTES: &[Route] = &[
    // Health: no user involved; a key changes nothing.
    route(GET, "/healthz", OK, Keys::All(OK)),
    route(GET, "/readyz", OK, Keys::All(OK)),
    route(GET, "/metrics", OK, Keys::All(OK)),
    // Pages: for the person in a browser. Public ones render; the rest send the signed-out to
    // /login and refuse a key (even one whose user may see the page in a browser).
    route(GET, "/", SEE_LOGIN, Keys::All(SEE_LOGIN)),
    route(GET, "/login", OK, Keys::All(OK)),
    route(GET, "/privacy", OK, Keys::All(OK)),
    route(GET, "/static/app.css", OK, Keys::All(OK)),
    page("/accounts"),
    page("/accounts/{account_id}/avatar"),
    page("/compose"),
    page("/history"),
    page("/history/posts"),
    page("/campaigns"),
    page("/settings"),
    page("/members"),
    page("/approvals"),
    page("/join"),
    page("/ops"),
    // Sessions and TikTok connect: the browser's business. Signing in needs our Origin (the
    // login-CSRF guard) and a sign-in this browser started; a key skips neither check's purpose.
    with_body(
        POST,
        "/auth/session",
        Body::Json(r#"{"id_token":"not-a-token"}"#),
        error(403, "forbidden"),
        Keys::All(error(422, "signin_not_started")),
    ),
    route(
        POST,
        "/auth/google/start",
        error(403, "forbidden"),
        Keys::All(OK),
    ),
    // Signing out: cookie-less, there is nothing to end; without a key, a write to
    // /auth/session needs our Origin (the login-CSRF guard covers the whole path).
    route(
        DELETE,
        "/auth/session",
        error(403, "forbidden"),
        Keys::All(answer(204)),
    ),
    person(DELETE, "/auth/sessions"),
    person(GET, "/auth/tiktok/connect"),
    person(GET, "/auth/tiktok/callback"),
    // The profile, and what only the person may do with it.
    scoped(GET, "/api/me", "read", OK),
    person(DELETE, "/api/me"),
    person(GET, "/api/export"),
    // Keys: listed with `read`; made and revoked by the person only.
    scoped(GET, "/api/keys", "read", OK),
    with_body(
        POST,
        "/api/keys",
        Body::Json(r#"{"name":"minted by a key","scopes":["read"]}"#),
        UNAUTHENTICATED,
        Keys::All(SESSION_REQUIRED),
    ),
    person(DELETE, "/api/keys/{key_id}"),
    // TikTok accounts: read with `accounts`; disconnecting is the person's decision.
    scoped(GET, "/api/accounts", "accounts", OK),
    scoped(
        GET,
        "/api/accounts/{account_id}/creator-info",
        "accounts",
        NOT_FOUND,
    ),
    scoped(
        GET,
        "/api/accounts/{account_id}/videos",
        "accounts",
        NOT_FOUND,
    ),
    person(DELETE, "/api/accounts/{account_id}"),
    // Media and posts: read with `read`, changed with `publish`.
    scoped(POST, "/api/media", "publish", error(422, "empty_upload")),
    scoped(GET, "/api/media/{media_id}", "read", NOT_FOUND),
    scoped(DELETE, "/api/media/{media_id}", "publish", NOT_FOUND),
    scoped(GET, "/api/posts", "read", OK),
    with_body(
        POST,
        "/api/posts",
        Body::Json(
            r#"{"account_id":"{account_id}","media_id":"{media_id}","title":"t","privacy_level":"SELF_ONLY","disable_comment":false,"disable_duet":false,"disable_stitch":false}"#,
        ),
        UNAUTHENTICATED,
        Keys::Scope("publish", NOT_FOUND),
    ),
    scoped(GET, "/api/posts/{post_id}", "read", NOT_FOUND),
    scoped(DELETE, "/api/posts/{post_id}", "publish", NOT_FOUND),
    with_body(
        PATCH,
        "/api/posts/{post_id}",
        Body::Tomorrow,
        UNAUTHENTICATED,
        Keys::Scope("publish", NOT_FOUND),
    ),
    scoped(POST, "/api/posts/{post_id}/retry", "publish", NOT_FOUND),
    // Campaigns: their own scope.
    with_body(
        POST,
        "/api/campaigns",
        Body::Campaign,
        UNAUTHENTICATED,
        Keys::Scope("campaigns", error(400, "invalid_campaign")),
    ),
    // Operations: an operator's browser session only (the key's owner here is an operator).
    person(GET, "/api/ops/queues"),
    person(GET, "/api/ops/queues/publish/dead"),
    person(DELETE, "/api/ops/queues/publish/dead/{task_id}"),
    person(POST, "/api/ops/queues/publish/dead/{task_id}/replay"),
];

const SCOPES: [&str; 4] = ["read", "publish", "campaigns", "accounts"];

/// Ids that are well-formed and belong to nobody.
struct Ids {
    account_id: String,
    media_id: String,
    post_id: String,
    key_id: String,
    task_id: String,
}

impl Ids {
    fn new() -> Self {
        Self {
            account_id: jobs::model::AccountId::new().to_string(),
            media_id: jobs::model::MediaId::new().to_string(),
            post_id: jobs::model::PostId::new().to_string(),
            key_id: jobs::model::ApiKeyId::new().to_string(),
            task_id: uuid::Uuid::new_v4().to_string(),
        }
    }

    fn fill(&self, s: &str) -> String {
        s.replace("{account_id}", &self.account_id)
            .replace("{media_id}", &self.media_id)
            .replace("{post_id}", &self.post_id)
            .replace("{key_id}", &self.key_id)
            .replace("{task_id}", &self.task_id)
    }
}

async fn create_key(app: &TestApp, scopes: Value) -> Result<reqwest::Response> {
    Ok(app
        .client
        .post(app.url("/api/keys"))
        .header(ORIGIN, &app.base_url)
        .json(&json!({ "name": "scoped", "scopes": scopes }))
        .send()
        .await?)
}

/// What a call got: its status and, for a JSON error, its `code`.
#[derive(Debug)]
struct Got {
    status: u16,
    code: Option<String>,
}

impl Got {
    fn is(&self, e: Expect) -> bool {
        self.status == e.status && self.code.as_deref() == e.code
    }
}

/// Calls `r` as a bare client (no cookie, no Origin: a script), with `key` if any.
async fn call(app: &TestApp, ids: &Ids, r: &Route, key: Option<&str>) -> Result<Got> {
    let mut req = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?
        .request(r.method.clone(), app.url(&ids.fill(r.path)));
    if let Some(key) = key {
        req = req.header(AUTHORIZATION, format!("Bearer {key}"));
    }
    req = match r.body {
        Body::None => req,
        Body::Json(body) => req
            .header("content-type", "application/json")
            .body(ids.fill(body)),
        Body::Campaign => req
            .header("idempotency-key", uuid::Uuid::new_v4().to_string())
            .json(&json!({ "posts": [{ "account_id": ids.account_id }] })),
        Body::Tomorrow => req.json(
            &json!({ "scheduled_at": (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339() }),
        ),
    };
    let resp = req.send().await?;
    let status = resp.status().as_u16();
    let is_json = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let code = if is_json && status >= 400 {
        let body: Value = resp.json().await?;
        body["error"]["code"].as_str().map(str::to_owned)
    } else {
        None
    };
    Ok(Got { status, code })
}

#[tokio::test]
async fn every_route_answers_each_key_scope_and_no_key_as_specified() -> Result<()> {
    let app = TestApp::start_with(Backend::Sqlite, |c| {
        c.identity.ops_google_uids = vec!["scoped-operator".into()];
        c.limits.api_rate_per_min = 100_000;
        c.limits.auth_rate_per_min = 100_000;
    })
    .await?;
    app.sign_in("scoped-operator").await?;
    let mut keys = Vec::new();
    for scope in SCOPES {
        let resp = create_key(&app, json!([scope])).await?;
        assert_eq!(resp.status(), StatusCode::CREATED);
        let created: Value = resp.json().await?;
        assert_eq!(created["scopes"], json!([scope]));
        keys.push((scope, created["key"].as_str().context("key")?.to_owned()));
    }
    let ids = Ids::new();
    let mut wrong = Vec::new();
    for r in ROUTES {
        let got = call(&app, &ids, r, None).await?;
        if !got.is(r.no_key) {
            wrong.push(format!(
                "{} {} with no key: expected {:?}, got {got:?}",
                r.method, r.path, r.no_key
            ));
        }
        for (scope, key) in &keys {
            let expected = match r.keys {
                Keys::All(e) => e,
                Keys::Scope(needed, e) if needed == *scope => e,
                Keys::Scope(..) => INSUFFICIENT_SCOPE,
            };
            let got = call(&app, &ids, r, Some(key)).await?;
            if !got.is(expected) {
                wrong.push(format!(
                    "{} {} with a `{scope}` key: expected {expected:?}, got {got:?}",
                    r.method, r.path
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} mismatches:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    // Nothing a key tried to do happened: no key was minted or revoked.
    let (_, list) = app.get_json("/api/keys").await?;
    assert_eq!(list["keys"].as_array().map(Vec::len), Some(SCOPES.len()));
    Ok(())
}

#[tokio::test]
async fn a_missing_scope_is_named_in_the_refusal() -> Result<()> {
    let app = TestApp::start(Backend::Sqlite).await?;
    app.sign_in("named").await?;
    let created: Value = create_key(&app, json!(["read"])).await?.json().await?;
    let key = created["key"].as_str().context("key")?;
    let resp = reqwest::Client::new()
        .post(app.url("/api/media"))
        .bearer_auth(key)
        .send()
        .await?;
    let status = resp.status();
    let body: Value = resp.json().await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body} {created}");
    assert_eq!(body["error"]["code"], "insufficient_scope");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("`publish`"), "{message}");
    Ok(())
}

#[tokio::test]
async fn keys_are_created_only_with_known_scopes_and_listed_with_them() -> Result<()> {
    let app = TestApp::start(Backend::Sqlite).await?;
    app.sign_in("chooser").await?;
    for (body, code) in [
        (json!({ "name": "none" }), "scopes_required"),
        (json!({ "name": "empty", "scopes": [] }), "scopes_required"),
        (
            json!({ "name": "admin", "scopes": ["read", "admin"] }),
            "unknown_scope",
        ),
    ] {
        let resp = app
            .client
            .post(app.url("/api/keys"))
            .header(ORIGIN, &app.base_url)
            .json(&body)
            .send()
            .await?;
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let answer: Value = resp.json().await?;
        assert_eq!(answer["error"]["code"], code, "{body}");
    }
    let (_, list) = app.get_json("/api/keys").await?;
    assert_eq!(list["keys"], json!([]), "nothing was created");

    let resp = create_key(&app, json!(["publish", "read", "publish"])).await?;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let (_, list) = app.get_json("/api/keys").await?;
    assert_eq!(list["keys"][0]["scopes"], json!(["read", "publish"]));

    // The settings page lists them and offers every scope at creation.
    let page = app.client.get(app.url("/settings")).send().await?;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await?;
    for scope in SCOPES {
        assert!(
            html.contains(&format!(r#"name="scopes" value="{scope}""#)),
            "no {scope} checkbox"
        );
    }
    assert!(
        html.contains("read, publish"),
        "the key's scopes are listed"
    );
    assert!(html.contains(r#"id="sign-out-everywhere""#));
    Ok(())
}
