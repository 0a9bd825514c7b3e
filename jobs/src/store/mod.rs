//! The one `Store` trait in front of every backend (SQLite embedded default, PostgreSQL at scale,
//! Firestore in production, see `docs/firestore.md`). It is shaped for a document store:
//! - no caller relies on a join; every entity is read and written whole;
//! - every read or write of user data takes the `UserId`: another user's row is `NotFound`;
//! - every state change is a compare-and-set on (state, version);
//! - the few cross-user reads (due posts, expiring tokens, key rotation, erasures, sweeps) are
//!   named as such and return ids or whole rows with their owner.
//!
//! Behaviour that can be built from other methods is a default method, written once here.

mod codec;
#[cfg(feature = "test-support")]
pub mod conformance;
pub mod firestore;
mod sql;

pub use sql::{SqlStore, postgres, sqlite};

use crate::config::StoreKind;
use crate::model::{
    AccountConnect, AccountId, AccountStatus, ApiKey, ApiKeyId, AuditEvent, EncryptedTokens,
    GoogleProfile, Invitation, InvitationId, Media, MediaId, Member, Post, PostId, PostState, Role,
    TikTokAccount, User, UserId, Workspace, WorkspaceId,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// What can go wrong in a store, in domain terms (driver errors are converted in the backend).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Missing, or owned by another user (the two are indistinguishable on purpose).
    #[error("not found")]
    NotFound,
    /// A compare-and-set lost: the row is no longer in the expected state/version.
    #[error("stale state: the row changed since it was read")]
    StaleState,
    /// The state machine does not allow this transition.
    #[error("illegal transition {from} -> {to}")]
    IllegalTransition { from: PostState, to: PostState },
    /// A uniqueness rule was hit (e.g. an API key hash twice).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The change would leave a workspace without an owner (removing or demoting its last
    /// one); nothing was written. A workspace always has at least one owner.
    #[error("a workspace must keep at least one owner")]
    LastOwner,
    /// The backend cannot be reached or timed out (retryable).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Anything else from the backend (a bug or a corrupt row); not retryable.
    #[error("store error: {0}")]
    Backend(String),
}

/// A page of results, newest first, with an opaque cursor for the next page.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass back to get the next (older) page; None when this is the last.
    pub next_cursor: Option<String>,
}

/// The result of an idempotent create.
#[derive(Debug, Clone, PartialEq)]
pub struct Created<T> {
    pub value: T,
    /// False when an existing row with the same idempotency key was returned instead.
    pub created: bool,
}

/// A scheduled post whose time has come (cross-workspace; for the scheduler).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DuePost {
    pub workspace_id: WorkspaceId,
    pub post_id: PostId,
    pub scheduled_at: DateTime<Utc>,
}

/// Where a page of [`Store::posts_stuck_in`] ended: the last post's `updated_at` and id (the
/// query's order). A sweep pages past the posts it skips (parked ones) with it, so they can
/// never fill every page and hide the posts behind them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StuckAfter {
    pub updated_at: DateTime<Utc>,
    pub id: PostId,
}

impl StuckAfter {
    /// The cursor just past `post`.
    pub fn of(post: &Post) -> Self {
        Self {
            updated_at: post.updated_at,
            id: post.id,
        }
    }
}

/// An account's owner and id (cross-user; for sweeps).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountRef {
    pub workspace_id: WorkspaceId,
    pub account_id: AccountId,
}

/// A shared, dynamically chosen store.
pub type DynStore = Arc<dyn Store>;

