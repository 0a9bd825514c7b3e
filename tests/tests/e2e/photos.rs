//! Photo carousels end to end: JPEG/WebP images staged over HTTP, a photo post created
//! against live creator_info, TikTok (the sandbox, really fetching) pulling every image through
//! its capability URL, then nothing left: images deleted, URLs dead, tokens never in the log.

use crate::publish::{publishing_app, staging_files, wait_settled, wait_state};
use anyhow::{Context, Result};
use e2e::{Backend, TestApp, assert_error};
use jobs::access_log::{AccessLine, AccessLog};
use jobs::domain::photo_urls::PhotoUrls;
use jobs::model::{MediaId, Post, PostId, UserId, Workspace};
use jobs::staging::image::samples;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, ORIGIN};
use serde_json::{Value, json};
use std::time::Duration;

/// Three images, staged over HTTP: their ids.
async fn three_images(app: &TestApp) -> Result<Vec<String>> {
    let mut ids = Vec::new();
    for bytes in [
        samples::jpeg(1080, 1350),
        samples::webp(1920, 1080),
        samples::jpeg(640, 480),
    ] {
        let (status, body) = app.upload_media(bytes, "application/octet-stream").await?;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        ids.push(body["id"].as_str().context("media id")?.to_owned());
    }
    Ok(ids)
}

async fn create_photo_post(
    app: &TestApp,
    account: &str,
    extra: Value,
) -> Result<(StatusCode, Value)> {
    let mut body = json!({
        "account_id": account,
        "title": "three photos",
        "description": "a carousel #rust",
        "privacy_level": "PUBLIC_TO_EVERYONE",
        "auto_add_music": true,
    });
    for (k, v) in extra.as_object().context("extra fields")? {
        body[k] = v.clone();
    }
    app.post_json("/api/posts", &body).await
}

async fn stored_post(app: &TestApp, user: UserId, id: &str) -> Result<Post> {
    Ok(app
        .store
        .post(Workspace::personal_id(user), PostId::parse(id)?)
        .await?)
}

/// The capability URL of image `media` for the publish `post` recorded.
fn url_of(app: &TestApp, user: UserId, post: &Post, media: &str) -> Result<String> {
    let minted = post
        .tiktok
        .upload_url_issued_at
        .context("the post recorded when its URLs were minted")?;
    Ok(PhotoUrls::new(&app.config).url(
        Workspace::personal_id(user),
        MediaId::parse(media)?,
        minted,
    ))
}

/// Every access-log line written so far, and the raw text of the log files.
fn access_log(app: &TestApp) -> (Vec<AccessLine>, String) {
    let dir = AccessLog::dir_for(&app.config.server.data_dir);
    let mut text = String::new();
    for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        text.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
    }
    let lines = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    (lines, text)
}

#[tokio::test]
async fn a_photo_post_is_pulled_through_capability_urls_then_its_images_are_gone_on_sqlite()
-> Result<()> {
    pulled_through_capability_urls(Backend::Sqlite).await
}

/// The mint instant a token carries must survive the store's round trip exactly.
#[tokio::test]
async fn a_photo_post_is_pulled_through_capability_urls_then_its_images_are_gone_on_postgres()
-> Result<()> {
    pulled_through_capability_urls(Backend::Postgres).await
}

async fn pulled_through_capability_urls(backend: Backend) -> Result<()> {
    let (app, user, account) = publishing_app(backend, |_| {}).await?;
    app.sandbox_pulls_our_photos(true)?;
    let ids = three_images(&app).await?;
    let (status, post) = create_photo_post(
        &app,
        &account,
        json!({ "media_ids": ids, "photo_cover_index": 1 }),
    )
    .await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{post}");
    let id = post["id"].as_str().context("post id")?;
    let done = wait_settled(&app, id).await?;
    assert_eq!(done["state"], "published", "{done}");

    // Every image was pulled through its own URL, and the log has each fetch, not its token.
    let stored = stored_post(&app, user, id).await?;
    let urls: Vec<String> = ids
        .iter()
        .map(|m| url_of(&app, user, &stored, m))
        .collect::<Result<_>>()?;
    let pulled = app
        .wait_for("three logged pulls", Duration::from_secs(10), || async {
            let (lines, text) = access_log(&app);
            let pulls = lines
                .iter()
                .filter(|l| l.route == "/p/{token}" && l.status == 200)
                .count();
            Ok((pulls >= 3).then_some(text))
        })
        .await?;
    for url in &urls {
        let token = url.rsplit('/').next().context("token")?;
        assert!(!pulled.contains(token), "a token reached the access log");
    }

    // Nothing of the images is left: rows, objects, and the URLs answer 404.
    for m in &ids {
        let (status, _) = app.get_json(&format!("/api/media/{m}")).await?;
        assert_eq!(status, StatusCode::NOT_FOUND, "image {m} still staged");
    }
    assert_eq!(staging_files(&app), 0);
    for url in &urls {
        let resp = app.client.get(url).send().await?;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    }
    assert!(stored.media_deleted_at.is_some());
    Ok(())
}

