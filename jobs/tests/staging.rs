//! Staging against real files: a temp staging directory and a temp SQLite store.

use bytes::Bytes;
use chrono::Utc;
use futures::{Stream, StreamExt, TryStreamExt, stream};
use jobs::config::Config;
use jobs::model::{Actor, Container, GoogleProfile, Media, PostId};
use jobs::staging::{Staging, StagingError, UploadLimits};
use jobs::store::{DynStore, StoreError};
use jobs::tiktok::{ChunkPolicy, chunks, plan};
use jobs::vault::VaultError;
use rand::{RngCore, SeedableRng};
use sha2::{Digest, Sha256};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

const SEGMENT: u32 = 64 * 1024;

struct Setup {
    dir: tempfile::TempDir,
    config: Config,
    store: DynStore,
    staging: Staging,
    user: Actor,
}

impl Setup {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::for_tests(dir.path());
        let store = jobs::store::connect(&format!("sqlite://{}/db", dir.path().display()))
            .await
            .unwrap();
        let user = store
            .upsert_user(&GoogleProfile {
                google_uid: "staging-user".into(),
                email: "s@example.com".into(),
                name: "S".into(),
                picture: None,
            })
            .await
            .unwrap()
            .id;
        let user = Actor::personal(user);
        let vault = jobs::vault::Vault::new(config.identity.token_keys.clone());
        let staging = Staging::new(&config, vault, store.clone())
            .unwrap()
            .with_segment_size(SEGMENT);
        Self {
            dir,
            config,
            store,
            staging,
            user,
        }
    }

    fn staging_dir(&self) -> PathBuf {
        self.config.staging.url.to_file_path().unwrap()
    }

    fn object_path(&self, media: &Media) -> PathBuf {
        self.staging_dir().join(&media.object_key)
    }

    /// Every file under the staging directory (finished objects and half-written parts).
    fn staged_files(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, out);
                } else {
                    out.push(path);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.staging_dir(), &mut out);
        out
    }

    async fn assert_nothing_left(&self) {
        assert_eq!(
            self.staged_files(),
            Vec::<PathBuf>::new(),
            "no staged files"
        );
        assert!(
            self.store
                .list_media(self.user.workspace)
                .await
                .unwrap()
                .is_empty(),
            "no media rows"
        );
    }

    async fn stage(&self, bytes: &[u8]) -> Result<Media, StagingError> {
        self.staging
            .stage(
                self.user,
                pieces(bytes, 7_777),
                UploadLimits::new(self.config.staging.max_upload_bytes),
                None,
            )
            .await
    }

    async fn read(&self, media: &Media, first: u64, last: u64) -> Result<Vec<u8>, StagingError> {
        let parts: Vec<Bytes> = self
            .staging
            .open_range(media, first, last)
            .try_collect()
            .await?;
        Ok(parts.concat())
    }

    async fn read_all(&self, media: &Media) -> Result<Vec<u8>, StagingError> {
        self.read(media, 0, media.size - 1).await
    }
}

/// A body stream delivering `bytes` in pieces of `piece` bytes.
fn pieces(
    bytes: &[u8],
    piece: usize,
) -> impl Stream<Item = Result<Bytes, io::Error>> + Send + use<> {
    let parts: Vec<Result<Bytes, io::Error>> = bytes
        .chunks(piece)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    stream::iter(parts)
}

/// An MP4-looking file: a real `ftyp` box, then `len - 24` random bytes.
fn fake_mp4(len: usize, seed: u64) -> Vec<u8> {
    let mut v = vec![0, 0, 0, 24];
    v.extend_from_slice(b"ftypisom\0\0\x02\0isomiso2");
    let mut rest = vec![0u8; len - v.len()];
    rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut rest);
    v.extend(rest);
    v
}

