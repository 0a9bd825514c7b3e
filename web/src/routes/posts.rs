//! Posts: create (validated against live creator_info), history, one post, cancel, reschedule,
//! retry; approving or rejecting those that wait for approval.

use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::state::AppState;
use crate::views::post_json;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use jobs::domain::posts::{self, NewPost};
use jobs::domain::schedule_time;
use jobs::model::{Post, PostId, PostSource};
use serde::Deserialize;
use serde_json::json;

/// The request's `Idempotency-Key` (trimmed; absent or empty is `None`), refused when longer
/// than `max` characters.
pub fn idempotency_key(headers: &HeaderMap, max: usize) -> Result<Option<String>, ApiError> {
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty());
    if key.is_some_and(|k| k.len() > max) {
        return Err(ApiError::Invalid {
            code: "invalid_idempotency_key",
            message: format!("Idempotency-Key has at most {max} characters"),
        });
    }
    Ok(key.map(str::to_owned))
}

fn parse_id(s: &str) -> Result<PostId, ApiError> {
    PostId::parse(s).map_err(|_| ApiError::NotFound)
}

async fn username_of(state: &AppState, p: &Post) -> Option<String> {
    state
        .store
        .account(p.workspace_id, p.account_id)
        .await
        .ok()
        .and_then(|a| a.username)
}

#[derive(Deserialize)]
pub struct CreateBody {
    #[serde(flatten)]
    post: NewPost,
    /// RFC 3339 with an offset, a local time with `scheduled_tz`, or "now"/absent.
    scheduled_at: Option<String>,
    scheduled_tz: Option<String>,
}

/// `POST /api/posts` → 202 with the post (200 when an Idempotency-Key replays an earlier request).
pub async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    body: Result<Json<CreateBody>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let Json(body) = body.map_err(|e| ApiError::Invalid {
        code: "invalid_body",
        message: e.body_text(),
    })?;
    let key = idempotency_key(&headers, 200)?;
    let scheduled = match body.scheduled_at.as_deref().map(str::trim) {
        None | Some("") | Some("now") => None,
        Some(at) => {
            let s = schedule_time::parse_schedule_within(
                at,
                body.scheduled_tz.as_deref(),
                chrono::Utc::now(),
                state.config.limits.schedule_horizon,
            )?;
            Some((s.utc, s.tz))
        }
    };
    let created = posts::create(&state.jobs, user.actor(), body.post, scheduled, key).await?;
    // A pass-through post exists but waits for its bytes (201, `upload_path`); any other new
    // post is on its way (202).
    let status = match (created.created, &created.value.source) {
        (false, _) => StatusCode::OK,
        (true, PostSource::Stream) => StatusCode::CREATED,
        (true, _) => StatusCode::ACCEPTED,
    };
    let username = username_of(&state, &created.value).await;
    Ok((status, Json(post_json(&created.value, username.as_deref()))))
}

#[derive(Deserialize)]
pub struct ListQuery {
    cursor: Option<String>,
    limit: Option<u32>,
}

/// `GET /api/posts?cursor=&limit=`: newest first.
pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<ListQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let limit = q.limit.unwrap_or(20).clamp(1, 100);
    let page = state
        .store
        .list_posts(user.workspace, q.cursor.as_deref(), limit)
        .await
        .map_err(|e| match e {
            jobs::store::StoreError::Backend(_) if q.cursor.is_some() => ApiError::Invalid {
                code: "invalid_cursor",
                message: "this cursor is not valid".into(),
            },
            e => e.into(),
        })?;
    let accounts = state.store.list_accounts(user.workspace).await?;
    let username = |p: &Post| {
        accounts
            .iter()
            .find(|a| a.id == p.account_id)
            .and_then(|a| a.username.clone())
    };
    Ok(Json(json!({
        "posts": page.items.iter().map(|p| post_json(p, username(p).as_deref())).collect::<Vec<_>>(),
        "next_cursor": page.next_cursor,
    })))
}

/// `GET /api/posts/{id}`.
pub async fn get(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let post = state.store.post(user.workspace, parse_id(&id)?).await?;
    let username = username_of(&state, &post).await;
    Ok(Json(post_json(&post, username.as_deref())))
}

/// `DELETE /api/posts/{id}`: cancel while not yet uploading; else 409 with why.
pub async fn cancel(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let post = posts::cancel(&state.jobs, user.workspace, parse_id(&id)?).await?;
    Ok(Json(post_json(&post, None)))
}

#[derive(Deserialize)]
pub struct PatchBody {
    scheduled_at: String,
    scheduled_tz: Option<String>,
}

/// `PATCH /api/posts/{id} {scheduled_at, scheduled_tz?}`: reschedule while still scheduled.
pub async fn reschedule(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Json(body): Json<PatchBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let schedule = schedule_time::parse_schedule_within(
        &body.scheduled_at,
        body.scheduled_tz.as_deref(),
        chrono::Utc::now(),
        state.config.limits.schedule_horizon,
    )?;
    let post = schedule_time::reschedule(
        state.store.as_ref(),
        user.workspace,
        parse_id(&id)?,
        &schedule,
    )
    .await?;
    Ok(Json(post_json(&post, None)))
}

/// `POST /api/posts/{id}/retry`: replay a failed or stalled post when TikTok cannot still
/// publish it.
pub async fn retry(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let post = posts::replay(&state.jobs, user.workspace, parse_id(&id)?).await?;
    Ok((StatusCode::ACCEPTED, Json(post_json(&post, None))))
}

#[derive(Deserialize)]
pub struct Decision {
    /// The post's version the approver saw (compare-and-set).
    version: i64,
    #[serde(default)]
    comment: String,
}

/// `GET /api/approvals` (admins and owners): the posts waiting for approval, oldest first.
pub async fn approvals(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Json<serde_json::Value>, ApiError> {
    let waiting = posts::approval::queue(&state.jobs, user.actor()).await?;
    let views: Vec<_> = waiting.iter().map(|p| post_json(p, None)).collect();
    Ok(Json(json!({ "posts": views })))
}

/// `POST /api/posts/{id}/approve {version}`: it goes on as it would have (scheduled, or sent
/// now). 409 when someone decided first or it changed since.
pub async fn approve(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Json(body): Json<Decision>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id = parse_id(&id)?;
    let post = posts::approval::approve(&state.jobs, user.actor(), id, body.version).await?;
    Ok(Json(post_json(&post, None)))
}

/// `POST /api/posts/{id}/reject {version, comment}`: cancelled, its video deleted; the comment
/// is what the author reads.
pub async fn reject(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Json(body): Json<Decision>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id = parse_id(&id)?;
    let actor = user.actor();
    let post = posts::approval::reject(&state.jobs, actor, id, body.version, &body.comment).await?;
    Ok(Json(post_json(&post, None)))
}
