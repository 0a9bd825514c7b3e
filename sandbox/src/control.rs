//! The control API (`/_sandbox/...`, JSON) and the same operations as Rust methods on
//! [`SandboxState`], for tests and demos: create apps and creators, set knobs, move the clock,
//! inject faults, reset, and read what the sandbox received.

use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::SandboxError;
use crate::faults::{Fault, FaultSpec};
use crate::google::{IdTokenRequest, MintedIdToken};
use crate::ids::random_string;
use crate::knobs::{Knobs, merge_json};
use crate::model::{App, Creator, DEMO_CLIENT_KEY, GoogleUser};
use crate::records::Records;
use crate::state::google::{GoogleKeys, seeded_users};
use crate::state::task::{Status, post_draft};
use crate::state::tiktok::{MediaCheck, RefreshGrant, TikTok, TokenResponse};
use crate::state::{Inner, SandboxState};

pub(crate) fn router() -> Router<SandboxState> {
    Router::new()
        .route("/_sandbox/health", get(health))
        .route("/_sandbox/reset", post(reset))
        .route(
            "/_sandbox/knobs",
            get(get_knobs).patch(patch_knobs).put(put_knobs),
        )
        .route("/_sandbox/clock", get(get_clock))
        .route("/_sandbox/clock/advance", post(advance_clock))
        .route("/_sandbox/apps", get(list_apps).post(create_app))
        .route("/_sandbox/apps/{client_key}", get(get_app).patch(patch_app))
        .route(
            "/_sandbox/apps/{client_key}/redirect-uris",
            post(add_redirect_uri),
        )
        .route(
            "/_sandbox/creators",
            get(list_creators).post(create_creator),
        )
        .route(
            "/_sandbox/creators/{open_id}",
            get(get_creator).patch(patch_creator),
        )
        .route(
            "/_sandbox/faults",
            get(list_faults).post(add_fault).delete(clear_faults),
        )
        .route("/_sandbox/tiktok/media-check", post(media_check))
        .route("/_sandbox/tiktok/tokens", post(issue_token))
        .route(
            "/_sandbox/tiktok/posts/{publish_id}/creator-post",
            post(creator_post),
        )
        .route("/_sandbox/tiktok/posts/{publish_id}/bytes", get(post_bytes))
        .route("/_sandbox/records", get(records))
        .route("/_sandbox/google/id-token", post(mint_id_token))
        .route("/_sandbox/google/rotate-key", post(rotate_key))
        .route(
            "/_sandbox/google/users",
            get(list_google_users).post(add_google_user),
        )
        .route("/_sandbox/avatar/{name}", get(placeholder_image))
        .route("/_sandbox/cover/{name}", get(placeholder_image))
}

impl IntoResponse for SandboxError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            SandboxError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            SandboxError::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            SandboxError::Bind(_) | SandboxError::Keys(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        };
        (
            status,
            axum::Json(json!({"error": {"code": code, "message": self.to_string()}})),
        )
            .into_response()
    }
}

/// Merges a JSON patch into a serialisable value.
fn patched<T: serde::Serialize + serde::de::DeserializeOwned>(
    current: &T,
    patch: Value,
) -> Result<T, SandboxError> {
    let mut value =
        serde_json::to_value(current).map_err(|e| SandboxError::Invalid(e.to_string()))?;
    merge_json(&mut value, patch);
    serde_json::from_value(value).map_err(|e| SandboxError::Invalid(e.to_string()))
}

impl SandboxState {
    /// The current knobs.
    pub fn knobs(&self) -> Knobs {
        self.lock().knobs.clone()
    }

    /// Replaces all knobs.
    pub fn set_knobs(&self, knobs: Knobs) {
        self.lock().knobs = knobs;
    }

    /// Changes some knobs in place: `state.update_knobs(|k| k.chunks.min_chunk = 1000)`.
    pub fn update_knobs(&self, f: impl FnOnce(&mut Knobs)) -> Knobs {
        let mut inner = self.lock();
        f(&mut inner.knobs);
        inner.knobs.clone()
    }

    /// Deep-merges a JSON object into the knobs (what `PATCH /_sandbox/knobs` does).
    pub fn patch_knobs(&self, patch: Value) -> Result<Knobs, SandboxError> {
        let mut inner = self.lock();
        let knobs = patched(&inner.knobs, patch)?;
        inner.knobs = knobs.clone();
        Ok(knobs)
    }

