//! The pass-through bench's world: the sandbox, the store and queue, a worker in this process,
//! the user, their accounts and API key; and the figures read from the sandbox and `/proc`.

use super::{GIB, MIB, PUBLISH_DEADLINE};
use anyhow::{Context, Result, bail, ensure};
use jobs::config::Config;
use jobs::context::JobContext;
use jobs::domain::{accounts, api_keys};
use jobs::model::{
    AccountConnect, AccountId, Actor, GoogleProfile, Post, PostId, PostSettings, PostState,
    PrivacyLevel, UploadPlan, UserId, Workspace,
};
use jobs::queue::Queue;
use jobs::tiktok::{
    self, AccessToken, ChunkPolicy, PostInfo, RefreshToken, SourceInfo, TokenGrant,
};
use sandbox::{DEMO_CLIENT_KEY, DEMO_PUBLIC_OPEN_ID, SandboxConfig, SandboxHandle};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// A `kB` field of `/proc/<pid>/status` (`VmRSS`, `VmHWM`), in KiB; 0 when unreadable.
pub fn proc_status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field)?.strip_prefix(':').map(str::to_owned))
        })
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

pub fn mb_per_s(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / 1e6 / secs.max(1e-9)
}

pub fn human(bytes: u64) -> String {
    if bytes >= GIB && bytes.is_multiple_of(GIB) {
        format!("{} GiB", bytes / GIB)
    } else {
        format!("{} MiB", bytes / MIB)
    }
}

/// The largest chunk of a plan: the last one, which carries the remainder.
pub fn largest_chunk(plan: &UploadPlan) -> u64 {
    tiktok::chunk_at(plan, plan.total_chunk_count - 1).map_or(0, |c| c.len())
}

/// Build profile, CPUs, load, the disk under `dir`, the `mktpost` binary and curl's version.
pub fn print_environment(dir: &Path, bin: &Path, curl: &str) -> Result<()> {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "build: {}; {} CPUs; load average {}",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    if let Ok(out) = std::process::Command::new("df").arg("-h").arg(dir).output() {
        print!("{}", String::from_utf8_lossy(&out.stdout));
    }
    let built = std::fs::metadata(bin)?.modified()?;
    println!(
        "web: {} (built {} ago)",
        bin.display(),
        humantime(built.elapsed().unwrap_or_default())
    );
    let version = std::process::Command::new(curl)
        .arg("--version")
        .output()
        .context("curl is not installed (apt-get install -y curl)")?;
    let version = String::from_utf8_lossy(&version.stdout);
    println!("{}", version.lines().next().unwrap_or("curl ?"));
    println!("temp dir {}", dir.display());
    Ok(())
}

fn humantime(d: Duration) -> String {
    match d.as_secs() {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s => format!("{} h", s / 3600),
    }
}

/// How one upload went: curl's wall time, and the steady rate from the sandbox's records.
pub struct Timing {
    pub wall: f64,
    /// Bytes of the chunks after the first, and the time from the first chunk's acceptance to
    /// the last one's.
    pub steady_bytes: u64,
    pub steady_secs: f64,
}

impl Timing {
    pub fn steady_mb_s(&self) -> f64 {
        mb_per_s(self.steady_bytes, self.steady_secs)
    }
}

// ---------------------------------------------------------------------------------------------
// Sandbox, store, queue, the in-process worker, the accounts.

pub struct Setup {
    pub dir: PathBuf,
    pub sandbox: SandboxHandle,
    pub ctx: JobContext,
    pub user: UserId,
    /// The demo creator's account: every round posts on it.
    pub account: AccountId,
    /// `Authorization: Bearer …` for curl: an API key with the `publish` and `read` scopes.
    pub api_key: String,
    /// A token of its own for the baseline's `video/init` (a separate rate-limit bucket).
    pub curl_token: AccessToken,
    pub settings: PostSettings,
    stop: CancellationToken,
    worker: tokio::task::JoinHandle<Result<()>>,
}

