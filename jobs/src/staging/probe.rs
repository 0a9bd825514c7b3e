//! What an upload is: its container, recognised by magic bytes in the first bytes of the body,
//! and its duration, read from the container's own header.
//!
//! Duration is read after the object is stored, through the decrypting random-access reader,
//! so the order of boxes in the file does not matter (phones often write `moov` after `mdat`)
//! and memory stays small: only box headers and the few small boxes that carry the duration
//! are read, never the media data and never the whole `moov` (its sample tables can be MBs).

use super::{StagingError, image};
use crate::model::Container;
use mp4::ReadBox;
use std::io::Cursor;

/// Bytes needed to recognise every supported container.
pub(crate) const SNIFF_LEN: usize = 12;

/// Boxes or elements looked at before giving up on finding the duration: a valid file puts it
/// in the first few, a hostile one must not make us walk millions.
const MAX_ELEMENTS: usize = 1024;

/// Largest header box we read whole (`mvhd` is ~120 bytes, `mvex` and WebM `Info` a few hundred).
const MAX_SMALL_BOX: u64 = 64 * 1024;

/// Recognises the container from the first bytes: an ISO-BMFF `ftyp` box at offset 4 (MP4, or
/// MOV when the major brand is QuickTime's `qt  `) or an EBML header (WebM/Matroska).
pub fn sniff(head: &[u8]) -> Option<Container> {
    if head.len() >= 4 && head[..4] == [0x1A, 0x45, 0xDF, 0xA3] {
        return Some(Container::Webm);
    }
    if head.len() >= SNIFF_LEN && &head[4..8] == b"ftyp" {
        return Some(if &head[8..12] == b"qt  " {
            Container::Mov
        } else {
            Container::Mp4
        });
    }
    None
}

/// Random access to the plaintext of a stored video.
pub(crate) trait ReadAt {
    /// Plaintext size.
    fn size(&self) -> u64;
    /// Up to `len` bytes from `offset`: fewer at the end, none past it.
    async fn read_at(&mut self, offset: u64, len: u64) -> Result<Vec<u8>, StagingError>;
}

/// The duration in milliseconds, or `None` when the container does not say (a WebM recorded
/// live, a fragmented MP4 without `mehd`) or its header is not what we expect. Errors are only
/// read failures of the stored object.
pub(crate) async fn duration_ms(
    container: Container,
    r: &mut impl ReadAt,
) -> Result<Option<u64>, StagingError> {
    match container {
        Container::Mp4 | Container::Mov => mp4_duration(r).await,
        Container::Webm => webm_duration(r).await,
        Container::Jpeg | Container::Webp => Ok(None),
    }
}

/// What staging checks of a stored upload once it is complete: a video's duration (see
/// [`duration_ms`]); a photo's dimensions, within TikTok's 1080p (refused otherwise).
pub(crate) async fn inspect(
    container: Container,
    r: &mut impl ReadAt,
) -> Result<Option<u64>, StagingError> {
    if !container.is_image() {
        return duration_ms(container, r).await;
    }
    let head = r.read_at(0, image::HEADER_WINDOW.min(r.size())).await?;
    let (width, height) =
        image::dimensions(container, &head).ok_or(StagingError::ImageUnreadable)?;
    if !image::within_1080p(width, height) {
        return Err(StagingError::ImageResolution { width, height });
    }
    Ok(None)
}

/// The container of an upload from its first bytes: a video, a photo, or a clear refusal
/// (naming the image format TikTok does not take, such as PNG).
pub(crate) fn recognise(head: &[u8]) -> Result<Container, StagingError> {
    if let Some(c) = sniff(head).or_else(|| image::sniff(head)) {
        return Ok(c);
    }
    Err(match image::refused_format(head) {
        Some(format) => StagingError::UnsupportedImage { format },
        None => StagingError::UnsupportedType,
    })
}

// ---- ISO-BMFF (MP4, MOV) ----

struct BoxHead {
    kind: [u8; 4],
    /// Whole box, header included.
    size: u64,
}

