//! The one configuration struct, read from the environment (and an optional `.env`), with
//! defaults that run locally with nothing installed. Nothing else reads the environment.
//!
//! A bad value stops the process with exit code 2 and one line naming the variable
//! (see [`ConfigError`]); production mode also refuses development secrets and sandbox URLs.

use crate::vault::KeyRing;
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use url::Url;

/// A configuration problem, naming the variable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("configuration error: {var}: {message}")]
pub struct ConfigError {
    pub var: &'static str,
    pub message: String,
}

/// A secret string whose `Debug`/`Display` never show it; wiped from memory when dropped.
#[derive(Clone, PartialEq, Eq, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// The only way to read it: grep for `expose` to audit every use.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Development or production. Production refuses development defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Development,
    Production,
}

/// Which state backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreKind {
    /// `sqlite://path` (the embedded default).
    Sqlite,
    /// `postgres://…`.
    Postgres,
    /// `firestore://<project>[/<database>][?emulator_host=<host:port>]`, or `STORE=firestore`
    /// with `FIRESTORE_PROJECT_ID`, `FIRESTORE_DATABASE`, `FIRESTORE_EMULATOR_HOST`.
    Firestore,
}

impl StoreKind {
    /// The name `STORE` takes.
    pub fn name(&self) -> &'static str {
        match self {
            StoreKind::Sqlite => "sqlite",
            StoreKind::Postgres => "postgres",
            StoreKind::Firestore => "firestore",
        }
    }
}

/// The scheduler's schedules and thresholds (`scheduler::SchedulerSettings` adds the fixed
/// internals). Cron expressions use the `cron` crate's syntax with a seconds field
/// (`sec min hour day-of-month month day-of-week [year]`), evaluated in UTC, and are checked here
/// so a typo stops the process at start-up naming its variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulerConfig {
    /// `SCHEDULER_TICK_MS`, default 250: how often the due index is read.
    pub tick: Duration,
    /// `SCHEDULER_DUE_BATCH`, default 500: due posts read per query.
    pub due_batch: u32,
    /// `SCHEDULER_LATE_AFTER_MS`, default 1000: a post enqueued later than this after its time is
    /// marked with `late_by_ms`.
    pub late_after: Duration,
    /// `SCHEDULER_LEASE_TTL_SECS`, default 10: a standby takes over within this after the active
    /// scheduler dies. At least six ticks.
    pub lease_ttl: Duration,
    /// `STUCK_QUEUED_SECS`, default 600.
    pub stuck_queued_after: Duration,
    /// `STUCK_UPLOADING_SECS`, default 900.
    pub stuck_uploading_after: Duration,
    /// `STUCK_PROCESSING_SECS`, default 600.
    pub stuck_processing_after: Duration,
    /// `STUCK_DISCONNECTING_SECS`, default 600.
    pub stuck_disconnecting_after: Duration,
    /// `STUCK_ERASING_SECS`, default 600: an unfinished erasure gets its job pushed again.
    pub stuck_erasing_after: Duration,
    /// `TOKEN_REFRESH_JITTER_SECS`, default 60: refresh jobs are spread over this.
    pub token_refresh_jitter: Duration,
    /// `STAGING_ORPHAN_GRACE_HOURS`, default 24: a staged object without a media row is deleted
    /// once this old.
    pub staging_orphan_grace: Duration,
    /// `JOB_RECORD_TTL_HOURS`, default 168: finished job records older than this are trimmed.
    pub job_record_ttl: Duration,
    /// `SCHEDULER_CRON_REFRESH_TOKENS`, default `0 */5 * * * *`.
    pub cron_refresh_tokens: String,
    /// `SCHEDULER_CRON_STUCK_POSTS`, default `30 * * * * *`.
    pub cron_stuck_posts: String,
    /// `SCHEDULER_CRON_DISCONNECTING`, default `15 */5 * * * *`.
    pub cron_disconnecting: String,
    /// `SCHEDULER_CRON_ERASING_USERS`, default `20 */5 * * * *`.
    pub cron_erasing_users: String,
    /// `SCHEDULER_CRON_EXPIRED_MEDIA`, default `45 */10 * * * *`.
    pub cron_expired_media: String,
    /// `SCHEDULER_CRON_OLD_LOGS`, default `5 7 * * * *` (hourly).
    pub cron_old_logs: String,
    /// `SCHEDULER_CRON_JOB_RECORDS`, default `50 37 * * * *` (hourly).
    pub cron_job_records: String,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// The whole configuration. Each field documents its variable and default.
