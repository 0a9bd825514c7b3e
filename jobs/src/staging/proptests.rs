//! Property tests of what an upload is made of: container sniffing and duration probing on
//! valid, truncated and mutated MP4/MOV/WebM heads and on junk (`probe`), and the whole staging
//! of a body with hostile sizes: a `Content-Length` that lies either way, a limit passed, a body
//! that fails half way, pieces of any size (`Staging::stage`).

// Shared with the integration tests, which cannot reach into the crate; two test modules
// including one small file is cheaper than a crate-wide test module for it.
#[allow(clippy::duplicate_mod)]
#[path = "../../tests/support/mutate.rs"]
mod mutate;

use super::probe::tests::Mem;
use super::probe::{ReadAt, duration_ms, sniff};
use super::{Staging, StagingError, UploadLimits};
use crate::model::{Container, GoogleProfile, UserId};
use crate::store::DynStore;
use bytes::Bytes;
use futures::TryStreamExt;
use mutate::{config, mutated};
use proptest::prelude::*;
use proptest::sample::Index;

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

// ---- valid inputs ----

fn iso_box(kind: &[u8; 4], body: &[u8], large: bool) -> Vec<u8> {
    let mut v = if large {
        let mut v = 1u32.to_be_bytes().to_vec();
        v.extend_from_slice(kind);
        v.extend_from_slice(&(body.len() as u64 + 16).to_be_bytes());
        v
    } else {
        let mut v = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        v.extend_from_slice(kind);
        v
    };
    v.extend_from_slice(body);
    v
}

fn mvhd(version: u8, timescale: u32, duration: u64) -> Vec<u8> {
    let mut b = vec![version, 0, 0, 0];
    if version == 1 {
        b.extend_from_slice(&[0u8; 16]); // creation, modification
        b.extend_from_slice(&timescale.to_be_bytes());
        b.extend_from_slice(&duration.to_be_bytes());
    } else {
        b.extend_from_slice(&[0u8; 8]);
        b.extend_from_slice(&timescale.to_be_bytes());
        b.extend_from_slice(&(duration as u32).to_be_bytes());
    }
    b.extend_from_slice(&0x0001_0000u32.to_be_bytes()); // rate 1.0
    b.extend_from_slice(&0x0100u16.to_be_bytes()); // volume 1.0
    b.extend_from_slice(&[0u8; 10]);
    for m in [0x0001_0000u32, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000] {
        b.extend_from_slice(&m.to_be_bytes());
    }
    b.extend_from_slice(&[0u8; 24]);
    b.extend_from_slice(&2u32.to_be_bytes());
    iso_box(b"mvhd", &b, false)
}

fn mvex(version: u8, fragment_duration: u64) -> Vec<u8> {
    let mut mehd = vec![version, 0, 0, 0];
    if version == 1 {
        mehd.extend_from_slice(&fragment_duration.to_be_bytes());
    } else {
        mehd.extend_from_slice(&(fragment_duration as u32).to_be_bytes());
    }
    let mut trex = vec![0u8; 4];
    trex.extend_from_slice(&1u32.to_be_bytes());
    trex.extend_from_slice(&[0u8; 16]);
    let body = [
        iso_box(b"mehd", &mehd, false),
        iso_box(b"trex", &trex, false),
    ]
    .concat();
    iso_box(b"mvex", &body, false)
}

/// A movie header's duration in a version-0 or version-1 box: anything but the "unknown" values.
fn known_duration(version: u8) -> BoxedStrategy<u64> {
    if version == 0 {
        (1u64..u64::from(u32::MAX)).boxed()
    } else {
        prop_oneof![1u64..u64::from(u32::MAX), u64::from(u32::MAX) + 1..u64::MAX].boxed()
    }
}

fn to_ms(duration: u64, timescale: u32) -> Option<u64> {
    u64::try_from(u128::from(duration) * 1000 / u128::from(timescale)).ok()
}

