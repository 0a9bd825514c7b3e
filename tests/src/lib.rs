//! The end-to-end test harness: [`TestApp`] starts the sandbox, the web tier and a worker
//! in-process on random ports against a fresh, isolated store (a temp SQLite file, a new
//! PostgreSQL database, or a new project on the shared Firestore emulator) and a random Redis
//! key namespace, and offers helpers that act like a
//! creator (`sign_in`, `connect_tiktok`).

use anyhow::{Context, Result, bail};
use jobs::config::Config;
use jobs::context::JobContext;
use jobs::queue::{DeadJob, Queue};
use jobs::store::DynStore;
use jobs::store::firestore::emulator as firestore;
use reqwest::header::{LOCATION, ORIGIN};
use sandbox::{IdTokenRequest, IdTokenVariant, SandboxConfig, SandboxHandle};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Which store backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    /// A project of its own on the test binary's shared Firestore emulator
    /// (`jobs::store::firestore::emulator`).
    Firestore,
}

impl Backend {
    /// Whether this backend can run here. Only Firestore may not: without Java or the emulator
    /// jar this prints a `SKIPPED:` line and answers false, and the test should return at once
    /// (`TestApp::start` would fail). With `MKTPOST_REQUIRE_FIRESTORE=1` it panics instead, so a
    /// green run never claims Firestore coverage it did not have.
    ///
    /// ```ignore
    /// if !backend.available() {
    ///     return Ok(());
    /// }
    /// ```
    pub fn available(self) -> bool {
        match self {
            Backend::Sqlite | Backend::Postgres => true,
            Backend::Firestore => firestore::shared().is_some(),
        }
    }
}

/// The chunk rules and sandbox pace of [`TestApp::start_chunked`].
#[derive(Debug, Clone, Copy)]
pub struct Chunked {
    /// The largest video sent in one chunk; chunks are two fifths of it, and TikTok's smallest
    /// chunk a fifth.
    pub single_chunk_max: u64,
    /// How long the sandbox takes to process an upload.
    pub processing_ms: i64,
    /// How long the sandbox's moderation takes after processing.
    pub moderation_ms: i64,
}

/// A running MKT POST with its sandbox.
pub struct TestApp {
    pub base_url: String,
    pub sandbox: SandboxHandle,
    pub ctx: JobContext,
    pub store: DynStore,
    pub config: Arc<Config>,
    /// A browser-like client: keeps cookies, does not follow redirects.
    pub client: reqwest::Client,
    shutdown: CancellationToken,
    /// How many dead tasks the test declared it leaves behind (see
    /// [`expect_dead_jobs`](Self::expect_dead_jobs)); any more fail it at teardown.
    dead_jobs_allowed: AtomicUsize,
    _dir: tempfile::TempDir,
    pg_db: Option<String>,
}

fn random_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}

/// PostgreSQL admin URL for creating per-test databases.
pub fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Redis URL for tests.
pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into())
}

/// Creates an empty PostgreSQL database and returns (name, url).
pub async fn create_pg_database() -> Result<(String, String)> {
    use sqlx::Connection;
    let admin = postgres_admin_url();
    let name = format!("mktpost_e2e_{}", random_suffix());
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .context("connect to PostgreSQL")?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await?;
    let url = match admin.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => bail!("TEST_POSTGRES_URL has no database part"),
    };
    Ok((name, url))
}

impl TestApp {
    /// Starts everything with default knobs.
    pub async fn start(backend: Backend) -> Result<Self> {
        Self::start_with(backend, |_| {}).await
    }

    /// Starts everything; `tweak` may adjust the configuration before anything is built.
    pub async fn start_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Result<Self> {
        Self::start_full(backend, true, tweak).await
    }

