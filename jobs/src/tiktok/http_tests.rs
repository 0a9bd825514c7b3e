//! The client's HTTP behaviour against a tiny in-test server with canned answers: what goes on
//! the wire (methods, paths, headers, bodies) and how each documented answer comes back.
//! End-to-end behaviour against the full simulator lives with the sandbox tests.

use super::*;
use crate::config::Secret;
use crate::model::{PrivacyLevel, UploadPlan};
use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::stream;
use sandbox::doc_examples;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use url::Url;

const CLIENT_KEY: &str = "awtestkey123";
const CLIENT_SECRET: &str = "test-client-secret-DO-NOT-LOG";
const ACCESS: &str = "act.3f9c1e0b7a5d4c2e8f6a0b1c2d3e4f5aSimTok!4821";
const REFRESH: &str = "rft.8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3dSimRef!4821";
const LOG_ID: &str = "20260901123045A1B2C3D4E5F60718293A";

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn form(&self) -> HashMap<String, String> {
        url::form_urlencoded::parse(&self.body)
            .into_owned()
            .collect()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// Starts a server on 127.0.0.1:0 answering every request with `respond`, recording each.
async fn server<F>(respond: F) -> (Url, Log)
where
    F: Fn(&Seen) -> Response + Clone + Send + Sync + 'static,
{
    let log: Log = Arc::default();
    let seen = log.clone();
    let app = Router::new().fallback(move |req: Request| {
        let seen = seen.clone();
        let respond = respond.clone();
        async move {
            let (parts, body) = req.into_parts();
            let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
            let req = Seen {
                method: parts.method,
                uri: parts.uri,
                headers: parts.headers,
                body,
            };
            let resp = respond(&req);
            seen.lock().unwrap().push(req);
            resp
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (Url::parse(&format!("http://{addr}")).unwrap(), log)
}

/// A server answering every request with one of TikTok's documented example bodies.
async fn documented(body: &'static str) -> (Url, Log) {
    server(move |_| reply(200, &[("content-type", "application/json")], body)).await
}

fn only(log: &Log) -> Seen {
    let seen = log.lock().unwrap();
    assert_eq!(seen.len(), 1, "expected exactly one request");
    seen[0].clone()
}

/// The one request, checked as an uncached OAuth form post to `path` with the client's key and
/// secret and `fields` (and perhaps more); its form.
fn oauth_form(log: &Log, path: &str, fields: &[(&str, &str)]) -> HashMap<String, String> {
    let req = only(log);
    assert_eq!(req.uri.path(), path);
    assert_eq!(req.header("cache-control"), Some("no-cache"));
    let form = req.form();
    let client = [("client_key", CLIENT_KEY), ("client_secret", CLIENT_SECRET)];
    for (name, value) in client.iter().chain(fields) {
        assert_eq!(form[*name], *value, "{name}");
    }
    form
}

fn assert_bearer(req: &Seen) {
    let expected = format!("Bearer {ACCESS}");
    assert_eq!(req.header("authorization"), Some(expected.as_str()));
}

fn reply(status: u16, headers: &[(&'static str, &str)], body: impl Into<String>) -> Response {
    let mut resp = Response::builder().status(StatusCode::from_u16(status).unwrap());
    for (k, v) in headers {
        resp = resp.header(*k, *v);
    }
    resp.body(Body::from(body.into())).unwrap()
}

fn json_reply(status: u16, body: Value) -> Response {
    (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
}

fn ok_envelope(data: Value) -> Value {
    json!({ "data": data, "error": { "code": "ok", "message": "", "log_id": LOG_ID } })
}

fn err_envelope(code: &str, message: &str) -> Value {
    json!({ "data": {}, "error": { "code": code, "message": message, "log_id": LOG_ID } })
}

fn client(base: &Url) -> TikTokClient {
    TikTokClient::from_parts(
        base.clone(),
        base.clone(),
        CLIENT_KEY,
        Secret::new(CLIENT_SECRET),
    )
    .unwrap()
}

fn token() -> AccessToken {
    AccessToken::new(ACCESS)
}

/// The documented token reply, for `ACCESS` and `REFRESH`.
fn token_body() -> Value {
    serde_json::from_str(doc_examples::TOKEN).unwrap()
}

fn post_info() -> PostInfo {
    PostInfo {
        title: Some("sim test #rust @simfriend".into()),
        privacy_level: PrivacyLevel::SelfOnly,
        disable_duet: false,
        disable_comment: false,
        disable_stitch: false,
        video_cover_timestamp_ms: Some(1500),
        brand_content_toggle: false,
        brand_organic_toggle: false,
        is_aigc: false,
    }
}

/// Inits a direct post of a one-chunk, `size`-byte video.
async fn init_one_chunk(c: &TikTokClient, size: u64) -> Result<InitResult, TikTokError> {
    let plan = UploadPlan {
        video_size: size,
        chunk_size: size,
        total_chunk_count: 1,
    };
    c.init_direct_post(&token(), &post_info(), &SourceInfo::file_upload(&plan))
        .await
}

/// An upload URL on the test server, shaped like TikTok's (the token is in the query).
fn upload_url(base: &Url) -> String {
    format!("{base}video/?upload_id=7400000000000000101&upload_token=SimUploadTok01")
}

/// Sends bytes 0-9 of a `total`-byte video to the test upload URL.
async fn first_ten_bytes(
    c: &TikTokClient,
    base: &Url,
    total: u64,
) -> Result<ChunkOutcome, TikTokError> {
    c.upload_chunk(
        &upload_url(base),
        "video/mp4",
        0,
        9,
        total,
        reqwest::Body::from(vec![0u8; 10]),
    )
    .await
}

/// Sends the last chunk (bytes 80,000-100,000, streamed) of a 100,001-byte video.
async fn last_of_three_chunks(base: &Url) -> Result<ChunkOutcome, TikTokError> {
    client(base)
        .upload_chunk(
            &upload_url(base),
            "video/mp4",
            80_000,
            100_000,
            100_001,
            streamed(20_001),
        )
        .await
}

/// A body that reqwest can only stream (no known length), in three pieces.
fn streamed(len: usize) -> reqwest::Body {
    let pieces: Vec<Result<Bytes, std::io::Error>> = vec![
        Ok(Bytes::from(vec![1u8; len / 3])),
        Ok(Bytes::from(vec![2u8; len / 3])),
        Ok(Bytes::from(vec![3u8; len - 2 * (len / 3)])),
    ];
    reqwest::Body::wrap_stream(stream::iter(pieces))
}

#[test]
fn authorize_url_matches_tiktoks_documented_example() {
    let tiktok = Url::parse("https://www.tiktok.com").unwrap();
    let api = Url::parse("https://open.tiktokapis.com").unwrap();
    let c = TikTokClient::from_parts(tiktok, api, CLIENT_KEY, Secret::new("s")).unwrap();
    let redirect = Url::parse("https://app.example.com/oauth/tiktok/callback/").unwrap();
    let url = c.authorize_url(
        &["user.info.basic", "video.publish", "video.upload"],
        &redirect,
        "Zq3xP9",
    );
    assert_eq!(
        url.as_str(),
        "https://www.tiktok.com/v2/auth/authorize/?client_key=awtestkey123&scope=user.info.basic%2Cvideo.publish%2Cvideo.upload&redirect_uri=https%3A%2F%2Fapp.example.com%2Foauth%2Ftiktok%2Fcallback%2F&state=Zq3xP9&response_type=code&disable_auto_auth=1"
    );
}

#[test]
fn base_urls_with_a_path_prefix_keep_it() {
    let base = Url::parse("http://127.0.0.1:8090/tiktok/").unwrap();
    let c = client(&base);
    let redirect = Url::parse("http://127.0.0.1:8080/auth/tiktok/callback").unwrap();
    let url = c.authorize_url(&["user.info.basic"], &redirect, "s");
    assert!(
        url.as_str()
            .starts_with("http://127.0.0.1:8090/tiktok/v2/auth/authorize/?client_key="),
        "{url}"
    );
}

#[test]
fn non_http_base_urls_are_refused() {
    let bad = Url::parse("mailto:someone@example.com").unwrap();
    let good = Url::parse("http://127.0.0.1:1").unwrap();
    let e = TikTokClient::from_parts(bad, good, CLIENT_KEY, Secret::new("s")).unwrap_err();
    assert!(matches!(e, TikTokError::Config(_)));
}

#[test]
fn the_client_never_shows_its_secret_in_debug() {
    let c = client(&Url::parse("http://127.0.0.1:1").unwrap());
    let dbg = format!("{c:?}");
    assert!(!dbg.contains(CLIENT_SECRET), "{dbg}");
    assert!(dbg.contains(CLIENT_KEY));
}

#[tokio::test]
async fn exchange_code_posts_the_documented_form_without_caching() {
    let (base, log) = server(|_| json_reply(200, token_body())).await;
    let redirect = Url::parse("https://app.example.com/oauth/tiktok/callback/").unwrap();
    let grant = client(&base)
        .exchange_code("Wx8kP*4r", &redirect)
        .await
        .unwrap();
    assert_eq!(grant.access_token.expose(), ACCESS);
    assert_eq!(grant.refresh_token.expose(), REFRESH);
    assert_eq!(
        grant.scope,
        vec!["user.info.basic", "video.publish", "video.upload"]
    );

    let req = only(&log);
    assert_eq!(req.method, Method::POST);
    assert_eq!(
        req.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let form = oauth_form(
        &log,
        "/v2/oauth/token/",
        &[
            ("code", "Wx8kP*4r"),
            ("grant_type", "authorization_code"),
            (
                "redirect_uri",
                "https://app.example.com/oauth/tiktok/callback/",
            ),
        ],
    );
    assert_eq!(form.len(), 5);
}

#[tokio::test]
async fn refresh_sends_the_refresh_token_and_returns_the_rotated_one() {
    let mut rotated = token_body();
    rotated["refresh_token"] = json!("rft.rotated");
    let (base, log) = server(move |_| json_reply(200, rotated.clone())).await;
    let grant = client(&base)
        .refresh(&RefreshToken::new(REFRESH))
        .await
        .unwrap();
    assert_eq!(grant.refresh_token.expose(), "rft.rotated");
    let fields = [("grant_type", "refresh_token"), ("refresh_token", REFRESH)];
    oauth_form(&log, "/v2/oauth/token/", &fields);
}

#[tokio::test]
async fn refresh_answered_with_http_200_invalid_grant_needs_reauth() {
    let (base, _log) = server(|_| {
        json_reply(
            200,
            json!({"error": "invalid_grant", "error_description": "Refresh token is invalid or expired.", "log_id": LOG_ID}),
        )
    })
    .await;
    let e = client(&base)
        .refresh(&RefreshToken::new(REFRESH))
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Reauth);
    assert_eq!(e.code(), Some("invalid_grant"));
    assert_eq!(e.status(), Some(200));
    assert_eq!(e.log_id(), Some(LOG_ID));
}

#[tokio::test]
async fn revoke_sends_the_access_token_and_accepts_an_empty_object() {
    let (base, log) = server(|_| json_reply(200, json!({}))).await;
    client(&base).revoke(&token()).await.unwrap();
    oauth_form(&log, "/v2/oauth/revoke/", &[("token", ACCESS)]);
}

#[tokio::test]
async fn user_info_sends_the_bearer_token_and_the_fields() {
    let (base, log) = server(|_| {
        json_reply(
            200,
            ok_envelope(
                json!({"user": {"open_id": "-000sim-open-id-0001", "display_name": "Sim Creator"}}),
            ),
        )
    })
    .await;
    let user = client(&base)
        .user_info(&token(), &["open_id", "display_name"])
        .await
        .unwrap();
    assert_eq!(user.open_id.as_deref(), Some("-000sim-open-id-0001"));
    assert_eq!(user.display_name.as_deref(), Some("Sim Creator"));
    let req = only(&log);
    assert_eq!(req.method, Method::GET);
    assert_eq!(req.uri.path(), "/v2/user/info/");
    assert_eq!(req.uri.query(), Some("fields=open_id,display_name"));
    assert_bearer(&req);
}

#[tokio::test]
async fn user_info_refuses_odd_field_names_without_calling_tiktok() {
    let c = client(&Url::parse("http://127.0.0.1:1").unwrap());
    for fields in [&[][..], &["open_id&x=1"][..], &[""][..]] {
        let e = c.user_info(&token(), fields).await.unwrap_err();
        assert!(matches!(e, TikTokError::InvalidRequest(_)), "{e:?}");
    }
}

#[tokio::test]
async fn video_list_posts_cursor_and_a_clamped_max_count() {
    let (base, log) = server(|_| {
        json_reply(
            200,
            ok_envelope(json!({
                "videos": [{"id": "7402113344556677889", "title": "sim clip", "create_time": 1725180000, "duration": 14}],
                "cursor": 1725180000000i64,
                "has_more": true
            })),
        )
    })
    .await;
    let page = client(&base)
        .video_list(&token(), Some(1_725_200_000_000), 50)
        .await
        .unwrap();
    assert_eq!(page.videos[0].id, "7402113344556677889");
    assert!(page.has_more);
    assert_eq!(page.cursor, 1_725_180_000_000);
    let req = only(&log);
    assert_eq!(req.method, Method::POST);
    assert_eq!(req.uri.path(), "/v2/video/list/");
    assert_eq!(
        req.uri.query(),
        Some("fields=id,title,create_time,cover_image_url,share_url,duration")
    );
    assert_eq!(
        req.json(),
        json!({"max_count": 20, "cursor": 1_725_200_000_000i64})
    );
    assert_bearer(&req);
}

#[tokio::test]
async fn creator_info_parses_the_documented_example() {
    let (base, log) = documented(doc_examples::CREATOR_INFO).await;
    let info = client(&base).creator_info(&token()).await.unwrap();
    assert_eq!(
        info.privacy_level_options,
        vec![
            PrivacyLevel::PublicToEveryone,
            PrivacyLevel::MutualFollowFriends,
            PrivacyLevel::SelfOnly
        ]
    );
    assert!(info.stitch_disabled);
    let req = only(&log);
    assert_eq!(req.method, Method::POST);
    assert_eq!(req.uri.path(), "/v2/post/publish/creator_info/query/");
}

#[tokio::test]
async fn creator_info_cant_post_codes_with_http_200_are_errors() {
    for (code, class) in [
        ("spam_risk_too_many_posts", ErrorClass::Wait),
        ("spam_risk_user_banned_from_posting", ErrorClass::Permanent),
        ("reached_active_user_cap", ErrorClass::AppCapWait),
    ] {
        let (base, _log) = server(move |_| json_reply(200, err_envelope(code, ""))).await;
        let e = client(&base).creator_info(&token()).await.unwrap_err();
        assert_eq!(e.class(), class, "{code}");
        assert_eq!(e.status(), Some(200));
        assert_eq!(e.code(), Some(code));
        assert_eq!(e.log_id(), Some(LOG_ID));
        assert!(!e.creator_message().is_empty());
    }
}

#[tokio::test]
async fn init_direct_post_sends_post_and_source_info() {
    let (base, log) = documented(doc_examples::VIDEO_INIT).await;
    let plan = UploadPlan {
        video_size: 77_360_899,
        chunk_size: 10_000_000,
        total_chunk_count: 7,
    };
    let init = client(&base)
        .init_direct_post(&token(), &post_info(), &SourceInfo::file_upload(&plan))
        .await
        .unwrap();
    assert_eq!(init.publish_id, "v_pub_file~v2-1.7400000000000000001");
    assert!(
        init.upload_url
            .unwrap()
            .contains("upload_token=SimUploadTok01")
    );
    let req = only(&log);
    assert_eq!(req.uri.path(), "/v2/post/publish/video/init/");
    assert!(
        req.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(
        req.json(),
        json!({
            "post_info": {
                "title": "sim test #rust @simfriend",
                "privacy_level": "SELF_ONLY",
                "disable_duet": false,
                "disable_comment": false,
                "disable_stitch": false,
                "video_cover_timestamp_ms": 1500,
                "brand_content_toggle": false,
                "brand_organic_toggle": false,
                "is_aigc": false
            },
            "source_info": {
                "source": "FILE_UPLOAD",
                "video_size": 77360899,
                "chunk_size": 10000000,
                "total_chunk_count": 7
            }
        })
    );
}

#[tokio::test]
async fn init_without_an_upload_url_for_file_upload_is_malformed_with_unknown_outcome() {
    let (base, _log) =
        server(|_| json_reply(200, ok_envelope(json!({"publish_id": "v_pub_file~v2-1.1"})))).await;
    let e = init_one_chunk(&client(&base), 10).await.unwrap_err();
    assert!(matches!(e, TikTokError::Malformed { .. }), "{e:?}");
    assert!(e.outcome_unknown());
}

#[tokio::test]
async fn init_errors_carry_code_status_and_class() {
    for (status, code, class) in [
        (400, "invalid_params", ErrorClass::Permanent),
        (403, "spam_risk_too_many_posts", ErrorClass::Wait),
        (
            403,
            "unaudited_client_can_only_post_to_private_accounts",
            ErrorClass::Permanent,
        ),
        (403, "privacy_level_option_mismatch", ErrorClass::Permanent),
        (401, "access_token_invalid", ErrorClass::RefreshAndRetry),
        (401, "scope_not_authorized", ErrorClass::Reauth),
        (
            500,
            "internal_error",
            ErrorClass::Retryable { retry_after: None },
        ),
    ] {
        let (base, _log) =
            server(move |_| json_reply(status, err_envelope(code, "The chunk size is invalid")))
                .await;
        let e = init_one_chunk(&client(&base), 10).await.unwrap_err();
        assert_eq!(e.class(), class, "{code}");
        assert_eq!(e.status(), Some(status));
        assert_eq!(e.code(), Some(code));
        assert!(!e.outcome_unknown());
    }
}

#[tokio::test]
async fn throttling_is_retryable_after_tiktoks_delay() {
    let (base, _log) = server(|_| {
        let mut resp = json_reply(429, err_envelope("rate_limit_exceeded", ""));
        resp.headers_mut()
            .insert("retry-after", "30".parse().unwrap());
        resp
    })
    .await;
    let e = client(&base)
        .fetch_status(&token(), "v_pub_file~v2-1.1")
        .await
        .unwrap_err();
    assert_eq!(
        e.class(),
        ErrorClass::Retryable {
            retry_after: Some(Duration::from_secs(30))
        }
    );
}

#[tokio::test]
async fn a_gateway_error_page_is_retryable() {
    let (base, _log) =
        server(|_| reply(502, &[("content-type", "text/html")], "<html>502</html>")).await;
    let e = client(&base).creator_info(&token()).await.unwrap_err();
    assert!(matches!(e, TikTokError::Http { status: 502, .. }), "{e:?}");
    assert_eq!(e.class(), ErrorClass::Retryable { retry_after: None });
}

#[tokio::test]
async fn fetch_status_keeps_19_digit_post_ids_exact() {
    let (base, log) = server(|_| {
        // Raw text: a JSON number that a double would round to 7400000000000001000.
        reply(
            200,
            &[("content-type", "application/json")],
            format!(
                r#"{{"data":{{"status":"PUBLISH_COMPLETE","publicaly_available_post_id":[7400000000000000999],"uploaded_bytes":77360899}},"error":{{"code":"ok","message":"","log_id":"{LOG_ID}"}}}}"#
            ),
        )
    })
    .await;
    let s = client(&base)
        .fetch_status(&token(), "v_pub_file~v2-1.7400000000000000001")
        .await
        .unwrap();
    assert_eq!(s.status, PublishStatusKind::PublishComplete);
    assert_eq!(s.public_post_ids, vec!["7400000000000000999"]);
    assert_eq!(s.uploaded_bytes, Some(77_360_899));
    let req = only(&log);
    assert_eq!(req.uri.path(), "/v2/post/publish/status/fetch/");
    assert_eq!(
        req.json(),
        json!({"publish_id": "v_pub_file~v2-1.7400000000000000001"})
    );
}

#[tokio::test]
async fn a_status_without_status_is_malformed() {
    let (base, _log) = server(|_| json_reply(200, ok_envelope(json!({})))).await;
    let e = client(&base)
        .fetch_status(&token(), "v_pub_file~v2-1.1")
        .await
        .unwrap_err();
    assert!(matches!(e, TikTokError::Malformed { .. }), "{e:?}");
}

#[tokio::test]
async fn upload_chunk_streams_with_exact_length_range_and_type() {
    let (base, log) =
        server(|_| reply(206, &[("content-range", "bytes 0-79999/100001")], "")).await;
    let url = upload_url(&base);
    let outcome = client(&base)
        .upload_chunk(&url, "video/mp4", 40_000, 79_999, 100_001, streamed(40_000))
        .await
        .unwrap();
    assert_eq!(outcome, ChunkOutcome::Partial { received: 80_000 });
    let req = only(&log);
    assert_eq!(req.method, Method::PUT);
    assert_eq!(req.uri.path(), "/video/");
    assert_eq!(
        req.uri.query(),
        Some("upload_id=7400000000000000101&upload_token=SimUploadTok01"),
        "the upload URL is used verbatim"
    );
    assert_eq!(req.header("content-length"), Some("40000"));
    assert_eq!(
        req.header("transfer-encoding"),
        None,
        "TikTok refuses chunked uploads"
    );
    assert_eq!(
        req.header("content-range"),
        Some("bytes 40000-79999/100001")
    );
    assert_eq!(req.header("content-type"), Some("video/mp4"));
    assert_eq!(
        req.header("authorization"),
        None,
        "the URL carries the token"
    );
    assert_eq!(req.body.len(), 40_000);
}

#[tokio::test]
async fn a_206_without_content_range_counts_this_chunk_as_received() {
    let (base, _log) = server(|_| reply(206, &[], "")).await;
    let outcome = first_ten_bytes(&client(&base), &base, 30).await.unwrap();
    assert_eq!(outcome, ChunkOutcome::Partial { received: 10 });
}

#[tokio::test]
async fn the_final_chunk_201_completes_the_upload() {
    let (base, log) =
        server(|_| reply(201, &[("content-range", "bytes 0-100000/100001")], "")).await;
    let outcome = client(&base)
        .upload_chunk(
            &upload_url(&base),
            "video/quicktime",
            40_000,
            100_000,
            100_001,
            streamed(60_001),
        )
        .await
        .unwrap();
    assert_eq!(outcome, ChunkOutcome::Complete);
    let req = only(&log);
    assert_eq!(req.header("content-length"), Some("60001"));
    assert_eq!(
        req.header("content-range"),
        Some("bytes 40000-100000/100001")
    );
    assert_eq!(req.header("content-type"), Some("video/quicktime"));
}

#[tokio::test]
async fn a_416_reports_tiktoks_progress_when_it_has_one() {
    let (base, _log) =
        server(|_| reply(416, &[("content-range", "bytes 0-39999/100001")], "")).await;
    let outcome = last_of_three_chunks(&base).await.unwrap();
    assert_eq!(
        outcome,
        ChunkOutcome::RangeMismatch {
            received: Some(40_000)
        }
    );

    let (base, _log) = server(|_| reply(416, &[], "")).await;
    let outcome = last_of_three_chunks(&base).await.unwrap();
    assert_eq!(outcome, ChunkOutcome::RangeMismatch { received: None });
}

#[tokio::test]
async fn upload_rejections_are_typed_and_classified() {
    for (status, reason, class) in [
        (400, UploadRejection::Malformed, ErrorClass::Permanent),
        (403, UploadRejection::UrlExpired, ErrorClass::Permanent),
        (404, UploadRejection::UnknownUpload, ErrorClass::Permanent),
        (
            503,
            UploadRejection::ServerError,
            ErrorClass::Retryable {
                retry_after: Some(Duration::from_secs(5)),
            },
        ),
    ] {
        let (base, _log) = server(move |_| reply(status, &[("retry-after", "5")], "")).await;
        let e = first_ten_bytes(&client(&base), &base, 10)
            .await
            .unwrap_err();
        assert!(
            matches!(e, TikTokError::UploadRejected { reason: r, .. } if r == reason),
            "{e:?}"
        );
        assert_eq!(e.class(), class, "{status}");
        assert!(!e.outcome_unknown());
        assert!(!e.creator_message().is_empty());
    }
}

#[tokio::test]
async fn upload_chunk_refuses_impossible_ranges_and_non_urls() {
    let c = client(&Url::parse("http://127.0.0.1:1").unwrap());
    for (first, last, total) in [(10, 9, 20), (0, 20, 20), (5, 30, 20)] {
        let e = c
            .upload_chunk(
                "http://127.0.0.1:1/video/",
                "video/mp4",
                first,
                last,
                total,
                reqwest::Body::from(Vec::new()),
            )
            .await
            .unwrap_err();
        assert!(matches!(e, TikTokError::InvalidRequest(_)), "{e:?}");
    }
    let e = c
        .upload_chunk(
            "not a url",
            "video/mp4",
            0,
            0,
            1,
            reqwest::Body::from(vec![0u8]),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, TikTokError::InvalidRequest(_)), "{e:?}");
}

/// A server that reads one whole request and hangs up without answering: the bytes arrived, the
/// response was lost.
async fn hang_up_after_request() -> Url {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = sock.read(&mut chunk).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf);
            if let Some(end) = text.find("\r\n\r\n") {
                let len = text[..end]
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse::<usize>().unwrap())
                    })
                    .unwrap_or(0);
                if buf.len() >= end + 4 + len {
                    break;
                }
            }
        }
        let _ = sock.shutdown().await;
    });
    Url::parse(&format!("http://{addr}")).unwrap()
}