#[derive(Debug, Clone)]
pub struct Config {
    /// `MKTPOST_ENV` = `development` (default) | `production`.
    pub mode: Mode,
    /// `BIND_ADDR`, default `127.0.0.1:8080`; port 0 picks a free port (tests).
    pub bind_addr: SocketAddr,
    /// `PUBLIC_URL`, default `http://127.0.0.1:8080`: what browsers see; Origin checks use it.
    pub public_url: Url,
    /// `DATA_DIR`, default `./data`: SQLite files, staging, logs.
    pub data_dir: PathBuf,
    /// `DATABASE_URL`, default `sqlite://<DATA_DIR>/mktpost.db`; `postgres://…` selects
    /// PostgreSQL, `firestore://<project>[/<database>]` Firestore. `STORE=firestore` builds the
    /// Firestore URL from `FIRESTORE_PROJECT_ID`, `FIRESTORE_DATABASE` (default `(default)`) and
    /// `FIRESTORE_EMULATOR_HOST` (unset: Google, with Application Default Credentials).
    pub database_url: Secret,
    /// `STORE` = `sqlite` | `postgres` | `firestore`; default: what `DATABASE_URL` names.
    pub store_kind: StoreKind,
    /// `REDIS_URL`; unset means the embedded queue (apalis-sqlite in `<DATA_DIR>/queue.db`).
    pub redis_url: Option<Secret>,
    /// `QUEUE_NAMESPACE`, default `mktpost`: prefix of every queue name / Redis key.
    pub queue_namespace: String,
    /// `WORKER_CONCURRENCY`, default 8: jobs in flight per job type per worker process.
    pub worker_concurrency: usize,
    /// `WORKER_HEARTBEAT_SECS`, default 10: a worker silent for three heartbeats is presumed dead
    /// and its claimed jobs are handed to others.
    pub worker_heartbeat_secs: u64,
    /// `WORKER_SHUTDOWN_TIMEOUT_SECS`, default 25: on SIGTERM, how long running jobs may finish.
    pub worker_shutdown_timeout_secs: u64,
    /// `JOB_MAX_ATTEMPTS`, default 5: a retryable job is dead after this many attempts.
    pub job_max_attempts: u32,
    /// `TOKEN_KEYS` = `v2:<base64 32 bytes>,v1:…` (first is current).
    pub token_keys: KeyRing,
    /// `SESSION_SECRET`: HMAC key of the session JWT; ≥ 32 bytes in production.
    pub session_secret: Secret,
    /// `SESSION_TTL_HOURS`, default 168 (7 days).
    pub session_ttl: Duration,
    /// `TIKTOK_CLIENT_KEY`, default the sandbox's demo app.
    pub tiktok_client_key: String,
    /// `TIKTOK_CLIENT_SECRET`, default the sandbox's demo app secret.
    pub tiktok_client_secret: Secret,
    /// `TIKTOK_AUTH_URL`, default the sandbox; production `https://www.tiktok.com`.
    pub tiktok_auth_url: Url,
    /// `TIKTOK_API_URL`, default the sandbox; production `https://open.tiktokapis.com`.
    pub tiktok_api_url: Url,
    /// `TIKTOK_REDIRECT_URI`, default `<PUBLIC_URL>/auth/tiktok/callback`.
    pub tiktok_redirect_uri: Url,
    /// `TOKEN_REFRESH_MARGIN_SECS`, default 3600: refresh when the access token has less left.
    pub token_refresh_margin: Duration,
    /// `FIREBASE_PROJECT_ID`, default `mktpost-dev`.
    pub firebase_project_id: String,
    /// `GOOGLE_CERTS_URL`: Google's x509 certificate map for Firebase ID tokens (the sandbox's by default).
    pub google_certs_url: Url,
    /// `GOOGLE_CERTS_REFETCH_SECS`, default 60: an unknown `kid` re-fetches the certificates at
    /// most this often (a flood of forged kids must not become a flood of requests to Google).
    pub google_certs_refetch: Duration,
    /// `GOOGLE_SIGNIN_URL`: the page "Sign in with Google" opens (with `?return_to=`); it sends
    /// the browser back to `/login#id_token=…`. The sandbox's page in development; in production
    /// the hosted page in `deploy/firebase-signin` (required, https).
    pub google_signin_url: Option<Url>,
    /// `SANDBOX_BIND`, default `127.0.0.1:8090`: where `dev` and `mktpost sandbox` serve the sandbox.
    pub sandbox_bind: SocketAddr,
    /// `STAGING_URL`, default `file://<DATA_DIR>/staging`.
    pub staging_url: Url,
    /// `MAX_UPLOAD_BYTES`, default 4 GiB.
    pub max_upload_bytes: u64,
    /// `MEDIA_TTL_HOURS`, default 24: unattached staged media are deleted after this.
    pub media_ttl: Duration,
    /// `LOG_FORMAT` = `pretty` (default) | `json`.
    pub log_format: LogFormat,
    /// `LOG_RETENTION_DAYS`, default 90: technical (access) logs older than this are deleted.
    pub log_retention_days: u32,
    /// `TRUSTED_PROXY_HEADER`, e.g. `x-forwarded-for`; unset means the socket address is the client IP.
    pub trusted_proxy_header: Option<String>,
    /// `AUTH_RATE_PER_MIN`, default 60: per-IP requests per minute on `/auth/*`.
    pub auth_rate_per_min: u32,
    /// `API_RATE_PER_MIN`, default 600: per-user requests per minute on `/api/*`.
    pub api_rate_per_min: u32,
    /// `TIKTOK_CHUNK_SIZE`, default 10,000,000: bytes per upload chunk (TikTok's rules, §5.5).
    pub tiktok_chunk_size: u64,
    /// `TIKTOK_SINGLE_CHUNK_MAX`, default 64,000,000: videos up to this size go in one chunk.
    pub tiktok_single_chunk_max: u64,
    /// `PACING_WINDOW_SECS`, default 60: TikTok's per-token rate-limit window.
    pub pacing_window_secs: u64,
    /// `STATUS_POLL_BUDGET`, default 120: status polls before a post becomes `unconfirmed`.
    pub status_poll_budget: u32,
    /// `STATUS_POLL_MAX_INTERVAL_SECS`, default 30: the slowest status-poll cadence.
    pub status_poll_max_interval_secs: u64,
    /// `CAP_RETRY_MINUTES`, default 60: when a daily cap defers a post, try again this much later.
    pub cap_retry_minutes: u64,
    /// The scheduler's schedules and thresholds.
    pub scheduler: SchedulerConfig,
    /// `METRICS_TOKEN`: when set, `/metrics` needs `Authorization: Bearer <token>`.
    pub metrics_token: Option<Secret>,
    /// `OPS_GOOGLE_UIDS`: comma-separated Google account ids (`google_uid` in `GET /api/me`) of
    /// the operators who may use `/ops` and `/api/ops/*`. Ids, not emails: an id cannot be
    /// claimed by another sign-in provider's unverified address. Empty: nobody.
    pub ops_google_uids: Vec<String>,
}

