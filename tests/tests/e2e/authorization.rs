//! Who may do what in a workspace (issue #16, "Authorization, tested exhaustively").
//!
//! [`ROWS`] is the spec: every route of `web::roles::ROUTES` that acts for a signed-in caller
//! (operations, `DELETE /auth/sessions` and `DELETE /api/me` are the person's own and tested
//! elsewhere), with the weakest role it needs, what an API key needs, the answer an allowed
//! caller gets and the answer an outsider gets. One team workspace has an owner, an admin, an
//! editor and a viewer, each in their own browser whose switcher cookie names the team; an
//! outsider's browser names the team too (they are no member, so they act in their personal
//! workspace); a former member was removed, their session and key with them; and there are
//! API keys of the owner for each scope, and keys of the editor and of the viewer with every
//! scope (a key acts as its member, never above their current role).
//!
//! Every call is checked for its exact status (and JSON error code): an allowed call gets the
//! route's success, a member whose role is too low 403 `insufficient_role` (a page its HTML
//! 403), an outsider 404 for the team's rows and only their own (empty) data in lists, a key
//! what its scopes allow and then what its member's role allows. Around every refused call and
//! every call of an outsider, the team's accounts, posts, media, keys and members are read from
//! the store before and after: nothing may have changed. An outsider's answer never carries an
//! id of the team's rows.
//!
//! The matrix runs on SQLite, PostgreSQL and Firestore (each backend scopes its reads itself).
//! [`every_route_the_router_registers_is_in_the_role_table_and_in_this_matrix`] keeps the spec
//! whole: a route added to the router or to `web::roles::ROUTES` without a row here fails it.
//! Beside the matrix: a key and a session follow their member's current role through
//! demotion, promotion and removal; an outsider's answers on the team's ids are the same as
//! on made-up ids. Two tests pin what pages show each role (keys on /settings, where / leads).
//!
//! The machinery (the team, its fresh rows, the callers, the store snapshot) is in
//! `authorization/support.rs`.

use anyhow::{Context, Result};
use e2e::Backend;
use jobs::model::Role;
use reqwest::header::{CONTENT_TYPE, ORIGIN};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeSet;

use crate::expect::*;

mod support;
use support::*;

const CREATED: Expect = answer(201);
const ACCEPTED: Expect = answer(202);
const NO_CONTENT: Expect = answer(204);
const SEE_OTHER: Expect = answer(303);
/// A page's 404: the HTML "Not found" page.
const PAGE_NOT_FOUND: Expect = answer(404);
const INSUFFICIENT_ROLE: Expect = error(403, "insufficient_role");
const INVALID_API_KEY: Expect = error(401, "invalid_api_key");

/// The weakest role a route needs in the caller's workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Least {
    /// Nothing of a workspace: any signed-in person (their profile, export, settings).
    Anyone,
    Role(Role),
}

/// What an API key needs on a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyRule {
    /// A key with this scope is let through (then its member's role decides).
    Scope(&'static str),
    /// Only the person in a browser: 403 `session_required`.
    Session,
    /// A page: keys get the HTML 403 (and a dead key is sent to /login).
    Page,
    /// Public or signed-out-friendly: every key gets this.
    Public(Expect),
}

