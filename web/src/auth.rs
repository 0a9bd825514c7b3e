//! Who is calling, and may they: the session cookie or an API key → [`CurrentUser`], acting in
//! one workspace with one role; what an API key may reach ([`key_access`], the one table of
//! scopes per route) and what the role must allow (`crate::roles`); the cross-site request
//! check for cookie-authenticated writes; per-IP and per-user rate limits.

use crate::error::{ApiError, PageError};
use crate::state::AppState;
use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use jobs::identity::api_keys;
use jobs::identity::session::{self, COOKIE_NAME};
use jobs::model::{Actor, ApiKeyScope, ApiKeyScopes, Role, User, Workspace, WorkspaceId};
use std::net::IpAddr;

/// How the caller authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthVia {
    Cookie,
    ApiKey,
}

/// The signed-in user, for handlers that require one, in the workspace they act in: for a
/// browser session the one chosen in the switcher ([`WORKSPACE_COOKIE`], else their personal
/// one), for an API key the key's. Extracting it also checks that the caller's role allows
/// the route (`crate::roles`) and, for an API key, that the key may reach it ([`key_access`]):
/// a handler taking `CurrentUser` is never reached by a key without the scope or a member
/// without the role.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub user: User,
    pub via: AuthVia,
    /// The API key's scopes; `None` for the browser session, which may do everything.
    pub scopes: Option<ApiKeyScopes>,
    /// The workspace this request acts in.
    pub workspace: WorkspaceId,
    /// The caller's current role there (an API key's member's, never more).
    pub role: Role,
}

impl CurrentUser {
    /// Who acts, where, with what role: what the domain's rules take.
    pub fn actor(&self) -> Actor {
        Actor {
            user: self.user.id,
            workspace: self.workspace,
            role: self.role,
        }
    }
}

/// The cookie naming the workspace chosen in the switcher (an id, nothing personal; the
/// session cookie stays the identity).
pub const WORKSPACE_COOKIE: &str = "mktpost_workspace";

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let user = match parts.extensions.get::<CurrentUser>() {
            Some(cached) => cached.clone(),
            None => {
                // Refuses a user being erased (`being_erased`) before their workspace is read.
                let user = authenticate(parts, state).await?;
                parts.extensions.insert(user.clone());
                user
            }
        };
        let route = parts
            .extensions
            .get::<MatchedPath>()
            .map(MatchedPath::as_str);
        if let Some(scopes) = &user.scopes {
            authorize_key(scopes, &parts.method, route)?;
        }
        crate::roles::authorize(user.role, &parts.method, route)?;
        Ok(user)
    }
}

/// What an API key needs to reach a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAccess {
    /// A key with this scope may.
    Scope(ApiKeyScope),
    /// No key may: only the person, signed in with the browser session.
    Session,
}

/// The routes API keys may reach and the scope each needs, by method and route as registered
/// in `crate::build_app`. Everything else is session-only for keys: pages, creating and
/// revoking keys, export, erasure, disconnecting an account, operations, signing out and
/// connecting TikTok. A new route is therefore closed to keys until it is listed here.
const KEY_ROUTES: &[(&str, &str, ApiKeyScope)] = &[
    ("GET", "/api/me", ApiKeyScope::Read),
    ("GET", "/api/keys", ApiKeyScope::Read),
    ("GET", "/api/posts", ApiKeyScope::Read),
    ("GET", "/api/posts/{id}", ApiKeyScope::Read),
    ("GET", "/api/media/{id}", ApiKeyScope::Read),
    ("POST", "/api/media", ApiKeyScope::Publish),
    ("DELETE", "/api/media/{id}", ApiKeyScope::Publish),
    ("POST", "/api/posts", ApiKeyScope::Publish),
    ("POST", "/api/post-groups", ApiKeyScope::Publish),
    ("DELETE", "/api/posts/{id}", ApiKeyScope::Publish),
    ("PATCH", "/api/posts/{id}", ApiKeyScope::Publish),
    ("POST", "/api/posts/{id}/retry", ApiKeyScope::Publish),
    ("GET", "/api/posts/{id}/video", ApiKeyScope::Read),
    ("PUT", "/api/posts/{id}/video", ApiKeyScope::Publish),
    ("POST", "/api/campaigns", ApiKeyScope::Campaigns),
    ("GET", "/api/accounts", ApiKeyScope::Accounts),
    (
        "GET",
        "/api/accounts/{id}/creator-info",
        ApiKeyScope::Accounts,
    ),
    ("GET", "/api/accounts/{id}/videos", ApiKeyScope::Accounts),
];

