//! One staged video to 20 accounts: a post group (one upload, `post_groups::create`, what
//! `POST /api/media` + `POST /api/post-groups` run) against 20 single posts each from its own
//! staged upload of the same bytes (20 × `POST /api/media` + `POST /api/posts`), in one run, on
//! 20 fresh sandbox creators connected as the OAuth callback would.
//!
//! For each side: wall time from the first byte staged to every post published (one worker
//! process runs all 20, reporting its peak RSS; the time to the sandbox accepting the last chunk
//! is printed too, as the tail after it is the status polls' cadence), the staging directory's size sampled every
//! 20 ms (its peak is what the disk had to hold) and the sum of the staged files, and the
//! sandbox's `creator_info.query` calls made while the posts were created (a group makes one per
//! account, like a single post does).

use super::{MIB, Setup, connect, human, mb_per_s, mib, proc_status_kib, run_probe, stage};
use anyhow::{Context, Result, ensure};
use jobs::domain::post_groups::{self, Fields, NewGroup, Target};
use jobs::domain::posts::{self, NewPost};
use jobs::model::{AccountId, Actor, Media, PostId, Workspace};
use jobs::tiktok::ChunkPolicy;
use sandbox::DEMO_PUBLIC_OPEN_ID;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub const DEFAULT_SIZE_MIB: u64 = 16;
const CREATORS: usize = 20;
/// Both sides stage the same bytes.
const SEED: u64 = 23;
/// TikTok's smallest chunk and a single-chunk limit of two chunks, so a video of a few MiB is
/// uploaded in several chunk PUTs (the default plan would send it whole).
const CHUNKS: ChunkPolicy = ChunkPolicy {
    chunk_size: 5_000_000,
    single_chunk_max: 10_000_000,
};
const TITLE: &str = "one video, twenty accounts #rust";

struct Side {
    wall_secs: f64,
    /// From the first byte staged to the sandbox accepting the last chunk of the last post:
    /// the data path alone, without the status polls' cadence.
    upload_secs: f64,
    staging_peak: u64,
    staged_files: u64,
    creator_info: BTreeMap<String, u64>,
    vm_hwm_kib: u64,
    left_on_disk: u64,
}

pub async fn run(setup: &Setup, size: u64, rounds: u32) -> Result<()> {
    ensure!(
        size > CHUNKS.single_chunk_max,
        "--group-size must exceed {} bytes to be uploaded in chunks",
        CHUNKS.single_chunk_max
    );
    let started = Instant::now();
    let mut accounts = Vec::with_capacity(CREATORS);
    let demo = setup
        .sandbox
        .creator(DEMO_PUBLIC_OPEN_ID)
        .context("the sandbox's public demo creator")?;
    for i in 0..CREATORS {
        let mut c = demo.clone();
        c.open_id = format!("-000sandbox-bench-group-{i}");
        c.union_id = String::new();
        c.avatar_url = String::new();
        c.username = format!("benchgroup{i}");
        let c = setup.sandbox.create_creator(c)?;
        let id = connect(
            &setup.ctx,
            &setup.sandbox,
            setup.user,
            &c.open_id,
            &format!("Bench creator {i}"),
        )
        .await?;
        accounts.push((id, c.open_id));
    }
    println!(
        "\n== one {} video to {CREATORS} accounts: a post group vs {CREATORS} single posts, \
         chunk PUTs of {} bytes ==\n{CREATORS} sandbox creators connected in {:.2} s",
        human(size),
        CHUNKS.chunk_size,
        started.elapsed().as_secs_f64()
    );

    let mut results = Vec::new();
    for round in 1..=rounds {
        // Alternate the order so neither side always runs first (cold caches, a busy machine).
        let group_first = round % 2 == 1;
        let mut pair = Vec::new();
        for as_group in [group_first, !group_first] {
            println!(
                "-- round {round}/{rounds}: {} --",
                if as_group {
                    format!("(a) one upload, one group of {CREATORS} targets")
                } else {
                    format!("(b) {CREATORS} uploads, {CREATORS} single posts")
                }
            );
            pair.push(side(setup, &accounts, size, as_group).await?);
        }
        if !group_first {
            pair.reverse();
        }
        let singles = pair.pop().context("two sides")?;
        let group = pair.pop().context("two sides")?;
        results.push((group, singles));
    }

    println!(
        "\n== summary: {CREATORS} accounts, {} video ==",
        human(size)
    );
    for (round, (group, singles)) in results.iter().enumerate() {
        println!("round {}:", round + 1);
        for (name, s) in [("(a) group", group), ("(b) singles", singles)] {
            println!(
                "  {name:<12} wall {:>6.2} s (last chunk at {:>6.2} s)   staging peak {:>7.1} MiB   staged files {:>7.1} MiB   \
                 worker VmHWM {:>5.1} MiB   creator_info at creation {} ({} accounts, max {} each)   \
                 left in staging {} B",
                s.wall_secs,
                s.upload_secs,
                s.staging_peak as f64 / MIB as f64,
                s.staged_files as f64 / MIB as f64,
                mib(s.vm_hwm_kib),
                s.creator_info.values().sum::<u64>(),
                s.creator_info.len(),
                s.creator_info.values().max().copied().unwrap_or(0),
                s.left_on_disk,
            );
        }
        println!(
            "  ratio (a)/(b): wall time {:.2} (to the last chunk {:.2}); staging peak {:.3} (1/{:.1}); staged files {:.3} \
             (1/{:.1}); worker VmHWM {:.2}",
            group.wall_secs / singles.wall_secs,
            group.upload_secs / singles.upload_secs,
            group.staging_peak as f64 / singles.staging_peak.max(1) as f64,
            singles.staging_peak as f64 / group.staging_peak.max(1) as f64,
            group.staged_files as f64 / singles.staged_files.max(1) as f64,
            singles.staged_files as f64 / group.staged_files.max(1) as f64,
            group.vm_hwm_kib as f64 / singles.vm_hwm_kib.max(1) as f64,
        );
        println!(
            "  throughput to TikTok: (a) {:.1} MB/s, (b) {:.1} MB/s ({CREATORS} × {} over the wall time)",
            mb_per_s(size * CREATORS as u64, group.wall_secs),
            mb_per_s(size * CREATORS as u64, singles.wall_secs),
            human(size)
        );
    }
    Ok(())
}

