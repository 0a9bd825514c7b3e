//! The user's own activity record: what happened to their data (accounts connected and
//! disconnected, API keys created and revoked, exports). Shown in the export; erased with the
//! rest. Details hold ids and codes only, never tokens, keys or captions. Recording is best
//! effort: a failed write is logged and never fails the action it describes.

use crate::model::{AuditEvent, AuditEventId, UserId};
use crate::store::Store;
use chrono::Utc;
use serde_json::Value;

/// An account was connected (or reconnected).
pub const ACCOUNT_CONNECTED: &str = "account_connected";
/// An account was disconnected: our access revoked at TikTok, tokens deleted.
pub const ACCOUNT_DISCONNECTED: &str = "account_disconnected";
pub const API_KEY_CREATED: &str = "api_key_created";
pub const API_KEY_REVOKED: &str = "api_key_revoked";
pub const DATA_EXPORTED: &str = "data_exported";

/// Records `kind` for `user` with `detail` (ids and codes only).
pub async fn record(store: &dyn Store, user: UserId, kind: &'static str, detail: Value) {
    let event = AuditEvent {
        id: AuditEventId::new(),
        user_id: user,
        kind: kind.to_owned(),
        detail,
        created_at: Utc::now(),
    };
    if let Err(e) = store.record_audit(&event).await {
        tracing::warn!(kind, error = %e, "audit event not recorded");
    }
}