/// What an API key needs for `method` on `route` (the matched route pattern, `None` when
/// unknown). `HEAD` is answered by the `GET` handler, so it needs what `GET` needs.
pub fn key_access(method: &Method, route: Option<&str>) -> KeyAccess {
    let method = if *method == Method::HEAD {
        Method::GET.as_str()
    } else {
        method.as_str()
    };
    route
        .and_then(|route| {
            KEY_ROUTES
                .iter()
                .find(|(m, r, _)| *m == method && *r == route)
        })
        .map_or(KeyAccess::Session, |(_, _, scope)| KeyAccess::Scope(*scope))
}

fn authorize_key(
    scopes: &ApiKeyScopes,
    method: &Method,
    route: Option<&str>,
) -> Result<(), ApiError> {
    match key_access(method, route) {
        KeyAccess::Scope(scope) if scopes.contains(scope) => Ok(()),
        KeyAccess::Scope(scope) => Err(ApiError::Denied {
            code: "insufficient_scope",
            message: format!(
                "this API key lacks the `{scope}` scope; create a key with it on the Settings page"
            ),
        }),
        KeyAccess::Session => Err(session_required()),
    }
}

/// The answer to an API key on something only the person may do.
pub fn session_required() -> ApiError {
    ApiError::Denied {
        code: "session_required",
        message: "this needs you, signed in to MKT POST in your browser; an API key cannot do it"
            .into(),
    }
}

/// A user signed in with the browser session, for what only the person may do (keys, export,
/// erasure, disconnect, sign out everywhere, operations). [`key_access`] already keeps keys
/// away from these routes; taking this type says so in the handler's signature too.
pub struct SessionUser(pub CurrentUser);

impl FromRequestParts<AppState> for SessionUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let user = CurrentUser::from_request_parts(parts, state).await?;
        if user.via != AuthVia::Cookie {
            return Err(session_required());
        }
        Ok(SessionUser(user))
    }
}

/// The API key of an `Authorization: Bearer <key>` header. Only this scheme is a key: any
/// other `Authorization` header (`Basic`, …) is not, and neither skips the cross-site check.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

async fn authenticate(parts: &Parts, state: &AppState) -> Result<CurrentUser, ApiError> {
    match bearer(&parts.headers) {
        Some(key) => by_api_key(state, key).await,
        None => by_session_cookie(state, &parts.headers).await,
    }
}

/// The user of an API key, which is recorded as used.
async fn by_api_key(state: &AppState, key: &str) -> Result<CurrentUser, ApiError> {
    let stored = state
        .store
        .api_key_by_hash(&api_keys::hash(key))
        .await?
        .ok_or(ApiError::Unauthorized {
            code: "invalid_api_key",
            message: "this API key is not valid (revoked or mistyped)".into(),
        })?;
    let user = state
        .store
        .user(stored.user_id)
        .await
        .map_err(|_| ApiError::Unauthorized {
            code: "invalid_api_key",
            message: "this API key's account no longer exists".into(),
        })?;
    // Erasure revokes every way in at once, though the rows go a moment later.
    if user.erasing_since.is_some() {
        return Err(being_erased());
    }
    // A key acts as its member: gone with their membership, never above their current role.
    let member = state
        .store
        .member(stored.workspace_id, stored.user_id)
        .await?
        .ok_or(ApiError::Unauthorized {
            code: "invalid_api_key",
            message: "this API key's member has left its workspace".into(),
        })?;
    // Best effort: a failed "last used" write must not fail the request.
    if let Err(e) = state
        .store
        .touch_api_key(stored.id, chrono::Utc::now())
        .await
    {
        tracing::warn!(error = %e, "could not record API key use");
    }
    Ok(CurrentUser {
        user,
        via: AuthVia::ApiKey,
        scopes: Some(stored.scopes),
        workspace: member.workspace_id,
        role: member.role,
    })
}