/// A valid MP4 or MOV file head with its duration in `mvhd` or (fragmented) in `mvex/mehd`;
/// `moov` before or after `mdat`, other boxes around, 32- or 64-bit sizes, the last box sized
/// "to the end"; and the duration in ms it states.
fn valid_iso() -> impl Strategy<Value = (Vec<u8>, Option<u64>)> {
    (0u8..2, 0u8..2, 1u32..=u32::MAX, any::<bool>())
        .prop_flat_map(|(v, mehd_v, timescale, fragmented)| {
            (
                Just((v, mehd_v, timescale, fragmented)),
                known_duration(if fragmented { mehd_v } else { v }),
                any::<bool>(),
                any::<bool>(),
                any::<bool>(),
                proptest::collection::vec(any::<u8>(), 0..64),
                0usize..3000,
                any::<bool>(),
            )
        })
        .prop_map(
            |(
                (v, mehd_v, timescale, fragmented),
                duration,
                mov,
                moov_first,
                large,
                junk,
                mdat_len,
                to_end,
            )| {
                let mut moov = Vec::new();
                moov.extend(iso_box(b"udta", &junk, false));
                if fragmented {
                    moov.extend(mvhd(v, timescale, 0));
                    moov.extend(mvex(mehd_v, duration));
                } else {
                    moov.extend(mvhd(v, timescale, duration));
                }
                moov.extend(iso_box(b"trak", &junk, large));
                let moov = iso_box(b"moov", &moov, false);
                let brand: &[u8] = if mov {
                    b"qt  \0\0\0\0qt  "
                } else {
                    b"isom\0\0\0\0isomiso6"
                };
                let ftyp = iso_box(b"ftyp", brand, false);
                let mut mdat = iso_box(b"mdat", &vec![0xAB; mdat_len], large);
                let mut file = ftyp;
                if moov_first {
                    file.extend(moov);
                    if to_end && !large {
                        mdat[..4].copy_from_slice(&0u32.to_be_bytes());
                    }
                    file.extend(mdat);
                } else {
                    file.extend(mdat);
                    file.extend(moov);
                }
                (file, to_ms(duration, timescale))
            },
        )
}

fn ebml_size(len: usize, wide: bool) -> Vec<u8> {
    if !wide && len < 127 {
        vec![0x80 | len as u8]
    } else {
        let mut v = vec![0x01];
        v.extend_from_slice(&(len as u64).to_be_bytes()[1..]);
        v
    }
}

fn ebml(id: &[u8], body: &[u8], wide: bool) -> Vec<u8> {
    let mut v = id.to_vec();
    v.extend(ebml_size(body.len(), wide));
    v.extend_from_slice(body);
    v
}

/// A valid WebM head: EBML header, a Segment of known or unknown size, maybe a SeekHead and a
/// Void, an Info with a 4- or 8-byte Duration and maybe a TimecodeScale, then a Cluster.
fn valid_webm() -> impl Strategy<Value = (Vec<u8>, Option<u64>)> {
    (
        0f64..1e9,
        proptest::option::of(prop_oneof![Just(1_000_000u64), 1u64..10_000_000]),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        0usize..2000,
    )
        .prop_map(
            |(duration, scale, f32_duration, unknown_segment, seek, wide, cluster_len)| {
                let header = ebml(
                    &[0x1A, 0x45, 0xDF, 0xA3],
                    &ebml(&[0x42, 0x82], b"webm", wide),
                    wide,
                );
                let mut info = Vec::new();
                if let Some(s) = scale {
                    let bytes = s.to_be_bytes();
                    let first = bytes.iter().position(|b| *b != 0).unwrap_or(7);
                    info.extend(ebml(&[0x2A, 0xD7, 0xB1], &bytes[first..], wide));
                }
                let stated = if f32_duration {
                    let d = duration as f32;
                    info.extend(ebml(&[0x44, 0x89], &d.to_be_bytes(), wide));
                    f64::from(d)
                } else {
                    info.extend(ebml(&[0x44, 0x89], &duration.to_be_bytes(), wide));
                    duration
                };
                let mut body = Vec::new();
                if seek {
                    body.extend(ebml(&[0x11, 0x4D, 0x9B, 0x74], &[0xEC, 0x81, 0x00], wide));
                    body.extend(ebml(&[0xEC], &[0u8; 5], wide));
                }
                body.extend(ebml(&[0x15, 0x49, 0xA9, 0x66], &info, wide));
                body.extend(ebml(
                    &[0x1F, 0x43, 0xB6, 0x75],
                    &vec![0u8; cluster_len],
                    wide,
                ));
                let mut file = header;
                file.extend_from_slice(&[0x18, 0x53, 0x80, 0x67]);
                if unknown_segment {
                    file.extend_from_slice(&[0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
                } else {
                    file.extend(ebml_size(body.len(), wide));
                }
                file.extend(body);
                let ms = stated * scale.unwrap_or(1_000_000) as f64 / 1e6;
                (file, Some(ms.round() as u64))
            },
        )
}

// ---- hostile inputs ----

/// Box and element sizes at the edges: zero, "to the end", smaller than a header, the largest.
const HOSTILE_SIZES: [u32; 9] = [0, 1, 7, 8, 9, 16, 0x7FFF_FFFF, 0xFFFF_FFFE, u32::MAX];

/// A valid head with sizes overwritten, then byte-level damage; or junk after each magic.
fn hostile_file() -> impl Strategy<Value = Vec<u8>> {
    let valid = prop_oneof![
        valid_iso().prop_map(|(f, _)| f),
        valid_webm().prop_map(|(f, _)| f)
    ];
    let resized = (
        valid.clone(),
        proptest::collection::vec((any::<Index>(), 0..HOSTILE_SIZES.len()), 1..4),
    )
        .prop_map(|(mut f, sizes)| {
            for (i, s) in sizes {
                let at = i.index(f.len().saturating_sub(4).max(1));
                let end = (at + 4).min(f.len());
                let bytes = HOSTILE_SIZES[s].to_be_bytes();
                f[at..end].copy_from_slice(&bytes[..end - at]);
            }
            f
        });
    let junk_after = |magic: &'static [u8]| {
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(move |tail| [magic, &tail].concat())
    };
    prop_oneof![
        4 => mutated(valid, 6),
        3 => resized,
        1 => junk_after(b"\0\0\0\x18ftypisom"),
        1 => junk_after(b"\0\0\0\x14ftypqt  "),
        1 => junk_after(&[0x1A, 0x45, 0xDF, 0xA3]),
        1 => proptest::collection::vec(any::<u8>(), 0..300),
    ]
}

/// Counts what the probe reads, to show its work is bounded whatever the file says.
struct Counting<'a> {
    inner: Mem<'a>,
    calls: usize,
}

