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
use jobs::domain::api_keys;
use jobs::model::ApiKeyId;
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
    let created = api_keys::create(&*state.store, user.actor(), &body.name, &body.scopes).await?;
    let mut body = key_json(&created.key);
    body["key"] = json!(created.plaintext);
    Ok((StatusCode::CREATED, Json(body)))
}

/// `GET /api/keys`.
pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Json<serde_json::Value>, ApiError> {
    let keys = state.store.list_api_keys(user.workspace).await?;
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
    api_keys::revoke(&*state.store, user.actor(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}