/// The user of the session cookie, unless that session was ended (signed out, signed out
/// everywhere, or its account erased).
async fn by_session_cookie(state: &AppState, headers: &HeaderMap) -> Result<CurrentUser, ApiError> {
    let jar = CookieJar::from_headers(headers);
    let cookie = jar.get(COOKIE_NAME).ok_or(ApiError::Unauthenticated)?;
    let claims = state
        .sessions
        .verify(cookie.value())
        .map_err(|e| ApiError::Unauthorized {
            code: "invalid_session",
            message: e.to_string(),
        })?;
    let now = chrono::Utc::now();
    if state
        .store
        .session_revoked(&session::token_hash(cookie.value()), now)
        .await?
    {
        return Err(ApiError::Unauthorized {
            code: "session_revoked",
            message: "you signed out of this session; sign in again".into(),
        });
    }
    // An erased user's cookie may still be within its lifetime: the store is the truth.
    let user =
        state
            .store
            .user_by_google_uid(&claims.sub)
            .await?
            .ok_or(ApiError::Unauthorized {
                code: "session_user_gone",
                message: "this account no longer exists; sign in again".into(),
            })?;
    if claims.iat < user.sessions_valid_from() {
        // Older than the user row: an erased predecessor's session with the same Google
        // account (another device, kept since), ended for good by the erasure. Otherwise
        // older than "sign out everywhere".
        return Err(if claims.iat < user.created_at.timestamp() {
            ApiError::Unauthorized {
                code: "session_user_gone",
                message: "this session belongs to an account that was erased; sign in again".into(),
            }
        } else {
            ApiError::Unauthorized {
                code: "session_revoked",
                message: "you signed out everywhere after this session began; sign in again".into(),
            }
        });
    }
    // Erasure revokes every way in at once, though the rows go a moment later.
    if user.erasing_since.is_some() {
        return Err(being_erased());
    }
    let (workspace, role) = chosen_workspace(state, &jar, &user).await?;
    Ok(CurrentUser {
        user,
        via: AuthVia::Cookie,
        scopes: None,
        workspace,
        role,
    })
}

/// The workspace of a browser session: the switcher's choice while the user is a member of
/// it, else their personal workspace (made if missing, as at sign-in).
async fn chosen_workspace(
    state: &AppState,
    jar: &CookieJar,
    user: &User,
) -> Result<(WorkspaceId, Role), ApiError> {
    let chosen = jar
        .get(WORKSPACE_COOKIE)
        .and_then(|c| WorkspaceId::parse(c.value()).ok());
    if let Some(ws) = chosen
        && let Some(m) = state.store.member(ws, user.id).await?
    {
        return Ok((ws, m.role));
    }
    let personal = Workspace::personal_id(user.id);
    if state.store.member(personal, user.id).await?.is_none() {
        state.store.ensure_personal_workspace(user).await?;
    }
    match state.store.member(personal, user.id).await? {
        Some(m) => Ok((personal, m.role)),
        // Erased between reading the user and now.
        None => Err(ApiError::Unauthorized {
            code: "session_user_gone",
            message: "this account no longer exists; sign in again".into(),
        }),
    }
}

/// An operator: a user signed in with the session cookie (not an API key: a key leaked from a
/// posting script must not reach operations) whose Google uid is in `OPS_GOOGLE_UIDS`.
pub struct OpsUser(pub CurrentUser);

impl FromRequestParts<AppState> for OpsUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let SessionUser(user) = SessionUser::from_request_parts(parts, state).await?;
        if is_ops(state, &user.user) {
            Ok(OpsUser(user))
        } else {
            Err(ApiError::Forbidden(
                "this is for MKT POST's operators (OPS_GOOGLE_UIDS)".into(),
            ))
        }
    }
}

/// True when `user` is an operator.
pub fn is_ops(state: &AppState, user: &User) -> bool {
    state
        .config
        .identity
        .ops_google_uids
        .contains(&user.google_uid)
}

/// The answer to anyone acting as a user whose erasure is under way.
pub fn being_erased() -> ApiError {
    ApiError::Unauthorized {
        code: "account_being_erased",
        message: "this account is being erased at its owner's request; sign in again in a few \
                  minutes to start afresh"
            .into(),
    }
}