#[tokio::test]
async fn photos_are_refused_by_their_bytes_count_cover_and_title() -> Result<()> {
    let (app, _user, account) = publishing_app(Backend::Sqlite, |_| {}).await?;
    // By the bytes, whatever the declared type.
    let (status, body) = app.upload_media(samples::png(), "image/jpeg").await?;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    assert_error(
        &body,
        "unsupported_media_type",
        "PNG images are not accepted",
    );
    let (status, body) = app
        .upload_media(samples::jpeg(2000, 1500), "image/jpeg")
        .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_error(&body, "image_resolution_too_high", "1080p");
    assert_eq!(
        staging_files(&app),
        0,
        "a refused image left something behind"
    );

    let ids = three_images(&app).await?;
    let too_many: Vec<String> = (0..36).map(|_| MediaId::new().to_string()).collect();
    let refusals = [
        (json!({ "media_ids": too_many }), "photo_count"),
        (json!({ "media_ids": [] }), "photo_count"),
        (
            json!({ "media_ids": ids, "photo_cover_index": 3 }),
            "photo_cover_index",
        ),
        (
            json!({ "media_ids": ids, "title": "t".repeat(91) }),
            "photo_title_too_long",
        ),
    ];
    for (extra, code) in refusals {
        let (status, body) = create_photo_post(&app, &account, extra).await?;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["code"], code, "{body}");
    }
    // Nothing was attached by the refused requests: the images still make a post.
    let (status, body) = create_photo_post(
        &app,
        &account,
        json!({ "media_ids": ids, "photo_cover_index": 2 }),
    )
    .await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    Ok(())
}

#[tokio::test]
async fn an_expired_photo_url_answers_404_and_its_images_are_deleted() -> Result<()> {
    let (app, user, account) = publishing_app(Backend::Sqlite, |_| {}).await?;
    app.sandbox_pulls_our_photos(false)?;
    // TikTok keeps "downloading", so the post waits in `processing` with its images staged.
    app.sandbox.update_knobs(|k| k.pull_stalls = true);
    let ids = three_images(&app).await?;
    let (status, post) = create_photo_post(&app, &account, json!({ "media_ids": ids })).await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{post}");
    let id = post["id"].as_str().context("post id")?;
    wait_state(&app, id, &["processing"], Duration::from_secs(30)).await?;

    // A live URL serves the image's own bytes.
    let live = stored_post(&app, user, id).await?;
    let resp = app
        .client
        .get(url_of(&app, user, &live, &ids[0])?)
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.bytes().await?.as_ref(), samples::jpeg(1080, 1350));
    // An unknown token is the same bare 404.
    let resp = app.client.get(app.url("/p/not-a-token")).send().await?;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);

    // The same publish, minted two hours ago: its URLs have expired.
    let aged = app
        .wait_for(
            "the mint instant moved back",
            Duration::from_secs(10),
            || async {
                let mut p = stored_post(&app, user, id).await?;
                let minted = p.tiktok.upload_url_issued_at.context("minted")?;
                p.tiktok.upload_url_issued_at = Some(minted - chrono::Duration::hours(2));
                Ok(app.store.save_post(&p, p.state).await.ok())
            },
        )
        .await?;
    let resp = app
        .client
        .get(url_of(&app, user, &aged, &ids[0])?)
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);

    // The next status poll sees the expiry and deletes the images.
    app.wait_for("the images deleted", Duration::from_secs(30), || async {
        let (status, _) = app.get_json(&format!("/api/media/{}", ids[0])).await?;
        Ok((status == StatusCode::NOT_FOUND && staging_files(&app) == 0).then_some(()))
    })
    .await?;
    Ok(())
}

/// `POST /api/campaigns` with `body` as `content_type`.
async fn campaign(
    app: &TestApp,
    key: &str,
    content_type: &str,
    body: String,
) -> Result<(StatusCode, Value)> {
    let resp = app
        .client
        .post(app.url("/api/campaigns"))
        .header(ORIGIN, &app.base_url)
        .header(CONTENT_TYPE, content_type)
        .header("idempotency-key", key)
        .body(body)
        .send()
        .await?;
    let status = resp.status();
    Ok((status, resp.json().await.unwrap_or(Value::Null)))
}

