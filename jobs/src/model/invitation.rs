//! Invitations to a workspace (issue #16): sent to a Google email, accepted once by signing in
//! with that account, by a link that expires after [`Invitation::LIFETIME`]. Only the SHA-256
//! of the link's token is stored (like an API key's), so the store cannot hand out a working
//! link. Plain data; the rules are `domain::workspaces::invitations`.

use super::ids::{InvitationId, UserId, WorkspaceId};
use super::workspace::Role;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

/// One invitation to one workspace.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invitation {
    pub id: InvitationId,
    pub workspace_id: WorkspaceId,
    /// The Google email it is for, lower-cased (the one a sign-in must match).
    pub email: String,
    /// The role the invitee gets on accepting.
    pub role: Role,
    /// Who invited; `None` once that person is erased (the invitation stays the workspace's).
    pub invited_by: Option<UserId>,
    /// SHA-256 (hex) of the link's token; the token itself is never stored.
    pub token_hash: String,
    pub created_at: DateTime<Utc>,
    /// Accepting is refused from this instant on.
    pub expires_at: DateTime<Utc>,
    /// Set, with `accepted_by`, by the one acceptance an invitation allows.
    pub accepted_at: Option<DateTime<Utc>>,
    pub accepted_by: Option<UserId>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Where an invitation stands at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InvitationStatus {
    /// May still be accepted.
    Pending,
    /// Not accepted in time.
    Expired,
    Accepted,
    Revoked,
}

impl Invitation {
    /// How long an invitation can be accepted (the 7 days).
    pub const LIFETIME: TimeDelta = TimeDelta::days(7);

    /// Neither accepted nor revoked (it may have expired): what the members page lists.
    pub fn is_open(&self) -> bool {
        self.accepted_at.is_none() && self.revoked_at.is_none()
    }

    /// Where it stands at `now`. Accepted and revoked are final; an open one is expired from
    /// `expires_at` on.
    pub fn status(&self, now: DateTime<Utc>) -> InvitationStatus {
        if self.accepted_at.is_some() {
            InvitationStatus::Accepted
        } else if self.revoked_at.is_some() {
            InvitationStatus::Revoked
        } else if now >= self.expires_at {
            InvitationStatus::Expired
        } else {
            InvitationStatus::Pending
        }
    }
}

/// The email is personal data and the hash a credential's: `Debug` shows neither.
impl std::fmt::Debug for Invitation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Invitation")
            .field("id", &self.id)
            .field("workspace_id", &self.workspace_id)
            .field("role", &self.role)
            .field("expires_at", &self.expires_at)
            .field("accepted_at", &self.accepted_at)
            .field("revoked_at", &self.revoked_at)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invitation(now: DateTime<Utc>) -> Invitation {
        Invitation {
            id: InvitationId::new(),
            workspace_id: WorkspaceId::new(),
            email: "ana@example.test".into(),
            role: Role::Editor,
            invited_by: Some(UserId::new()),
            token_hash: "0".repeat(64),
            created_at: now,
            expires_at: now + Invitation::LIFETIME,
            accepted_at: None,
            accepted_by: None,
            revoked_at: None,
        }
    }

    #[test]
    fn an_invitation_is_pending_until_it_expires_is_accepted_or_is_revoked() {
        let now = Utc::now();
        let mut inv = invitation(now);
        assert_eq!(inv.status(now), InvitationStatus::Pending);
        let last = inv.expires_at - TimeDelta::microseconds(1);
        assert_eq!(inv.status(last), InvitationStatus::Pending);
        assert_eq!(inv.status(inv.expires_at), InvitationStatus::Expired);
        assert!(inv.is_open(), "an expired one is still listed");
        inv.revoked_at = Some(now);
        assert_eq!(inv.status(now), InvitationStatus::Revoked);
        assert!(!inv.is_open());
        inv.revoked_at = None;
        inv.accepted_at = Some(now);
        assert_eq!(inv.status(inv.expires_at), InvitationStatus::Accepted);
        assert!(!inv.is_open());
    }

    #[test]
    fn debug_shows_neither_the_email_nor_the_hash() {
        let inv = invitation(Utc::now());
        let shown = format!("{inv:?}");
        assert!(
            !shown.contains("ana@") && !shown.contains("0000"),
            "{shown}"
        );
    }
}