    /// Moves the sandbox clock forward (then settles publish tasks, so webhooks fire).
    pub fn advance_clock(&self, by: Duration) {
        self.clock().advance(by);
        self.settle();
    }

    /// Back to the seeded state: demo app, demo creators, default knobs from the config, real
    /// time. The Google signing keys are kept, so apps' cached certificates stay valid.
    pub fn reset(&self) {
        let fresh = Inner::new(self.config(), self.base_url());
        *self.lock() = fresh;
        self.google().users = seeded_users(self.config());
        self.clock().reset();
    }

    /// An app by client key.
    pub fn app(&self, client_key: &str) -> Option<App> {
        self.lock().tiktok.apps.get(client_key).cloned()
    }

    /// Adds an app; empty `client_key`/`client_secret` are generated.
    pub fn create_app(&self, mut app: App) -> Result<App, SandboxError> {
        if app.client_key.is_empty() {
            app.client_key = format!("sbaw{}", random_string(14).to_lowercase());
        }
        if app.client_secret.is_empty() {
            app.client_secret = random_string(32);
        }
        let mut inner = self.lock();
        if inner.tiktok.apps.contains_key(&app.client_key) {
            return Err(SandboxError::Invalid(format!(
                "app {} already exists",
                app.client_key
            )));
        }
        inner
            .tiktok
            .apps
            .insert(app.client_key.clone(), app.clone());
        Ok(app)
    }

    /// Changes an app in place.
    pub fn update_app(
        &self,
        client_key: &str,
        f: impl FnOnce(&mut App),
    ) -> Result<App, SandboxError> {
        let mut inner = self.lock();
        let app = inner
            .tiktok
            .apps
            .get_mut(client_key)
            .ok_or_else(|| SandboxError::NotFound(format!("app {client_key}")))?;
        f(app);
        app.client_key = client_key.to_owned();
        Ok(app.clone())
    }

    /// Registers a redirect URI on the demo app (tests register their own callback).
    pub fn register_redirect_uri(&self, uri: &str) -> Result<App, SandboxError> {
        self.register_redirect_uri_for(DEMO_CLIENT_KEY, uri)
    }

    /// Registers a redirect URI on any app (idempotent).
    pub fn register_redirect_uri_for(
        &self,
        client_key: &str,
        uri: &str,
    ) -> Result<App, SandboxError> {
        if url::Url::parse(uri).is_err() || uri.contains('#') {
            return Err(SandboxError::Invalid(
                "a redirect URI must be an absolute URL without a fragment".into(),
            ));
        }
        self.update_app(client_key, |a| {
            if !a.redirect_uris.iter().any(|u| u == uri) {
                a.redirect_uris.push(uri.to_owned());
            }
        })
    }

    /// A creator by open_id.
    pub fn creator(&self, open_id: &str) -> Option<Creator> {
        self.lock().tiktok.creators.get(open_id).cloned()
    }

    /// Adds a creator; an empty `open_id`/`union_id` is generated.
    pub fn create_creator(&self, mut c: Creator) -> Result<Creator, SandboxError> {
        if c.open_id.is_empty() {
            c.open_id = format!("-000sandbox-{}", random_string(20));
        }
        if c.union_id.is_empty() {
            c.union_id = uuid::Uuid::new_v4().to_string();
        }
        if c.avatar_url.is_empty() {
            c.avatar_url = format!("{}/_sandbox/avatar/{}.jpeg", self.base_url(), c.open_id);
        }
        let mut inner = self.lock();
        if inner.tiktok.creators.contains_key(&c.open_id) {
            return Err(SandboxError::Invalid(format!(
                "creator {} already exists",
                c.open_id
            )));
        }
        inner.tiktok.creators.insert(c.open_id.clone(), c.clone());
        Ok(c)
    }

    /// Changes a creator in place (ban, make private, lower the daily cap, …).
    pub fn update_creator(
        &self,
        open_id: &str,
        f: impl FnOnce(&mut Creator),
    ) -> Result<Creator, SandboxError> {
        let mut inner = self.lock();
        let c = inner
            .tiktok
            .creators
            .get_mut(open_id)
            .ok_or_else(|| SandboxError::NotFound(format!("creator {open_id}")))?;
        f(c);
        c.open_id = open_id.to_owned();
        Ok(c.clone())
    }

    /// Injects a fault; returns its id.
    pub fn inject_fault(&self, spec: FaultSpec) -> u64 {
        self.lock().add_fault(spec)
    }

