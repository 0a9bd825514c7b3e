//! The whole TikTok flow as a small client would run it, over real HTTP only (no Rust-side
//! shortcuts except reading records at the end).

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sandbox::{DEMO_CLIENT_KEY, DEMO_PUBLIC_OPEN_ID};
use serde_json::json;

use crate::helpers::{CALLBACK, code, consent_form, data, query_param, sha256_hex, start};

#[tokio::test]
async fn authorize_token_upload_publish_list_refresh_revoke() {
    let t = start().await;
    let http = &t.http;
    // Chunk knobs lowered through the control API, as a test in another language would.
    let resp = http
        .patch(t.url("/_sandbox/knobs"))
        .json(&json!({"chunks": {"min_chunk": 1000, "max_chunk": 100000, "max_final_chunk": 200000, "max_single_chunk": 50000}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);

    // 1. Authorize: GET the consent page, then POST its form.
    let scope = "user.info.basic,user.info.profile,video.publish,video.list";
    let mut page_url = url::Url::parse(&t.url("/v2/auth/authorize/")).unwrap();
    page_url
        .query_pairs_mut()
        .append_pair("client_key", DEMO_CLIENT_KEY)
        .append_pair("scope", scope)
        .append_pair("redirect_uri", CALLBACK)
        .append_pair("state", "xyz")
        .append_pair("response_type", "code");
    let page = http.get(page_url).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let form = consent_form(
        "xyz",
        scope,
        &[("open_id", DEMO_PUBLIC_OPEN_ID), ("decision", "authorize")],
    );
    let (status, location) = t.consent(&form).await;
    assert_eq!(status, StatusCode::FOUND);
    assert_eq!(query_param(&location, "state").as_deref(), Some("xyz"));
    let auth_code = query_param(&location, "code").unwrap();

    // 2. Token.
    let tokens = t.exchange(&auth_code).await;
    let access = tokens.access_token.clone();

    // 3. User info.
    let (status, body) = t.user_info(&access, "open_id,display_name,username").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["user"]["open_id"], DEMO_PUBLIC_OPEN_ID);

    // 4. creator_info → validate privacy.
    let (_, body) = t.creator_info(&access).await;
    let options = body["data"]["privacy_level_options"].as_array().unwrap();
    assert!(options.iter().any(|o| o == "PUBLIC_TO_EVERYONE"));

    // 5. Init a multi-chunk upload: 10,500 bytes in 3,000-byte chunks → 3 chunks, last 4,500.
    let bytes = data(10_500);
    let (status, body) = t
        .init_direct(&access, "PUBLIC_TO_EVERYONE", 10_500, 3000, 3)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let publish_id = body["data"]["publish_id"].as_str().unwrap().to_owned();
    let upload_url = body["data"]["upload_url"].as_str().unwrap().to_owned();

    // 6. Chunked PUTs.
    assert_eq!(
        t.upload_all(&upload_url, &bytes, 3000).await,
        vec![206, 206, 201]
    );

    // 7. Poll status until PUBLISH_COMPLETE with a public id (processing takes ~2 s real).
    let deadline = Instant::now() + Duration::from_secs(20);
    let post_id = loop {
        let (status, body) = t.status(&access, &publish_id).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let ids = body["data"]["publicaly_available_post_id"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if body["data"]["status"] == "PUBLISH_COMPLETE" && !ids.is_empty() {
            break ids[0].as_u64().unwrap();
        }
        assert_ne!(body["data"]["status"], "FAILED", "{body}");
        assert!(Instant::now() < deadline, "never published: {body}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };

    // 8. The post shows in video/list.
    let (_, body) = t.video_list(&access, "id,title,create_time").await;
    let ids: Vec<&str> = body["data"]["videos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids[0], post_id.to_string());

    // 9. Refresh: rotated refresh token; the old one is refused.
    let (_, body) = t.refresh(&tokens.refresh_token).await;
    let new_refresh = body["refresh_token"].as_str().unwrap().to_owned();
    let new_access = body["access_token"].as_str().unwrap().to_owned();
    assert_ne!(new_refresh, tokens.refresh_token);
    let (_, body) = t.refresh(&tokens.refresh_token).await;
    assert_eq!(body["error"], "invalid_grant");

    // 10. Revoke; every call now fails.
    let (status, _) = t.revoke(&new_access).await;
    assert_eq!(status, StatusCode::OK);
    for token in [&access, &new_access] {
        let (status, body) = t.user_info(token, "open_id").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(code(&body), "access_token_invalid");
    }
    let (_, body) = t.refresh(&new_refresh).await;
    assert_eq!(body["error"], "invalid_grant");

    // TikTok's side, as the sandbox recorded it.
    let records: sandbox::Records = t.records_over_http().await;
    let post = records.post(&publish_id).unwrap();
    assert_eq!(post.sha256.as_deref(), Some(sha256_hex(&bytes).as_str()));
    assert_eq!((post.video_size, post.chunks_received), (Some(10_500), 3));
    assert_eq!(post.publicaly_available_post_id, vec![post_id]);
    assert_eq!(records.refresh_counts[DEMO_PUBLIC_OPEN_ID], 1);
    assert_eq!(
        records.call_counts["upload"].by_open_id[DEMO_PUBLIC_OPEN_ID],
        3
    );
}
