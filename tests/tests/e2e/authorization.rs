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
//! [`every_route_the_router_registers_is_in_the_role_table_and_in_this_matrix`] keeps the spec
//! whole: a route added to the router or to `web::roles::ROUTES` without a row here fails it.

use anyhow::{Context, Result, bail};
use e2e::{Backend, TestApp};
use jobs::model::{Actor, Member, PostState, Role, UserId, WorkspaceId};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, ORIGIN};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The answer a call must get: its status and, for a JSON error, its `code` (`None` with an
/// error status means an HTML error page, never JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Expect {
    status: u16,
    code: Option<&'static str>,
}

const fn answer(status: u16) -> Expect {
    Expect { status, code: None }
}

const fn error(status: u16, code: &'static str) -> Expect {
    Expect {
        status,
        code: Some(code),
    }
}

const OK: Expect = answer(200);
const CREATED: Expect = answer(201);
const ACCEPTED: Expect = answer(202);
const NO_CONTENT: Expect = answer(204);
const SEE_OTHER: Expect = answer(303);
const NOT_FOUND: Expect = error(404, "not_found");
/// A page's 404: the HTML "Not found" page.
const PAGE_NOT_FOUND: Expect = answer(404);
const INSUFFICIENT_ROLE: Expect = error(403, "insufficient_role");
/// A page refusing a member whose role is too low, or any API key: the HTML 403 page.
const PAGE_REFUSED: Expect = answer(403);
const INSUFFICIENT_SCOPE: Expect = error(403, "insufficient_scope");
const SESSION_REQUIRED: Expect = error(403, "session_required");
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

const POST_BODY: &str = r#"{"account_id":"{account}","media_id":"{fresh_media}","title":"from the matrix","privacy_level":"SELF_ONLY","disable_comment":false,"disable_duet":false,"disable_stitch":false,"scheduled_at":"{tomorrow}"}"#;

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
];

const CALLBACK: &str = "/auth/tiktok/callback";

