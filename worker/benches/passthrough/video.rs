//! The client's video: an MP4-looking file on disk (a valid `ftyp` + `mdat` header over
//! pseudo-random bytes), generated piece by piece, never whole in memory; optionally also cut
//! into one file per chunk of a plan for the baseline's curl. Same bytes as the publish bench's
//! generator for the same seed.

use super::PIECE;
use anyhow::{Context, Result, ensure};
use jobs::model::UploadPlan;
use jobs::tiktok;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The baseline's file for chunk `index`.
pub fn chunk_path(dir: &Path, index: u64) -> PathBuf {
    dir.join(format!("chunk-{index:04}"))
}

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

/// A 24-byte `ftyp` box and the header of an `mdat` box running to the end of the file.
fn mp4_header(size: u64) -> Vec<u8> {
    let mut h = vec![0, 0, 0, 24];
    h.extend_from_slice(b"ftypisom");
    h.extend_from_slice(&[0, 0, 2, 0]);
    h.extend_from_slice(b"isommp41");
    let mdat = size - 24;
    match u32::try_from(mdat) {
        Ok(n) => h.extend_from_slice(&n.to_be_bytes()),
        Err(_) => h.extend_from_slice(&1u32.to_be_bytes()),
    }
    h.extend_from_slice(b"mdat");
    if u32::try_from(mdat).is_err() {
        h.extend_from_slice(&mdat.to_be_bytes());
    }
    h
}

/// splitmix64 into `buf` (whose length is a multiple of 8).
fn fill(buf: &mut [u8], state: &mut u64) {
    for word in buf.chunks_exact_mut(8) {
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        word.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
}

/// Writes the bytes into one file per chunk of `plan`.
struct ChunkFiles {
    dir: PathBuf,
    plan: UploadPlan,
    current: Option<(u64, std::fs::File)>,
}

impl ChunkFiles {
    fn write(&mut self, mut offset: u64, mut data: &[u8]) -> Result<()> {
        while !data.is_empty() {
            let index = (offset / self.plan.chunk_size).min(self.plan.total_chunk_count - 1);
            let chunk = tiktok::chunk_at(&self.plan, index).context("offset outside the plan")?;
            if self.current.as_ref().map(|(i, _)| *i) != Some(index) {
                let file = std::fs::File::create(chunk_path(&self.dir, index))?;
                self.current = Some((index, file));
            }
            let take = usize::try_from(chunk.last + 1 - offset)
                .unwrap_or(usize::MAX)
                .min(data.len());
            if let Some((_, file)) = self.current.as_mut() {
                file.write_all(&data[..take])?;
            }
            offset += take as u64;
            data = &data[take..];
        }
        Ok(())
    }
}
