//! `/ops`: the operators' dashboard (queue depths, the scheduler's health, dead tasks with
//! replay and discard). Operators only (`OPS_GOOGLE_UIDS`); the script calls `/api/ops/*`.

use super::frame::{SignedInSession, render};
use crate::auth::is_ops;
use crate::error::ApiError;
use crate::error::PageError;
use crate::state::AppState;
use crate::views::Nav;
use askama::Template;
use axum::extract::State;
use axum::response::Response;
use chrono::Utc;
use jobs::ops::heartbeat::{self, SchedulerHealth};

/// Dead tasks shown per job.
const DEAD_PER_JOB: usize = 20;

pub struct QueueRow {
    pub job: &'static str,
    pub pending: u64,
    pub active: u64,
    pub scheduled: u64,
    pub failed: u64,
    pub dead: u64,
    pub done: u64,
}

pub struct DeadRow {
    pub job: &'static str,
    pub task_id: String,
    pub payload: String,
    pub attempts: u32,
    pub last_error: String,
    pub failed_at: String,
}

#[derive(Template)]
#[template(path = "ops.html")]
struct OpsPage {
    nav: Nav,
    scheduler_health: &'static str,
    scheduler_detail: String,
    queues: Vec<QueueRow>,
    dead: Vec<DeadRow>,
}

/// `GET /ops`. The browser session of an operator only: like `/api/ops/*` (`OpsUser`), a
/// key leaked from a posting script must not reach operations, even an operator's key.
pub async fn page(
    State(state): State<AppState>,
    SignedInSession(user, me): SignedInSession,
) -> Result<Response, PageError> {
    if !is_ops(&state, &user) {
        return Err(ApiError::Forbidden("this page is for MKT POST's operators".into()).into());
    }
    let overview = jobs::ops::overview(&state.jobs)
        .await
        .map_err(|_| ApiError::Unavailable("the queue".into()))?;
    let mut dead = Vec::new();
    for job in jobs::ops::JOBS {
        let tasks = jobs::ops::dead(&state.jobs, job, DEAD_PER_JOB)
            .await
            .map_err(|_| ApiError::Unavailable("the queue".into()))?;
        dead.extend(tasks.into_iter().map(|d| {
            DeadRow {
                job,
                task_id: d.task_id.as_str().to_owned(),
                payload: d.payload.to_string(),
                attempts: d.attempts,
                last_error: d.last_error.unwrap_or_default(),
                failed_at: d
                    .failed_at
                    .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                    .unwrap_or_default(),
            }
        }));
    }
    let now = Utc::now();
    let beat = heartbeat::heartbeat(&state.jobs).await;
    let scheduler_health = SchedulerHealth::of(beat.as_ref(), &state.config, now).as_str();
    let scheduler_detail = match &beat {
        None => "no scheduler has ever reported".to_owned(),
        Some(b) => format!("last tick {} s ago by {}", b.age(now).as_secs(), b.instance),
    };
    render(&OpsPage {
        nav: Nav::signed_in(&*state.store, &user, &me, "/ops").await?,
        scheduler_health,
        scheduler_detail,
        queues: overview
            .into_iter()
            .map(|q| QueueRow {
                job: q.job,
                pending: q.stats.pending,
                active: q.stats.active,
                scheduled: q.stats.scheduled,
                failed: q.stats.failed,
                dead: q.stats.dead,
                done: q.stats.done,
            })
            .collect(),
        dead,
    })
}
