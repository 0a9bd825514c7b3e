//! The matrix's machinery: the team and its rows, the browsers and keys that call, the
//! store snapshot compared around refusals, and sending a call.

use super::{Body, CALLBACK, Caller, Expect, Row, SCOPES, Who};
use anyhow::{Context, Result, bail};
use e2e::{Backend, TestApp};
use jobs::model::{Actor, Member, PostState, Role, UserId, WorkspaceId};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, ORIGIN};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// What a call got.
#[derive(Debug)]
pub(super) struct Got {
    pub(super) status: u16,
    pub(super) code: Option<String>,
    pub(super) json: bool,
    pub(super) text: String,
}

impl Got {
    pub(super) fn is(&self, e: Expect) -> bool {
        self.status == e.status
            && self.code.as_deref() == e.code
            // An error expected without a code is an HTML page.
            && (e.code.is_some() || e.status < 400 || !self.json)
    }
}

/// The team workspace and its standing rows.
pub(super) struct Team {
    pub(super) id: WorkspaceId,
    pub(super) owner: UserId,
    pub(super) owner_client: reqwest::Client,
    pub(super) account: String,
    pub(super) post: String,
    pub(super) media: String,
    /// The ids of the keys made at set-up (every one of them the team's).
    pub(super) keys: Vec<String>,
    pub(super) fresh: AtomicUsize,
}

/// A browser whose jar the test can add cookies to.
pub(super) fn browser(app: &TestApp, workspace: Option<WorkspaceId>) -> Result<reqwest::Client> {
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

pub(super) async fn signed_in(
    app: &TestApp,
    client: &reqwest::Client,
    uid: &str,
) -> Result<UserId> {
    let me = app.sign_in_with(client, uid).await?;
    Ok(UserId::parse(me["id"].as_str().context("user id")?)?)
}

pub(super) fn video(seed: u8) -> Vec<u8> {
    crate::publish::video(20_000, seed)
}

pub(super) fn tomorrow() -> String {
    (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339()
}

impl Team {
    pub(super) fn actor(&self) -> Actor {
        Actor {
            user: self.owner,
            workspace: self.id,
            role: Role::Owner,
        }
    }

    pub(super) fn next(&self) -> usize {
        self.fresh.fetch_add(1, Ordering::Relaxed)
    }

    /// A video staged in the team, as its owner.
    pub(super) async fn stage(&self, app: &TestApp) -> Result<String> {
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
    pub(super) async fn scheduled_post(&self, app: &TestApp) -> Result<String> {
        let account = jobs::model::AccountId::parse(&self.account)?;
        let mut post =
            jobs::store::conformance::post_for(self.owner, account, PostState::Scheduled);
        post.workspace_id = self.id;
        post.scheduled_at = Some(chrono::Utc::now() + chrono::Duration::days(1));
        let created = app.store.create_post(&post).await?;
        Ok(created.value.id.to_string())
    }

    /// A new sandbox creator's open_id.
    pub(super) fn creator(&self, app: &TestApp) -> Result<String> {
        let n = self.next();
        let c = app.sandbox.create_creator(sandbox::model::Creator {
            display_name: format!("Matrix Creator {n}"),
            username: format!("matrix.creator.{n}"),
            ..Default::default()
        })?;
        Ok(c.open_id)
    }

    /// A TikTok account connected to the team through the owner's browser.
    pub(super) async fn connected_account(&self, app: &TestApp) -> Result<String> {
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
    pub(super) async fn key(&self, app: &TestApp) -> Result<String> {
        let created =
            jobs::domain::api_keys::create(&*app.store, self.actor(), "fresh", &["read"]).await?;
        Ok(created.key.id.to_string())
    }

    /// The TikTok callback URL `caller` is sent to: their own, for a member who may connect;
    /// the owner's, for someone outside the team; a made-up one for everyone else (their role
    /// or key is refused before the state is read).
    pub(super) async fn callback_for(&self, app: &TestApp, caller: &Caller) -> Result<String> {
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
    pub(super) async fn fill(&self, app: &TestApp, s: &str) -> Result<String> {
        let mut s = s
            .replace("{account}", &self.account)
            .replace("{post}", &self.post)
            .replace("{media}", &self.media)
            .replace("{key}", &self.keys[0])
            .replace("{team}", &self.id.to_string())
            .replace("{nobody}", "01900000-0000-7000-8000-000000000000")
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

    /// The ids an outsider must never see: the team's rows, and the team itself (the outsider
    /// names it in their switcher cookie, yet no answer may say they act in it).
    pub(super) fn secrets(&self) -> Vec<String> {
        let mut ids = vec![
            self.id.to_string(),
            self.account.clone(),
            self.post.clone(),
            self.media.clone(),
        ];
        ids.extend(self.keys.iter().cloned());
        ids
    }
}

/// The team's rows as the store has them (volatile fields such as a key's last use left out).
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Snapshot {
    pub(super) accounts: Vec<String>,
    pub(super) posts: Vec<String>,
    pub(super) media: Vec<String>,
    pub(super) keys: Vec<String>,
    pub(super) members: Vec<String>,
}

impl Snapshot {
    /// What is gone and what is new, field by field.
    pub(super) fn diff(&self, after: &Snapshot) -> String {
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

pub(super) async fn snapshot(app: &TestApp, ws: WorkspaceId) -> Result<Snapshot> {
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

/// Sends a prepared call.
pub(super) async fn send(req: reqwest::RequestBuilder) -> Result<Got> {
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
pub(super) async fn owner_key(
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

pub(super) async fn add_member(
    app: &TestApp,
    ws: WorkspaceId,
    user: UserId,
    role: Role,
) -> Result<()> {
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

pub(super) async fn matrix_app() -> Result<TestApp> {
    matrix_app_on(Backend::Sqlite).await
}

pub(super) async fn matrix_app_on(backend: Backend) -> Result<TestApp> {
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

/// A call outside the matrix: `client` with our Origin, or with `key` as a script.
pub(super) async fn api(
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

/// The request of `r` as `caller`, with the rows it needs made: a session from its browser
/// with our Origin (as our pages do), a key as a script does.
pub(super) async fn prepare(
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

/// Everyone of the matrix, and the team they call.
pub(super) async fn set_up(app: &TestApp) -> Result<(Team, Vec<Caller>)> {
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
