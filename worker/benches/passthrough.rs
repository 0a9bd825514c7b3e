//! Pass-through ("post now") throughput and memory (issue #17 §1).
//!
//! A real `mktpost web` process (the binary next to this one in `target/<profile>/`; build it
//! first with `cargo build --release --bin mktpost`) runs against an in-process sandbox, with
//! the SQLite store and the embedded SQLite queue (or Redis) in a temp dir. A worker runs in this
//! process so each post goes on to `published`. `curl` authenticates with an API key that has
//! the `publish` scope, as an agency's script would.
//!
//! Each round generates an MP4-looking file of `--size-mib` (pseudo-random bytes behind a valid
//! `ftyp` + `mdat` header; the *client's* file, on disk) and uploads it twice:
//! - (a) baseline: a fresh `video/init` at the sandbox with the same chunk plan, then one `curl`
//!   process PUTting every chunk straight to TikTok's upload URL (the publish bench's baseline:
//!   one connection, the chunks pre-written to files, same headers);
//! - (b) pass-through: `POST /api/posts` with `"upload": "stream"`, then
//!   `curl -T file -H 'Content-Type: video/mp4'` to `PUT {web}/api/posts/{id}/video`, which the
//!   web process forwards to TikTok chunk by chunk as it arrives; timed until curl gets its 200
//!   (TikTok has every byte).
//!
//! Both are printed as MB/s of the curl process's wall time (the ratio (b)/(a) is the figure,
//! aim ≥ 0.7) and, as in the publish bench, as "steady" MB/s from the sandbox's own chunk
//! records (chunks 2..N between the first and last acceptance).
//!
//! Memory: the web process's peak RSS (`VmHWM`, reset through `/proc/<pid>/clear_refs` before
//! each measured phase) after each 1 GiB pass-through, then with `--concurrent K` uploads of
//! `--concurrent-size-mib` at once (K posts on K accounts, so no account's init pacing refuses
//! one; K curls in parallel), against the aim "< 64 MiB + one chunk per concurrent upload".
//!
//! ```text
//! cargo build --release --bin mktpost
//! cargo bench -p worker --bench passthrough [-- --rounds N] [--size-mib N] [--concurrent K]
//!     [--concurrent-size-mib N] [--redis redis://127.0.0.1:6379/] [--dir /path/for/temp/files]
//!     [--mktpost /path/to/mktpost]
//! ```
//!
//! Defaults: 1 round of 1 GiB; 4 concurrent uploads of 256 MiB. `PASSTHROUGH_BENCH_LOG=info`
//! shows this process's library logs; the web process logs to `<temp dir>/web.log`.

#[path = "common/mp4.rs"]
mod mp4;
#[path = "passthrough/setup.rs"]
mod setup;
#[path = "passthrough/video.rs"]
mod video;
#[path = "passthrough/web.rs"]
mod web;

use anyhow::{Context, Result, anyhow, ensure};
use jobs::config::LogFormat;
use jobs::model::{AccountId, UploadPlan};
use mp4::chunk_path;
use setup::{Setup, Timing, human, largest_chunk, mb_per_s, mib, wait_published};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use video::generate_files;
use web::Web;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
/// Bytes per generator step.
const PIECE: usize = 1 << 20;
/// The most rounds (each is minutes of a shared machine).
const MAX_ROUNDS: u32 = 6;
const CURL: &str = "curl";
/// Longest the web process may take to answer `/healthz`, and a post to be published.
const WEB_START_DEADLINE: Duration = Duration::from_secs(60);
const PUBLISH_DEADLINE: Duration = Duration::from_secs(300);

#[derive(Debug, Clone)]
struct Args {
    rounds: u32,
    size: u64,
    concurrent: usize,
    concurrent_size: u64,
    redis: Option<String>,
    dir: Option<PathBuf>,
    mktpost: Option<PathBuf>,
}