/// The development key ring and secrets: public on purpose, refused in production.
pub const DEV_TOKEN_KEYS: &str = "dev1:bWt0cG9zdC1kZXZlbG9wbWVudC1rZXktMzJieXRlcyE=";
pub const DEV_SESSION_SECRET: &str = "development-session-secret-not-for-production-use";
/// The sandbox's seeded demo app.
pub const SANDBOX_CLIENT_KEY: &str = "sbawdemo0000000001";
pub const SANDBOX_CLIENT_SECRET: &str = "sandbox-demo-client-secret";
pub const DEV_FIREBASE_PROJECT: &str = "mktpost-dev";

impl Config {
    /// Reads the process environment over an optional `.env` in the working directory.
    pub fn from_env() -> Result<Self, ConfigError> {
        let mut vars: HashMap<String, String> = HashMap::new();
        if let Ok(iter) = dotenvy::from_path_iter(".env") {
            for (k, v) in iter.flatten() {
                vars.insert(k, v);
            }
        }
        vars.extend(std::env::vars());
        Self::from_vars(&vars)
    }

    /// Builds a configuration from explicit variables (tests use this; they never touch the
    /// process environment).
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let v = Vars(vars);
        let mode = match v.get("MKTPOST_ENV").as_deref().unwrap_or("development") {
            "development" | "dev" => Mode::Development,
            "production" | "prod" => Mode::Production,
            other => {
                return Err(err(
                    "MKTPOST_ENV",
                    format!("{other:?} is not development or production"),
                ));
            }
        };
        let bind_addr = v.parse("BIND_ADDR", "127.0.0.1:8080")?;
        let public_url = v.url("PUBLIC_URL", "http://127.0.0.1:8080")?;
        let data_dir = PathBuf::from(v.get("DATA_DIR").unwrap_or_else(|| "./data".into()));
        let (database_url, store_kind) = database(&v, &data_dir, mode)?;
        let redis_url = match v.get("REDIS_URL") {
            Some(u) if !u.is_empty() => {
                Url::parse(&u).map_err(|e| err("REDIS_URL", format!("not a URL: {e}")))?;
                Some(Secret::new(u))
            }
            _ => None,
        };
        let token_keys_raw = v.get("TOKEN_KEYS").unwrap_or_else(|| DEV_TOKEN_KEYS.into());
        let token_keys =
            KeyRing::parse(&token_keys_raw).map_err(|e| err("TOKEN_KEYS", e.to_string()))?;
        let session_secret = Secret::new(
            v.get("SESSION_SECRET")
                .unwrap_or_else(|| DEV_SESSION_SECRET.into()),
        );
        let sandbox_bind: SocketAddr = v.parse("SANDBOX_BIND", "127.0.0.1:8090")?;
        let sandbox_base = format!("http://{sandbox_bind}");
        let tiktok_redirect_default = format!(
            "{}/auth/tiktok/callback",
            public_url.as_str().trim_end_matches('/')
        );
        let google_signin_url = match v.get("GOOGLE_SIGNIN_URL") {
            Some(s) if s.is_empty() => None,
            Some(s) => Some(
                Url::parse(&s).map_err(|e| err("GOOGLE_SIGNIN_URL", format!("not a URL: {e}")))?,
            ),
            None if mode == Mode::Development => Some(
                Url::parse(&format!("{sandbox_base}/_google/signin"))
                    .map_err(|e| err("SANDBOX_BIND", e.to_string()))?,
            ),
            None => None,
        };
        let cfg = Config {
            mode,
            bind_addr,
            public_url,
            database_url: Secret::new(database_url),
            store_kind,
            redis_url,
            queue_namespace: v.get("QUEUE_NAMESPACE").unwrap_or_else(|| "mktpost".into()),
            worker_concurrency: v.parse("WORKER_CONCURRENCY", "8")?,
            job_max_attempts: v.parse("JOB_MAX_ATTEMPTS", "5")?,
            worker_heartbeat_secs: v.parse("WORKER_HEARTBEAT_SECS", "10")?,
            worker_shutdown_timeout_secs: v.parse("WORKER_SHUTDOWN_TIMEOUT_SECS", "25")?,
            token_keys,
            session_secret,
            session_ttl: v.hours("SESSION_TTL_HOURS", "168")?,
            tiktok_client_key: v
                .get("TIKTOK_CLIENT_KEY")
                .unwrap_or_else(|| SANDBOX_CLIENT_KEY.into()),
            tiktok_client_secret: Secret::new(
                v.get("TIKTOK_CLIENT_SECRET")
                    .unwrap_or_else(|| SANDBOX_CLIENT_SECRET.into()),
            ),
            tiktok_auth_url: v.url("TIKTOK_AUTH_URL", &sandbox_base)?,
            tiktok_api_url: v.url("TIKTOK_API_URL", &sandbox_base)?,
            tiktok_redirect_uri: v.url("TIKTOK_REDIRECT_URI", &tiktok_redirect_default)?,
            token_refresh_margin: Duration::from_secs(
                v.parse("TOKEN_REFRESH_MARGIN_SECS", "3600")?,
            ),
            firebase_project_id: v
                .get("FIREBASE_PROJECT_ID")
                .unwrap_or_else(|| DEV_FIREBASE_PROJECT.into()),
            google_certs_url: v.url(
                "GOOGLE_CERTS_URL",
                &format!(
                    "{sandbox_base}/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com"
                ),
            )?,
            google_signin_url,
            google_certs_refetch: Duration::from_secs(v.parse("GOOGLE_CERTS_REFETCH_SECS", "60")?),
            sandbox_bind,
            staging_url: v.url(
                "STAGING_URL",
                &format!("file://{}", absolute(&data_dir.join("staging")).display()),
            )?,
            max_upload_bytes: v.parse("MAX_UPLOAD_BYTES", "4294967296")?,
            media_ttl: v.hours("MEDIA_TTL_HOURS", "24")?,
            log_format: match v.get("LOG_FORMAT").as_deref().unwrap_or("pretty") {
                "pretty" => LogFormat::Pretty,
                "json" => LogFormat::Json,
                other => {
                    return Err(err(
                        "LOG_FORMAT",
                        format!("{other:?} is not pretty or json"),
                    ));
                }
            },
            log_retention_days: v.parse("LOG_RETENTION_DAYS", "90")?,
            trusted_proxy_header: v
                .get("TRUSTED_PROXY_HEADER")
                .filter(|s| !s.is_empty())
                .map(|s| s.to_ascii_lowercase()),
            auth_rate_per_min: v.parse("AUTH_RATE_PER_MIN", "60")?,
            api_rate_per_min: v.parse("API_RATE_PER_MIN", "600")?,
            tiktok_chunk_size: v.parse("TIKTOK_CHUNK_SIZE", "10000000")?,
            tiktok_single_chunk_max: v.parse("TIKTOK_SINGLE_CHUNK_MAX", "64000000")?,
            pacing_window_secs: v.parse("PACING_WINDOW_SECS", "60")?,
            status_poll_budget: v.parse("STATUS_POLL_BUDGET", "120")?,
            status_poll_max_interval_secs: v.parse("STATUS_POLL_MAX_INTERVAL_SECS", "30")?,
            cap_retry_minutes: v.parse("CAP_RETRY_MINUTES", "60")?,
            scheduler: scheduler_config(&v)?,
            metrics_token: v
                .get("METRICS_TOKEN")
                .filter(|s| !s.is_empty())
                .map(Secret::new),
            ops_google_uids: v
                .get("OPS_GOOGLE_UIDS")
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            data_dir,
        };
        cfg.check_production()?;
        Ok(cfg)
    }

    /// Production refuses what is only safe on a developer's machine.
    fn check_production(&self) -> Result<(), ConfigError> {
        if self.mode != Mode::Production {
            return Ok(());
        }
        if self.session_secret.expose().len() < 32 {
            return Err(err(
                "SESSION_SECRET",
                "must be at least 32 bytes in production".into(),
            ));
        }
        if self.session_secret.expose() == DEV_SESSION_SECRET {
            return Err(err(
                "SESSION_SECRET",
                "the development default is not allowed in production".into(),
            ));
        }
        if self.token_keys.ids().any(|id| id == "dev1") {
            return Err(err(
                "TOKEN_KEYS",
                "the development key is not allowed in production".into(),
            ));
        }
        if self.tiktok_client_secret.expose() == SANDBOX_CLIENT_SECRET {
            return Err(err(
                "TIKTOK_CLIENT_SECRET",
                "the sandbox secret is not allowed in production".into(),
            ));
        }
        if self
            .google_signin_url
            .as_ref()
            .is_none_or(|u| u.scheme() != "https")
        {
            return Err(err(
                "GOOGLE_SIGNIN_URL",
                "must be the https address of the hosted sign-in page in production \
                 (deploy/firebase-signin)"
                    .into(),
            ));
        }
        if self.public_url.scheme() != "https" {
            return Err(err(
                "PUBLIC_URL",
                "must be https in production (the session cookie is Secure)".into(),
            ));
        }
        Ok(())
    }

    /// True in production: cookies get `Secure`.
    pub fn is_production(&self) -> bool {
        self.mode == Mode::Production
    }

    /// Development defaults, rooted at `data_dir`, listening on ephemeral ports (tests).
    pub fn for_tests(data_dir: &std::path::Path) -> Self {
        let mut vars = HashMap::new();
        vars.insert("DATA_DIR".into(), data_dir.display().to_string());
        vars.insert("BIND_ADDR".into(), "127.0.0.1:0".into());
        Self::from_vars(&vars).expect("test defaults are valid")
    }
}