/// Routes of `web::roles::ROUTES` this matrix leaves out on purpose: operations (an operator's,
/// `tests/tests/e2e/ops.rs`), and what the person does to themselves everywhere at once
/// (signing out everywhere, erasure: `sessions.rs`, `forget.rs`, `privacy.rs`).
const NOT_IN_MATRIX: &[(&str, &str)] = &[
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

/// What a call got.
#[derive(Debug)]
struct Got {
    status: u16,
    code: Option<String>,
    json: bool,
    text: String,
}

impl Got {
    fn is(&self, e: Expect) -> bool {
        self.status == e.status
            && self.code.as_deref() == e.code
            // An error expected without a code is an HTML page.
            && (e.code.is_some() || e.status < 400 || !self.json)
    }
}

/// The team workspace and its standing rows.
struct Team {
    id: WorkspaceId,
    owner: UserId,
    owner_client: reqwest::Client,
    account: String,
    post: String,
    media: String,
    /// The ids of the keys made at set-up (every one of them the team's).
    keys: Vec<String>,
    fresh: AtomicUsize,
}

/// A browser whose jar the test can add cookies to.
fn browser(app: &TestApp, workspace: Option<WorkspaceId>) -> Result<reqwest::Client> {
    let jar = Arc::new(reqwest::cookie::Jar::default());
    if let Some(ws) = workspace {
        jar.add_cookie_str(
            &format!("{}={ws}; Path=/", web::auth::WORKSPACE_COOKIE),
            &app.base_url.parse()?,
        );
    }
    Ok(reqwest::Client::builder()
        .cookie_provider(jar)
        .redirect(reqwest::redirect::Policy::none())
        .build()?)
}

async fn signed_in(app: &TestApp, client: &reqwest::Client, uid: &str) -> Result<UserId> {
    let me = app.sign_in_with(client, uid).await?;
    Ok(UserId::parse(me["id"].as_str().context("user id")?)?)
}

fn video(seed: u8) -> Vec<u8> {
    crate::publish::video(20_000, seed)
}

fn tomorrow() -> String {
    (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339()
}

impl Team {
    fn actor(&self) -> Actor {
        Actor {
            user: self.owner,
            workspace: self.id,
            role: Role::Owner,
        }
    }

    fn next(&self) -> usize {
        self.fresh.fetch_add(1, Ordering::Relaxed)
    }

    /// A video staged in the team, as its owner.
    async fn stage(&self, app: &TestApp) -> Result<String> {
        let seed = u8::try_from(self.next() % 251)?;
        let bytes = bytes::Bytes::from(video(seed));
        let body = futures::stream::iter([Ok::<_, std::io::Error>(bytes)]);
        let media = app
            .ctx
            .staging
            .stage(
                self.actor(),
                body,
                jobs::staging::UploadLimits::new(u64::MAX),
                None,
            )
            .await?;
        Ok(media.id.to_string())
    }

    /// A post of the team scheduled for tomorrow, straight into the store.
    async fn scheduled_post(&self, app: &TestApp) -> Result<String> {
        let account = jobs::model::AccountId::parse(&self.account)?;
        let mut post =
            jobs::store::conformance::post_for(self.owner, account, PostState::Scheduled);
        post.workspace_id = self.id;
        post.scheduled_at = Some(chrono::Utc::now() + chrono::Duration::days(1));
        let created = app.store.create_post(&post).await?;
        Ok(created.value.id.to_string())
    }

    /// A new sandbox creator's open_id.
    fn creator(&self, app: &TestApp) -> Result<String> {
        let n = self.next();
        let c = app.sandbox.create_creator(sandbox::model::Creator {
            display_name: format!("Matrix Creator {n}"),
            username: format!("matrix.creator.{n}"),
            ..Default::default()
        })?;
        Ok(c.open_id)
    }

    /// A TikTok account connected to the team through the owner's browser.
    async fn connected_account(&self, app: &TestApp) -> Result<String> {
        let open_id = self.creator(app)?;
        let to = app
            .connect_tiktok_with(&self.owner_client, &open_id, None)
            .await?;
        let id = to
            .strip_prefix("/accounts?connected=")
            .with_context(|| format!("connect ended at {to}"))?;
        Ok(id.to_owned())
    }

    /// A key of the team made by its owner.
    async fn key(&self, app: &TestApp) -> Result<String> {
        let created =
            jobs::domain::api_keys::create(&*app.store, self.actor(), "fresh", &["read"]).await?;
        Ok(created.key.id.to_string())
    }

    /// The TikTok callback URL `caller` is sent to: their own, for a member who may connect;
    /// the owner's, for someone outside the team; a made-up one for everyone else (their role
    /// or key is refused before the state is read).
    async fn callback_for(&self, app: &TestApp, caller: &Caller) -> Result<String> {
        match caller.who {
            Who::Member(role) if role >= Role::Admin => {
                let open_id = self.creator(app)?;
                app.tiktok_callback(&caller.client, &open_id, "approve", None)
                    .await
            }
            Who::Outsider | Who::Former => {
                let open_id = self.creator(app)?;
                app.tiktok_callback(&self.owner_client, &open_id, "approve", None)
                    .await
            }
            _ => Ok(app.url(&format!("{CALLBACK}?code=made-up&state=made-up"))),
        }
    }

    /// `s` with its placeholders filled, fresh rows made as needed.
    async fn fill(&self, app: &TestApp, s: &str) -> Result<String> {
        let mut s = s
            .replace("{account}", &self.account)
            .replace("{post}", &self.post)
            .replace("{media}", &self.media)
            .replace("{key}", &self.keys[0])
            .replace("{tomorrow}", &tomorrow());
        if s.contains("{fresh_account}") {
            s = s.replace("{fresh_account}", &self.connected_account(app).await?);
        }
        if s.contains("{fresh_post}") {
            s = s.replace("{fresh_post}", &self.scheduled_post(app).await?);
        }
        if s.contains("{fresh_media}") {
            s = s.replace("{fresh_media}", &self.stage(app).await?);
        }
        if s.contains("{fresh_key}") {
            s = s.replace("{fresh_key}", &self.key(app).await?);
        }
        Ok(s)
    }

    /// The ids an outsider must never see.
    fn secrets(&self) -> Vec<&str> {
        let mut ids = vec![self.account.as_str(), &self.post, &self.media];
        ids.extend(self.keys.iter().map(String::as_str));
        ids
    }
}

/// The team's rows as the store has them (volatile fields such as a key's last use left out).
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    accounts: Vec<String>,
    posts: Vec<String>,
    media: Vec<String>,
    keys: Vec<String>,
    members: Vec<String>,
}

impl Snapshot {
    /// What is gone and what is new, field by field.
    fn diff(&self, after: &Snapshot) -> String {
        let fields = [
            ("accounts", &self.accounts, &after.accounts),
            ("posts", &self.posts, &after.posts),
            ("media", &self.media, &after.media),
            ("keys", &self.keys, &after.keys),
            ("members", &self.members, &after.members),
        ];
        let mut out = Vec::new();
        for (name, before, after) in fields {
            let gone: Vec<_> = before.iter().filter(|x| !after.contains(x)).collect();
            let new: Vec<_> = after.iter().filter(|x| !before.contains(x)).collect();
            if !gone.is_empty() || !new.is_empty() {
                out.push(format!("{name}: gone {gone:?}, new {new:?}"));
            }
        }
        out.join("; ")
    }
}

async fn snapshot(app: &TestApp, ws: WorkspaceId) -> Result<Snapshot> {
    let posts = app.store.list_posts(ws, None, 1000).await?;
    if posts.next_cursor.is_some() {
        bail!("more posts than one page");
    }
    Ok(Snapshot {
        accounts: app
            .store
            .list_accounts(ws)
            .await?
            .iter()
            .map(|a| format!("{} {}", a.id, a.display_name))
            .collect(),
        posts: posts
            .items
            .iter()
            .map(|p| {
                format!(
                    "{} {:?} {:?} v{} {:?}",
                    p.id, p.state, p.scheduled_at, p.version, p.media_id
                )
            })
            .collect(),
        media: app
            .store
            .list_media(ws)
            .await?
            .iter()
            .map(|m| format!("{} {:?}", m.id, m.post_id))
            .collect(),
        keys: app
            .store
            .list_api_keys(ws)
            .await?
            .iter()
            .map(|k| format!("{} {} {:?}", k.id, k.name, k.scopes))
            .collect(),
        members: app
            .store
            .members(ws)
            .await?
            .iter()
            .map(|m| format!("{} {}", m.user_id, m.role))
            .collect(),
    })
}

/// The request of `r` as `caller`, with the rows it needs made: a session from its browser
/// with our Origin (as our pages do), a key as a script does.
async fn prepare(
    app: &TestApp,
    team: &Team,
    r: &Row,
    caller: &Caller,
) -> Result<reqwest::RequestBuilder> {
    let url = if r.path == CALLBACK {
        team.callback_for(app, caller).await?
    } else {
        app.url(&team.fill(app, r.path).await?)
    };
    let mut req = caller
        .client
        .request(Method::from_bytes(r.method.as_bytes())?, url);
    match &caller.key {
        Some(key) => req = req.header(AUTHORIZATION, format!("Bearer {key}")),
        None => req = req.header(ORIGIN, &app.base_url),
    }
    req = match r.body {
        Body::None => req,
        Body::Json(body) => req
            .header(CONTENT_TYPE, "application/json")
            .body(team.fill(app, body).await?),
        Body::Campaign => req
            .header("idempotency-key", uuid::Uuid::new_v4().to_string())
            .json(&json!({ "posts": [{
                "account": team.account,
                "media_id": team.stage(app).await?,
                "title": "campaign from the matrix",
                "privacy_level": "SELF_ONLY",
                "scheduled_at": tomorrow(),
            }]})),
        Body::Tomorrow => req.json(&json!({ "scheduled_at": tomorrow() })),
        Body::Video => req
            .header(CONTENT_TYPE, "video/mp4")
            .body(video(u8::try_from(team.next() % 251)?)),
    };
    Ok(req)
}

/// Sends a prepared call.
async fn send(req: reqwest::RequestBuilder) -> Result<Got> {
    let resp = req.send().await?;
    let status = resp.status().as_u16();
    let json = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let text = resp.text().await?;
    let code = if json && status >= 400 {
        serde_json::from_str::<Value>(&text)?["error"]["code"]
            .as_str()
            .map(str::to_owned)
    } else {
        None
    };
    Ok(Got {
        status,
        code,
        json,
        text,
    })
}

/// A key of the team made through the API by the owner's browser.
async fn owner_key(
    app: &TestApp,
    owner: &reqwest::Client,
    scope: &str,
) -> Result<(String, String)> {
    let resp = owner
        .post(app.url("/api/keys"))
        .header(ORIGIN, &app.base_url)
        .json(&json!({ "name": format!("owner's {scope}"), "scopes": [scope] }))
        .send()
        .await?;
    let status = resp.status();
    let created: Value = resp.json().await?;
    if status != StatusCode::CREATED {
        bail!("creating a {scope} key: {status} {created}");
    }
    Ok((
        created["id"].as_str().context("key id")?.to_owned(),
        created["key"].as_str().context("key")?.to_owned(),
    ))
}

async fn add_member(app: &TestApp, ws: WorkspaceId, user: UserId, role: Role) -> Result<()> {
    app.store
        .put_member(&Member {
            workspace_id: ws,
            user_id: user,
            role,
            joined_at: chrono::Utc::now(),
        })
        .await?;
    Ok(())
}

/// Everyone of the matrix, and the team they call.
async fn set_up(app: &TestApp) -> Result<(Team, Vec<Caller>)> {
    let bare = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    // The owner makes the team; the others sign in, and the owner adds them.
    let owner_client = browser(app, None)?;
    let owner = signed_in(app, &owner_client, "team-owner").await?;
    let owner_user = app.store.user(owner).await?;
    let team = jobs::domain::workspaces::settings::create(&*app.store, &owner_user, "Agency")
        .await?
        .id;
    let owner_client = {
        // The same person in a browser whose switcher names the team.
        let c = browser(app, Some(team))?;
        signed_in(app, &c, "team-owner").await?;
        c
    };
    let mut callers = vec![Caller {
        name: "owner".into(),
        who: Who::Member(Role::Owner),
        client: owner_client.clone(),
        key: None,
    }];
    let mut member_ids = Vec::new();
    for role in [Role::Admin, Role::Editor, Role::Viewer] {
        let client = browser(app, Some(team))?;
        let user = signed_in(app, &client, &format!("team-{role}")).await?;
        add_member(app, team, user, role).await?;
        member_ids.push((role, user));
        callers.push(Caller {
            name: role.to_string(),
            who: Who::Member(role),
            client,
            key: None,
        });
    }
    let outsider = browser(app, Some(team))?;
    signed_in(app, &outsider, "outsider").await?;
    callers.push(Caller {
        name: "outsider".into(),
        who: Who::Outsider,
        client: outsider,
        key: None,
    });

    // The team's standing rows: an account connected through the owner's browser (so it lands
    // in the team), a staged video, a scheduled post, and the owner's keys.
    let mut t = Team {
        id: team,
        owner,
        owner_client: owner_client.clone(),
        account: String::new(),
        post: String::new(),
        media: String::new(),
        keys: Vec::new(),
        fresh: AtomicUsize::new(0),
    };
    let to = app
        .connect_tiktok_with(&owner_client, sandbox::model::DEMO_PUBLIC_OPEN_ID, None)
        .await?;
    t.account = to
        .strip_prefix("/accounts?connected=")
        .with_context(|| format!("connect ended at {to}"))?
        .to_owned();
    let accounts = app.store.list_accounts(team).await?;
    assert_eq!(
        accounts
            .iter()
            .map(|a| a.id.to_string())
            .collect::<Vec<_>>(),
        vec![t.account.clone()],
        "the owner's connection landed in the team"
    );
    assert!(
        app.store
            .list_accounts(jobs::model::Workspace::personal_id(owner))
            .await?
            .is_empty(),
        "and not in the owner's personal workspace"
    );
    t.media = t.stage(app).await?;
    t.post = t.scheduled_post(app).await?;
    for scope in &SCOPES {
        let (id, key) = owner_key(app, &owner_client, scope).await?;
        t.keys.push(id);
        callers.push(Caller {
            name: format!("owner's {scope} key"),
            who: Who::Key(Role::Owner, std::slice::from_ref(scope)),
            client: bare.clone(),
            key: Some(key),
        });
    }
    let in_team = app.store.list_api_keys(team).await?;
    assert_eq!(
        in_team.len(),
        SCOPES.len(),
        "the owner's keys are the team's"
    );
    // Keys of the editor and of the viewer, with every scope: they act as their member.
    for (role, user) in member_ids
        .iter()
        .filter(|(r, _)| *r == Role::Editor || *r == Role::Viewer)
    {
        let by = Actor {
            user: *user,
            workspace: team,
            role: *role,
        };
        let created =
            jobs::domain::api_keys::create(&*app.store, by, "all scopes", &SCOPES).await?;
        t.keys.push(created.key.id.to_string());
        callers.push(Caller {
            name: format!("{role}'s key with every scope"),
            who: Who::Key(*role, &SCOPES),
            client: bare.clone(),
            key: Some(created.plaintext),
        });
    }

    // A member who leaves: while a member, their session and key act in the team; removed,
    // both stop at once (the session falls back to their personal workspace, the key is dead).
    let former_client = browser(app, Some(team))?;
    let former = signed_in(app, &former_client, "team-former").await?;
    add_member(app, team, former, Role::Editor).await?;
    let by = Actor {
        user: former,
        workspace: team,
        role: Role::Editor,
    };
    let former_key = jobs::domain::api_keys::create(&*app.store, by, "leaver's", &SCOPES).await?;
    let post_path = format!("/api/posts/{}", t.post);
    let resp = former_client.get(app.url(&post_path)).send().await?;
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "a member's session reads the team"
    );
    let resp = bare
        .get(app.url(&post_path))
        .bearer_auth(&former_key.plaintext)
        .send()
        .await?;
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "a member's key reads the team"
    );
    app.store.remove_member(team, former).await?;
    callers.push(Caller {
        name: "former member".into(),
        who: Who::Former,
        client: former_client,
        key: None,
    });
    callers.push(Caller {
        name: "former member's key".into(),
        who: Who::FormerKey,
        client: bare,
        key: Some(former_key.plaintext),
    });
    Ok((t, callers))
}