fn sha256(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// A real, minimal MP4 written by the `mp4` crate: one H.264 track of `frames` frames of
/// `frame_ms` each (the payloads are not decodable video; only the structure matters here).
fn real_mp4(brand: &str, frames: u32, frame_ms: u32) -> Vec<u8> {
    let config = mp4::Mp4Config {
        major_brand: brand.parse().unwrap(),
        minor_version: 512,
        compatible_brands: vec!["isom".parse().unwrap(), "avc1".parse().unwrap()],
        timescale: 1000,
    };
    let mut w = mp4::Mp4Writer::write_start(io::Cursor::new(Vec::new()), &config).unwrap();
    w.add_track(&mp4::TrackConfig {
        track_type: mp4::TrackType::Video,
        timescale: 90_000,
        language: "und".into(),
        media_conf: mp4::MediaConfig::AvcConfig(mp4::AvcConfig {
            width: 720,
            height: 1280,
            seq_param_set: vec![0x67, 0x42, 0xC0, 0x1F, 0xDA, 0x01],
            pic_param_set: vec![0x68, 0xCE, 0x3C, 0x80],
        }),
    })
    .unwrap();
    let ticks = frame_ms * 90;
    for i in 0..frames {
        w.write_sample(
            1,
            &mp4::Mp4Sample {
                start_time: u64::from(i * ticks),
                duration: ticks,
                rendering_offset: 0,
                is_sync: i == 0,
                bytes: Bytes::from(vec![0x65; 1_000]),
            },
        )
        .unwrap();
    }
    w.write_end().unwrap();
    w.into_writer().into_inner()
}

/// Moves the `moov` box in front of `mdat`, as "fast start" encoders write it.
fn moov_first(file: &[u8]) -> Vec<u8> {
    let mut boxes = Vec::new();
    let mut pos = 0;
    while pos < file.len() {
        let size = u32::from_be_bytes(file[pos..pos + 4].try_into().unwrap()) as usize;
        boxes.push(&file[pos..pos + size]);
        pos += size;
    }
    let moov = boxes.iter().position(|b| &b[4..8] == b"moov").unwrap();
    let moov = boxes.remove(moov);
    boxes.insert(1, moov);
    boxes.concat()
}

/// The head of a WebM file: EBML header, a Segment of unknown size, Info with a duration.
fn webm(duration_ms: f64) -> Vec<u8> {
    let mut v = vec![0x1A, 0x45, 0xDF, 0xA3, 0x87, 0x42, 0x82, 0x84];
    v.extend_from_slice(b"webm");
    v.extend_from_slice(&[
        0x18, 0x53, 0x80, 0x67, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    ]);
    v.extend_from_slice(&[0x15, 0x49, 0xA9, 0x66, 0x8E]); // Info, 14 bytes
    v.extend_from_slice(&[0x2A, 0xD7, 0xB1, 0x83, 0x0F, 0x42, 0x40]); // TimecodeScale 1 ms
    v.extend_from_slice(&[0x44, 0x89, 0x84]); // Duration, 4-byte float
    v.extend_from_slice(&(duration_ms as f32).to_be_bytes());
    v.extend_from_slice(&[
        0x1F, 0x43, 0xB6, 0x75, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    ]);
    v.extend(vec![0x42; 10_000]);
    v
}

#[tokio::test]
async fn a_multi_segment_video_reads_back_by_tiktok_chunk_ranges() {
    let s = Setup::new().await;
    // Not a multiple of the segment size, and chunk boundaries fall inside segments.
    let video = fake_mp4(3_012_345, 1);
    let before = Utc::now();
    let media = s.stage(&video).await.unwrap();
    assert_eq!(media.size, video.len() as u64);
    assert_eq!(media.container, Container::Mp4);
    assert_eq!(media.segment_size, SEGMENT);
    assert_eq!(media.workspace_id, s.user.workspace);
    assert_eq!(media.created_by, Some(s.user.user));
    assert!(media.post_id.is_none());
    let ttl = chrono::Duration::from_std(s.config.staging.media_ttl).unwrap();
    assert!(media.expires_at >= before + ttl && media.expires_at <= Utc::now() + ttl);
    let row = s.store.media(s.user.workspace, media.id).await.unwrap();
    assert_eq!(row.size, media.size);
    assert_eq!(row.container, media.container);
    assert_eq!(row.wrapped_key, media.wrapped_key);
    assert_eq!(row.object_key, media.object_key);

    // TikTok's rules with smaller numbers: 7 chunks of 400,000, the last one absorbing the rest.
    let policy = ChunkPolicy {
        single_chunk_max: 1_000_000,
        chunk_size: 400_000,
    };
    let plan = plan(media.size, &policy).unwrap();
    assert_eq!(plan.total_chunk_count, 7);
    let mut whole = Vec::new();
    for chunk in chunks(&plan) {
        let bytes = s.read(&media, chunk.first, chunk.last).await.unwrap();
        assert_eq!(
            bytes.len() as u64,
            chunk.len(),
            "chunk {} has exactly its Content-Length",
            chunk.index
        );
        whole.extend(bytes);
    }
    assert_eq!(sha256(&whole), sha256(&video));

    // Ranges inside one segment, across a boundary, and the single last byte.
    let seg = u64::from(SEGMENT);
    for (first, last) in [
        (5, 5),
        (seg - 3, seg + 2),
        (seg, 2 * seg - 1),
        (media.size - 1, media.size - 1),
    ] {
        assert_eq!(
            s.read(&media, first, last).await.unwrap(),
            &video[first as usize..=last as usize]
        );
    }
    assert!(matches!(
        s.read(&media, 10, media.size).await,
        Err(StagingError::BadRange { .. })
    ));
}

#[tokio::test]
async fn the_stored_object_is_ciphertext_only() {
    let s = Setup::new().await;
    let video = fake_mp4(300_000, 2);
    let media = s.stage(&video).await.unwrap();
    let stored = std::fs::read(s.object_path(&media)).unwrap();
    let segments = video.len().div_ceil(SEGMENT as usize);
    assert_eq!(
        stored.len(),
        video.len() + 16 * segments,
        "plaintext plus one tag per segment"
    );
    assert!(
        !stored.windows(8).any(|w| w == b"ftypisom"),
        "the container header is not visible"
    );
    for at in [1_000, 100_000, 250_000] {
        let probe = &video[at..at + 32];
        assert!(
            !stored.windows(32).any(|w| w == probe),
            "plaintext at {at} is not visible"
        );
    }
    assert!(!media.wrapped_key.is_empty() && media.wrapped_key.starts_with("dev1:"));
}

#[tokio::test]
async fn altered_reordered_cut_or_extended_objects_fail_to_read() {
    let s = Setup::new().await;
    let video = fake_mp4(5 * SEGMENT as usize + 1_000, 3);
    let media = s.stage(&video).await.unwrap();
    let path = s.object_path(&media);
    let original = std::fs::read(&path).unwrap();
    let sealed = SEGMENT as usize + 16;
    let last_sealed = 1_000 + 16;

    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("a flipped byte in segment 1", {
            let mut b = original.clone();
            b[sealed + 100] ^= 0x01;
            b
        }),
        ("segments 1 and 2 swapped", {
            let mut b = original.clone();
            let (one, two) = (
                original[sealed..2 * sealed].to_vec(),
                original[2 * sealed..3 * sealed].to_vec(),
            );
            b[sealed..2 * sealed].copy_from_slice(&two);
            b[2 * sealed..3 * sealed].copy_from_slice(&one);
            b
        }),
        (
            "the last segment cut short",
            original[..original.len() - 5].to_vec(),
        ),
        (
            "the last segment dropped",
            original[..original.len() - last_sealed].to_vec(),
        ),
        (
            "a segment duplicated at the end",
            [&original[..], &original[sealed..2 * sealed]].concat(),
        ),
        (
            "a full segment presented as the last",
            original[..5 * sealed].to_vec(),
        ),
    ];
    for (what, bytes) in cases {
        std::fs::write(&path, &bytes).unwrap();
        let err = s.read_all(&media).await.expect_err(what);
        assert!(
            matches!(
                err,
                StagingError::Tampered { .. }
                    | StagingError::WrongLength { .. }
                    | StagingError::Truncated { .. }
            ),
            "{what}: {err:?}"
        );
    }

    // Untouched segments still read; the flipped one names itself.
    let mut flipped = original.clone();
    flipped[sealed + 100] ^= 0x01;
    std::fs::write(&path, &flipped).unwrap();
    assert_eq!(s.read(&media, 0, 1_000).await.unwrap(), &video[..=1_000]);
    assert!(matches!(
        s.read(&media, u64::from(SEGMENT), u64::from(SEGMENT) + 10)
            .await,
        Err(StagingError::Tampered { segment: 1 })
    ));

    std::fs::write(&path, &original).unwrap();
    assert_eq!(sha256(&s.read_all(&media).await.unwrap()), sha256(&video));
}

