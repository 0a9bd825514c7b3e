//! Property tests of `POST /api/media`'s handling of what the client claims about its body:
//! any `Content-Type`, a `Content-Length` that is junk or lies either way, an upload limit
//! passed, a body that fails half way, NDJSON progress or not. The handler runs without a
//! server (a real server's HTTP layer would refuse some of these headers before us, which is
//! exactly why they are sent straight to the handler here).

// The mutators and run configuration of the jobs crate's property tests.
#[path = "../../../../jobs/tests/support/mutate.rs"]
mod mutate;

use super::{check_content_type, declared_len, upload};
use crate::auth::{AuthVia, CurrentUser};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use bytes::Bytes;
use jobs::model::GoogleProfile;
use mutate::{config, wild_string};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

/// The upload limit of the test app: small, so that passing it is cheap.
const MAX: u64 = 64 * 1024;

/// Every code an upload may be refused with.
const CODES: [&str; 5] = [
    "too_large",
    "unsupported_media_type",
    "empty_upload",
    "upload_interrupted",
    "bad_request",
];

const FORMS: [&str; 4] = [
    "multipart/",
    "application/x-www-form-urlencoded",
    "application/json",
    "text/",
];

/// The `{"error":{"code","message"}}` body of a refusal, checked.
fn refusal(status: StatusCode, body: &[u8]) -> Result<String, TestCaseError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let code = v
        .pointer("/error/code")
        .and_then(Value::as_str)
        .unwrap_or("");
    let message = v
        .pointer("/error/message")
        .and_then(Value::as_str)
        .unwrap_or("");
    prop_assert!(
        CODES.contains(&code),
        "HTTP {status}: unknown code {code:?}"
    );
    prop_assert!(!message.trim().is_empty(), "empty message for {code}");
    let want = match code {
        "too_large" => StatusCode::PAYLOAD_TOO_LARGE,
        "unsupported_media_type" => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "empty_upload" => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::BAD_REQUEST,
    };
    prop_assert_eq!(status, want, "{}", code);
    Ok(code.to_owned())
}

fn content_type() -> impl Strategy<Value = Option<Vec<u8>>> {
    proptest::option::weighted(
        0.9,
        prop_oneof![
            4 => proptest::sample::select(
                &[
                    "video/mp4",
                    "video/quicktime",
                    "video/webm",
                    "application/octet-stream",
                    "VIDEO/MP4; codecs=avc1",
                    "multipart/form-data; boundary=x",
                    "Multipart/Form-Data",
                    "application/x-www-form-urlencoded",
                    "application/json",
                    "text/plain",
                    "TEXT/CSV",
                    "",
                    " text/plain",
                ][..]
            )
            .prop_map(|s| s.as_bytes().to_vec()),
            1 => wild_string(30).prop_map(String::into_bytes),
            1 => proptest::collection::vec(any::<u8>(), 0..30),
        ],
    )
}

