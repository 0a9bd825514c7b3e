//! Agencies' campaigns: many posts across accounts in one request (CSV or JSON), checked whole
//! before anything is written, idempotent so a retry finishes rather than doubles, then paced
//! out by the publish pipeline.

use crate::publish::{publishing_app, stage, video, wait_state};
use anyhow::Result;
use e2e::TestApp;
use jobs::model::{Media, UserId};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, ORIGIN};
use serde_json::{Value, json};
use std::time::Duration;

const PUBLIC: &str = "-000sandbox-public-0001";
const PRIVATE: &str = "-000sandbox-private-0002";

async fn send(
    app: &TestApp,
    key: Option<&str>,
    content_type: &str,
    body: String,
) -> Result<(StatusCode, Value)> {
    let mut req = app
        .client
        .post(app.url("/api/campaigns"))
        .header(ORIGIN, &app.base_url)
        .header(CONTENT_TYPE, content_type)
        .body(body);
    if let Some(key) = key {
        req = req.header("idempotency-key", key);
    }
    let resp = req.send().await?;
    let status = resp.status();
    Ok((status, resp.json().await.unwrap_or(Value::Null)))
}

async fn videos(app: &TestApp, user: UserId, n: u8) -> Result<Vec<Media>> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push(stage(app, user, &video(20_000 + usize::from(i), i)).await?);
    }
    Ok(out)
}

fn csv(rows: &[String]) -> String {
    let mut s = String::from(
        "account,media_id,title,privacy_level,disable_comment,disable_duet,disable_stitch,scheduled_at,scheduled_tz\n",
    );
    for r in rows {
        s.push_str(r);
        s.push('\n');
    }
    s
}

/// Sends a JSON campaign.
async fn send_json(app: &TestApp, key: Option<&str>, body: &Value) -> Result<(StatusCode, Value)> {
    send(app, key, "application/json", body.to_string()).await
}

/// Fails when a refusal is not short: it names the problem without echoing a huge value whole.
fn assert_short(resp: &Value) {
    let len = resp.to_string().len();
    assert!(len < 2_000, "{len} bytes");
}

#[tokio::test]
async fn a_csv_campaign_is_checked_whole_then_posted_once_per_row() -> Result<()> {
    let (app, user, sunny_id) = publishing_app(e2e::Backend::Sqlite, |_| {}).await?;
    app.connect_tiktok(PRIVATE).await?;
    let v = videos(&app, user, 4).await?;
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1))
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    let good = vec![
        format!(
            "@sunny.demo,{},\"Launch, part 1\",PUBLIC_TO_EVERYONE,,,,,",
            v[0].id
        ),
        format!(
            "sunny.demo,{},Launch part 2,PUBLIC_TO_EVERYONE,,,,now,",
            v[1].id
        ),
        format!(
            "@pia.private,{},Teaser,SELF_ONLY,true,true,true,{tomorrow},Europe/Berlin",
            v[2].id
        ),
        format!("{sunny_id},{},Launch part 3,SELF_ONLY,,,,,", v[3].id),
    ];

    // One bad row refuses the whole campaign, with every row's problem.
    let mut bad = good.clone();
    bad[1] = format!("@sunny.demo,{},No privacy,,,,,,", v[1].id);
    bad[2] = format!("@nobody,{},Teaser,SELF_ONLY,,,,,", v[2].id);
    bad[3] = format!("@sunny.demo,{},Again,SELF_ONLY,,,,,", v[0].id);
    let (status, body) = send(&app, Some("launch"), "text/csv", csv(&bad)).await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "invalid_rows");
    let problems: Vec<(u64, String)> = body["rows"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["row"].as_u64().unwrap_or(0),
                r["code"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        problems,
        vec![
            (2, "privacy_level_required".to_owned()),
            (3, "unknown_account".to_owned()),
            (4, "media_repeated".to_owned()),
        ],
        "{body}"
    );
    let (_, list) = app.get_json("/api/posts").await?;
    assert_eq!(
        list["posts"].as_array().map(Vec::len),
        Some(0),
        "nothing was created"
    );

    // The key is required, and the body must be a campaign.
    let (status, body) = send(&app, None, "text/csv", csv(&good)).await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "idempotency_key_required");
    let (status, body) = send(&app, Some("k"), "text/csv", "title\nx\n".into()).await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "invalid_campaign");

    // Half a campaign (a first send that stopped after row 1, say), then the whole one with the
    // same key: row 1 is not created twice, the rest are created.
    let (status, body) = send(&app, Some("launch"), "text/csv", csv(&good[..1])).await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["created"], 1);
    let first_id = body["posts"][0]["id"].clone();
    let (status, body) = send(&app, Some("launch"), "text/csv", csv(&good)).await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(
        (body["created"].clone(), body["already_created"].clone()),
        (json!(3), json!(1))
    );
    assert_eq!(body["posts"][0]["id"], first_id);
    let posts = body["posts"].as_array().cloned().unwrap_or_default();
    assert_eq!(posts[2]["state"], "scheduled", "{body}");
    assert_eq!(posts[2]["scheduled_tz"], "Europe/Berlin", "{body}");
    // Sent again: nothing new.
    let (status, again) = send(&app, Some("launch"), "text/csv", csv(&good)).await?;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["created"], 0);
    // The same key for a different campaign is refused.
    let other = vec![format!("@sunny.demo,{},Other,SELF_ONLY,,,,,", v[3].id)];
    let (status, body) = send(&app, Some("launch"), "text/csv", csv(&other)).await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["rows"][0]["code"], "idempotency_key_reused", "{body}");

    // The three due posts go out, once each; the scheduled one waits.
    for i in [0, 1, 3] {
        let id = posts[i]["id"].as_str().unwrap_or_default();
        let done = wait_state(&app, id, &["published", "failed"], Duration::from_secs(60)).await?;
        assert_eq!(done["state"], "published", "{done}");
    }
    let records = app.sandbox.records();
    assert_eq!(
        records.posts.iter().filter(|p| p.open_id == PUBLIC).count(),
        3
    );
    assert_eq!(
        records
            .posts
            .iter()
            .filter(|p| p.open_id == PRIVATE)
            .count(),
        0
    );
    Ok(())
}

