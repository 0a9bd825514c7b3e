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
    /// `SCHEDULER_CRON_PARKED_POSTS`, default `35 */10 * * * *`.
    pub cron_parked_posts: String,
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
    /// `GOOGLE_SIGNIN_URL`: the page "Sign in with Google" opens (with `?return_to=&state=`); it
    /// sends the browser back to `/login#id_token=…&state=…`. The sandbox's page in development;
    /// in production the hosted page in `deploy/firebase-signin` (required, https).
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
    /// `TRUSTED_PROXY_HEADER`, default `x-forwarded-for` when `TRUSTED_PROXY_HOPS` > 0: the
    /// comma-separated list of addresses each trusted proxy appends to. `None` when no proxy is
    /// trusted.
    pub trusted_proxy_header: Option<String>,
    /// `TRUSTED_PROXY_HOPS`, default 0: how many proxies we own sit in front of the web tier.
    /// 0: the socket peer is the client. N: the client is the N-th address from the right of
    /// `TRUSTED_PROXY_HEADER` (each of our proxies appended one; anything further left was sent
    /// by the client and is never believed). One load balancer: `TRUSTED_PROXY_HOPS=1`. Only
    /// with the web port reachable through those proxies alone.
    pub trusted_proxy_hops: usize,
    /// `AUTH_RATE_PER_MIN`, default 60: per-IP requests per minute on `/auth/*`.
    pub auth_rate_per_min: u32,
    /// `API_RATE_PER_MIN`, default 600: per-user requests per minute on `/api/*`.
    pub api_rate_per_min: u32,
    /// `PAGE_RATE_PER_MIN`, default 300: per-IP requests per minute on the HTML pages.
    pub page_rate_per_min: u32,
    /// `AVATAR_RATE_PER_MIN`, default 120: per-IP requests per minute on the avatar proxy
    /// (`/accounts/{id}/avatar`), which fetches from TikTok's CDN on our behalf.
    pub avatar_rate_per_min: u32,
    /// `READYZ_RATE_PER_MIN`, default 120: per-IP requests per minute on `/readyz`, which pings
    /// the store and the queue.
    pub readyz_rate_per_min: u32,
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
    /// `STAGING_QUOTA_BYTES`, default 20 GiB: the most a user may have staged at once (videos
    /// uploaded and not yet deleted); an upload past it is refused (`staging_quota_exceeded`).
    pub staging_quota_bytes: u64,
    /// `SCHEDULE_HORIZON_DAYS`, default 90: how far ahead a post may be scheduled
    /// (`time_too_far`). It bounds how long a staged video waits on our side.
    pub schedule_horizon: Duration,
    /// `PARKED_MEDIA_DAYS`, default 7: a post parked in `needs_reconnect` keeps its staged video
    /// this long; then the post fails (`reconnect_deadline_passed`) and the video is deleted.
    pub parked_media_ttl: Duration,
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
        let (trusted_proxy_header, trusted_proxy_hops) = proxy_trust(&v)?;
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
            trusted_proxy_header,
            trusted_proxy_hops,
            auth_rate_per_min: v.parse("AUTH_RATE_PER_MIN", "60")?,
            api_rate_per_min: v.parse("API_RATE_PER_MIN", "600")?,
            page_rate_per_min: v.parse("PAGE_RATE_PER_MIN", "300")?,
            avatar_rate_per_min: v.parse("AVATAR_RATE_PER_MIN", "120")?,
            readyz_rate_per_min: v.parse("READYZ_RATE_PER_MIN", "120")?,
            tiktok_chunk_size: v.parse("TIKTOK_CHUNK_SIZE", "10000000")?,
            tiktok_single_chunk_max: v.parse("TIKTOK_SINGLE_CHUNK_MAX", "64000000")?,
            pacing_window_secs: v.parse("PACING_WINDOW_SECS", "60")?,
            status_poll_budget: v.parse("STATUS_POLL_BUDGET", "120")?,
            status_poll_max_interval_secs: v.parse("STATUS_POLL_MAX_INTERVAL_SECS", "30")?,
            cap_retry_minutes: v.parse("CAP_RETRY_MINUTES", "60")?,
            staging_quota_bytes: v.parse("STAGING_QUOTA_BYTES", "21474836480")?,
            schedule_horizon: v.days("SCHEDULE_HORIZON_DAYS", "90")?,
            parked_media_ttl: v.days("PARKED_MEDIA_DAYS", "7")?,
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
        if self.firebase_project_id == DEV_FIREBASE_PROJECT {
            return Err(err(
                "FIREBASE_PROJECT_ID",
                "the development project is not allowed in production (set your Firebase \
                 project's id)"
                    .into(),
            ));
        }
        if self.tiktok_client_key == SANDBOX_CLIENT_KEY {
            return Err(err(
                "TIKTOK_CLIENT_KEY",
                "the sandbox's demo app is not allowed in production".into(),
            ));
        }
        let urls = [
            ("TIKTOK_AUTH_URL", Some(&self.tiktok_auth_url)),
            ("TIKTOK_API_URL", Some(&self.tiktok_api_url)),
            ("TIKTOK_REDIRECT_URI", Some(&self.tiktok_redirect_uri)),
            ("GOOGLE_CERTS_URL", Some(&self.google_certs_url)),
            ("GOOGLE_SIGNIN_URL", self.google_signin_url.as_ref()),
        ];
        for (var, url) in urls {
            if let Some(why) = url.and_then(|u| development_url(u, self.sandbox_bind)) {
                return Err(err(var, format!("{why} is not allowed in production")));
            }
        }
        if self.metrics_token.is_none() {
            return Err(err(
                "METRICS_TOKEN",
                "is required in production (/metrics shows queue and scheduler internals)".into(),
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

/// Why `url` only makes sense on a developer's machine (the sandbox, or this very host), if it
/// does: production must talk to TikTok and Google themselves.
fn development_url(url: &Url, sandbox_bind: SocketAddr) -> Option<&'static str> {
    use std::net::IpAddr;
    let loopback = |ip: IpAddr| match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_unspecified(),
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| v4.is_loopback() || v4.is_unspecified())
        }
    };
    let host_ip = match url.host() {
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            if d == "localhost" || d.ends_with(".localhost") {
                return Some("a localhost address");
            }
            None
        }
        Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        None => return Some("an address without a host"),
    };
    if host_ip.is_some_and(loopback) {
        return Some("a loopback address");
    }
    if host_ip == Some(sandbox_bind.ip())
        && url.port_or_known_default() == Some(sandbox_bind.port())
    {
        return Some("the sandbox's address (SANDBOX_BIND)");
    }
    if url.path().starts_with("/_google/") {
        return Some("the sandbox's Google sign-in page");
    }
    None
}