/// One side: stages (once for the group, once per post otherwise), creates the posts, then runs
/// a worker process until all are published.
async fn side(
    setup: &Setup,
    accounts: &[(AccountId, String)],
    size: u64,
    as_group: bool,
) -> Result<Side> {
    let staging_dir = setup.dir.join("staging");
    let sampler = Sampler::start(staging_dir.clone());
    let actor = Actor::personal(setup.user);
    let started = Instant::now();
    let started_at = chrono::Utc::now();
    let mut staged = Vec::new();
    let mut created = Duration::ZERO;
    let before = creator_info_calls(setup);
    let post_ids: Vec<PostId> = if as_group {
        let (media, _sha) = stage(setup, size, SEED, None).await?;
        staged.push(media.clone());
        let t = Instant::now();
        let group = post_groups::create(
            &setup.ctx,
            actor,
            NewGroup {
                media_id: Some(media.id.to_string()),
                video_url: None,
                post_mode: None,
                shared: Fields {
                    title: Some(TITLE.into()),
                    privacy_level: Some("PUBLIC_TO_EVERYONE".into()),
                    ..Fields::default()
                },
                targets: accounts
                    .iter()
                    .map(|(id, _)| Target {
                        account_id: id.to_string(),
                        overrides: Fields::default(),
                    })
                    .collect(),
            },
            None,
        )
        .await?;
        created += t.elapsed();
        group.posts.iter().map(|p| p.value.id).collect()
    } else {
        let mut ids = Vec::with_capacity(accounts.len());
        for (account, _) in accounts {
            let (media, _sha) = stage(setup, size, SEED, None).await?;
            staged.push(media.clone());
            let t = Instant::now();
            let post =
                posts::create(&setup.ctx, actor, single(*account, &media), None, None).await?;
            created += t.elapsed();
            ids.push(post.value.id);
        }
        ids
    };
    let creator_info = diff(&creator_info_calls(setup), &before);
    let staged_files = staged
        .iter()
        .map(|m| file_size(&staging_dir.join(&m.object_key)))
        .sum();
    println!(
        "{} post(s) created in {:.2} s ({:.2} s since the first byte staged); \
         creator_info.query calls: {}; starting a worker process",
        post_ids.len(),
        created.as_secs_f64(),
        started.elapsed().as_secs_f64(),
        creator_info.values().sum::<u64>()
    );
    let probe = run_probe(setup, &post_ids, Some(CHUNKS)).await?;
    let wall_secs = started.elapsed().as_secs_f64();
    let staging_peak = sampler.stop();
    ensure!(
        probe.state == "published",
        "a post ended {} ({:?})",
        probe.state,
        probe.error
    );
    let (init_spread, last_chunk) = verify(setup, &post_ids, size).await?;
    let upload_secs = super::secs(last_chunk - started_at);
    // The group checks each account against its creator once, however many targets.
    ensure!(
        !as_group
            || creator_info.len() == accounts.len()
                && accounts
                    .iter()
                    .all(|(_, open_id)| creator_info.get(open_id) == Some(&1)),
        "the group's creator_info calls per account: {creator_info:?}"
    );
    let left_on_disk = dir_size(&staging_dir);
    println!(
        "all {} published {wall_secs:.2} s after the first byte staged (last chunk accepted at \
         {upload_secs:.2} s); staging peak {:.1} MiB; \
         worker VmHWM {:.1} MiB; bench process VmHWM {:.1} MiB; first to last video/init \
         {init_spread:.2} s",
        post_ids.len(),
        staging_peak as f64 / MIB as f64,
        mib(probe.vm_hwm_kib),
        mib(proc_status_kib("self", "VmHWM")),
    );
    Ok(Side {
        wall_secs,
        upload_secs,
        staging_peak,
        staged_files,
        creator_info,
        vm_hwm_kib: probe.vm_hwm_kib,
        left_on_disk,
    })
}

