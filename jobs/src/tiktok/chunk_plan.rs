//! How a FILE_UPLOAD video is cut into chunks (tiktok-api.md §5.5).
//!
//! TikTok's rules: `total_chunk_count = floor(video_size / chunk_size)` (rounded *down*), every
//! chunk but the last is exactly `chunk_size`, the last one absorbs the remainder (so it can be up
//! to `2 * chunk_size - 1`), a single-chunk upload declares `chunk_size == video_size`, and there
//! are at most 1000 chunks. "MB" is ambiguous in TikTok's docs, so the default policy uses values
//! that are valid under both the decimal and the binary reading.

use crate::model::UploadPlan;

/// TikTok's hard ceiling on `total_chunk_count`.
pub const MAX_CHUNKS: u64 = 1000;

/// The knobs of the chunk plan. The defaults are TikTok-safe; tests lower them to exercise
/// multi-chunk uploads with small files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkPolicy {
    /// Videos up to this size go in one chunk. 64,000,000 is below both 64 MB and 64 MiB.
    pub single_chunk_max: u64,
    /// Size of every chunk but the last in a multi-chunk upload. 10,000,000 is at least 5 MiB and
    /// at most 64 MB, and keeps the merged last chunk under 20 MB (TikTok allows 128 MB).
    pub chunk_size: u64,
}

impl Default for ChunkPolicy {
    fn default() -> Self {
        Self {
            single_chunk_max: 64_000_000,
            chunk_size: 10_000_000,
        }
    }
}

/// Why no valid plan exists for a video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChunkPlanError {
    /// TikTok cannot take an empty file.
    #[error("the video is empty")]
    EmptyVideo,
    /// The video needs more chunks than TikTok accepts.
    #[error("the video needs {count} chunks; TikTok accepts at most {MAX_CHUNKS}")]
    TooManyChunks { count: u64 },
    /// The policy could produce a one-chunk plan whose `chunk_size` differs from the video size,
    /// which TikTok rejects: every multi-chunk video must hold at least two whole chunks, i.e.
    /// `2 * chunk_size <= single_chunk_max + 1` (and `chunk_size > 0`).
    #[error(
        "chunk policy is inconsistent: chunk_size {chunk_size} with single_chunk_max {single_chunk_max}"
    )]
    InvalidPolicy {
        single_chunk_max: u64,
        chunk_size: u64,
    },
    /// Progress reported by TikTok does not fall on a chunk boundary of the plan, so the plan
    /// and the upload disagree and resuming would send a range TikTok refuses.
    #[error("{received} bytes received is not a chunk boundary of the plan")]
    NotAChunkBoundary { received: u64 },
}

/// Computes the chunk plan for a video of `video_size` bytes.
pub fn plan(video_size: u64, policy: &ChunkPolicy) -> Result<UploadPlan, ChunkPlanError> {
    let invalid_policy = ChunkPlanError::InvalidPolicy {
        single_chunk_max: policy.single_chunk_max,
        chunk_size: policy.chunk_size,
    };
    let two_chunks = policy.chunk_size.checked_mul(2).ok_or(invalid_policy)?;
    if policy.chunk_size == 0 || two_chunks > policy.single_chunk_max.saturating_add(1) {
        return Err(invalid_policy);
    }
    if video_size == 0 {
        return Err(ChunkPlanError::EmptyVideo);
    }
    if video_size <= policy.single_chunk_max {
        return Ok(UploadPlan {
            video_size,
            chunk_size: video_size,
            total_chunk_count: 1,
        });
    }
    // Floor, not ceil: the remainder rides on the last chunk. Using ceil is the classic bug TikTok
    // answers with "total chunk count is invalid".
    let count = video_size / policy.chunk_size;
    if count > MAX_CHUNKS {
        return Err(ChunkPlanError::TooManyChunks { count });
    }
    Ok(UploadPlan {
        video_size,
        chunk_size: policy.chunk_size,
        total_chunk_count: count,
    })
}

/// One chunk of an upload: the byte range to PUT, both ends inclusive as in `Content-Range`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk {
    /// Zero-based position in the plan.
    pub index: u64,
    /// First byte offset.
    pub first: u64,
    /// Last byte offset, inclusive.
    pub last: u64,
}

impl Chunk {
    /// Bytes in the chunk: the exact `Content-Length` of its PUT.
    pub fn len(&self) -> u64 {
        self.last - self.first + 1
    }

    /// Never true for a chunk of a valid plan; present because `len` is.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// The chunk at `index`, if the plan has one. The last chunk absorbs the remainder.
pub fn chunk_at(plan: &UploadPlan, index: u64) -> Option<Chunk> {
    if plan.video_size == 0 || plan.chunk_size == 0 || index >= plan.total_chunk_count {
        return None;
    }
    let first = index.checked_mul(plan.chunk_size)?;
    let last = if index + 1 == plan.total_chunk_count {
        plan.video_size - 1
    } else {
        first.checked_add(plan.chunk_size - 1)?
    };
    (first <= last && last < plan.video_size).then_some(Chunk { index, first, last })
}

/// Every chunk of the plan, in the order TikTok requires them (sequential, one at a time).
pub fn chunks(plan: &UploadPlan) -> impl Iterator<Item = Chunk> + '_ {
    (0..plan.total_chunk_count).map_while(|i| chunk_at(plan, i))
}

