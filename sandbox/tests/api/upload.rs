//! The upload host: chunk rules, 206/201/400/403/404/416, faults and reconciliation.

use std::ops::Range;
use std::time::Duration;

use reqwest::StatusCode;
use sandbox::{DEMO_PUBLIC_OPEN_ID, FaultAction, FaultSpec};

use crate::helpers::{TestSandbox, code, data, sha256_hex, start};

/// The upload host's 416 for a chunk out of place; its `Content-Range` says what it holds.
const RANGE_NOT_SATISFIABLE: StatusCode = StatusCode::RANGE_NOT_SATISFIABLE;

/// A 3-chunk plan of 2,000-byte chunks over 6,500 bytes (last chunk 2,500).
async fn three_chunk_upload(t: &TestSandbox) -> (String, String, String, Vec<u8>) {
    t.small_chunks();
    let token = t.full_token(DEMO_PUBLIC_OPEN_ID);
    let bytes = data(6500);
    let (status, body) = t.init_direct(&token, "SELF_ONLY", 6500, 2000, 3).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let url = body["data"]["upload_url"].as_str().unwrap().to_owned();
    let id = body["data"]["publish_id"].as_str().unwrap().to_owned();
    (token, id, url, bytes)
}

/// PUTs `bytes[range]` of the 6,500-byte video, with its `Content-Range`.
async fn send(
    t: &TestSandbox,
    url: &str,
    bytes: &[u8],
    range: Range<usize>,
) -> reqwest::Result<reqwest::Response> {
    t.put(url, &bytes[range.clone()], range.start as u64, 6500)
        .await
}

/// PUTs `bytes[range]`, asserts TikTok's answer, and returns the `Content-Range` it sent.
async fn expect(
    t: &TestSandbox,
    url: &str,
    bytes: &[u8],
    range: Range<usize>,
    expected: StatusCode,
) -> String {
    let r = send(t, url, bytes, range.clone()).await.unwrap();
    assert_eq!(r.status(), expected, "PUT of bytes {range:?}");
    content_range(&r)
}

/// PUTs each range in turn, asserting TikTok's answer to each.
async fn answers(t: &TestSandbox, url: &str, bytes: &[u8], steps: &[(Range<usize>, StatusCode)]) {
    for (range, expected) in steps {
        expect(t, url, bytes, range.clone(), *expected).await;
    }
}

fn content_range(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("content-range")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn chunks_answer_206_then_201_with_progress_and_the_sha256_is_recorded() {
    let t = start().await;
    let (token, id, url, bytes) = three_chunk_upload(&t).await;
    assert!(url.starts_with(t.base_url()));
    let r = send(&t, &url, &bytes, 0..2000).await.unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(content_range(&r), "bytes 0-1999/6500");
    let r = send(&t, &url, &bytes, 2000..4000).await.unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    let (_, body) = t.status(&token, &id).await;
    assert_eq!(body["data"]["status"], "PROCESSING_UPLOAD");
    assert_eq!(body["data"]["uploaded_bytes"], 4000);
    let r = send(&t, &url, &bytes, 4000..6500).await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(content_range(&r), "bytes 0-6499/6500");
    let records = t.records();
    let post = records.post(&id).unwrap();
    assert_eq!(post.sha256.as_deref(), Some(sha256_hex(&bytes).as_str()));
    assert_eq!(
        (
            post.uploaded_bytes,
            post.chunks_received,
            post.upload_complete
        ),
        (6500, 3, true)
    );
    assert_eq!(records.bytes_uploaded, 6500);
    assert_eq!(
        records.chunks.iter().filter(|c| c.publish_id == id).count(),
        3
    );
}

#[tokio::test]
async fn malformed_headers_are_400_unknown_urls_404_and_expired_urls_403() {
    let t = start().await;
    let (_, _, url, bytes) = three_chunk_upload(&t).await;
    // A PUT with these headers and the first `len` bytes as its body.
    let put = |content_type: &'static str, range: Option<&'static str>, len: usize| {
        let mut req = t
            .http
            .put(&url)
            .header("Content-Type", content_type)
            .body(bytes[..len].to_vec());
        if let Some(range) = range {
            req = req.header("Content-Range", range);
        }
        async move { req.send().await.unwrap() }
    };
    let whole_chunk = Some("bytes 0-1999/6500");
    let r = put("application/octet-stream", whole_chunk, 2000).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = put("video/mp4", None, 2000).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "missing Content-Range");
    let r = put("video/mp4", whole_chunk, 1999).await;
    assert_eq!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "Content-Length differs from the range"
    );
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(code(&body), "invalid_params");

    let wrong_token = url.replace("upload_token=", "upload_token=x");
    let unknown = format!("{}/upload/video/?upload_id=1&upload_token=2", t.base_url());
    for url in [wrong_token, unknown] {
        let r = t.put(&url, &bytes[..2000], 0, 6500).await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{url}");
    }

    expect(&t, &url, &bytes, 0..2000, StatusCode::PARTIAL_CONTENT).await;
    t.advance_clock(Duration::from_secs(3601));
    expect(&t, &url, &bytes, 2000..4000, StatusCode::FORBIDDEN).await;
}