/// The box header at `pos`, if a well-formed box fits before `end`.
async fn box_at(r: &mut impl ReadAt, pos: u64, end: u64) -> Result<Option<BoxHead>, StagingError> {
    if end.saturating_sub(pos) < 8 {
        return Ok(None);
    }
    let b = r.read_at(pos, 16.min(end - pos)).await?;
    let Some(size32) = b
        .get(..4)
        .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    else {
        return Ok(None);
    };
    let kind = [b[4], b[5], b[6], b[7]];
    let (header, size) = match size32 {
        // 64-bit size follows the type.
        1 => match b.get(8..16) {
            Some(s) => (
                16,
                u64::from_be_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]]),
            ),
            None => return Ok(None),
        },
        // Extends to the end of the enclosing box (or file).
        0 => (8, end - pos),
        n => (8, u64::from(n)),
    };
    if size < header || size > end - pos {
        return Ok(None);
    }
    Ok(Some(BoxHead { kind, size }))
}

async fn mp4_duration(r: &mut impl ReadAt) -> Result<Option<u64>, StagingError> {
    let end = r.size();
    let mut pos = 0;
    for _ in 0..MAX_ELEMENTS {
        let Some(b) = box_at(r, pos, end).await? else {
            return Ok(None);
        };
        if &b.kind == b"moov" {
            return movie_duration(r, pos, pos + b.size).await;
        }
        pos += b.size;
    }
    Ok(None)
}

/// Reads `mvhd` (and `mvex/mehd` for fragmented files, whose `mvhd` duration is 0) among the
/// children of the `moov` box spanning `start..end`. Only those two small children are read:
/// they are parsed by the `mp4` crate as a trimmed `moov`, so unusual tracks (timecode, metadata)
/// cannot make a valid file lose its duration.
async fn movie_duration(
    r: &mut impl ReadAt,
    start: u64,
    end: u64,
) -> Result<Option<u64>, StagingError> {
    let mut pos = start + 8;
    let (mut mvhd, mut mvex) = (None, None);
    for _ in 0..MAX_ELEMENTS {
        let Some(b) = box_at(r, pos, end).await? else {
            break;
        };
        if b.size <= MAX_SMALL_BOX {
            match &b.kind {
                b"mvhd" => mvhd = Some(r.read_at(pos, b.size).await?),
                b"mvex" => mvex = Some(r.read_at(pos, b.size).await?),
                _ => {}
            }
        }
        pos += b.size;
    }
    let Some(mvhd) = mvhd.filter(|b| explicit_sizes(b, false)) else {
        return Ok(None);
    };
    let mvex = mvex.filter(|b| explicit_sizes(b, true));
    let Some(movie) = trimmed_moov(&[&mvhd]) else {
        return Ok(None);
    };
    // Zero or all ones means "unknown" in a version-0 or version-1 header.
    let known = |d: &u64| *d != 0 && *d != u64::from(u32::MAX) && *d != u64::MAX;
    let duration = match Some(movie.mvhd.duration).filter(known) {
        Some(d) => Some(d),
        // Fragmented: the whole duration is in mvex/mehd (a broken mvex costs only this).
        None => mvex
            .and_then(|mvex| trimmed_moov(&[&mvhd, &mvex]))
            .and_then(|m| m.mvex)
            .and_then(|mvex| mvex.mehd)
            .map(|mehd| mehd.fragment_duration)
            .filter(known),
    };
    Ok(duration.and_then(|d| to_ms(d, movie.mvhd.timescale)))
}

/// Whether `b` is exactly one box with an explicit size, and (for a container) made of such
/// boxes. The `mp4` crate skips a box by seeking to its start plus its size, so a box sized 0
/// ("to the end", valid ISO) or smaller than its header is read again forever: one upload
/// would spin a core for good. Such boxes never reach it.
fn explicit_sizes(b: &[u8], container: bool) -> bool {
    fn box_len(b: &[u8]) -> Option<(usize, usize)> {
        let size32 = u32::from_be_bytes(b.get(..4)?.try_into().ok()?);
        let (header, size) = match size32 {
            0 => return None,
            1 => (16, u64::from_be_bytes(b.get(8..16)?.try_into().ok()?)),
            n => (8, u64::from(n)),
        };
        let size = usize::try_from(size).ok()?;
        (size >= header && size <= b.len()).then_some((header, size))
    }
    let Some((header, size)) = box_len(b) else {
        return false;
    };
    if size != b.len() {
        return false;
    }
    if !container {
        return true;
    }
    let mut pos = header;
    while pos < b.len() {
        match box_len(&b[pos..]) {
            Some((_, child)) => pos += child,
            None => return false,
        }
    }
    true
}