fn args() -> Result<Args> {
    let mut args = Args {
        rounds: 1,
        size: GIB,
        concurrent: 4,
        concurrent_size: 256 * MIB,
        redis: None,
        dir: None,
        mktpost: None,
    };
    let mut it = std::env::args().skip(1);
    let value = |it: &mut std::iter::Skip<std::env::Args>, name: &str| {
        it.next().ok_or_else(|| anyhow!("{name} needs a value"))
    };
    let mib_value = |it: &mut std::iter::Skip<std::env::Args>, name: &str| -> Result<u64> {
        Ok(value(it, name)?.parse::<u64>()? * MIB)
    };
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--rounds" => args.rounds = value(&mut it, "--rounds")?.parse()?,
            "--size-mib" => args.size = mib_value(&mut it, "--size-mib")?,
            "--concurrent" => args.concurrent = value(&mut it, "--concurrent")?.parse()?,
            "--concurrent-size-mib" => {
                args.concurrent_size = mib_value(&mut it, "--concurrent-size-mib")?;
            }
            "--redis" => args.redis = Some(value(&mut it, "--redis")?),
            "--dir" => args.dir = Some(value(&mut it, "--dir")?.into()),
            "--mktpost" => args.mktpost = Some(value(&mut it, "--mktpost")?.into()),
            // `cargo bench` passes `--bench`; ignore what is not ours.
            _ => {}
        }
    }
    ensure!(
        (1..=MAX_ROUNDS).contains(&args.rounds),
        "--rounds must be 1..={MAX_ROUNDS}"
    );
    ensure!(args.size >= 16 * MIB, "--size-mib must be at least 16");
    ensure!(args.concurrent >= 1, "--concurrent must be at least 1");
    ensure!(
        args.concurrent_size > 64 * MIB,
        "--concurrent-size-mib must be over 64 (a smaller video is one whole-file chunk)"
    );
    Ok(args)
}

fn main() -> Result<()> {
    let args = args()?;
    if let Ok(filter) = std::env::var("PASSTHROUGH_BENCH_LOG") {
        jobs::telemetry::init_with_filter(LogFormat::Pretty, std::io::stderr, &filter);
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(bench(args))
}

/// `mktpost` built in this binary's profile: `target/<profile>/mktpost`, next to `deps/`.
fn mktpost_bin(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p.to_owned());
    }
    let exe = std::env::current_exe()?;
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .context("the bench binary has no target dir")?
        .join("mktpost");
    ensure!(
        bin.exists(),
        "{} is missing: build it first in the same profile (`cargo build --release --bin mktpost`)",
        bin.display()
    );
    Ok(bin)
}

async fn bench(args: Args) -> Result<()> {
    let base = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    let tmp = tempfile::Builder::new()
        .prefix("mktpost-passthrough-bench-")
        .tempdir_in(&base)
        .with_context(|| format!("cannot create a temp dir in {}", base.display()))?;
    let bin = mktpost_bin(args.mktpost.as_deref())?;
    setup::print_environment(tmp.path(), &bin, CURL)?;
    let namespace = format!("bench_{}", uuid::Uuid::new_v4().simple());
    let web_slots = args.concurrent.max(8);
    let setup = Setup::new(tmp.path(), args.redis.clone(), &namespace).await?;
    let web = Web::spawn(&setup, &bin, web_slots).await?;
    let result = run(&setup, &web, &args).await;
    if args.redis.is_some()
        && let Err(e) = setup.ctx.queue.purge().await
    {
        println!("warning: could not purge the Redis namespace {namespace}: {e}");
    }
    drop(web);
    setup.stop().await;
    tmp.close()?;
    result
}

struct Round {
    pass_wall: f64,
    curl_wall: f64,
    pass_steady: f64,
    curl_steady: f64,
    web_hwm_kib: u64,
}

async fn run(setup: &Setup, web: &Web, args: &Args) -> Result<()> {
    let plan = setup.plan(args.size)?;
    ensure!(
        plan.total_chunk_count >= 2,
        "a {} video is one chunk: no steady rate; use --size-mib over 64",
        human(args.size)
    );
    let chunk = largest_chunk(&plan);
    println!(
        "\n== {} video: pass-through (curl → web → sandbox) vs curl → sandbox, {} chunks of {} bytes (last {chunk}) ==",
        human(args.size),
        plan.total_chunk_count,
        plan.chunk_size,
    );
    let mut rounds = Vec::new();
    for round in 1..=args.rounds {
        println!("-- round {round}/{} --", args.rounds);
        rounds.push(one_round(setup, web, &plan, round).await?);
    }
    let concurrent = concurrent(setup, web, args).await?;

    println!("\n== summary ==");
    let web_start = mib(web.rss_start_kib);
    let aim_one = 64.0 + chunk as f64 / MIB as f64;
    for (i, r) in rounds.iter().enumerate() {
        println!(
            "round {}: pass-through {:>7.1} MB/s   curl {:>7.1} MB/s   ratio {:.2} (curl wall time; \
             steady chunks 2..N: {:.1} vs {:.1} MB/s, ratio {:.2});   web VmHWM {:.1} MiB",
            i + 1,
            r.pass_wall,
            r.curl_wall,
            r.pass_wall / r.curl_wall,
            r.pass_steady,
            r.curl_steady,
            r.pass_steady / r.curl_steady,
            mib(r.web_hwm_kib),
        );
    }
    let mean = |f: fn(&Round) -> f64| rounds.iter().map(f).sum::<f64>() / rounds.len() as f64;
    println!(
        "throughput (mean of {} round(s)): pass-through {:.1} MB/s, curl {:.1} MB/s, ratio {:.2} (aim >= 0.70)",
        rounds.len(),
        mean(|r| r.pass_wall),
        mean(|r| r.curl_wall),
        mean(|r| r.pass_wall) / mean(|r| r.curl_wall),
    );
    let hwm = rounds.iter().map(|r| r.web_hwm_kib).max().unwrap_or(0);
    println!(
        "web peak RSS (VmHWM), one {} upload: {:.1} MiB (after start-up {web_start:.1} MiB) (aim < {aim_one:.1} MiB = 64 MiB + one {chunk}-byte chunk)",
        human(args.size),
        mib(hwm),
    );
    println!(
        "web peak RSS (VmHWM), {} concurrent {} uploads: {:.1} MiB (aim < {:.1} MiB = 64 MiB + {} chunks of {} bytes); \
         {:.1} MB/s together, curl wall time",
        args.concurrent,
        human(args.concurrent_size),
        mib(concurrent.hwm_kib),
        concurrent.aim_mib,
        args.concurrent,
        concurrent.chunk,
        concurrent.mb_s,
    );
    Ok(())
}