/// `TRUSTED_PROXY_HOPS` and `TRUSTED_PROXY_HEADER`: (header, hops), the header `None` when no
/// proxy is trusted.
fn proxy_trust(v: &Vars<'_>) -> Result<(Option<String>, usize), ConfigError> {
    let hops: usize = v.parse("TRUSTED_PROXY_HOPS", "0")?;
    if hops > 16 {
        return Err(err(
            "TRUSTED_PROXY_HOPS",
            format!("{hops} proxies in a row is not plausible (at most 16)"),
        ));
    }
    let header = v
        .get("TRUSTED_PROXY_HEADER")
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty());
    if let Some(h) = &header
        && !h
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(err(
            "TRUSTED_PROXY_HEADER",
            format!("{h:?} is not a header name (e.g. x-forwarded-for)"),
        ));
    }
    match (header, hops) {
        (None, 0) => Ok((None, 0)),
        // Before TRUSTED_PROXY_HOPS existed, the header alone meant "believe its first entry",
        // which the client chooses. Refusing beats silently keying every client by the proxy.
        (Some(_), 0) => Err(err(
            "TRUSTED_PROXY_HOPS",
            "must be set with TRUSTED_PROXY_HEADER: the number of proxies in front of the web \
             tier that append to it (1 for one load balancer)"
                .into(),
        )),
        (header, hops) => Ok((
            Some(header.unwrap_or_else(|| "x-forwarded-for".into())),
            hops,
        )),
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
        cron_parked_posts: cron("SCHEDULER_CRON_PARKED_POSTS", "35 */10 * * * *")?,
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

    /// A whole number of days, from one to ten years (zero would refuse or expire everything).
    fn days(&self, k: &'static str, default: &str) -> Result<Duration, ConfigError> {
        let d: u64 = self.parse(k, default)?;
        if d == 0 || d > 366 * 10 {
            return Err(err(k, format!("{d} days: must be between 1 and 3660")));
        }
        Ok(Duration::from_secs(d * 24 * 3600))
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

    /// A production configuration that passes every check; tests take one thing away.
    fn production(keys: &str) -> Vec<(&'static str, String)> {
        [
            ("MKTPOST_ENV", "production"),
            ("PUBLIC_URL", "https://mktpost.example"),
            ("TOKEN_KEYS", keys),
            ("TIKTOK_CLIENT_KEY", "awprodclientkey01"),
            ("TIKTOK_CLIENT_SECRET", "real-secret"),
            (
                "SESSION_SECRET",
                "0123456789abcdef0123456789abcdef-long-enough",
            ),
            ("GOOGLE_SIGNIN_URL", "https://mktpost-prod.web.app/"),
            ("TIKTOK_AUTH_URL", "https://www.tiktok.com"),
            ("TIKTOK_API_URL", "https://open.tiktokapis.com"),
            (
                "GOOGLE_CERTS_URL",
                "https://www.googleapis.com/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com",
            ),
            ("FIREBASE_PROJECT_ID", "mktpost-prod"),
            ("METRICS_TOKEN", "a-long-random-metrics-token"),
        ]
        .into_iter()
        .map(|(k, v)| (k, v.to_owned()))
        .collect()
    }

    fn with_owned(pairs: &[(&'static str, String)]) -> Result<Config, ConfigError> {
        let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        with(&refs)
    }

    /// `base` with `var` set to `value` (or removed when `None`).
    fn changed(
        base: &[(&'static str, String)],
        var: &'static str,
        value: Option<&str>,
    ) -> Vec<(&'static str, String)> {
        let mut out: Vec<_> = base.iter().filter(|(k, _)| *k != var).cloned().collect();
        if let Some(v) = value {
            out.push((var, v.to_owned()));
        }
        out
    }

    #[test]
    fn production_refuses_short_or_default_secrets() {
        let keys = KeyRing::generate_entry("v1");
        let ok = production(&keys);
        assert!(with_owned(&ok).unwrap().is_production());
        let short = changed(&ok, "SESSION_SECRET", Some("too-short"));
        assert_eq!(with_owned(&short).unwrap_err().var, "SESSION_SECRET");
        let dev_keys = changed(&ok, "TOKEN_KEYS", None);
        assert_eq!(with_owned(&dev_keys).unwrap_err().var, "TOKEN_KEYS");
        let no_signin = changed(&ok, "GOOGLE_SIGNIN_URL", None);
        assert_eq!(with_owned(&no_signin).unwrap_err().var, "GOOGLE_SIGNIN_URL");
    }

    #[test]
    fn production_refuses_the_development_firebase_project() {
        let keys = KeyRing::generate_entry("v1");
        let ok = production(&keys);
        for value in [None, Some(DEV_FIREBASE_PROJECT)] {
            let e = with_owned(&changed(&ok, "FIREBASE_PROJECT_ID", value)).unwrap_err();
            assert_eq!(e.var, "FIREBASE_PROJECT_ID", "{value:?}: {e}");
        }
        let e = with_owned(&changed(&ok, "TIKTOK_CLIENT_KEY", None)).unwrap_err();
        assert_eq!(e.var, "TIKTOK_CLIENT_KEY");
    }

    #[test]
    fn production_refuses_sandbox_and_loopback_tiktok_and_google_urls() {
        let keys = KeyRing::generate_entry("v1");
        let ok = production(&keys);
        let vars = [
            "TIKTOK_AUTH_URL",
            "TIKTOK_API_URL",
            "TIKTOK_REDIRECT_URI",
            "GOOGLE_CERTS_URL",
            "GOOGLE_SIGNIN_URL",
        ];
        let bad = [
            "https://localhost/",
            "https://api.localhost:8443/",
            "https://127.0.0.1/",
            "https://127.8.9.10:9000/x",
            "https://[::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://0.0.0.0/",
            "http://127.0.0.1:8090",
            // The sandbox served on a LAN address, and its Google pages wherever they are.
            "https://sandbox.example/_google/signin",
        ];
        for var in vars {
            for url in bad {
                let e = with_owned(&changed(&ok, var, Some(url))).unwrap_err();
                assert_eq!(e.var, var, "{var}={url}: {e}");
            }
            let mut lan_sandbox = changed(&ok, var, Some("https://10.1.2.3:8090/"));
            lan_sandbox.push(("SANDBOX_BIND", "10.1.2.3:8090".into()));
            let e = with_owned(&lan_sandbox).unwrap_err();
            assert_eq!(e.var, var, "{e}");
            assert!(e.message.contains("sandbox"), "{e}");
        }
        // Left at their defaults, the TikTok and Google URLs are the sandbox's.
        for var in ["TIKTOK_AUTH_URL", "TIKTOK_API_URL", "GOOGLE_CERTS_URL"] {
            let e = with_owned(&changed(&ok, var, None)).unwrap_err();
            assert_eq!(e.var, var, "{e}");
        }
        // Development keeps them, of course.
        assert!(with(&[("TIKTOK_API_URL", "http://localhost:8090")]).is_ok());
    }

    #[test]
    fn production_requires_a_metrics_token() {
        let keys = KeyRing::generate_entry("v1");
        let ok = production(&keys);
        for value in [None, Some("")] {
            let e = with_owned(&changed(&ok, "METRICS_TOKEN", value)).unwrap_err();
            assert_eq!(e.var, "METRICS_TOKEN", "{e}");
        }
    }

    #[test]
    fn proxy_trust_counts_hops_and_never_takes_the_header_alone() {
        let c = with(&[]).unwrap();
        assert_eq!((c.trusted_proxy_header, c.trusted_proxy_hops), (None, 0));
        let c = with(&[("TRUSTED_PROXY_HOPS", "1")]).unwrap();
        assert_eq!(c.trusted_proxy_header.as_deref(), Some("x-forwarded-for"));
        assert_eq!(c.trusted_proxy_hops, 1);
        let c = with(&[
            ("TRUSTED_PROXY_HOPS", "2"),
            ("TRUSTED_PROXY_HEADER", "X-Real-Forwarded"),
        ])
        .unwrap();
        assert_eq!(c.trusted_proxy_header.as_deref(), Some("x-real-forwarded"));
        assert_eq!(c.trusted_proxy_hops, 2);
        for (pairs, var) in [
            (
                vec![("TRUSTED_PROXY_HEADER", "x-forwarded-for")],
                "TRUSTED_PROXY_HOPS",
            ),
            (vec![("TRUSTED_PROXY_HOPS", "-1")], "TRUSTED_PROXY_HOPS"),
            (vec![("TRUSTED_PROXY_HOPS", "99")], "TRUSTED_PROXY_HOPS"),
            (
                vec![
                    ("TRUSTED_PROXY_HOPS", "1"),
                    ("TRUSTED_PROXY_HEADER", "x forwarded: for"),
                ],
                "TRUSTED_PROXY_HEADER",
            ),
        ] {
            assert_eq!(with(&pairs).unwrap_err().var, var, "{pairs:?}");
        }
        let c = with(&[("PAGE_RATE_PER_MIN", "7"), ("READYZ_RATE_PER_MIN", "8")]).unwrap();
        assert_eq!((c.page_rate_per_min, c.readyz_rate_per_min), (7, 8));
        assert_eq!(c.avatar_rate_per_min, 120);
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
        let mut vars = production(&keys);
        vars.push(("STORE", "firestore".into()));
        vars.push(("FIRESTORE_PROJECT_ID", "mktpost-prod".into()));
        assert!(with_owned(&vars).is_ok());
        vars.push(("FIRESTORE_EMULATOR_HOST", "127.0.0.1:8686".into()));
        assert_eq!(
            with_owned(&vars).unwrap_err().var,
            "FIRESTORE_EMULATOR_HOST"
        );
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