#[tokio::test]
async fn a_lost_upload_response_is_retryable_with_unknown_outcome_and_no_url_in_the_error() {
    let base = hang_up_after_request().await;
    let e = first_ten_bytes(&client(&base), &base, 10)
        .await
        .unwrap_err();
    assert!(matches!(e, TikTokError::Transport { .. }), "{e:?}");
    assert!(e.outcome_unknown(), "the chunk may have landed");
    assert_eq!(e.class(), ErrorClass::Retryable { retry_after: None });
    let text = format!("{e} {e:?} {:?}", std::error::Error::source(&e));
    assert!(!text.contains("SimUploadTok01"), "{text}");
    assert!(!text.contains("upload_token"), "{text}");
}

#[tokio::test]
async fn a_lost_init_response_is_flagged_so_the_caller_does_not_init_twice() {
    let base = hang_up_after_request().await;
    let e = init_one_chunk(&client(&base), 10).await.unwrap_err();
    assert!(e.outcome_unknown());
}

#[tokio::test]
async fn a_refused_connection_is_retryable_and_known_not_to_have_landed() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let base = Url::parse(&format!("http://{addr}")).unwrap();
    let e = client(&base).creator_info(&token()).await.unwrap_err();
    assert!(matches!(e, TikTokError::Transport { .. }), "{e:?}");
    assert!(!e.outcome_unknown());
    assert_eq!(e.class(), ErrorClass::Retryable { retry_after: None });
}

