//! Test environments: a real store (a temp SQLite file, or a fresh PostgreSQL database from
//! `TEST_POSTGRES_URL`), a real queue (Redis at `TEST_REDIS_URL`, default 127.0.0.1:6379, in a
//! random namespace; or the embedded SQLite queue) and real locks (Redis or store leases).
//! Everything is removed when the environment is dropped, also after a failed test.

use chrono::{DateTime, Utc};
use jobs::config::{Config, LogFormat, Secret, StoreKind};
use jobs::context::JobContext;
use jobs::locks::Locks;
use jobs::model::{
    AccountConnect, AccountId, AccountStatus, EncryptedTokens, GoogleProfile, Post, PostId,
    PostState, TikTokAccount, UserId,
};
use jobs::queue::{Queue, QueueBackend};
use jobs::store::conformance;
use scheduler::{Scheduler, SchedulerSettings};
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Once};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Where posts live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// Which lock service elects the active scheduler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lease {
    Redis,
    Store,
}

/// Which queue backend jobs go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueKind {
    Redis,
    Sqlite,
}

pub const WAIT: Duration = Duration::from_secs(20);

fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into())
}

fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// One test's world.
pub struct Env {
    pub ctx: JobContext,
    /// Fast but realistic: 100 ms ticks, a 1.5 s lease.
    pub settings: SchedulerSettings,
    _dir: tempfile::TempDir,
    pg_database: Option<String>,
}

impl Env {
    /// SQLite or PostgreSQL store, Redis queue, Redis locks.
    pub async fn new(db: Db) -> Self {
        Self::with(db, Lease::Redis, QueueKind::Redis).await
    }

    pub async fn with(db: Db, lease: Lease, queue_kind: QueueKind) -> Self {
        static LOGS: Once = Once::new();
        LOGS.call_once(|| {
            if std::env::var_os("TEST_LOG").is_some() {
                jobs::telemetry::init(LogFormat::Pretty);
            }
        });
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config::for_tests(dir.path());
        config.queue.namespace = format!("test_{}", Uuid::new_v4().simple());
        config.queue.redis_url = match queue_kind {
            QueueKind::Redis => Some(Secret::new(redis_url())),
            QueueKind::Sqlite => None,
        };
        let mut pg_database = None;
        if db == Db::Postgres {
            let admin = postgres_admin_url();
            let name = format!("mktpost_sched_{}", Uuid::new_v4().simple());
            let mut conn = PgConnection::connect(&admin)
                .await
                .expect("connect to TEST_POSTGRES_URL");
            sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await
                .expect("create test database");
            let (base, _) = admin
                .rsplit_once('/')
                .expect("TEST_POSTGRES_URL names a database");
            config.store.database_url = Secret::new(format!("{base}/{name}"));
            config.store.kind = StoreKind::Postgres;
            pg_database = Some(name);
        }
        let config = Arc::new(config);
        let store = jobs::store::connect(config.store.database_url.expose())
            .await
            .expect("store opens");
        let queue = Queue::connect(&config).await.expect("queue connects");
        let mut ctx = JobContext::new(config.clone(), store.clone(), queue)
            .await
            .expect("context builds");
        ctx.locks = match lease {
            Lease::Redis => {
                let client = redis::Client::open(redis_url()).expect("redis url");
                Locks::Redis {
                    conn: redis::aio::ConnectionManager::new(client)
                        .await
                        .expect("redis connects"),
                    prefix: config.queue.namespace.clone(),
                }
            }
            Lease::Store => Locks::Store(store),
        };
        let mut settings = SchedulerSettings::from_config(&config);
        settings.tick = Duration::from_millis(100);
        settings.lease_ttl = Duration::from_millis(1500);
        settings.standby_poll = Duration::from_millis(100);
        Self {
            ctx,
            settings,
            _dir: dir,
            pg_database,
        }
    }

    pub fn queue(&self) -> &Queue {
        &self.ctx.queue
    }

    /// A signed-up user (posts reference their owner).
    pub async fn user(&self) -> UserId {
        let uid = format!("google-{}", Uuid::new_v4().simple());
        self.ctx
            .store
            .upsert_user(&GoogleProfile {
                email: format!("{uid}@example.test"),
                google_uid: uid,
                name: "Test Creator".into(),
                picture: None,
            })
            .await
            .expect("upsert_user")
            .id
    }