/// The session cookie with the promised flags: HttpOnly, SameSite=Lax, Path=/, Secure in production.
pub fn session_cookie(state: &AppState, jwt: String) -> Cookie<'static> {
    Cookie::build((COOKIE_NAME, jwt))
        .http_only(true)
        .same_site(SameSite::Lax)
        .path("/")
        .secure(state.config.is_production())
        .max_age(time_from(state.sessions.ttl()))
        .build()
}

/// A cookie that deletes the session.
pub fn cleared_session_cookie(state: &AppState) -> Cookie<'static> {
    let mut c = session_cookie(state, String::new());
    c.make_removal();
    c
}

fn time_from(d: std::time::Duration) -> time::Duration {
    time::Duration::seconds(d.as_secs() as i64)
}

/// Refuses cross-site state-changing requests that ride on the cookie: a write carrying the
/// session cookie (and no API key) must come with an `Origin` equal to our public URL's.
/// SameSite=Lax already stops most of this; the Origin check closes the rest (older browsers,
/// same-site sibling domains). Also guards `POST /auth/session` against login CSRF.
pub async fn require_same_origin(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let writes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    // Only a bearer key skips the check: a browser never sends one by itself, whereas any
    // other `Authorization` header (`Basic`, …) could ride along with the cookie.
    let has_key = bearer(req.headers()).is_some();
    let has_cookie = CookieJar::from_headers(req.headers())
        .get(COOKIE_NAME)
        .is_some();
    // Starting a sign-in sets the pending-state cookie: another site must not replace it.
    let is_login = matches!(req.uri().path(), "/auth/session" | "/auth/google/start");
    if writes && !has_key && (has_cookie || is_login) {
        let expected = state
            .config
            .server
            .public_url
            .origin()
            .ascii_serialization();
        let origin = req
            .headers()
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok());
        if origin != Some(expected.as_str()) {
            return Err(ApiError::Forbidden(
                "cross-site request refused: this action must come from MKT POST's own pages"
                    .into(),
            ));
        }
    }
    Ok(next.run(req).await)
}

/// The client IP: the socket peer, or what our trusted proxies saw (`crate::limits::ProxyTrust`).
pub fn client_ip(state: &AppState, req: &Request) -> Option<IpAddr> {
    state.limits.client_ip(req)
}

/// Per-IP limit on `/auth/*`.
pub async fn limit_auth(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let key = state.limits.ip_key(&req);
    state.limits.check_auth(&key)?;
    Ok(next.run(req).await)
}

/// Per-user limit on `/api/*` (per IP while unauthenticated, so anonymous floods are bounded too).
pub async fn limit_api(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let (mut parts, body) = req.into_parts();
    let key = match CurrentUser::from_request_parts(&mut parts, &state).await {
        Ok(u) => format!("user:{}", u.user.id),
        Err(_) => {
            let req = Request::from_parts(parts, body);
            let ip = state.limits.ip_key(&req);
            state.limits.check_api(&format!("ip:{ip}"))?;
            return Ok(next.run(req).await);
        }
    };
    state.limits.check_api(&key)?;
    Ok(next.run(Request::from_parts(parts, body)).await)
}

/// Per-IP limit on the page routes, as a route layer of `pages::router()`: the avatar proxy has
/// its own (tighter) bucket, and `/static/*` none (compiled-in bytes, cheaper than the check).
/// A refused page is the HTML "Slow down" page, with `Retry-After`.
pub async fn limit_pages(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    let key = state.limits.ip_key(&req);
    let checked = match route {
        Some(r) if r.starts_with("/static/") => Ok(()),
        Some("/accounts/{id}/avatar") => state.limits.check_avatar(&key),
        _ => state.limits.check_pages(&key),
    };
    match checked {
        Ok(()) => next.run(req).await,
        Err(e) => PageError::from(e).into_response(),
    }
}

/// Per-IP limit on `/readyz` (each call pings the store and the queue).
pub async fn limit_readyz(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    state.limits.check_readyz(&state.limits.ip_key(&req))?;
    Ok(next.run(req).await)
}
