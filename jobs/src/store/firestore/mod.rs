//! Google Cloud Firestore (native mode), the production store MKT POST promises, over the REST
//! v1 API (see `docs/firestore.md` for why REST and not gRPC, the layout, and deployment).
//!
//! Layout: one top-level collection per entity (`users`, `accounts`, `posts`, `media`,
//! `api_keys`, `audit`, `oauth_states`, `leases`), documents keyed by the entity id. A document
//! holds `user_id`, the fields some query filters or orders on as typed values, and the rest of
//! the entity as the same JSON `doc` text the SQL backends keep (`codec`), so all three decode
//! through one codec. Uniqueness rules are marker documents with deterministic ids, created in
//! the same commit as their entity with an `exists: false` precondition: `google_uids`,
//! `account_open_ids`, `api_key_hashes`, and `idempotency` (which also points at the post).
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

#[cfg(feature = "test-support")]
pub mod emulator;
pub mod queries;
mod rest;
mod value;

pub use crate::config::FirestoreUrl;
pub use queries::{Direction, Filter, QuerySpec, composite_queries, queries};

use self::queries::*;
use self::rest::{Auth, Rest, RestError, Status};
use self::value::{Document, Fields, Write, fields};
use super::codec::{self, AccountDoc, Cells, MediaDoc, PostDoc};
use super::{AccountRef, Created, DuePost, Page, Store, StoreError, StuckAfter, check_transition};
use crate::model::{
    AccountConnect, AccountId, AccountStatus, ApiKey, ApiKeyId, AuditEvent, EncryptedTokens,
    GoogleProfile, Media, MediaId, Post, PostId, PostState, TikTokAccount, User, UserId,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gcp_auth::TokenProvider;
use sha2::{Digest, Sha256};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Google's production endpoint.
pub const GOOGLE_ENDPOINT: &str = "https://firestore.googleapis.com/v1";
/// The id of a project's default database.
pub const DEFAULT_DATABASE: &str = FirestoreUrl::DEFAULT_DATABASE;
/// Attempts of one operation before it gives up with `Unavailable` (lost races and `ABORTED`).
const MAX_ATTEMPTS: u32 = 12;
/// First retry delay; it doubles per attempt up to `MAX_BACKOFF`, with jitter so racers spread.
const BASE_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// Documents deleted per commit while erasing a user (Firestore allows 500 writes a commit).
const ERASE_BATCH: u32 = 400;
/// Expired OAuth states swept per new state.
const OAUTH_SWEEP: u32 = 50;

/// Why one attempt of an operation ended without an answer.
enum Lost {
    /// Someone else wrote first (a precondition failed, a create met a document) or Firestore
    /// aborted on contention: read again and decide again.
    Race(RestError),
    /// A final answer for the caller.
    Fail(StoreError),
}

impl From<StoreError> for Lost {
    fn from(e: StoreError) -> Self {
        Lost::Fail(e)
    }
}

/// Errors of reads and of writes without a precondition: only `ABORTED` is worth a retry.
impl From<RestError> for Lost {
    fn from(e: RestError) -> Self {
        match e.status {
            Status::Aborted => Lost::Race(e),
            _ => Lost::Fail(e.into()),
        }
    }
}

/// Errors of a commit whose preconditions stand for what the attempt read.
fn lost_commit(e: RestError) -> Lost {
    match e.status {
        Status::Aborted | Status::FailedPrecondition | Status::AlreadyExists => Lost::Race(e),
        _ => Lost::Fail(e.into()),
    }
}

/// The outcome an operation decided on from what it read: the writes to commit (none for a
/// read-only answer) and the answer to return once they are committed.
struct Plan<T> {
    writes: Vec<Write>,
    value: T,
}

impl<T> Plan<T> {
    fn answer(value: T) -> Self {
        Self {
            writes: Vec::new(),
            value,
        }
    }
    fn write(writes: Vec<Write>, value: T) -> Self {
        Self { writes, value }
    }
}

/// The Firestore backend.
#[derive(Debug, Clone)]
pub struct FirestoreStore {
    rest: Rest,
    /// Attempts that ended in `ABORTED` and were retried (tests provoke and count them).
    aborted_retries: Arc<AtomicU64>,
}

impl FirestoreStore {
    /// Opens `database` of `project` and checks that it answers. With `emulator_host`
    /// (`host:port`, what `FIRESTORE_EMULATOR_HOST` holds) it talks plain HTTP to the emulator;
    /// otherwise to Google, authenticated with Application Default Credentials
    /// (`GOOGLE_APPLICATION_CREDENTIALS`, the gcloud ADC file, or the metadata server).
    pub async fn connect(
        project: &str,
        database: &str,
        emulator_host: Option<&str>,
    ) -> Result<Self, StoreError> {
        let store = match emulator_host {
            Some(host) => Self::open(
                &format!("http://{host}/v1"),
                project,
                database,
                Auth::Emulator,
            )?,
            None => {
                let provider = gcp_auth::provider().await.map_err(|e| {
                    StoreError::Backend(format!(
                        "firestore: no Google credentials (Application Default Credentials): {e}"
                    ))
                })?;
                Self::open(GOOGLE_ENDPOINT, project, database, Auth::Google(provider))?
            }
        };
        store.ping().await?;
        Ok(store)
    }

    /// Opens the store named by a URL: `firestore://<project>[/<database>]`, with
    /// `?emulator_host=<host:port>` to use the emulator. The database defaults to `(default)`.
    pub async fn connect_url(url: &str) -> Result<Self, StoreError> {
        let target = FirestoreUrl::parse(url).map_err(|e| StoreError::Backend(e.to_string()))?;
        Self::connect(
            &target.project,
            &target.database,
            target.emulator_host.as_deref(),
        )
        .await
    }

    /// Talks to `endpoint` (normally [`GOOGLE_ENDPOINT`]) with tokens from `provider`: an
    /// explicit service-account key (`gcp_auth::CustomServiceAccount::from_file`),
    /// impersonation, or a test double. Checks that the database answers.
    pub async fn with_token_provider(
        endpoint: &str,
        project: &str,
        database: &str,
        provider: Arc<dyn TokenProvider>,
    ) -> Result<Self, StoreError> {
        let store = Self::open(endpoint, project, database, Auth::Google(provider))?;
        store.ping().await?;
        Ok(store)
    }

    fn open(root: &str, project: &str, database: &str, auth: Auth) -> Result<Self, StoreError> {
        for (what, id) in [("project", project), ("database", database)] {
            if id.is_empty() || id.contains(['/', '?', '#', ' ']) {
                return Err(StoreError::Backend(format!(
                    "firestore: invalid {what} id {id:?}"
                )));
            }
        }
        Ok(Self {
            rest: Rest::new(root, project, database, auth)?,
            aborted_retries: Arc::new(AtomicU64::new(0)),
        })
    }

    /// How many attempts ended in `ABORTED` (lock contention) and were retried, since open.
    pub fn aborted_retries(&self) -> u64 {
        self.aborted_retries.load(Ordering::Relaxed)
    }

    /// The full name of the document that holds lease `name` (tests contend on it directly).
    pub fn lease_document(&self, name: &str) -> String {
        self.rest.name(LEASES, &hash(name))
    }

    fn doc(&self, collection: &str, id: impl std::fmt::Display) -> String {
        self.rest.name(collection, &id.to_string())
    }

    /// Runs `attempt` until it answers, retrying lost races and `ABORTED` with jittered
    /// exponential backoff, up to [`MAX_ATTEMPTS`].
    async fn retrying<T, F, Fut>(&self, mut attempt: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Lost>>,
    {
        let mut n = 0;
        loop {
            let lost = match attempt().await {
                Ok(value) => return Ok(value),
                Err(Lost::Fail(e)) => return Err(e),
                Err(Lost::Race(lost)) => lost,
            };
            if lost.status == Status::Aborted {
                self.aborted_retries.fetch_add(1, Ordering::Relaxed);
            }
            n += 1;
            if n >= MAX_ATTEMPTS {
                return Err(StoreError::Unavailable(format!(
                    "gave up after {MAX_ATTEMPTS} attempts under contention: {lost}"
                )));
            }
            tracing::debug!(attempt = n, status = ?lost.status, "firestore: retrying");
            tokio::time::sleep(backoff(n)).await;
        }
    }

    /// Reads `names`, lets `decide` choose the writes and the answer, and commits them with
    /// preconditions that nothing read has changed (see [`guarded`]). `decide` runs again on
    /// every retry, on what is stored then.
    async fn read_modify_write<T>(
        &self,
        names: &[String],
        decide: impl Fn(&[Option<Document>]) -> Result<Plan<T>, StoreError>,
    ) -> Result<T, StoreError> {
        self.retrying(|| async {
            let docs = self.rest.batch_get(names).await?;
            let plan = decide(&docs)?;
            if !plan.writes.is_empty() {
                let writes = guarded(plan.writes, names, &docs);
                self.rest.commit(&writes).await.map_err(lost_commit)?;
            }
            Ok(plan.value)
        })
        .await
    }

    /// Commits writes whose preconditions are the caller's own rules (a create is
    /// `ALREADY_EXISTS` = `Conflict`, an update of a missing document `NotFound`), retrying
    /// only `ABORTED`.
    async fn write(&self, writes: &[Write]) -> Result<(), StoreError> {
        self.retrying(|| async { Ok(self.rest.commit(writes).await?) })
            .await
    }

    async fn get(&self, name: &str) -> Result<Option<Document>, RestError> {
        let mut docs = self.rest.batch_get(&[name.to_owned()]).await?;
        Ok(docs.pop().flatten())
    }

    async fn get_owned(&self, name: &str, user: UserId) -> Result<Document, StoreError> {
        owned(self.get(name).await?.as_ref(), user).cloned()
    }

    async fn query(
        &self,
        spec: &QuerySpec,
        values: &[serde_json::Value],
        limit: Option<u32>,
    ) -> Result<Vec<Document>, StoreError> {
        Ok(self.rest.run_query(&spec.body(values, limit)?).await?)
    }

    fn idempotency_marker(&self, user: UserId, key: &str) -> String {
        self.doc(IDEMPOTENCY, format!("{user}:{}", hash(key)))
    }

    fn open_id_marker(&self, user: UserId, open_id: &str) -> String {
        self.doc(ACCOUNT_OPEN_IDS, format!("{user}:{}", hash(open_id)))
    }

    fn new_user(&self, profile: &GoogleProfile, now: DateTime<Utc>) -> (String, Fields) {
        let user = User {
            id: UserId::new(),
            google_uid: profile.google_uid.clone(),
            email: profile.email.clone(),
            name: profile.name.clone(),
            picture: profile.picture.clone(),
            created_at: now,
            updated_at: now,
            erasing_since: None,
            sessions_revoked_at: None,
        };
        (self.doc(USERS, user.id), user_fields(&user))
    }
}

/// Adds the optimistic preconditions: every write to a document that was read requires it
/// unchanged (or still missing), unless the write already says what it requires.
fn guarded(writes: Vec<Write>, names: &[String], docs: &[Option<Document>]) -> Vec<Write> {
    writes
        .into_iter()
        .map(|w| {
            let read = names.iter().position(|n| *n == w.name);
            match (read, &w.precondition) {
                (Some(i), None) => match &docs[i] {
                    Some(doc) => w.if_unchanged(doc),
                    None => w.if_absent(),
                },
                _ => w,
            }
        })
        .collect()
}

fn backoff(attempt: u32) -> Duration {
    let ceiling = BASE_BACKOFF
        .saturating_mul(1 << attempt.min(16))
        .min(MAX_BACKOFF);
    ceiling.mul_f64(0.5 + rand::random::<f64>() / 2.0)
}

/// Document ids for values we do not control (Google uids, open ids, idempotency keys, hashes,
/// lease names): fixed length, and never a `/` or a reserved `__…__` id.
fn hash(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// The document if it exists and belongs to `user`; another user's document is `NotFound`,
/// exactly like a missing one.
fn owned(doc: Option<&Document>, user: UserId) -> Result<&Document, StoreError> {
    match doc {
        Some(d) if d.fields.uuid("user_id")? == user.0 => Ok(d),
        _ => Err(StoreError::NotFound),
    }
}

fn user_fields(u: &User) -> Fields {
    fields([
        ("id", value::id(u.id.0)),
        ("google_uid", value::string(&u.google_uid)),
        ("email", value::string(&u.email)),
        ("name", value::string(&u.name)),
        ("picture", value::opt_string(u.picture.as_deref())),
        ("created_at", value::timestamp(u.created_at)),
        ("updated_at", value::timestamp(u.updated_at)),
        // Written with the rest of the user, so every whole-document write (a sign-in's
        // upsert) carries the mark over; queried by `users_erasing_before`.
        ("erasing_since", value::opt_timestamp(u.erasing_since)),
        // Carried over by every whole-document write like `erasing_since`.
        (
            "sessions_revoked_at",
            value::opt_timestamp(u.sessions_revoked_at),
        ),
    ])
}

fn account_fields(a: &TikTokAccount) -> Result<Fields, StoreError> {
    let profile = AccountDoc {
        union_id: a.union_id.clone(),
        display_name: a.display_name.clone(),
        username: a.username.clone(),
        avatar_url: a.avatar_url.clone(),
        scopes: a.scopes.clone(),
    };
    // The four token fields are written and cleared together (codec refuses a partial set).
    let [access, refresh, access_exp, refresh_exp] = match &a.tokens {
        Some(t) => [
            value::string(&t.access_token),
            value::string(&t.refresh_token),
            value::timestamp(t.access_expires_at),
            value::timestamp(t.refresh_expires_at),
        ],
        None => [value::null(), value::null(), value::null(), value::null()],
    };
    Ok(fields([
        ("id", value::id(a.id.0)),
        ("user_id", value::id(a.user_id.0)),
        ("open_id", value::string(&a.open_id)),
        ("status", value::string(a.status.as_str())),
        (
            "status_reason",
            value::opt_string(a.status_reason.as_deref()),
        ),
        ("access_token", access),
        ("refresh_token", refresh),
        ("access_expires_at", access_exp),
        ("refresh_expires_at", refresh_exp),
        ("doc", value::json_text(&profile)?),
        ("version", value::integer(a.version)),
        ("created_at", value::timestamp(a.created_at)),
        ("updated_at", value::timestamp(a.updated_at)),
    ]))
}

fn post_fields(p: &Post) -> Result<Fields, StoreError> {
    Ok(fields([
        ("id", value::id(p.id.0)),
        ("user_id", value::id(p.user_id.0)),
        ("account_id", value::id(p.account_id.0)),
        ("media_id", value::opt_id(p.media_id.map(|m| m.0))),
        ("state", value::string(p.state.as_str())),
        ("version", value::integer(p.version)),
        ("scheduled_at", value::opt_timestamp(p.scheduled_at)),
        (
            "idempotency_key",
            value::opt_string(p.idempotency_key.as_deref()),
        ),
        ("doc", value::json_text(&PostDoc::of(p))?),
        ("created_at", value::timestamp(p.created_at)),
        ("updated_at", value::timestamp(p.updated_at)),
    ]))
}

fn media_fields(m: &Media) -> Result<Fields, StoreError> {
    Ok(fields([
        ("id", value::id(m.id.0)),
        ("user_id", value::id(m.user_id.0)),
        ("post_id", value::opt_id(m.post_id.map(|p| p.0))),
        ("expires_at", value::timestamp(m.expires_at)),
        ("doc", value::json_text(&MediaDoc::of(m))?),
        ("created_at", value::timestamp(m.created_at)),
    ]))
}

fn api_key_fields(k: &ApiKey) -> Fields {
    fields([
        ("id", value::id(k.id.0)),
        ("user_id", value::id(k.user_id.0)),
        ("name", value::string(&k.name)),
        ("prefix", value::string(&k.prefix)),
        ("hash", value::string(&k.hash)),
        ("created_at", value::timestamp(k.created_at)),
        ("last_used_at", value::opt_timestamp(k.last_used_at)),
        ("scopes", value::string(&k.scopes.to_stored())),
    ])
}

fn audit_fields(e: &AuditEvent) -> Result<Fields, StoreError> {
    Ok(fields([
        ("id", value::id(e.id.0)),
        ("user_id", value::id(e.user_id.0)),
        ("kind", value::string(&e.kind)),
        ("detail", value::json_text(&e.detail)?),
        ("created_at", value::timestamp(e.created_at)),
    ]))
}

/// A marker document: whose it is and what it points at.
fn marker(user: UserId, key: &str, target: uuid::Uuid) -> Fields {
    fields([("user_id", value::id(user.0)), (key, value::id(target))])
}

/// New tokens replace the stored ones, except that an empty refresh token keeps the stored
/// refresh token and its expiry: losing the refresh token loses the account.
fn merge_tokens(stored: Option<&EncryptedTokens>, new: &EncryptedTokens) -> EncryptedTokens {
    let mut merged = new.clone();
    if let Some(old) = stored
        && new.refresh_token.is_empty()
    {
        merged.refresh_token = old.refresh_token.clone();
        merged.refresh_expires_at = old.refresh_expires_at;
    }
    merged
}

fn all<T>(
    docs: &[Document],
    decode: impl Fn(&Fields) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    docs.iter().map(|d| decode(&d.fields)).collect()
}

#[async_trait]
impl Store for FirestoreStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.get(&self.doc(HEALTH, "ping")).await?;
        Ok(())
    }

    async fn upsert_user(&self, profile: &GoogleProfile) -> Result<User, StoreError> {
        let marker_name = self.doc(GOOGLE_UIDS, hash(&profile.google_uid));
        self.retrying(|| async {
            let now = codec::now();
            let existing = self.get(&marker_name).await?;
            let user_doc = match &existing {
                Some(m) => {
                    self.get(&self.doc(USERS, m.fields.uuid("user_id")?))
                        .await?
                }
                None => None,
            };
            if let Some(doc) = user_doc {
                let mut user = codec::user(&doc.fields)?;
                user.email.clone_from(&profile.email);
                user.name.clone_from(&profile.name);
                user.picture.clone_from(&profile.picture);
                user.updated_at = now;
                let f = user_fields(&user);
                let write = Write::set(doc.name.clone(), f.clone()).if_unchanged(&doc);
                self.rest.commit(&[write]).await.map_err(lost_commit)?;
                return Ok(codec::user(&f)?);
            }
            // First sign-in (or a marker whose user is gone): the user and its marker together.
            let (name, f) = self.new_user(profile, now);
            let m = Write::set(marker_name.clone(), fields([("user_id", f["id"].clone())]));
            let m = match &existing {
                Some(old) => m.if_unchanged(old),
                None => m.if_absent(),
            };
            let writes = [Write::set(name, f.clone()).if_absent(), m];
            self.rest.commit(&writes).await.map_err(lost_commit)?;
            Ok(codec::user(&f)?)
        })
        .await
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
        // The write requires the user document as read, so a racing sign-in (which rewrites
        // the whole document) or a racing mark makes this read again and decide again: the
        // first mark wins and later ones return it unchanged.
        self.read_modify_write(&[self.doc(USERS, id)], |docs| {
            let Some(doc) = &docs[0] else {
                return Err(StoreError::NotFound);
            };
            let mut user = codec::user(&doc.fields)?;
            if user.erasing_since.is_some() {
                return Ok(Plan::answer(user));
            }
            user.erasing_since = Some(at);
            user.updated_at = codec::now();
            let f = user_fields(&user);
            let user = codec::user(&f)?;
            Ok(Plan::write(vec![Write::set(doc.name.clone(), f)], user))
        })
        .await
    }

    async fn users_erasing_before(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<UserId>, StoreError> {
        let docs = self
            .query(
                &USERS_ERASING_BEFORE,
                &[value::timestamp(before)],
                Some(limit),
            )
            .await?;
        all(&docs, |f| Ok(UserId(f.uuid("id")?)))
    }

    async fn erase_user(&self, id: UserId) -> Result<(), StoreError> {
        // A commit holds at most 500 writes, so this is batches, not one atomic step: children
        // first and the user document last, so that while the user document exists the
        // erasure is unfinished, and running it again (the erase job retries) completes it.
        for spec in &OWNED_BY_USER {
            loop {
                let docs = self
                    .query(spec, &[value::id(id.0)], Some(ERASE_BATCH))
                    .await?;
                if docs.is_empty() {
                    break;
                }
                let writes: Vec<Write> =
                    docs.iter().map(|d| Write::delete(d.name.clone())).collect();
                self.write(&writes).await?;
                if docs.len() < ERASE_BATCH as usize {
                    break;
                }
            }
        }
        self.write(&[Write::delete(self.doc(USERS, id))]).await
    }

    async fn connect_account(
        &self,
        user: UserId,
        connect: &AccountConnect,
    ) -> Result<TikTokAccount, StoreError> {
        let marker_name = self.open_id_marker(user, &connect.open_id);
        self.retrying(|| async {
            let now = codec::now();
            let existing = self.get(&marker_name).await?;
            let account_doc = match &existing {
                Some(m) => {
                    let id = m.fields.uuid("account_id")?;
                    self.get(&self.doc(ACCOUNTS, id)).await?
                }
                None => None,
            };
            if let Some(doc) = account_doc.filter(|d| owned(Some(d), user).is_ok()) {
                let mut acc = codec::account(&doc.fields)?;
                acc.tokens = Some(merge_tokens(acc.tokens.as_ref(), &connect.tokens));
                acc.union_id.clone_from(&connect.union_id);
                acc.display_name.clone_from(&connect.display_name);
                acc.username.clone_from(&connect.username);
                acc.avatar_url.clone_from(&connect.avatar_url);
                acc.scopes.clone_from(&connect.scopes);
                acc.status = AccountStatus::Active;
                acc.status_reason = None;
                acc.version += 1;
                acc.updated_at = now;
                let f = account_fields(&acc)?;
                let write = Write::set(doc.name.clone(), f.clone()).if_unchanged(&doc);
                self.rest.commit(&[write]).await.map_err(lost_commit)?;
                return Ok(codec::account(&f)?);
            }
            let acc = TikTokAccount {
                id: connect.id,
                user_id: user,
                open_id: connect.open_id.clone(),
                union_id: connect.union_id.clone(),
                display_name: connect.display_name.clone(),
                username: connect.username.clone(),
                avatar_url: connect.avatar_url.clone(),
                scopes: connect.scopes.clone(),
                status: AccountStatus::Active,
                status_reason: None,
                tokens: Some(connect.tokens.clone()),
                version: 1,
                created_at: now,
                updated_at: now,
            };
            let f = account_fields(&acc)?;
            let m = Write::set(marker_name.clone(), marker(user, "account_id", acc.id.0));
            let m = match &existing {
                Some(old) => m.if_unchanged(old),
                None => m.if_absent(),
            };
            let writes = [
                Write::set(self.doc(ACCOUNTS, acc.id), f.clone()).if_absent(),
                m,
            ];
            self.rest.commit(&writes).await.map_err(lost_commit)?;
            Ok(codec::account(&f)?)
        })
        .await
    }

    async fn account(&self, user: UserId, id: AccountId) -> Result<TikTokAccount, StoreError> {
        let doc = self.get_owned(&self.doc(ACCOUNTS, id), user).await?;
        codec::account(&doc.fields)
    }

    async fn all_accounts(&self, user: UserId) -> Result<Vec<TikTokAccount>, StoreError> {
        let docs = self
            .query(&LIST_ACCOUNTS, &[value::id(user.0)], None)
            .await?;
        all(&docs, codec::account)
    }

    async fn store_tokens(
        &self,
        user: UserId,
        id: AccountId,
        expected_version: i64,
        tokens: &EncryptedTokens,
    ) -> Result<TikTokAccount, StoreError> {
        self.read_modify_write(&[self.doc(ACCOUNTS, id)], |docs| {
            let doc = owned(docs[0].as_ref(), user)?;
            let mut acc = codec::account(&doc.fields)?;
            if acc.version != expected_version {
                return Err(StoreError::StaleState);
            }
            acc.tokens = Some(merge_tokens(acc.tokens.as_ref(), tokens));
            acc.version += 1;
            acc.updated_at = codec::now();
            let f = account_fields(&acc)?;
            let value = codec::account(&f)?;
            Ok(Plan::write(vec![Write::set(doc.name.clone(), f)], value))
        })
        .await
    }

    async fn set_account_status(
        &self,
        user: UserId,
        id: AccountId,
        expected_version: i64,
        status: AccountStatus,
        reason: Option<&str>,
        clear_tokens: bool,
    ) -> Result<TikTokAccount, StoreError> {
        self.read_modify_write(&[self.doc(ACCOUNTS, id)], |docs| {
            let doc = owned(docs[0].as_ref(), user)?;
            let mut acc = codec::account(&doc.fields)?;
            if acc.version != expected_version {
                return Err(StoreError::StaleState);
            }
            acc.status = status;
            acc.status_reason = reason.map(str::to_owned);
            if clear_tokens {
                acc.tokens = None;
            }
            acc.version += 1;
            acc.updated_at = codec::now();
            let f = account_fields(&acc)?;
            let value = codec::account(&f)?;
            Ok(Plan::write(vec![Write::set(doc.name.clone(), f)], value))
        })
        .await
    }

    async fn delete_account(&self, user: UserId, id: AccountId) -> Result<(), StoreError> {
        let name = self.doc(ACCOUNTS, id);
        self.retrying(|| async {
            let doc = self.get_owned(&name, user).await?;
            let open_id = doc.fields.text("open_id")?;
            let marker_name = self.open_id_marker(user, &open_id);
            let mut writes = vec![Write::delete(name.clone()).if_unchanged(&doc)];
            // The marker goes with the account, unless it already names another one.
            if let Some(m) = self.get(&marker_name).await?
                && m.fields.uuid("account_id")? == id.0
            {
                writes.push(Write::delete(marker_name).if_unchanged(&m));
            }
            self.rest.commit(&writes).await.map_err(lost_commit)
        })
        .await
    }

    async fn accounts_expiring_before(
        &self,
        at: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<AccountRef>, StoreError> {
        let docs = self
            .query(
                &ACCOUNTS_EXPIRING,
                &[
                    value::string(AccountStatus::Active.as_str()),
                    value::timestamp(at),
                ],
                Some(limit),
            )
            .await?;
        all(&docs, |f| {
            Ok(AccountRef {
                user_id: UserId(f.uuid("user_id")?),
                account_id: AccountId(f.uuid("id")?),
            })
        })
    }

    async fn accounts_after(
        &self,
        after: Option<AccountId>,
        limit: u32,
    ) -> Result<Vec<TikTokAccount>, StoreError> {
        let docs = match after {
            Some(after) => {
                let start = value::reference(&self.doc(ACCOUNTS, after));
                self.query(&ACCOUNTS_AFTER, &[start], Some(limit)).await?
            }
            None => self.query(&ACCOUNTS_FIRST, &[], Some(limit)).await?,
        };
        all(&docs, codec::account)
    }

    async fn create_post(&self, post: &Post) -> Result<Created<Post>, StoreError> {
        let name = self.doc(POSTS, post.id);
        let f = post_fields(post)?;
        let created = Created {
            value: codec::post(&f)?,
            created: true,
        };
        let Some(key) = &post.idempotency_key else {
            self.write(&[Write::set(name, f).if_absent()]).await?;
            return Ok(created);
        };
        // The post and its key's marker are created together; a used key fails the commit.
        let marker_name = self.idempotency_marker(post.user_id, key);
        let writes = [
            Write::set(name.clone(), f).if_absent(),
            Write::set(
                marker_name.clone(),
                marker(post.user_id, "post_id", post.id.0),
            )
            .if_absent(),
        ];
        self.retrying(|| async {
            let lost = match self.rest.commit(&writes).await {
                Ok(()) => return Ok(created.clone()),
                Err(e) if e.status == Status::AlreadyExists => e,
                Err(e) => return Err(lost_commit(e)),
            };
            let docs = self
                .rest
                .batch_get(&[marker_name.clone(), name.clone()])
                .await?;
            match (&docs[0], &docs[1]) {
                (Some(m), _) => {
                    let first = self.doc(POSTS, m.fields.uuid("post_id")?);
                    match self.get(&first).await? {
                        Some(doc) if owned(Some(&doc), post.user_id).is_ok() => Ok(Created {
                            value: codec::post(&doc.fields)?,
                            created: false,
                        }),
                        // The first post was deleted (with its marker) between the two reads.
                        _ => Err(Lost::Race(lost)),
                    }
                }
                (None, Some(_)) => Err(Lost::Fail(StoreError::Conflict(
                    "a post with this id already exists".into(),
                ))),
                // The key's holder was deleted meanwhile: the key is free again.
                (None, None) => Err(Lost::Race(lost)),
            }
        })
        .await
    }

    async fn post(&self, user: UserId, id: PostId) -> Result<Post, StoreError> {
        let doc = self.get_owned(&self.doc(POSTS, id), user).await?;
        codec::post(&doc.fields)
    }

    async fn post_by_idempotency_key(
        &self,
        user: UserId,
        key: &str,
    ) -> Result<Option<Post>, StoreError> {
        let Some(m) = self.get(&self.idempotency_marker(user, key)).await? else {
            return Ok(None);
        };
        let id = PostId(m.fields.uuid("post_id")?);
        match self.post(user, id).await {
            Ok(post) => Ok(Some(post)),
            Err(StoreError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn list_posts(
        &self,
        user: UserId,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<Post>, StoreError> {
        let n = limit.max(1);
        // One document more than asked says whether there is a next page.
        let docs = match codec::parse_cursor(cursor)? {
            Some(before) => {
                let values = [value::id(user.0), value::id(before.0)];
                self.query(&POSTS_PAGE_AFTER, &values, Some(n + 1)).await?
            }
            None => {
                self.query(&POSTS_FIRST_PAGE, &[value::id(user.0)], Some(n + 1))
                    .await?
            }
        };
        Ok(codec::page_of(all(&docs, codec::post)?, n as usize))
    }

    async fn save_post(&self, post: &Post, expected_state: PostState) -> Result<Post, StoreError> {
        check_transition(expected_state, post.state)?;
        self.read_modify_write(&[self.doc(POSTS, post.id)], |docs| {
            let doc = owned(docs[0].as_ref(), post.user_id)?;
            let stored = codec::post(&doc.fields)?;
            if stored.state != expected_state || stored.version != post.version {
                return Err(StoreError::StaleState);
            }
            // Identity, owner, idempotency key and creation time never change.
            let next = Post {
                id: stored.id,
                user_id: stored.user_id,
                idempotency_key: stored.idempotency_key,
                created_at: stored.created_at,
                version: stored.version + 1,
                updated_at: codec::now(),
                ..post.clone()
            };
            let f = post_fields(&next)?;
            let value = codec::post(&f)?;
            Ok(Plan::write(vec![Write::set(doc.name.clone(), f)], value))
        })
        .await
    }

    async fn delete_post(&self, user: UserId, id: PostId) -> Result<(), StoreError> {
        self.read_modify_write(&[self.doc(POSTS, id)], |docs| {
            let doc = owned(docs[0].as_ref(), user)?;
            let mut writes = vec![Write::delete(doc.name.clone())];
            // The key is released with its post (the marker was created with it).
            if let Some(key) = doc.fields.opt_text("idempotency_key")? {
                writes.push(Write::delete(self.idempotency_marker(user, &key)));
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
        let docs = self.query(&DUE_POSTS, &values, Some(limit)).await?;
        all(&docs, codec::due_post)
    }

    async fn posts_stuck_in(
        &self,
        state: PostState,
        before: DateTime<Utc>,
        after: Option<StuckAfter>,
        limit: u32,
    ) -> Result<Vec<Post>, StoreError> {
        let values = [value::string(state.as_str()), value::timestamp(before)];
        // The cursor is the query's own order (updated_at, __name__): Firestore starts just
        // after it, so ties on updated_at are neither repeated nor skipped.
        let cursor = after.map(|a| {
            vec![
                value::timestamp(a.updated_at),
                value::reference(&self.doc(POSTS, a.id)),
            ]
        });
        let body = POSTS_STUCK_IN.body_after(&values, cursor.as_deref(), Some(limit))?;
        let docs = self.rest.run_query(&body).await?;
        all(&docs, codec::post)
    }

    async fn create_media(&self, media: &Media) -> Result<(), StoreError> {
        let write = Write::set(self.doc(MEDIA, media.id), media_fields(media)?).if_absent();
        self.write(&[write]).await
    }

    async fn media(&self, user: UserId, id: MediaId) -> Result<Media, StoreError> {
        let doc = self.get_owned(&self.doc(MEDIA, id), user).await?;
        codec::media(&doc.fields)
    }

    async fn attach_media(
        &self,
        user: UserId,
        id: MediaId,
        post: PostId,
    ) -> Result<Media, StoreError> {
        self.read_modify_write(&[self.doc(MEDIA, id)], |docs| {
            let doc = owned(docs[0].as_ref(), user)?;
            let mut media = codec::media(&doc.fields)?;
            match media.post_id {
                // Attaching again to the same post succeeds: a replay must not fail on its
                // own earlier write.
                Some(p) if p == post => Ok(Plan::answer(media)),
                Some(_) => Err(StoreError::StaleState),
                None => {
                    media.post_id = Some(post);
                    let f = media_fields(&media)?;
                    Ok(Plan::write(vec![Write::set(doc.name.clone(), f)], media))
                }
            }
        })
        .await
    }

    async fn delete_media(&self, user: UserId, id: MediaId) -> Result<(), StoreError> {
        self.read_modify_write(&[self.doc(MEDIA, id)], |docs| {
            let doc = owned(docs[0].as_ref(), user)?;
            Ok(Plan::write(vec![Write::delete(doc.name.clone())], ()))
        })
        .await
    }

    async fn expired_media(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Media>, StoreError> {
        let docs = self
            .query(&EXPIRED_MEDIA, &[value::timestamp(now)], Some(limit))
            .await?;
        all(&docs, codec::media)
    }

    async fn list_media(&self, user: UserId) -> Result<Vec<Media>, StoreError> {
        let docs = self.query(&LIST_MEDIA, &[value::id(user.0)], None).await?;
        all(&docs, codec::media)
    }

    async fn media_after(
        &self,
        after: Option<MediaId>,
        limit: u32,
    ) -> Result<Vec<Media>, StoreError> {
        let docs = match after {
            Some(after) => {
                let start = value::reference(&self.doc(MEDIA, after));
                self.query(&MEDIA_AFTER, &[start], Some(limit)).await?
            }
            None => self.query(&MEDIA_FIRST, &[], Some(limit)).await?,
        };
        all(&docs, codec::media)
    }

    async fn rewrap_media_key(
        &self,
        user: UserId,
        id: MediaId,
        expected: &str,
        wrapped_key: &str,
    ) -> Result<Media, StoreError> {
        self.read_modify_write(&[self.doc(MEDIA, id)], |docs| {
            let doc = owned(docs[0].as_ref(), user)?;
            let mut media = codec::media(&doc.fields)?;
            if media.wrapped_key != expected {
                return Err(StoreError::StaleState);
            }
            media.wrapped_key = wrapped_key.to_owned();
            let f = media_fields(&media)?;
            Ok(Plan::write(vec![Write::set(doc.name.clone(), f)], media))
        })
        .await
    }

    async fn create_api_key(&self, key: &ApiKey) -> Result<(), StoreError> {
        // The hash marker makes a second key with the same hash fail the whole commit.
        let writes = [
            Write::set(self.doc(API_KEYS, key.id), api_key_fields(key)).if_absent(),
            Write::set(
                self.doc(API_KEY_HASHES, hash(&key.hash)),
                marker(key.user_id, "key_id", key.id.0),
            )
            .if_absent(),
        ];
        self.write(&writes).await
    }

    async fn list_api_keys(&self, user: UserId) -> Result<Vec<ApiKey>, StoreError> {
        let docs = self
            .query(&LIST_API_KEYS, &[value::id(user.0)], None)
            .await?;
        all(&docs, codec::api_key)
    }

    async fn delete_api_key(&self, user: UserId, id: ApiKeyId) -> Result<(), StoreError> {
        self.read_modify_write(&[self.doc(API_KEYS, id)], |docs| {
            let doc = owned(docs[0].as_ref(), user)?;
            let hash_marker = self.doc(API_KEY_HASHES, hash(&doc.fields.text("hash")?));
            let writes = vec![Write::delete(doc.name.clone()), Write::delete(hash_marker)];
            Ok(Plan::write(writes, ()))
        })
        .await
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
        let write = Write::set(self.doc(AUDIT, event.id), audit_fields(event)?).if_absent();
        self.write(&[write]).await
    }

    async fn list_audit(&self, user: UserId, limit: u32) -> Result<Vec<AuditEvent>, StoreError> {
        let docs = self
            .query(&LIST_AUDIT, &[value::id(user.0)], Some(limit))
            .await?;
        all(&docs, codec::audit_event)
    }

    async fn put_oauth_state(
        &self,
        state_hash: &str,
        user: UserId,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // States nobody came back for would otherwise stay until the TTL policy (if deployed)
        // removes them; each new state sweeps a few, like the SQL backends.
        let expired = self
            .query(
                &EXPIRED_OAUTH_STATES,
                &[value::timestamp(codec::now())],
                Some(OAUTH_SWEEP),
            )
            .await?;
        if !expired.is_empty() {
            let writes: Vec<Write> = expired
                .iter()
                .map(|d| Write::delete(d.name.clone()))
                .collect();
            self.write(&writes).await?;
        }
        let state = fields([
            ("user_id", value::id(user.0)),
            ("expires_at", value::timestamp(expires_at)),
        ]);
        let write = Write::set(self.doc(OAUTH_STATES, hash(state_hash)), state).if_absent();
        self.write(&[write]).await
    }

    async fn take_oauth_state(
        &self,
        state_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<UserId>, StoreError> {
        // Deleting is the taking: the delete requires the state exactly as read, so of racing
        // takers one commits and the others read again and find nothing. An expired state is
        // deleted too, and refused.
        let name = self.doc(OAUTH_STATES, hash(state_hash));
        self.read_modify_write(&[name], |docs| {
            let Some(doc) = &docs[0] else {
                return Ok(Plan::answer(None));
            };
            let user = (doc.fields.ts("expires_at")? > now)
                .then(|| doc.fields.uuid("user_id").map(UserId))
                .transpose()?;
            Ok(Plan::write(vec![Write::delete(doc.name.clone())], user))
        })
        .await
    }

    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError> {
        let end = codec::lease_end(now, ttl)?;
        self.read_modify_write(&[self.lease_document(name)], |docs| {
            let token = match &docs[0] {
                None => 1,
                Some(d) if d.fields.ts("expires_at")? <= now => d.fields.int("fencing_token")? + 1,
                Some(_) => return Ok(Plan::answer(None)),
            };
            let lease = lease_fields(name, holder, end, token);
            let write = Write::set(self.lease_document(name), lease);
            Ok(Plan::write(vec![write], Some(token)))
        })
        .await
    }

    async fn renew_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let end = codec::lease_end(now, ttl)?;
        self.read_modify_write(&[self.lease_document(name)], |docs| {
            // Only the holder renews, and only before expiry: an expired lease is lost.
            match &docs[0] {
                Some(d)
                    if d.fields.text("holder")? == holder && d.fields.ts("expires_at")? > now =>
                {
                    let token = d.fields.int("fencing_token")?;
                    let write = Write::set(d.name.clone(), lease_fields(name, holder, end, token));
                    Ok(Plan::write(vec![write], true))
                }
                _ => Ok(Plan::answer(false)),
            }
        })
        .await
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        self.read_modify_write(&[self.lease_document(name)], |docs| {
            // Expired at the epoch rather than deleted, to keep the fencing counter.
            match &docs[0] {
                Some(d) if d.fields.text("holder")? == holder => {
                    let token = d.fields.int("fencing_token")?;
                    let lease = lease_fields(name, holder, DateTime::UNIX_EPOCH, token);
                    Ok(Plan::write(vec![Write::set(d.name.clone(), lease)], ()))
                }
                _ => Ok(Plan::answer(())),
            }
        })
        .await
    }

    // ---- sessions: sign-out and "sign out everywhere" ----

    async fn revoke_session(
        &self,
        token_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // A TTL policy on `expires_at` may do the same in production; this keeps the list
        // short without one, like the SQL backends.
        let expired = self
            .query(
                &EXPIRED_REVOKED_SESSIONS,
                &[value::timestamp(codec::now())],
                Some(OAUTH_SWEEP),
            )
            .await?;
        if !expired.is_empty() {
            let writes: Vec<Write> = expired
                .iter()
                .map(|d| Write::delete(d.name.clone()))
                .collect();
            self.write(&writes).await?;
        }
        let name = self.doc(REVOKED_SESSIONS, hash(token_hash));
        self.read_modify_write(std::slice::from_ref(&name), |docs| {
            if let Some(d) = &docs[0]
                && d.fields.ts("expires_at")? >= expires_at
            {
                return Ok(Plan::answer(()));
            }
            let entry = fields([("expires_at", value::timestamp(expires_at))]);
            Ok(Plan::write(vec![Write::set(name.clone(), entry)], ()))
        })
        .await
    }

    async fn session_revoked(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        match self
            .get(&self.doc(REVOKED_SESSIONS, hash(token_hash)))
            .await?
        {
            Some(d) => Ok(d.fields.ts("expires_at")? > now),
            None => Ok(false),
        }
    }

    async fn revoke_user_sessions(
        &self,
        id: UserId,
        at: DateTime<Utc>,
    ) -> Result<User, StoreError> {
        // Requires the user document as read, like `mark_user_erasing`: a racing sign-in
        // (which rewrites the whole document) makes this read again and decide again.
        self.read_modify_write(&[self.doc(USERS, id)], |docs| {
            let Some(doc) = &docs[0] else {
                return Err(StoreError::NotFound);
            };
            let mut user = codec::user(&doc.fields)?;
            if user.sessions_revoked_at.is_some_and(|t| t >= at) {
                return Ok(Plan::answer(user));
            }
            user.sessions_revoked_at = Some(at);
            user.updated_at = codec::now();
            let f = user_fields(&user);
            let user = codec::user(&f)?;
            Ok(Plan::write(vec![Write::set(doc.name.clone(), f)], user))
        })
        .await
    }
}

fn lease_fields(name: &str, holder: &str, expires_at: DateTime<Utc>, token: i64) -> Fields {
    fields([
        ("name", value::string(name)),
        ("holder", value::string(holder)),
        ("expires_at", value::timestamp(expires_at)),
        ("fencing_token", value::integer(token)),
    ])
}

#[cfg(test)]
mod tests {
    use super::value::Precondition;
    use super::*;

    #[test]
    fn an_empty_refresh_token_keeps_the_stored_one() {
        let t = codec::now();
        let old = EncryptedTokens {
            access_token: "a1".into(),
            refresh_token: "r1".into(),
            access_expires_at: t,
            refresh_expires_at: t,
        };
        let mut new = EncryptedTokens {
            access_token: "a2".into(),
            refresh_token: String::new(),
            access_expires_at: t + chrono::Duration::hours(1),
            refresh_expires_at: t + chrono::Duration::hours(2),
        };
        let merged = merge_tokens(Some(&old), &new);
        assert_eq!(
            (merged.access_token.as_str(), merged.refresh_token.as_str()),
            ("a2", "r1")
        );
        assert_eq!(merged.refresh_expires_at, old.refresh_expires_at);
        assert_eq!(merge_tokens(None, &new), new, "nothing stored: taken as is");
        new.refresh_token = "r2".into();
        assert_eq!(merge_tokens(Some(&old), &new), new);
    }

    #[test]
    fn optimistic_writes_require_what_was_read() {
        let read = Document {
            name: "a".into(),
            fields: Fields::new(),
            update_time: "t1".into(),
        };
        let names = ["a".to_owned(), "b".to_owned()];
        let writes = guarded(
            vec![
                Write::delete("a".into()),
                Write::delete("b".into()),
                Write::delete("c".into()),
                Write::delete("b".into()).if_exists(),
            ],
            &names,
            &[Some(read), None],
        );
        let pre: Vec<_> = writes.iter().map(|w| w.precondition.clone()).collect();
        assert_eq!(
            pre,
            vec![
                Some(Precondition::UpdateTime("t1".into())),
                Some(Precondition::Exists(false)),
                None,
                Some(Precondition::Exists(true)),
            ]
        );
    }

    #[test]
    fn backoff_grows_and_stays_bounded() {
        for attempt in 0..40 {
            let d = backoff(attempt);
            assert!(d <= MAX_BACKOFF, "{attempt}: {d:?}");
            assert!(d >= BASE_BACKOFF / 2, "{attempt}: {d:?}");
        }
    }
}