    /// A post of `user` in `state`, scheduled at `at`, last updated at `updated_at`.
    pub async fn post_at(
        &self,
        user: UserId,
        state: PostState,
        at: Option<DateTime<Utc>>,
        updated_at: DateTime<Utc>,
    ) -> Post {
        let p = post(user, state, at, updated_at);
        self.ctx
            .store
            .create_post(&p)
            .await
            .expect("create_post")
            .value
    }

    /// A scheduled post due at `at`.
    pub async fn scheduled(&self, user: UserId, at: DateTime<Utc>) -> Post {
        self.post_at(user, PostState::Scheduled, Some(at), Utc::now())
            .await
    }

    /// An active TikTok account whose access token expires at `expires`.
    pub async fn account(&self, user: UserId, expires: DateTime<Utc>) -> TikTokAccount {
        let tokens = EncryptedTokens {
            access_token: "v1:access".into(),
            refresh_token: "v1:refresh".into(),
            access_expires_at: expires,
            refresh_expires_at: expires + chrono::Duration::days(365),
        };
        self.ctx
            .store
            .connect_account(
                jobs::model::Workspace::personal_id(user),
                user,
                &AccountConnect {
                    id: AccountId::new(),
                    open_id: format!("open-{}", Uuid::new_v4().simple()),
                    union_id: None,
                    display_name: "Creator".into(),
                    username: None,
                    avatar_url: None,
                    scopes: vec!["user.info.basic".into(), "video.publish".into()],
                    tokens,
                },
            )
            .await
            .expect("connect_account")
    }

    /// Moves `account` to `status` (keeping its tokens), as its current version.
    pub async fn set_status(
        &self,
        account: &TikTokAccount,
        status: AccountStatus,
        reason: Option<&str>,
    ) -> TikTokAccount {
        let (ws, id, version) = (account.workspace_id, account.id, account.version);
        self.ctx
            .store
            .set_account_status(ws, id, version, status, reason, false)
            .await
            .expect("set_account_status")
    }

    pub async fn state_of(&self, post: &Post) -> Post {
        self.ctx
            .store
            .post(post.workspace_id, post.id)
            .await
            .expect("post reads")
    }

    /// Every payload in job `job`'s queue (pending, scheduled, done or dead), as JSON.
    pub async fn payloads(&self, job: &str) -> Vec<serde_json::Value> {
        let name = self.queue().queue_name(job);
        match self.queue().backend() {
            QueueBackend::Redis(conn) => {
                let key = apalis_redis::Config::default().queue(&name).job_data_hash();
                let values: Vec<Vec<u8>> = redis::cmd("HVALS")
                    .arg(key)
                    .query_async(&mut conn.clone())
                    .await
                    .expect("HVALS");
                values
                    .iter()
                    .map(|v| serde_json::from_slice(v).expect("payload is JSON"))
                    .collect()
            }
            QueueBackend::Sqlite(pool) => {
                let rows: Vec<(Vec<u8>,)> =
                    sqlx::query_as("SELECT job FROM Jobs WHERE job_type = ?1")
                        .bind(&name)
                        .fetch_all(pool)
                        .await
                        .expect("read Jobs");
                rows.iter()
                    .map(|(v,)| serde_json::from_slice(v).expect("payload is JSON"))
                    .collect()
            }
        }
    }

    /// The ids in `field` of job `job`'s payloads.
    pub async fn pushed_ids(&self, job: &str, field: &str) -> HashSet<String> {
        self.payloads(job)
            .await
            .iter()
            .map(|p| p[field].as_str().expect("id field").to_owned())
            .collect()
    }

    /// Asserts that `n` posts have a `publish` job, one each; answers the jobs per post.
    pub async fn published_once(&self, n: usize) -> HashMap<PostId, usize> {
        let jobs = self.jobs_per_post(jobs::handlers::publish::NAME).await;
        assert_eq!(jobs.len(), n);
        assert!(jobs.values().all(|n| *n == 1), "{jobs:?}");
        jobs
    }

    /// Waits until `post` is queued (`what` names the wait); answers it as stored then.
    pub async fn wait_queued(&self, what: &str, post: &Post) -> Post {
        self.wait_for(what, || async {
            let s = self.state_of(post).await;
            if s.state == PostState::Queued {
                Ok(s)
            } else {
                Err(s.state.to_string())
            }
        })
        .await
    }