/// SQLite store and staging under `data_dir`, TikTok at the sandbox, the embedded queue unless
/// `redis` is given. The web process gets the same through its environment (`Web::spawn`).
fn bench_config(dir: &Path, api_url: &str, redis: Option<&str>, ns: &str) -> Result<Config> {
    let mut config = Config::for_tests(dir);
    config.tiktok.api_url = api_url.parse()?;
    config.tiktok.auth_url = api_url.parse()?;
    config.queue.redis_url = redis.map(jobs::config::Secret::new);
    config.queue.namespace = ns.to_owned();
    config.tiktok.status_poll_max_interval_secs = 1;
    Ok(config)
}

impl Setup {
    pub async fn new(dir: &Path, redis: Option<String>, namespace: &str) -> Result<Self> {
        let started = Instant::now();
        let sandbox = sandbox::Sandbox::start(SandboxConfig::default()).await?;
        sandbox.update_knobs(|k| {
            k.processing_delay_ms = 100;
            k.moderation_delay_ms = 50;
            // The sandbox only hashes the bytes it receives.
            k.keep_upload_bytes_max = 0;
            // Every round and every concurrent upload is a post; none of TikTok's caps is
            // what is measured here.
            k.rate_limits.init = 1_000;
            k.unaudited_active_user_cap = 1_000;
        });
        sandbox.update_creator(DEMO_PUBLIC_OPEN_ID, |c| c.daily_post_cap = 1_000)?;
        let config = Arc::new(bench_config(
            dir,
            sandbox.base_url(),
            redis.as_deref(),
            namespace,
        )?);
        let store = jobs::store::connect(config.store.database_url.expose()).await?;
        let queue = Queue::connect(&config).await?;
        let ctx = JobContext::new(config, store, queue).await?;
        let user = ctx
            .store
            .upsert_user(&GoogleProfile {
                google_uid: format!("bench-{namespace}"),
                email: "bench@example.com".into(),
                name: "Pass-through bench".into(),
                picture: None,
            })
            .await?;
        let key = api_keys::create(
            &*ctx.store,
            Actor::personal(user.id),
            "bench",
            &["publish", "read"],
        )
        .await?;
        let curl_token = AccessToken::new(
            sandbox
                .issue_token(DEMO_CLIENT_KEY, DEMO_PUBLIC_OPEN_ID, &accounts::SCOPES)?
                .access_token,
        );
        let stop = CancellationToken::new();
        let worker = tokio::spawn(worker::run(
            ctx.clone(),
            ctx.queue.clone(),
            stop.clone().cancelled_owned(),
        ));
        let mut setup = Self {
            dir: dir.to_owned(),
            sandbox,
            ctx,
            user: user.id,
            account: AccountId::default(),
            api_key: key.plaintext,
            curl_token,
            settings: PostSettings {
                title: "pass-through bench #rust".into(),
                privacy_level: PrivacyLevel::PublicToEveryone,
                disable_comment: false,
                disable_duet: false,
                disable_stitch: false,
                brand_content_toggle: false,
                brand_organic_toggle: false,
                is_aigc: false,
                video_cover_timestamp_ms: None,
            },
            stop,
            worker,
        };
        setup.account = setup.connect(DEMO_PUBLIC_OPEN_ID, "Bench creator").await?;
        println!(
            "setup: sandbox at {}, store, queue, worker, user, account and API key in {:.2} s",
            setup.sandbox.base_url(),
            started.elapsed().as_secs_f64()
        );
        Ok(setup)
    }

    /// Connects the creator `open_id` as the OAuth callback would, with tokens the sandbox
    /// issued.
    pub async fn connect(&self, open_id: &str, name: &str) -> Result<AccountId> {
        let issued = self
            .sandbox
            .issue_token(DEMO_CLIENT_KEY, open_id, &accounts::SCOPES)?;
        let grant = TokenGrant {
            access_token: AccessToken::new(issued.access_token.clone()),
            refresh_token: RefreshToken::new(issued.refresh_token.clone()),
            expires_in: issued.expires_in,
            refresh_expires_in: issued.refresh_expires_in,
            open_id: issued.open_id.clone(),
            scope: tiktok::split_scopes(&issued.scope),
            token_type: issued.token_type.clone(),
        };
        let id = AccountId::default();
        let connect = AccountConnect {
            id,
            open_id: grant.open_id.clone(),
            union_id: None,
            display_name: name.into(),
            username: None,
            avatar_url: None,
            scopes: grant.scope.clone(),
            tokens: accounts::seal_grant(&self.ctx, id, &grant, chrono::Utc::now()),
        };
        let ws = Workspace::personal_id(self.user);
        let account = self
            .ctx
            .store
            .connect_account(ws, self.user, &connect)
            .await?;
        Ok(account.id)
    }

