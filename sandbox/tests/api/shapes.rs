//! Every example body in tiktok-api.md has the same shape (field names, JSON types, envelope)
//! as what the sandbox returns for the same request.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use sandbox::DEMO_PUBLIC_OPEN_ID;
use sandbox::doc_examples::{
    CANCEL_OK, CREATOR_INFO, INBOX_INIT, OAUTH_ERROR, STATUS, STATUS_FAILED, TOKEN, TOKEN_INVALID,
    USER_INFO, VIDEO_INIT, VIDEO_LIST, WEBHOOK,
};
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