/// `DATABASE_URL` and `STORE` (with the `FIRESTORE_*` variables) into one URL and its kind.
fn database(
    v: &Vars<'_>,
    data_dir: &std::path::Path,
    mode: Mode,
) -> Result<(String, StoreKind), ConfigError> {
    use crate::store::firestore::{DEFAULT_DATABASE, FirestoreUrl};
    let kind_of = |url: &str| {
        if url.starts_with("sqlite:") {
            Ok(StoreKind::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(StoreKind::Postgres)
        } else if url.starts_with(FirestoreUrl::SCHEME) {
            Ok(StoreKind::Firestore)
        } else {
            // Never echo the URL: it may carry a password.
            Err(err(
                "DATABASE_URL",
                "must start with sqlite://, postgres:// or firestore://".into(),
            ))
        }
    };
    let given_url = v.get("DATABASE_URL").filter(|s| !s.is_empty());
    let asked = match v.get("STORE").filter(|s| !s.is_empty()).as_deref() {
        None => None,
        Some("sqlite") => Some(StoreKind::Sqlite),
        Some("postgres" | "postgresql") => Some(StoreKind::Postgres),
        Some("firestore") => Some(StoreKind::Firestore),
        Some(other) => {
            return Err(err(
                "STORE",
                format!("{other:?} is not sqlite, postgres or firestore"),
            ));
        }
    };
    let project = v.get("FIRESTORE_PROJECT_ID").filter(|s| !s.is_empty());
    let emulator = v.get("FIRESTORE_EMULATOR_HOST").filter(|s| !s.is_empty());
    let url = match (&given_url, &asked) {
        (Some(url), _) => url.clone(),
        (None, Some(StoreKind::Firestore)) => {
            let project = project.clone().ok_or_else(|| {
                err(
                    "FIRESTORE_PROJECT_ID",
                    "is required with STORE=firestore".into(),
                )
            })?;
            let database = v
                .get("FIRESTORE_DATABASE")
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| DEFAULT_DATABASE.into());
            format!("{}{project}/{database}", FirestoreUrl::SCHEME)
        }
        (None, Some(StoreKind::Postgres)) => {
            return Err(err(
                "DATABASE_URL",
                "is required with STORE=postgres (postgres://user@host/db)".into(),
            ));
        }
        (None, _) => format!("sqlite://{}/mktpost.db", data_dir.display()),
    };
    let kind = kind_of(&url)?;
    if let Some(asked) = asked
        && asked != kind
    {
        return Err(err(
            "STORE",
            format!(
                "is {} but DATABASE_URL names a {} database",
                asked.name(),
                kind.name()
            ),
        ));
    }
    if kind != StoreKind::Firestore {
        return Ok((url, kind));
    }
    let mut parsed = FirestoreUrl::parse(&url).map_err(|e| err("DATABASE_URL", e.to_string()))?;
    if let Some(p) = &project
        && *p != parsed.project
    {
        return Err(err(
            "FIRESTORE_PROJECT_ID",
            format!(
                "is {p:?} but DATABASE_URL names project {:?}",
                parsed.project
            ),
        ));
    }
    // Google's client libraries honour FIRESTORE_EMULATOR_HOST; so do we.
    match (&parsed.emulator_host, emulator) {
        (Some(a), Some(b)) if *a != b => {
            return Err(err(
                "FIRESTORE_EMULATOR_HOST",
                format!("is {b:?} but DATABASE_URL names emulator {a:?}"),
            ));
        }
        (None, Some(b)) => parsed.emulator_host = Some(b),
        _ => {}
    }
    if mode == Mode::Production && parsed.emulator_host.is_some() {
        return Err(err(
            "FIRESTORE_EMULATOR_HOST",
            "the emulator is not allowed in production (unset it; the store then uses Google \
             with Application Default Credentials)"
                .into(),
        ));
    }
    let mut url = format!(
        "{}{}/{}",
        FirestoreUrl::SCHEME,
        parsed.project,
        parsed.database
    );
    if let Some(host) = &parsed.emulator_host {
        url.push_str("?emulator_host=");
        url.push_str(host);
    }
    Ok((url, kind))
}