impl ReadAt for Counting<'_> {
    fn size(&self) -> u64 {
        self.inner.size()
    }
    async fn read_at(&mut self, offset: u64, len: u64) -> Result<Vec<u8>, StagingError> {
        self.calls += 1;
        self.inner.read_at(offset, len).await
    }
}

/// The probe's duration of `file` as its sniffed container, and how many reads it took.
fn probe(file: &[u8]) -> (Option<Container>, Option<u64>, usize) {
    let container = sniff(file);
    let Some(c) = container else {
        return (None, None, 0);
    };
    let mut r = Counting {
        inner: Mem(file),
        calls: 0,
    };
    let d = block_on(duration_ms(c, &mut r)).expect("reading memory cannot fail");
    (container, d, r.calls)
}

/// Reads are box/element headers (at most 1024 per level, two levels) plus two small boxes.
const MAX_READS: usize = 2 * 1024 + 4;

proptest! {
    #![proptest_config(config(3000))]

    #[test]
    fn a_valid_mp4_or_mov_head_gives_its_duration((file, ms) in valid_iso()) {
        let (container, d, _) = probe(&file);
        prop_assert!(matches!(container, Some(Container::Mp4 | Container::Mov)));
        prop_assert_eq!(d, ms);
    }

    #[test]
    fn a_valid_webm_head_gives_its_duration((file, ms) in valid_webm()) {
        let (container, d, _) = probe(&file);
        prop_assert_eq!(container, Some(Container::Webm));
        prop_assert_eq!(d, ms);
    }

    /// Truncated, mutated, resized or junk: no panic, no error (the bytes are all there), a
    /// bounded number of reads, and a duration only where the container states one.
    #[test]
    fn a_hostile_head_gives_a_duration_or_none_in_bounded_reads(file in hostile_file()) {
        let (_, _, calls) = probe(&file);
        prop_assert!(calls <= MAX_READS, "{calls} reads");
    }

    /// Every prefix of a valid file is probed without panicking (an upload cut short).
    #[test]
    fn every_prefix_of_a_valid_head_is_probed(
        (file, _) in prop_oneof![valid_iso(), valid_webm()],
        cut in any::<Index>(),
    ) {
        let cut = cut.index(file.len() + 1);
        let (_, _, calls) = probe(&file[..cut]);
        prop_assert!(calls <= MAX_READS);
    }
}

// ---- staging whole bodies ----

/// A staging area in a temp directory with a SQLite store and one user.
struct Area {
    _dir: tempfile::TempDir,
    staging_dir: std::path::PathBuf,
    store: DynStore,
    staging: Staging,
    user: UserId,
}

