//! The creator's own data: `GET /api/export` (everything we hold about them, as one JSON
//! document) and `DELETE /api/me` (erase it all; `jobs::handlers::erase_user` does the work).

use crate::auth::{SessionUser, cleared_session_cookie};
use crate::error::ApiError;
use crate::state::AppState;
use crate::views::{account_json, key_json, post_json};
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum_extra::extract::CookieJar;
use chrono::Utc;
use jobs::model::Media;
use serde_json::json;
use std::collections::HashMap;

/// The export's format name; bump the number when a field changes meaning.
pub const EXPORT_FORMAT: &str = "mktpost-export/1";

fn media_json(m: &Media) -> serde_json::Value {
    json!({
        "id": m.id,
        "size_bytes": m.size,
        "container": m.container,
        "duration_ms": m.duration_ms,
        "post_id": m.post_id,
        "uploaded_at": m.created_at,
        "delete_by": m.expires_at,
        "note": "the video itself is stored encrypted until TikTok confirms it received it; it is not part of the export",
    })
}

/// `GET /api/export`: everything MKT POST holds about the caller, as a JSON attachment.
/// TikTok tokens are listed (that we hold them, their expiry) but not included: they are
/// credentials, stored only encrypted.
/// Browser session only: an export holds everything, more than any key's scope.
pub async fn export(
    State(state): State<AppState>,
    SessionUser(user): SessionUser,
) -> Result<impl IntoResponse, ApiError> {
    let user = user.user;
    let export = jobs::domain::export::gather(&state.jobs, user.id).await?;
    let usernames: HashMap<_, _> = export
        .accounts
        .iter()
        .map(|a| (a.id, a.username.clone()))
        .collect();
    let posts: Vec<_> = export
        .posts
        .iter()
        .map(|p| {
            let username = usernames.get(&p.account_id).cloned().flatten();
            post_json(p, username.as_deref())
        })
        .collect();
    let now = Utc::now();
    let body = json!({
        "format": EXPORT_FORMAT,
        "exported_at": now,
        "user": {
            "id": user.id,
            "google_uid": user.google_uid,
            "email": user.email,
            "name": user.name,
            "picture": user.picture,
            "created_at": user.created_at,
            "updated_at": user.updated_at,
            "sessions_revoked_at": user.sessions_revoked_at,
        },
        "tiktok_accounts": export.accounts.iter().map(|a| {
            let mut v = account_json(a);
            v["tokens"] = json!(if a.tokens.is_some() {
                "held, encrypted with AES-256-GCM; not included (they are credentials)"
            } else {
                "none held"
            });
            v
        }).collect::<Vec<_>>(),
        "posts": posts,
        "staged_videos": export.media.iter().map(media_json).collect::<Vec<_>>(),
        "api_keys": export.api_keys.iter().map(key_json).collect::<Vec<_>>(),
        "audit_events": export.audit,
        "workspaces": export.memberships.iter().map(|(ws, role)| json!({
            "id": ws.id,
            "name": ws.name,
            "personal": ws.personal,
            "role": role,
        })).collect::<Vec<_>>(),
        "technical_logs": format!(
            "Request logs hold IP address, user agent, time, method, route, status and latency, \
             with no user id, so they cannot be tied to you; they are deleted after {} days.",
            state.config.scheduler.log_retention_days
        ),
    });
    let filename = format!(
        "attachment; filename=\"mktpost-export-{}.json\"",
        now.format("%Y-%m-%d")
    );
    Ok((
        [
            (header::CONTENT_DISPOSITION, filename),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        Json(body),
    ))
}

/// `DELETE /api/me`: erase everything. The user is marked at once (every session and API key
/// stops working, and this browser's cookie is cleared); the `erase_user` job revokes TikTok
/// access and deletes the rows and videos within moments. 202 with what happens next.
pub async fn erase(
    State(state): State<AppState>,
    // Irreversible: not something a key leaked from a posting script may do.
    SessionUser(user): SessionUser,
    jar: CookieJar,
) -> Result<impl IntoResponse, ApiError> {
    let marked = jobs::handlers::erase_user::request(&state.jobs, user.user.id).await?;
    Ok((
        StatusCode::ACCEPTED,
        jar.add(cleared_session_cookie(&state)),
        Json(json!({
            "status": "erasing",
            "erasing_since": marked.erasing_since,
            "message": "We are erasing your data: your TikTok accounts are being disconnected (our \
                        access revoked at TikTok), scheduled posts cancelled, staged videos and \
                        every record deleted. Videos already on TikTok stay there; delete them \
                        in the TikTok app.",
        })),
    ))
}