async fn matrix_app() -> Result<TestApp> {
    matrix_app_on(Backend::Sqlite).await
}

async fn matrix_app_on(backend: Backend) -> Result<TestApp> {
    TestApp::start_with(backend, |c| {
        c.limits.api_rate_per_min = 1_000_000;
        c.limits.auth_rate_per_min = 1_000_000;
        c.limits.page_rate_per_min = 1_000_000;
        c.limits.avatar_rate_per_min = 1_000_000;
        // creator_info is paced per account; the matrix calls it many times.
        c.tiktok.pacing_window_secs = 1;
    })
    .await
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
                    if got.text.contains(id) && !sent.contains(id) {
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

/// A call outside the matrix: `client` with our Origin, or with `key` as a script.
async fn api(
    app: &TestApp,
    client: &reqwest::Client,
    key: Option<&str>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Result<Got> {
    let mut req = client.request(method, app.url(path));
    req = match key {
        Some(key) => req.bearer_auth(key),
        None => req.header(ORIGIN, &app.base_url),
    };
    if path == "/api/campaigns" {
        req = req.header("idempotency-key", uuid::Uuid::new_v4().to_string());
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    send(req).await
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
        let body = matches!(r.body, Body::Tomorrow).then(|| json!({ "scheduled_at": tomorrow() }));
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
            body.clone(),
            body,
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
                text = text.replace(id, "ID");
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
#[ignore = "bug: /settings lists the team's API keys (ids, names, prefixes, scopes) to editors \
            and viewers, whom GET /api/keys refuses with 403 insufficient_role; the page (web/src/\
            pages/settings.rs) should list them only when the role can ManageApiKeys"]
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
#[ignore = "bug: `/` sends every member of a workspace with accounts to /compose, which refuses \
            a viewer (403); web/src/pages/login.rs `home` should send a viewer to /history"]
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
