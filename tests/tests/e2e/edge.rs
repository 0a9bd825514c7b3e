//! The web tier's edge: who the client is behind a load balancer, the per-IP limits on pages,
//! the avatar proxy and `/readyz`, HSTS in production, and error bodies that never carry the
//! text of an internal failure.

use anyhow::Result;
use e2e::{Backend, TestApp};
use jobs::access_log::{AccessLine, AccessLog};
use reqwest::StatusCode;
use reqwest::header::{ORIGIN, RETRY_AFTER, STRICT_TRANSPORT_SECURITY};
use sandbox::IdTokenVariant;
use std::time::Duration;

/// A random IPv4 address, as a client forging its forwarding header would pick.
fn random_ip() -> String {
    let b = uuid::Uuid::new_v4().into_bytes();
    format!("{}.{}.{}.{}", b[0].max(1), b[1], b[2], b[3].max(1))
}

/// Sends `GET path` as if through our one load balancer: the client wrote `forged` (fresh each
/// time), the balancer appended `client`, the address it saw.
async fn through_balancer(
    app: &TestApp,
    path: &str,
    forged: &str,
    client: &str,
) -> Result<reqwest::Response> {
    Ok(app
        .client
        .get(app.url(path))
        .header("x-forwarded-for", format!("{forged}, {client}"))
        .send()
        .await?)
}

#[tokio::test]
async fn a_fresh_x_forwarded_for_does_not_escape_the_per_ip_limit() -> Result<()> {
    let app = TestApp::start_with(Backend::Sqlite, |c| {
        c.server.trusted_proxy_header = Some("x-forwarded-for".into());
        c.server.trusted_proxy_hops = 1;
        c.limits.auth_rate_per_min = 3;
    })
    .await?;
    let client = "198.51.100.7";
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let resp = through_balancer(&app, "/auth/tiktok/connect", &random_ip(), client).await?;
        let status = resp.status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            assert!(resp.headers().contains_key(RETRY_AFTER));
            let body: serde_json::Value = resp.json().await?;
            assert_eq!(body["error"]["code"], "rate_limited", "{body}");
        }
        statuses.push(status);
    }
    assert!(
        statuses[..3]
            .iter()
            .all(|s| *s != StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    assert!(
        statuses[3..]
            .iter()
            .all(|s| *s == StatusCode::TOO_MANY_REQUESTS),
        "a fresh first entry each time must not buy a fresh bucket: {statuses:?}"
    );
    // Another client behind the same balancer has its own bucket.
    let other = through_balancer(&app, "/auth/tiktok/connect", client, "198.51.100.8").await?;
    assert_ne!(other.status(), StatusCode::TOO_MANY_REQUESTS);
    // Malformed: what the balancer appended is not an address, so the peer (127.0.0.1) counts.
    for _ in 0..3 {
        let resp = through_balancer(&app, "/auth/tiktok/connect", client, "not-an-ip").await?;
        assert_ne!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    let resp = through_balancer(&app, "/auth/tiktok/connect", client, "not-an-ip").await?;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);

    // The access log names the balancer's client, never the forged entries.
    let dir = AccessLog::dir_for(&app.config.server.data_dir);
    let lines = app
        .wait_for("the access lines", Duration::from_secs(10), || async {
            let mut lines: Vec<AccessLine> = Vec::new();
            for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let text = std::fs::read_to_string(e.path()).unwrap_or_default();
                lines.extend(text.lines().filter_map(|l| serde_json::from_str(l).ok()));
            }
            Ok((lines.len() >= 11).then_some(lines))
        })
        .await?;
    let ips: std::collections::BTreeSet<_> = lines.iter().filter_map(|l| l.ip.clone()).collect();
    assert_eq!(
        ips,
        ["127.0.0.1", "198.51.100.7", "198.51.100.8"]
            .into_iter()
            .map(String::from)
            .collect(),
        "{lines:?}"
    );
    Ok(())
}

#[tokio::test]
async fn without_trusted_hops_the_forwarding_header_is_ignored() -> Result<()> {
    let app = TestApp::start_with(Backend::Sqlite, |c| c.limits.auth_rate_per_min = 2).await?;
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let resp = app
            .client
            .get(app.url("/auth/tiktok/connect"))
            .header("x-forwarded-for", random_ip())
            .send()
            .await?;
        statuses.push(resp.status());
    }
    assert_eq!(statuses[2], StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
    Ok(())
}