fn single(account: AccountId, media: &Media) -> NewPost {
    NewPost {
        title: TITLE.into(),
        privacy_level: Some(jobs::model::PrivacyLevel::PublicToEveryone),
        ..NewPost::staged(account, media.id)
    }
}

/// Every post reached PUBLISH_COMPLETE on the sandbox, with all of the video's bytes, in chunks;
/// returns the seconds from the first `video/init` to the last, and when the last chunk of all
/// was accepted.
async fn verify(
    setup: &Setup,
    post_ids: &[PostId],
    size: u64,
) -> Result<(f64, chrono::DateTime<chrono::Utc>)> {
    let records = setup.sandbox.records();
    let mut digests = Vec::new();
    let mut inits = Vec::new();
    let mut last_chunk = chrono::DateTime::<chrono::Utc>::MIN_UTC;
    for &id in post_ids {
        let post = setup
            .ctx
            .store
            .post(Workspace::personal_id(setup.user), id)
            .await?;
        let publish_id = post
            .tiktok
            .publish_id
            .context("a post without publish_id")?;
        let record = records
            .post(&publish_id)
            .with_context(|| format!("the sandbox has no publish {publish_id}"))?;
        ensure!(
            record.status == "PUBLISH_COMPLETE" && record.uploaded_bytes == size,
            "publish {publish_id}: {} with {} of {size} bytes",
            record.status,
            record.uploaded_bytes
        );
        ensure!(
            record.total_chunk_count.unwrap_or(0) > 1,
            "publish {publish_id} was not uploaded in chunks"
        );
        digests.push(record.sha256.clone());
        if let Some(at) = records
            .chunks
            .iter()
            .filter(|c| c.publish_id == publish_id && c.status == 201)
            .map(|c| c.at)
            .max()
        {
            last_chunk = last_chunk.max(at);
        }
        inits.push(record.created_at);
    }
    ensure!(
        digests.windows(2).all(|w| w[0] == w[1]) && digests[0].is_some(),
        "the posts received different bytes"
    );
    let (first, last) = (inits.iter().min(), inits.iter().max());
    let spread = match (first, last) {
        (Some(a), Some(b)) => super::secs(*b - *a),
        _ => 0.0,
    };
    Ok((spread, last_chunk))
}

fn creator_info_calls(setup: &Setup) -> BTreeMap<String, u64> {
    setup
        .sandbox
        .records()
        .call_counts
        .get("creator_info.query")
        .map(|c| c.by_open_id.clone())
        .unwrap_or_default()
}

fn diff(after: &BTreeMap<String, u64>, before: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    after
        .iter()
        .filter_map(|(k, &v)| {
            let d = v - before.get(k).copied().unwrap_or(0);
            (d > 0).then(|| (k.clone(), d))
        })
        .collect()
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// Bytes of the files under `dir` (0 when it does not exist).
fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

/// Samples the staging directory's size on a thread of its own, keeping the peak.
struct Sampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: std::thread::JoinHandle<()>,
}

impl Sampler {
    fn start(dir: PathBuf) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(0));
        let thread = std::thread::spawn({
            let (stop, peak) = (stop.clone(), peak.clone());
            move || {
                while !stop.load(Ordering::Relaxed) {
                    peak.fetch_max(dir_size(&dir), Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        });
        Self { stop, peak, thread }
    }

    fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        self.peak.load(Ordering::Relaxed)
    }
}