#[tokio::test]
async fn a_data_key_only_opens_for_its_own_media() {
    let s = Setup::new().await;
    let a = s.stage(&fake_mp4(100_000, 4)).await.unwrap();
    let b = s.stage(&fake_mp4(100_000, 5)).await.unwrap();

    let with_b_key = Media {
        wrapped_key: b.wrapped_key.clone(),
        ..a.clone()
    };
    assert!(matches!(
        s.read_all(&with_b_key).await,
        Err(StagingError::Key(VaultError::WrongRecord))
    ));
    // B's object presented as A's: A's key does not open B's segments.
    let b_object_as_a = Media {
        object_key: b.object_key.clone(),
        ..a.clone()
    };
    assert!(matches!(
        s.read_all(&b_object_as_a).await,
        Err(StagingError::Tampered { segment: 0 })
    ));
    // A vault without the key that wrapped it cannot open it at all.
    let other_vault = jobs::vault::Vault::new(
        jobs::vault::KeyRing::parse(&jobs::vault::KeyRing::generate_entry("v9")).unwrap(),
    );
    let other = Staging::new(&s.config, other_vault, s.store.clone()).unwrap();
    let err = other
        .open_range(&a, 0, 10)
        .try_collect::<Vec<Bytes>>()
        .await
        .unwrap_err();
    assert!(
        matches!(err, StagingError::Key(VaultError::UnknownKey(_))),
        "{err:?}"
    );
    assert!(s.read_all(&a).await.is_ok());
}