/// Parses a `moov` holding only `children` with the `mp4` crate.
fn trimmed_moov(children: &[&[u8]]) -> Option<mp4::MoovBox> {
    let len: usize = children.iter().map(|c| c.len()).sum();
    let mut moov = u32::try_from(len + 8).ok()?.to_be_bytes().to_vec();
    moov.extend_from_slice(b"moov");
    children.iter().for_each(|c| moov.extend_from_slice(c));
    let mut cursor = Cursor::new(moov.as_slice());
    let header = mp4::BoxHeader::read(&mut cursor).ok()?;
    mp4::MoovBox::read_box(&mut cursor, header.size).ok()
}

fn to_ms(duration: u64, timescale: u32) -> Option<u64> {
    if timescale == 0 {
        return None;
    }
    u64::try_from(u128::from(duration) * 1000 / u128::from(timescale)).ok()
}

// ---- EBML (WebM, Matroska) ----

const EBML_HEADER: u32 = 0x1A45_DFA3;
const SEGMENT: u32 = 0x1853_8067;
const INFO: u32 = 0x1549_A966;
const CLUSTER: u32 = 0x1F43_B675;
const TIMECODE_SCALE: u32 = 0x2A_D7B1;
const DURATION: u32 = 0x4489;

struct Element {
    id: u32,
    data_start: u64,
    /// `None`: "unknown size" (live recordings), running to the end of the parent.
    size: Option<u64>,
}

/// Length of a variable-size integer from its first byte (1 to 8).
fn vint_len(first: u8) -> Option<usize> {
    let n = first.leading_zeros() as usize + 1;
    (n <= 8).then_some(n)
}

/// An element id (marker bits kept, as the specification writes ids) and its length.
fn read_id(b: &[u8]) -> Option<(u32, usize)> {
    let n = vint_len(*b.first()?)?;
    if n > 4 {
        return None;
    }
    let id = b
        .get(..n)?
        .iter()
        .fold(0u32, |acc, x| (acc << 8) | u32::from(*x));
    Some((id, n))
}

/// An element size (marker bit cleared; all ones means unknown) and its length.
fn read_size(b: &[u8]) -> Option<(Option<u64>, usize)> {
    let n = vint_len(*b.first()?)?;
    let raw = b
        .get(..n)?
        .iter()
        .fold(0u64, |acc, x| (acc << 8) | u64::from(*x));
    let bits = 7 * n as u32;
    let value = raw & ((1u64 << bits) - 1);
    let unknown = value == (1u64 << bits) - 1;
    Some(((!unknown).then_some(value), n))
}

async fn element_at(
    r: &mut impl ReadAt,
    pos: u64,
    end: u64,
) -> Result<Option<Element>, StagingError> {
    if pos >= end {
        return Ok(None);
    }
    let b = r.read_at(pos, 12.min(end - pos)).await?;
    let Some((id, id_len)) = read_id(&b) else {
        return Ok(None);
    };
    let Some((size, size_len)) = b.get(id_len..).and_then(read_size) else {
        return Ok(None);
    };
    let data_start = pos + (id_len + size_len) as u64;
    if size.is_some_and(|s| s > end.saturating_sub(data_start)) {
        return Ok(None);
    }
    Ok(Some(Element {
        id,
        data_start,
        size,
    }))
}

