//! Every example body in tiktok-api.md has the same shape (field names, JSON types, envelope)
//! as what the sandbox returns for the same request.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use sandbox::DEMO_PUBLIC_OPEN_ID;
use serde_json::{Value, json};

use crate::helpers::{data, publish_id, start};

/// Same keys at every level, same JSON types; arrays compare their first elements.
fn assert_same_shape(path: &str, doc: &Value, got: &Value) {
    match (doc, got) {
        (Value::Object(d), Value::Object(g)) => {
            let mut dk: Vec<&String> = d.keys().collect();
            let mut gk: Vec<&String> = g.keys().collect();
            dk.sort();
            gk.sort();
            assert_eq!(dk, gk, "keys differ at {path}");
            for (k, v) in d {
                assert_same_shape(&format!("{path}.{k}"), v, &g[k]);
            }
        }
        (Value::Array(d), Value::Array(g)) => {
            if let (Some(d0), Some(g0)) = (d.first(), g.first()) {
                assert_same_shape(&format!("{path}[0]"), d0, g0);
            }
        }
        (Value::Number(d), Value::Number(g)) => {
            assert_eq!(d.is_f64(), g.is_f64(), "number kind differs at {path}");
        }
        (d, g) => assert_eq!(
            std::mem::discriminant(d),
            std::mem::discriminant(g),
            "type differs at {path}: doc {d} vs sandbox {g}"
        ),
    }
}

fn doc(s: &str) -> Value {
    serde_json::from_str(s).expect("doc example parses")
}

const TOKEN: &str = r#"{
  "access_token": "act.3f9c1e0b7a5d4c2e8f6a0b1c2d3e4f5aSimTok!4821",
  "expires_in": 86400,
  "open_id": "-000sim-open-id-0001",
  "refresh_expires_in": 31536000,
  "refresh_token": "rft.8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3dSimRef!4821",
  "scope": "user.info.basic,video.publish,video.upload",
  "token_type": "Bearer"
}"#;
const OAUTH_ERROR: &str = r#"{ "error": "invalid_request", "error_description": "The request parameters are malformed.", "log_id": "20260901123045A1B2C3D4E5F60718293A" }"#;
const USER_INFO: &str = r#"{
  "data": {
    "user": {
      "open_id": "-000sim-open-id-0001",
      "union_id": "5b0d6a52-3c1e-4e8f-9a47-1f2e3d4c5b6a",
      "avatar_url": "https://p16-sign.tiktokcdn.com/tos-sim/avatar~c5_168x168.jpeg",
      "display_name": "Sim Creator",
      "username": "simcreator"
    }
  },
  "error": { "code": "ok", "message": "", "log_id": "20260901120000F00DBABE0123456789AB" }
}"#;
const VIDEO_LIST: &str = r#"{
  "data": {
    "videos": [
      { "id": "7402113344556677889", "title": "sim clip", "create_time": 1725180000,
        "cover_image_url": "https://p16-sign.tiktokcdn.com/sim/cover.image?x-expires=1725201600",
        "share_url": "https://www.tiktok.com/@simcreator/video/7402113344556677889", "duration": 14 }
    ],
    "cursor": 1725180000000,
    "has_more": false
  },
  "error": { "code": "ok", "message": "", "log_id": "20260901120001F00DBABE0123456789AC" }
}"#;
const CREATOR_INFO: &str = r#"{
  "data": {
    "creator_avatar_url": "https://p16-sign.tiktokcdn.com/sim/avatar.jpeg",
    "creator_username": "simcreator",
    "creator_nickname": "Sim Creator",
    "privacy_level_options": ["PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"],
    "comment_disabled": false,
    "duet_disabled": false,
    "stitch_disabled": true,
    "max_video_post_duration_sec": 600
  },
  "error": { "code": "ok", "message": "", "log_id": "20260901120002F00DBABE0123456789AD" }
}"#;
const VIDEO_INIT: &str = r#"{
  "data": {
    "publish_id": "v_pub_file~v2-1.7400000000000000001",
    "upload_url": "https://open-upload.tiktokapis.com/video/?upload_id=7400000000000000101&upload_token=SimUploadTok01"
  },
  "error": { "code": "ok", "message": "", "log_id": "20260901120003F00DBABE0123456789AE" }
}"#;
const INBOX_INIT: &str = r#"{"data":{"publish_id":"v_inbox_file~v2.7400000000000000003","upload_url":"https://open-upload.tiktokapis.com/video/?upload_id=7400000000000000103&upload_token=SimUploadTok03"},"error":{"code":"ok","message":"","log_id":"20260901120004F00DBABE0123456789AF"}}"#;
const STATUS: &str = r#"{
  "data": {
    "status": "PUBLISH_COMPLETE",
    "publicaly_available_post_id": [7400000000000000999],
    "uploaded_bytes": 77360899
  },
  "error": { "code": "ok", "message": "", "log_id": "20260901120105F00DBABE0123456789B0" }
}"#;
const STATUS_FAILED: &str = r#"{"data":{"fail_reason":"file_format_check_failed","status":"FAILED"},"error":{"code":"ok","message":"","log_id":"20260901120105F00DBABE0123456789B0"}}"#;
const TOKEN_INVALID: &str = r#"{"data":{},"error":{"code":"access_token_invalid","message":"The access token is invalid or not found in the request.","log_id":"20260901120105F00DBABE0123456789B0"}}"#;
const CANCEL_OK: &str =
    r#"{"error":{"code":"ok","message":"","log_id":"20260901120105F00DBABE0123456789B0"}}"#;