#[tokio::test]
async fn deleting_leaves_no_object_and_no_row_and_is_idempotent() {
    let s = Setup::new().await;
    let media = s.stage(&fake_mp4(200_000, 6)).await.unwrap();
    assert!(s.object_path(&media).exists());
    s.staging.delete(&media).await.unwrap();
    s.assert_nothing_left().await;
    assert!(matches!(
        s.store.media(s.user.workspace, media.id).await,
        Err(StoreError::NotFound)
    ));
    s.staging.delete(&media).await.unwrap();
    assert!(matches!(
        s.read_all(&media).await,
        Err(StagingError::Missing)
    ));
}

#[tokio::test]
async fn an_interrupted_body_leaves_nothing() {
    let s = Setup::new().await;
    let video = fake_mp4(600_000, 7);
    let body = pieces(&video[..400_000], 10_000).chain(stream::once(async {
        Err(io::Error::new(
            io::ErrorKind::ConnectionReset,
            "client went away",
        ))
    }));
    let err = s
        .staging
        .stage(s.user, body, UploadLimits::new(u64::MAX), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StagingError::Interrupted(ref m) if m.contains("client went away")),
        "{err:?}"
    );
    s.assert_nothing_left().await;

    // A body that stops before its declared length is an interruption too.
    let limits = UploadLimits::new(u64::MAX).with_declared_len(Some(video.len() as u64));
    let err = s
        .staging
        .stage(s.user, pieces(&video[..300_000], 10_000), limits, None)
        .await
        .unwrap_err();
    assert!(matches!(err, StagingError::Interrupted(_)), "{err:?}");
    s.assert_nothing_left().await;
}

#[tokio::test]
async fn a_cancelled_upload_leaves_nothing() {
    let s = Setup::new().await;
    let video = fake_mp4(400_000, 8);
    // The body stalls after 300 KB, as a client that stops sending; the caller gives up.
    let body = pieces(&video[..300_000], 10_000).chain(stream::pending());
    let staging = s.staging.clone();
    let user = s.user;
    let upload = tokio::spawn(async move {
        staging
            .stage(user, body, UploadLimits::new(u64::MAX), None)
            .await
    });
    // Wait until the upload is visibly under way (a part file exists), then cancel it.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while s.staged_files().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the upload never started"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    upload.abort();
    assert!(upload.await.unwrap_err().is_cancelled());
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !s.staged_files().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "left behind: {:?}",
            s.staged_files()
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    s.assert_nothing_left().await;
}