    /// Injected faults with their counters.
    pub fn faults(&self) -> Vec<Fault> {
        self.lock().faults.clone()
    }

    /// Removes every injected fault.
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// Makes the next post(s) end `FAILED` with the given `fail_reason`.
    pub fn fail_next_post(&self, check: MediaCheck) {
        self.lock().tiktok.media_checks.push(check);
    }

    /// Issues tokens for a creator without the consent flow (for tests of other crates).
    pub fn issue_token(
        &self,
        client_key: &str,
        open_id: &str,
        scopes: &[&str],
    ) -> Result<TokenResponse, SandboxError> {
        let now = self.now();
        let mut inner = self.lock();
        if !inner.tiktok.apps.contains_key(client_key) {
            return Err(SandboxError::NotFound(format!("app {client_key}")));
        }
        if !inner.tiktok.creators.contains_key(open_id) {
            return Err(SandboxError::NotFound(format!("creator {open_id}")));
        }
        let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
        let resp = inner.issue_tokens(now, client_key, open_id, &scopes, RefreshGrant::New(None));
        inner.tiktok.token_event(now, "issued", client_key, open_id);
        Ok(resp)
    }

    /// The creator posts an inbox draft from the TikTok app (`SEND_TO_USER_INBOX` →
    /// `PUBLISH_COMPLETE`). `privacy_level` defaults to the account's widest option.
    pub fn creator_posts_draft(
        &self,
        publish_id: &str,
        privacy_level: Option<&str>,
    ) -> Result<(), SandboxError> {
        self.settle();
        let now = self.now();
        let events = {
            let mut inner = self.lock();
            let TikTok {
                tasks,
                creators,
                videos,
                ..
            } = &mut inner.tiktok;
            let task = tasks
                .iter_mut()
                .find(|t| t.publish_id == publish_id)
                .ok_or_else(|| SandboxError::NotFound(format!("publish task {publish_id}")))?;
            if task.status != Status::SendToUserInbox {
                return Err(SandboxError::Invalid(format!(
                    "publish task is {}, not SEND_TO_USER_INBOX",
                    task.status.as_str()
                )));
            }
            let account_public = creators
                .get(&task.open_id)
                .is_some_and(|c| !c.private_account);
            let privacy = privacy_level.map(str::to_owned).unwrap_or_else(|| {
                if account_public {
                    "PUBLIC_TO_EVERYONE"
                } else {
                    "SELF_ONLY"
                }
                .into()
            });
            let public = privacy == "PUBLIC_TO_EVERYONE";
            task.info.privacy_level = Some(privacy);
            post_draft(task, now, public, videos)
        };
        self.emit(events);
        self.settle();
        Ok(())
    }

    /// The bytes of an upload, when `knobs.keep_upload_bytes_max` allowed keeping them.
    pub fn upload_bytes(&self, publish_id: &str) -> Option<Vec<u8>> {
        let inner = self.lock();
        let task = inner
            .tiktok
            .tasks
            .iter()
            .find(|t| t.publish_id == publish_id)?;
        task.upload.as_ref()?.bytes.clone()
    }

    /// Mints an ID token from a request (seeded user by default).
    pub fn mint_id_token_for(&self, req: &IdTokenRequest) -> Result<MintedIdToken, SandboxError> {
        let user = self.google_user_for(req);
        self.mint_id_token(&user, req.variant)
    }

    /// Rotates the Google signing key; returns the new kid. With `keep_previous` the old key
    /// stays published (as Google does for a while), otherwise it disappears.
    pub fn rotate_google_key(&self, keep_previous: bool) -> Result<String, SandboxError> {
        // Generate outside the lock; key generation takes a moment.
        let mut fresh = GoogleKeys::generate()?;
        let key = fresh
            .published
            .pop()
            .ok_or_else(|| SandboxError::Keys("no key generated".into()))?;
        let kid = key.kid.clone();
        self.google().keys.rotate(key, keep_previous);
        Ok(kid)
    }

    /// The kids currently published (last = the one signing new tokens).
    pub fn google_kids(&self) -> Vec<String> {
        self.google().keys.kids()
    }

    /// Test users shown on the sign-in page.
    pub fn google_users(&self) -> Vec<GoogleUser> {
        self.google().users.clone()
    }

