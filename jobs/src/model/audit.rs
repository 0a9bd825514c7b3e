//! Audit events: what happened in a workspace (connects, disconnects, exports, key use) and who
//! did it.

use super::ids::{AuditEventId, UserId, WorkspaceId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One audit event. `detail` holds ids and codes, never tokens or captions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub id: AuditEventId,
    pub workspace_id: WorkspaceId,
    /// Who did it; `None` for the system (a sweep) or once the person erased themselves.
    pub actor_id: Option<UserId>,
    /// Stable snake_case kind, e.g. `account_connected`.
    pub kind: String,
    pub detail: serde_json::Value,
    pub created_at: DateTime<Utc>,
}