#[derive(Debug, Clone, Copy)]
enum Body {
    None,
    /// JSON with placeholders (see [`Team::fill`]).
    Json(&'static str),
    /// A one-row JSON campaign for tomorrow, with a fresh `Idempotency-Key`.
    Campaign,
    /// `{"scheduled_at": tomorrow}`.
    Tomorrow,
    /// A small MP4 as the raw upload body.
    Video,
}

/// One route. Placeholders in `path` and JSON bodies: `{account}`, `{post}`, `{media}` are the
/// team's standing rows; `{fresh_account}`, `{fresh_post}`, `{fresh_media}`, `{fresh_key}` are
/// made for this one call (it may delete them); `{tomorrow}` is a time inside the horizon.
struct Row {
    method: &'static str,
    path: &'static str,
    body: Body,
    least: Least,
    keys: KeyRule,
    /// What a caller who may gets.
    ok: Expect,
    /// What someone outside the team gets (acting in their own personal workspace).
    outsider: Expect,
    /// A placeholder whose value an allowed answer must show (the list shows the team's rows).
    shows: Option<&'static str>,
}

const GET: &str = "GET";
const POST: &str = "POST";
const PATCH: &str = "PATCH";
const DELETE: &str = "DELETE";
const PUT: &str = "PUT";

const fn row(
    method: &'static str,
    path: &'static str,
    least: Least,
    keys: KeyRule,
    ok: Expect,
    outsider: Expect,
) -> Row {
    Row {
        method,
        path,
        body: Body::None,
        least,
        keys,
        ok,
        outsider,
        shows: None,
    }
}

const fn with_body(r: Row, body: Body) -> Row {
    Row { body, ..r }
}

const fn showing(r: Row, placeholder: &'static str) -> Row {
    Row {
        shows: Some(placeholder),
        ..r
    }
}

use Least::Anyone;
const VIEWER: Least = Least::Role(Role::Viewer);
const EDITOR: Least = Least::Role(Role::Editor);
const ADMIN: Least = Least::Role(Role::Admin);
const OWNER: Least = Least::Role(Role::Owner);

const POST_BODY: &str = r#"{"account_id":"{account}","media_id":"{fresh_media}","title":"from the matrix","privacy_level":"SELF_ONLY","disable_comment":false,"disable_duet":false,"disable_stitch":false,"scheduled_at":"{tomorrow}"}"#;
/// A draft, so the matrix's many calls stay inside TikTok's creator_info limit for the team's
/// one account (a draft asks for none).
const GROUP_BODY: &str = r#"{"media_id":"{fresh_media}","post_mode":"inbox","title":"from the matrix","scheduled_at":"{tomorrow}","targets":[{"account_id":"{account}"}]}"#;

/// The spec (see the module docs). The TikTok callback's URL is made per caller (see
/// [`Team::callback_for`]).
const ROWS: &[Row] = &[
    // The person's own: any signed-in caller, in any workspace.
    row(
        GET,
        "/",
        Anyone,
        KeyRule::Public(SEE_OTHER),
        SEE_OTHER,
        SEE_OTHER,
    ),
    row(GET, "/login", Anyone, KeyRule::Public(OK), OK, OK),
    row(GET, "/privacy", Anyone, KeyRule::Public(OK), OK, OK),
    row(GET, "/api/me", Anyone, KeyRule::Scope("read"), OK, OK),
    row(GET, "/api/export", Anyone, KeyRule::Session, OK, OK),
    row(GET, "/settings", Anyone, KeyRule::Page, OK, OK),
    row(GET, "/join", Anyone, KeyRule::Page, OK, OK),
    row(GET, "/members", VIEWER, KeyRule::Page, OK, OK),
    row(GET, "/approvals", ADMIN, KeyRule::Page, OK, OK),
    // Campaigns: an outsider's rows name accounts and videos they cannot see.
    with_body(
        row(
            POST,
            "/api/campaigns",
            EDITOR,
            KeyRule::Scope("campaigns"),
            ACCEPTED,
            error(422, "invalid_rows"),
        ),
        Body::Campaign,
    ),
    // TikTok accounts.
    showing(
        row(
            GET,
            "/api/accounts",
            VIEWER,
            KeyRule::Scope("accounts"),
            OK,
            OK,
        ),
        "{account}",
    ),
    row(
        DELETE,
        "/api/accounts/{fresh_account}",
        ADMIN,
        KeyRule::Session,
        ACCEPTED,
        NOT_FOUND,
    ),
    row(
        GET,
        "/api/accounts/{account}/creator-info",
        VIEWER,
        KeyRule::Scope("accounts"),
        OK,
        NOT_FOUND,
    ),
    row(
        GET,
        "/api/accounts/{account}/videos",
        VIEWER,
        KeyRule::Scope("accounts"),
        OK,
        NOT_FOUND,
    ),
    // Posts.
    showing(
        row(GET, "/api/posts", VIEWER, KeyRule::Scope("read"), OK, OK),
        "{post}",
    ),
    with_body(
        row(
            POST,
            "/api/posts",
            EDITOR,
            KeyRule::Scope("publish"),
            ACCEPTED,
            NOT_FOUND,
        ),
        Body::Json(POST_BODY),
    ),
    // An outsider's target names an account they cannot see.
    with_body(
        row(
            POST,
            "/api/post-groups",
            EDITOR,
            KeyRule::Scope("publish"),
            ACCEPTED,
            error(422, "invalid_targets"),
        ),
        Body::Json(GROUP_BODY),
    ),
    showing(
        row(
            GET,
            "/api/posts/{post}",
            VIEWER,
            KeyRule::Scope("read"),
            OK,
            NOT_FOUND,
        ),
        "{post}",
    ),
    row(
        DELETE,
        "/api/posts/{fresh_post}",
        EDITOR,
        KeyRule::Scope("publish"),
        OK,
        NOT_FOUND,
    ),
    with_body(
        row(
            PATCH,
            "/api/posts/{post}",
            EDITOR,
            KeyRule::Scope("publish"),
            OK,
            NOT_FOUND,
        ),
        Body::Tomorrow,
    ),
    // Let through, a scheduled post is not the retry's to replay: the handler's own 409.
    row(
        POST,
        "/api/posts/{post}/retry",
        EDITOR,
        KeyRule::Scope("publish"),
        error(409, "not_replayable"),
        NOT_FOUND,
    ),
    // Let through, the standing post's video is staged, not streamed: the handler's own 409.
    row(
        GET,
        "/api/posts/{post}/video",
        VIEWER,
        KeyRule::Scope("read"),
        error(409, "not_a_stream_post"),
        NOT_FOUND,
    ),
    with_body(
        row(
            PUT,
            "/api/posts/{post}/video",
            EDITOR,
            KeyRule::Scope("publish"),
            error(409, "not_a_stream_post"),
            NOT_FOUND,
        ),
        Body::Video,
    ),
    // Let through, a scheduled post waits for no approval: the handler's own 409.
    with_body(
        row(
            POST,
            "/api/posts/{post}/approve",
            ADMIN,
            KeyRule::Session,
            error(409, "not_pending_approval"),
            NOT_FOUND,
        ),
        Body::Json(r#"{"version":1}"#),
    ),
    with_body(
        row(
            POST,
            "/api/posts/{post}/reject",
            ADMIN,
            KeyRule::Session,
            error(409, "not_pending_approval"),
            NOT_FOUND,
        ),
        Body::Json(r#"{"version":1,"comment":"no"}"#),
    ),
    // API keys: the workspace's, managed by its admins.
    showing(
        row(GET, "/api/keys", ADMIN, KeyRule::Scope("read"), OK, OK),
        "{key}",
    ),
    with_body(
        row(POST, "/api/keys", ADMIN, KeyRule::Session, CREATED, CREATED),
        Body::Json(r#"{"name":"made in the matrix","scopes":["read"]}"#),
    ),
    row(
        DELETE,
        "/api/keys/{fresh_key}",
        ADMIN,
        KeyRule::Session,
        NO_CONTENT,
        NOT_FOUND,
    ),
    // Media: an outsider's upload lands in their personal workspace.
    with_body(
        row(
            POST,
            "/api/media",
            EDITOR,
            KeyRule::Scope("publish"),
            CREATED,
            CREATED,
        ),
        Body::Video,
    ),
    showing(
        row(
            GET,
            "/api/media/{media}",
            VIEWER,
            KeyRule::Scope("read"),
            OK,
            NOT_FOUND,
        ),
        "{media}",
    ),
    row(
        DELETE,
        "/api/media/{fresh_media}",
        EDITOR,
        KeyRule::Scope("publish"),
        NO_CONTENT,
        NOT_FOUND,
    ),
    // Connecting TikTok: an outsider starts one in their own workspace; the team's state, taken
    // to their browser, is refused (it was started by someone else).
    row(
        GET,
        "/auth/tiktok/connect",
        ADMIN,
        KeyRule::Session,
        SEE_OTHER,
        SEE_OTHER,
    ),
    row(
        GET,
        CALLBACK,
        ADMIN,
        KeyRule::Session,
        SEE_OTHER,
        error(422, "invalid_oauth_state"),
    ),
    // Pages.
    showing(
        row(GET, "/accounts", VIEWER, KeyRule::Page, OK, OK),
        "{account}",
    ),
    row(
        GET,
        "/accounts/{account}/avatar",
        VIEWER,
        KeyRule::Page,
        OK,
        PAGE_NOT_FOUND,
    ),
    showing(
        row(GET, "/history", VIEWER, KeyRule::Page, OK, OK),
        "{post}",
    ),
    showing(
        row(GET, "/history/posts", VIEWER, KeyRule::Page, OK, OK),
        "{post}",
    ),
    row(GET, "/compose", EDITOR, KeyRule::Page, OK, OK),
    row(GET, "/campaigns", EDITOR, KeyRule::Page, OK, OK),
    // Workspaces: the switcher and the caller's list are the person's; an outsider cannot
    // switch to the team (404) and invites only into a workspace of their own.
    row(GET, "/api/workspaces", Anyone, KeyRule::Session, OK, OK),
    row(GET, "/api/approvals", ADMIN, KeyRule::Session, OK, OK),
    // Changes of the team that would move the other rows are made harmless: a version nobody
    // saw (409 for an owner), and people and invitations that do not exist (404 for those let
    // through); what the matrix checks is who is let through.
    with_body(
        row(
            PATCH,
            "/api/workspaces/current",
            OWNER,
            KeyRule::Session,
            error(409, "changed_concurrently"),
            error(409, "changed_concurrently"),
        ),
        Body::Json(r#"{"version":0,"name":"Renamed"}"#),
    ),
    with_body(
        row(
            PATCH,
            "/api/workspaces/current/members/{nobody}",
            ADMIN,
            KeyRule::Session,
            NOT_FOUND,
            NOT_FOUND,
        ),
        Body::Json(r#"{"role":"viewer"}"#),
    ),
    row(
        DELETE,
        "/api/workspaces/current/members/{nobody}",
        VIEWER,
        KeyRule::Session,
        NOT_FOUND,
        NOT_FOUND,
    ),
    row(
        DELETE,
        "/api/workspaces/current/invitations/{nobody}",
        ADMIN,
        KeyRule::Session,
        NOT_FOUND,
        NOT_FOUND,
    ),
    with_body(
        row(
            PUT,
            "/api/workspaces/current",
            Anyone,
            KeyRule::Session,
            OK,
            NOT_FOUND,
        ),
        Body::Json(r#"{"workspace_id":"{team}"}"#),
    ),
    row(
        GET,
        "/api/workspaces/current/members",
        VIEWER,
        KeyRule::Session,
        OK,
        OK,
    ),
    row(
        GET,
        "/api/workspaces/current/invitations",
        ADMIN,
        KeyRule::Session,
        OK,
        OK,
    ),
    with_body(
        row(
            POST,
            "/api/workspaces/current/invitations",
            ADMIN,
            KeyRule::Session,
            CREATED,
            error(409, "personal_workspace"),
        ),
        Body::Json(r#"{"email":"matrix@example.com","role":"viewer"}"#),
    ),
    row(
        GET,
        "/api/workspaces/current/export",
        OWNER,
        KeyRule::Session,
        OK,
        OK,
    ),
    row(
        GET,
        "/api/workspaces/current/audit",
        ADMIN,
        KeyRule::Session,
        OK,
        OK,
    ),
    with_body(
        row(
            POST,
            "/api/invitations/accept",
            Anyone,
            KeyRule::Session,
            NOT_FOUND,
            NOT_FOUND,
        ),
        Body::Json(r#"{"token":"mki_not-a-real-token"}"#),
    ),
];

const CALLBACK: &str = "/auth/tiktok/callback";

/// Routes of `web::roles::ROUTES` this matrix leaves out on purpose: operations (an operator's,
/// `tests/tests/e2e/ops.rs`), and what the person does to themselves everywhere at once
/// (signing out everywhere, erasure: `sessions.rs`, `forget.rs`, `privacy.rs`).
///
/// Making a workspace (it switches its maker to it) and deleting the team would move the
/// matrix's own callers: they are covered by `tests/tests/e2e/workspaces.rs` and the unit tests
/// of `jobs::domain::workspaces`.
const NOT_IN_MATRIX: &[(&str, &str)] = &[
    ("POST", "/api/workspaces"),
    ("DELETE", "/api/workspaces/current"),
    ("DELETE", "/api/me"),
    ("DELETE", "/auth/sessions"),
    ("GET", "/ops"),
    ("GET", "/api/ops/queues"),
    ("GET", "/api/ops/queues/{job}/dead"),
    ("DELETE", "/api/ops/queues/{job}/dead/{task_id}"),
    ("POST", "/api/ops/queues/{job}/dead/{task_id}/replay"),
];

/// Routes the router registers that take no signed-in caller (so `web::roles` has no say).
const NO_CALLER: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/static/{file}"),
    ("POST", "/auth/session"),
    ("DELETE", "/auth/session"),
    ("POST", "/auth/google/start"),
    // A photo's capability URL: its token is the whole authority (TikTok fetches it).
    ("GET", "/p/{token}"),
];

static SCOPES: [&str; 4] = ["read", "publish", "campaigns", "accounts"];

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    /// A member in a browser whose switcher names the team.
    Member(Role),
    /// Signed in, no member, the team named in their switcher cookie all the same.
    Outsider,
    /// A member since removed, in the browser they used while a member.
    Former,
    /// A key of the team made by a member with this role, with these scopes.
    Key(Role, &'static [&'static str]),
    /// A key of a member since removed.
    FormerKey,
}

struct Caller {
    name: String,
    who: Who,
    /// A browser (cookie jar with the session and the switcher cookie) for sessions; a bare
    /// client for keys.
    client: reqwest::Client,
    key: Option<String>,
}

/// What `caller` must get on `r`.
fn expected(r: &Row, who: Who) -> Expect {
    let page = !(r.path.starts_with("/api/") || r.path.starts_with("/auth/"));
    let by_role = |role: Role| match r.least {
        Least::Role(least) if role < least => {
            if page {
                PAGE_REFUSED
            } else {
                INSUFFICIENT_ROLE
            }
        }
        _ => r.ok,
    };
    match who {
        Who::Member(role) => by_role(role),
        Who::Outsider | Who::Former => r.outsider,
        Who::Key(role, scopes) => match r.keys {
            KeyRule::Public(e) => e,
            KeyRule::Page => PAGE_REFUSED,
            KeyRule::Session => SESSION_REQUIRED,
            KeyRule::Scope(s) if !scopes.contains(&s) => INSUFFICIENT_SCOPE,
            KeyRule::Scope(_) => by_role(role),
        },
        Who::FormerKey => match r.keys {
            KeyRule::Public(e) => e,
            // A page sends whoever is not signed in to /login.
            KeyRule::Page => SEE_OTHER,
            KeyRule::Session | KeyRule::Scope(_) => INVALID_API_KEY,
        },
    }
}

#[tokio::test]
async fn every_route_answers_each_role_outsider_and_key_as_specified() -> Result<()> {
    matrix(Backend::Sqlite).await
}

#[tokio::test]
async fn every_route_answers_as_specified_on_postgres() -> Result<()> {
    matrix(Backend::Postgres).await
}

#[tokio::test]
async fn every_route_answers_as_specified_on_firestore() -> Result<()> {
    if !Backend::Firestore.available() {
        return Ok(());
    }
    matrix(Backend::Firestore).await
}

/// The matrix on one store backend (every read and write is scoped per backend).
async fn matrix(backend: Backend) -> Result<()> {
    let app = matrix_app_on(backend).await?;
    let (team, callers) = set_up(&app).await?;
    let mut wrong = Vec::new();
    let mut calls = 0;
    for r in ROWS {
        for caller in &callers {
            let expect = expected(r, caller.who);
            let outsider = matches!(caller.who, Who::Outsider | Who::Former | Who::FormerKey);
            let guarded = outsider || expect.status >= 400;
            let req = prepare(&app, &team, r, caller).await?;
            // What the caller sent (an answer may echo it back, which shows them nothing).
            let sent = {
                let built = req.try_clone().context("a clonable request")?.build()?;
                let body = built
                    .body()
                    .and_then(|b| b.as_bytes())
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default();
                format!("{} {body}", built.url())
            };
            let before = if guarded {
                Some(snapshot(&app, team.id).await?)
            } else {
                None
            };
            let got = send(req).await?;
            calls += 1;
            let what = format!("{} {} as {}", r.method, r.path, caller.name);
            if !got.is(expect) {
                wrong.push(format!(
                    "{what}: expected {expect:?}, got {} {:?} {}",
                    got.status,
                    got.code,
                    got.text.chars().take(200).collect::<String>()
                ));
                continue;
            }
            if let Some(before) = before {
                let after = snapshot(&app, team.id).await?;
                if before != after {
                    wrong.push(format!("{what}: the team changed: {}", before.diff(&after)));
                }
            }
            if outsider {
                for id in team.secrets() {
                    if got.text.contains(&id) && !sent.contains(&id) {
                        wrong.push(format!("{what}: the answer shows the team's {id}"));
                    }
                }
            } else if expect == r.ok
                && let Some(shows) = r.shows
            {
                let id = team.fill(&app, shows).await?;
                if !got.text.contains(&id) {
                    wrong.push(format!("{what}: the answer does not show the team's {id}"));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {calls} calls wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    // Every key of the matrix is still the team's (none was minted or revoked by a refusal;
    // the allowed revocations took keys made for them).
    let keys: BTreeSet<String> = app
        .store
        .list_api_keys(team.id)
        .await?
        .iter()
        .map(|k| k.id.to_string())
        .collect();
    for id in &team.keys {
        assert!(keys.contains(id), "key {id} is gone");
    }
    Ok(())
}

/// The router's pattern of a row's path: every placeholder is the route's `{id}`.
fn pattern(path: &str) -> String {
    path.split('/')
        .map(|seg| if seg.starts_with('{') { "{id}" } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

/// The path patterns of `.route("…", …)` calls in a source file.
fn route_patterns(source: &str) -> Vec<String> {
    source
        .split(".route(")
        .skip(1)
        .filter_map(|rest| {
            let rest = rest.trim_start();
            let rest = rest.strip_prefix('"')?;
            Some(rest[..rest.find('"')?].to_owned())
        })
        .collect()
}

#[tokio::test]
async fn every_route_the_router_registers_is_in_the_role_table_and_in_this_matrix() -> Result<()> {
    let table: BTreeSet<(String, String)> = web::roles::ROUTES
        .iter()
        .map(|(m, r, _)| ((*m).to_owned(), (*r).to_owned()))
        .collect();
    let matrix: BTreeSet<(String, String)> = ROWS
        .iter()
        .map(|r| (r.method.to_owned(), pattern(r.path)))
        .chain(
            NOT_IN_MATRIX
                .iter()
                .map(|(m, r)| ((*m).to_owned(), (*r).to_owned())),
        )
        .collect();
    let no_caller: BTreeSet<(String, String)> = NO_CALLER
        .iter()
        .map(|(m, r)| ((*m).to_owned(), (*r).to_owned()))
        .collect();
    assert_eq!(
        table.difference(&matrix).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "routes of web::roles::ROUTES without a row in this matrix"
    );
    assert_eq!(
        matrix.difference(&table).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "rows of this matrix that web::roles::ROUTES does not list"
    );
    // The rows' weakest roles agree with the role table's actions.
    for r in ROWS {
        let needs = web::roles::needs(
            &Method::from_bytes(r.method.as_bytes())?,
            Some(&pattern(r.path)),
        );
        let least = match needs {
            web::roles::Needs::Person => Least::Anyone,
            web::roles::Needs::Action(a) => Least::Role(a.least_role()),
        };
        assert_eq!(least, r.least, "{} {}", r.method, r.path);
    }

    // What the router really registers: every pattern of its source, probed with each method
    // (a method it does not route answers 405).
    let mut patterns = route_patterns(include_str!("../../../web/src/lib.rs"));
    patterns.extend(route_patterns(include_str!(
        "../../../web/src/pages/mod.rs"
    )));
    assert!(patterns.len() > 20, "found {patterns:?}");
    let app = matrix_app().await?;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let mut registered = BTreeSet::new();
    for pattern in &patterns {
        let path: String = pattern
            .split('/')
            .map(|seg| {
                if seg.starts_with('{') {
                    uuid::Uuid::new_v4().to_string()
                } else {
                    seg.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for method in [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ] {
            let resp = client
                .request(method.clone(), app.url(&path))
                .header(ORIGIN, &app.base_url)
                .send()
                .await?;
            if resp.status() != StatusCode::METHOD_NOT_ALLOWED {
                registered.insert((method.to_string(), pattern.clone()));
            }
        }
    }
    let unlisted: Vec<_> = registered
        .iter()
        .filter(|r| !table.contains(*r) && !no_caller.contains(*r))
        .collect();
    assert_eq!(
        unlisted,
        Vec::<&(String, String)>::new(),
        "routes the router registers that web::roles::ROUTES does not list (they need an owner)"
    );
    let stale: Vec<_> = table
        .iter()
        .chain(no_caller.iter())
        .filter(|r| !registered.contains(*r))
        .collect();
    assert_eq!(
        stale,
        Vec::<&(String, String)>::new(),
        "routes listed that the router does not register"
    );
    Ok(())
}

#[tokio::test]
async fn a_key_and_a_session_act_with_the_members_current_role() -> Result<()> {
    let app = matrix_app().await?;
    let owner_client = browser(&app, None)?;
    let owner = signed_in(&app, &owner_client, "climb-owner").await?;
    let team = jobs::domain::workspaces::settings::create(
        &*app.store,
        &app.store.user(owner).await?,
        "Agency",
    )
    .await?
    .id;
    let client = browser(&app, Some(team))?;
    let member = signed_in(&app, &client, "climber").await?;
    add_member(&app, team, member, Role::Admin).await?;
    // Made by the admin in their browser: the team's key, acting as them.
    let (key_id, key) = owner_key(&app, &client, "read").await?;
    let all = json!({ "name": "every scope", "scopes": SCOPES });
    let created = api(&app, &client, None, Method::POST, "/api/keys", Some(all)).await?;
    assert_eq!(created.status, 201, "{}", created.text);
    let full: Value = serde_json::from_str(&created.text)?;
    let full = full["key"].as_str().context("key")?.to_owned();
    let listed = |got: &Got| got.status == 200 && got.text.contains(&key_id);
    let bare = reqwest::Client::new();
    let media = || async { Ok::<_, anyhow::Error>(app.store.list_media(team).await?.len()) };

    let got = api(&app, &bare, Some(&key), Method::GET, "/api/keys", None).await?;
    assert!(
        listed(&got),
        "an admin's key lists the team's keys: {got:?}"
    );

    // Demoted to editor: neither the key nor the session manage keys any more; both upload.
    add_member(&app, team, member, Role::Editor).await?;
    for key in [Some(key.as_str()), None] {
        let via = if key.is_some() { &bare } else { &client };
        let got = api(&app, via, key, Method::GET, "/api/keys", None).await?;
        assert!(got.is(INSUFFICIENT_ROLE), "{key:?}: {got:?}");
    }
    let upload = |via: &reqwest::Client, key: Option<&str>| {
        let mut req = via
            .post(app.url("/api/media"))
            .header(CONTENT_TYPE, "video/mp4")
            .body(video(7));
        req = match key {
            Some(key) => req.bearer_auth(key),
            None => req.header(ORIGIN, &app.base_url),
        };
        send(req)
    };
    assert!(upload(&bare, Some(&full)).await?.is(CREATED));
    assert_eq!(media().await?, 1);

    // Demoted to viewer: the key reads, and may no longer upload, whatever its scopes.
    add_member(&app, team, member, Role::Viewer).await?;
    let got = upload(&bare, Some(&full)).await?;
    assert!(got.is(INSUFFICIENT_ROLE), "{got:?}");
    let got = upload(&client, None).await?;
    assert!(got.is(INSUFFICIENT_ROLE), "{got:?}");
    assert_eq!(media().await?, 1, "nothing was uploaded");
    let got = api(&app, &bare, Some(&full), Method::GET, "/api/posts", None).await?;
    assert!(got.is(OK), "{got:?}");

    // Promoted back: the same key manages keys again.
    add_member(&app, team, member, Role::Admin).await?;
    let got = api(&app, &bare, Some(&key), Method::GET, "/api/keys", None).await?;
    assert!(listed(&got), "{got:?}");

    // Removed: the key is dead at once, and the session acts in the personal workspace.
    app.store.remove_member(team, member).await?;
    for key in [&key, &full] {
        let got = api(&app, &bare, Some(key), Method::GET, "/api/posts", None).await?;
        assert!(got.is(INVALID_API_KEY), "{got:?}");
    }
    let got = api(&app, &client, None, Method::GET, "/api/keys", None).await?;
    assert!(got.is(OK), "{got:?}");
    assert!(!got.text.contains(&key_id), "{}", got.text);
    assert_eq!(
        app.store.list_api_keys(team).await?.len(),
        2,
        "the keys stay the team's"
    );
    Ok(())
}

/// One call of an outsider, twice: method, the path with the team's ids and with made-up ids,
/// and the body of each.
type Probe = (Method, String, String, Option<Value>, Option<Value>);

#[tokio::test]
async fn an_outsider_cannot_tell_the_teams_rows_from_made_up_ones() -> Result<()> {
    let app = matrix_app().await?;
    let (team, callers) = set_up(&app).await?;
    let outsider = callers
        .iter()
        .find(|c| c.who == Who::Outsider)
        .context("an outsider")?;
    let made_up = jobs::model::AccountId::new().to_string();
    let media = team.stage(&app).await?;
    let post_body = |account: &str, media: &str| {
        json!({
            "account_id": account, "media_id": media, "title": "t", "privacy_level": "SELF_ONLY",
            "disable_comment": false, "disable_duet": false, "disable_stitch": false,
        })
    };
    let campaign = |account: &str, media: &str| json!({ "posts": [{ "account": account, "media_id": media, "privacy_level": "SELF_ONLY" }] });
    let mut calls: Vec<Probe> = vec![
        (
            Method::POST,
            "/api/posts".into(),
            "/api/posts".into(),
            Some(post_body(&team.account, &media)),
            Some(post_body(&made_up, &made_up)),
        ),
        (
            Method::POST,
            "/api/campaigns".into(),
            "/api/campaigns".into(),
            Some(campaign(&team.account, &media)),
            Some(campaign(&made_up, &made_up)),
        ),
    ];
    for r in ROWS
        .iter()
        .filter(|r| r.outsider == NOT_FOUND || r.outsider == PAGE_NOT_FOUND)
        .filter(|r| r.path != "/api/posts")
    {
        let (body, fake_body) = match r.body {
            Body::Tomorrow => {
                let b = json!({ "scheduled_at": tomorrow() });
                (Some(b.clone()), Some(b))
            }
            // A JSON body naming the team (the switcher) names a made-up workspace instead.
            Body::Json(j) => {
                let real = team.fill(&app, j).await?;
                let fake = real.replace(&team.id.to_string(), &made_up);
                (
                    Some(serde_json::from_str(&real)?),
                    Some(serde_json::from_str(&fake)?),
                )
            }
            _ => (None, None),
        };
        calls.push((
            Method::from_bytes(r.method.as_bytes())?,
            team.fill(&app, r.path).await?,
            r.path
                .split('/')
                .map(|seg| {
                    if seg.starts_with('{') {
                        made_up.as_str()
                    } else {
                        seg
                    }
                })
                .collect::<Vec<_>>()
                .join("/"),
            body,
            fake_body,
        ));
    }
    for (method, real, fake, real_body, fake_body) in calls {
        let before = snapshot(&app, team.id).await?;
        let on_team = api(
            &app,
            &outsider.client,
            None,
            method.clone(),
            &real,
            real_body,
        )
        .await?;
        let on_nothing = api(
            &app,
            &outsider.client,
            None,
            method.clone(),
            &fake,
            fake_body,
        )
        .await?;
        assert_eq!(snapshot(&app, team.id).await?, before, "{method} {real}");
        let blind = |got: &Got| {
            let mut text = got.text.clone();
            for id in [&team.account, &media, &made_up] {
                text = text.replace(id.as_str(), "ID");
            }
            for id in team.secrets() {
                text = text.replace(&id, "ID");
            }
            (got.status, got.code.clone(), text)
        };
        assert_eq!(
            blind(&on_team),
            blind(&on_nothing),
            "{method} {real} vs {fake}"
        );
        assert!(
            on_team.status == 404 || on_team.status == 422,
            "{method} {real}: {on_team:?}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn settings_shows_the_teams_keys_only_to_those_who_manage_them() -> Result<()> {
    let app = matrix_app().await?;
    let (team, callers) = set_up(&app).await?;
    for c in callers.iter().filter(|c| c.key.is_none()) {
        let got = send(c.client.get(app.url("/settings"))).await?;
        assert!(got.is(OK), "{}: {got:?}", c.name);
        let shown = team.keys.iter().any(|k| got.text.contains(k.as_str()));
        let may = matches!(c.who, Who::Member(Role::Owner | Role::Admin));
        assert_eq!(shown, may, "{} sees the team's keys on /settings", c.name);
    }
    Ok(())
}

#[tokio::test]
async fn home_sends_each_member_to_a_page_they_may_open() -> Result<()> {
    let app = matrix_app().await?;
    let (_team, callers) = set_up(&app).await?;
    for c in callers.iter().filter(|c| c.key.is_none()) {
        let home = c.client.get(app.url("/")).send().await?;
        assert_eq!(home.status(), StatusCode::SEE_OTHER, "{}", c.name);
        let to = e2e::location(&home)?;
        let got = send(c.client.get(app.url(&to))).await?;
        assert!(
            got.is(OK),
            "{}: / sent them to {to}, which answers {got:?}",
            c.name
        );
    }
    Ok(())
}