    /// Like [`start_with`](Self::start_with); without an in-process worker when `worker` is
    /// false (crash tests run workers as real processes, see [`WorkerProcess`]).
    pub async fn start_full(
        backend: Backend,
        worker: bool,
        tweak: impl FnOnce(&mut Config),
    ) -> Result<Self> {
        init_test_logging();
        let dir = tempfile::tempdir()?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base_url = format!("http://{}", listener.local_addr()?);

        let redirect = format!("{base_url}/auth/tiktok/callback");
        let sandbox = sandbox::Sandbox::start(SandboxConfig {
            redirect_uris: vec![redirect.clone()],
            ..Default::default()
        })
        .await?;

        let mut config = Config::for_tests(dir.path());
        config.server.public_url = base_url.parse()?;
        config.tiktok.redirect_uri = redirect.parse()?;
        config.tiktok.auth_url = sandbox.base_url().parse()?;
        config.tiktok.api_url = sandbox.base_url().parse()?;
        config.identity.google_certs_url = format!(
            "{}/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com",
            sandbox.base_url()
        )
        .parse()?;
        config.identity.google_signin_url =
            Some(format!("{}/_google/signin", sandbox.base_url()).parse()?);
        config.queue.redis_url = Some(jobs::config::Secret::new(redis_url()));
        config.queue.namespace = format!("test_{}", random_suffix());
        config.queue.job_max_attempts = 3;
        let mut pg_db = None;
        match backend {
            Backend::Sqlite => {}
            Backend::Postgres => {
                let (name, url) = create_pg_database().await?;
                config.store.database_url = jobs::config::Secret::new(url);
                config.store.kind = jobs::config::StoreKind::Postgres;
                pg_db = Some(name);
            }
            Backend::Firestore => {
                let emulator = firestore::shared().context(
                    "the Firestore emulator is not available: check `Backend::available` first",
                )?;
                let project = firestore::fresh_project();
                config.store.database_url =
                    jobs::config::Secret::new(emulator.database_url(&project));
                config.store.kind = jobs::config::StoreKind::Firestore;
            }
        }
        tweak(&mut config);
        let config = Arc::new(config);

        let store = jobs::store::connect(config.store.database_url.expose()).await?;
        let queue = Queue::connect(&config).await?;
        let ctx = JobContext::new(config.clone(), store.clone(), queue.clone()).await?;
        let shutdown = CancellationToken::new();
        if worker {
            tokio::spawn(worker::run(
                ctx.clone(),
                queue,
                shutdown.clone().cancelled_owned(),
            ));
        }
        tokio::spawn(web::serve_on(
            web::state::AppState::new(ctx.clone()),
            listener,
            shutdown.clone().cancelled_owned(),
        ));
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            base_url,
            sandbox,
            ctx,
            store,
            config,
            client,
            shutdown,
            dead_jobs_allowed: AtomicUsize::new(0),
            _dir: dir,
            pg_db,
        })
    }

    /// Like [`start_full`](Self::start_full), with TikTok's chunk rules lowered on both sides
    /// (ours and the sandbox's) so a video of a few tens or hundreds of KB goes in a few chunks,
    /// and the sandbox processing and moderating at the given pace; status is polled at least
    /// every second.
    pub async fn start_chunked(
        backend: Backend,
        worker: bool,
        pace: Chunked,
        tweak: impl FnOnce(&mut Config),
    ) -> Result<Self> {
        let app = Self::start_full(backend, worker, |c| {
            c.tiktok.single_chunk_max = pace.single_chunk_max;
            c.tiktok.chunk_size = pace.single_chunk_max * 2 / 5;
            c.tiktok.status_poll_max_interval_secs = 1;
            tweak(c);
        })
        .await?;
        app.sandbox.update_knobs(|k| {
            k.chunks.min_chunk = pace.single_chunk_max / 5;
            k.chunks.max_single_chunk = pace.single_chunk_max;
            k.processing_delay_ms = pace.processing_ms;
            k.moderation_delay_ms = pace.moderation_ms;
        });
        Ok(app)
    }

    /// Makes the sandbox's demo app what our configuration says TikTok's is: its verified URL
    /// prefixes (`TIKTOK_VERIFIED_URL_PREFIXES`, the only ones: no verified domain) and whether
    /// it is audited (`TIKTOK_APP_AUDITED`), so both sides of a PULL_FROM_URL or unaudited-app
    /// test agree. A test wanting them to disagree changes the sandbox's app afterwards.
    pub fn mirror_app_at_tiktok(&self) -> Result<()> {
        let tiktok = &self.config.tiktok;
        let (prefixes, audited) = (tiktok.verified_url_prefixes.clone(), tiktok.app_audited);
        self.sandbox
            .update_app(sandbox::DEMO_CLIENT_KEY, move |a| {
                a.verified_domains.clear();
                a.verified_url_prefixes = prefixes;
                a.audited = audited;
            })
            .map_err(|e| anyhow::anyhow!("sandbox app: {e}"))?;
        Ok(())
    }

    /// Drops this app's PostgreSQL database while the app runs (readiness tests).
    pub async fn drop_postgres_database(&self) -> Result<()> {
        use sqlx::Connection;
        let name = self.pg_db.as_deref().context("not a PostgreSQL app")?;
        let mut c = sqlx::PgConnection::connect(&postgres_admin_url()).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE {name} WITH (FORCE)"
        )))
        .execute(&mut c)
        .await?;
        Ok(())
    }

    /// Declares that this test leaves dead tasks behind on purpose (failure and replay tests):
    /// teardown then accepts any number of them.
    pub fn expect_dead_jobs(&self) {
        self.allow_dead_jobs(usize::MAX);
    }

    /// Declares that this test may leave up to `n` dead tasks behind.
    pub fn allow_dead_jobs(&self, n: usize) {
        self.dead_jobs_allowed.store(n, Ordering::Relaxed);
    }

    /// Every dead task of this app's queue namespace, across all job types.
    pub async fn dead_jobs(&self) -> Result<Vec<(&'static str, DeadJob)>> {
        dead_jobs_of(&self.ctx.queue).await
    }

    /// Fails, listing them, when the queue holds more dead tasks than the test declared.
    /// Teardown runs this for every app (see `Drop`), so a job that died unnoticed fails the
    /// test that caused it, as a background job failing does in crates.io's `TestApp`.
    pub async fn check_dead_jobs(&self) -> Result<()> {
        let dead = self.dead_jobs().await?;
        self.judge_dead_jobs(&dead)
    }

    fn judge_dead_jobs(&self, dead: &[(&'static str, DeadJob)]) -> Result<()> {
        let allowed = self.dead_jobs_allowed.load(Ordering::Relaxed);
        if dead.len() <= allowed {
            return Ok(());
        }
        let list: Vec<String> = dead
            .iter()
            .map(|(job, d)| {
                format!(
                    "  {job} {}: {} attempt(s), last error {:?}, payload {}",
                    d.task_id.as_str(),
                    d.attempts,
                    d.last_error,
                    d.payload
                )
            })
            .collect();
        bail!(
            "{} unexpected dead job(s) (the test allowed {}; declare them with \
             `app.expect_dead_jobs()` or `app.allow_dead_jobs(n)` if intended):\n{}",
            dead.len(),
            if allowed == usize::MAX {
                "any".to_owned()
            } else {
                allowed.to_string()
            },
            list.join("\n")
        )
    }

    /// The teardown check, from a synchronous `Drop`: the test's own runtime may be the one
    /// blocked here (and the app's Redis connection lives on it), so a thread of its own opens
    /// a fresh queue connection and its own runtime.
    fn check_dead_jobs_blocking(&self) -> Result<()> {
        let config = self.config.clone();
        let dead = std::thread::spawn(move || -> Result<Vec<(&'static str, DeadJob)>> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async move {
                let queue = tokio::time::timeout(Duration::from_secs(10), Queue::connect(&config))
                    .await
                    .context("connecting to the queue timed out")??;
                tokio::time::timeout(Duration::from_secs(10), dead_jobs_of(&queue))
                    .await
                    .context("listing dead jobs timed out")?
            })
        })
        .join()
        .map_err(|_| anyhow::anyhow!("the dead-jobs check panicked"))??;
        self.judge_dead_jobs(&dead)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Mints an ID token at the sandbox for `uid`.
    pub fn id_token(&self, uid: &str, variant: IdTokenVariant) -> Result<String> {
        let minted = self.sandbox.mint_id_token_for(&IdTokenRequest {
            uid: Some(uid.into()),
            email: Some(format!("{uid}@example.com")),
            name: Some(format!("User {uid}")),
            picture: None,
            variant,
        })?;
        Ok(minted.id_token)
    }

    /// Signs in as `uid` with this app's client, as the login page does: start, then the token.
    pub async fn sign_in(&self, uid: &str) -> Result<serde_json::Value> {
        self.sign_in_with(&self.client, uid).await
    }

    /// Signs in with another client (another browser).
    pub async fn sign_in_with(
        &self,
        client: &reqwest::Client,
        uid: &str,
    ) -> Result<serde_json::Value> {
        let token = self.id_token(uid, IdTokenVariant::Valid)?;
        let resp = self.exchange_id_token(client, &token).await?;
        let status = resp.status();
        let body: serde_json::Value = resp.json().await?;
        if !status.is_success() {
            bail!("sign-in failed: {status} {body}");
        }
        Ok(body)
    }

    /// Starts a sign-in in `client` (`POST /auth/google/start`, same-origin, as the login
    /// page's button does): `client` now holds the pending-sign-in cookie.
    pub async fn start_sign_in(&self, client: &reqwest::Client) -> Result<SignInStart> {
        let resp = client
            .post(self.url("/auth/google/start"))
            .header(ORIGIN, &self.base_url)
            .send()
            .await?;
        let status = resp.status();
        let body: serde_json::Value = resp.json().await?;
        if !status.is_success() {
            bail!("starting a sign-in failed: {status} {body}");
        }
        Ok(SignInStart {
            signin_url: body["signin_url"].as_str().context("signin_url")?.parse()?,
            state: body["state"].as_str().context("state")?.to_owned(),
        })
    }

    /// `POST /auth/session {id_token, state}` from `client`, same-origin, as the login page
    /// sends it (`state: None` leaves the field out).
    pub async fn post_id_token(
        &self,
        client: &reqwest::Client,
        id_token: &str,
        state: Option<&str>,
    ) -> Result<reqwest::Response> {
        let mut body = serde_json::json!({ "id_token": id_token });
        if let Some(state) = state {
            body["state"] = state.into();
        }
        Ok(client
            .post(self.url("/auth/session"))
            .header(ORIGIN, &self.base_url)
            .json(&body)
            .send()
            .await?)
    }

    /// A whole sign-in in `client` with this ID token (start, then the token with its state),
    /// answering the app's raw response.
    pub async fn exchange_id_token(
        &self,
        client: &reqwest::Client,
        id_token: &str,
    ) -> Result<reqwest::Response> {
        let start = self.start_sign_in(client).await?;
        self.post_id_token(client, id_token, Some(&start.state))
            .await
    }

    /// A new browser-like client (its own cookie jar).
    pub fn new_client() -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client builds")
    }

    /// Connects the sandbox creator `open_id` with `client`, approving on the sandbox's consent
    /// page (optionally granting only `grant` scopes). Returns the app's final redirect target.
    pub async fn connect_tiktok_with(
        &self,
        client: &reqwest::Client,
        open_id: &str,
        grant: Option<&str>,
    ) -> Result<String> {
        let callback = self
            .tiktok_callback(client, open_id, "approve", grant)
            .await?;
        let done = client.get(&callback).send().await?;
        if !done.status().is_redirection() {
            bail!("callback failed: {} {}", done.status(), done.text().await?);
        }
        location(&done)
    }

    /// Starts connecting with `client` and answers the sandbox's consent page for `open_id`
    /// (`answer` = `approve` or `deny`, optionally granting only `grant` scopes). Returns the
    /// callback address TikTok sends the browser to, not yet followed (it carries the code and
    /// the state).
    pub async fn tiktok_callback(
        &self,
        client: &reqwest::Client,
        open_id: &str,
        answer: &str,
        grant: Option<&str>,
    ) -> Result<String> {
        let resp = client.get(self.url("/auth/tiktok/connect")).send().await?;
        if resp.status() != reqwest::StatusCode::SEE_OTHER
            && resp.status() != reqwest::StatusCode::FOUND
        {
            bail!(
                "connect did not redirect: {} {}",
                resp.status(),
                resp.text().await?
            );
        }
        let authorize = location(&resp)?;
        let mut url = reqwest::Url::parse(&authorize)?;
        url.query_pairs_mut()
            .append_pair("sandbox_open_id", open_id)
            .append_pair("sandbox_auto", answer);
        if let Some(g) = grant {
            url.query_pairs_mut().append_pair("sandbox_grant", g);
        }
        let consent = client.get(url).send().await?;
        location(&consent).with_context(|| format!("sandbox answered {}", consent.status()))
    }

    /// Connects with this app's client.
    pub async fn connect_tiktok(&self, open_id: &str) -> Result<String> {
        self.connect_tiktok_with(&self.client, open_id, None).await
    }

    /// DELETE `path` with this app's client, as the app's own pages do (same Origin).
    pub async fn delete(&self, path: &str) -> Result<reqwest::Response> {
        Ok(self
            .client
            .delete(self.url(path))
            .header(ORIGIN, &self.base_url)
            .send()
            .await?)
    }

    /// Creates an API key as the person signed in on `client` (from this app's own pages: same
    /// Origin) and returns the answer (`id`, `key`, ...); `body` names the key and its scopes.
    pub async fn create_api_key(
        &self,
        client: &reqwest::Client,
        body: serde_json::Value,
    ) -> Result<serde_json::Value> {
        Ok(client
            .post(self.url("/api/keys"))
            .header(ORIGIN, &self.base_url)
            .json(&body)
            .send()
            .await?
            .json()
            .await?)
    }

    /// Pushes the stored access-token expiry of `user`'s account `id` into the past, as if a
    /// day went by on our side: the next use refreshes it.
    pub async fn expire_access_token(
        &self,
        user: jobs::model::UserId,
        id: jobs::model::AccountId,
    ) -> Result<()> {
        let workspace = jobs::model::Workspace::personal_id(user);
        let a = self.store.account(workspace, id).await?;
        let mut t = a.tokens.clone().context("the account has tokens")?;
        t.access_expires_at = chrono::Utc::now() - chrono::Duration::minutes(1);
        self.store
            .store_tokens(workspace, id, a.version, &t)
            .await?;
        Ok(())
    }

    /// True when the sandbox saw a token of `open_id` revoked.
    pub fn revoked_at_tiktok(&self, open_id: &str) -> bool {
        self.sandbox
            .records()
            .token_events
            .iter()
            .any(|e| e.open_id == open_id && e.event.contains("revoke"))
    }

    /// GET a JSON API path with this app's client.
    /// Lets the sandbox pull from this app's `/p/` capability URLs (plain http on 127.0.0.1,
    /// the sandbox's test-only knob); with `fetch`, it really GETs every image.
    pub fn sandbox_pulls_our_photos(&self, fetch: bool) -> Result<()> {
        let prefix = format!("{}/p/", self.base_url);
        self.sandbox
            .update_app(&self.config.tiktok.client_key, |a| {
                a.verified_url_prefixes = vec![prefix];
            })
            .context("update the sandbox app")?;
        self.sandbox.update_knobs(|k| {
            k.pull_allows_http = true;
            k.pull_fetches_photos = fetch;
            k.pull_download_ms = 0;
        });
        Ok(())
    }

    /// `POST /api/media` with `bytes` as the body (declared as `content_type`).
    pub async fn upload_media(
        &self,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<(reqwest::StatusCode, serde_json::Value)> {
        let resp = self
            .client
            .post(self.url("/api/media"))
            .header(reqwest::header::ORIGIN, &self.base_url)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(bytes)
            .send()
            .await?;
        let status = resp.status();
        Ok((status, resp.json().await.unwrap_or(serde_json::Value::Null)))
    }

    /// POST `body` as JSON to `path` from this app's client, as the app's own pages do (same
    /// Origin): the status and the JSON answer (`null` when the answer is not JSON).
    pub async fn post_json(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<(reqwest::StatusCode, serde_json::Value)> {
        self.post_json_keyed(path, body, None).await
    }

    /// [`post_json`](Self::post_json) with an `Idempotency-Key`.
    pub async fn post_json_keyed(
        &self,
        path: &str,
        body: &serde_json::Value,
        key: Option<&str>,
    ) -> Result<(reqwest::StatusCode, serde_json::Value)> {
        let mut req = self
            .client
            .post(self.url(path))
            .header(reqwest::header::ORIGIN, &self.base_url)
            .json(body);
        if let Some(key) = key {
            req = req.header("idempotency-key", key);
        }
        let resp = req.send().await?;
        let status = resp.status();
        Ok((status, resp.json().await.unwrap_or(serde_json::Value::Null)))
    }

    /// GET `path` with this app's client: the body as text (a page).
    pub async fn get_text(&self, path: &str) -> Result<String> {
        Ok(self.client.get(self.url(path)).send().await?.text().await?)
    }

    pub async fn get_json(&self, path: &str) -> Result<(reqwest::StatusCode, serde_json::Value)> {
        let resp = self.client.get(self.url(path)).send().await?;
        let status = resp.status();
        let body = resp.json().await.unwrap_or(serde_json::Value::Null);
        Ok((status, body))
    }

    /// Polls `check` every 50 ms until it returns `Some`, failing after `timeout` with `what`.
    pub async fn wait_for<T, F, Fut>(
        &self,
        what: &str,
        timeout: Duration,
        mut check: F,
    ) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Option<T>>>,
    {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(v) = check().await? {
                return Ok(v);
            }
            if tokio::time::Instant::now() >= deadline {
                bail!("timed out waiting for {what}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Every dead task of `queue`, job by job (the dashboards' job list).
async fn dead_jobs_of(queue: &Queue) -> Result<Vec<(&'static str, DeadJob)>> {
    let mut all = Vec::new();
    for job in jobs::ops::JOBS {
        let stats = queue.stats(job).await?;
        if stats.dead == 0 {
            continue;
        }
        let limit = usize::try_from(stats.dead).unwrap_or(usize::MAX);
        all.extend(
            queue
                .dead_jobs(job, limit)
                .await?
                .into_iter()
                .map(|d| (job, d)),
        );
    }
    Ok(all)
}

/// Fails unless `body` is the JSON error `code` with a message that mentions `words`.
pub fn assert_error(body: &serde_json::Value, code: &str, words: &str) {
    assert_eq!(body["error"]["code"], code, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(words), "{body}");
}

/// The environment a child `mktpost` process needs to act on this app's store, queue, staging
/// and sandbox (the token key ring and TikTok credentials are the development defaults here).
pub fn child_env(c: &Config) -> Vec<(String, String)> {
    let mut env = vec![
        ("MKTPOST_ENV", "development".to_owned()),
        ("DATA_DIR", c.server.data_dir.display().to_string()),
        ("DATABASE_URL", c.store.database_url.expose().to_owned()),
        ("QUEUE_NAMESPACE", c.queue.namespace.clone()),
        ("WORKER_CONCURRENCY", c.worker.concurrency.to_string()),
        ("JOB_MAX_ATTEMPTS", c.queue.job_max_attempts.to_string()),
        ("WORKER_HEARTBEAT_SECS", c.worker.heartbeat_secs.to_string()),
        (
            "WORKER_SHUTDOWN_TIMEOUT_SECS",
            c.worker.shutdown_timeout_secs.to_string(),
        ),
        ("TIKTOK_AUTH_URL", c.tiktok.auth_url.to_string()),
        ("TIKTOK_API_URL", c.tiktok.api_url.to_string()),
        ("TIKTOK_REDIRECT_URI", c.tiktok.redirect_uri.to_string()),
        ("STAGING_URL", c.staging.url.to_string()),
        ("TIKTOK_CHUNK_SIZE", c.tiktok.chunk_size.to_string()),
        (
            "TIKTOK_SINGLE_CHUNK_MAX",
            c.tiktok.single_chunk_max.to_string(),
        ),
        (
            "PACING_WINDOW_SECS",
            c.tiktok.pacing_window_secs.to_string(),
        ),
        (
            "STATUS_POLL_BUDGET",
            c.tiktok.status_poll_budget.to_string(),
        ),
        (
            "STATUS_POLL_MAX_INTERVAL_SECS",
            c.tiktok.status_poll_max_interval_secs.to_string(),
        ),
        (
            "TIKTOK_VERIFIED_URL_PREFIXES",
            c.tiktok.verified_url_prefixes.join(","),
        ),
        ("TIKTOK_APP_AUDITED", c.tiktok.app_audited.to_string()),
        ("LOG_FORMAT", "json".to_owned()),
        ("RUST_LOG", "info".to_owned()),
    ];
    if let Some(r) = &c.queue.redis_url {
        env.push(("REDIS_URL", r.expose().to_owned()));
    }
    env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// The `mktpost` binary of this build (`target/<profile>/mktpost`, next to `deps/`).
pub fn mktpost_bin() -> Result<std::path::PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .context("test binary has no target dir")?;
    let bin = dir.join("mktpost");
    if !bin.exists() {
        bail!(
            "{} is missing: build it first (`cargo build --bin mktpost`; scripts/test.sh does)",
            bin.display()
        );
    }
    Ok(bin)
}

/// A real `mktpost worker` process for this app, killable with SIGKILL.
pub struct WorkerProcess {
    child: std::process::Child,
}

impl WorkerProcess {
    /// Starts one; its output goes to `<data_dir>/worker-<n>.log`.
    pub fn spawn(app: &TestApp, n: usize) -> Result<Self> {
        let log =
            std::fs::File::create(app.config.server.data_dir.join(format!("worker-{n}.log")))?;
        let child = std::process::Command::new(mktpost_bin()?)
            .arg("worker")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(child_env(&app.config))
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        Ok(Self { child })
    }

    /// SIGKILL: no shutdown, no cleanup, exactly like a crash.
    pub fn kill(mut self) -> Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A real `mktpost web` process for this app (same store, queue, sandbox and public URL),
/// killable with SIGKILL mid-request.
pub struct WebProcess {
    child: std::process::Child,
    /// Its own address, `http://127.0.0.1:<port>`.
    pub base_url: String,
}

impl WebProcess {
    /// Starts one and waits until it answers `/healthz`; output in `<data_dir>/web.log`.
    pub async fn spawn(app: &TestApp) -> Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let log = std::fs::File::create(app.config.server.data_dir.join("web.log"))?;
        let child = std::process::Command::new(mktpost_bin()?)
            .arg("web")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(child_env(&app.config))
            .env("BIND_ADDR", format!("127.0.0.1:{port}"))
            .env("PUBLIC_URL", &app.base_url)
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        let web = Self {
            child,
            base_url: format!("http://127.0.0.1:{port}"),
        };
        let health = format!("{}/healthz", web.base_url);
        app.wait_for("the web process", Duration::from_secs(30), || async {
            Ok(reqwest::get(&health)
                .await
                .ok()
                .filter(|r| r.status().is_success()))
        })
        .await?;
        Ok(web)
    }

    /// SIGKILL: no shutdown, no cleanup, exactly like a crash.
    pub fn kill(mut self) -> Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for WebProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A sign-in started with `POST /auth/google/start`.
#[derive(Debug, Clone)]
pub struct SignInStart {
    /// The Google sign-in page, with `return_to` and `state` in its query.
    pub signin_url: reqwest::Url,
    /// What must come back with the ID token.
    pub state: String,
}

/// The `Set-Cookie` line of the response that sets or deletes the cookie `name`.
pub fn set_cookie(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.split('=').next() == Some(name))
        .map(str::to_owned)
}

/// The `Location` header of a redirect.
pub fn location(resp: &reqwest::Response) -> Result<String> {
    resp.headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .with_context(|| format!("no Location header (status {})", resp.status()))
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
        self.drop_postgres_database_later();
        // A failing test already says what went wrong; a second panic here would abort.
        if !std::thread::panicking()
            && let Err(e) = self.check_dead_jobs_blocking()
        {
            panic!("{e:#}");
        }
    }
}

impl TestApp {
    fn drop_postgres_database_later(&mut self) {
        if let Some(name) = self.pg_db.take() {
            // Best effort: a leftover test database only costs disk.
            let admin = postgres_admin_url();
            std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    rt.block_on(async move {
                        use sqlx::Connection;
                        if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
                            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            )))
                            .execute(&mut c)
                            .await;
                        }
                    });
                }
            });
        }
    }
}

/// Installs the log subscriber once; silent unless `TEST_LOG=1`.
pub fn init_test_logging() {
    if std::env::var("TEST_LOG").is_ok() {
        jobs::telemetry::init(jobs::config::LogFormat::Pretty);
    }
}