#[tokio::test]
async fn logs_name_endpoints_and_log_ids_but_never_secrets() {
    use tracing_subscriber::EnvFilter;
    let capture = crate::telemetry::Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new("jobs=trace"))
        .with_writer(capture.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let (base, _log) = server(|req| match req.uri.path() {
        "/v2/oauth/token/" => json_reply(200, token_body()),
        "/v2/post/publish/video/init/" => {
            json_reply(403, err_envelope("spam_risk_too_many_posts", ""))
        }
        _ => reply(206, &[("content-range", "bytes 0-9/20")], ""),
    })
    .await;
    let c = client(&base);
    // Tracing caches per-callsite interest process-wide; a callsite first hit by a parallel test
    // (with no subscriber) can be cached as "never". Run once so every callsite is registered,
    // rebuild the cache with our subscriber present, then run again: the second run must log.
    for _ in 0..2 {
        let redirect = Url::parse("https://app.example.com/cb").unwrap();
        c.exchange_code("AUTHCODE-SECRET", &redirect).await.unwrap();
        let e = init_one_chunk(&c, 20).await.unwrap_err();
        assert_eq!(e.class(), ErrorClass::Wait);
        first_ten_bytes(&c, &base, 20).await.unwrap();
        tracing::callsite::rebuild_interest_cache();
    }

    let logs = capture.contents();
    assert!(logs.contains("oauth/token"), "{logs}");
    assert!(logs.contains("spam_risk_too_many_posts"), "{logs}");
    assert!(logs.contains(LOG_ID), "{logs}");
    assert!(logs.contains("upload"), "{logs}");
    for secret in [
        ACCESS,
        REFRESH,
        CLIENT_SECRET,
        "AUTHCODE-SECRET",
        "SimUploadTok01",
        "sim test #rust",
    ] {
        assert!(!logs.contains(secret), "{secret} leaked into logs:\n{logs}");
    }
}