#[tokio::test]
async fn chunks_out_of_order_of_the_wrong_size_or_total_are_416_with_progress() {
    let t = start().await;
    let (_, _, url, bytes) = three_chunk_upload(&t).await;
    let progress = expect(&t, &url, &bytes, 2000..4000, RANGE_NOT_SATISFIABLE).await;
    assert_eq!(progress, "bytes */6500");
    expect(&t, &url, &bytes, 0..2000, StatusCode::PARTIAL_CONTENT).await;
    // A non-final chunk must be chunk_size.
    let progress = expect(&t, &url, &bytes, 2000..3000, RANGE_NOT_SATISFIABLE).await;
    assert_eq!(progress, "bytes 0-1999/6500");
    let r = t.put(&url, &bytes[2000..4000], 2000, 7000).await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::RANGE_NOT_SATISFIABLE,
        "total must be video_size"
    );
    // The final chunk absorbs the remainder: 2,000 bytes is too short.
    let steps = [
        (0..2000, RANGE_NOT_SATISFIABLE), // overlap
        (2000..4000, StatusCode::PARTIAL_CONTENT),
        (4000..6000, StatusCode::RANGE_NOT_SATISFIABLE),
        (4000..6500, StatusCode::CREATED),
    ];
    answers(&t, &url, &bytes, &steps).await;
    // Everything was already received.
    let progress = expect(&t, &url, &bytes, 4000..6500, RANGE_NOT_SATISFIABLE).await;
    assert_eq!(progress, "bytes 0-6499/6500");
}

#[tokio::test]
async fn a_5xx_on_a_chunk_is_retried_with_the_same_chunk() {
    let t = start().await;
    let (_, id, url, bytes) = three_chunk_upload(&t).await;
    t.inject_fault(FaultSpec::on_chunk(2, FaultAction::Status { status: 503 }));
    let steps = [
        (0..2000, StatusCode::PARTIAL_CONTENT),
        (2000..4000, StatusCode::SERVICE_UNAVAILABLE),
        (2000..4000, StatusCode::PARTIAL_CONTENT),
        (4000..6500, StatusCode::CREATED),
    ];
    answers(&t, &url, &bytes, &steps).await;
    assert_eq!(
        t.records().post(&id).unwrap().sha256.as_deref(),
        Some(sha256_hex(&bytes).as_str())
    );
}

