//! `mktpost`: the one command-line binary. Thin glue: each subcommand reads the configuration,
//! builds what it needs from the library crates and runs it. It lives at the workspace root so
//! `cargo run -- dev` works from a fresh clone with no `-p`.

use clap::{Parser, Subcommand};
use jobs::config::Config;
use jobs::context::JobContext;
use jobs::queue::Queue;
use std::process::ExitCode;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(
    name = "mktpost",
    version,
    about = "MKT POST: publish videos to TikTok"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Everything in one process on the embedded defaults: web + worker + scheduler + sandbox.
    Dev,
    /// The web tier (HTML pages and JSON API).
    Web,
    /// A worker process running queued jobs.
    Worker,
    /// The scheduler (cron): fires due posts and sweeps.
    Scheduler,
    /// The local TikTok + Google stand-in.
    Sandbox {
        /// Port to listen on (default: the port of SANDBOX_BIND).
        #[arg(long)]
        port: Option<u16>,
    },
    /// Runs the store's migrations and exits.
    Migrate,
    /// Re-seals every stored token and re-wraps every staged video's data key with the current
    /// key (first in TOKEN_KEYS). Exits non-zero while anything is left for a re-run.
    RotateKeys {
        /// Leaked-key procedure: revoke at TikTok, then delete, the tokens this key sealed and
        /// ask those creators to reconnect (staged videos are re-wrapped under the new key).
        #[arg(long)]
        retire: Option<String>,
        /// Rows per batch.
        #[arg(long, default_value_t = 200)]
        batch: u32,
        /// Seconds to wait for an account whose token is being refreshed before skipping it.
        #[arg(long, default_value_t = 10)]
        lock_wait_secs: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::from_env() {
        Ok(c) => Arc::new(c),
        Err(e) => {
            // One line naming the variable; exit code 2 (a usage error, not a crash).
            eprintln!("mktpost: {e}");
            return ExitCode::from(2);
        }
    };
    jobs::telemetry::init(config.server.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mktpost: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "mktpost failed");
            eprintln!("mktpost: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A token cancelled by SIGTERM or Ctrl-C: every component shuts down gracefully on it.
fn shutdown_token() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        worker::shutdown_signal().await;
        tracing::info!("shutting down");
        t.cancel();
    });
    token
}

async fn context(config: &Arc<Config>) -> anyhow::Result<JobContext> {
    std::fs::create_dir_all(&config.server.data_dir)?;
    let store = jobs::store::connect(config.store.database_url.expose()).await?;
    let queue = Queue::connect(config).await?;
    JobContext::new(config.clone(), store, queue).await
}

async fn run(command: Command, config: Arc<Config>) -> anyhow::Result<()> {
    match command {
        Command::Migrate => {
            std::fs::create_dir_all(&config.server.data_dir)?;
            jobs::store::migrate(config.store.database_url.expose()).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::RotateKeys {
            retire,
            batch,
            lock_wait_secs,
        } => {
            let ctx = context(&config).await?;
            let options = jobs::ops::rotate_keys::RotationOptions {
                batch,
                retire,
                lock_wait: std::time::Duration::from_secs(lock_wait_secs),
            };
            let report = jobs::ops::rotate_keys::rotate_keys(&ctx, &options).await?;
            println!(
                "rotate-keys: current key {}: {report}",
                ctx.vault.ring().current_id()
            );
            if report.needs_rerun() {
                anyhow::bail!("some accounts or staged videos are left (see above); re-run");
            }
            Ok(())
        }
        Command::Sandbox { port } => {
            let mut bind = config.server.sandbox_bind;
            if let Some(p) = port {
                bind.set_port(p);
            }
            let sandbox = start_sandbox(&config, bind).await?;
            println!("sandbox listening on {}", sandbox.base_url());
            shutdown_token().cancelled().await;
            sandbox.shutdown().await;
            Ok(())
        }
        Command::Web => {
            let ctx = context(&config).await?;
            let token = shutdown_token();
            web::serve(
                web::state::AppState::new(ctx),
                config.server.bind_addr,
                token.cancelled_owned(),
            )
            .await
        }
        Command::Worker => {
            let ctx = context(&config).await?;
            let queue = ctx.queue.clone();
            worker::run(ctx, queue, shutdown_token().cancelled_owned()).await
        }
        Command::Scheduler => {
            let ctx = context(&config).await?;
            scheduler::run(ctx, shutdown_token().cancelled_owned()).await
        }
        Command::Dev => dev(config).await,
    }
}

async fn start_sandbox(
    config: &Config,
    bind: std::net::SocketAddr,
) -> anyhow::Result<sandbox::SandboxHandle> {
    let cfg = sandbox::SandboxConfig {
        bind,
        firebase_project_id: config.identity.firebase_project_id.clone(),
        redirect_uris: vec![config.tiktok.redirect_uri.to_string()],
        ..Default::default()
    };
    Ok(sandbox::Sandbox::start(cfg).await?)
}

/// All in one process: sandbox, worker, scheduler and web, on the configured store (SQLite under
/// DATA_DIR by default).
async fn dev(config: Arc<Config>) -> anyhow::Result<()> {
    let sandbox = start_sandbox(&config, config.server.sandbox_bind).await?;
    // Photo posts are pulled by TikTok from our capability URLs: the local sandbox fetches them
    // over plain http from this machine, under a prefix verified for its demo app.
    let photos = format!("{}p/", config.server.public_url);
    sandbox
        .update_app(sandbox::DEMO_CLIENT_KEY, |a| {
            a.verified_url_prefixes.push(photos)
        })
        .map_err(|e| anyhow::anyhow!("sandbox app: {e}"))?;
    sandbox.update_knobs(|k| {
        k.pull_allows_http = true;
        k.pull_fetches_photos = true;
    });
    let ctx = context(&config).await?;
    let token = shutdown_token();
    let worker = tokio::spawn(worker::run(
        ctx.clone(),
        ctx.queue.clone(),
        token.clone().cancelled_owned(),
    ));
    let cron = tokio::spawn(scheduler::run(ctx.clone(), token.clone().cancelled_owned()));
    println!(
        "MKT POST is running at {}  (sandbox TikTok/Google at {}; Ctrl-C to stop)",
        config.server.public_url,
        sandbox.base_url()
    );
    let served = web::serve(
        web::state::AppState::new(ctx),
        config.server.bind_addr,
        token.clone().cancelled_owned(),
    )
    .await;
    token.cancel();
    let worked = worker.await?;
    let scheduled = cron.await?;
    sandbox.shutdown().await;
    served.and(worked).and(scheduled)
}