/// Follows EBML header → Segment → Info and reads `Duration × TimecodeScale`. Stops at the
/// first Cluster: a file that has an Info with a duration writes it before its clusters.
async fn webm_duration(r: &mut impl ReadAt) -> Result<Option<u64>, StagingError> {
    let end = r.size();
    let Some(header) = element_at(r, 0, end).await? else {
        return Ok(None);
    };
    let (EBML_HEADER, Some(header_size)) = (header.id, header.size) else {
        return Ok(None);
    };
    let Some(segment) = element_at(r, header.data_start + header_size, end).await? else {
        return Ok(None);
    };
    if segment.id != SEGMENT {
        return Ok(None);
    }
    let segment_end = segment.size.map_or(end, |s| segment.data_start + s);
    let mut pos = segment.data_start;
    for _ in 0..MAX_ELEMENTS {
        let Some(el) = element_at(r, pos, segment_end).await? else {
            return Ok(None);
        };
        let Some(size) = el.size else { return Ok(None) };
        match el.id {
            INFO if size <= MAX_SMALL_BOX => {
                return Ok(info_duration(&r.read_at(el.data_start, size).await?));
            }
            INFO | CLUSTER => return Ok(None),
            _ => pos = el.data_start + size,
        }
    }
    Ok(None)
}