const WEBHOOK: &str = r#"{
  "client_key": "awtestkey123",
  "event": "post.publish.complete",
  "create_time": 1725192345,
  "user_openid": "-000sim-open-id-0001",
  "content": "{\"publish_id\":\"v_pub_file~v2-1.7400000000000000001\",\"publish_type\":\"DIRECT_PUBLISH\"}"
}"#;

#[tokio::test]
async fn sandbox_bodies_match_the_shapes_of_the_doc_examples() {
    let t = start().await;
    t.small_chunks();
    t.allow_many_inits();

    let code = t
        .authorize(
            DEMO_PUBLIC_OPEN_ID,
            "user.info.basic,video.publish,video.upload,video.list,user.info.profile",
        )
        .await;
    let (_, token_body) = t.token(&crate::helpers::code_form(&code)).await;
    assert_same_shape("token", &doc(TOKEN), &token_body);
    let token = token_body["access_token"].as_str().unwrap().to_owned();
    let (_, err) = t.token(&[("client_key", sandbox::DEMO_CLIENT_KEY)]).await;
    assert_same_shape("oauth_error", &doc(OAUTH_ERROR), &err);

    let (_, body) = t
        .user_info(&token, "open_id,union_id,avatar_url,display_name,username")
        .await;
    assert_same_shape("user_info", &doc(USER_INFO), &body);
    let fields = "id,title,create_time,cover_image_url,share_url,duration";
    let (_, body) = t.video_list(&token, fields).await;
    assert_same_shape("video_list", &doc(VIDEO_LIST), &body);
    let (_, body) = t.creator_info(&token).await;
    assert_same_shape("creator_info", &doc(CREATOR_INFO), &body);

    let (status, body) = t
        .init_direct(&token, "PUBLIC_TO_EVERYONE", 6500, 2000, 3)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_same_shape("video_init", &doc(VIDEO_INIT), &body);
    let id = body["data"]["publish_id"].as_str().unwrap().to_owned();
    let url = body["data"]["upload_url"].as_str().unwrap().to_owned();
    assert_eq!(
        t.upload_all(&url, &data(6500), 2000).await,
        vec![206, 206, 201]
    );
    t.advance_clock(Duration::from_secs(10));
    let (_, body) = t.status(&token, &id).await;
    assert_same_shape("status", &doc(STATUS), &body);

    t.update_knobs(|k| k.chunks = sandbox::ChunkRules::default());
    let (_, body) = t
        .inbox_init(
            &token,
            json!({"source_info":{"source":"FILE_UPLOAD","video_size":4194304,"chunk_size":4194304,"total_chunk_count":1}}),
        )
        .await;
    assert_same_shape("inbox_init", &doc(INBOX_INIT), &body);

    t.fail_next_post(sandbox::MediaCheck {
        fail_reason: "file_format_check_failed".into(),
        open_id: None,
        count: 1,
    });
    let failed = t.post_small(&token, "SELF_ONLY", &data(100)).await;
    t.advance_clock(Duration::from_secs(10));
    let (_, body) = t.status(&token, &failed).await;
    assert_same_shape("status_failed", &doc(STATUS_FAILED), &body);

    let (_, body) = t
        .v2(
            Method::GET,
            "/v2/user/info/?fields=open_id",
            "act.nope",
            None,
        )
        .await;
    assert_same_shape("token_invalid", &doc(TOKEN_INVALID), &body);

    t.update_knobs(|k| k.pull_stalls = true);
    let (_, body) = t
        .post(
            "/v2/post/publish/video/init/",
            &token,
            json!({"post_info":{"privacy_level":"SELF_ONLY"},"source_info":{"source":"PULL_FROM_URL","video_url":"https://media.example.com/tiktok/clip.mp4"}}),
        )
        .await;
    let (_, body) = t.cancel(&token, &publish_id(&body)).await;
    assert_same_shape("cancel", &doc(CANCEL_OK), &body);
}

#[tokio::test]
async fn webhook_envelope_matches_the_doc_example() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let receiver = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: String| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(body);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, receiver).await });

    let t = start().await;
    t.update_app(sandbox::DEMO_CLIENT_KEY, |a| a.webhook_url = Some(hook))
        .unwrap();
    let token = t.full_token(DEMO_PUBLIC_OPEN_ID);
    t.post_small(&token, "SELF_ONLY", &data(100)).await;
    t.advance_clock(Duration::from_secs(10));
    let body = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap()
        .unwrap();
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_same_shape("webhook", &doc(WEBHOOK), &body);
    let content: Value = serde_json::from_str(body["content"].as_str().unwrap()).unwrap();
    assert_eq!(content["publish_type"], "DIRECT_PUBLISH");
}
