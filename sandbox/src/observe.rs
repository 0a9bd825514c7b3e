//! One middleware in front of every simulated endpoint: it names the endpoint, applies
//! injected faults and writes the call log. Control and page-asset routes pass straight through.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::faults::{CallSite, FaultAction};
use crate::google::{JWKS_PATH, SIGNIN_PATH, X509_PATH};
use crate::ids::log_id;
use crate::records::CallRecord;
use crate::state::SandboxState;
use crate::tiktok::upload::{UPLOAD_PATH, parse_content_range};
use crate::tiktok::v2::bearer;

/// Marks a response whose connection must be closed without answering. The sandbox's own
/// server turns it into a dropped connection; behind another server the body errors instead.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DropConnection;

/// The endpoint name used in the call log and by faults.
pub(crate) fn endpoint_name(method: &Method, path: &str) -> Option<&'static str> {
    let name = match path {
        "/v2/auth/authorize/" => "oauth.authorize",
        "/v2/oauth/token/" => "oauth.token",
        "/v2/oauth/revoke/" => "oauth.revoke",
        "/v2/user/info/" => "user.info",
        "/v2/video/list/" => "video.list",
        "/v2/video/query/" => "video.query",
        "/v2/post/publish/creator_info/query/" => "creator_info.query",
        "/v2/post/publish/video/init/" => "video.init",
        "/v2/post/publish/inbox/video/init/" => "inbox.video.init",
        "/v2/post/publish/content/init/" => "content.init",
        "/v2/post/publish/status/fetch/" => "status.fetch",
        "/v2/post/publish/cancel/" => "publish.cancel",
        UPLOAD_PATH if method == Method::PUT => "upload",
        X509_PATH => "google.x509",
        JWKS_PATH => "google.jwks",
        SIGNIN_PATH => "google.signin",
        _ => return None,
    };
    Some(name)
}

pub(crate) fn drop_response() -> Response {
    let body = Body::from_stream(futures::stream::once(async {
        Err::<bytes::Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "injected drop",
        ))
    }));
    let mut resp = Response::new(body);
    resp.extensions_mut().insert(DropConnection);
    resp
}

/// The injected status with the endpoint's own error shape.
fn fault_response(endpoint: &str, status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let v2_code = if status == StatusCode::TOO_MANY_REQUESTS {
        "rate_limit_exceeded"
    } else {
        "internal_error"
    };
    let body = match endpoint {
        "oauth.token" | "oauth.revoke" => json!({
            "error": if status.is_server_error() { "server_error" } else { "temporarily_unavailable" },
            "error_description": "The server encountered an unexpected condition (injected fault).",
            "log_id": log_id(),
        }),
        e if e.starts_with("google.") || e == "oauth.authorize" => {
            return (status, "injected fault").into_response();
        }
        _ => json!({
            "data": {},
            "error": {"code": v2_code, "message": "Something went wrong (injected fault).", "log_id": log_id()},
        }),
    };
    (status, axum::Json(body)).into_response()
}

/// Who a call is for and which chunk it carries, for fault matching and the call log.
fn identify(s: &SandboxState, endpoint: &str, req: &Request) -> (Option<String>, Option<u64>) {
    let inner = s.lock();
    if endpoint == "upload" {
        let q: HashMap<String, String> = req
            .uri()
            .query()
            .and_then(|q| serde_urlencoded::from_str(q).ok())
            .unwrap_or_default();
        let Some(task) = inner.tiktok.tasks.iter().find(|t| {
            t.upload
                .as_ref()
                .is_some_and(|u| Some(&u.upload_id) == q.get("upload_id"))
        }) else {
            return (None, None);
        };
        let start = req
            .headers()
            .get(header::CONTENT_RANGE)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_content_range)
            .map(|(a, _, _)| a);
        let chunk = start.map(|a| {
            let size = task.plan.map_or(1, |p| p.chunk_size).max(1);
            (a / size + 1).min(task.plan.map_or(1, |p| p.total_chunk_count).max(1))
        });
        return (Some(task.open_id.clone()), chunk);
    }
    let open_id = bearer(req.headers())
        .and_then(|t| inner.tiktok.access.iter().find(|a| a.token == t))
        .map(|a| a.open_id.clone());
    (open_id, None)
}

pub(crate) async fn observe(State(s): State<SandboxState>, req: Request, next: Next) -> Response {
    let Some(endpoint) = endpoint_name(req.method(), req.uri().path()) else {
        return next.run(req).await;
    };
    let method = req.method().to_string();
    let (open_id, chunk) = identify(&s, endpoint, &req);
    let actions = s.lock().fire_faults(&CallSite {
        endpoint,
        chunk,
        open_id: open_id.as_deref(),
    });
    let slow: u64 = actions
        .iter()
        .map(|a| {
            if let FaultAction::Slow { ms } = a {
                *ms
            } else {
                0
            }
        })
        .sum();
    if slow > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(slow)).await;
    }
    let log = |status: u16, fault: Option<&str>| {
        let record = CallRecord {
            at: s.now(),
            endpoint: endpoint.to_owned(),
            method: method.clone(),
            status,
            open_id: open_id.clone(),
            fault: fault.map(str::to_owned),
        };
        s.lock().log_call(record);
    };
    if actions.contains(&FaultAction::Drop) {
        log(0, Some("drop"));
        return drop_response();
    }
    if let Some(status) = actions.iter().find_map(|a| {
        if let FaultAction::Status { status } = a {
            Some(*status)
        } else {
            None
        }
    }) {
        log(status, Some("status"));
        return fault_response(endpoint, status);
    }
    let resp = next.run(req).await;
    if actions.contains(&FaultAction::DropAfterCommit) {
        log(0, Some("drop_after_commit"));
        return drop_response();
    }
    log(resp.status().as_u16(), (slow > 0).then_some("slow"));
    resp
}
