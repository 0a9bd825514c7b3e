//! Liveness, readiness and metrics.
//!
//! `/readyz` answers for this process's dependencies (store, queue): a 503 takes the web
//! process out of its load balancer. The scheduler is reported there too (`checks.scheduler`:
//! `ok`, `stale` or `missing`, with its last heartbeat) but does not turn the answer into a 503
//! by default: a dead scheduler is not a reason to stop serving creators, and pulling every web
//! process would make it worse. A monitor that should go red when the scheduler dies asks
//! `/readyz?require=scheduler`, or alerts on `mktpost_scheduler_up == 0` from `/metrics`.
//!
//! `/readyz` touches the store and the queue, so it is limited per IP (`READYZ_RATE_PER_MIN`,
//! `crate::auth::limit_readyz`, wired in `build_app`); `/healthz` touches nothing and is never
//! limited, so a supervisor always gets its answer.

use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use jobs::ops::heartbeat::{self, Heartbeat, SchedulerHealth};
use jobs::queue::{QueueError, QueueStats};
use serde::Deserialize;
use serde_json::json;
use sha2::Digest as _;
use std::fmt::Write as _;

/// Alive: the process answers. Never touches dependencies (a slow database must not get the
/// process killed by its supervisor).
pub async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

#[derive(Debug, Deserialize)]
pub struct ReadyQuery {
    /// `scheduler`: a stale or missing scheduler heartbeat makes the answer 503 too.
    require: Option<String>,
}

/// Ready: the store and the queue answer. 503 names each failing dependency; the scheduler's
/// heartbeat is shown, and required with `?require=scheduler`.
pub async fn readyz(
    State(state): State<AppState>,
    Query(query): Query<ReadyQuery>,
) -> Result<Response, ApiError> {
    let require_scheduler = match query.require.as_deref() {
        None | Some("") => false,
        Some("scheduler") => true,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "require={other:?}: the only dependency that can be required is `scheduler`"
            )));
        }
    };
    let (store, queue, beat) = tokio::join!(
        state.store.ping(),
        state.queue.ping(),
        heartbeat::heartbeat(&state.jobs)
    );
    let mut failing = Vec::new();
    let mut checks = serde_json::Map::new();
    for (name, result) in [
        ("store", store.map_err(|e| e.to_string())),
        ("queue", queue.map_err(|e| e.to_string())),
    ] {
        match result {
            Ok(()) => {
                checks.insert(name.into(), json!("ok"));
            }
            Err(e) => {
                tracing::warn!(dependency = name, error = %e, "not ready");
                checks.insert(name.into(), json!("unavailable"));
                failing.push(name);
            }
        }
    }
    let scheduler = SchedulerHealth::of(beat.as_ref(), &state.config, Utc::now());
    checks.insert("scheduler".into(), json!(scheduler.as_str()));
    if require_scheduler && scheduler != SchedulerHealth::Ok {
        failing.push("scheduler");
    }
    // Public, so only what a probe needs: the heartbeat's details (instance, errors, sweeps)
    // are for operators (`/api/ops/queues`) and `/metrics`.
    let scheduler_detail = beat.map(|b| {
        json!({
            "last_tick_at": b.at,
            "age_ms": b.age_ms(Utc::now()),
        })
    });
    if !failing.is_empty() {
        let mut health = serde_json::Map::new();
        health.insert("status".into(), json!("not_ready"));
        health.insert("checks".into(), json!(checks));
        health.insert("scheduler".into(), json!(scheduler_detail));
        return Err(ApiError::NotReady { failing, health });
    }
    let status = if scheduler == SchedulerHealth::Ok {
        "ready"
    } else {
        "degraded"
    };
    Ok((
        StatusCode::OK,
        Json(json!({ "status": status, "checks": checks, "scheduler": scheduler_detail })),
    )
        .into_response())
}

/// Prometheus text exposition: dependencies, the scheduler's heartbeat and queue depths. Ids
/// and counts only: no user data. With `METRICS_TOKEN` set it needs that bearer token.
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(refused) = check_metrics_token(&state, &headers) {
        return refused.into_response();
    }
    let (store, queue, beat) = tokio::join!(
        state.store.ping(),
        state.queue.ping(),
        heartbeat::heartbeat(&state.jobs)
    );
    let mut stats = Vec::with_capacity(jobs::ops::JOBS.len());
    for job in jobs::ops::JOBS {
        stats.push((job, state.queue.stats(job).await));
    }
    let now = Utc::now();

    let mut m = Metrics::default();
    m.gauge(
        "mktpost_dependency_up",
        "1 when the dependency answers this process.",
        &[
            (
                &[("dependency", "store")][..],
                f64::from(u8::from(store.is_ok())),
            ),
            (
                &[("dependency", "queue")][..],
                f64::from(u8::from(queue.is_ok())),
            ),
        ],
    );
    let fresh = SchedulerHealth::of(beat.as_ref(), &state.config, now) == SchedulerHealth::Ok;
    m.gauge(
        "mktpost_scheduler_up",
        "1 when an active scheduler's heartbeat is fresh (younger than three lease TTLs).",
        &[(&[][..], f64::from(u8::from(fresh)))],
    );
    if let Some(b) = &beat {
        m.scheduler(b, now);
    }
    let slots = state.config.limits.passthrough_max_concurrent;
    let free = state.passthrough.available_permits();
    m.gauge(
        "mktpost_passthrough_uploads",
        "\"Post now\" uploads this web process is streaming to TikTok (PASSTHROUGH_MAX_CONCURRENT is the most).",
        &[(&[][..], slots.saturating_sub(free) as f64)],
    );
    m.queues(&stats);
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        m.out,
    )
        .into_response()
}