#[tokio::test]
async fn pages_the_avatar_proxy_and_readyz_answer_429_after_their_burst() -> Result<()> {
    let app = TestApp::start_with(Backend::Sqlite, |c| {
        c.limits.page_rate_per_min = 3;
        c.limits.avatar_rate_per_min = 2;
        c.limits.readyz_rate_per_min = 2;
    })
    .await?;
    let avatar = "/accounts/00000000-0000-0000-0000-000000000000/avatar";
    for (path, burst) in [("/login", 3), (avatar, 2), ("/readyz", 2)] {
        for i in 0..burst {
            let resp = app.client.get(app.url(path)).send().await?;
            assert_ne!(
                resp.status(),
                StatusCode::TOO_MANY_REQUESTS,
                "{path} request {i}"
            );
        }
        let resp = app.client.get(app.url(path)).send().await?;
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS, "{path}");
        let wait: u64 = resp.headers()[RETRY_AFTER].to_str()?.parse()?;
        assert!((1..=60).contains(&wait), "{path}: Retry-After {wait}");
        let text = resp.text().await?;
        if path == "/readyz" {
            let body: serde_json::Value = serde_json::from_str(&text)?;
            assert_eq!(body["error"]["code"], "rate_limited", "{body}");
        } else {
            assert!(text.contains("Slow down"), "{text}");
        }
    }
    // The other pages share the page bucket; the static assets are not limited.
    assert_eq!(
        app.client.get(app.url("/privacy")).send().await?.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    for _ in 0..10 {
        let resp = app.client.get(app.url("/static/app.css")).send().await?;
        assert_eq!(resp.status(), StatusCode::OK);
    }
    // Liveness is never limited (a supervisor must always get its answer).
    for _ in 0..10 {
        assert_eq!(app.get_json("/healthz").await?.0, StatusCode::OK);
    }
    Ok(())
}

#[tokio::test]
async fn hsts_is_sent_on_every_response_in_production_only() -> Result<()> {
    let paths = [
        "/healthz",
        "/readyz",
        "/login",
        "/static/app.css",
        "/api/me",
        "/no/such/page",
    ];
    let prod = TestApp::start_with(Backend::Sqlite, |c| {
        c.server.mode = jobs::config::Mode::Production;
        c.limits.auth_rate_per_min = 1;
    })
    .await?;
    let mut responses = Vec::new();
    for path in paths {
        responses.push((path, prod.client.get(prod.url(path)).send().await?));
    }
    // Refusals too: a rate-limited answer and a cross-site write.
    for _ in 0..2 {
        responses.push((
            "/auth/tiktok/connect",
            prod.client
                .get(prod.url("/auth/tiktok/connect"))
                .send()
                .await?,
        ));
    }
    assert_eq!(
        responses.last().map(|(_, r)| r.status()),
        Some(StatusCode::TOO_MANY_REQUESTS)
    );
    responses.push((
        "/auth/session",
        prod.client
            .post(prod.url("/auth/session"))
            .header(ORIGIN, "https://evil.example")
            .json(&serde_json::json!({ "id_token": "x" }))
            .send()
            .await?,
    ));
    for (path, resp) in &responses {
        assert_eq!(
            resp.headers()
                .get(STRICT_TRANSPORT_SECURITY)
                .map(|v| v.to_str().unwrap_or_default()),
            Some("max-age=63072000; includeSubDomains"),
            "{path} ({})",
            resp.status()
        );
    }
    drop(prod);

    let dev = TestApp::start(Backend::Sqlite).await?;
    for path in paths {
        let resp = dev.client.get(dev.url(path)).send().await?;
        assert!(
            !resp.headers().contains_key(STRICT_TRANSPORT_SECURITY),
            "{path} in development"
        );
    }
    Ok(())
}

/// Strings that only an internal error's text would carry.
fn assert_no_internal_text(what: &str, body: &str, also: &[&str]) {
    for leak in [
        "sqlx",
        "error returned from database",
        "does not exist",
        "terminating connection",
        "PoolTimedOut",
        "pool timed out",
        "SQLSTATE",
        "os error",
        "127.0.0.1:",
        "5432",
        "error sending request",
        "reqwest",
        "tcp connect",
        "Connection refused",
        "store error",
        "store unavailable",
    ]
    .iter()
    .chain(also)
    {
        assert!(!body.contains(leak), "{what} leaked {leak:?}: {body}");
    }
}