/// Generates the round's file, then runs the baseline and the pass-through (alternating which
/// goes first, so neither always runs on a quieter machine).
async fn one_round(setup: &Setup, web: &Web, plan: &UploadPlan, round: u32) -> Result<Round> {
    let file = setup.dir.join(format!("video-{round}.mp4"));
    let chunk_dir = setup.dir.join(format!("curl-chunks-{round}"));
    let started = Instant::now();
    let sha = generate_files(&file, plan, Some(&chunk_dir), 7 + u64::from(round)).await?;
    println!(
        "generated {} ({} and its chunk files for the baseline) in {:.2} s",
        human(plan.video_size),
        file.display(),
        started.elapsed().as_secs_f64()
    );
    let account = setup.account;
    let (curl, pass) = if round % 2 == 1 {
        let curl = baseline(setup, plan, &chunk_dir, &sha).await?;
        (curl, passthrough(setup, web, account, &file, &sha).await?)
    } else {
        let pass = passthrough(setup, web, account, &file, &sha).await?;
        (baseline(setup, plan, &chunk_dir, &sha).await?, pass)
    };
    let web_hwm_kib = web.hwm_kib();
    std::fs::remove_dir_all(&chunk_dir)?;
    std::fs::remove_file(&file)?;
    let r = Round {
        pass_wall: mb_per_s(plan.video_size, pass.wall),
        curl_wall: mb_per_s(plan.video_size, curl.wall),
        pass_steady: pass.steady_mb_s(),
        curl_steady: curl.steady_mb_s(),
        web_hwm_kib,
    };
    println!(
        "round {round}: pass-through {:.1} MB/s vs curl {:.1} MB/s (curl wall time): ratio {:.2}; \
         steady (chunks 2..N): {:.1} vs {:.1} MB/s, ratio {:.2}; web VmHWM {:.1} MiB",
        r.pass_wall,
        r.curl_wall,
        r.pass_wall / r.curl_wall,
        r.pass_steady,
        r.curl_steady,
        r.pass_steady / r.curl_steady,
        mib(web_hwm_kib),
    );
    Ok(r)
}

/// (a): a fresh `video/init` at the sandbox, then one curl process PUTting every chunk file.
async fn baseline(setup: &Setup, plan: &UploadPlan, chunk_dir: &Path, sha: &str) -> Result<Timing> {
    let (publish_id, url) = setup.init_at_sandbox(plan).await?;
    // curl appends the file name to a URL whose path ends in '/' when uploading; the request
    // target must stay exactly TikTok's URL.
    let path_at = url
        .find("://")
        .and_then(|i| url[i + 3..].find('/').map(|j| i + 3 + j))
        .context("upload URL without a path")?;
    let target = &url[path_at..];
    let mut config = String::new();
    for chunk in jobs::tiktok::chunks(plan) {
        if chunk.index > 0 {
            config.push_str("next\n");
        }
        config.push_str(&format!(
            "url = \"{url}\"\nrequest-target = \"{target}\"\nupload-file = \"{}\"\n\
             header = \"Content-Type: video/mp4\"\nheader = \"Content-Range: bytes {}-{}/{}\"\n\
             header = \"Expect:\"\noutput = \"/dev/null\"\nwrite-out = \"%{{http_code}} \"\n",
            chunk_path(chunk_dir, chunk.index).display(),
            chunk.first,
            chunk.last,
            plan.video_size
        ));
    }
    let config_path = chunk_dir.join("curl.cfg");
    std::fs::write(&config_path, config)?;
    let started = Instant::now();
    let out = tokio::process::Command::new(CURL)
        .args(["--silent", "--show-error", "--config"])
        .arg(&config_path)
        .stdin(std::process::Stdio::null())
        .output()
        .await?;
    let wall = started.elapsed().as_secs_f64();
    ensure!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let codes: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let ok = codes.len() as u64 == plan.total_chunk_count
        && codes.iter().rev().skip(1).all(|c| c == "206")
        && codes.last().map(String::as_str) == Some("201");
    ensure!(ok, "curl got statuses {codes:?}, expected 206… then 201");
    let timing = setup.timing(&publish_id, plan.video_size, sha, wall)?;
    println!(
        "baseline: curl → sandbox {} in {wall:.2} s ({:.1} MB/s); steady {:.1} MB/s",
        human(plan.video_size),
        mb_per_s(plan.video_size, wall),
        timing.steady_mb_s()
    );
    Ok(timing)
}

