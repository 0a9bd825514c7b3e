//! Workspaces and their members on SQL. Every membership change runs in one transaction that
//! first updates the workspace row (`BUMP_WORKSPACE`): that takes its write lock, so changes of
//! one workspace run one at a time, and the "is there another owner?" read that follows sees
//! every change committed before. Two owners demoting each other at once therefore end with
//! one of them still an owner (the second is `LastOwner`).

use super::dialect::{Args, Dialect, args, json};
use super::sqlx_error::from_sqlx;
use super::{SqlStore, statements as st};
use crate::model::{Member, Role, User, UserId, Workspace, WorkspaceId};
use crate::store::StoreError;
use crate::store::codec::{self, WorkspaceDoc};
use sqlx::Transaction;

impl<D: Dialect> SqlStore<D> {
    /// `ensure_personal_workspace`: the workspace and its owner in one transaction; only a
    /// workspace created just now gets its owner, so an existing one keeps its members as
    /// they are (its first owner may have handed ownership on).
    pub(super) async fn ensure_personal(&self, user: &User) -> Result<Workspace, StoreError> {
        let id = Workspace::personal_id(user.id);
        let (now, doc) = (codec::now(), WorkspaceDoc::personal());
        let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
        if run(&mut tx, st::CREATE_WORKSPACE, args![id, json(&doc)?, now]).await? == 1 {
            let owner = args![id, user.id, Role::Owner.as_str(), now];
            first(&mut tx, st::PUT_MEMBER, owner, codec::member).await?;
        }
        tx.commit().await.map_err(from_sqlx)?;
        self.one(st::WORKSPACE, args![id], codec::workspace).await
    }

    pub(super) async fn memberships(
        &self,
        user: UserId,
    ) -> Result<Vec<(Workspace, Role)>, StoreError> {
        let members = self.all(st::MEMBERSHIPS_OF, args![user], codec::member);
        let members = members.await?;
        let workspaces = self.all(st::WORKSPACES_OF, args![user], codec::workspace);
        Ok(codec::with_roles(members, workspaces.await?))
    }

    pub(super) async fn put(&self, m: &Member) -> Result<Member, StoreError> {
        let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
        lock_and_check(&mut tx, m.workspace_id, m.user_id, Some(m.role)).await?;
        let args = args![m.workspace_id, m.user_id, m.role.as_str(), m.joined_at];
        let stored = first(&mut tx, st::PUT_MEMBER, args, codec::member).await?;
        let stored = stored.ok_or(StoreError::NotFound)?;
        tx.commit().await.map_err(from_sqlx)?;
        Ok(stored)
    }

    /// `create_workspace`: the workspace and its first owner in one transaction. The insert
    /// comes first, so SQLite takes the write lock at once; an unknown owner fails the
    /// membership's foreign key (`NotFound`) and rolls the workspace back with it.
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
        let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
        let args = args![ws.id, json(&WorkspaceDoc::of(ws))?, ws.created_at];
        let created = first(&mut tx, st::INSERT_WORKSPACE, args, codec::workspace).await?;
        let created =
            created.ok_or_else(|| StoreError::Backend("insert returned no row".into()))?;
        let args = args![ws.id, owner, Role::Owner.as_str(), created.created_at];
        first(&mut tx, st::PUT_MEMBER, args, codec::member).await?;
        tx.commit().await.map_err(from_sqlx)?;
        Ok(created)
    }

    /// `update_workspace`: the new name and approval setting over the stored `personal`, by
    /// compare-and-set on the version. When it matches no row, a second read tells a
    /// workspace that moved on (`StaleState`) from one that is gone.
    pub(super) async fn update_settings(
        &self,
        ws: &Workspace,
        expected_version: i64,
    ) -> Result<Workspace, StoreError> {
        let stored = self.one(st::WORKSPACE, args![ws.id], codec::workspace);
        let doc = WorkspaceDoc {
            personal: stored.await?.personal,
            ..WorkspaceDoc::of(ws)
        };
        let args = args![ws.id, json(&doc)?, codec::now(), expected_version];
        let sql = st::UPDATE_WORKSPACE;
        if let Some(written) = self.optional(sql, args, codec::workspace).await? {
            return Ok(written);
        }
        self.one(st::WORKSPACE, args![ws.id], codec::workspace)
            .await?;
        Err(StoreError::StaleState)
    }

    pub(super) async fn remove(&self, ws: WorkspaceId, user: UserId) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
        if lock_and_check(&mut tx, ws, user, None).await?.is_none() {
            return Err(StoreError::NotFound);
        }
        run(&mut tx, st::REMOVE_MEMBER, args![ws, user]).await?;
        tx.commit().await.map_err(from_sqlx)
    }
}

/// Locks workspace `ws` for a change of `user`'s membership to `role` (`None`: removal) and
/// returns the membership as it is. `NotFound` without the workspace; `LastOwner` when the
/// change takes away the only owner. Dropping the transaction on an error rolls it back.
async fn lock_and_check<D: Dialect>(
    tx: &mut Transaction<'_, D>,
    ws: WorkspaceId,
    user: UserId,
    role: Option<Role>,
) -> Result<Option<Member>, StoreError> {
    if run(tx, st::BUMP_WORKSPACE, args![ws, codec::now()]).await? == 0 {
        return Err(StoreError::NotFound);
    }
    let current = first(tx, st::MEMBER, args![ws, user], codec::member).await?;
    let was_owner = current.as_ref().is_some_and(|m| m.role == Role::Owner);
    if was_owner && role != Some(Role::Owner) {
        let other = first(tx, st::ANOTHER_OWNER, args![ws, user], |_| Ok(())).await?;
        other.ok_or(StoreError::LastOwner)?;
    }
    Ok(current)
}

/// Runs one statement inside `tx`; how many rows it changed.
pub(super) async fn run<D: Dialect>(
    tx: &mut Transaction<'_, D>,
    sql: &'static str,
    args: Args<'_>,
) -> Result<u64, StoreError> {
    let done = SqlStore::<D>::statement(sql, args)
        .execute(D::on_connection(&mut **tx))
        .await
        .map_err(from_sqlx)?;
    Ok(D::rows_affected(&done))
}

/// Runs one statement inside `tx` and decodes the first row it returns, if any.
pub(super) async fn first<D: Dialect, T>(
    tx: &mut Transaction<'_, D>,
    sql: &'static str,
    args: Args<'_>,
    decode: impl Fn(&D::Row) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    let row = SqlStore::<D>::statement(sql, args)
        .fetch_optional(D::on_connection(&mut **tx))
        .await
        .map_err(from_sqlx)?;
    row.as_ref().map(decode).transpose()
}