#[tokio::test]
async fn a_json_campaign_works_the_same_and_bounds_its_size() -> Result<()> {
    let (app, user, sunny_id) = publishing_app(e2e::Backend::Sqlite, |_| {}).await?;
    let v = videos(&app, user, 1).await?;
    let body = json!({ "posts": [{
        "account": sunny_id,
        "media_id": v[0].id,
        "title": "json row",
        "privacy_level": "SELF_ONLY",
    }]});
    let (status, resp) = send_json(&app, Some("json-1"), &body).await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{resp}");
    assert_eq!(resp["posts"][0]["title"], "json row");
    let many: Vec<Value> = (0..=jobs::domain::campaigns::MAX_ROWS)
        .map(|_| json!({"account": sunny_id, "media_id": v[0].id}))
        .collect();
    let (status, resp) = send_json(&app, Some("json-2"), &json!({ "posts": many })).await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{resp}");
    assert!(
        resp["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("1000")
    );
    let (status, resp) = send(&app, Some("x"), "text/plain", "hello".into()).await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{resp}");
    assert_eq!(resp["error"]["code"], "unsupported_content_type");
    // A megabyte where a flag belongs, or as an account: the refusal names the problem without
    // echoing the value whole.
    let huge = "y".repeat(1 << 20);
    let bad_flag =
        json!({ "posts": [{"account": sunny_id, "media_id": v[0].id, "disable_duet": huge}] });
    let (status, resp) = send_json(&app, Some("json-3"), &bad_flag).await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{resp}");
    assert_short(&resp);
    let bad_account = json!({ "posts": [{"account": huge, "media_id": v[0].id}] });
    let (status, resp) = send_json(&app, Some("json-4"), &bad_account).await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{resp}");
    assert_eq!(resp["rows"][0]["code"], "unknown_account", "{resp}");
    assert_short(&resp);
    Ok(())
}

/// A campaign that stopped half way is finished by sending it again, even after one of its
/// written rows' scheduled time has passed (the retry matches rows as sent, not re-validated).
#[tokio::test]
async fn a_retry_finishes_a_campaign_after_its_first_rows_time_has_passed() -> Result<()> {
    let (app, user, _) = publishing_app(e2e::Backend::Sqlite, |_| {}).await?;
    let v = videos(&app, user, 2).await?;
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let rows = vec![
        format!("@sunny.demo,{},Soon,SELF_ONLY,,,,{soon},", v[0].id),
        format!("@sunny.demo,{},Now,SELF_ONLY,,,,NOW,", v[1].id),
    ];
    let (status, body) = send(&app, Some("half"), "text/csv", csv(&rows[..1])).await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    // Past the row's time and the 5 s slack for "in the past": until the rule the server
    // applies refuses it.
    app.wait_for(
        "the first row's time to be past",
        Duration::from_secs(30),
        || async {
            let parsed =
                jobs::domain::schedule_time::parse_schedule(&soon, None, chrono::Utc::now());
            let past = matches!(
                parsed,
                Err(jobs::domain::schedule_time::ScheduleError::TimeInPast { .. })
            );
            Ok(past.then_some(()))
        },
    )
    .await?;
    let (status, body) = send(&app, Some("half"), "text/csv", csv(&rows)).await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(
        (body["created"].clone(), body["already_created"].clone()),
        (json!(1), json!(1))
    );
    // "NOW" in any case means now, and sending again matches it.
    let (status, body) = send(&app, Some("half"), "text/csv", csv(&rows)).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    Ok(())
}
