//! API keys for agency automation: created (shown once) with the scopes the creator chose,
//! listed, revoked. Creating and revoking need the browser session: a key cannot mint or
//! remove keys.

use crate::auth::{CurrentUser, SessionUser};
use crate::error::ApiError;
use crate::state::AppState;
use crate::views::key_json;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use jobs::domain::audit;
use jobs::identity::api_keys;
use jobs::model::{ApiKey, ApiKeyId, ApiKeyScopes};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
pub struct NewKeyBody {
    #[serde(default)]
    name: String,
    /// Required: a key does nothing it was not given (`read`, `publish`, `campaigns`,
    /// `accounts`).
    #[serde(default)]
    scopes: Vec<String>,
}

/// `POST /api/keys {name, scopes}` → 201 with the key, the only time it is shown.
pub async fn create(
    State(state): State<AppState>,
    SessionUser(user): SessionUser,
    Json(body): Json<NewKeyBody>,
) -> Result<impl IntoResponse, ApiError> {
    let scopes = ApiKeyScopes::parse(&body.scopes)?;
    let name = body.name.trim();
    if name.chars().count() > 100 {
        return Err(ApiError::Invalid {
            code: "name_too_long",
            message: "a key name has at most 100 characters".into(),
        });
    }
    let fresh = api_keys::generate();
    let key = ApiKey {
        id: ApiKeyId::new(),
        user_id: user.user.id,
        name: if name.is_empty() {
            "API key".into()
        } else {
            name.to_owned()
        },
        prefix: fresh.prefix.clone(),
        hash: fresh.hash.clone(),
        created_at: chrono::Utc::now(),
        last_used_at: None,
        scopes,
    };
    state.store.create_api_key(&key).await?;
    audit::record(
        &*state.store,
        user.user.id,
        audit::API_KEY_CREATED,
        json!({ "api_key_id": key.id, "prefix": key.prefix, "scopes": key.scopes }),
    )
    .await;
    let mut body = key_json(&key);
    body["key"] = json!(fresh.plaintext);
    Ok((StatusCode::CREATED, Json(body)))
}

/// `GET /api/keys`.
pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Json<serde_json::Value>, ApiError> {
    let keys = state.store.list_api_keys(user.user.id).await?;
    Ok(Json(
        json!({ "keys": keys.iter().map(key_json).collect::<Vec<_>>() }),
    ))
}

/// `DELETE /api/keys/{id}`.
pub async fn delete(
    State(state): State<AppState>,
    SessionUser(user): SessionUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = ApiKeyId::parse(&id).map_err(|_| ApiError::NotFound)?;
    state.store.delete_api_key(user.user.id, id).await?;
    audit::record(
        &*state.store,
        user.user.id,
        audit::API_KEY_REVOKED,
        json!({ "api_key_id": id }),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
