//! The control API over HTTP, and webhook delivery with TikTok's signature and retries.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit, Mac};
use reqwest::StatusCode;
use sandbox::{DEMO_CLIENT_KEY, DEMO_CLIENT_SECRET, DEMO_PUBLIC_OPEN_ID};
use serde_json::{Value, json};

use crate::helpers::{data, publish_id, start};

#[tokio::test]
async fn knobs_apps_creators_clock_and_reset_are_controllable_over_http() {
    let t = start().await;
    let http = &t.http;
    let get = |path: &str| {
        let req = http.get(t.url(path));
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    assert_eq!(get("/_sandbox/health").await["ok"], true);
    let knobs = get("/_sandbox/knobs").await;
    assert_eq!(knobs["rate_limits"]["init"], 6);

    let resp = http
        .patch(t.url("/_sandbox/knobs"))
        .json(&json!({"rate_limits": {"init": 2}}))
        .send()
        .await
        .unwrap();
    let knobs: Value = resp.json().await.unwrap();
    assert_eq!(
        (
            knobs["rate_limits"]["init"].as_u64(),
            knobs["rate_limits"]["creator_info"].as_u64()
        ),
        (Some(2), Some(20))
    );
    let resp = http
        .patch(t.url("/_sandbox/knobs"))
        .json(&json!({"no_such_knob": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    let app = t
        .post_json(
            "/_sandbox/apps",
            &json!({"name": "Other", "audited": false, "redirect_uris": ["https://app.test/cb"]}),
        )
        .await;
    let key = app["client_key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("sbaw") && app["client_secret"].is_string());
    let app = t
        .post_json(
            &format!("/_sandbox/apps/{key}/redirect-uris"),
            &json!({"uri": "https://app.test/cb2"}),
        )
        .await;
    assert_eq!(app["redirect_uris"].as_array().unwrap().len(), 2);
    let app = t
        .patch_json(&format!("/_sandbox/apps/{key}"), &json!({"audited": true}))
        .await;
    assert_eq!(app["audited"], true);

    let creator = t
        .post_json(
            "/_sandbox/creators",
            &json!({"display_name": "Neo", "username": "neo", "private_account": true}),
        )
        .await;
    let open_id = creator["open_id"].as_str().unwrap().to_owned();
    let creator = t
        .patch_json(
            &format!("/_sandbox/creators/{open_id}"),
            &json!({"banned": true}),
        )
        .await;
    assert_eq!(creator["banned"], true);
    let token = t
        .post_json(
            "/_sandbox/tiktok/tokens",
            &json!({"client_key": key, "open_id": open_id, "scopes": ["video.publish"]}),
        )
        .await;
    let (_, body) = t
        .creator_info(token["access_token"].as_str().unwrap())
        .await;
    assert_eq!(body["error"]["code"], "spam_risk_user_banned_from_posting");

    let before = get("/_sandbox/clock").await["now_unix"].as_i64().unwrap();
    let clock = t
        .post_json("/_sandbox/clock/advance", &json!({"seconds": 3600}))
        .await;
    assert!(clock["now_unix"].as_i64().unwrap() >= before + 3600);
    assert_eq!(clock["offset_ms"], 3_600_000);

    let resp = http
        .post(t.url("/_sandbox/faults"))
        .json(&json!({"endpoint": "user.info", "nth": 1, "kind": "status", "status": 502}))
        .send()
        .await
        .unwrap();
    assert!(resp.json::<Value>().await.unwrap()["id"].is_u64());
    assert_eq!(get("/_sandbox/faults").await.as_array().unwrap().len(), 1);
    http.delete(t.url("/_sandbox/faults")).send().await.unwrap();
    assert_eq!(get("/_sandbox/faults").await.as_array().unwrap().len(), 0);

    http.post(t.url("/_sandbox/reset")).send().await.unwrap();
    assert_eq!(get("/_sandbox/knobs").await["rate_limits"]["init"], 6);
    assert_eq!(get("/_sandbox/apps").await.as_array().unwrap().len(), 1);
    assert_eq!(get("/_sandbox/creators").await.as_array().unwrap().len(), 2);
    assert_eq!(get("/_sandbox/clock").await["offset_ms"], 0);
    let resp = http
        .get(t.url("/_sandbox/creators/nobody"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    // The seeded demo app keeps the development defaults.
    let demo = get(&format!("/_sandbox/apps/{DEMO_CLIENT_KEY}")).await;
    assert_eq!(demo["client_secret"], DEMO_CLIENT_SECRET);
    assert_eq!(
        demo["redirect_uris"],
        json!(["http://127.0.0.1:8080/auth/tiktok/callback"])
    );
}

#[tokio::test]
async fn inbox_drafts_can_be_posted_by_the_creator_over_http_and_records_are_served() {
    let t = start().await;
    t.update_knobs(|k| k.processing_delay_ms = 60_000);
    let token = t.full_token(DEMO_PUBLIC_OPEN_ID);
    let (_, body) = t
        .inbox_init(
            &token,
            json!({"source_info": {"source": "FILE_UPLOAD", "video_size": 500, "chunk_size": 500, "total_chunk_count": 1}}),
        )
        .await;
    let id = publish_id(&body);
    t.put(
        body["data"]["upload_url"].as_str().unwrap(),
        &data(500),
        0,
        500,
    )
    .await
    .unwrap();
    let url = t.url(&format!("/_sandbox/tiktok/posts/{id}/creator-post"));
    assert_eq!(
        t.http
            .post(&url)
            .json(&json!({}))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::BAD_REQUEST,
        "not delivered yet"
    );
    t.advance_clock(Duration::from_secs(61));
    let resp = t
        .http
        .post(&url)
        .json(&json!({"privacy_level": "PUBLIC_TO_EVERYONE"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    t.advance_clock(Duration::from_secs(5));
    let records: Value = t.records_over_http().await;
    let post = records["posts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["publish_id"] == id.as_str())
        .unwrap();
    assert_eq!(post["status"], "PUBLISH_COMPLETE");
    assert_eq!(post["post_mode"], "MEDIA_UPLOAD");
    assert_eq!(
        post["publicaly_available_post_id"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

type HmacSha256 = Hmac<sha2::Sha256>;

#[tokio::test]
async fn webhooks_are_signed_like_tiktok_and_retried_after_a_non_200() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::<(String, String)>::new()));
    let calls = Arc::new(AtomicU32::new(0));
    let receiver = {
        let (seen, calls) = (seen.clone(), calls.clone());
        axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
                let (seen, calls) = (seen.clone(), calls.clone());
                async move {
                    // The very first delivery fails, to exercise retries.
                    if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                        return StatusCode::INTERNAL_SERVER_ERROR;
                    }
                    let sig = headers["tiktok-signature"].to_str().unwrap().to_owned();
                    seen.lock().unwrap().push((sig, body));
                    StatusCode::OK
                }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, receiver).await });

    let t = start().await;
    t.update_knobs(|k| k.webhook_retry_delays_ms = vec![50, 100]);
    t.update_app(DEMO_CLIENT_KEY, |a| a.webhook_url = Some(hook))
        .unwrap();
    let token = t.full_token(DEMO_PUBLIC_OPEN_ID);
    let id = t.post_small(&token, "PUBLIC_TO_EVERYONE", &data(100)).await;
    t.advance_clock(Duration::from_secs(10));

    let deadline = Instant::now() + Duration::from_secs(10);
    let events = loop {
        let got: Vec<(String, String)> = seen.lock().unwrap().clone();
        let names: Vec<String> = got
            .iter()
            .map(|(_, b)| {
                serde_json::from_str::<Value>(b).unwrap()["event"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        if names.contains(&"post.publish.complete".to_owned())
            && names.contains(&"post.publish.publicly_available".to_owned())
        {
            break got;
        }
        assert!(Instant::now() < deadline, "events so far: {names:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    for (sig, body) in &events {
        let (t_part, s_part) = sig.split_once(',').unwrap();
        let ts = t_part.strip_prefix("t=").unwrap();
        let s = s_part.strip_prefix("s=").unwrap();
        let mut mac = HmacSha256::new_from_slice(DEMO_CLIENT_SECRET.as_bytes()).unwrap();
        mac.update(format!("{ts}.{body}").as_bytes());
        assert_eq!(hex::encode(mac.finalize().into_bytes()), s);
        let v: Value = serde_json::from_str(body).unwrap();
        let content: Value = serde_json::from_str(v["content"].as_str().unwrap()).unwrap();
        assert_eq!(content["publish_id"], id.as_str());
    }
    // The sandbox records a delivery once the receiver's answer is back, a moment after the
    // receiver saw the body: wait for the record rather than race it.
    let deadline = Instant::now() + Duration::from_secs(10);
    let records = loop {
        let records = t.records();
        if records
            .webhooks
            .iter()
            .any(|w| w.attempt >= 2 && w.status == Some(200))
        {
            break records;
        }
        assert!(
            Instant::now() < deadline,
            "a retry succeeded: {:?}",
            records.webhooks
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert!(records.webhooks.iter().any(|w| w.status == Some(500)));

    // Revoking sends authorization.removed.
    t.revoke(&token).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !seen
        .lock()
        .unwrap()
        .iter()
        .any(|(_, b)| b.contains("authorization.removed"))
    {
        assert!(Instant::now() < deadline, "no authorization.removed");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
