//! A user's API keys for agency automation: created with the scopes the creator chose (the
//! plaintext is returned once; `crate::identity::api_keys` draws and hashes it) and revoked,
//! each recorded in the user's audit trail.

use crate::domain::audit;
use crate::identity::api_keys;
use crate::model::{Actor, ApiKey, ApiKeyId, ApiKeyScopes, ScopesError};
use crate::store::{Store, StoreError};
use serde_json::json;

/// The longest key name, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// The name of a key created without one.
pub const DEFAULT_NAME: &str = "API key";

/// Why a key was not created.
#[derive(Debug, thiserror::Error)]
pub enum ApiKeyError {
    #[error(transparent)]
    Scopes(#[from] ScopesError),
    #[error("a key name has at most {max} characters")]
    NameTooLong { max: usize },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A key just created: its row and the plaintext, shown to the creator this once.
pub struct CreatedKey {
    pub key: ApiKey,
    pub plaintext: String,
}

impl std::fmt::Debug for CreatedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedKey")
            .field("key", &self.key.id)
            .finish_non_exhaustive()
    }
}

/// Creates a key for `by` in their workspace, acting as them, named `name` (trimmed; empty is
/// [`DEFAULT_NAME`]) with `scopes` (required: a key does nothing it was not given).
pub async fn create<S: AsRef<str>>(
    store: &dyn Store,
    by: Actor,
    name: &str,
    scopes: &[S],
) -> Result<CreatedKey, ApiKeyError> {
    let scopes = ApiKeyScopes::parse(scopes)?;
    let name = name.trim();
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(ApiKeyError::NameTooLong {
            max: MAX_NAME_CHARS,
        });
    }
    let fresh = api_keys::generate();
    let key = ApiKey {
        id: ApiKeyId::new(),
        workspace_id: by.workspace,
        user_id: by.user,
        name: if name.is_empty() {
            DEFAULT_NAME.into()
        } else {
            name.to_owned()
        },
        prefix: fresh.prefix.clone(),
        hash: fresh.hash.clone(),
        created_at: chrono::Utc::now(),
        last_used_at: None,
        scopes,
    };
    store.create_api_key(&key).await?;
    audit::record(
        store,
        by.workspace,
        Some(by.user),
        audit::API_KEY_CREATED,
        json!({ "api_key_id": key.id, "prefix": key.prefix, "scopes": key.scopes }),
    )
    .await;
    Ok(CreatedKey {
        key,
        plaintext: fresh.plaintext,
    })
}

/// Revokes the key `id` of `by`'s workspace.
pub async fn revoke(store: &dyn Store, by: Actor, id: ApiKeyId) -> Result<(), StoreError> {
    store.delete_api_key(by.workspace, id).await?;
    audit::record(
        store,
        by.workspace,
        Some(by.user),
        audit::API_KEY_REVOKED,
        json!({ "api_key_id": id }),
    )
    .await;
    Ok(())
}
