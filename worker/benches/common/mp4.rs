//! The benches' video: an MP4-looking header over splitmix64 bytes (the same bytes for the same
//! seed in every bench), and the per-chunk files the `curl` baselines PUT. Included by each
//! bench with `#[path]`, since bench targets share no library of their own.

use anyhow::{Context, Result};
use jobs::model::UploadPlan;
use jobs::tiktok;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A 24-byte `ftyp` box and the header of an `mdat` box running to the end of the file.
pub fn mp4_header(size: u64) -> Vec<u8> {
    let mut h = vec![0, 0, 0, 24];
    h.extend_from_slice(b"ftypisom");
    h.extend_from_slice(&[0, 0, 2, 0]);
    h.extend_from_slice(b"isommp41");
    let mdat = size - 24;
    match u32::try_from(mdat) {
        Ok(n) => {
            h.extend_from_slice(&n.to_be_bytes());
            h.extend_from_slice(b"mdat");
        }
        Err(_) => {
            h.extend_from_slice(&1u32.to_be_bytes());
            h.extend_from_slice(b"mdat");
            h.extend_from_slice(&mdat.to_be_bytes());
        }
    }
    h
}

/// splitmix64 into `buf` (whose length is a multiple of 8).
pub fn fill(buf: &mut [u8], state: &mut u64) {
    for word in buf.chunks_exact_mut(8) {
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        word.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
}

/// The baseline's file for chunk `index`.
pub fn chunk_path(dir: &Path, index: u64) -> PathBuf {
    dir.join(format!("chunk-{index:04}"))
}

/// Writes the bytes into one file per chunk of `plan`, for curl.
pub struct ChunkFiles {
    pub dir: PathBuf,
    pub plan: UploadPlan,
    pub current: Option<(u64, std::fs::File)>,
}

impl ChunkFiles {
    pub fn write(&mut self, mut offset: u64, mut data: &[u8]) -> Result<()> {
        while !data.is_empty() {
            let index = (offset / self.plan.chunk_size).min(self.plan.total_chunk_count - 1);
            let chunk = tiktok::chunk_at(&self.plan, index).context("offset outside the plan")?;
            if self.current.as_ref().map(|(i, _)| *i) != Some(index) {
                self.current = Some((index, std::fs::File::create(chunk_path(&self.dir, index))?));
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
