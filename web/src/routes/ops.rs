//! `/api/ops/*`: what operators watch and do (see `jobs::ops`): queue depths, the scheduler's
//! heartbeat, dead tasks, and replaying or discarding them. Operators only ([`OpsUser`]).

use crate::auth::OpsUser;
use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::Utc;
use jobs::ops::heartbeat::{self, SchedulerHealth};
use jobs::ops::{self, OpsError};
use jobs::queue::TaskId;
use serde::Deserialize;
use serde_json::json;

fn task_id(s: &str) -> Result<TaskId, ApiError> {
    TaskId::parse(s).ok_or(ApiError::NotFound)
}

/// `GET /api/ops/queues`: every queue's counts and the scheduler's heartbeat.
pub async fn queues(
    State(state): State<AppState>,
    _ops: OpsUser,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (queues, beat) = tokio::join!(
        ops::overview(&state.jobs),
        heartbeat::heartbeat(&state.jobs)
    );
    let queues = queues.map_err(OpsError::Queue)?;
    let now = Utc::now();
    let health = SchedulerHealth::of(beat.as_ref(), &state.config, now).as_str();
    let scheduler = match &beat {
        None => json!({ "health": health }),
        Some(b) => json!({
            "health": health,
            "instance": b.instance,
            "last_tick_at": b.at,
            "age_ms": b.age_ms(now),
            "enqueued_total": b.enqueued_total,
            "last_tick": b.last_tick,
            "sweeps": b.sweeps,
        }),
    };
    Ok(Json(json!({ "queues": queues, "scheduler": scheduler })))
}

#[derive(Debug, Deserialize)]
pub struct DeadQuery {
    limit: Option<usize>,
}

/// `GET /api/ops/queues/{job}/dead?limit=50`: dead tasks, newest first (payloads are ids).
pub async fn dead(
    State(state): State<AppState>,
    _ops: OpsUser,
    Path(job): Path<String>,
    Query(q): Query<DeadQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let dead = ops::dead(&state.jobs, &job, limit).await?;
    Ok(Json(json!({ "job": job, "dead": dead })))
}

/// `POST /api/ops/queues/{job}/dead/{task_id}/replay`: queue it again if that is safe; 202 with
/// the new task's id, or 409 with why not.
pub async fn replay(
    State(state): State<AppState>,
    OpsUser(user): OpsUser,
    Path((job, id)): Path<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let id = task_id(&id)?;
    let new_id = ops::replay(&state.jobs, &job, &id).await?;
    tracing::info!(operator = %user.user.id, job, task_id = %id, "dead task replayed by an operator");
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "job": job, "replayed": id, "task_id": new_id })),
    ))
}

/// `DELETE /api/ops/queues/{job}/dead/{task_id}`: dismiss it for good.
pub async fn discard(
    State(state): State<AppState>,
    OpsUser(user): OpsUser,
    Path((job, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let id = task_id(&id)?;
    ops::discard(&state.jobs, &job, &id).await?;
    tracing::info!(operator = %user.user.id, job, task_id = %id, "dead task discarded by an operator");
    Ok(StatusCode::NO_CONTENT)
}
