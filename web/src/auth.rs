//! Who is calling, and may they: the session cookie or an API key → [`CurrentUser`]; the
//! cross-site request check for cookie-authenticated writes; per-IP and per-user rate limits.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::Response;
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use jobs::identity::api_keys;
use jobs::identity::session::COOKIE_NAME;
use jobs::model::User;
use std::net::IpAddr;

/// How the caller authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthVia {
    Cookie,
    ApiKey,
}

/// The signed-in user, for handlers that require one.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub user: User,
    pub via: AuthVia,
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(cached) = parts.extensions.get::<CurrentUser>() {
            return Ok(cached.clone());
        }
        let user = authenticate(parts, state).await?;
        // Erasure revokes every way in at once, though the rows go a moment later (the job).
        if user.user.erasing_since.is_some() {
            return Err(being_erased());
        }
        parts.extensions.insert(user.clone());
        Ok(user)
    }
}

fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

async fn authenticate(parts: &Parts, state: &AppState) -> Result<CurrentUser, ApiError> {
    if let Some(key) = bearer(parts) {
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
        // Best effort: a failed "last used" write must not fail the request.
        if let Err(e) = state
            .store
            .touch_api_key(stored.id, chrono::Utc::now())
            .await
        {
            tracing::warn!(error = %e, "could not record API key use");
        }
        return Ok(CurrentUser {
            user,
            via: AuthVia::ApiKey,
        });
    }
    let jar = CookieJar::from_headers(&parts.headers);
    let cookie = jar.get(COOKIE_NAME).ok_or(ApiError::Unauthenticated)?;
    let claims = state
        .sessions
        .verify(cookie.value())
        .map_err(|e| ApiError::Unauthorized {
            code: "invalid_session",
            message: e.to_string(),
        })?;
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
    // A cookie issued before this user row existed belongs to an erased predecessor with the
    // same Google account (another device, kept since): erasure ended those sessions for good.
    if claims.iat < user.created_at.timestamp() {
        return Err(ApiError::Unauthorized {
            code: "session_user_gone",
            message: "this session belongs to an account that was erased; sign in again".into(),
        });
    }
    Ok(CurrentUser {
        user,
        via: AuthVia::Cookie,
    })
}

/// An operator: a user signed in with the session cookie (not an API key: a key leaked from a
/// posting script must not reach operations) whose Google uid is in `OPS_GOOGLE_UIDS`.
pub struct OpsUser(pub CurrentUser);

impl FromRequestParts<AppState> for OpsUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let user = CurrentUser::from_request_parts(parts, state).await?;
        if user.via != AuthVia::Cookie {
            return Err(ApiError::Forbidden(
                "operations need a signed-in browser session, not an API key".into(),
            ));
        }
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
    state.config.ops_google_uids.contains(&user.google_uid)
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
    let has_key = req.headers().get(header::AUTHORIZATION).is_some();
    let has_cookie = CookieJar::from_headers(req.headers())
        .get(COOKIE_NAME)
        .is_some();
    let is_login = req.uri().path() == "/auth/session";
    if writes && !has_key && (has_cookie || is_login) {
        let expected = state.config.public_url.origin().ascii_serialization();
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