/// The chunk to send next after TikTok acknowledged `received` bytes; `None` once everything
/// was received. Used to resume after a lost response or a 416.
pub fn next_chunk(plan: &UploadPlan, received: u64) -> Result<Option<Chunk>, ChunkPlanError> {
    if received >= plan.video_size {
        return Ok(None);
    }
    let boundary = ChunkPlanError::NotAChunkBoundary { received };
    if plan.chunk_size == 0 || !received.is_multiple_of(plan.chunk_size) {
        return Err(boundary);
    }
    let chunk = chunk_at(plan, received / plan.chunk_size).ok_or(boundary)?;
    Ok(Some(chunk))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(single_chunk_max: u64, chunk_size: u64) -> ChunkPolicy {
        ChunkPolicy {
            single_chunk_max,
            chunk_size,
        }
    }

    /// Each chunk's first and last byte.
    fn ranges(plan: &UploadPlan) -> Vec<(u64, u64)> {
        chunks(plan).map(|c| (c.first, c.last)).collect()
    }

    fn default_plan(size: u64) -> UploadPlan {
        plan(size, &ChunkPolicy::default()).unwrap()
    }

    fn all(plan: &UploadPlan) -> Vec<Chunk> {
        chunks(plan).collect()
    }

    /// Checks one row of the §5.5 test-vector table.
    fn assert_vector(size: u64, count: u64, first: (u64, u64), last: (u64, u64), last_len: u64) {
        let p = default_plan(size);
        assert_eq!(p.video_size, size);
        assert_eq!(p.total_chunk_count, count, "count for {size}");
        let cs = all(&p);
        assert_eq!(cs.len() as u64, count);
        assert_eq!((cs[0].first, cs[0].last), first, "first chunk for {size}");
        let l = cs[cs.len() - 1];
        assert_eq!((l.first, l.last), last, "last chunk for {size}");
        assert_eq!(l.len(), last_len);
        assert_invariants(&p);
    }

    /// The rules TikTok checks, for any plan we produce.
    fn assert_invariants(p: &UploadPlan) {
        let cs = all(p);
        assert_eq!(cs.len() as u64, p.total_chunk_count);
        assert!((1..=MAX_CHUNKS).contains(&p.total_chunk_count));
        assert_eq!(
            p.total_chunk_count,
            p.video_size / p.chunk_size,
            "floor rule"
        );
        if p.total_chunk_count == 1 {
            assert_eq!(
                p.chunk_size, p.video_size,
                "single chunk must declare the whole size"
            );
        }
        let mut next = 0;
        for (i, c) in cs.iter().enumerate() {
            assert_eq!(c.index, i as u64);
            assert_eq!(c.first, next, "chunks are contiguous");
            if (i as u64) + 1 < p.total_chunk_count {
                assert_eq!(c.len(), p.chunk_size);
            } else {
                assert!(c.len() >= p.chunk_size && c.len() < 2 * p.chunk_size);
            }
            next = c.last + 1;
        }
        assert_eq!(next, p.video_size, "chunks cover the whole file");
    }

    #[test]
    fn a_4_mib_video_is_one_whole_chunk() {
        assert_vector(4_194_304, 1, (0, 4_194_303), (0, 4_194_303), 4_194_304);
        assert_eq!(default_plan(4_194_304).chunk_size, 4_194_304);
    }

    #[test]
    fn a_64_000_000_byte_video_is_still_one_chunk() {
        assert_vector(64_000_000, 1, (0, 63_999_999), (0, 63_999_999), 64_000_000);
    }

    #[test]
    fn one_byte_over_64_000_000_gives_six_chunks_with_a_merged_tail() {
        assert_vector(
            64_000_001,
            6,
            (0, 9_999_999),
            (50_000_000, 64_000_000),
            14_000_001,
        );
    }

    #[test]
    fn a_77_360_899_byte_video_gives_seven_chunks_not_eight() {
        assert_vector(
            77_360_899,
            7,
            (0, 9_999_999),
            (60_000_000, 77_360_898),
            17_360_899,
        );
    }

    #[test]
    fn a_158_008_374_byte_video_gives_fifteen_chunks() {
        assert_vector(
            158_008_374,
            15,
            (0, 9_999_999),
            (140_000_000, 158_008_373),
            18_008_374,
        );
    }

    #[test]
    fn a_4_gib_video_gives_429_chunks() {
        assert_vector(
            4_294_967_296,
            429,
            (0, 9_999_999),
            (4_280_000_000, 4_294_967_295),
            14_967_296,
        );
    }

    #[test]
    fn the_docs_50_000_123_byte_example_gives_five_chunks() {
        // The doc example uses 10 MB chunks below our single-chunk threshold, so lower it.
        let policy = policy(20_000_000, 10_000_000);
        let p = plan(50_000_123, &policy).unwrap();
        assert_eq!(
            p,
            UploadPlan {
                video_size: 50_000_123,
                chunk_size: 10_000_000,
                total_chunk_count: 5
            }
        );
        assert_eq!(
            ranges(&p),
            vec![
                (0, 9_999_999),
                (10_000_000, 19_999_999),
                (20_000_000, 29_999_999),
                (30_000_000, 39_999_999),
                (40_000_000, 50_000_122),
            ]
        );
        assert_eq!(chunk_at(&p, 4).unwrap().len(), 10_000_123);
        assert_invariants(&p);
    }

    #[test]
    fn an_empty_video_has_no_plan() {
        assert_eq!(
            plan(0, &ChunkPolicy::default()),
            Err(ChunkPlanError::EmptyVideo)
        );
    }

    #[test]
    fn more_than_1000_chunks_is_refused() {
        let policy = policy(100_000, 40_000);
        assert_eq!(plan(40_000_000, &policy).unwrap().total_chunk_count, 1000);
        assert_eq!(plan(40_039_999, &policy).unwrap().total_chunk_count, 1000);
        assert_eq!(
            plan(40_040_000, &policy),
            Err(ChunkPlanError::TooManyChunks { count: 1001 })
        );
    }

    #[test]
    fn lowered_policy_splits_small_files() {
        let policy = policy(100_000, 40_000);
        let p = plan(100_000, &policy).unwrap();
        assert_eq!((p.chunk_size, p.total_chunk_count), (100_000, 1));
        let p = plan(100_001, &policy).unwrap();
        assert_eq!((p.chunk_size, p.total_chunk_count), (40_000, 2));
        assert_eq!(ranges(&p), vec![(0, 39_999), (40_000, 100_000)]);
        let p = plan(250_000, &policy).unwrap();
        assert_eq!(p.total_chunk_count, 6);
        assert_eq!(chunk_at(&p, 5).unwrap().len(), 50_000);
    }

    #[test]
    fn a_policy_that_could_yield_one_short_chunk_is_refused() {
        // 15 MB with 10 MB chunks would be count 1 with chunk_size != video_size; a zero
        // chunk size never works.
        for (size, bad) in [
            (15_000_000, policy(12_000_000, 10_000_000)),
            (5, policy(10, 0)),
        ] {
            let refused = plan(size, &bad);
            assert!(
                matches!(refused, Err(ChunkPlanError::InvalidPolicy { .. })),
                "{size}: {refused:?}"
            );
        }
    }

    #[test]
    fn every_size_around_the_thresholds_obeys_tiktoks_rules() {
        let policies = [
            ChunkPolicy::default(),
            policy(100_000, 40_000),
            policy(79_999, 40_000),
        ];
        for policy in policies {
            let edges = [
                1,
                2,
                policy.chunk_size - 1,
                policy.chunk_size,
                policy.chunk_size + 1,
                policy.single_chunk_max - 1,
                policy.single_chunk_max,
                policy.single_chunk_max + 1,
                policy.single_chunk_max + policy.chunk_size,
                3 * policy.chunk_size - 1,
                3 * policy.chunk_size,
                999 * policy.chunk_size + 123,
                1000 * policy.chunk_size + policy.chunk_size - 1,
            ];
            for size in edges {
                let p = plan(size, &policy).unwrap();
                assert_invariants(&p);
                assert_eq!(p.total_chunk_count == 1, size <= policy.single_chunk_max);
            }
        }
    }

    #[test]
    fn resuming_picks_the_chunk_after_the_acknowledged_bytes() {
        let p = default_plan(77_360_899);
        assert_eq!(next_chunk(&p, 0).unwrap().unwrap().index, 0);
        let c = next_chunk(&p, 20_000_000).unwrap().unwrap();
        assert_eq!((c.index, c.first, c.last), (2, 20_000_000, 29_999_999));
        let c = next_chunk(&p, 60_000_000).unwrap().unwrap();
        assert_eq!((c.index, c.last), (6, 77_360_898));
        assert_eq!(next_chunk(&p, 77_360_899).unwrap(), None);
        assert_eq!(
            next_chunk(&p, 12_345),
            Err(ChunkPlanError::NotAChunkBoundary { received: 12_345 })
        );
        // 70,000,000 is a multiple of chunk_size but inside the merged last chunk.
        assert_eq!(
            next_chunk(&p, 70_000_000),
            Err(ChunkPlanError::NotAChunkBoundary {
                received: 70_000_000
            })
        );
    }

    #[test]
    fn a_corrupt_stored_plan_yields_no_chunks_rather_than_panicking() {
        let zero = UploadPlan {
            video_size: 10,
            chunk_size: 0,
            total_chunk_count: 3,
        };
        assert_eq!(chunks(&zero).count(), 0);
        let too_many = UploadPlan {
            video_size: 10,
            chunk_size: 5,
            total_chunk_count: 4,
        };
        assert_eq!(chunks(&too_many).count(), 2);
    }
}
