//! What became of a publish: `status/fetch` (with TikTok's per-status body shapes) and
//! `cancel` while a PULL download is still running (tiktok-api.md §5).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::v2::{
    Caller, Gate, PostRequest, V2Error, V2Result, admit, authenticate, json_body, locked, ok,
    respond,
};
use crate::ids::log_id;
use crate::state::Inner;
use crate::state::task::{PublishTask, Source, Status, WebhookEvent};

// The rate-limited endpoints here: who may call them, and the bucket each counts in.
const STATUS_FETCH: Gate = Gate::new(&["video.upload", "video.publish"], "status.fetch", |r| {
    r.status_fetch
});

fn publish_id_of(body: &Value) -> Result<String, V2Error> {
    body.get("publish_id")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| V2Error::invalid_params("publish_id is required."))
}

fn owned_task<'a>(
    inner: &'a mut Inner,
    caller: &Caller,
    publish_id: &str,
) -> Result<&'a mut PublishTask, V2Error> {
    let task = inner.tiktok.task_mut(publish_id).ok_or_else(|| {
        V2Error::new(
            StatusCode::BAD_REQUEST,
            "invalid_publish_id",
            "The publish_id does not exist.",
        )
    })?;
    if task.open_id != caller.open_id || task.client_key != caller.client_key {
        return Err(V2Error::new(
            StatusCode::BAD_REQUEST,
            "token_not_authorized_for_specified_publish_id",
            "The access token is not authorized for the specified publish_id.",
        ));
    }
    Ok(task)
}

/// `POST /v2/post/publish/status/fetch/`.
pub(crate) async fn status_fetch((State(s), headers, body): PostRequest) -> Response {
    s.settle();
    locked(&s, |inner, now| {
        let caller = admit(inner, &headers, now, &STATUS_FETCH)?;
        let body = json_body(&headers, &body, false)?;
        let publish_id = publish_id_of(&body)?;
        let omit_uploaded_bytes = inner.knobs.status_omits_uploaded_bytes;
        let pull_ms = inner.knobs.pull_download_ms.max(1);
        let pull_size = inner.knobs.pull_video_size;
        let task = owned_task(inner, &caller, &publish_id)?;
        // Real bodies omit the fields that do not apply (e.g. a FAILED body has only
        // status and fail_reason).
        let mut data = serde_json::Map::new();
        data.insert("status".into(), json!(task.status.as_str()));
        if task.status == Status::Failed {
            data.insert("fail_reason".into(), json!(task.fail_reason));
        } else {
            data.insert("publicaly_available_post_id".into(), json!(task.post_ids));
            match task.source {
                Source::FileUpload if omit_uploaded_bytes => {}
                Source::FileUpload => {
                    data.insert("uploaded_bytes".into(), json!(task.uploaded_bytes()));
                }
                Source::PullFromUrl => {
                    let elapsed = (now - task.created_at).num_milliseconds().max(0);
                    let downloaded = if task.ready_at.is_some() {
                        pull_size
                    } else {
                        i64::try_from(
                            i128::from(pull_size) * i128::from(elapsed.min(pull_ms))
                                / i128::from(pull_ms),
                        )
                        .unwrap_or(pull_size)
                    };
                    data.insert("downloaded_bytes".into(), json!(downloaded));
                }
            }
        }
        Ok(ok(Value::Object(data)))
    })
}

/// `POST /v2/post/publish/cancel/` — only while a PULL download is in progress.
pub(crate) async fn cancel((State(s), headers, body): PostRequest) -> Response {
    s.settle();
    let now = s.now();
    let (result, events) = {
        let mut inner = s.lock();
        let mut events = Vec::new();
        let result = (|| -> V2Result {
            let caller = authenticate(&inner, &headers, now, &["video.upload", "video.publish"])?;
            let body = json_body(&headers, &body, false)?;
            let publish_id = publish_id_of(&body)?;
            let task = owned_task(&mut inner, &caller, &publish_id)?;
            if task.status != Status::ProcessingDownload || task.ready_at.is_some() {
                return Err(V2Error::new(
                    StatusCode::BAD_REQUEST,
                    "publish_not_cancellable",
                    "The publish task can no longer be cancelled.",
                ));
            }
            task.status = Status::Failed;
            task.fail_reason = Some("publish_cancelled".into());
            events.push(WebhookEvent {
                client_key: task.client_key.clone(),
                open_id: task.open_id.clone(),
                event: "post.publish.failed".into(),
                content: json!({"publish_id": task.publish_id, "reason": "publish_cancelled", "publish_type": task.publish_type()}),
                create_time: now.timestamp(),
            });
            let body = json!({"error": {"code": "ok", "message": "", "log_id": log_id()}});
            Ok((StatusCode::OK, axum::Json(body)).into_response())
        })();
        (result, events)
    };
    s.emit(events);
    respond(result)
}