    /// A new sandbox creator, connected: one per concurrent upload, so no account's init
    /// pacing (6 a minute) refuses one of them.
    pub async fn connect_new_creator(&self, i: usize) -> Result<AccountId> {
        let creator = self.sandbox.create_creator(sandbox::Creator {
            display_name: format!("Concurrent creator {i}"),
            username: format!("bench.concurrent.{i}"),
            daily_post_cap: 1_000,
            ..Default::default()
        })?;
        self.connect(&creator.open_id, &creator.display_name).await
    }

    pub fn plan(&self, size: u64) -> Result<UploadPlan> {
        let config = &self.ctx.config.tiktok;
        Ok(tiktok::plan(
            size,
            &ChunkPolicy {
                single_chunk_max: config.single_chunk_max,
                chunk_size: config.chunk_size,
            },
        )?)
    }

    /// A `video/init` with the curl token: `(publish_id, upload_url)`.
    pub async fn init_at_sandbox(&self, plan: &UploadPlan) -> Result<(String, String)> {
        let init = self
            .ctx
            .tiktok
            .init_direct_post(
                &self.curl_token,
                &PostInfo::from(&self.settings),
                &SourceInfo::file_upload(plan),
            )
            .await?;
        let url = init.upload_url.context("init returned no upload URL")?;
        Ok((init.publish_id, url))
    }

    /// Reads the upload's steady rate from the sandbox and checks it received exactly `sha`.
    pub fn timing(&self, publish_id: &str, size: u64, sha: &str, wall: f64) -> Result<Timing> {
        let records = self.sandbox.records();
        let post = records
            .post(publish_id)
            .with_context(|| format!("the sandbox has no publish {publish_id}"))?;
        ensure!(
            post.sha256.as_deref() == Some(sha),
            "the sandbox received other bytes ({:?}, expected {sha})",
            post.sha256
        );
        let accepted: Vec<_> = records
            .chunks
            .iter()
            .filter(|c| c.publish_id == publish_id && matches!(c.status, 201 | 206))
            .collect();
        let (Some(first), Some(last)) = (accepted.first(), accepted.last()) else {
            bail!("no accepted chunk for {publish_id}");
        };
        ensure!(last.status == 201, "the last chunk was not a 201");
        let total: u64 = accepted.iter().map(|c| c.bytes).sum();
        ensure!(total == size, "{total} bytes accepted, expected {size}");
        let steady = last.at - first.at;
        Ok(Timing {
            wall,
            steady_bytes: total - first.bytes,
            steady_secs: steady.num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6,
        })
    }

    pub async fn stop(self) {
        self.stop.cancel();
        match self.worker.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => println!("warning: the worker stopped with {e:#}"),
            Err(e) => println!("warning: the worker task failed: {e}"),
        }
    }
}

/// Waits until the in-process worker has seen the post through to `published`.
pub async fn wait_published(setup: &Setup, id: PostId) -> Result<Post> {
    let started = Instant::now();
    let ws = Workspace::personal_id(setup.user);
    loop {
        let post = setup.ctx.store.post(ws, id).await?;
        match post.state {
            PostState::Published => return Ok(post),
            PostState::Failed | PostState::Cancelled | PostState::NeedsReconnect => {
                bail!("post {id} ended {} ({:?})", post.state, post.error_message)
            }
            _ if started.elapsed() > PUBLISH_DEADLINE => {
                bail!("post {id} still {} after {PUBLISH_DEADLINE:?}", post.state)
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}
