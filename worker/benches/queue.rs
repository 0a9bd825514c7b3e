//! Queue throughput on Redis next to the raw Redis round-trip rate measured in the same run:
//! N no-op jobs pushed with `push_bulk` and completed by a worker (production settings, see
//! `--concurrency`), then N sequential `PING`s on one connection.
//!
//! `cargo bench -p worker --bench queue -- --jobs 2000 [--concurrency 8] [--redis redis://…]`
//!
//! Uses a random namespace (`bench_<random>`) and deletes its keys afterwards.

use apalis::prelude::Data;
use jobs::config::Config;
use jobs::queue::{Job, JobError, Queue};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use worker::{Registry, WorkerSettings};

#[derive(Debug, Serialize, Deserialize)]
struct NoOp {
    n: u32,
}

impl Job for NoOp {
    const NAME: &'static str = "bench_noop";
}

#[derive(Default)]
struct Progress {
    done: AtomicUsize,
    target: AtomicUsize,
    all_done: Notify,
}

async fn noop(_job: NoOp, progress: Data<Arc<Progress>>) -> Result<(), JobError> {
    let done = progress.done.fetch_add(1, Ordering::SeqCst) + 1;
    if done == progress.target.load(Ordering::SeqCst) {
        progress.all_done.notify_one();
    }
    Ok(())
}

struct Args {
    jobs: usize,
    concurrency: Option<usize>,
    redis: String,
}

fn args() -> anyhow::Result<Args> {
    let mut args = Args {
        jobs: 2000,
        concurrency: None,
        redis: "redis://127.0.0.1:6379/".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--jobs" => {
                args.jobs = it
                    .next()
                    .ok_or_else(|| anyhow::anyhow!("--jobs N"))?
                    .parse()?
            }
            "--concurrency" => {
                args.concurrency = Some(
                    it.next()
                        .ok_or_else(|| anyhow::anyhow!("--concurrency N"))?
                        .parse()?,
                );
            }
            "--redis" => args.redis = it.next().ok_or_else(|| anyhow::anyhow!("--redis URL"))?,
            // `cargo bench` passes `--bench`; ignore what is not ours.
            _ => {}
        }
    }
    anyhow::ensure!(args.jobs > 0, "--jobs must be positive");
    Ok(args)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    let namespace = format!("bench_{}", uuid::Uuid::new_v4().simple());
    let queue = Queue::connect_redis(&args.redis, &namespace, 1).await?;
    let result = bench(&args, &queue).await;
    queue.purge().await?;
    result
}

async fn bench(args: &Args, queue: &Queue) -> anyhow::Result<()> {
    let n = args.jobs;
    let mut config = Config::for_tests(std::path::Path::new("."));
    if let Some(c) = args.concurrency {
        config.worker.concurrency = c;
    }
    let settings = WorkerSettings::from_config(&config);

    let progress = Arc::new(Progress::default());
    progress.target.store(n, Ordering::SeqCst);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(
        Registry::new(progress.clone(), queue.clone(), settings)
            .register::<NoOp, _, _>(noop)
            .run(async move {
                let _ = stopped.await;
            }),
    );
    // Let the worker register and go idle, so the timing starts from a running worker.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let jobs: Vec<NoOp> = (0..n).map(|i| NoOp { n: i as u32 }).collect();
    let started = Instant::now();
    for chunk in jobs.chunks(1000) {
        queue.push_bulk(chunk).await?;
    }
    let pushed = started.elapsed();
    tokio::time::timeout(Duration::from_secs(300), progress.all_done.notified()).await?;
    let handled = started.elapsed();
    // Completed means acknowledged in Redis (the `done` set), not just handled.
    loop {
        if queue.stats(NoOp::NAME).await?.done as usize >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let completed = started.elapsed();
    let _ = stop.send(());
    worker.await??;

    let mut conn = apalis_redis::connect(args.redis.as_str()).await?;
    let rt_started = Instant::now();
    for _ in 0..n {
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
    }
    let round_trips = rt_started.elapsed();

    let jobs_per_s = n as f64 / completed.as_secs_f64();
    let rt_per_s = n as f64 / round_trips.as_secs_f64();
    println!(
        "build: {}; worker concurrency {}, poll interval {:?}",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        settings.concurrency,
        settings.poll_interval
    );
    println!(
        "queue: {n} jobs in {:.2} s ({:.0} jobs/s) [push_bulk {:.3} s, all handled {:.3} s, all acked {:.3} s]",
        completed.as_secs_f64(),
        jobs_per_s,
        pushed.as_secs_f64(),
        handled.as_secs_f64(),
        completed.as_secs_f64()
    );
    println!(
        "raw redis: {n} round trips in {:.2} s ({:.0} rt/s)",
        round_trips.as_secs_f64(),
        rt_per_s
    );
    println!("ratio jobs/rt = {:.2}", jobs_per_s / rt_per_s);
    Ok(())
}