/// (b): creates a stream post on `account` through the API, PUTs `file` to the web process
/// with curl, then waits until the post is published.
async fn passthrough(
    setup: &Setup,
    web: &Web,
    account: AccountId,
    file: &Path,
    sha: &str,
) -> Result<Timing> {
    let size = std::fs::metadata(file)?.len();
    web.reset_hwm();
    let (id, path) = web.create_stream_post(setup, account).await?;
    let (started, cpu_before) = (Instant::now(), web.cpu_secs());
    let answer = web.put_video(setup, &path, file).await?;
    let wall = started.elapsed().as_secs_f64();
    let (user, system) = web.cpu_secs();
    let (user, system) = (user - cpu_before.0, system - cpu_before.1);
    ensure!(
        answer["state"] == "processing",
        "the PUT answered {answer}, expected the post in processing"
    );
    let post = wait_published(setup, id).await?;
    let publish_id = post.tiktok.publish_id.context("no publish_id")?;
    let timing = setup.timing(&publish_id, size, sha, wall)?;
    println!(
        "pass-through: curl → web → sandbox {} in {wall:.2} s ({:.1} MB/s); steady {:.1} MB/s; \
         published {:.2} s after the 200; web VmHWM {:.1} MiB; web CPU {:.2} s during the PUT \
         (user {user:.2}, system {system:.2}: {:.0}% of one core)",
        human(size),
        mb_per_s(size, wall),
        timing.steady_mb_s(),
        started.elapsed().as_secs_f64() - wall,
        mib(web.hwm_kib()),
        user + system,
        100.0 * (user + system) / wall,
    );
    Ok(timing)
}

struct Concurrent {
    hwm_kib: u64,
    aim_mib: f64,
    chunk: u64,
    mb_s: f64,
}

/// K stream posts on K accounts, K curls at once, all from one file (the page cache serves
/// every reader; the web process still holds K uploads).
async fn concurrent(setup: &Setup, web: &Web, args: &Args) -> Result<Concurrent> {
    let k = args.concurrent;
    let plan = setup.plan(args.concurrent_size)?;
    let chunk = largest_chunk(&plan);
    println!(
        "\n== {k} concurrent {} pass-through uploads (web memory) ==",
        human(args.concurrent_size)
    );
    let file = setup.dir.join("concurrent.mp4");
    let sha = generate_files(&file, &plan, None, 99).await?;
    let mut accounts = Vec::new();
    for i in 0..k {
        accounts.push(setup.connect_new_creator(i).await?);
    }
    web.reset_hwm();
    let mut posts = Vec::new();
    for account in accounts {
        posts.push(web.create_stream_post(setup, account).await?);
    }
    let started = Instant::now();
    let sampler = web.sample_rss(Duration::from_millis(50));
    let puts = posts
        .iter()
        .map(|(_, path)| web.put_video(setup, path, &file));
    let answers = futures::future::try_join_all(puts).await;
    let wall = started.elapsed().as_secs_f64();
    let rss_max = sampler.stop().await;
    for answer in answers? {
        ensure!(answer["state"] == "processing", "a PUT answered {answer}");
    }
    for (id, _) in &posts {
        let post = wait_published(setup, *id).await?;
        let publish_id = post.tiktok.publish_id.context("no publish_id")?;
        setup.timing(&publish_id, args.concurrent_size, &sha, wall)?;
    }
    std::fs::remove_file(&file)?;
    let total = args.concurrent_size * k as u64;
    let hwm_kib = web.hwm_kib();
    println!(
        "{k} × {} through the web process in {wall:.2} s ({:.1} MB/s together); web VmHWM {:.1} MiB, \
         largest sampled VmRSS {:.1} MiB",
        human(args.concurrent_size),
        mb_per_s(total, wall),
        mib(hwm_kib),
        mib(rss_max),
    );
    Ok(Concurrent {
        hwm_kib,
        aim_mib: 64.0 + (k as u64 * chunk) as f64 / MIB as f64,
        chunk,
        mb_s: mb_per_s(total, wall),
    })
}
