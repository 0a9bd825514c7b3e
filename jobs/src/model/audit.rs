//! Audit events: what happened to a user's data (connects, disconnects, exports, key use).

use super::ids::{AuditEventId, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One audit event. `detail` holds ids and codes, never tokens or captions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub id: AuditEventId,
    pub user_id: UserId,
    /// Stable snake_case kind, e.g. `account_connected`.
    pub kind: String,
    pub detail: serde_json::Value,
    pub created_at: DateTime<Utc>,
}
