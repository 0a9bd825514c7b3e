//! The creator's own data: `GET /api/export` (everything we hold about them, as one JSON
//! document) and `DELETE /api/me` (erase it all; `jobs::handlers::erase_user` does the work);
//! a workspace's export for its owners and its audit log for its admins.

use crate::auth::{SessionUser, cleared_session_cookie};
use crate::error::ApiError;
use crate::state::AppState;
use crate::views::{account_json, invitation_json, key_json, member_json, post_json};
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum_extra::extract::CookieJar;
use chrono::Utc;
use jobs::model::{ApiKey, AuditEvent, Media, Post, TikTokAccount};
use serde_json::{Map, Value, json};
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

/// The content part of an export (a person's personal workspace, or a team's): accounts (that
/// we hold tokens and until when, never the tokens), posts, staged videos, keys, audit events.
fn content_json(
    accounts: &[TikTokAccount],
    posts: &[Post],
    media: &[Media],
    keys: &[ApiKey],
    audit: &[AuditEvent],
) -> Map<String, Value> {
    let usernames: HashMap<_, _> = accounts
        .iter()
        .map(|a| (a.id, a.username.clone()))
        .collect();
    let posts: Vec<_> = posts
        .iter()
        .map(|p| {
            let username = usernames.get(&p.account_id).cloned().flatten();
            post_json(p, username.as_deref())
        })
        .collect();
    let accounts: Vec<_> = accounts
        .iter()
        .map(|a| {
            let mut v = account_json(a);
            v["tokens"] = json!(if a.tokens.is_some() {
                "held, encrypted with AES-256-GCM; not included (they are credentials)"
            } else {
                "none held"
            });
            v
        })
        .collect();
    let mut out = Map::new();
    out.insert("tiktok_accounts".into(), json!(accounts));
    out.insert("posts".into(), json!(posts));
    let media: Vec<_> = media.iter().map(media_json).collect();
    out.insert("staged_videos".into(), json!(media));
    let keys: Vec<_> = keys.iter().map(key_json).collect();
    out.insert("api_keys".into(), json!(keys));
    out.insert("audit_events".into(), json!(audit));
    out
}

/// The export as a dated JSON attachment, never cached.
fn attachment(name: &str, body: Value) -> impl IntoResponse + use<> {
    let filename = format!(
        "attachment; filename=\"{name}-{}.json\"",
        Utc::now().format("%Y-%m-%d")
    );
    (
        [
            (header::CONTENT_DISPOSITION, filename),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        Json(body),
    )
}

/// `GET /api/export`: everything MKT POST holds about the caller, as a JSON attachment: their
/// profile, their personal workspace's content and the workspaces they are a member of.
/// TikTok tokens are listed (that we hold them, their expiry) but not included: they are
/// credentials, stored only encrypted.
/// Browser session only: an export holds everything, more than any key's scope.
pub async fn export(
    State(state): State<AppState>,
    SessionUser(user): SessionUser,
) -> Result<impl IntoResponse, ApiError> {
    let user = user.user;
    let e = jobs::domain::export::gather(&state.jobs, user.id).await?;
    let mut body = json!({
        "format": EXPORT_FORMAT,
        "exported_at": Utc::now(),
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
        "workspaces": e.memberships.iter().map(|(ws, role)| json!({
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
    let content = content_json(&e.accounts, &e.posts, &e.media, &e.api_keys, &e.audit);
    if let Some(obj) = body.as_object_mut() {
        obj.extend(content);
    }
    Ok(attachment("mktpost-export", body))
}

/// `GET /api/workspaces/current/export` (owners): everything the current workspace holds, its
/// members (with their emails) and open invitations, as a JSON attachment.
pub async fn export_workspace(
    State(state): State<AppState>,
    SessionUser(user): SessionUser,
) -> Result<impl IntoResponse, ApiError> {
    let e = jobs::domain::export::gather_workspace(&state.jobs, &user.actor()).await?;
    let mut body = json!({
        "format": EXPORT_FORMAT,
        "exported_at": Utc::now(),
        "workspace": {
            "id": e.workspace.id,
            "name": e.workspace.name,
            "personal": e.workspace.personal,
            "approval_required": e.workspace.approval_required,
            "created_at": e.workspace.created_at,
        },
        "members": e.members.iter().map(|(m, u)| member_json(m, u)).collect::<Vec<_>>(),
        "invitations": e.invitations.iter().map(invitation_json).collect::<Vec<_>>(),
    });
    let content = content_json(&e.accounts, &e.posts, &e.media, &e.api_keys, &e.audit);
    if let Some(obj) = body.as_object_mut() {
        obj.extend(content);
    }
    Ok(attachment("mktpost-workspace-export", body))
}

/// `GET /api/workspaces/current/audit?limit=` (admins): the workspace's activity, newest
/// first, each event with who did it (`actor_id`; `null`: the system, or a former member).
pub async fn audit_log(
    State(state): State<AppState>,
    SessionUser(user): SessionUser,
) -> Result<Json<Value>, ApiError> {
    const LIMIT: u32 = 500;
    let events = state.store.list_audit(user.workspace, LIMIT).await?;
    Ok(Json(json!({ "events": events })))
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