fn scheduler_config(v: &Vars<'_>) -> Result<SchedulerConfig, ConfigError> {
    let secs = |k: &'static str, d: &str| v.parse::<u64>(k, d).map(Duration::from_secs);
    let hours = |k: &'static str, d: &str| v.hours(k, d);
    let cron = |k: &'static str, d: &str| -> Result<String, ConfigError> {
        let expr = v
            .get(k)
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| d.into());
        let expr = expr.trim().to_owned();
        <cron::Schedule as std::str::FromStr>::from_str(&expr)
            .map_err(|e| err(k, format!("invalid cron expression {expr:?}: {e}")))?;
        Ok(expr)
    };
    let c = SchedulerConfig {
        tick: Duration::from_millis(v.parse("SCHEDULER_TICK_MS", "250")?),
        due_batch: v.parse("SCHEDULER_DUE_BATCH", "500")?,
        late_after: Duration::from_millis(v.parse("SCHEDULER_LATE_AFTER_MS", "1000")?),
        lease_ttl: secs("SCHEDULER_LEASE_TTL_SECS", "10")?,
        stuck_queued_after: secs("STUCK_QUEUED_SECS", "600")?,
        stuck_uploading_after: secs("STUCK_UPLOADING_SECS", "900")?,
        stuck_processing_after: secs("STUCK_PROCESSING_SECS", "600")?,
        stuck_disconnecting_after: secs("STUCK_DISCONNECTING_SECS", "600")?,
        stuck_erasing_after: secs("STUCK_ERASING_SECS", "600")?,
        token_refresh_jitter: secs("TOKEN_REFRESH_JITTER_SECS", "60")?,
        staging_orphan_grace: hours("STAGING_ORPHAN_GRACE_HOURS", "24")?,
        job_record_ttl: hours("JOB_RECORD_TTL_HOURS", "168")?,
        cron_refresh_tokens: cron("SCHEDULER_CRON_REFRESH_TOKENS", "0 */5 * * * *")?,
        cron_stuck_posts: cron("SCHEDULER_CRON_STUCK_POSTS", "30 * * * * *")?,
        cron_disconnecting: cron("SCHEDULER_CRON_DISCONNECTING", "15 */5 * * * *")?,
        cron_erasing_users: cron("SCHEDULER_CRON_ERASING_USERS", "20 */5 * * * *")?,
        cron_expired_media: cron("SCHEDULER_CRON_EXPIRED_MEDIA", "45 */10 * * * *")?,
        cron_old_logs: cron("SCHEDULER_CRON_OLD_LOGS", "5 7 * * * *")?,
        cron_job_records: cron("SCHEDULER_CRON_JOB_RECORDS", "50 37 * * * *")?,
    };
    if c.tick.is_zero() || c.tick > Duration::from_secs(60) {
        return Err(err(
            "SCHEDULER_TICK_MS",
            "must be between 1 and 60000 (the promise is within 1 s)".into(),
        ));
    }
    if c.lease_ttl > Duration::from_secs(3600) {
        return Err(err(
            "SCHEDULER_LEASE_TTL_SECS",
            "must be at most 3600 (a crashed scheduler is replaced within it)".into(),
        ));
    }
    if c.due_batch == 0 {
        return Err(err("SCHEDULER_DUE_BATCH", "must be more than zero".into()));
    }
    // Renewing every third of the TTL must leave several ticks between renewals.
    if c.lease_ttl < c.tick * 6 {
        return Err(err(
            "SCHEDULER_LEASE_TTL_SECS",
            "must be at least six scheduler ticks (SCHEDULER_TICK_MS)".into(),
        ));
    }
    Ok(c)
}