impl Area {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = crate::config::Config::for_tests(dir.path());
        let store = crate::store::connect(&format!("sqlite://{}/db", dir.path().display()))
            .await
            .unwrap();
        let user = store
            .upsert_user(&GoogleProfile {
                google_uid: "proptest".into(),
                email: "p@example.com".into(),
                name: "P".into(),
                picture: None,
            })
            .await
            .unwrap()
            .id;
        let vault = crate::vault::Vault::new(config.identity.token_keys.clone());
        let staging = Staging::new(&config, vault, store.clone())
            .unwrap()
            .with_segment_size(4096);
        Self {
            staging_dir: config.staging.url.to_file_path().unwrap(),
            _dir: dir,
            store,
            staging,
            user,
        }
    }

    fn files(&self) -> usize {
        fn walk(dir: &std::path::Path) -> usize {
            std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| {
                    if e.path().is_dir() {
                        walk(&e.path())
                    } else {
                        1
                    }
                })
                .sum()
        }
        walk(&self.staging_dir)
    }
}

/// An upload as the web tier hands it over: the body's pieces (an `Err` is the client going
/// away), the `Content-Length` it announced and the limit.
#[derive(Debug, Clone)]
struct Upload {
    body: Vec<u8>,
    pieces: Vec<Result<Vec<u8>, String>>,
    declared: Option<u64>,
    max: u64,
}

fn upload() -> impl Strategy<Value = Upload> {
    let body = prop_oneof![
        3 => valid_iso().prop_map(|(f, _)| f),
        2 => valid_webm().prop_map(|(f, _)| f),
        2 => hostile_file(),
        1 => proptest::collection::vec(any::<u8>(), 0..20),
    ];
    (
        body,
        proptest::collection::vec(any::<Index>(), 0..6),
        proptest::option::weighted(0.2, any::<Index>()),
        0u8..8,
        -64i64..64,
        0u8..5,
    )
        .prop_map(|(body, cuts, fail_at, declared_kind, delta, max_kind)| {
            let len = body.len() as u64;
            let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(body.len() + 1)).collect();
            cuts.push(0);
            cuts.push(body.len());
            cuts.sort_unstable();
            let mut pieces: Vec<Result<Vec<u8>, String>> = cuts
                .windows(2)
                .map(|w| Ok(body[w[0]..w[1]].to_vec()))
                .collect();
            if let Some(at) = fail_at {
                let at = at.index(pieces.len() + 1);
                pieces.insert(at, Err("connection reset by peer".into()));
            }
            let declared = match declared_kind {
                0 | 1 => None,
                2 | 3 => Some(len),
                4 => Some(len.saturating_add_signed(delta)),
                5 => Some(0),
                6 => Some(u64::MAX),
                _ => Some(len + 1),
            };
            let max = match max_kind {
                0 | 1 => 1 << 30,
                2 => len,
                3 => len.saturating_sub(1),
                _ => len.saturating_add_signed(delta),
            };
            Upload {
                body,
                pieces,
                declared,
                max,
            }
        })
}

/// What staging must answer, from the rules in its docs: a declared length over the limit is
/// refused before reading; while streaming, passing the limit, passing the declared length or
/// the body failing stop it; an empty body, a body shorter than declared and a body that is
/// not a supported container are refused; anything else is staged whole.
fn expected(u: &Upload) -> Result<Container, &'static str> {
    if u.declared.is_some_and(|n| n > u.max) {
        return Err("too_large");
    }
    let (mut total, mut head, mut container) = (0u64, Vec::new(), None);
    for piece in &u.pieces {
        let Ok(piece) = piece else {
            return Err("interrupted");
        };
        total += piece.len() as u64;
        if total > u.max {
            return Err("too_large");
        }
        if u.declared.is_some_and(|n| total > n) {
            return Err("interrupted");
        }
        if container.is_none() {
            let take = (12 - head.len()).min(piece.len());
            head.extend_from_slice(&piece[..take]);
            if head.len() == 12 {
                container = Some(sniff(&head).ok_or("unsupported")?);
            }
        }
    }
    if total == 0 {
        return Err("empty");
    }
    if u.declared.is_some_and(|n| n != total) {
        return Err("interrupted");
    }
    container.or_else(|| sniff(&head)).ok_or("unsupported")
}