#[tokio::test]
async fn an_upload_over_the_limit_stops_reading_and_leaves_nothing() {
    let s = Setup::new().await;
    let video = fake_mp4(1_000_000, 9);
    let pulled = Arc::new(AtomicUsize::new(0));
    let counter = pulled.clone();
    let body = pieces(&video, 50_000).inspect(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let err = s
        .staging
        .stage(s.user, body, UploadLimits::new(120_000), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StagingError::TooLarge { limit: 120_000 }),
        "{err:?}"
    );
    assert_eq!(
        pulled.load(Ordering::SeqCst),
        3,
        "reading stops at the piece that passes the limit"
    );
    s.assert_nothing_left().await;

    // A declared length over the limit is refused before reading anything.
    let pulled = Arc::new(AtomicUsize::new(0));
    let counter = pulled.clone();
    let body = pieces(&video, 50_000).inspect(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let limits = UploadLimits::new(120_000).with_declared_len(Some(video.len() as u64));
    assert!(matches!(
        s.staging.stage(s.user, body, limits, None).await,
        Err(StagingError::TooLarge { .. })
    ));
    assert_eq!(pulled.load(Ordering::SeqCst), 0);
    s.assert_nothing_left().await;

    // Exactly at the limit is fine.
    let at_limit = s
        .staging
        .stage(
            s.user,
            pieces(&video[..120_000], 50_000),
            UploadLimits::new(120_000),
            None,
        )
        .await;
    assert_eq!(at_limit.unwrap().size, 120_000);
}

#[tokio::test]
async fn containers_are_recognised_by_magic_bytes_and_others_refused() {
    let s = Setup::new().await;
    assert_eq!(
        s.stage(&real_mp4("isom", 3, 40)).await.unwrap().container,
        Container::Mp4
    );
    assert_eq!(
        s.stage(&real_mp4("qt  ", 3, 40)).await.unwrap().container,
        Container::Mov
    );
    assert_eq!(
        s.stage(&webm(1_000.0)).await.unwrap().container,
        Container::Webm
    );
    s.store
        .list_media(s.user.workspace)
        .await
        .unwrap()
        .iter()
        .for_each(|m| assert!(m.size > 0));
    for m in s.store.list_media(s.user.workspace).await.unwrap() {
        s.staging.delete(&m).await.unwrap();
    }

    let mut gif = b"GIF89a".to_vec();
    gif.extend(vec![0u8; 200_000]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(vec![1u8; 200_000]);
    let mut avi = b"RIFF\0\0\0\0AVI LIST".to_vec();
    avi.extend(vec![2u8; 200_000]);
    for (what, bytes) in [("gif", gif), ("png", png)] {
        assert!(
            matches!(s.stage(&bytes).await, Err(StagingError::UnsupportedImage { format }) if format.eq_ignore_ascii_case(what)),
            "{what}"
        );
        s.assert_nothing_left().await;
    }
    for (what, bytes) in [("avi", avi), ("tiny", b"\0\0\0\x08ftyp".to_vec())] {
        assert!(
            matches!(s.stage(&bytes).await, Err(StagingError::UnsupportedType)),
            "{what}"
        );
        s.assert_nothing_left().await;
    }
    assert!(matches!(s.stage(b"").await, Err(StagingError::Empty)));
    s.assert_nothing_left().await;
}

/// Photos are staged by their bytes, read back whole, and refused (leaving nothing) past
/// TikTok's 20 MB or 1080p, or when their header cannot be read.
#[tokio::test]
async fn photos_are_staged_within_tiktoks_limits_and_refused_past_them() {
    use jobs::staging::image::{MAX_IMAGE_BYTES, samples};
    let s = Setup::new().await;
    let mut jpeg = samples::jpeg(1080, 1920);
    jpeg.extend(vec![9u8; 300_000]); // the picture data, as far as staging cares
    let staged = s.stage(&jpeg).await.unwrap();
    assert_eq!(staged.container, Container::Jpeg);
    assert_eq!(staged.duration_ms, None);
    assert_eq!(s.read_all(&staged).await.unwrap(), jpeg);
    let webp = samples::webp(1920, 1080);
    assert_eq!(s.stage(&webp).await.unwrap().container, Container::Webp);
    for m in s.store.list_media(s.user.workspace).await.unwrap() {
        s.staging.delete(&m).await.unwrap();
    }

    assert!(matches!(
        s.stage(&samples::jpeg(1081, 1921)).await,
        Err(StagingError::ImageResolution {
            width: 1081,
            height: 1921
        })
    ));
    s.assert_nothing_left().await;
    let mut huge = samples::jpeg(100, 100);
    huge.resize(usize::try_from(MAX_IMAGE_BYTES).unwrap() + 1, 0);
    assert!(matches!(
        s.stage(&huge).await,
        Err(StagingError::ImageTooLarge { .. })
    ));
    s.assert_nothing_left().await;
    let mut headless = vec![0xFF, 0xD8, 0xFF, 0xD9];
    headless.extend(vec![0u8; 1000]);
    assert!(matches!(
        s.stage(&headless).await,
        Err(StagingError::ImageUnreadable)
    ));
    s.assert_nothing_left().await;
}

#[tokio::test]
async fn the_duration_is_read_from_the_container_wherever_its_header_is() {
    let s = Setup::new().await;
    // 250 frames of 40 ms: 10 s; the mp4 writer puts moov after mdat.
    let moov_last = real_mp4("isom", 250, 40);
    let media = s.stage(&moov_last).await.unwrap();
    assert_eq!(media.duration_ms, Some(10_000));
    // Small segments put mdat across many of them; the moov is found by walking box headers.
    assert!(
        moov_last.len() > 2 * SEGMENT as usize,
        "spans segments: {}",
        moov_last.len()
    );

    let fast_start = moov_first(&moov_last);
    assert_eq!(
        s.stage(&fast_start).await.unwrap().duration_ms,
        Some(10_000)
    );
    assert_eq!(
        s.stage(&real_mp4("qt  ", 75, 40))
            .await
            .unwrap()
            .duration_ms,
        Some(3_000)
    );
    assert_eq!(
        s.stage(&webm(61_500.0)).await.unwrap().duration_ms,
        Some(61_500)
    );
    // An MP4 signature with no movie header: staged, duration unknown.
    assert_eq!(
        s.stage(&fake_mp4(100_000, 10)).await.unwrap().duration_ms,
        None
    );
}

#[tokio::test]
async fn progress_reports_the_running_byte_count() {
    let s = Setup::new().await;
    let video = fake_mp4(250_000, 11);
    let seen = std::sync::Mutex::new(Vec::new());
    let report = |n: u64| seen.lock().unwrap().push(n);
    s.staging
        .stage(
            s.user,
            pieces(&video, 30_000),
            UploadLimits::new(u64::MAX),
            Some(&report),
        )
        .await
        .unwrap();
    let seen = seen.into_inner().unwrap();
    assert_eq!(seen.len(), video.len().div_ceil(30_000));
    assert!(seen.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(seen.last().copied(), Some(video.len() as u64));
}

#[tokio::test]
async fn a_rewrapped_data_key_reads_with_only_the_new_key_and_a_stale_rewrap_changes_nothing() {
    use jobs::staging::Rewrap;
    use jobs::vault::{KeyRing, Vault, key_id_of};
    let s = Setup::new().await;
    let with_ring = |spec: &str| {
        Staging::new(
            &s.config,
            Vault::new(KeyRing::parse(spec).unwrap()),
            s.store.clone(),
        )
        .unwrap()
        .with_segment_size(SEGMENT)
    };
    let (v1, v2) = (KeyRing::generate_entry("v1"), KeyRing::generate_entry("v2"));
    let old = with_ring(&v1);
    let rotated = with_ring(&format!("{v2},{v1}"));
    let only_new = with_ring(&v2);
    let bytes = fake_mp4(3 * SEGMENT as usize + 100, 77);
    let media = old
        .stage(
            s.user,
            pieces(&bytes, 7_777),
            UploadLimits::new(s.config.staging.max_upload_bytes),
            None,
        )
        .await
        .unwrap();
    let object_before = std::fs::read(s.object_path(&media)).unwrap();

    assert_eq!(rotated.rewrap_key(&media).await.unwrap(), Rewrap::Rewrapped);
    let fresh = s.store.media(s.user.workspace, media.id).await.unwrap();
    assert_eq!(key_id_of(&fresh.wrapped_key), Some("v2"));
    assert_eq!(rotated.rewrap_key(&fresh).await.unwrap(), Rewrap::Current);
    // A re-wrap from a stale read loses its compare-and-set and writes nothing.
    assert_eq!(rotated.rewrap_key(&media).await.unwrap(), Rewrap::Changed);
    assert_eq!(
        s.store.media(s.user.workspace, media.id).await.unwrap(),
        fresh
    );

    let parts: Vec<Bytes> = only_new
        .open_range(&fresh, 0, fresh.size - 1)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(parts.concat(), bytes, "byte-exact with the new key alone");
    assert_eq!(
        std::fs::read(s.object_path(&fresh)).unwrap(),
        object_before,
        "the stored object is untouched: only the key's wrapping changed"
    );
    assert!(matches!(
        only_new.check_key(&media),
        Err(StagingError::Key(VaultError::UnknownKey(k))) if k == "v1"
    ));
    only_new.check_key(&fresh).unwrap();

    only_new.delete(&fresh).await.unwrap();
    assert_eq!(rotated.rewrap_key(&media).await.unwrap(), Rewrap::Gone);
}

#[tokio::test]
async fn the_sweeps_delete_expired_and_orphaned_videos_only() {
    let s = Setup::new().await;
    let far_future = Utc::now() + chrono::Duration::days(1);
    assert_eq!(
        s.staging.delete_orphans(far_future, 10).await.unwrap(),
        0,
        "nothing staged yet"
    );
    let expired = s.stage(&fake_mp4(70_000, 12)).await.unwrap();
    let attached = s.stage(&fake_mp4(70_000, 13)).await.unwrap();
    s.store
        .attach_media(s.user.workspace, attached.id, PostId::new())
        .await
        .unwrap();
    let orphan = s.stage(&fake_mp4(70_000, 14)).await.unwrap();
    s.store
        .delete_media(s.user.workspace, orphan.id)
        .await
        .unwrap();

    assert_eq!(
        s.staging.delete_expired(Utc::now(), 10).await.unwrap(),
        0,
        "nothing is due yet"
    );
    let later = expired.expires_at + chrono::Duration::seconds(1);
    assert_eq!(s.staging.delete_expired(later, 10).await.unwrap(), 1);
    assert!(!s.object_path(&expired).exists());
    assert!(matches!(
        s.store.media(s.user.workspace, expired.id).await,
        Err(StoreError::NotFound)
    ));

    assert_eq!(
        s.staging
            .delete_orphans(Utc::now() - chrono::Duration::hours(1), 10)
            .await
            .unwrap(),
        0,
        "too young"
    );
    assert_eq!(
        s.staging
            .delete_orphans(Utc::now() + chrono::Duration::seconds(1), 10)
            .await
            .unwrap(),
        1
    );
    assert!(!s.object_path(&orphan).exists());
    assert!(s.object_path(&attached).exists(), "attached media stay");
    assert_eq!(s.staged_files(), vec![s.object_path(&attached)]);
    let _ = &s.dir;
}

/// Peak resident memory of this process (Linux), in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        * 1024
}

/// Deterministic, cheap pseudo-random bytes: piece `i` of the big upload.
fn big_piece(i: u64, len: usize) -> Bytes {
    let mut out = Vec::with_capacity(len);
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    if i == 0 {
        out[..24].copy_from_slice(b"\0\0\0\x18ftypisom\0\0\x02\0isomiso2");
    }
    Bytes::from(out)
}

#[tokio::test]
async fn staging_256_mib_keeps_memory_bounded() {
    const PIECE: usize = 64 * 1024;
    const PIECES: u64 = 4 * 1024; // 256 MiB
    let s = Setup::new().await;
    let staging = s
        .staging
        .clone()
        .with_segment_size(jobs::staging::DEFAULT_SEGMENT_SIZE);
    let before = peak_rss();
    let body = stream::iter(0..PIECES).map(|i| Ok::<_, io::Error>(big_piece(i, PIECE)));
    let media = staging
        .stage(s.user, body, UploadLimits::new(u64::MAX), None)
        .await
        .unwrap();
    assert_eq!(media.size, PIECES * PIECE as u64);

    // Read it all back as the publisher would, in 10,000,000-byte TikTok chunks, and compare.
    let plan = plan(media.size, &ChunkPolicy::default()).unwrap();
    let (mut next_piece, mut expected) = (0u64, Bytes::new());
    for chunk in chunks(&plan) {
        let mut body = staging.open_range(&media, chunk.first, chunk.last);
        let mut got = 0u64;
        while let Some(part) = body.next().await {
            let mut part = part.unwrap();
            got += part.len() as u64;
            while !part.is_empty() {
                if expected.is_empty() {
                    expected = big_piece(next_piece, PIECE);
                    next_piece += 1;
                }
                let n = part.len().min(expected.len());
                assert!(
                    part.split_to(n) == expected.split_to(n),
                    "bytes differ in chunk {}",
                    chunk.index
                );
            }
        }
        assert_eq!(got, chunk.len());
    }
    assert_eq!((next_piece, expected.len()), (PIECES, 0));
    let grew = peak_rss().saturating_sub(before);
    println!(
        "staged and read back 256 MiB; peak RSS grew by {:.1} MiB",
        grew as f64 / (1 << 20) as f64
    );
    assert!(grew < 48 << 20, "peak RSS grew by {grew} bytes");
}