    /// Adds a sign-in test user (uid derived from the email when empty).
    pub fn add_google_user(&self, mut user: GoogleUser) -> GoogleUser {
        if user.uid.is_empty() {
            let derived = GoogleUser::from_email(&user.email, &user.name);
            user.uid = derived.uid;
            if user.picture.is_empty() {
                user.picture = derived.picture;
            }
        }
        let mut google = self.google();
        google.users.retain(|u| u.uid != user.uid);
        google.users.push(user.clone());
        user
    }
}

type Ctl<T> = Result<axum::Json<T>, SandboxError>;

async fn health(State(s): State<SandboxState>) -> axum::Json<Value> {
    axum::Json(json!({"ok": true, "base_url": s.base_url(), "now": s.now()}))
}

async fn reset(State(s): State<SandboxState>) -> axum::Json<Value> {
    s.reset();
    axum::Json(json!({"ok": true}))
}

async fn get_knobs(State(s): State<SandboxState>) -> axum::Json<Knobs> {
    axum::Json(s.knobs())
}

async fn patch_knobs(
    State(s): State<SandboxState>,
    axum::Json(patch): axum::Json<Value>,
) -> Ctl<Knobs> {
    s.patch_knobs(patch).map(axum::Json)
}

async fn put_knobs(
    State(s): State<SandboxState>,
    axum::Json(knobs): axum::Json<Knobs>,
) -> axum::Json<Knobs> {
    s.set_knobs(knobs.clone());
    axum::Json(knobs)
}

fn clock_json(s: &SandboxState) -> Value {
    json!({"now": s.now(), "now_unix": s.now().timestamp(), "offset_ms": s.clock().offset().num_milliseconds()})
}

async fn get_clock(State(s): State<SandboxState>) -> axum::Json<Value> {
    axum::Json(clock_json(&s))
}

#[derive(Deserialize)]
struct Advance {
    #[serde(default)]
    seconds: u64,
    #[serde(default)]
    ms: u64,
}

async fn advance_clock(
    State(s): State<SandboxState>,
    axum::Json(a): axum::Json<Advance>,
) -> axum::Json<Value> {
    s.advance_clock(Duration::from_secs(a.seconds) + Duration::from_millis(a.ms));
    axum::Json(clock_json(&s))
}

async fn list_apps(State(s): State<SandboxState>) -> axum::Json<Vec<App>> {
    axum::Json(s.lock().tiktok.apps.values().cloned().collect())
}

async fn create_app(State(s): State<SandboxState>, axum::Json(app): axum::Json<App>) -> Ctl<App> {
    s.create_app(app).map(axum::Json)
}

async fn get_app(State(s): State<SandboxState>, Path(key): Path<String>) -> Ctl<App> {
    s.app(&key)
        .map(axum::Json)
        .ok_or_else(|| SandboxError::NotFound(format!("app {key}")))
}

async fn patch_app(
    State(s): State<SandboxState>,
    Path(key): Path<String>,
    axum::Json(patch): axum::Json<Value>,
) -> Ctl<App> {
    let current = s
        .app(&key)
        .ok_or_else(|| SandboxError::NotFound(format!("app {key}")))?;
    let next = patched(&current, patch)?;
    s.update_app(&key, |a| *a = next).map(axum::Json)
}

#[derive(Deserialize)]
struct RedirectUri {
    uri: String,
}

async fn add_redirect_uri(
    State(s): State<SandboxState>,
    Path(key): Path<String>,
    axum::Json(r): axum::Json<RedirectUri>,
) -> Ctl<App> {
    s.register_redirect_uri_for(&key, &r.uri).map(axum::Json)
}

async fn list_creators(State(s): State<SandboxState>) -> axum::Json<Vec<Creator>> {
    axum::Json(s.lock().tiktok.creators.values().cloned().collect())
}

async fn create_creator(
    State(s): State<SandboxState>,
    axum::Json(c): axum::Json<Creator>,
) -> Ctl<Creator> {
    s.create_creator(c).map(axum::Json)
}

async fn get_creator(State(s): State<SandboxState>, Path(id): Path<String>) -> Ctl<Creator> {
    s.creator(&id)
        .map(axum::Json)
        .ok_or_else(|| SandboxError::NotFound(format!("creator {id}")))
}

async fn patch_creator(
    State(s): State<SandboxState>,
    Path(id): Path<String>,
    axum::Json(patch): axum::Json<Value>,
) -> Ctl<Creator> {
    let current = s
        .creator(&id)
        .ok_or_else(|| SandboxError::NotFound(format!("creator {id}")))?;
    let next = patched(&current, patch)?;
    s.update_creator(&id, |c| *c = next).map(axum::Json)
}