#[tokio::test]
async fn a_lost_database_shows_no_driver_text_in_any_api_body_or_page() -> Result<()> {
    let app = TestApp::start(Backend::Postgres).await?;
    app.sign_in("edge-user").await?;
    let key: serde_json::Value = app
        .create_api_key(
            &app.client,
            serde_json::json!({ "name": "script", "scopes": ["read", "publish", "accounts"] }),
        )
        .await?;
    let key = key["key"].as_str().unwrap_or_default().to_owned();
    assert!(!key.is_empty());
    let db_name = app
        .config
        .store
        .database_url
        .expose()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    assert!(db_name.starts_with("mktpost_e2e_"), "{db_name}");

    app.drop_postgres_database().await?;

    let token = app.id_token("edge-user-2", IdTokenVariant::Valid)?;
    let mut answers = Vec::new();
    for path in ["/api/me", "/api/posts", "/api/accounts", "/api/keys"] {
        answers.push((path, app.client.get(app.url(path)).send().await?));
        answers.push((
            path,
            TestApp::new_client()
                .get(app.url(path))
                .bearer_auth(&key)
                .send()
                .await?,
        ));
    }
    answers.push((
        "POST /auth/session",
        app.exchange_id_token(&TestApp::new_client(), &token)
            .await?,
    ));
    for path in [
        "/accounts",
        "/history",
        "/history/posts",
        "/settings",
        "/compose",
        "/campaigns",
    ] {
        answers.push((path, app.client.get(app.url(path)).send().await?));
    }
    answers.push(("/readyz", app.client.get(app.url("/readyz")).send().await?));
    for (what, resp) in answers {
        let status = resp.status();
        let html = resp
            .headers()
            .get("content-type")
            .is_some_and(|v| v.to_str().unwrap_or_default().starts_with("text/html"));
        let body = resp.text().await?;
        assert!(
            status == StatusCode::INTERNAL_SERVER_ERROR
                || status == StatusCode::SERVICE_UNAVAILABLE,
            "{what}: {status} {body}"
        );
        assert_no_internal_text(what, &body, &[&db_name]);
        if html {
            assert!(
                body.contains("Something went wrong") || body.contains("Temporarily unavailable"),
                "{what}: {body}"
            );
        } else {
            let json: serde_json::Value = serde_json::from_str(&body)?;
            let code = json["error"]["code"].as_str().unwrap_or_default();
            assert!(
                ["internal", "unavailable", "not_ready"].contains(&code),
                "{what}: {json}"
            );
        }
    }
    Ok(())
}

#[tokio::test]
async fn unreachable_google_certificates_are_a_503_without_reqwest_text() -> Result<()> {
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    let app = TestApp::start_with(Backend::Sqlite, |c| {
        c.identity.google_certs_url = "http://127.0.0.1:1/robot/v1/metadata/x509/certs"
            .parse()
            .expect("a URL");
    })
    .await?;
    let token = app.id_token("edge-user-3", IdTokenVariant::Valid)?;
    let resp = app.exchange_id_token(&app.client, &token).await?;
    let status = resp.status();
    let body = resp.text().await?;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_no_internal_text("sign-in", &body, &["/robot/", "x509"]);
    let json: serde_json::Value = serde_json::from_str(&body)?;
    assert_eq!(json["error"]["code"], "unavailable", "{json}");
    Ok(())
}

#[tokio::test]
async fn a_broken_table_is_a_500_internal_without_driver_text() -> Result<()> {
    use sqlx::Connection;
    let app = TestApp::start(Backend::Sqlite).await?;
    app.sign_in("edge-user-4").await?;
    assert_eq!(app.get_json("/api/posts").await?.0, StatusCode::OK);
    // A store failure that is nobody's fault but ours: the table is gone.
    let mut db = sqlx::SqliteConnection::connect(app.config.store.database_url.expose()).await?;
    sqlx::query("DROP TABLE posts").execute(&mut db).await?;
    db.close().await?;

    for path in ["/api/posts", "/history", "/history/posts"] {
        let resp = app.client.get(app.url(path)).send().await?;
        let status = resp.status();
        // The request id is what a creator can quote; the cause is in the log under it.
        assert!(resp.headers().contains_key("x-request-id"), "{path}");
        let body = resp.text().await?;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{path}: {body}");
        assert_no_internal_text(path, &body, &["no such table", "sqlite", "SQLITE"]);
        if path == "/api/posts" {
            let json: serde_json::Value = serde_json::from_str(&body)?;
            assert_eq!(json["error"]["code"], "internal", "{json}");
            assert_eq!(json["error"]["message"], "internal error", "{json}");
        } else {
            assert!(body.contains("Something went wrong"), "{path}: {body}");
        }
    }
    Ok(())
}