#[tokio::test]
async fn campaign_rows_make_photo_posts_from_csv_and_json() -> Result<()> {
    let (app, _user, account) = publishing_app(Backend::Sqlite, |_| {}).await?;
    app.sandbox_pulls_our_photos(true)?;
    let (a, b) = (three_images(&app).await?, three_images(&app).await?);
    // CSV: ids separated by spaces or `;`.
    let csv = format!(
        "account,media_ids,photo_cover_index,description,auto_add_music,title,privacy_level\n\
         {account},\"{} {};{}\",2,from a sheet,true,csv photos,SELF_ONLY\n",
        a[0], a[1], a[2]
    );
    // A cover outside the row's photos refuses the campaign, naming the row.
    let bad = csv.replace(",2,from", ",3,from");
    let (status, resp) = campaign(&app, "photos-bad", "text/csv", bad).await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{resp}");
    assert_eq!(resp["rows"][0]["code"], "photo_cover_index", "{resp}");
    let (status, resp) = campaign(&app, "photos-csv", "text/csv", csv).await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{resp}");
    let source = &resp["posts"][0]["source"];
    assert_eq!(source["kind"], "photos", "{resp}");
    assert_eq!(source["media_ids"], json!(a), "{resp}");
    assert_eq!(source["cover_index"], 2);
    assert_eq!(source["description"], "from a sheet");
    assert_eq!(source["auto_add_music"], true);

    let body = json!({ "posts": [{
        "account": account, "media_ids": b, "title": "json photos",
        "privacy_level": "SELF_ONLY",
    }] });
    let (status, resp) =
        campaign(&app, "photos-json", "application/json", body.to_string()).await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{resp}");
    assert_eq!(resp["posts"][0]["source"]["media_ids"], json!(b), "{resp}");
    for post in [&resp["posts"][0]] {
        let id = post["id"].as_str().context("post id")?;
        let done = wait_settled(&app, id).await?;
        assert_eq!(done["state"], "published", "{done}");
    }
    Ok(())
}

#[tokio::test]
async fn cancelling_a_photo_post_deletes_all_its_images_at_once() -> Result<()> {
    let (app, _user, account) = publishing_app(Backend::Sqlite, |_| {}).await?;
    let ids = three_images(&app).await?;
    let later = (chrono::Utc::now() + chrono::Duration::hours(3)).to_rfc3339();
    let (status, post) = create_photo_post(
        &app,
        &account,
        json!({ "media_ids": ids, "scheduled_at": later }),
    )
    .await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{post}");
    assert_eq!(post["state"], "scheduled");
    let id = post["id"].as_str().context("post id")?;
    let resp = app.delete(&format!("/api/posts/{id}")).await?;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await?;
    assert_eq!(body["state"], "cancelled", "{body}");
    assert!(body["media_deleted_at"].is_string(), "{body}");
    for m in &ids {
        let (status, _) = app.get_json(&format!("/api/media/{m}")).await?;
        assert_eq!(status, StatusCode::NOT_FOUND, "image {m} still staged");
    }
    assert_eq!(staging_files(&app), 0);
    Ok(())
}

#[tokio::test]
async fn racing_photo_posts_over_the_same_images_leave_none_tied_to_an_undone_post() -> Result<()> {
    let (app, user, account) = publishing_app(Backend::Sqlite, |_| {}).await?;
    let ids = three_images(&app).await?;
    let later = (chrono::Utc::now() + chrono::Duration::hours(3)).to_rfc3339();
    let reversed: Vec<String> = ids.iter().rev().cloned().collect();
    // Both pass the checks; attaching in opposite orders, at most one can take every image.
    let (first, second) = tokio::join!(
        create_photo_post(
            &app,
            &account,
            json!({ "media_ids": ids, "scheduled_at": later })
        ),
        create_photo_post(
            &app,
            &account,
            json!({ "media_ids": reversed, "scheduled_at": later })
        ),
    );
    let (first, second) = (first?, second?);
    let winners: Vec<&Value> = [&first, &second]
        .into_iter()
        .filter(|(status, _)| *status == StatusCode::ACCEPTED)
        .map(|(_, body)| body)
        .collect();
    for (status, body) in [&first, &second] {
        if *status != StatusCode::ACCEPTED {
            assert_eq!(*status, StatusCode::CONFLICT, "{body}");
            assert_eq!(body["error"]["code"], "media_in_use", "{body}");
        }
    }
    assert!(winners.len() <= 1, "{first:?} {second:?}");
    let winner = winners
        .first()
        .and_then(|w| w["id"].as_str())
        .map(PostId::parse)
        .transpose()?;
    for m in &ids {
        let media = app
            .store
            .media(Workspace::personal_id(user), MediaId::parse(m)?)
            .await?;
        assert_eq!(media.post_id, winner, "image {m}");
    }
    Ok(())
}
