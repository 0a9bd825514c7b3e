//! Invitations on SQL. Accepting is one transaction: the compare-and-set that marks the
//! invitation accepted (only while it is open and unexpired) comes first, so of racing
//! acceptances exactly one gets a row back (PostgreSQL makes the others wait on the row and
//! then find it taken; SQLite runs the transactions one after the other), and only that one
//! goes on to add the member, serialized on the workspace row like every membership change.

use super::dialect::{Dialect, args};
use super::sqlx_error::from_sqlx;
use super::workspaces::{first, run};
use super::{SqlStore, statements as st};
use crate::model::{Invitation, InvitationId, Member, UserId, WorkspaceId};
use crate::store::StoreError;
use crate::store::codec;
use chrono::{DateTime, Utc};

impl<D: Dialect> SqlStore<D> {
    pub(super) async fn invite(&self, inv: &Invitation) -> Result<(), StoreError> {
        let args = args![
            inv.id,
            inv.workspace_id,
            &inv.email,
            inv.role.as_str(),
            inv.invited_by,
            &inv.token_hash,
            inv.created_at,
            inv.expires_at,
            inv.accepted_at,
            inv.accepted_by,
            inv.revoked_at,
        ];
        self.execute(st::CREATE_INVITATION, args).await.map(drop)
    }

    pub(super) async fn invitation_by_hash(
        &self,
        token_hash: &str,
    ) -> Result<Option<Invitation>, StoreError> {
        let args = args![token_hash];
        self.optional(st::INVITATION_BY_TOKEN_HASH, args, codec::invitation)
            .await
    }

    pub(super) async fn open_invitations(
        &self,
        ws: WorkspaceId,
    ) -> Result<Vec<Invitation>, StoreError> {
        self.all(st::OPEN_INVITATIONS, args![ws], codec::invitation)
            .await
    }

    pub(super) async fn revoke_invitation_of(
        &self,
        ws: WorkspaceId,
        id: InvitationId,
    ) -> Result<Invitation, StoreError> {
        let args = args![id, ws, codec::now()];
        self.one(st::REVOKE_INVITATION, args, codec::invitation)
            .await
    }

    /// `accept_invitation`; see the module doc. A refusal rolls everything back.
    pub(super) async fn accept(
        &self,
        id: InvitationId,
        user: UserId,
        at: DateTime<Utc>,
    ) -> Result<Member, StoreError> {
        let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
        let sql = st::ACCEPT_INVITATION;
        let Some(inv) = first(&mut tx, sql, args![id, user, at], codec::invitation).await? else {
            drop(tx);
            let exists = self.optional(st::INVITATION_EXISTS, args![id], |_| Ok(()));
            return Err(match exists.await? {
                Some(()) => StoreError::StaleState,
                None => StoreError::NotFound,
            });
        };
        let ws = inv.workspace_id;
        // Locks the workspace like every membership change. Accepting only ever promotes (or
        // changes nothing), so it needs no last-owner check.
        run(&mut tx, st::BUMP_WORKSPACE, args![ws, codec::now()]).await?;
        let current = first(&mut tx, st::MEMBER, args![ws, user], codec::member).await?;
        let (role, joined_at) = match current {
            Some(m) => (m.role.max(inv.role), m.joined_at),
            None => (inv.role, at),
        };
        let args = args![ws, user, role.as_str(), joined_at];
        let member = first(&mut tx, st::PUT_MEMBER, args, codec::member).await?;
        let member = member.ok_or(StoreError::NotFound)?;
        tx.commit().await.map_err(from_sqlx)?;
        Ok(member)
    }
}
