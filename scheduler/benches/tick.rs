//! The scheduler's tick against a real SQLite store (temp file) and a real Redis queue (random
//! namespace, removed afterwards):
//!
//! 1. cost: 1,000 due posts among 10,000 and among 100,000 scheduled posts (median of 5 rounds,
//!    each a fresh batch of 1,000); the time to enqueue the due ones should not grow with the
//!    scheduled ones (the due index is a partial index on `scheduled` posts ordered by time, read
//!    from its start);
//! 2. lateness: 2,000 posts falling due over 20 s while the tick runs every 250 ms (the default),
//!    measured as "push into Redis completed" minus `scheduled_at`.
//!
//! Run: `cargo bench -p scheduler --bench tick` (Redis at `TEST_REDIS_URL`, default
//! 127.0.0.1:6379). `BENCH_QUICK=1` uses 10x fewer posts.

use chrono::{DateTime, Duration, Utc};
use jobs::config::{Config, Secret};
use jobs::context::JobContext;
use jobs::handlers::publish;
use jobs::model::{AccountId, GoogleProfile, Post, PostId, PostState, UserId};
use jobs::queue::Queue;
use jobs::store::DynStore;
use jobs::store::conformance;
use scheduler::{SchedulerSettings, enqueue_due_posts};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;
use tokio::time::MissedTickBehavior;

fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into())
}

fn post(user: UserId, at: DateTime<Utc>) -> Post {
    Post {
        scheduled_at: Some(at),
        scheduled_tz: Some("Europe/Berlin".into()),
        ..conformance::post_for(user, AccountId::new(), PostState::Scheduled)
    }
}

struct Bench {
    ctx: JobContext,
    settings: SchedulerSettings,
    user: UserId,
    _dir: tempfile::TempDir,
}

impl Bench {
    async fn new() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut config = Config::for_tests(dir.path());
        config.queue.redis_url = Some(Secret::new(redis_url()));
        config.queue.namespace = format!("bench_{}", uuid::Uuid::new_v4().simple());
        let config = Arc::new(config);
        let store = jobs::store::connect(config.store.database_url.expose()).await?;
        let queue = Queue::connect(&config).await?;
        let ctx = JobContext::new(config.clone(), store, queue).await?;
        let user = ctx
            .store
            .upsert_user(&GoogleProfile {
                google_uid: "bench".into(),
                email: "bench@example.test".into(),
                name: "Bench".into(),
                picture: None,
            })
            .await?
            .id;
        let mut settings = SchedulerSettings::from_config(&config);
        if let Some(n) = std::env::var("BENCH_CONCURRENCY")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            settings.enqueue_concurrency = n;
        }
        Ok(Self {
            settings,
            ctx,
            user,
            _dir: dir,
        })
    }

    /// Inserts posts scheduled at `at(i)`, four writers at once (SQLite serialises the writes;
    /// the others prepare the next row meanwhile).
    async fn insert(
        &self,
        n: usize,
        at: impl Fn(usize) -> DateTime<Utc>,
    ) -> anyhow::Result<HashSet<PostId>> {
        let posts: Vec<Post> = (0..n).map(|i| post(self.user, at(i))).collect();
        let ids = posts.iter().map(|p| p.id).collect();
        let chunks: Vec<Vec<Post>> = posts
            .chunks(n.div_ceil(4).max(1))
            .map(<[Post]>::to_vec)
            .collect();
        let mut tasks = tokio::task::JoinSet::new();
        for chunk in chunks {
            let store: DynStore = self.ctx.store.clone();
            tasks.spawn(async move {
                for p in chunk {
                    store.create_post(&p).await?;
                }
                Ok::<_, jobs::store::StoreError>(())
            });
        }
        while let Some(r) = tasks.join_next().await {
            r??;
        }
        Ok(ids)
    }

    async fn cleanup(&self) {
        let _ = self.ctx.queue.purge().await;
    }
}

/// Enqueues everything due at `now`, batch after batch, as one run of the tick loop does.
async fn drain(b: &Bench, now: DateTime<Utc>) -> anyhow::Result<(usize, std::time::Duration)> {
    let started = Instant::now();
    let mut enqueued = 0;
    loop {
        let r = enqueue_due_posts(&b.ctx, &b.settings, now).await?;
        enqueued += r.enqueued.len();
        if !r.more {
            return Ok((enqueued, started.elapsed()));
        }
    }
}

/// Rounds of the due tick per size: on a shared 2-core machine one run is noise, the median of
/// several is a figure.
const ROUNDS: usize = 5;

