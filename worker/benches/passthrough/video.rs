//! The client's video: an MP4-looking file on disk (a valid `ftyp` + `mdat` header over
//! pseudo-random bytes), generated piece by piece, never whole in memory; optionally also cut
//! into one file per chunk of a plan for the baseline's curl. Same bytes as the publish bench's
//! generator for the same seed.

use super::PIECE;
use super::mp4::{ChunkFiles, fill, mp4_header};
use anyhow::{Result, ensure};
use jobs::model::UploadPlan;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes a video of `plan.video_size` bytes to `file` (and its chunks under `chunk_dir`);
/// returns its SHA-256.
pub async fn generate_files(
    file: &Path,
    plan: &UploadPlan,
    chunk_dir: Option<&Path>,
    seed: u64,
) -> Result<String> {
    let (file, plan) = (file.to_owned(), *plan);
    let chunk_dir = chunk_dir.map(Path::to_owned);
    tokio::task::spawn_blocking(move || generate(&file, &plan, chunk_dir, seed)).await?
}

fn generate(
    file: &Path,
    plan: &UploadPlan,
    chunk_dir: Option<PathBuf>,
    seed: u64,
) -> Result<String> {
    let size = plan.video_size;
    ensure!(
        size >= PIECE as u64,
        "videos under 1 MiB are not worth benchmarking"
    );
    let mut out = std::io::BufWriter::with_capacity(PIECE, std::fs::File::create(file)?);
    let mut chunks = match chunk_dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir)?;
            Some(ChunkFiles {
                dir,
                plan: *plan,
                current: None,
            })
        }
        None => None,
    };
    let head = mp4_header(size);
    let (mut state, mut sha, mut offset) = (seed, Sha256::new(), 0u64);
    let mut buf = vec![0u8; PIECE];
    while offset < size {
        let n = usize::try_from(size - offset)
            .unwrap_or(usize::MAX)
            .min(PIECE);
        fill(&mut buf, &mut state);
        if offset == 0 {
            buf[..head.len()].copy_from_slice(&head);
        }
        let piece = &buf[..n];
        sha.update(piece);
        out.write_all(piece)?;
        if let Some(chunks) = chunks.as_mut() {
            chunks.write(offset, piece)?;
        }
        offset += n as u64;
    }
    out.flush()?;
    Ok(hex::encode(sha.finalize()))
}
