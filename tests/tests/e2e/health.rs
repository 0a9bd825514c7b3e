//! Liveness and readiness.

use anyhow::Result;
use e2e::{Backend, TestApp};
use reqwest::StatusCode;

#[tokio::test]
async fn readyz_answers_503_naming_the_store_when_its_database_disappears() -> Result<()> {
    let app = TestApp::start(Backend::Postgres).await?;
    let (status, body) = app.get_json("/readyz").await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["checks"]["store"], "ok");
    assert_eq!(body["checks"]["queue"], "ok");
    // Pull the database out from under the running app.
    app.drop_postgres_database().await?;
    let (status, body) = app.get_json("/readyz").await?;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["checks"]["store"], "unavailable");
    assert_eq!(body["checks"]["queue"], "ok");
    assert!(body["error"]["message"].as_str().unwrap().contains("store"));
    // Liveness does not depend on it.
    assert_eq!(app.get_json("/healthz").await?.0, StatusCode::OK);
    Ok(())
}
