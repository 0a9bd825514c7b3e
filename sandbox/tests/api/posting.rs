//! Content Posting: creator_info, init validation (chunk plans, privacy, audit rules, caps),
//! inbox and photo flows, status machine and every fail_reason, cancel, rate limits.

use std::time::Duration;

use reqwest::StatusCode;
use sandbox::{App, ChunkRules, Creator, DEMO_PRIVATE_OPEN_ID, DEMO_PUBLIC_OPEN_ID, MediaCheck};
use serde_json::{Value, json};

use crate::helpers::{TestSandbox, assert_answer, code, data, publish_id, start};

const SECOND: Duration = Duration::from_secs(1);

/// A one-chunk FILE_UPLOAD of 1,000 bytes.
const ONE_CHUNK: (u64, u64, u64) = (1000, 1000, 1);

fn unaudited_app(t: &TestSandbox) -> App {
    t.create_app(App {
        audited: false,
        ..App::default()
    })
    .unwrap()
}

fn unaudited_token(t: &TestSandbox, open_id: &str) -> String {
    let app = unaudited_app(t);
    t.issue_token(&app.client_key, open_id, &["video.publish", "video.upload"])
        .unwrap()
        .access_token
}

/// A one-chunk direct post init of 1,000 bytes.
async fn init_small(t: &TestSandbox, token: &str, privacy: &str) -> (StatusCode, Value) {
    let (size, chunk, count) = ONE_CHUNK;
    t.init_direct(token, privacy, size, chunk, count).await
}

