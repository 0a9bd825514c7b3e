//! Liveness and readiness.

use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;

/// Alive: the process answers. Never touches dependencies (a slow database must not get the
/// process killed by its supervisor).
pub async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// Ready: the store and the queue answer. 503 names each failing dependency.
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let (store, queue) = tokio::join!(state.store.ping(), state.queue.ping());
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
    if failing.is_empty() {
        (
            StatusCode::OK,
            Json(json!({ "status": "ready", "checks": checks })),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({
                "status": "not_ready",
                "checks": checks,
                "error": { "code": "not_ready", "message": format!("unavailable: {}", failing.join(", ")) }
            })),
        )
    }
}
