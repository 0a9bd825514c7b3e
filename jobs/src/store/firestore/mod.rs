//! Google Cloud Firestore (native mode), the production store MKT POST promises, over the REST
//! v1 API (see `docs/firestore.md` for why REST and not gRPC, the layout, and deployment).
//!
//! Layout: one top-level collection per entity (`users`, `accounts`, `posts`, `media`,
//! `api_keys`, `audit`, `oauth_states`, `leases`, `workspaces`, `workspace_members`,
//! `invitations`), documents
//! keyed by the entity id (a member by `{workspace}:{user}`). A document
//! holds `user_id`, the fields some query filters or orders on as typed values, and the rest of
//! the entity as the same JSON `doc` text the SQL backends keep (`codec`), so all three decode
//! through one codec. Uniqueness rules are marker documents with deterministic ids, created in
//! the same commit as their entity with an `exists: false` precondition: `google_uids`,
//! `account_open_ids`, `api_key_hashes`, `idempotency` (which also points at the post) and
//! `invitation_tokens` (which points at the invitation its link opens).
//!
//! Concurrency: each operation reads what it will change, decides, and commits with
//! preconditions on what it read (`updateTime` equal to the version read, `exists: false` for a
//! document that was missing): optimistic concurrency, with the commit as the atomic unit. A
//! lost race fails the whole commit; the operation then reads again and decides again, so a
//! stale compare-and-set ends as `StaleState`, a racing create finds the winner, and exactly
//! one taker of an OAuth state or a free lease commits. A commit that meets a lock held by
//! someone's transaction is `ABORTED` and retried the same way.
//!
//! No operation uses a read-write transaction. Every one changes the documents it read, so
//! preconditions already make it atomic, and transactions lock: under the conformance suite's
//! 16 racing lease acquirers the emulator's lock-upgrade deadlocks (each ended by a ~2 s lock
//! timeout) never let one commit (measured: 330 aborts in 60 s, no winner), whereas
//! preconditions settle the same race in one round trip (see `docs/firestore.md`).
//!
//! Files: `connect` opens the store, `attempt` runs one operation to an answer (retries,
//! preconditions), `documents` holds what every entity's documents share, and one file per
//! stored entity group (`users` with sessions, `accounts`, `posts`, `media`, `keys` with audit,
//! `leases` with OAuth states, `workspaces` with members, `invitations`) encodes its documents
//! and decides its writes. The `Store` impl
//! below maps each trait method onto them.

mod accounts;
mod attempt;
mod backfill;
mod connect;
mod documents;
#[cfg(feature = "test-support")]
pub mod emulator;
mod invitations;
mod keys;
mod leases;
mod media;
mod posts;
pub mod queries;
mod rest;
mod users;
mod value;
mod workspaces;

pub use connect::{DEFAULT_DATABASE, FirestoreUrl, GOOGLE_ENDPOINT};
pub use queries::{Direction, Filter, QuerySpec, composite_queries, queries};

