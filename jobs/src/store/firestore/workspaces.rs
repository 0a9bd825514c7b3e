//! Workspaces (one document each, by id) and their members (one document each, by
//! `{workspace}:{user}`).
//!
//! Membership changes are serialized on the workspace document: each one reads it, reads the
//! members it needs, and commits its member write together with the workspace document at
//! `version + 1`, on the precondition that the workspace document is unchanged. A change that
//! committed in between fails that precondition, so the loser reads again and decides again,
//! on what the winner wrote: two owners demoting each other at once end with one owner
//! (the second demotion is `LastOwner`).
//!
//! There are no migrations here: a user who signed in before workspaces existed gets the
//! personal workspace at the next sign-in (`sign_in` ensures it every time).

use super::FirestoreStore;
use super::attempt::{Lost, Plan};
use super::queries::{MEMBERS_OF, MEMBERSHIPS_OF, USERS, WORKSPACE_MEMBERS, WORKSPACES};
use super::value::{self, Document, Fields, Write, fields};
use crate::model::{Member, Role, User, UserId, Workspace, WorkspaceId};
use crate::store::StoreError;
use crate::store::codec::{self, WorkspaceDoc};
use chrono::{DateTime, SubsecRound, Utc};

impl FirestoreStore {
    pub(super) fn member_doc(&self, ws: WorkspaceId, user: UserId) -> String {
        self.doc(WORKSPACE_MEMBERS, format!("{ws}:{user}"))
    }

    /// `ensure_personal_workspace`: an existing workspace is returned as it is; otherwise it
    /// and its owner are created in one commit (a racing creator makes this read again).
    pub(super) async fn ensure_personal(&self, user: &User) -> Result<Workspace, StoreError> {
        let id = Workspace::personal_id(user.id);
        let name = self.doc(WORKSPACES, id);
        self.retrying(|| async {
            if let Some(doc) = self.get(&name).await? {
                return Ok(codec::workspace(&doc.fields)?);
            }
            let now = codec::now();
            let d = WorkspaceDoc::personal();
            let ws = Workspace {
                id,
                name: d.name,
                personal: d.personal,
                approval_required: d.approval_required,
                created_at: now,
                version: 1,
            };
            let owner = Member {
                workspace_id: id,
                user_id: user.id,
                role: Role::Owner,
                joined_at: now,
            };
            let writes = [
                Write::set(name.clone(), workspace_fields(&ws, now)?).if_absent(),
                Write::set(self.member_doc(id, user.id), member_fields(&owner)).if_absent(),
            ];
            self.commit_as_read(&writes).await?;
            Ok(ws)
        })
        .await
    }

    /// `create_workspace`: the workspace and its first owner in one commit that requires
    /// both to be new (a taken id is `ALREADY_EXISTS`, so `Conflict`).
    pub(super) async fn create_team(
        &self,
        ws: &Workspace,
        owner: UserId,
    ) -> Result<Workspace, StoreError> {
        if ws.personal {
            return Err(StoreError::Conflict(
                "a personal workspace is only made at sign-in".into(),
            ));
        }
        if self.get(&self.doc(USERS, owner)).await?.is_none() {
            return Err(StoreError::NotFound);
        }
        let created_at = ws.created_at.trunc_subsecs(6);
        let f = workspace_fields(
            &Workspace {
                version: 1,
                created_at,
                ..ws.clone()
            },
            created_at,
        )?;
        let owner = Member {
            workspace_id: ws.id,
            user_id: owner,
            role: Role::Owner,
            joined_at: created_at,
        };
        let writes = [
            Write::set(self.doc(WORKSPACES, ws.id), f.clone()).if_absent(),
            Write::set(self.member_doc(ws.id, owner.user_id), member_fields(&owner)).if_absent(),
        ];
        self.write(&writes).await?;
        codec::workspace(&f)
    }

    /// `update_workspace`: the new name and approval setting, only on the version expected.
    pub(super) async fn update_settings(
        &self,
        ws: &Workspace,
        expected_version: i64,
    ) -> Result<Workspace, StoreError> {
        self.update_one(self.doc(WORKSPACES, ws.id), |doc| {
            let doc = doc.ok_or(StoreError::NotFound)?;
            let mut stored = codec::workspace(&doc.fields)?;
            if stored.version != expected_version {
                return Err(StoreError::StaleState);
            }
            stored.name.clone_from(&ws.name);
            stored.approval_required = ws.approval_required;
            stored.version += 1;
            let f = workspace_fields(&stored, codec::now())?;
            Ok(Plan::write(vec![Write::set(doc.name.clone(), f)], stored))
        })
        .await
    }

    pub(super) async fn workspace_by_id(&self, id: WorkspaceId) -> Result<Workspace, StoreError> {
        match self.get(&self.doc(WORKSPACES, id)).await? {
            Some(doc) => codec::workspace(&doc.fields),
            None => Err(StoreError::NotFound),
        }
    }

    pub(super) async fn memberships(
        &self,
        user: UserId,
    ) -> Result<Vec<(Workspace, Role)>, StoreError> {
        let values = [value::id(user.0)];
        let members = self
            .query_all(&MEMBERSHIPS_OF, &values, None, codec::member)
            .await?;
        if members.is_empty() {
            return Ok(Vec::new());
        }
        let names: Vec<String> = members
            .iter()
            .map(|m| self.doc(WORKSPACES, m.workspace_id))
            .collect();
        let docs = self.rest.batch_get(&names).await?;
        let workspaces = docs.iter().flatten().map(|d| codec::workspace(&d.fields));
        Ok(codec::with_roles(
            members,
            workspaces.collect::<Result<_, _>>()?,
        ))
    }