/// With `METRICS_TOKEN` set, refuses a request without that bearer token.
fn check_metrics_token(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(token) = &state.config.server.metrics_token else {
        return Ok(());
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    // Digests are compared, so the time taken says nothing about the token.
    let digest = |s: &str| sha2::Sha256::digest(s.as_bytes());
    if given.is_some_and(|g| digest(g) == digest(token.expose())) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized {
            code: "metrics_token_required",
            message: "/metrics needs `Authorization: Bearer <METRICS_TOKEN>`".into(),
        })
    }
}

/// A tiny writer for the Prometheus text format (names and label values are ours, so only the
/// format's own escapes are needed).
#[derive(Default)]
struct Metrics {
    out: String,
}

impl Metrics {
    /// The active scheduler's heartbeat: age, fencing token, enqueues, its last tick and
    /// sweeps.
    fn scheduler(&mut self, b: &Heartbeat, now: DateTime<Utc>) {
        self.gauge(
            "mktpost_scheduler_heartbeat_age_seconds",
            "Seconds since the active scheduler last ticked.",
            &[(&[][..], b.age(now).as_secs_f64())],
        );
        self.gauge(
            "mktpost_scheduler_fencing_token",
            "Fencing token of the active scheduler's lease (grows with every takeover).",
            &[(&[][..], b.fencing_token as f64)],
        );
        self.counter(
            "mktpost_scheduler_enqueued_total",
            "Due posts enqueued by the active scheduler since it became active.",
            &[(&[][..], b.enqueued_total as f64)],
        );
        let t = &b.last_tick;
        self.gauge(
            "mktpost_scheduler_last_tick_posts",
            "Posts in the last tick, by outcome.",
            &[
                (&[("outcome", "due")][..], t.due as f64),
                (&[("outcome", "enqueued")][..], t.enqueued as f64),
                (&[("outcome", "lost_race")][..], t.lost_races as f64),
                (&[("outcome", "failed")][..], t.failed as f64),
            ],
        );
        self.gauge(
            "mktpost_scheduler_last_tick_duration_seconds",
            "How long the last tick took.",
            &[(&[][..], t.took_ms as f64 / 1000.0)],
        );
        self.gauge(
            "mktpost_scheduler_last_tick_max_late_seconds",
            "The latest enqueue of the last tick, after its scheduled time (0 when none).",
            &[(&[][..], t.max_late_ms.unwrap_or(0).max(0) as f64 / 1000.0)],
        );
        let sweeps: Vec<(String, f64, f64)> = b
            .sweeps
            .iter()
            .map(|(name, r)| {
                (
                    name.clone(),
                    r.at.timestamp() as f64,
                    f64::from(u8::from(r.ok)),
                )
            })
            .collect();
        self.gauge_owned(
            "mktpost_scheduler_sweep_last_run_timestamp_seconds",
            "When each sweep last ran (Unix time).",
            "sweep",
            sweeps.iter().map(|(n, at, _)| (n.as_str(), *at)),
        );
        self.gauge_owned(
            "mktpost_scheduler_sweep_ok",
            "1 when the sweep's last run succeeded.",
            "sweep",
            sweeps.iter().map(|(n, _, ok)| (n.as_str(), *ok)),
        );
    }

    /// Each job queue's tasks by state; a queue that did not answer is left out.
    fn queues(&mut self, stats: &[(&str, Result<QueueStats, QueueError>)]) {
        let mut samples: Vec<(Vec<(&str, &str)>, f64)> = Vec::new();
        for (job, s) in stats {
            let Ok(s) = s else { continue };
            for (st, n) in [
                ("pending", s.pending),
                ("active", s.active),
                ("scheduled", s.scheduled),
                ("done", s.done),
                ("failed", s.failed),
                ("dead", s.dead),
            ] {
                samples.push((vec![("job", *job), ("state", st)], n as f64));
            }
        }
        let refs: Vec<(&[(&str, &str)], f64)> =
            samples.iter().map(|(l, v)| (l.as_slice(), *v)).collect();
        self.gauge(
            "mktpost_queue_tasks",
            "Tasks in each job queue, by state (dead tasks are replayable).",
            &refs,
        );
    }

    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let v = v
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n");
                let _ = write!(self.out, "{k}=\"{v}\"");
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }

    fn gauge(&mut self, name: &str, help: &str, samples: &[(&[(&str, &str)], f64)]) {
        self.family(name, "gauge", help);
        for (labels, value) in samples {
            self.sample(name, labels, *value);
        }
    }

    fn counter(&mut self, name: &str, help: &str, samples: &[(&[(&str, &str)], f64)]) {
        self.family(name, "counter", help);
        for (labels, value) in samples {
            self.sample(name, labels, *value);
        }
    }

    fn gauge_owned<'a>(
        &mut self,
        name: &str,
        help: &str,
        label: &str,
        samples: impl Iterator<Item = (&'a str, f64)>,
    ) {
        self.family(name, "gauge", help);
        for (v, value) in samples {
            self.sample(name, &[(label, v)], value);
        }
    }
}