proptest! {
    #![proptest_config(config(3000))]

    /// Forms and text are refused as 415 whatever their case or parameters; anything else
    /// passes (the container is decided by magic bytes, not by this header).
    #[test]
    fn content_types_are_sorted_into_files_and_forms(ct in content_type()) {
        let mut headers = HeaderMap::new();
        let value = ct.as_deref().and_then(|b| HeaderValue::from_bytes(b).ok());
        if let Some(v) = &value {
            headers.insert(header::CONTENT_TYPE, v.clone());
        }
        let lower = value
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let form = FORMS.iter().any(|f| lower.starts_with(f));
        match check_content_type(&headers) {
            Ok(()) => prop_assert!(!form, "{lower:?} let through"),
            Err(e) => {
                prop_assert!(form, "{lower:?} refused");
                let response = e.into_response();
                let status = response.status();
                let body = block_on(axum::body::to_bytes(response.into_body(), 1 << 16)).unwrap();
                prop_assert_eq!(refusal(status, &body)?, "unsupported_media_type");
            }
        }
    }

    /// `Content-Length` is a number or a 400, never a panic or a wrapped value.
    #[test]
    fn content_length_is_a_number_or_a_bad_request(
        raw in prop_oneof![
            any::<u64>().prop_map(|n| n.to_string()),
            Just("18446744073709551616".to_owned()),
            Just("-1".to_owned()),
            Just("+5".to_owned()),
            Just(" 12 ".to_owned()),
            Just("0x10".to_owned()),
            Just("1e3".to_owned()),
            wild_string(24),
        ]
    ) {
        let Ok(v) = HeaderValue::from_str(&raw) else { return Ok(()) };
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_LENGTH, v);
        match declared_len(&headers) {
            Ok(n) => prop_assert_eq!(n, raw.trim().parse::<u64>().ok()),
            Err(e) => {
                prop_assert!(raw.trim().parse::<u64>().is_err());
                let response = e.into_response();
                let status = response.status();
                let body = block_on(axum::body::to_bytes(response.into_body(), 1 << 16)).unwrap();
                prop_assert_eq!(refusal(status, &body)?, "bad_request");
            }
        }
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// The application state of a test instance with a small upload limit, one user, and the
/// runtime its pools live on.
struct App {
    rt: tokio::runtime::Runtime,
    state: AppState,
    user: CurrentUser,
    _dir: tempfile::TempDir,
}

static APP: LazyLock<App> = LazyLock::new(|| {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let vars: HashMap<String, String> = [
        ("DATA_DIR", dir.path().display().to_string()),
        ("BIND_ADDR", "127.0.0.1:0".to_owned()),
        ("MAX_UPLOAD_BYTES", MAX.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let config = Arc::new(jobs::config::Config::from_vars(&vars).unwrap());
    let (state, user) = rt.block_on(async {
        let store = jobs::store::connect(config.store.database_url.expose())
            .await
            .unwrap();
        let queue = jobs::queue::Queue::connect(&config).await.unwrap();
        let user = store
            .upsert_user(&GoogleProfile {
                google_uid: "media-proptest".into(),
                email: "m@example.com".into(),
                name: "M".into(),
                picture: None,
            })
            .await
            .unwrap();
        let ctx = jobs::context::JobContext::new(config.clone(), store, queue)
            .await
            .unwrap();
        (AppState::new(ctx), user)
    });
    App {
        rt,
        state,
        user: CurrentUser {
            workspace: jobs::model::Workspace::personal_id(user.id),
            role: jobs::model::Role::Owner,
            user,
            via: AuthVia::Cookie,
            scopes: None,
        },
        _dir: dir,
    }
});

/// A body: an MP4 or WebM head with some bytes after it, junk, or nothing.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let tail = || proptest::collection::vec(any::<u8>(), 0..2000);
    prop_oneof![
        3 => tail().prop_map(|t| [&b"\0\0\0\x18ftypisom\0\0\0\0isomiso6"[..], &t].concat()),
        2 => tail().prop_map(|t| [&[0x1A, 0x45, 0xDF, 0xA3][..], &t].concat()),
        1 => proptest::collection::vec(any::<u8>(), 0..40),
        1 => (MAX as usize - 8..MAX as usize + 8)
            .prop_map(|n| [&b"\0\0\0\x18ftypisom"[..], &vec![0u8; n - 12]].concat()),
    ]
}

#[derive(Debug, Clone)]
struct Request {
    content_type: Option<Vec<u8>>,
    content_length: Option<String>,
    ndjson: bool,
    body: Vec<u8>,
    cuts: Vec<Index>,
    fail_at: Option<Index>,
}

fn request() -> impl Strategy<Value = Request> {
    (
        body(),
        content_type(),
        0u8..8,
        -40i64..40,
        any::<bool>(),
        proptest::collection::vec(any::<Index>(), 0..4),
        proptest::option::weighted(0.15, any::<Index>()),
    )
        .prop_map(|(body, content_type, cl, delta, ndjson, cuts, fail_at)| {
            let len = body.len() as u64;
            let content_length = match cl {
                0 | 1 => None,
                2 | 3 => Some(len.to_string()),
                4 => Some(len.saturating_add_signed(delta).to_string()),
                5 => Some(u64::MAX.to_string()),
                6 => Some("lots".to_owned()),
                _ => Some((MAX + 1).to_string()),
            };
            Request {
                content_type,
                content_length,
                ndjson,
                body,
                cuts,
                fail_at,
            }
        })
}

proptest! {
    #![proptest_config(config(1000))]

    /// Any request reaching the upload handler ends in a 201 with exactly the bytes sent and
    /// a `Content-Length` that told the truth, or in a refusal with one of the upload codes,
    /// also in the last NDJSON line of a streamed answer.
    #[test]
    fn hostile_upload_requests_are_staged_or_refused_with_an_upload_code(r in request()) {
        let app = &*APP;
        let mut headers = HeaderMap::new();
        if let Some(v) = r.content_type.as_deref().and_then(|b| HeaderValue::from_bytes(b).ok()) {
            headers.insert(header::CONTENT_TYPE, v);
        }
        if let Some(cl) = &r.content_length {
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from_str(cl).unwrap());
        }
        if r.ndjson {
            headers.insert(header::ACCEPT, HeaderValue::from_static("application/x-ndjson"));
        }
        let mut cuts: Vec<usize> = r.cuts.iter().map(|c| c.index(r.body.len() + 1)).collect();
        cuts.extend([0, r.body.len()]);
        cuts.sort_unstable();
        let mut pieces: Vec<Result<Bytes, std::io::Error>> =
            cuts.windows(2).map(|w| Ok(Bytes::copy_from_slice(&r.body[w[0]..w[1]]))).collect();
        if let Some(at) = r.fail_at {
            pieces.insert(at.index(pieces.len() + 1), Err(std::io::Error::other("connection reset")));
        }
        let failed = r.fail_at.is_some();
        let state = app.state.clone();
        let user = app.user.clone();
        let (status, body) = app.rt.block_on(async move {
            let response = match upload(State(state), user, headers, Body::from_stream(futures::stream::iter(pieces))).await {
                Ok(r) => r,
                Err(e) => e.into_response(),
            };
            let status = response.status();
            (status, axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap())
        });
        let last = if status == StatusCode::OK {
            // NDJSON: the outcome is the last line.
            let text = String::from_utf8(body.to_vec()).unwrap();
            let line = text.lines().last().unwrap_or("").to_owned();
            Bytes::from(line)
        } else {
            body
        };
        let v: Value = serde_json::from_slice(&last).unwrap_or(Value::Null);
        if v.get("error").is_some() {
            let code = refusal(if status == StatusCode::OK { status_of(&v) } else { status }, &last)?;
            if code == "bad_request" {
                prop_assert_eq!(r.content_length.as_deref(), Some("lots"));
            }
        } else {
            prop_assert!(status == StatusCode::CREATED || (r.ndjson && status == StatusCode::OK), "HTTP {}: {}", status, String::from_utf8_lossy(&last));
            prop_assert_eq!(v["size"].as_u64(), Some(r.body.len() as u64));
            prop_assert!(!failed, "a body that failed was staged");
            prop_assert!(r.content_length.as_deref().is_none_or(|cl| cl == r.body.len().to_string()), "a lying Content-Length was staged");
            prop_assert!(r.body.len() as u64 <= MAX);
            let id = jobs::model::MediaId::parse(v["id"].as_str().unwrap()).unwrap();
            let media = app.rt.block_on(app.state.store.media(app.user.workspace, id)).unwrap();
            app.rt.block_on(app.state.jobs.staging.delete(&media)).unwrap();
        }
    }
}

/// The status an NDJSON error line stands for (the status line was sent before it was known).
fn status_of(v: &Value) -> StatusCode {
    match v.pointer("/error/code").and_then(Value::as_str) {
        Some("too_large") => StatusCode::PAYLOAD_TOO_LARGE,
        Some("unsupported_media_type") => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Some("empty_upload") => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::BAD_REQUEST,
    }
}
