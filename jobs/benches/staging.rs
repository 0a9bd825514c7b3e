//! Staging throughput and memory: streams a generated 1 GiB video into a temp staging directory,
//! reads it back in TikTok's 10,000,000-byte chunks, and prints the times and the process's peak
//! resident memory (VmHWM), which must stay a few MiB above where it started whatever the size.
//!
//! Run: `cargo bench -p jobs --bench staging`

use bytes::Bytes;
use futures::{StreamExt, stream};
use jobs::config::Config;
use jobs::model::GoogleProfile;
use jobs::staging::{Staging, UploadLimits};
use jobs::tiktok::{ChunkPolicy, chunks, plan};
use std::time::Instant;

const PIECE: usize = 64 * 1024;
const TOTAL: u64 = 1 << 30;

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Piece `i` of the generated video: cheap pseudo-random bytes, MP4 magic at the start.
fn piece(i: u64) -> Bytes {
    let mut out = Vec::with_capacity(PIECE);
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while out.len() < PIECE {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    if i == 0 {
        out[..12].copy_from_slice(b"\0\0\0\x14ftypisom");
    }
    Bytes::from(out)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = Config::for_tests(dir.path());
    let store = jobs::store::connect(&format!("sqlite://{}/db", dir.path().display())).await?;
    let user = store
        .upsert_user(&GoogleProfile {
            google_uid: "bench".into(),
            email: "bench@example.com".into(),
            name: "Bench".into(),
            picture: None,
        })
        .await?
        .id;
    let staging = Staging::new(
        &config,
        jobs::vault::Vault::new(config.identity.token_keys.clone()),
        store,
    )?;
    println!(
        "start: VmRSS {:.1} MiB, VmHWM {:.1} MiB",
        mib(status_kib("VmRSS:")),
        mib(status_kib("VmHWM:"))
    );
    let before = status_kib("VmHWM:");

    let pieces = TOTAL / PIECE as u64;
    let body = stream::iter(0..pieces).map(|i| Ok::<_, std::io::Error>(piece(i)));
    let started = Instant::now();
    let media = staging
        .stage(
            jobs::model::Actor::personal(user),
            body,
            UploadLimits::new(u64::MAX),
            None,
        )
        .await?;
    let staged = started.elapsed();
    let after_stage = status_kib("VmHWM:");
    println!(
        "staged {} MiB in {:.2?} ({:.0} MiB/s); peak RSS {:.1} MiB (+{:.1} MiB)",
        media.size >> 20,
        staged,
        (media.size >> 20) as f64 / staged.as_secs_f64(),
        mib(after_stage),
        mib(after_stage.saturating_sub(before))
    );

    let plan = plan(media.size, &ChunkPolicy::default())?;
    let started = Instant::now();
    let (mut next, mut expected, mut read) = (0u64, Bytes::new(), 0u64);
    for chunk in chunks(&plan) {
        let mut body = staging.open_range(&media, chunk.first, chunk.last);
        while let Some(part) = body.next().await {
            let mut part = part?;
            read += part.len() as u64;
            while !part.is_empty() {
                if expected.is_empty() {
                    expected = piece(next);
                    next += 1;
                }
                let n = part.len().min(expected.len());
                anyhow::ensure!(
                    part.split_to(n) == expected.split_to(n),
                    "read-back differs"
                );
            }
        }
    }
    let elapsed = started.elapsed();
    let after_read = status_kib("VmHWM:");
    println!(
        "read back {} MiB in {} chunks in {:.2?} ({:.0} MiB/s); peak RSS {:.1} MiB (+{:.1} MiB over start)",
        read >> 20,
        plan.total_chunk_count,
        elapsed,
        (read >> 20) as f64 / elapsed.as_secs_f64(),
        mib(after_read),
        mib(after_read.saturating_sub(before))
    );
    staging.delete(&media).await?;
    Ok(())
}
