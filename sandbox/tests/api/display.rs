//! Display API: user info by scope, video list paging, video query, rate limits.

use reqwest::{Method, StatusCode};
use sandbox::{DEMO_PUBLIC_OPEN_ID, FieldScopeMiss};
use serde_json::json;

use crate::helpers::{assert_answer, code, start};

#[tokio::test]
async fn user_info_returns_only_the_requested_fields() {
    let t = start().await;
    let token = t.full_token(DEMO_PUBLIC_OPEN_ID);
    let (status, body) = t
        .user_info(
            &token,
            "open_id,display_name,username,follower_count,is_verified",
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(code(&body), "ok");
    let user = body["data"]["user"].as_object().unwrap();
    assert_eq!(user.len(), 5);
    assert_eq!(user["display_name"], "Sunny Demo");
    assert_eq!(user["username"], "sunny.demo");
    assert!(user["follower_count"].is_i64());
    assert!(user["is_verified"].is_boolean());
}

#[tokio::test]
async fn user_info_checks_scopes_fields_and_the_token() {
    let t = start().await;
    let basic = t.token_for(DEMO_PUBLIC_OPEN_ID, &["user.info.basic"]);
    let answer = t.user_info(&basic, "open_id,username").await;
    assert_answer(&answer, StatusCode::BAD_REQUEST, "scope_permission_missed");
    t.update_knobs(|k| k.field_scope_miss = FieldScopeMiss::ScopeNotAuthorized);
    let answer = t.user_info(&basic, "follower_count").await;
    assert_answer(&answer, StatusCode::UNAUTHORIZED, "scope_not_authorized");

    let no_basic = t.token_for(DEMO_PUBLIC_OPEN_ID, &["video.publish"]);
    let answer = t.user_info(&no_basic, "open_id").await;
    assert_answer(&answer, StatusCode::UNAUTHORIZED, "scope_not_authorized");

    let (status, body) = t.v2(Method::GET, "/v2/user/info/", &basic, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code(&body), "invalid_params");
    let (_, body) = t.user_info(&basic, "open_id,shoe_size").await;
    assert_eq!(code(&body), "invalid_params");

    let (status, body) = t.user_info("act.bogus", "open_id").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&body), "access_token_invalid");
    assert_eq!(body["data"], json!({}));
    let resp = t
        .http
        .get(t.url("/v2/user/info/?fields=open_id"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn video_list_pages_newest_first_with_a_millisecond_cursor() {
    let t = start().await;
    let token = t.full_token(DEMO_PUBLIC_OPEN_ID);
    let path = "/v2/video/list/?fields=id,title,create_time,cover_image_url,share_url,duration";
    let (status, body) = t.post(path, &token, json!({"max_count": 2})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let videos = body["data"]["videos"].as_array().unwrap();
    assert_eq!(videos.len(), 2);
    assert!(videos[0]["create_time"].as_i64() > videos[1]["create_time"].as_i64());
    assert_eq!(body["data"]["has_more"], true);
    let cursor = body["data"]["cursor"].as_i64().unwrap();
    assert_eq!(cursor, videos[1]["create_time"].as_i64().unwrap() * 1000);
    let (_, body) = t
        .post(path, &token, json!({"max_count": 2, "cursor": cursor}))
        .await;
    assert_eq!(body["data"]["videos"].as_array().unwrap().len(), 1);
    assert_eq!(body["data"]["has_more"], false);

    let (status, body) = t.post(path, &token, json!({"max_count": 21})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code(&body), "invalid_params");
    let (_, body) = t.post("/v2/video/list/", &token, json!({})).await;
    assert_eq!(code(&body), "invalid_params");
    let no_list = t.token_for(DEMO_PUBLIC_OPEN_ID, &["user.info.basic"]);
    let answer = t.post(path, &no_list, json!({})).await;
    assert_answer(&answer, StatusCode::UNAUTHORIZED, "scope_not_authorized");
}

#[tokio::test]
async fn video_query_returns_only_the_creators_own_videos() {
    let t = start().await;
    let token = t.full_token(DEMO_PUBLIC_OPEN_ID);
    let ids: Vec<String> = t
        .records()
        .videos
        .iter()
        .map(|v| v.id.clone())
        .take(2)
        .collect();
    let (status, body) = t
        .post(
            "/v2/video/query/?fields=id,title,view_count",
            &token,
            json!({"filters": {"video_ids": [ids[0], ids[1], "123"]}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["videos"].as_array().unwrap().len(), 2);
    let no_ids = json!({"filters": {"video_ids": []}});
    let answer = t.post("/v2/video/query/?fields=id", &token, no_ids).await;
    assert_answer(&answer, StatusCode::BAD_REQUEST, "invalid_params");
}

#[tokio::test]
async fn display_endpoints_are_rate_limited_per_token_per_minute() {
    let t = start().await;
    t.update_knobs(|k| k.rate_limits.display = 3);
    let token = t.full_token(DEMO_PUBLIC_OPEN_ID);
    for _ in 0..3 {
        assert_eq!(t.user_info(&token, "open_id").await.0, StatusCode::OK);
    }
    let answer = t.user_info(&token, "open_id").await;
    assert_answer(
        &answer,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limit_exceeded",
    );
    // Another token, and another endpoint, have their own windows.
    let other = t.full_token(DEMO_PUBLIC_OPEN_ID);
    assert_eq!(t.user_info(&other, "open_id").await.0, StatusCode::OK);
    let (status, _) = t.post("/v2/video/list/?fields=id", &token, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    t.advance_clock(std::time::Duration::from_secs(61));
    assert_eq!(t.user_info(&token, "open_id").await.0, StatusCode::OK);
}