#[tokio::test]
async fn a_response_lost_after_commit_is_reconciled_by_status_and_a_416_resend() {
    let t = start().await;
    let (token, id, url, bytes) = three_chunk_upload(&t).await;
    t.inject_fault(FaultSpec::on_chunk(2, FaultAction::DropAfterCommit));
    expect(&t, &url, &bytes, 0..2000, StatusCode::PARTIAL_CONTENT).await;
    let lost = send(&t, &url, &bytes, 2000..4000).await;
    assert!(
        lost.is_err(),
        "the connection is dropped without a response"
    );
    // The chunk did land: status/fetch and a resend's 416 both say so.
    let (_, body) = t.status(&token, &id).await;
    assert_eq!(body["data"]["uploaded_bytes"], 4000);
    let progress = expect(&t, &url, &bytes, 2000..4000, RANGE_NOT_SATISFIABLE).await;
    assert_eq!(progress, "bytes 0-3999/6500");
    expect(&t, &url, &bytes, 4000..6500, StatusCode::CREATED).await;
    let records = t.records();
    assert_eq!(
        records.post(&id).unwrap().sha256.as_deref(),
        Some(sha256_hex(&bytes).as_str())
    );
    assert!(
        records
            .calls
            .iter()
            .any(|c| c.endpoint == "upload" && c.fault.as_deref() == Some("drop_after_commit"))
    );
}

#[tokio::test]
async fn a_connection_dropped_before_commit_leaves_progress_unchanged() {
    let t = start().await;
    let (_, id, url, bytes) = three_chunk_upload(&t).await;
    t.inject_fault(FaultSpec::on_chunk(1, FaultAction::Drop));
    assert!(send(&t, &url, &bytes, 0..2000).await.is_err());
    assert_eq!(t.records().post(&id).unwrap().uploaded_bytes, 0);
    expect(&t, &url, &bytes, 0..2000, StatusCode::PARTIAL_CONTENT).await;
}

#[tokio::test]
async fn faults_hit_the_nth_call_of_any_endpoint_with_its_error_shape() {
    let t = start().await;
    let token = t.full_token(DEMO_PUBLIC_OPEN_ID);
    let fault = FaultAction::Status { status: 500 };
    t.inject_fault(FaultSpec::new("video.init", 2, fault));
    assert_eq!(
        t.init_direct(&token, "SELF_ONLY", 1000, 1000, 1).await.0,
        StatusCode::OK
    );
    let (status, body) = t.init_direct(&token, "SELF_ONLY", 1000, 1000, 1).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(code(&body), "internal_error");
    assert_eq!(body["data"], serde_json::json!({}));
    assert_eq!(
        t.init_direct(&token, "SELF_ONLY", 1000, 1000, 1).await.0,
        StatusCode::OK
    );

    let fault = FaultAction::Status { status: 503 };
    t.inject_fault(FaultSpec::new("oauth.token", 1, fault));
    let (status, body) = t.refresh("rft.whatever").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"], "server_error");

    // After commit on init: the post exists although the client never saw the publish id.
    let fault = FaultAction::DropAfterCommit;
    t.inject_fault(FaultSpec::new("video.init", 1, fault));
    let before = t.records().posts.len();
    let r = t
        .http
        .post(t.url("/v2/post/publish/video/init/"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"post_info": {"privacy_level": "SELF_ONLY"},
            "source_info": {"source": "FILE_UPLOAD", "video_size": 1000, "chunk_size": 1000, "total_chunk_count": 1}}))
        .send()
        .await;
    assert!(r.is_err());
    assert_eq!(t.records().posts.len(), before + 1);

    let fault = FaultAction::Slow { ms: 300 };
    t.inject_fault(FaultSpec::new("user.info", 1, fault));
    let started = std::time::Instant::now();
    assert_eq!(t.user_info(&token, "open_id").await.0, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(300));

    let records = t.records();
    assert_eq!(records.call_count("video.init"), 4);
    assert_eq!(
        records.call_counts["video.init"].by_open_id[DEMO_PUBLIC_OPEN_ID],
        4
    );
    assert!(t.faults().iter().all(|f| f.fired == 1));
}

#[tokio::test]
async fn small_uploads_can_be_kept_and_read_back() {
    let t = start().await;
    t.update_knobs(|k| k.keep_upload_bytes_max = 10_000);
    let token = t.full_token(DEMO_PUBLIC_OPEN_ID);
    let bytes = data(4321);
    let id = t.post_small(&token, "SELF_ONLY", &bytes).await;
    let got = t
        .get(&format!("/_sandbox/tiktok/posts/{id}/bytes"))
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(got.as_ref(), bytes.as_slice());
    assert_eq!(t.upload_bytes(&id).as_deref(), Some(bytes.as_slice()));
}
