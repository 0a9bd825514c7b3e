use super::*;
use jobs::identity::id_token::IdTokenError;

async fn answer(e: ApiError) -> (StatusCode, serde_json::Value) {
    let resp = e.into_response();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 16)
        .await
        .unwrap();
    (status, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn internal_causes_never_reach_the_body() {
    let driver = "error returned from database: relation \"posts\" does not exist";
    for e in [
        ApiError::internal(anyhow::anyhow!(driver)),
        StoreError::Backend(driver.into()).into(),
        StoreError::Conflict(driver.into()).into(),
    ] {
        let (status, body) = answer(e).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            body,
            json!({ "error": { "code": "internal", "message": "internal error" } })
        );
    }
    let (status, body) = answer(StoreError::Unavailable(driver.into()).into()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"]["code"], "unavailable");
    assert!(!body.to_string().contains("relation"), "{body}");
}

#[tokio::test]
async fn removing_the_last_owner_is_a_409_naming_what_to_do() {
    let (status, body) = answer(StoreError::LastOwner.into()).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "last_owner");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("make another member an owner")),
        "{body}"
    );
}

#[tokio::test]
async fn unreachable_google_certificates_are_unavailable_not_their_reqwest_text() {
    let e = IdTokenError::CertsUnavailable(
        "error sending request for url (http://10.0.0.9/certs): tcp connect error".into(),
    );
    let (status, body) = answer(e.into()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"]["code"], "unavailable");
    for leak in ["error sending", "10.0.0.9", "tcp"] {
        assert!(!body.to_string().contains(leak), "{body}");
    }
    // The token's own faults keep their codes and words.
    let (status, body) = answer(IdTokenError::Expired.into()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "id_token_expired");
}

#[tokio::test]
async fn a_failed_connection_never_shows_store_or_vault_text() {
    let text =
        |e: AccountError| async move { answer(ApiError::from_connect(e)).await.1.to_string() };
    let store = AccountError::Store(StoreError::Backend(
        "error returned from database: relation \"tiktok_accounts\" does not exist".into(),
    ));
    let body = text(store).await;
    assert!(body.contains("\"internal\""), "{body}");
    assert!(
        !body.contains("relation") && !body.contains("database"),
        "{body}"
    );
    let vault = AccountError::Vault(jobs::vault::VaultError::UnknownKey("v9".into()));
    let body = text(vault).await;
    assert!(body.contains("\"internal\""), "{body}");
    assert!(
        !body.contains("TOKEN_KEYS") && !body.contains("v9"),
        "{body}"
    );
    let lock = AccountError::Lock("redis: Connection refused (os error 111)".into());
    let body = text(lock).await;
    assert!(
        !body.contains("os error") && !body.contains("redis"),
        "{body}"
    );
}