use self::accounts::merge_tokens;
use self::attempt::Plan;
use self::documents::{all, hash, owned};
use self::leases::{Lease, release, take_state};
use self::media::media_fields;
use self::queries::*;
use self::rest::Rest;
use self::value::{Write, fields};
use super::codec::{self, Cells};
use super::{AccountRef, Created, DuePost, Page, Store, StoreError, StuckAfter};
use crate::model::{
    AccountConnect, AccountId, AccountStatus, ApiKey, ApiKeyId, AuditEvent, EncryptedTokens,
    GoogleProfile, Invitation, InvitationId, Media, MediaId, Member, Post, PostId, PostState, Role,
    TikTokAccount, User, UserId, Workspace, WorkspaceId,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

/// The Firestore backend.
#[derive(Debug, Clone)]
pub struct FirestoreStore {
    rest: Rest,
    /// Attempts that ended in `ABORTED` and were retried (tests provoke and count them).
    aborted_retries: Arc<AtomicU64>,
}

#[async_trait]
impl Store for FirestoreStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.get(&self.doc(HEALTH, "ping")).await?;
        Ok(())
    }

    async fn upsert_user(&self, profile: &GoogleProfile) -> Result<User, StoreError> {
        self.sign_in(profile).await
    }

    async fn user(&self, id: UserId) -> Result<User, StoreError> {
        match self.get(&self.doc(USERS, id)).await? {
            Some(doc) => codec::user(&doc.fields),
            None => Err(StoreError::NotFound),
        }
    }

    async fn user_by_google_uid(&self, google_uid: &str) -> Result<Option<User>, StoreError> {
        let docs = self
            .query(&USER_BY_GOOGLE_UID, &[value::string(google_uid)], Some(1))
            .await?;
        docs.first().map(|d| codec::user(&d.fields)).transpose()
    }

    async fn mark_user_erasing(&self, id: UserId, at: DateTime<Utc>) -> Result<User, StoreError> {
        // The first mark wins and later ones return it unchanged.
        self.update_user(id, |user| {
            if user.erasing_since.is_some() {
                return false;
            }
            user.erasing_since = Some(at);
            true
        })
        .await
    }

    async fn users_erasing_before(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<UserId>, StoreError> {
        let values = [value::timestamp(before)];
        self.query_all(&USERS_ERASING_BEFORE, &values, Some(limit), |f| {
            Ok(UserId(f.uuid("id")?))
        })
        .await
    }

    async fn erase_user(&self, id: UserId) -> Result<(), StoreError> {
        self.erase(id).await
    }

    async fn connect_account(
        &self,
        ws: WorkspaceId,
        by: UserId,
        connect: &AccountConnect,
    ) -> Result<TikTokAccount, StoreError> {
        self.link_account(ws, by, connect).await
    }

    async fn account(&self, ws: WorkspaceId, id: AccountId) -> Result<TikTokAccount, StoreError> {
        let doc = self.get_owned(&self.doc(ACCOUNTS, id), ws).await?;
        codec::account(&doc.fields)
    }

    async fn all_accounts(&self, ws: WorkspaceId) -> Result<Vec<TikTokAccount>, StoreError> {
        let values = [value::id(ws.0)];
        self.query_all(&LIST_ACCOUNTS, &values, None, codec::account)
            .await
    }

    async fn store_tokens(
        &self,
        ws: WorkspaceId,
        id: AccountId,
        expected_version: i64,
        tokens: &EncryptedTokens,
    ) -> Result<TikTokAccount, StoreError> {
        self.update_account(ws, id, expected_version, |acc| {
            acc.tokens = Some(merge_tokens(acc.tokens.as_ref(), tokens));
        })
        .await
    }

    async fn set_account_status(
        &self,
        ws: WorkspaceId,
        id: AccountId,
        expected_version: i64,
        status: AccountStatus,
        reason: Option<&str>,
        clear_tokens: bool,
    ) -> Result<TikTokAccount, StoreError> {
        self.update_account(ws, id, expected_version, |acc| {
            acc.status = status;
            acc.status_reason = reason.map(str::to_owned);
            if clear_tokens {
                acc.tokens = None;
            }
        })
        .await
    }

    async fn delete_account(&self, ws: WorkspaceId, id: AccountId) -> Result<(), StoreError> {
        self.remove_account(ws, id).await
    }

    async fn accounts_expiring_before(
        &self,
        at: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<AccountRef>, StoreError> {
        let values = [
            value::string(AccountStatus::Active.as_str()),
            value::timestamp(at),
        ];
        self.query_all(&ACCOUNTS_EXPIRING, &values, Some(limit), codec::account_ref)
            .await
    }

    async fn accounts_after(
        &self,
        after: Option<AccountId>,
        limit: u32,
    ) -> Result<Vec<TikTokAccount>, StoreError> {
        let specs = (&ACCOUNTS_FIRST, &ACCOUNTS_AFTER);
        self.page_by_id(specs, after, limit, codec::account).await
    }

    async fn create_post(&self, post: &Post) -> Result<Created<Post>, StoreError> {
        self.create(post).await
    }

    async fn post(&self, ws: WorkspaceId, id: PostId) -> Result<Post, StoreError> {
        let doc = self.get_owned(&self.doc(POSTS, id), ws).await?;
        codec::post(&doc.fields)
    }

    async fn post_by_idempotency_key(
        &self,
        ws: WorkspaceId,
        key: &str,
    ) -> Result<Option<Post>, StoreError> {
        let Some(m) = self.get(&self.idempotency_marker(ws, key)).await? else {
            return Ok(None);
        };
        let id = PostId(m.fields.uuid("post_id")?);
        match self.post(ws, id).await {
            Ok(post) => Ok(Some(post)),
            Err(StoreError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn list_posts(
        &self,
        ws: WorkspaceId,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<Post>, StoreError> {
        let n = limit.max(1);
        // One document more than asked says whether there is a next page.
        let posts = match codec::parse_cursor(cursor)? {
            Some(before) => {
                let values = [value::id(ws.0), value::id(before.0)];
                self.query_all(&POSTS_PAGE_AFTER, &values, Some(n + 1), codec::post)
                    .await?
            }
            None => {
                let values = [value::id(ws.0)];
                self.query_all(&POSTS_FIRST_PAGE, &values, Some(n + 1), codec::post)
                    .await?
            }
        };
        Ok(codec::page_of(posts, n as usize))
    }

    async fn save_post(&self, post: &Post, expected_state: PostState) -> Result<Post, StoreError> {
        self.save(post, expected_state).await
    }

    async fn delete_post(&self, ws: WorkspaceId, id: PostId) -> Result<(), StoreError> {
        self.update_one(self.doc(POSTS, id), |doc| {
            let doc = owned(doc, ws)?;
            let mut writes = vec![Write::delete(doc.name.clone())];
            // The key is released with its post (the marker was created with it).
            if let Some(key) = doc.fields.opt_text("idempotency_key")? {
                writes.push(Write::delete(self.idempotency_marker(ws, &key)));
            }
            Ok(Plan::write(writes, ()))
        })
        .await
    }

    async fn due_posts(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<DuePost>, StoreError> {
        let values = [
            value::string(PostState::Scheduled.as_str()),
            value::timestamp(now),
        ];
        self.query_all(&DUE_POSTS, &values, Some(limit), codec::due_post)
            .await
    }

    async fn posts_stuck_in(
        &self,
        state: PostState,
        before: DateTime<Utc>,
        after: Option<StuckAfter>,
        limit: u32,
    ) -> Result<Vec<Post>, StoreError> {
        let values = [value::string(state.as_str()), value::timestamp(before)];
        let cursor = self.stuck_cursor(after);
        let body = POSTS_STUCK_IN.body_after(&values, cursor.as_deref(), Some(limit))?;
        all(&self.rest.run_query(&body).await?, codec::post)
    }

    async fn create_media(&self, media: &Media) -> Result<(), StoreError> {
        let write = Write::set(self.doc(MEDIA, media.id), media_fields(media)?).if_absent();
        self.write(&[write]).await
    }

    async fn media(&self, ws: WorkspaceId, id: MediaId) -> Result<Media, StoreError> {
        let doc = self.get_owned(&self.doc(MEDIA, id), ws).await?;
        codec::media(&doc.fields)
    }

    async fn attach_media(
        &self,
        ws: WorkspaceId,
        id: MediaId,
        post: PostId,
    ) -> Result<Media, StoreError> {
        self.update_media(ws, id, |media| match media.post_id {
            // Attaching again to the same post succeeds: a replay must not fail on its own
            // earlier write.
            Some(p) if p == post => Ok(false),
            Some(_) => Err(StoreError::StaleState),
            None => {
                media.post_id = Some(post);
                Ok(true)
            }
        })
        .await
    }

    async fn detach_media(
        &self,
        ws: WorkspaceId,
        id: MediaId,
        post: PostId,
    ) -> Result<Media, StoreError> {
        self.update_media(ws, id, |media| match media.post_id {
            None => Ok(false),
            Some(p) if p == post => {
                media.post_id = None;
                Ok(true)
            }
            Some(_) => Err(StoreError::StaleState),
        })
        .await
    }

    async fn delete_media(&self, ws: WorkspaceId, id: MediaId) -> Result<(), StoreError> {
        self.update_one(self.doc(MEDIA, id), |doc| {
            let doc = owned(doc, ws)?;
            Ok(Plan::write(vec![Write::delete(doc.name.clone())], ()))
        })
        .await
    }

    async fn expired_media(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Media>, StoreError> {
        let values = [value::timestamp(now)];
        self.query_all(&EXPIRED_MEDIA, &values, Some(limit), codec::media)
            .await
    }

    async fn list_media(&self, ws: WorkspaceId) -> Result<Vec<Media>, StoreError> {
        let values = [value::id(ws.0)];
        self.query_all(&LIST_MEDIA, &values, None, codec::media)
            .await
    }

    async fn media_after(
        &self,
        after: Option<MediaId>,
        limit: u32,
    ) -> Result<Vec<Media>, StoreError> {
        let specs = (&MEDIA_FIRST, &MEDIA_AFTER);
        self.page_by_id(specs, after, limit, codec::media).await
    }

    async fn rewrap_media_key(
        &self,
        ws: WorkspaceId,
        id: MediaId,
        expected: &str,
        wrapped_key: &str,
    ) -> Result<Media, StoreError> {
        self.update_media(ws, id, |media| {
            if media.wrapped_key != expected {
                return Err(StoreError::StaleState);
            }
            media.wrapped_key = wrapped_key.to_owned();
            Ok(true)
        })
        .await
    }

    async fn create_api_key(&self, key: &ApiKey) -> Result<(), StoreError> {
        self.create_key(key).await
    }

    async fn list_api_keys(&self, ws: WorkspaceId) -> Result<Vec<ApiKey>, StoreError> {
        let values = [value::id(ws.0)];
        self.query_all(&LIST_API_KEYS, &values, None, codec::api_key)
            .await
    }

    async fn delete_api_key(&self, ws: WorkspaceId, id: ApiKeyId) -> Result<(), StoreError> {
        self.remove_key(ws, id).await
    }

    async fn api_key_by_hash(&self, hash: &str) -> Result<Option<ApiKey>, StoreError> {
        let docs = self
            .query(&API_KEY_BY_HASH, &[value::string(hash)], Some(1))
            .await?;
        docs.first().map(|d| codec::api_key(&d.fields)).transpose()
    }

    async fn touch_api_key(&self, id: ApiKeyId, at: DateTime<Utc>) -> Result<(), StoreError> {
        // A masked update that requires the document: a missing key is `NOT_FOUND`.
        let write = Write::patch(
            self.doc(API_KEYS, id),
            fields([("last_used_at", value::timestamp(at))]),
            vec!["last_used_at"],
        )
        .if_exists();
        self.write(&[write]).await
    }

    async fn record_audit(&self, event: &AuditEvent) -> Result<(), StoreError> {
        let write = Write::set(self.doc(AUDIT, event.id), keys::audit_fields(event)?).if_absent();
        self.write(&[write]).await
    }

    async fn list_audit(&self, ws: WorkspaceId, limit: u32) -> Result<Vec<AuditEvent>, StoreError> {
        let values = [value::id(ws.0)];
        self.query_all(&LIST_AUDIT, &values, Some(limit), codec::audit_event)
            .await
    }

    async fn put_oauth_state(
        &self,
        state_hash: &str,
        user: UserId,
        ws: WorkspaceId,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.sweep_expired(&EXPIRED_OAUTH_STATES).await?;
        let state = fields([
            ("user_id", value::id(user.0)),
            ("workspace_id", value::id(ws.0)),
            ("expires_at", value::timestamp(expires_at)),
        ]);
        let write = Write::set(self.doc(OAUTH_STATES, hash(state_hash)), state).if_absent();
        self.write(&[write]).await
    }

    async fn take_oauth_state(
        &self,
        state_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(UserId, WorkspaceId)>, StoreError> {
        let name = self.doc(OAUTH_STATES, hash(state_hash));
        self.update_one(name, |doc| take_state(doc, now)).await
    }

    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError> {
        let lease = Lease::new(name, holder, ttl, now)?;
        let document = self.lease_document(name);
        self.update_one(document.clone(), |doc| lease.acquire(&document, doc))
            .await
    }

    async fn renew_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let lease = Lease::new(name, holder, ttl, now)?;
        self.update_one(self.lease_document(name), |doc| lease.renew(doc))
            .await
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        self.update_one(self.lease_document(name), |doc| release(doc, name, holder))
            .await
    }

    // ---- sessions: sign-out and "sign out everywhere" ----

    async fn revoke_session(
        &self,
        token_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.revoke(token_hash, expires_at).await
    }

    async fn session_revoked(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.revoked(token_hash, now).await
    }

    async fn revoke_user_sessions(
        &self,
        id: UserId,
        at: DateTime<Utc>,
    ) -> Result<User, StoreError> {
        // Never moves back: an earlier instant leaves the user as stored.
        self.update_user(id, |user| {
            if user.sessions_revoked_at.is_some_and(|t| t >= at) {
                return false;
            }
            user.sessions_revoked_at = Some(at);
            true
        })
        .await
    }

    async fn ensure_personal_workspace(&self, user: &User) -> Result<Workspace, StoreError> {
        self.ensure_personal(user).await
    }

    async fn workspace(&self, id: WorkspaceId) -> Result<Workspace, StoreError> {
        self.workspace_by_id(id).await
    }

    async fn workspaces_of(&self, user: UserId) -> Result<Vec<(Workspace, Role)>, StoreError> {
        self.memberships(user).await
    }

    async fn member(&self, ws: WorkspaceId, user: UserId) -> Result<Option<Member>, StoreError> {
        self.member_of(ws, user).await
    }

    async fn members(&self, ws: WorkspaceId) -> Result<Vec<Member>, StoreError> {
        self.members_of(ws).await
    }

    async fn put_member(&self, member: &Member) -> Result<Member, StoreError> {
        self.put(member).await
    }

    async fn remove_member(&self, ws: WorkspaceId, user: UserId) -> Result<(), StoreError> {
        self.remove(ws, user).await
    }

    async fn delete_workspace(&self, ws: WorkspaceId) -> Result<(), StoreError> {
        self.delete_whole(ws).await
    }

    async fn create_workspace(
        &self,
        ws: &Workspace,
        owner: UserId,
    ) -> Result<Workspace, StoreError> {
        self.create_team(ws, owner).await
    }

    async fn update_workspace(
        &self,
        ws: &Workspace,
        version: i64,
    ) -> Result<Workspace, StoreError> {
        self.update_settings(ws, version).await
    }

    async fn create_invitation(&self, invitation: &Invitation) -> Result<(), StoreError> {
        self.invite(invitation).await
    }

    async fn invitation_by_token_hash(&self, hash: &str) -> Result<Option<Invitation>, StoreError> {
        self.invitation_by_hash(hash).await
    }

    async fn pending_invitations(&self, ws: WorkspaceId) -> Result<Vec<Invitation>, StoreError> {
        self.open_invitations(ws).await
    }

    async fn revoke_invitation(
        &self,
        ws: WorkspaceId,
        id: InvitationId,
    ) -> Result<Invitation, StoreError> {
        self.revoke_invitation_of(ws, id).await
    }

    async fn accept_invitation(
        &self,
        id: InvitationId,
        user: UserId,
        at: DateTime<Utc>,
    ) -> Result<Member, StoreError> {
        self.accept(id, user, at).await
    }
}