fn info_duration(info: &[u8]) -> Option<u64> {
    let mut scale_ns: u64 = 1_000_000; // the default TimecodeScale: milliseconds
    let mut duration: Option<f64> = None;
    let mut pos = 0;
    while pos < info.len() {
        let (id, id_len) = read_id(&info[pos..])?;
        let (size, size_len) = read_size(info.get(pos + id_len..)?)?;
        let start = pos + id_len + size_len;
        let data = info.get(start..start.checked_add(usize::try_from(size?).ok()?)?)?;
        match id {
            TIMECODE_SCALE if (1..=8).contains(&data.len()) => {
                scale_ns = data.iter().fold(0u64, |acc, x| (acc << 8) | u64::from(*x));
            }
            DURATION => {
                duration = match data.len() {
                    4 => Some(f64::from(f32::from_be_bytes([
                        data[0], data[1], data[2], data[3],
                    ]))),
                    8 => Some(f64::from_be_bytes([
                        data[0], data[1], data[2], data[3], data[4], data[5], data[6], data[7],
                    ])),
                    _ => None,
                };
            }
            _ => {}
        }
        pos = start + data.len();
    }
    let ms = duration? * scale_ns as f64 / 1e6;
    (ms.is_finite() && ms >= 0.0 && ms < u64::MAX as f64).then(|| ms.round() as u64)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Plaintext in memory, for probing without a store.
    pub(crate) struct Mem<'a>(pub &'a [u8]);

    impl ReadAt for Mem<'_> {
        fn size(&self) -> u64 {
            self.0.len() as u64
        }
        async fn read_at(&mut self, offset: u64, len: u64) -> Result<Vec<u8>, StagingError> {
            let start = (offset as usize).min(self.0.len());
            let end = (offset.saturating_add(len) as usize).min(self.0.len());
            Ok(self.0[start..end].to_vec())
        }
    }

    fn ebml(id: &[u8], body: &[u8]) -> Vec<u8> {
        let mut v = id.to_vec();
        v.push(0x80 | body.len() as u8); // one-byte size; test bodies are < 127 bytes
        v.extend_from_slice(body);
        v
    }

    /// A WebM head as browsers write it: EBML header, Segment of unknown size, Info.
    pub(crate) fn webm_head(duration_ms: f64) -> Vec<u8> {
        let mut v = ebml(&[0x1A, 0x45, 0xDF, 0xA3], &ebml(&[0x42, 0x82], b"webm"));
        v.extend_from_slice(&[
            0x18, 0x53, 0x80, 0x67, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        ]);
        v.extend(ebml(&[0x11, 0x4D, 0x9B, 0x74], &[0xEC, 0x81, 0x00])); // SeekHead with a Void
        let mut info = ebml(&[0x2A, 0xD7, 0xB1], &[0x0F, 0x42, 0x40]); // TimecodeScale 1,000,000
        info.extend(ebml(&[0x44, 0x89], &duration_ms.to_be_bytes()));
        v.extend(ebml(&[0x15, 0x49, 0xA9, 0x66], &info));
        v.extend_from_slice(&[
            0x1F, 0x43, 0xB6, 0x75, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        ]);
        v.extend_from_slice(&[0u8; 64]);
        v
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn containers_are_recognised_by_magic_bytes() {
        let mut mp4 = vec![0, 0, 0, 0x18];
        mp4.extend_from_slice(b"ftypisom");
        assert_eq!(sniff(&mp4), Some(Container::Mp4));
        let mut mov = vec![0, 0, 0, 0x14];
        mov.extend_from_slice(b"ftypqt  ");
        assert_eq!(sniff(&mov), Some(Container::Mov));
        assert_eq!(sniff(&webm_head(1.0)), Some(Container::Webm));
        for other in [
            &b"GIF89a......"[..],
            b"\x89PNG\r\n\x1a\n....",
            b"RIFF....AVI ",
            b"ftyp",
            b"",
        ] {
            assert_eq!(sniff(other), None);
        }
    }

    #[test]
    fn webm_duration_comes_from_segment_info() {
        let head = webm_head(83_456.0);
        assert_eq!(
            block_on(duration_ms(Container::Webm, &mut Mem(&head))).unwrap(),
            Some(83_456)
        );
        // A live recording without Info: no duration, no error.
        let mut live = head.clone();
        let info_at = live
            .windows(4)
            .position(|w| w == [0x15, 0x49, 0xA9, 0x66])
            .unwrap();
        live[info_at..info_at + 4].copy_from_slice(&[0x16, 0x54, 0xAE, 0x6B]); // now "Tracks"
        assert_eq!(
            block_on(duration_ms(Container::Webm, &mut Mem(&live))).unwrap(),
            None
        );
    }

    fn iso_box(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut v = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        v.extend_from_slice(kind);
        v.extend_from_slice(body);
        v
    }

    /// A fragmented MP4 head: `mvhd` says 0 (unknown), `mvex/mehd` has the whole duration.
    fn fragmented_mp4(timescale: u32, fragment_duration: u32) -> Vec<u8> {
        let mut mvhd = vec![0u8; 4 + 8]; // version 0, flags, creation, modification
        mvhd.extend_from_slice(&timescale.to_be_bytes());
        mvhd.extend_from_slice(&0u32.to_be_bytes()); // duration: unknown
        mvhd.extend_from_slice(&0x0001_0000u32.to_be_bytes()); // rate 1.0
        mvhd.extend_from_slice(&0x0100u16.to_be_bytes()); // volume 1.0
        mvhd.extend_from_slice(&[0u8; 2 + 8]);
        for m in [0x0001_0000u32, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000] {
            mvhd.extend_from_slice(&m.to_be_bytes());
        }
        mvhd.extend_from_slice(&[0u8; 24]);
        mvhd.extend_from_slice(&2u32.to_be_bytes()); // next track id
        let mut mehd = vec![0u8; 4];
        mehd.extend_from_slice(&fragment_duration.to_be_bytes());
        let mut trex = vec![0u8; 4];
        trex.extend_from_slice(&1u32.to_be_bytes());
        trex.extend_from_slice(&[0u8; 16]);
        let mvex = [iso_box(b"mehd", &mehd), iso_box(b"trex", &trex)].concat();
        let moov = [iso_box(b"mvhd", &mvhd), iso_box(b"mvex", &mvex)].concat();
        [
            iso_box(b"ftyp", b"isom\0\0\0\0isomiso6"),
            iso_box(b"moov", &moov),
            iso_box(b"moof", &[0u8; 40]),
            iso_box(b"mdat", &[0u8; 400]),
        ]
        .concat()
    }

    #[test]
    fn a_fragmented_mp4_takes_its_duration_from_mehd() {
        let file = fragmented_mp4(90_000, 90_000 * 42 + 45_000);
        assert_eq!(sniff(&file), Some(Container::Mp4));
        assert_eq!(
            block_on(duration_ms(Container::Mp4, &mut Mem(&file))).unwrap(),
            Some(42_500)
        );
    }

    #[test]
    fn garbage_after_the_magic_gives_no_duration_rather_than_an_error() {
        let mut mp4 = vec![0, 0, 0, 0x10];
        mp4.extend_from_slice(b"ftypisom\0\0\0\0");
        mp4.extend_from_slice(&[0xFF; 100]);
        assert_eq!(
            block_on(duration_ms(Container::Mp4, &mut Mem(&mp4))).unwrap(),
            None
        );
        let mut webm = vec![0x1A, 0x45, 0xDF, 0xA3];
        webm.extend_from_slice(&[0x00; 40]);
        assert_eq!(
            block_on(duration_ms(Container::Webm, &mut Mem(&webm))).unwrap(),
            None
        );
    }
}