/// `total` scheduled posts, of which `ROUNDS` batches of `due` fall due 10 minutes apart; each
/// round drains one batch (`now` moved to its end). Returns the median drain time.
async fn tick_cost(total: usize, due: usize) -> anyhow::Result<(std::time::Duration, Bench)> {
    let b = Bench::new().await?;
    let now = Utc::now();
    let round_ms: i64 = 600_000;
    let base = now - Duration::milliseconds(round_ms * ROUNDS as i64);
    let started = Instant::now();
    // Future posts spread over the next 30 days, due ones over the last ROUNDS x 10 minutes.
    b.insert(total - due * ROUNDS, |i| {
        now + Duration::seconds(60 + (i as i64 * 2_592_000) / total as i64)
    })
    .await?;
    b.insert(due * ROUNDS, |i| {
        let (round, k) = ((i / due) as i64, (i % due) as i64);
        base + Duration::milliseconds(round * round_ms + 1 + k * (round_ms - 1) / due as i64)
    })
    .await?;
    println!(
        "  setup: {total} scheduled posts ({} due, in {ROUNDS} rounds of {due}) inserted in {:.1} s",
        due * ROUNDS,
        started.elapsed().as_secs_f64()
    );
    // A running system's WAL is checkpointed; the bulk load above leaves a long one behind.
    {
        use sqlx::Connection;
        let mut c =
            sqlx::SqliteConnection::connect(b.ctx.config.store.database_url.expose()).await?;
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&mut c)
            .await?;
        c.close().await?;
    }
    // Warm the page cache and the connection pool the way a running scheduler has them.
    enqueue_due_posts(&b.ctx, &b.settings, base).await?;
    let mut times = Vec::new();
    let mut queries = Vec::new();
    for round in 0..ROUNDS {
        let at = base + Duration::milliseconds((round as i64 + 1) * round_ms);
        // The index read alone (what grows with due posts only), then the whole tick.
        let q = Instant::now();
        b.ctx.store.due_posts(at, b.settings.due_batch).await?;
        queries.push(q.elapsed());
        let (enqueued, took) = drain(&b, at).await?;
        anyhow::ensure!(
            enqueued == due,
            "round {round}: enqueued {enqueued} of {due}"
        );
        times.push(took);
    }
    let pending = b.ctx.queue.stats(publish::NAME).await?.pending;
    anyhow::ensure!(
        pending == (due * ROUNDS) as u64,
        "queue holds {pending} of {}",
        due * ROUNDS
    );
    // The same tick with nothing due: the idle cost, paid four times a second.
    let idle_started = Instant::now();
    for _ in 0..100 {
        enqueue_due_posts(&b.ctx, &b.settings, now).await?;
    }
    let idle = idle_started.elapsed() / 100;
    times.sort_unstable();
    queries.sort_unstable();
    let median = times[ROUNDS / 2];
    let ms = |d: &std::time::Duration| format!("{:.0}", d.as_secs_f64() * 1e3);
    println!(
        "  due-index read ({} rows): {:.1} ms median",
        b.settings.due_batch,
        queries[ROUNDS / 2].as_secs_f64() * 1e3
    );
    println!(
        "  tick: {due} due posts enqueued in {} ms median ({:.0} µs per post; rounds {} ms); idle tick {:.0} µs",
        ms(&median),
        median.as_secs_f64() * 1e6 / due as f64,
        times.iter().map(ms).collect::<Vec<_>>().join("/"),
        idle.as_secs_f64() * 1e6
    );
    Ok((median, b))
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Posts fall due over `window` while a tick loop like `Scheduler::run`'s runs every
/// `settings.tick`; lateness is measured when the push into Redis has completed.
async fn lateness(b: &Bench, n: usize, window_ms: i64) -> anyhow::Result<Vec<i64>> {
    let start = Utc::now() + Duration::seconds(2);
    let ours = b
        .insert(n, |i| {
            start + Duration::milliseconds(i as i64 * window_ms / n as i64)
        })
        .await?;
    let mut ticker = tokio::time::interval(b.settings.tick);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut late = Vec::with_capacity(n);
    let deadline = Instant::now() + std::time::Duration::from_millis(window_ms as u64 + 30_000);
    while late.len() < n && Instant::now() < deadline {
        ticker.tick().await;
        loop {
            let r = enqueue_due_posts(&b.ctx, &b.settings, Utc::now()).await?;
            let pushed = Utc::now();
            // Only this run's posts: the long-range ones of the cost run may fall due meanwhile.
            late.extend(
                r.enqueued
                    .iter()
                    .filter(|e| ours.contains(&e.post.post_id))
                    .map(|e| (pushed - e.post.scheduled_at).num_milliseconds()),
            );
            if !r.more {
                break;
            }
        }
    }
    anyhow::ensure!(late.len() == n, "only {} of {n} enqueued", late.len());
    late.sort_unstable();
    Ok(late)
}

fn main() -> anyhow::Result<()> {
    let quick = std::env::var_os("BENCH_QUICK").is_some();
    let (small, large, due) = if quick {
        (1_000, 10_000, 100)
    } else {
        (10_000, 100_000, 1_000)
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        println!("tick cost, SQLite store (temp file) + Redis queue, release build:");
        println!("{small} scheduled:");
        let (t_small, b_small) = tick_cost(small, due).await?;
        b_small.cleanup().await;
        println!("{large} scheduled:");
        let (t_large, b_large) = tick_cost(large, due).await?;
        println!(
            "ratio of medians {large}/{small}: {:.2} (1.0 = the tick's cost does not depend on all scheduled posts)",
            t_large.as_secs_f64() / t_small.as_secs_f64()
        );

        let n = if quick { 200 } else { 2_000 };
        println!(
            "lateness: {n} posts falling due over 20 s among {large} scheduled, tick every {} ms:",
            b_large.settings.tick.as_millis()
        );
        let late = lateness(&b_large, n, 20_000).await;
        b_large.cleanup().await;
        let late = late?;
        println!(
            "  enqueue time - scheduled time: min {} ms, p50 {} ms, p90 {} ms, p99 {} ms, max {} ms",
            late[0],
            percentile(&late, 0.5),
            percentile(&late, 0.9),
            percentile(&late, 0.99),
            late[late.len() - 1]
        );
        let over = late.iter().filter(|l| **l > 1000).count();
        println!("  enqueued more than 1 s late: {over} of {n}");
        anyhow::Ok(())
    })
}