#[tokio::test]
async fn creator_info_reflects_public_and_private_accounts() {
    let t = start().await;
    let (status, body) = t.creator_info(&t.full_token(DEMO_PUBLIC_OPEN_ID)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["data"]["privacy_level_options"],
        json!(["PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"])
    );
    assert_eq!(body["data"]["creator_nickname"], "Sunny Demo");
    let (_, body) = t.creator_info(&t.full_token(DEMO_PRIVATE_OPEN_ID)).await;
    assert_eq!(
        body["data"]["privacy_level_options"],
        json!(["FOLLOWER_OF_CREATOR", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"])
    );
    assert_eq!(body["data"]["duet_disabled"], true);
    // No body at all is accepted too.
    let resp = t
        .http
        .post(t.url("/v2/post/publish/creator_info/query/"))
        .bearer_auth(t.full_token(DEMO_PUBLIC_OPEN_ID))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let upload_only = t.token_for(DEMO_PUBLIC_OPEN_ID, &["video.upload"]);
    let answer = t.creator_info(&upload_only).await;
    assert_answer(&answer, StatusCode::UNAUTHORIZED, "scope_not_authorized");
}

/// Asserts a refusal: creator_info answers it with HTTP 200, an init with 403.
async fn refuses(t: &TestSandbox, token: &str, error_code: &str) {
    assert_answer(&t.creator_info(token).await, StatusCode::OK, error_code);
    let init = init_small(t, token, "SELF_ONLY").await;
    assert_answer(&init, StatusCode::FORBIDDEN, error_code);
}

#[tokio::test]
async fn creator_info_reports_bans_and_caps_with_http_200() {
    let t = start().await;
    let token = t.full_token(DEMO_PUBLIC_OPEN_ID);
    t.update_creator(DEMO_PUBLIC_OPEN_ID, |c| c.banned = true)
        .unwrap();
    refuses(&t, &token, "spam_risk_user_banned_from_posting").await;

    t.update_creator(DEMO_PUBLIC_OPEN_ID, |c| {
        c.banned = false;
        c.daily_post_cap = 1;
    })
    .unwrap();
    t.post_small(&token, "SELF_ONLY", &data(1000)).await;
    refuses(&t, &token, "spam_risk_too_many_posts").await;
    // The cap is a trailing 24 h window.
    t.advance_clock(Duration::from_secs(86_401));
    let token = t.full_token(DEMO_PUBLIC_OPEN_ID);
    assert_eq!(code(&t.creator_info(&token).await.1), "ok");

    t.update_app(sandbox::DEMO_CLIENT_KEY, |a| a.active_user_cap = Some(1))
        .unwrap();
    let other = t.full_token(DEMO_PRIVATE_OPEN_ID);
    t.post_small(&other, "SELF_ONLY", &data(1000)).await;
    refuses(&t, &token, "reached_active_user_cap").await;
}

#[tokio::test]
async fn documented_chunk_plans_are_accepted_and_bad_ones_refused_with_tiktoks_messages() {
    let t = start().await;
    t.allow_many_inits();
    let token = t.full_token(DEMO_PUBLIC_OPEN_ID);
    for &(size, chunk, count) in ChunkRules::DOCUMENTED_PLANS {
        let (status, body) = t.init_direct(&token, "SELF_ONLY", size, chunk, count).await;
        assert_eq!(status, StatusCode::OK, "{size}: {body}");
        assert!(
            body["data"]["upload_url"]
                .as_str()
                .unwrap()
                .contains("upload_id=")
        );
    }
    for (size, chunk, count, message) in [
        (
            77_360_899_u64,
            10_000_000_u64,
            8_u64,
            "total chunk count is invalid",
        ),
        (77_360_899, 1_000_000, 77, "The chunk size is invalid"),
        (15_000_000, 10_000_000, 1, "The chunk size is invalid"),
        (4_194_304, 1_000_000, 4, "The chunk size is invalid"),
        (100_000_000, 100_000_000, 1, "The chunk size is invalid"),
    ] {
        let (status, body) = t.init_direct(&token, "SELF_ONLY", size, chunk, count).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{size}/{chunk}/{count}");
        assert_eq!(code(&body), "invalid_params");
        assert_eq!(body["error"]["message"], message);
    }
    let too_big = t
        .init_direct(&token, "SELF_ONLY", 5_000_000_000, 10_000_000, 500)
        .await;
    assert_answer(&too_big, StatusCode::BAD_REQUEST, "invalid_file_upload");
}

#[tokio::test]
async fn init_refuses_malformed_bodies_and_long_titles() {
    let t = start().await;
    let token = t.full_token(DEMO_PUBLIC_OPEN_ID);
    let resp = t
        .http
        .post(t.url("/v2/post/publish/video/init/"))
        .bearer_auth(&token)
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(code(&body), "invalid_params");
    let no_post_info = t.video_init(&token, json!({"source_info": {}})).await;
    assert_answer(&no_post_info, StatusCode::BAD_REQUEST, "invalid_params");
    let long = "x".repeat(2201);
    let (_, body) = t
        .video_init(
            &token,
            json!({"post_info": {"title": long, "privacy_level": "SELF_ONLY"},
                   "source_info": {"source": "FILE_UPLOAD", "video_size": 1000, "chunk_size": 1000, "total_chunk_count": 1}}),
        )
        .await;
    assert_eq!(code(&body), "invalid_params");
}

#[tokio::test]
async fn privacy_must_be_one_of_the_creators_options() {
    let t = start().await;
    t.allow_many_inits();
    let public = t.full_token(DEMO_PUBLIC_OPEN_ID);
    let private = t.full_token(DEMO_PRIVATE_OPEN_ID);
    for (token, privacy) in [
        (&public, "FOLLOWER_OF_CREATOR"),
        (&private, "PUBLIC_TO_EVERYONE"),
        (&public, "EVERYONE"),
    ] {
        let answer = init_small(&t, token, privacy).await;
        assert_answer(
            &answer,
            StatusCode::FORBIDDEN,
            "privacy_level_option_mismatch",
        );
    }
    let no_privacy = t
        .video_init(
            &public,
            json!({"post_info": {}, "source_info": {"source": "FILE_UPLOAD", "video_size": 1000, "chunk_size": 1000, "total_chunk_count": 1}}),
        )
        .await;
    assert_answer(
        &no_privacy,
        StatusCode::FORBIDDEN,
        "privacy_level_option_mismatch",
    );
}

#[tokio::test]
async fn unaudited_apps_post_only_self_only_to_private_accounts_for_five_creators() {
    let t = start().await;
    let private_only = "unaudited_client_can_only_post_to_private_accounts";
    let token = unaudited_token(&t, DEMO_PUBLIC_OPEN_ID);
    let answer = init_small(&t, &token, "SELF_ONLY").await;
    assert_answer(&answer, StatusCode::FORBIDDEN, private_only);
    let token = unaudited_token(&t, DEMO_PRIVATE_OPEN_ID);
    let (_, body) = init_small(&t, &token, "FOLLOWER_OF_CREATOR").await;
    assert_eq!(code(&body), private_only);
    let (status, _) = init_small(&t, &token, "SELF_ONLY").await;
    assert_eq!(status, StatusCode::OK);

    // Five distinct creators a day for one unaudited app.
    let app = unaudited_app(&t);
    for i in 0..6 {
        let c = t
            .create_creator(Creator {
                private_account: true,
                username: format!("c{i}"),
                ..Creator::default()
            })
            .unwrap();
        let token = t
            .issue_token(&app.client_key, &c.open_id, &["video.publish"])
            .unwrap()
            .access_token;
        let answer = init_small(&t, &token, "SELF_ONLY").await;
        if i < 5 {
            assert_eq!(answer.0, StatusCode::OK, "{}", answer.1);
        } else {
            assert_answer(&answer, StatusCode::FORBIDDEN, "reached_active_user_cap");
        }
    }
}

#[tokio::test]
async fn direct_post_moves_through_processing_to_publish_complete_with_a_public_id() {
    let t = start().await;
    // Long delays, crossed by advancing the clock, so real time never races the assertions.
    t.update_knobs(|k| {
        k.processing_delay_ms = 10_000;
        k.moderation_delay_ms = 10_000;
    });
    let token = t.full_token(DEMO_PUBLIC_OPEN_ID);
    let bytes = data(3000);
    let id = t.post_small(&token, "PUBLIC_TO_EVERYONE", &bytes).await;
    let fetched = t.status_data(&token, &id).await;
    assert_eq!(fetched["status"], "PROCESSING_UPLOAD");
    assert_eq!(fetched["uploaded_bytes"], 3000);
    t.advance_clock(11 * SECOND);
    let fetched = t.status_data(&token, &id).await;
    assert_eq!(fetched["status"], "PUBLISH_COMPLETE");
    assert_eq!(fetched["publicaly_available_post_id"], json!([]));
    t.advance_clock(11 * SECOND);
    let fetched = t.status_data(&token, &id).await;
    let ids = fetched["publicaly_available_post_id"].as_array().unwrap();
    assert_eq!(ids.len(), 1);
    assert!(ids[0].is_u64() && ids[0].to_string().len() == 19);
    let post = t.records().post(&id).cloned().unwrap();
    assert_eq!(
        post.sha256.as_deref(),
        Some(crate::helpers::sha256_hex(&bytes).as_str())
    );

    // SELF_ONLY never gets a public id, and does not show in video/list.
    let private_id = t.post_small(&token, "SELF_ONLY", &data(1000)).await;
    t.advance_clock(30 * SECOND);
    let fetched = t.status_data(&token, &private_id).await;
    assert_eq!(fetched["status"], "PUBLISH_COMPLETE");
    assert_eq!(fetched["publicaly_available_post_id"], json!([]));
    let (_, list) = t.post("/v2/video/list/?fields=id", &token, json!({})).await;
    let listed: Vec<&Value> = list["data"]["videos"].as_array().unwrap().iter().collect();
    assert_eq!(listed[0]["id"].as_str().unwrap(), ids[0].to_string());
    assert_eq!(listed.len(), 4, "3 seeded + the public post");
    t.update_knobs(|k| k.video_list_public_only = false);
    let (_, list) = t.post("/v2/video/list/?fields=id", &token, json!({})).await;
    assert_eq!(list["data"]["videos"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn every_fail_reason_is_reachable() {
    let t = start().await;
    t.update_knobs(|k| {
        k.rate_limits.init = 1000;
        k.rate_limits.status_fetch = 1000;
    });
    t.update_creator(DEMO_PUBLIC_OPEN_ID, |c| c.daily_post_cap = 1000)
        .unwrap();
    let token = t.full_token(DEMO_PUBLIC_OPEN_ID);
    // Forced through the media-check knob.
    let forced = [
        "file_format_check_failed",
        "duration_check_failed",
        "frame_rate_check_failed",
        "picture_size_check_failed",
        "internal",
        "spam_risk_too_many_posts",
        "spam_risk_user_banned_from_posting",
        "spam_risk_text",
        "spam_risk",
    ];
    for reason in forced {
        t.fail_next_post(MediaCheck {
            fail_reason: reason.into(),
            open_id: Some(DEMO_PUBLIC_OPEN_ID.into()),
            count: 1,
        });
        let id = t.post_small(&token, "SELF_ONLY", &data(500)).await;
        t.advance_clock(3 * SECOND);
        let fetched = t.status_data(&token, &id).await;
        assert_eq!(fetched, json!({"status": "FAILED", "fail_reason": reason}));
    }
    // Natural causes: the format check, a ban during processing, a stalled pull, a cancel,
    // and access removed mid-flight.
    t.update_knobs(|k| k.check_file_format = true);
    let id = t.post_small(&token, "SELF_ONLY", &data(500)).await;
    t.advance_clock(3 * SECOND);
    assert_eq!(
        t.status_data(&token, &id).await["fail_reason"],
        "file_format_check_failed"
    );
    let mut mp4 = data(500);
    mp4[4..8].copy_from_slice(b"ftyp");
    let id = t.post_small(&token, "SELF_ONLY", &mp4).await;
    t.advance_clock(3 * SECOND);
    assert_eq!(
        t.status_data(&token, &id).await["status"],
        "PUBLISH_COMPLETE"
    );

    let id = t.post_small(&token, "SELF_ONLY", &data(500)).await;
    t.update_creator(DEMO_PUBLIC_OPEN_ID, |c| c.banned = true)
        .unwrap();
    t.advance_clock(3 * SECOND);
    assert_eq!(
        t.status_data(&token, &id).await["fail_reason"],
        "spam_risk_user_banned_from_posting"
    );
    t.update_creator(DEMO_PUBLIC_OPEN_ID, |c| c.banned = false)
        .unwrap();

    t.update_knobs(|k| k.pull_stalls = true);
    let pull = json!({"post_info": {"privacy_level": "SELF_ONLY"},
                      "source_info": {"source": "PULL_FROM_URL", "video_url": "https://media.example.com/clip.mp4"}});
    let (_, body) = t.video_init(&token, pull.clone()).await;
    let video_pull = publish_id(&body);
    let photo = json!({"media_type": "PHOTO", "post_mode": "DIRECT_POST",
                       "post_info": {"title": "pics", "privacy_level": "SELF_ONLY"},
                       "source_info": {"source": "PULL_FROM_URL", "photo_images": ["https://media.example.com/a.jpg"], "photo_cover_index": 0}});
    let (status, body) = t
        .post("/v2/post/publish/content/init/", &token, photo)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let photo_pull = publish_id(&body);
    assert!(photo_pull.starts_with("p_pub_url~v2."));
    let (_, body) = t.video_init(&token, pull).await;
    let cancelled = publish_id(&body);
    let answer = t.cancel(&token, &cancelled).await;
    assert_answer(&answer, StatusCode::OK, "ok");
    assert_eq!(
        t.status_data(&token, &cancelled).await["fail_reason"],
        "publish_cancelled"
    );
    t.advance_clock(Duration::from_secs(3601));
    assert_eq!(
        t.status_data(&token, &video_pull).await["fail_reason"],
        "video_pull_failed"
    );
    assert_eq!(
        t.status_data(&token, &photo_pull).await["fail_reason"],
        "photo_pull_failed"
    );

    let n = 1000_u64;
    let (_, body) = t.init_direct(&token, "SELF_ONLY", n, n, 1).await;
    let in_flight = publish_id(&body);
    t.revoke(&token).await;
    let post = t.records().post(&in_flight).cloned().unwrap();
    assert_eq!(
        (post.status.as_str(), post.fail_reason.as_deref()),
        ("FAILED", Some("auth_removed"))
    );
}

#[tokio::test]
async fn pull_from_url_downloads_then_publishes_and_checks_url_ownership() {
    let t = start().await;
    t.update_knobs(|k| k.pull_download_ms = 60_000);
    let token = t.full_token(DEMO_PUBLIC_OPEN_ID);
    let init = |url: &str| json!({"post_info": {"privacy_level": "SELF_ONLY"}, "source_info": {"source": "PULL_FROM_URL", "video_url": url}});
    let answer = t
        .video_init(&token, init("https://evil.test/clip.mp4"))
        .await;
    assert_answer(&answer, StatusCode::FORBIDDEN, "url_ownership_unverified");
    let answer = t
        .video_init(&token, init("http://media.example.com/clip.mp4"))
        .await;
    assert_answer(&answer, StatusCode::BAD_REQUEST, "invalid_params");
    t.update_app(sandbox::DEMO_CLIENT_KEY, |a| {
        a.verified_url_prefixes
            .push("https://cdn.test/videos/".into())
    })
    .unwrap();
    let (status, body) = t
        .video_init(&token, init("https://cdn.test/videos/a.mp4"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = publish_id(&body);
    assert!(id.starts_with("v_pub_url~v2-1."));
    assert!(body["data"].get("upload_url").is_none());
    let fetched = t.status_data(&token, &id).await;
    assert_eq!(fetched["status"], "PROCESSING_DOWNLOAD");
    assert!(fetched["downloaded_bytes"].is_i64());
    t.advance_clock(65 * SECOND);
    let fetched = t.status_data(&token, &id).await;
    assert_eq!(fetched["status"], "PUBLISH_COMPLETE");
    let answer = t.cancel(&token, &id).await;
    assert_answer(&answer, StatusCode::BAD_REQUEST, "publish_not_cancellable");
}

#[tokio::test]
async fn inbox_uploads_wait_for_the_creator_and_cap_pending_shares_at_five() {
    let t = start().await;
    t.allow_many_inits();
    let token = t.full_token(DEMO_PUBLIC_OPEN_ID);
    let init = json!({"source_info": {"source": "FILE_UPLOAD", "video_size": 1000, "chunk_size": 1000, "total_chunk_count": 1}});
    let mut ids = Vec::new();
    for _ in 0..5 {
        let (status, body) = t.inbox_init(&token, init.clone()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let id = publish_id(&body);
        assert!(id.starts_with("v_inbox_file~v2."));
        let url = body["data"]["upload_url"].as_str().unwrap().to_owned();
        assert_eq!(
            t.put(&url, &data(1000), 0, 1000).await.unwrap().status(),
            StatusCode::CREATED
        );
        ids.push(id);
    }
    let answer = t.inbox_init(&token, init.clone()).await;
    assert_answer(
        &answer,
        StatusCode::FORBIDDEN,
        "spam_risk_too_many_pending_share",
    );
    assert!(
        answer.1.get("data").is_none(),
        "this error comes without data"
    );

    t.advance_clock(3 * SECOND);
    let fetched = t.status_data(&token, &ids[0]).await;
    assert_eq!(fetched["status"], "SEND_TO_USER_INBOX");
    t.creator_posts_draft(&ids[0], None).unwrap();
    let fetched = t.status_data(&token, &ids[0]).await;
    assert_eq!(fetched["status"], "PUBLISH_COMPLETE");
    // Posting a draft frees a slot.
    let (status, _) = t.inbox_init(&token, init.clone()).await;
    assert_eq!(status, StatusCode::OK);

    let no_upload = t.token_for(DEMO_PUBLIC_OPEN_ID, &["video.publish"]);
    let answer = t.inbox_init(&no_upload, init).await;
    assert_answer(&answer, StatusCode::UNAUTHORIZED, "scope_not_authorized");
}

#[tokio::test]
async fn status_fetch_checks_the_publish_id_and_its_owner() {
    let t = start().await;
    let token = t.full_token(DEMO_PUBLIC_OPEN_ID);
    let answer = t.status(&token, "v_pub_file~v2-1.1").await;
    assert_answer(&answer, StatusCode::BAD_REQUEST, "invalid_publish_id");
    let id = t.post_small(&token, "SELF_ONLY", &data(100)).await;
    let other = t.full_token(DEMO_PRIVATE_OPEN_ID);
    let answer = t.status(&other, &id).await;
    let not_theirs = "token_not_authorized_for_specified_publish_id";
    assert_answer(&answer, StatusCode::BAD_REQUEST, not_theirs);
    let answer = t.cancel(&token, "nope").await;
    assert_answer(&answer, StatusCode::BAD_REQUEST, "invalid_publish_id");
}

#[tokio::test]
async fn posting_endpoints_have_tiktoks_per_token_rate_limits() {
    let t = start().await;
    t.update_creator(DEMO_PUBLIC_OPEN_ID, |c| c.daily_post_cap = 100)
        .unwrap();
    let token = t.full_token(DEMO_PUBLIC_OPEN_ID);
    for _ in 0..6 {
        assert_eq!(init_small(&t, &token, "SELF_ONLY").await.0, StatusCode::OK);
    }
    let answer = init_small(&t, &token, "SELF_ONLY").await;
    assert_answer(
        &answer,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limit_exceeded",
    );
    for _ in 0..20 {
        assert_eq!(t.creator_info(&token).await.0, StatusCode::OK);
    }
    assert_eq!(
        t.creator_info(&token).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    let id = t.records().posts[0].publish_id.clone();
    for _ in 0..30 {
        assert_eq!(t.status(&token, &id).await.0, StatusCode::OK);
    }
    assert_eq!(t.status(&token, &id).await.0, StatusCode::TOO_MANY_REQUESTS);
    t.advance_clock(61 * SECOND);
    assert_eq!(init_small(&t, &token, "SELF_ONLY").await.0, StatusCode::OK);
    assert_eq!(t.status(&token, &id).await.0, StatusCode::OK);
}