    /// Starts a scheduler with this environment's settings.
    pub fn start(&self) -> Running {
        self.start_with(self.settings.clone())
    }

    /// Starts a scheduler with `settings`.
    pub fn start_with(&self, settings: SchedulerSettings) -> Running {
        let s = Scheduler::new(self.ctx.clone(), settings);
        let id = s.instance().to_owned();
        let cancel = CancellationToken::new();
        let task = tokio::spawn(s.run(cancel.clone().cancelled_owned()));
        Running { id, cancel, task }
    }

    /// How many jobs of `job` name each post (by `post_id` in the payload).
    pub async fn jobs_per_post(&self, job: &str) -> HashMap<PostId, usize> {
        let mut counts = HashMap::new();
        for p in self.payloads(job).await {
            let id: PostId = serde_json::from_value(p["post_id"].clone()).expect("post_id");
            *counts.entry(id).or_default() += 1;
        }
        counts
    }

    /// Polls `check` every 25 ms until it returns `Some`, failing after [`WAIT`] with `what`
    /// and the last value seen.
    pub async fn wait_for<T, F, Fut>(&self, what: &str, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, String>>,
    {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match check().await {
                Ok(v) => return v,
                Err(last) if tokio::time::Instant::now() >= deadline => {
                    panic!("timed out waiting for {what}; last seen: {last}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(25)).await,
            }
        }
    }
}

/// A scheduler started in the test, stopped by [`Running::stop`].
pub struct Running {
    pub id: String,
    cancel: CancellationToken,
    pub task: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Stops the scheduler and waits for its run to end cleanly.
    pub async fn stop(self) {
        self.cancel.cancel();
        self.task.await.unwrap().unwrap();
    }
}

/// The ids as strings, to compare with [`Env::pushed_ids`].
pub fn id_set<T: ToString>(ids: impl IntoIterator<Item = T>) -> HashSet<String> {
    ids.into_iter().map(|id| id.to_string()).collect()
}

impl Drop for Env {
    fn drop(&mut self) {
        // Cleanup runs on its own thread and runtime: this may be dropped inside (or after) the
        // test's runtime, and it must finish before the process exits.
        let namespace = self.ctx.config.queue.namespace.clone();
        let queue = self.ctx.queue.clone();
        let pg = self.pg_database.take();
        let handle = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let QueueBackend::Redis(_) = queue.backend() {
                    // The queue's own connection belongs to the test's runtime; use a new one.
                    if let Ok(q) = Queue::connect_redis(&redis_url(), &namespace, 1).await {
                        let _ = q.purge().await;
                    }
                }
                if let Some(name) = pg
                    && let Ok(mut c) = PgConnection::connect(&postgres_admin_url()).await
                {
                    let _ = sqlx::query(AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut c)
                    .await;
                }
            });
        });
        let _ = handle.join();
    }
}

/// A post, as the compose flow would create it.
pub fn post(
    user: UserId,
    state: PostState,
    at: Option<DateTime<Utc>>,
    updated_at: DateTime<Utc>,
) -> Post {
    let mut post = Post {
        scheduled_at: at,
        scheduled_tz: at.map(|_| "Europe/Berlin".into()),
        created_at: updated_at,
        updated_at,
        ..conformance::post_for(user, AccountId::new(), state)
    };
    post.settings.title = "A caption that must never reach a log #test".into();
    post
}

pub fn secs(n: i64) -> chrono::Duration {
    chrono::Duration::seconds(n)
}

/// Two tests of one flow (an `async fn(Db)`), in a module named after it: `sqlite` runs it on
/// SQLite, `postgres` on PostgreSQL.
macro_rules! on_sqlite_and_postgres {
    ($flow:ident) => {
        $crate::support::each_way!($flow =>
            sqlite($crate::support::Db::Sqlite),
            postgres($crate::support::Db::Postgres),
        );
    };
}
pub(crate) use on_sqlite_and_postgres;

/// One test per variant of a flow, in a module named after it:
/// `each_way!(flow => variant(args), …)`.
macro_rules! each_way {
    ($flow:ident => $($name:ident($($arg:expr),+)),+ $(,)?) => {
        mod $flow {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    super::$flow($($arg),+).await;
                }
            )+
        }
    };
}
pub(crate) use each_way;