fn absolute(p: &std::path::Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}

fn err(var: &'static str, message: String) -> ConfigError {
    ConfigError { var, message }
}

struct Vars<'a>(&'a HashMap<String, String>);

impl Vars<'_> {
    fn get(&self, k: &str) -> Option<String> {
        self.0.get(k).cloned()
    }

    fn parse<T: std::str::FromStr>(&self, k: &'static str, default: &str) -> Result<T, ConfigError>
    where
        T::Err: fmt::Display,
    {
        let raw = self.get(k).unwrap_or_else(|| default.to_owned());
        raw.trim()
            .parse()
            .map_err(|e| err(k, format!("cannot parse {raw:?}: {e}")))
    }

    /// A whole number of hours, at most ten years (a typo must not overflow into a panic).
    fn hours(&self, k: &'static str, default: &str) -> Result<Duration, ConfigError> {
        let h: u64 = self.parse(k, default)?;
        if h > 24 * 366 * 10 {
            return Err(err(k, format!("{h} hours is more than ten years")));
        }
        Ok(Duration::from_secs(h * 3600))
    }

    fn url(&self, k: &'static str, default: &str) -> Result<Url, ConfigError> {
        let raw = self.get(k).unwrap_or_else(|| default.to_owned());
        Url::parse(&raw).map_err(|e| err(k, format!("not a URL ({raw:?}): {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_vars(&vars)
    }

    #[test]
    fn defaults_run_locally() {
        let c = with(&[]).unwrap();
        assert_eq!(c.store_kind, StoreKind::Sqlite);
        assert!(c.redis_url.is_none());
        assert_eq!(c.log_retention_days, 90);
        assert_eq!(
            c.tiktok_redirect_uri.as_str(),
            "http://127.0.0.1:8080/auth/tiktok/callback"
        );
        assert!(c.google_signin_url.is_some());
    }

    #[test]
    fn bad_values_name_their_variable() {
        assert_eq!(
            with(&[("TOKEN_KEYS", "v1:short")]).unwrap_err().var,
            "TOKEN_KEYS"
        );
        assert_eq!(
            with(&[("PUBLIC_URL", "not a url")]).unwrap_err().var,
            "PUBLIC_URL"
        );
        assert_eq!(
            with(&[("WORKER_CONCURRENCY", "many")]).unwrap_err().var,
            "WORKER_CONCURRENCY"
        );
        assert_eq!(
            with(&[("DATABASE_URL", "mysql://x")]).unwrap_err().var,
            "DATABASE_URL"
        );
        let e = with(&[("TOKEN_KEYS", "v1:short")]).unwrap_err().to_string();
        assert!(e.starts_with("configuration error: TOKEN_KEYS:"), "{e}");
    }

    #[test]
    fn production_refuses_short_or_default_secrets() {
        let keys = KeyRing::generate_entry("v1");
        let base = [
            ("MKTPOST_ENV", "production"),
            ("PUBLIC_URL", "https://mktpost.example"),
            ("TOKEN_KEYS", keys.as_str()),
            ("TIKTOK_CLIENT_SECRET", "real-secret"),
            ("GOOGLE_SIGNIN_URL", "https://mktpost-prod.web.app/"),
        ];
        let mut short = base.to_vec();
        short.push(("SESSION_SECRET", "too-short"));
        assert_eq!(with(&short).unwrap_err().var, "SESSION_SECRET");
        let mut ok = base.to_vec();
        ok.push((
            "SESSION_SECRET",
            "0123456789abcdef0123456789abcdef-long-enough",
        ));
        assert!(with(&ok).unwrap().is_production());
        let mut dev_keys = ok.clone();
        dev_keys.retain(|(k, _)| *k != "TOKEN_KEYS");
        assert_eq!(with(&dev_keys).unwrap_err().var, "TOKEN_KEYS");
        let mut no_signin = ok.clone();
        no_signin.retain(|(k, _)| *k != "GOOGLE_SIGNIN_URL");
        assert_eq!(with(&no_signin).unwrap_err().var, "GOOGLE_SIGNIN_URL");
    }

    #[test]
    fn the_store_is_chosen_by_url_or_by_store() {
        let c = with(&[("DATABASE_URL", "postgres://u@h/db")]).unwrap();
        assert_eq!(c.store_kind, StoreKind::Postgres);
        let c = with(&[("DATABASE_URL", "firestore://mktpost-prod/main")]).unwrap();
        assert_eq!(c.store_kind, StoreKind::Firestore);
        assert_eq!(c.database_url.expose(), "firestore://mktpost-prod/main");

        let c = with(&[
            ("STORE", "firestore"),
            ("FIRESTORE_PROJECT_ID", "mktpost-prod"),
        ])
        .unwrap();
        assert_eq!(c.store_kind, StoreKind::Firestore);
        assert_eq!(
            c.database_url.expose(),
            "firestore://mktpost-prod/(default)"
        );
        let c = with(&[
            ("STORE", "firestore"),
            ("FIRESTORE_PROJECT_ID", "p"),
            ("FIRESTORE_DATABASE", "mktpost"),
            ("FIRESTORE_EMULATOR_HOST", "127.0.0.1:8686"),
        ])
        .unwrap();
        assert_eq!(
            c.database_url.expose(),
            "firestore://p/mktpost?emulator_host=127.0.0.1:8686"
        );
        // The emulator variable applies to a Firestore DATABASE_URL too, as in Google's clients.
        let c = with(&[
            ("DATABASE_URL", "firestore://p"),
            ("FIRESTORE_EMULATOR_HOST", "127.0.0.1:9"),
        ])
        .unwrap();
        assert_eq!(
            c.database_url.expose(),
            "firestore://p/(default)?emulator_host=127.0.0.1:9"
        );

        for (pairs, var) in [
            (vec![("STORE", "firestore")], "FIRESTORE_PROJECT_ID"),
            (vec![("STORE", "mongodb")], "STORE"),
            (vec![("STORE", "postgres")], "DATABASE_URL"),
            (
                vec![
                    ("STORE", "firestore"),
                    ("DATABASE_URL", "postgres://u@h/db"),
                ],
                "STORE",
            ),
            (
                vec![
                    ("DATABASE_URL", "firestore://a"),
                    ("FIRESTORE_PROJECT_ID", "b"),
                ],
                "FIRESTORE_PROJECT_ID",
            ),
            (vec![("DATABASE_URL", "firestore://")], "DATABASE_URL"),
        ] {
            assert_eq!(with(&pairs).unwrap_err().var, var, "{pairs:?}");
        }
    }

    #[test]
    fn production_refuses_the_firestore_emulator() {
        let keys = KeyRing::generate_entry("v1");
        let mut vars = vec![
            ("MKTPOST_ENV", "production"),
            ("PUBLIC_URL", "https://mktpost.example"),
            ("TOKEN_KEYS", keys.as_str()),
            ("TIKTOK_CLIENT_SECRET", "real-secret"),
            (
                "SESSION_SECRET",
                "0123456789abcdef0123456789abcdef-long-enough",
            ),
            ("GOOGLE_SIGNIN_URL", "https://mktpost-prod.web.app/"),
            ("STORE", "firestore"),
            ("FIRESTORE_PROJECT_ID", "mktpost-prod"),
        ];
        assert!(with(&vars).is_ok());
        vars.push(("FIRESTORE_EMULATOR_HOST", "127.0.0.1:8686"));
        assert_eq!(with(&vars).unwrap_err().var, "FIRESTORE_EMULATOR_HOST");
    }

    #[test]
    fn scheduler_settings_come_from_the_environment() {
        let c = with(&[]).unwrap();
        assert_eq!(c.scheduler.tick, Duration::from_millis(250));
        assert_eq!(
            c.scheduler.job_record_ttl,
            Duration::from_secs(7 * 24 * 3600)
        );
        let c = with(&[
            ("SCHEDULER_TICK_MS", "100"),
            ("STUCK_UPLOADING_SECS", "60"),
            ("SCHEDULER_CRON_OLD_LOGS", "0 0 3 * * *"),
            ("JOB_RECORD_TTL_HOURS", "1"),
        ])
        .unwrap();
        assert_eq!(c.scheduler.tick, Duration::from_millis(100));
        assert_eq!(c.scheduler.stuck_uploading_after, Duration::from_secs(60));
        assert_eq!(c.scheduler.cron_old_logs, "0 0 3 * * *");
        assert_eq!(c.scheduler.job_record_ttl, Duration::from_secs(3600));
        let e = with(&[("SCHEDULER_CRON_STUCK_POSTS", "every minute")]).unwrap_err();
        assert_eq!(e.var, "SCHEDULER_CRON_STUCK_POSTS");
        assert!(e.message.contains("every minute"), "{e}");
        assert_eq!(
            with(&[("SCHEDULER_TICK_MS", "0")]).unwrap_err().var,
            "SCHEDULER_TICK_MS"
        );
        assert_eq!(
            with(&[("SCHEDULER_LEASE_TTL_SECS", "1")]).unwrap_err().var,
            "SCHEDULER_LEASE_TTL_SECS"
        );
        // Absurd values are refused, not overflowed into a panic.
        for (var, value) in [
            ("SCHEDULER_TICK_MS", "18446744073709551615"),
            ("SCHEDULER_LEASE_TTL_SECS", "18446744073709551615"),
            ("JOB_RECORD_TTL_HOURS", "18446744073709551615"),
            ("SESSION_TTL_HOURS", "5124095576030432"),
        ] {
            assert_eq!(with(&[(var, value)]).unwrap_err().var, var);
        }
    }

    /// `.env.example` is the reference for operators: it must parse, give a valid configuration,
    /// and mention every variable this file reads.
    #[test]
    fn env_example_is_valid_and_lists_every_variable() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../.env.example");
        let text = std::fs::read_to_string(path).unwrap();
        let vars: HashMap<String, String> = dotenvy::from_path_iter(path)
            .unwrap()
            .map(|kv| kv.unwrap())
            .collect();
        let c = Config::from_vars(&vars).unwrap();
        let d = with(&[]).unwrap();
        assert_eq!(c.scheduler, d.scheduler, "the example shows the defaults");
        let source = include_str!("config.rs");
        let read: std::collections::BTreeSet<&str> = source
            .split('"')
            .filter(|w| {
                w.len() > 3
                    && w.chars()
                        .all(|ch| ch.is_ascii_uppercase() || ch == '_' || ch.is_ascii_digit())
                    && w.contains('_')
            })
            .filter(|w| {
                !w.starts_with("DEV_")
                    && !w.starts_with("SANDBOX_CLIENT")
                    && !w.starts_with("CARGO_")
            })
            .collect();
        assert!(read.len() > 40, "{read:?}");
        let missing: Vec<_> = read.iter().filter(|v| !text.contains(*v)).collect();
        assert!(
            missing.is_empty(),
            ".env.example does not mention {missing:?}"
        );
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let c = with(&[("SESSION_SECRET", "super-secret-value-1234567890-abcdef")]).unwrap();
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("super-secret-value"));
        assert!(!dbg.contains(SANDBOX_CLIENT_SECRET));
    }

    /// Compiles only while secrets wipe themselves on drop.
    fn wiped_on_drop<T: zeroize::ZeroizeOnDrop>() {}

    #[test]
    fn secrets_are_wiped_on_drop() {
        wiped_on_drop::<Secret>();
    }
}
