//! Workspaces (issue #16): the caller's workspaces and the switcher, making one, its settings,
//! its members and its invitations. Everything acts on the caller's current workspace (the
//! switcher's choice, [`WORKSPACE_COOKIE`]); who may do what is the domain's table, asked
//! again here for each change. All of it needs the browser session: no API key reaches it.

use crate::auth::{SessionUser, WORKSPACE_COOKIE};
use crate::error::ApiError;
use crate::state::AppState;
use crate::views::{invitation_json, member_json, workspace_json};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use jobs::domain::workspaces::{invitations, members, settings};
use jobs::model::{InvitationId, Role, UserId, WorkspaceId};
use serde::Deserialize;
use serde_json::{Value, json};

/// The switcher's cookie: an id only, HttpOnly, like the session it goes with.
fn workspace_cookie(state: &AppState, ws: WorkspaceId) -> Cookie<'static> {
    Cookie::build((WORKSPACE_COOKIE, ws.to_string()))
        .http_only(true)
        .same_site(SameSite::Lax)
        .path("/")
        .secure(state.config.is_production())
        .build()
}

/// `GET /api/workspaces`: every workspace the caller is a member of, with their role, the
/// current one marked.
pub async fn list(
    State(state): State<AppState>,
    SessionUser(user): SessionUser,
) -> Result<Json<Value>, ApiError> {
    let all = state.store.workspaces_of(user.user.id).await?;
    let views: Vec<Value> = all
        .iter()
        .map(|(w, role)| workspace_json(w, *role, w.id == user.workspace))
        .collect();
    Ok(Json(json!({ "workspaces": views })))
}

#[derive(Deserialize)]
pub struct NewWorkspace {
    #[serde(default)]
    name: String,
}

/// `POST /api/workspaces {name}` → 201: a team workspace with the caller as its owner, and
/// the switcher moved to it.
pub async fn create(
    State(state): State<AppState>,
    SessionUser(user): SessionUser,
    jar: CookieJar,
    Json(body): Json<NewWorkspace>,
) -> Result<impl IntoResponse, ApiError> {
    let ws = settings::create(&*state.store, &user.user, &body.name).await?;
    let jar = jar.add(workspace_cookie(&state, ws.id));
    let view = workspace_json(&ws, Role::Owner, true);
    Ok((StatusCode::CREATED, jar, Json(view)))
}

#[derive(Deserialize)]
pub struct Switch {
    workspace_id: String,
}

/// `PUT /api/workspaces/current {workspace_id}`: the switcher. 404 for a workspace the caller
/// is not a member of (its existence is not theirs to learn).
pub async fn switch(
    State(state): State<AppState>,
    SessionUser(user): SessionUser,
    jar: CookieJar,
    Json(body): Json<Switch>,
) -> Result<impl IntoResponse, ApiError> {
    let ws = WorkspaceId::parse(&body.workspace_id).map_err(|_| ApiError::NotFound)?;
    let member = state.store.member(ws, user.user.id).await?;
    let member = member.ok_or(ApiError::NotFound)?;
    let workspace = state.store.workspace(ws).await?;
    let jar = jar.add(workspace_cookie(&state, ws));
    Ok((jar, Json(workspace_json(&workspace, member.role, true))))
}

/// `DELETE /api/workspaces/current` (owners, team workspaces): its unsent posts are cancelled
/// at once and the `delete_workspace` job revokes its accounts at TikTok and deletes the rest;
/// 202, and this browser is back in its personal workspace.
pub async fn delete(
    State(state): State<AppState>,
    SessionUser(user): SessionUser,
    jar: CookieJar,
) -> Result<impl IntoResponse, ApiError> {
    jobs::handlers::delete_workspace::request(&state.jobs, user.actor()).await?;
    let jar = jar.remove(Cookie::build(WORKSPACE_COOKIE).path("/"));
    let body = json!({ "status": "deleting", "workspace_id": user.workspace });
    Ok((StatusCode::ACCEPTED, jar, Json(body)))
}

#[derive(Deserialize)]
pub struct SettingsBody {
    /// The version the caller saw (compare-and-set).
    version: i64,
    name: Option<String>,
    approval_required: Option<bool>,
}

/// `PATCH /api/workspaces/current {version, name?, approval_required?}` (owners).
pub async fn update(
    State(state): State<AppState>,
    SessionUser(user): SessionUser,
    Json(body): Json<SettingsBody>,
) -> Result<Json<Value>, ApiError> {
    let actor = user.actor();
    let change = settings::SettingsChange {
        name: body.name,
        approval_required: body.approval_required,
    };
    let ws = settings::update(&*state.store, actor, body.version, &change).await?;
    Ok(Json(workspace_json(&ws, actor.role, true)))
}

