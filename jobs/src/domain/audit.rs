//! A workspace's activity record: what happened to its data (accounts connected and
//! disconnected, API keys created and revoked, exports) and who did it. Shown in the export;
//! erased with the workspace, and a person's erasure leaves their events nameless. Details
//! hold ids and codes only, never tokens, keys or captions. Recording is best effort: a failed
//! write is logged and never fails the action it describes.

use crate::model::{AuditEvent, AuditEventId, UserId, WorkspaceId};
use crate::store::Store;
use chrono::Utc;
use serde_json::Value;

/// An account was connected (or reconnected).
pub const ACCOUNT_CONNECTED: &str = "account_connected";
/// A member asked to disconnect an account (the job then revokes and deletes it).
pub const ACCOUNT_DISCONNECT_REQUESTED: &str = "account_disconnect_requested";
/// An account was disconnected: our access revoked at TikTok, tokens deleted.
pub const ACCOUNT_DISCONNECTED: &str = "account_disconnected";
pub const API_KEY_CREATED: &str = "api_key_created";
pub const API_KEY_REVOKED: &str = "api_key_revoked";
pub const DATA_EXPORTED: &str = "data_exported";

/// Records `kind` in workspace `ws`, done by `actor` (`None`: the system), with `detail` (ids
/// and codes only).
pub async fn record(
    store: &dyn Store,
    ws: WorkspaceId,
    actor: Option<UserId>,
    kind: &'static str,
    detail: Value,
) {
    let event = AuditEvent {
        id: AuditEventId::new(),
        workspace_id: ws,
        actor_id: actor,
        kind: kind.to_owned(),
        detail,
        created_at: Utc::now(),
    };
    if let Err(e) = store.record_audit(&event).await {
        tracing::warn!(kind, error = %e, "audit event not recorded");
    }
}