/// State behind one trait. See the module doc for the rules every backend keeps; the
/// conformance suite (`conformance::run_all`) proves them per backend.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// A cheap round trip, for `/readyz`.
    async fn ping(&self) -> Result<(), StoreError>;

    // ---- users ----
    /// Creates the user for this Google uid, or updates email/name/picture of the existing one;
    /// either way the user has its personal workspace afterwards (`ensure_personal_workspace`).
    async fn upsert_user(&self, profile: &GoogleProfile) -> Result<User, StoreError>;
    async fn user(&self, id: UserId) -> Result<User, StoreError>;
    async fn user_by_google_uid(&self, google_uid: &str) -> Result<Option<User>, StoreError>;
    /// Deletes the user and every row it owns (accounts, posts, media rows, keys, audit events,
    /// its memberships, and its personal workspace with every membership in it). It does not
    /// check ownership: refusing to erase the last owner of a workspace others share is the
    /// domain's rule, checked before this runs.
    /// Staged objects and TikTok revocation are the erase job's business, before this.
    async fn erase_user(&self, id: UserId) -> Result<(), StoreError>;
    /// Marks the user as being erased since `at` (sessions and API keys are refused from then
    /// on) and returns the stored user. Idempotent: a user already marked keeps its first
    /// instant and is returned unchanged. Only `erasing_since` (and, on the first mark,
    /// `updated_at`) changes; `upsert_user` never clears it. `NotFound` for an unknown user.
    async fn mark_user_erasing(&self, id: UserId, at: DateTime<Utc>) -> Result<User, StoreError>;
    /// Cross-user: users marked for erasure at or before `before` (still there, so their
    /// erasure has not completed), oldest mark first, for the sweep that re-pushes the erase
    /// job.
    async fn users_erasing_before(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<UserId>, StoreError>;

    // ---- TikTok accounts ----
    /// Upsert keyed by (workspace, open_id), connected `by` a member: a reconnect updates profile, scopes and tokens, sets
    /// `Active` and clears the reason, instead of creating a twin. Tokens are written whole.
    async fn connect_account(
        &self,
        ws: WorkspaceId,
        by: UserId,
        connect: &AccountConnect,
    ) -> Result<TikTokAccount, StoreError>;
    async fn account(&self, ws: WorkspaceId, id: AccountId) -> Result<TikTokAccount, StoreError>;
    /// Every account of the workspace, oldest first, those being disconnected included (export and
    /// erasure must see the tokens we still hold).
    async fn all_accounts(&self, ws: WorkspaceId) -> Result<Vec<TikTokAccount>, StoreError>;
    /// The workspace's accounts, oldest first, without those being disconnected.
    async fn list_accounts(&self, ws: WorkspaceId) -> Result<Vec<TikTokAccount>, StoreError> {
        Ok(self
            .all_accounts(ws)
            .await?
            .into_iter()
            .filter(|a| a.status != AccountStatus::Disconnecting)
            .collect())
    }
    /// Replaces both tokens and both expiries in one write, if the version still matches.
    async fn store_tokens(
        &self,
        ws: WorkspaceId,
        id: AccountId,
        expected_version: i64,
        tokens: &EncryptedTokens,
    ) -> Result<TikTokAccount, StoreError>;
    /// Sets the status (and its reason), if the version still matches. `clear_tokens` deletes
    /// the ciphertext too (key retirement, disconnect).
    async fn set_account_status(
        &self,
        ws: WorkspaceId,
        id: AccountId,
        expected_version: i64,
        status: AccountStatus,
        reason: Option<&str>,
        clear_tokens: bool,
    ) -> Result<TikTokAccount, StoreError>;
    async fn delete_account(&self, ws: WorkspaceId, id: AccountId) -> Result<(), StoreError>;
    /// Cross-user: active accounts whose access token expires before `at`, soonest first.
    async fn accounts_expiring_before(
        &self,
        at: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<AccountRef>, StoreError>;
    /// Cross-user: every account in id order after `after`, for batch jobs (key rotation).
    async fn accounts_after(
        &self,
        after: Option<AccountId>,
        limit: u32,
    ) -> Result<Vec<TikTokAccount>, StoreError>;

    // ---- posts ----
    /// Inserts the post. When it carries an idempotency key that this workspace already used, the
    /// existing post is returned with `created: false` and nothing is written.
    async fn create_post(&self, post: &Post) -> Result<Created<Post>, StoreError>;
    async fn post(&self, ws: WorkspaceId, id: PostId) -> Result<Post, StoreError>;
    /// The workspace's post created with this idempotency key, if any (a replayed request is
    /// answered from it before any work is redone).
    async fn post_by_idempotency_key(
        &self,
        ws: WorkspaceId,
        key: &str,
    ) -> Result<Option<Post>, StoreError>;
    /// The workspace's posts, newest first, `limit` per page.
    async fn list_posts(
        &self,
        ws: WorkspaceId,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<Post>, StoreError>;
    /// Compare-and-set: writes `post` (with `version + 1`) only if the stored row still has
    /// `expected_state` and `post.version`. Returns the stored post. The transition
    /// `expected_state -> post.state` must be allowed by the state machine (or be no change).
    async fn save_post(&self, post: &Post, expected_state: PostState) -> Result<Post, StoreError>;
    /// Deletes a post row (used by erasure and tests; cancelling is a transition).
    async fn delete_post(&self, ws: WorkspaceId, id: PostId) -> Result<(), StoreError>;
    /// Cross-user: posts `scheduled` with `scheduled_at <= now`, earliest first, served by the
    /// (state, scheduled_at) index so a tick's cost grows with due posts only.
    async fn due_posts(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<DuePost>, StoreError>;
    /// Cross-user: posts in `state` not updated since `before` (stuck-post reconciliation,
    /// parked-post deadlines), oldest update first (then id), starting after `after` when
    /// given.
    async fn posts_stuck_in(
        &self,
        state: PostState,
        before: DateTime<Utc>,
        after: Option<StuckAfter>,
        limit: u32,
    ) -> Result<Vec<Post>, StoreError>;

    // ---- media ----
    async fn create_media(&self, media: &Media) -> Result<(), StoreError>;
    async fn media(&self, ws: WorkspaceId, id: MediaId) -> Result<Media, StoreError>;
    /// Attaches unattached media to a post (compare-and-set on "not attached yet").
    async fn attach_media(
        &self,
        ws: WorkspaceId,
        id: MediaId,
        post: PostId,
    ) -> Result<Media, StoreError>;
    /// Undoes [`attach_media`](Store::attach_media): compare-and-set on "attached to `post`"
    /// (`StaleState` when attached elsewhere; detaching unattached media succeeds). Used when a
    /// post's creation fails half-way through attaching its photos.
    async fn detach_media(
        &self,
        ws: WorkspaceId,
        id: MediaId,
        post: PostId,
    ) -> Result<Media, StoreError>;
    async fn delete_media(&self, ws: WorkspaceId, id: MediaId) -> Result<(), StoreError>;
    /// Cross-user: unattached media past their deadline.
    async fn expired_media(&self, now: DateTime<Utc>, limit: u32)
    -> Result<Vec<Media>, StoreError>;
    /// All media rows of one workspace (export, erasure).
    async fn list_media(&self, ws: WorkspaceId) -> Result<Vec<Media>, StoreError>;
    /// Bytes the workspace has staged right now: every video uploaded and not yet deleted (attached
    /// to a post or not), for the staging quota.
    async fn staged_bytes(&self, ws: WorkspaceId) -> Result<u64, StoreError> {
        Ok(self
            .list_media(ws)
            .await?
            .iter()
            .map(|m| m.size)
            .fold(0u64, u64::saturating_add))
    }
    /// Cross-user: every media row in id order after `after`, for batch jobs (key rotation).
    async fn media_after(
        &self,
        after: Option<MediaId>,
        limit: u32,
    ) -> Result<Vec<Media>, StoreError>;
    /// Replaces the media's wrapped data key, if it is still `expected` (compare-and-set, so a
    /// re-wrap never overwrites a newer one). `StaleState` when it changed, `NotFound` when gone.
    async fn rewrap_media_key(
        &self,
        ws: WorkspaceId,
        id: MediaId,
        expected: &str,
        wrapped_key: &str,
    ) -> Result<Media, StoreError>;

    // ---- API keys ----
    async fn create_api_key(&self, key: &ApiKey) -> Result<(), StoreError>;
    async fn list_api_keys(&self, ws: WorkspaceId) -> Result<Vec<ApiKey>, StoreError>;
    async fn delete_api_key(&self, ws: WorkspaceId, id: ApiKeyId) -> Result<(), StoreError>;
    /// Cross-user by nature: authenticates a bearer key by its hash.
    async fn api_key_by_hash(&self, hash: &str) -> Result<Option<ApiKey>, StoreError>;
    async fn touch_api_key(&self, id: ApiKeyId, at: DateTime<Utc>) -> Result<(), StoreError>;

    // ---- audit ----
    async fn record_audit(&self, event: &AuditEvent) -> Result<(), StoreError>;
    /// The workspace's audit events, newest first.
    async fn list_audit(&self, ws: WorkspaceId, limit: u32) -> Result<Vec<AuditEvent>, StoreError>;

    // ---- one-time OAuth states (TikTok connect) ----
    /// Stores a single-use OAuth `state` (its hash) bound to a user, and to the workspace the
    /// account will join, until `expires_at`.
    async fn put_oauth_state(
        &self,
        state_hash: &str,
        user: UserId,
        ws: WorkspaceId,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Takes (deletes and returns the user and workspace of) an unexpired state; `None` if
    /// unknown, expired or already taken. Exactly one of many concurrent takers gets it.
    async fn take_oauth_state(
        &self,
        state_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(UserId, WorkspaceId)>, StoreError>;

    // ---- leases (locks for the embedded default; Redis is used when configured) ----
    /// Takes the lease `name` for `holder` if it is free or expired; returns the fencing token
    /// (grows with every acquisition of this name), or `None` when someone else holds it.
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError>;
    /// Extends a lease we hold; false if it was lost (expired and taken by another).
    async fn renew_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Releases a lease if we still hold it.
    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError>;

    // ---- sessions: sign-out and "sign out everywhere" ----
    /// Ends one session cookie: the cookie whose SHA-256 is `token_hash` (never the cookie
    /// itself) is refused until `expires_at`, its own expiry, after which it is refused anyway
    /// and the entry may go. Idempotent (a second call keeps the later expiry). Each call also
    /// sweeps entries already expired, so the list holds only cookies that could still work.
    async fn revoke_session(
        &self,
        token_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// True while the cookie with this hash is revoked (an entry whose expiry is after `now`).
    async fn session_revoked(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// "Sign out everywhere": sets the user's `sessions_revoked_at` to `at` unless it is already
    /// later (it never moves back), and returns the stored user. Nothing else changes but
    /// `updated_at`; `upsert_user` never clears it. `NotFound` for an unknown user.
    async fn revoke_user_sessions(&self, id: UserId, at: DateTime<Utc>)
    -> Result<User, StoreError>;

    // ---- workspaces and their members ----
    /// Makes sure `user` has its personal workspace (id = the user's id) with the user as its
    /// owner, and returns it. Idempotent: an existing one is returned unchanged (its members
    /// and roles too). `upsert_user` calls it, so every user has one from the first sign-in.
    async fn ensure_personal_workspace(&self, user: &User) -> Result<Workspace, StoreError>;
    async fn workspace(&self, id: WorkspaceId) -> Result<Workspace, StoreError>;
    /// The workspaces `user` is a member of, with the user's role in each, oldest first.
    async fn workspaces_of(&self, user: UserId) -> Result<Vec<(Workspace, Role)>, StoreError>;
    async fn member(
        &self,
        workspace: WorkspaceId,
        user: UserId,
    ) -> Result<Option<Member>, StoreError>;
    /// The workspace's members in user id order.
    async fn members(&self, workspace: WorkspaceId) -> Result<Vec<Member>, StoreError>;
    /// Adds the member, or changes the role of an existing one (keeping `joined_at`); returns
    /// the stored member. `NotFound` for an unknown workspace or user; `LastOwner` when it
    /// would demote the last owner. Membership changes of one workspace are serialized (each
    /// bumps the workspace's `version`), so racing demotions cannot leave it without an owner.
    async fn put_member(&self, member: &Member) -> Result<Member, StoreError>;
    /// Removes the member; `NotFound` when not a member, `LastOwner` for the last owner.
    /// Serialized like [`put_member`](Self::put_member).
    async fn remove_member(&self, workspace: WorkspaceId, user: UserId) -> Result<(), StoreError>;
    /// Deletes the workspace and every row it owns (accounts, posts, media rows, keys, audit
    /// events, OAuth states, members). Like [`erase_user`](Self::erase_user) it checks nothing:
    /// who may is the domain's rule, and staged objects and TikTok revocation come first.
    async fn delete_workspace(&self, ws: WorkspaceId) -> Result<(), StoreError>;
    /// Inserts a new, non-personal workspace with `owner` as its first owner, both or neither;
    /// returns it as stored (version 1; `ws.version` is ignored). `NotFound` for an unknown
    /// owner; `Conflict` when the id is taken or `ws` says it is personal (personal workspaces
    /// are made by [`ensure_personal_workspace`](Self::ensure_personal_workspace) only).
    async fn create_workspace(
        &self,
        ws: &Workspace,
        owner: UserId,
    ) -> Result<Workspace, StoreError>;
    /// Writes the settings of `ws` (its name and `approval_required`; never id, `personal` or
    /// `created_at`) if the stored version is still `expected_version`, and returns the stored
    /// workspace at the next version. `StaleState` when it moved on (a settings or membership
    /// change came first), `NotFound` when there is no such workspace.
    async fn update_workspace(
        &self,
        ws: &Workspace,
        expected_version: i64,
    ) -> Result<Workspace, StoreError>;

    // ---- invitations ----
    /// Stores a new invitation. `Conflict` when its token hash is already used; `NotFound`
    /// without the workspace.
    async fn create_invitation(&self, invitation: &Invitation) -> Result<(), StoreError>;
    /// Cross-workspace by nature: the invitation whose link token hashes to `token_hash`,
    /// whatever its status.
    async fn invitation_by_token_hash(
        &self,
        token_hash: &str,
    ) -> Result<Option<Invitation>, StoreError>;
    /// The workspace's invitations neither accepted nor revoked (expired ones included, so a
    /// members page can offer to invite again), newest first.
    async fn pending_invitations(
        &self,
        workspace: WorkspaceId,
    ) -> Result<Vec<Invitation>, StoreError>;
    /// Revokes the workspace's invitation `id` (from now on it cannot be accepted) and returns
    /// it. Idempotent: a revoked one keeps its first `revoked_at`. `NotFound` when it is
    /// another workspace's, unknown, or already accepted (there is nothing left to revoke).
    async fn revoke_invitation(
        &self,
        workspace: WorkspaceId,
        id: InvitationId,
    ) -> Result<Invitation, StoreError>;
    /// Accepts invitation `id` for `user` at `at`, in one atomic step: only while it is
    /// neither accepted nor revoked and `at` is before its expiry, it is marked accepted by
    /// `user` and `user` becomes a member with the invited role (an existing member keeps the
    /// higher of its role and the invited one, and its `joined_at`). Returns the membership.
    /// Of many racing acceptances exactly one wins; the others, and every refusal, are
    /// `StaleState` (read the invitation to learn why), `NotFound` for an unknown invitation
    /// or user. Serialized with the workspace's other membership changes (bumps `version`).
    async fn accept_invitation(
        &self,
        id: InvitationId,
        user: UserId,
        at: DateTime<Utc>,
    ) -> Result<Member, StoreError>;

    // ---- built from the above ----

    /// Loads the post, checks it is in `from`, applies `change` (which sets the new state and
    /// anything else), and saves by compare-and-set. Exactly one of many racing callers wins;
    /// the others get `StaleState`.
    async fn transition_post(
        &self,
        ws: WorkspaceId,
        id: PostId,
        from: PostState,
        change: Box<dyn for<'p> FnOnce(&'p mut Post) + Send + 'static>,
    ) -> Result<Post, StoreError> {
        let mut post = self.post(ws, id).await?;
        if post.state != from {
            return Err(StoreError::StaleState);
        }
        change(&mut post);
        self.save_post(&post, from).await
    }
}

/// Checks a post write against the state machine; every backend calls this before writing.
pub fn check_transition(from: PostState, to: PostState) -> Result<(), StoreError> {
    if from == to || from.can_become(to) {
        Ok(())
    } else {
        Err(StoreError::IllegalTransition { from, to })
    }
}

/// Opens the store named by `database_url` and brings its schema up to date: `sqlite:` opens
/// (creating the file and its directory if missing) a SQLite file in WAL mode, `postgres:` or
/// `postgresql:` connects to PostgreSQL, `firestore://<project>[/<database>][?emulator_host=…]`
/// opens Firestore (no schema; one read checks project, database and credentials). Every
/// process calls this at start-up.
pub async fn connect(database_url: &str) -> Result<DynStore, StoreError> {
    Ok(match kind_of(database_url)? {
        StoreKind::Sqlite => Arc::new(sqlite::SqliteStore::connect(database_url).await?),
        StoreKind::Postgres => Arc::new(postgres::PostgresStore::connect(database_url).await?),
        StoreKind::Firestore => {
            Arc::new(firestore::FirestoreStore::connect_url(database_url).await?)
        }
    })
}

/// Applies pending migrations and disconnects (`mktpost migrate`). Safe to run while other
/// processes use the database, and a no-op when the schema is current.
pub async fn migrate(database_url: &str) -> Result<(), StoreError> {
    match kind_of(database_url)? {
        StoreKind::Sqlite => {
            let store = sqlite::SqliteStore::connect(database_url).await?;
            store.close().await;
        }
        StoreKind::Postgres => {
            let store = postgres::PostgresStore::connect(database_url).await?;
            store.close().await;
        }
        // Firestore has no schema: its counterpart of a migration is deploying
        // `firestore.indexes.json` (docs/firestore.md), plus the data backfills (workspaces,
        // `firestore::backfill`). Connecting proves the project, database and credentials, so
        // `migrate` fails where a deployment would.
        StoreKind::Firestore => {
            let store = firestore::FirestoreStore::connect_url(database_url).await?;
            let patched = store.backfill_workspaces().await?;
            tracing::info!(
                patched,
                "documents written before workspaces now name theirs"
            );
            tracing::info!(
                "firestore has no schema to migrate; deploy firestore.indexes.json with \
                 `gcloud firestore indexes composite create` or the Firebase CLI (docs/firestore.md)"
            );
        }
    }
    Ok(())
}

fn kind_of(database_url: &str) -> Result<StoreKind, StoreError> {
    if database_url.starts_with("sqlite:") {
        Ok(StoreKind::Sqlite)
    } else if database_url.starts_with("postgres:") || database_url.starts_with("postgresql:") {
        Ok(StoreKind::Postgres)
    } else if database_url.starts_with(firestore::FirestoreUrl::SCHEME) {
        Ok(StoreKind::Firestore)
    } else {
        // Never echo the URL: it may carry a password.
        Err(StoreError::Backend(
            "database URL must start with sqlite:, postgres: or firestore:".into(),
        ))
    }
}