/// `GET /api/workspaces/current/members`.
pub async fn list_members(
    State(state): State<AppState>,
    SessionUser(user): SessionUser,
) -> Result<Json<Value>, ApiError> {
    let all = members::list(&*state.store, user.actor()).await?;
    let views: Vec<Value> = all.iter().map(|(m, u)| member_json(m, u)).collect();
    Ok(Json(json!({ "members": views })))
}

#[derive(Deserialize)]
pub struct RoleBody {
    role: String,
}

fn user_id(id: &str) -> Result<UserId, ApiError> {
    UserId::parse(id).map_err(|_| ApiError::NotFound)
}

fn role(name: &str) -> Result<Role, ApiError> {
    Role::parse(name).map_err(|e| ApiError::Invalid {
        code: "unknown_role",
        message: e.to_string(),
    })
}

/// `PATCH /api/workspaces/current/members/{id} {role}`.
pub async fn change_role(
    State(state): State<AppState>,
    SessionUser(user): SessionUser,
    Path(id): Path<String>,
    Json(body): Json<RoleBody>,
) -> Result<Json<Value>, ApiError> {
    let (target, role) = (user_id(&id)?, role(&body.role)?);
    let m = members::change_role(&*state.store, user.actor(), target, role).await?;
    let profile = state.store.user(m.user_id).await?;
    Ok(Json(member_json(&m, &profile)))
}

/// `DELETE /api/workspaces/current/members/{id}`: removes them (or, for oneself, leaves).
/// Their sessions and keys lose the workspace at once.
pub async fn remove_member(
    State(state): State<AppState>,
    SessionUser(user): SessionUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let target = user_id(&id)?;
    members::remove(&*state.store, user.actor(), target).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/workspaces/current/invitations`: the open ones, newest first.
pub async fn list_invitations(
    State(state): State<AppState>,
    SessionUser(user): SessionUser,
) -> Result<Json<Value>, ApiError> {
    let open = invitations::pending(&*state.store, user.actor()).await?;
    let views: Vec<Value> = open.iter().map(invitation_json).collect();
    Ok(Json(json!({ "invitations": views })))
}

#[derive(Deserialize)]
pub struct InviteBody {
    #[serde(default)]
    email: String,
    role: String,
}

/// `POST /api/workspaces/current/invitations {email, role}` → 201 with the single-use link,
/// the only time it is shown (only its hash is kept); the inviter sends it.
pub async fn invite(
    State(state): State<AppState>,
    SessionUser(user): SessionUser,
    Json(body): Json<InviteBody>,
) -> Result<impl IntoResponse, ApiError> {
    let role = role(&body.role)?;
    let actor = user.actor();
    let sent =
        invitations::invite(&*state.store, actor.workspace, actor, &body.email, role).await?;
    // The token rides in the fragment: browsers never send it to a server (no access log,
    // no Referer); the join page hands it to the API itself.
    let mut link = state.config.server.public_url.clone();
    link.set_path("/join");
    link.set_fragment(Some(&sent.token));
    let mut view = invitation_json(&sent.invitation);
    view["link"] = json!(link.as_str());
    Ok((StatusCode::CREATED, Json(view)))
}

/// `DELETE /api/workspaces/current/invitations/{id}`.
pub async fn revoke_invitation(
    State(state): State<AppState>,
    SessionUser(user): SessionUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = InvitationId::parse(&id).map_err(|_| ApiError::NotFound)?;
    invitations::revoke(&*state.store, user.actor(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct AcceptBody {
    #[serde(default)]
    token: String,
}

/// `POST /api/invitations/accept {token}`: joins the invitation's workspace as the signed-in
/// Google account (it must be the invited email) and switches to it.
pub async fn accept(
    State(state): State<AppState>,
    SessionUser(user): SessionUser,
    jar: CookieJar,
    Json(body): Json<AcceptBody>,
) -> Result<impl IntoResponse, ApiError> {
    let now = chrono::Utc::now();
    let ws = invitations::accept(&*state.store, &user.user, &body.token, now).await?;
    let member = state.store.member(ws.id, user.user.id).await?;
    let role = member.ok_or(ApiError::NotFound)?.role;
    let jar = jar.add(workspace_cookie(&state, ws.id));
    Ok((jar, Json(workspace_json(&ws, role, true))))
}
