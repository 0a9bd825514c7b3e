//! Invitations (one document each, by id, plus an `invitation_tokens` marker per token hash,
//! by which a link finds its invitation and which keeps the hashes unique).
//!
//! Accepting reads the invitation, then the workspace, the membership and the user, and
//! commits the accepted invitation, the workspace at `version + 1` and the membership together,
//! each on the precondition that it is as read. Of racing acceptances one commits; every other
//! one fails a precondition, reads again, finds the invitation accepted and is refused. The
//! workspace document serializes the acceptance with the workspace's other membership changes,
//! as in `workspaces`.

use super::FirestoreStore;
use super::attempt::Plan;
use super::documents::hash;
use super::queries::{INVITATION_TOKENS, INVITATIONS, OPEN_INVITATIONS, USERS, WORKSPACES};
use super::value::{self, Fields, Write, fields};
use super::workspaces::{bumped, member_fields};
use crate::model::{Invitation, InvitationId, InvitationStatus, Member, UserId, WorkspaceId};
use crate::store::StoreError;
use crate::store::codec;
use chrono::{DateTime, Utc};

impl FirestoreStore {
    /// `create_invitation`: the invitation and its token marker in one commit that requires
    /// both to be new; the workspace must exist.
    pub(super) async fn invite(&self, inv: &Invitation) -> Result<(), StoreError> {
        if self
            .get(&self.doc(WORKSPACES, inv.workspace_id))
            .await?
            .is_none()
        {
            return Err(StoreError::NotFound);
        }
        let marker = fields([
            ("workspace_id", value::id(inv.workspace_id.0)),
            ("invitation_id", value::id(inv.id.0)),
        ]);
        let writes = [
            Write::set(self.doc(INVITATIONS, inv.id), invitation_fields(inv)).if_absent(),
            Write::set(self.token_marker(&inv.token_hash), marker).if_absent(),
        ];
        self.write(&writes).await
    }

    pub(super) async fn invitation_by_hash(
        &self,
        token_hash: &str,
    ) -> Result<Option<Invitation>, StoreError> {
        let marker = self.token_marker(token_hash);
        let found = self.retrying(|| async {
            let (_, target) = self
                .get_marked(&marker, "invitation_id", INVITATIONS)
                .await?;
            Ok(target)
        });
        found
            .await?
            .map(|d| codec::invitation(&d.fields))
            .transpose()
    }

    pub(super) async fn open_invitations(
        &self,
        ws: WorkspaceId,
    ) -> Result<Vec<Invitation>, StoreError> {
        let values = [value::id(ws.0)];
        self.query_all(&OPEN_INVITATIONS, &values, None, codec::invitation)
            .await
    }

    /// `revoke_invitation`: another workspace's invitation is `NotFound`, like a missing one.
    pub(super) async fn revoke_invitation_of(
        &self,
        ws: WorkspaceId,
        id: InvitationId,
    ) -> Result<Invitation, StoreError> {
        self.update_one(self.doc(INVITATIONS, id), |doc| {
            let doc = doc.ok_or(StoreError::NotFound)?;
            let mut inv = codec::invitation(&doc.fields)?;
            if inv.workspace_id != ws || inv.accepted_at.is_some() {
                return Err(StoreError::NotFound);
            }
            if inv.revoked_at.is_some() {
                return Ok(Plan::answer(inv));
            }
            inv.revoked_at = Some(codec::now());
            let write = Write::set(doc.name.clone(), invitation_fields(&inv));
            Ok(Plan::write(vec![write], inv))
        })
        .await
    }

    /// `accept_invitation`; see the module doc.
    pub(super) async fn accept(
        &self,
        id: InvitationId,
        user: UserId,
        at: DateTime<Utc>,
    ) -> Result<Member, StoreError> {
        let name = self.doc(INVITATIONS, id);
        self.retrying(|| async {
            let inv_doc = self.get(&name).await?.ok_or(StoreError::NotFound)?;
            let mut inv = codec::invitation(&inv_doc.fields)?;
            if inv.status(at) != InvitationStatus::Pending {
                return Err(StoreError::StaleState.into());
            }
            let ws = inv.workspace_id;
            let names = [
                self.doc(WORKSPACES, ws),
                self.member_doc(ws, user),
                self.doc(USERS, user),
            ];
            let mut docs = self.rest.batch_get(&names).await?;
            docs.pop().flatten().ok_or(StoreError::NotFound)?;
            let member_doc = docs.pop().flatten();
            let ws_doc = docs.pop().flatten().ok_or(StoreError::NotFound)?;
            let current = member_doc.as_ref().map(|d| codec::member(&d.fields));
            // An existing member keeps the higher role and when it joined.
            let member = match current.transpose()? {
                Some(m) => Member {
                    role: m.role.max(inv.role),
                    ..m
                },
                None => Member {
                    workspace_id: ws,
                    user_id: user,
                    role: inv.role,
                    joined_at: at,
                },
            };
            inv.accepted_at = Some(at);
            inv.accepted_by = Some(user);
            let writes = [
                Write::set(name.clone(), invitation_fields(&inv)).if_unchanged(&inv_doc),
                bumped(&ws_doc)?,
                Write::set(names[1].clone(), member_fields(&member))
                    .if_as_read(member_doc.as_ref()),
            ];
            self.commit_as_read(&writes).await?;
            Ok(member)
        })
        .await
    }

    fn token_marker(&self, token_hash: &str) -> String {
        self.doc(INVITATION_TOKENS, hash(token_hash))
    }
}

fn invitation_fields(i: &Invitation) -> Fields {
    fields([
        ("id", value::id(i.id.0)),
        ("workspace_id", value::id(i.workspace_id.0)),
        ("email", value::string(&i.email)),
        ("role", value::string(i.role.as_str())),
        ("invited_by", value::opt_id(i.invited_by.map(|u| u.0))),
        ("token_hash", value::string(&i.token_hash)),
        ("created_at", value::timestamp(i.created_at)),
        ("expires_at", value::timestamp(i.expires_at)),
        // `null` until they happen: the open-invitations query filters on both.
        ("accepted_at", value::opt_timestamp(i.accepted_at)),
        ("accepted_by", value::opt_id(i.accepted_by.map(|u| u.0))),
        ("revoked_at", value::opt_timestamp(i.revoked_at)),
    ])
}