    pub(super) async fn member_of(
        &self,
        ws: WorkspaceId,
        user: UserId,
    ) -> Result<Option<Member>, StoreError> {
        let doc = self.get(&self.member_doc(ws, user)).await?;
        doc.map(|d| codec::member(&d.fields)).transpose()
    }

    pub(super) async fn members_of(&self, ws: WorkspaceId) -> Result<Vec<Member>, StoreError> {
        let values = [value::id(ws.0)];
        self.query_all(&MEMBERS_OF, &values, None, codec::member)
            .await
    }

    /// `put_member`: `joined_at` of an existing member stays.
    pub(super) async fn put(&self, m: &Member) -> Result<Member, StoreError> {
        let member_name = self.member_doc(m.workspace_id, m.user_id);
        self.retrying(|| async {
            let (ws_doc, member_doc) = self
                .read_for_change(m.workspace_id, m.user_id, Some(m.role))
                .await?;
            let current = member_doc.as_ref().map(|d| codec::member(&d.fields));
            let stored = Member {
                joined_at: current.transpose()?.map_or(m.joined_at, |c| c.joined_at),
                ..m.clone()
            };
            let set = Write::set(member_name.clone(), member_fields(&stored))
                .if_as_read(member_doc.as_ref());
            self.commit_as_read(&[bumped(&ws_doc)?, set]).await?;
            Ok(stored)
        })
        .await
    }

    pub(super) async fn remove(&self, ws: WorkspaceId, user: UserId) -> Result<(), StoreError> {
        self.retrying(|| async {
            let (ws_doc, member_doc) = self.read_for_change(ws, user, None).await?;
            let member_doc = member_doc.ok_or(StoreError::NotFound)?;
            let delete = Write::delete(member_doc.name.clone()).if_unchanged(&member_doc);
            self.commit_as_read(&[bumped(&ws_doc)?, delete]).await?;
            Ok(())
        })
        .await
    }

    /// Reads what a change of `user`'s membership of `ws` to `role` (`None`: removal) depends
    /// on: the workspace document and the membership document as they are. `NotFound`
    /// without the workspace (or, when adding, without the user); `LastOwner` when the change
    /// takes away the only owner. The members are read after the workspace document, and the
    /// change commits only if that document is still as read, so no change slips in between.
    async fn read_for_change(
        &self,
        ws: WorkspaceId,
        user: UserId,
        role: Option<Role>,
    ) -> Result<(Document, Option<Document>), Lost> {
        let names = [
            self.doc(WORKSPACES, ws),
            self.member_doc(ws, user),
            self.doc(USERS, user),
        ];
        let mut docs = self.rest.batch_get(&names).await?;
        let user_doc = docs.pop().flatten();
        let member_doc = docs.pop().flatten();
        let ws_doc = docs.pop().flatten().ok_or(StoreError::NotFound)?;
        if role.is_some() && user_doc.is_none() {
            return Err(StoreError::NotFound.into());
        }
        let current = member_doc.as_ref().map(|d| codec::member(&d.fields));
        if current.transpose()?.is_some_and(|m| m.role == Role::Owner) && role != Some(Role::Owner)
        {
            let members = self.members_of(ws).await?;
            if !members
                .iter()
                .any(|m| m.role == Role::Owner && m.user_id != user)
            {
                return Err(StoreError::LastOwner.into());
            }
        }
        Ok((ws_doc, member_doc))
    }

    /// The workspace document, everyone's membership of it first (what it owns goes before,
    /// in `delete_whole`).
    pub(super) async fn erase_workspace(
        &self,
        ws: WorkspaceId,
        batch: u32,
    ) -> Result<(), StoreError> {
        while self
            .delete_matching(&MEMBERS_OF, &[value::id(ws.0)], batch)
            .await?
            == batch as usize
        {}
        self.write(&[Write::delete(self.doc(WORKSPACES, ws))]).await
    }
}

/// The workspace document at `version + 1`, written only if it is still as read.
pub(super) fn bumped(doc: &Document) -> Result<Write, StoreError> {
    let mut ws = codec::workspace(&doc.fields)?;
    ws.version += 1;
    let f = workspace_fields(&ws, codec::now())?;
    Ok(Write::set(doc.name.clone(), f).if_unchanged(doc))
}

fn workspace_fields(w: &Workspace, updated_at: DateTime<Utc>) -> Result<Fields, StoreError> {
    Ok(fields([
        ("id", value::id(w.id.0)),
        ("doc", value::json_text(&WorkspaceDoc::of(w))?),
        ("version", value::integer(w.version)),
        ("created_at", value::timestamp(w.created_at)),
        ("updated_at", value::timestamp(updated_at)),
    ]))
}

pub(super) fn member_fields(m: &Member) -> Fields {
    fields([
        ("workspace_id", value::id(m.workspace_id.0)),
        ("user_id", value::id(m.user_id.0)),
        ("role", value::string(m.role.as_str())),
        ("joined_at", value::timestamp(m.joined_at)),
    ])
}