fn kind(e: &StagingError) -> &'static str {
    match e {
        StagingError::TooLarge { .. } => "too_large",
        StagingError::Empty => "empty",
        StagingError::UnsupportedType => "unsupported",
        StagingError::Interrupted(_) => "interrupted",
        _ => "other",
    }
}

/// One staging area for all cases (a store with migrations per case would dominate the run),
/// with the runtime its connection pool lives on.
static AREA: std::sync::LazyLock<(tokio::runtime::Runtime, Area)> =
    std::sync::LazyLock::new(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let area = rt.block_on(Area::new());
        (rt, area)
    });

proptest! {
    #![proptest_config(config(2000))]

    /// Any body, cut into any pieces, with any `Content-Length` and limit: staged whole and
    /// readable back byte for byte when it should be, else refused with the uploader's error —
    /// and then nothing is left, no object and no row.
    #[test]
    fn hostile_uploads_are_staged_whole_or_leave_nothing(u in upload()) {
        let (rt, area) = &*AREA;
        let want = expected(&u);
        let probed = probe(&u.body).1;
        rt.block_on(async {
            {
                let stream = futures::stream::iter(u.pieces.iter().cloned().map(|p| p.map(Bytes::from)));
                let limits = UploadLimits::new(u.max).with_declared_len(u.declared);
                match area.staging.stage(crate::model::Actor::personal(area.user), stream, limits, None).await {
                    Ok(media) => {
                        prop_assert_eq!(Ok(media.container), want, "{:?}", u.declared);
                        prop_assert_eq!(media.size, u.body.len() as u64);
                        let back: Vec<Bytes> = area
                            .staging
                            .open_range(&media, 0, media.size - 1)
                            .try_collect()
                            .await
                            .unwrap();
                        prop_assert!(back.concat() == u.body, "read back differs");
                        // The probe through the decrypting reader sees what it sees in memory.
                        prop_assert_eq!(media.duration_ms, probed);
                        area.staging.delete(&media).await.unwrap();
                    }
                    Err(e) => {
                        prop_assert_eq!(Err(kind(&e)), want, "{}", e);
                        prop_assert!(!e.to_string().is_empty());
                    }
                }
                prop_assert_eq!(area.files(), 0, "a staged file was left behind");
                prop_assert!(area.store.list_media(crate::model::Workspace::personal_id(area.user)).await.unwrap().is_empty());
            }
            Ok(())
        })?;
    }
}

/// Runs the probe on another thread and gives up after a while: the bugs below hung forever.
fn probe_within(file: Vec<u8>, secs: u64) -> Option<Option<u64>> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(probe(&file).1);
    });
    rx.recv_timeout(std::time::Duration::from_secs(secs)).ok()
}

/// Found by `a_hostile_head_gives_a_duration_or_none_in_bounded_reads`: a child box of size 0
/// (or 1..7) inside `mvex` made the `mp4` crate re-read that box forever, so one upload spun a
/// core for good.
#[test]
fn a_zero_sized_box_inside_mvex_does_not_hang_the_probe() {
    for size in [0u32, 4, 7] {
        let mut hostile = size.to_be_bytes().to_vec();
        hostile.extend_from_slice(b"free");
        let mut trex = vec![0u8; 4];
        trex.extend_from_slice(&1u32.to_be_bytes());
        trex.extend_from_slice(&[0u8; 16]);
        let mvex_body = [hostile, iso_box(b"trex", &trex, false)].concat();
        let moov = [mvhd(0, 1000, 0), iso_box(b"mvex", &mvex_body, false)].concat();
        let file = [
            iso_box(b"ftyp", b"isom\0\0\0\0isomiso6", false),
            iso_box(b"moov", &moov, false),
            iso_box(b"mdat", &[0u8; 64], false),
        ]
        .concat();
        assert_eq!(probe_within(file, 20), Some(None), "size {size}");
    }
}

/// The same with the `mvhd` itself sized 0 ("to the end of moov", which ISO allows).
#[test]
fn a_zero_sized_mvhd_does_not_hang_the_probe() {
    let mut mvhd = mvhd(0, 1000, 5000);
    mvhd[..4].copy_from_slice(&0u32.to_be_bytes());
    let file = [
        iso_box(b"ftyp", b"isom\0\0\0\0isomiso6", false),
        iso_box(b"moov", &mvhd, false),
    ]
    .concat();
    assert_eq!(probe_within(file, 20), Some(None));
}
