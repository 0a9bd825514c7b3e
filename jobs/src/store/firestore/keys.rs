//! API keys (one document each, plus an `api_key_hashes` marker per hash) and audit events.

use super::FirestoreStore;
use super::attempt::Plan;
use super::documents::{hash, marker, owned};
use super::queries::{API_KEY_HASHES, API_KEYS};
use super::value::{self, Fields, Write, fields};
use crate::model::{ApiKey, ApiKeyId, AuditEvent, WorkspaceId};
use crate::store::StoreError;
use crate::store::codec::Cells;

impl FirestoreStore {
    /// `create_api_key`. The hash marker makes a second key with the same hash fail the
    /// whole commit.
    pub(super) async fn create_key(&self, key: &ApiKey) -> Result<(), StoreError> {
        let writes = [
            Write::set(self.doc(API_KEYS, key.id), api_key_fields(key)).if_absent(),
            Write::set(self.doc(API_KEY_HASHES, hash(&key.hash)), hash_marker(key)).if_absent(),
        ];
        self.write(&writes).await
    }

    /// `delete_api_key`: the key and its hash marker.
    pub(super) async fn remove_key(&self, ws: WorkspaceId, id: ApiKeyId) -> Result<(), StoreError> {
        self.update_one(self.doc(API_KEYS, id), |doc| {
            let doc = owned(doc, ws)?;
            let hash_marker = self.doc(API_KEY_HASHES, hash(&doc.fields.text("hash")?));
            let writes = vec![Write::delete(doc.name.clone()), Write::delete(hash_marker)];
            Ok(Plan::write(writes, ()))
        })
        .await
    }
}

/// The hash marker names the key's member too: erasing them takes their keys in every
/// workspace, markers included.
fn hash_marker(k: &ApiKey) -> Fields {
    let mut f = marker(k.workspace_id, "key_id", k.id.0);
    f.insert("user_id".into(), value::id(k.user_id.0));
    f
}

fn api_key_fields(k: &ApiKey) -> Fields {
    fields([
        ("id", value::id(k.id.0)),
        ("workspace_id", value::id(k.workspace_id.0)),
        ("user_id", value::id(k.user_id.0)),
        ("name", value::string(&k.name)),
        ("prefix", value::string(&k.prefix)),
        ("hash", value::string(&k.hash)),
        ("created_at", value::timestamp(k.created_at)),
        ("last_used_at", value::opt_timestamp(k.last_used_at)),
        ("scopes", value::string(&k.scopes.to_stored())),
    ])
}

pub(super) fn audit_fields(e: &AuditEvent) -> Result<Fields, StoreError> {
    Ok(fields([
        ("id", value::id(e.id.0)),
        ("workspace_id", value::id(e.workspace_id.0)),
        ("actor_id", value::opt_id(e.actor_id.map(|u| u.0))),
        ("kind", value::string(&e.kind)),
        ("detail", value::json_text(&e.detail)?),
        ("created_at", value::timestamp(e.created_at)),
    ]))
}