async fn list_faults(State(s): State<SandboxState>) -> axum::Json<Vec<Fault>> {
    axum::Json(s.faults())
}

async fn add_fault(
    State(s): State<SandboxState>,
    axum::Json(spec): axum::Json<FaultSpec>,
) -> axum::Json<Value> {
    axum::Json(json!({"id": s.inject_fault(spec)}))
}

async fn clear_faults(State(s): State<SandboxState>) -> axum::Json<Value> {
    s.clear_faults();
    axum::Json(json!({"ok": true}))
}

async fn media_check(
    State(s): State<SandboxState>,
    axum::Json(check): axum::Json<MediaCheck>,
) -> axum::Json<Value> {
    s.fail_next_post(check);
    axum::Json(json!({"ok": true}))
}

#[derive(Deserialize)]
struct IssueToken {
    #[serde(default)]
    client_key: Option<String>,
    open_id: String,
    #[serde(default)]
    scopes: Option<Vec<String>>,
}

async fn issue_token(
    State(s): State<SandboxState>,
    axum::Json(r): axum::Json<IssueToken>,
) -> Ctl<TokenResponse> {
    let client_key = r.client_key.unwrap_or_else(|| DEMO_CLIENT_KEY.to_owned());
    let scopes: Vec<String> = r.scopes.unwrap_or_else(|| {
        crate::model::ALL_SCOPES
            .iter()
            .map(|s| (*s).to_owned())
            .collect()
    });
    let refs: Vec<&str> = scopes.iter().map(String::as_str).collect();
    s.issue_token(&client_key, &r.open_id, &refs)
        .map(axum::Json)
}

#[derive(Deserialize, Default)]
struct CreatorPost {
    #[serde(default)]
    privacy_level: Option<String>,
}

async fn creator_post(
    State(s): State<SandboxState>,
    Path(id): Path<String>,
    body: Option<axum::Json<CreatorPost>>,
) -> Ctl<Value> {
    let body = body.map(|b| b.0).unwrap_or_default();
    s.creator_posts_draft(&id, body.privacy_level.as_deref())?;
    Ok(axum::Json(json!({"ok": true})))
}

async fn post_bytes(State(s): State<SandboxState>, Path(id): Path<String>) -> Response {
    match s.upload_bytes(&id) {
        Some(bytes) => {
            ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response()
        }
        None => SandboxError::NotFound(format!("kept bytes for {id}")).into_response(),
    }
}

async fn records(State(s): State<SandboxState>) -> axum::Json<Records> {
    axum::Json(s.records())
}

async fn mint_id_token(
    State(s): State<SandboxState>,
    axum::Json(req): axum::Json<IdTokenRequest>,
) -> Ctl<MintedIdToken> {
    s.mint_id_token_for(&req).map(axum::Json)
}

#[derive(Deserialize)]
struct Rotate {
    #[serde(default = "yes")]
    keep_previous: bool,
}

fn yes() -> bool {
    true
}

async fn rotate_key(State(s): State<SandboxState>, body: Option<axum::Json<Rotate>>) -> Ctl<Value> {
    let keep = body.is_none_or(|b| b.keep_previous);
    let kid = tokio::task::spawn_blocking(move || {
        s.rotate_google_key(keep).map(|kid| (kid, s.google_kids()))
    })
    .await
    .map_err(|e| SandboxError::Keys(e.to_string()))??;
    Ok(axum::Json(json!({"kid": kid.0, "published": kid.1})))
}

async fn list_google_users(State(s): State<SandboxState>) -> axum::Json<Vec<GoogleUser>> {
    axum::Json(s.google_users())
}

async fn add_google_user(
    State(s): State<SandboxState>,
    axum::Json(u): axum::Json<GoogleUser>,
) -> axum::Json<GoogleUser> {
    axum::Json(s.add_google_user(u))
}

/// A neutral placeholder for avatar and cover URLs, so pages that show them render.
async fn placeholder_image() -> Response {
    let svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"168\" height=\"168\"><rect width=\"168\" height=\"168\" fill=\"#25f4ee\"/><circle cx=\"84\" cy=\"70\" r=\"34\" fill=\"#fe2c55\"/></svg>";
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        svg,
    )
        .into_response()
}
