//! Photos TikTok accepts (tiktok-api.md §5.4): JPEG or WebP, at most [`MAX_IMAGE_BYTES`], at
//! most 1080p. Everything is decided from the bytes, never from a declared type or extension.
//!
//! Pure parsing of the image header: the width and height from the JPEG start-of-frame
//! segment, or from the WebP `VP8 `/`VP8L`/`VP8X` chunk. Hand-written instead of an image crate
//! because only a few bytes of the header matter and nothing of the picture is decoded; every
//! read is bounds-checked (a proptest feeds it arbitrary bytes).

use crate::model::Container;

/// TikTok's size limit per photo (20 MB; decimal, the stricter reading).
pub const MAX_IMAGE_BYTES: u64 = 20_000_000;
/// "1080p": the long side at most 1920 pixels and the short side at most 1080, either way up.
pub const MAX_LONG_SIDE: u32 = 1920;
/// See [`MAX_LONG_SIDE`].
pub const MAX_SHORT_SIDE: u32 = 1080;
/// How much of the start of an image is read to find its dimensions: a JPEG's start-of-frame
/// follows its APP segments (EXIF, ICC profile: each at most 64 KiB), a WebP's is at byte 12.
pub const HEADER_WINDOW: u64 = 512 * 1024;

/// What the bytes say about an image format we do not accept.
pub fn refused_format(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("PNG")
    } else if head.starts_with(b"GIF8") {
        Some("GIF")
    } else if head.len() >= 12
        && &head[4..8] == b"ftyp"
        && matches!(&head[8..12], b"heic" | b"heix" | b"mif1")
    {
        Some("HEIC")
    } else {
        None
    }
}

/// Recognises a JPEG (`FF D8 FF`) or a WebP (`RIFF` … `WEBP`) by its first bytes.
pub fn sniff(head: &[u8]) -> Option<Container> {
    if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Some(Container::Jpeg);
    }
    if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        return Some(Container::Webp);
    }
    None
}

/// Width and height in pixels, from the first bytes of an image (at least the header; see
/// [`HEADER_WINDOW`]). `None` when the header is not where the format puts it.
pub fn dimensions(container: Container, head: &[u8]) -> Option<(u32, u32)> {
    match container {
        Container::Jpeg => jpeg_dimensions(head),
        Container::Webp => webp_dimensions(head),
        Container::Mp4 | Container::Mov | Container::Webm => None,
    }
}

/// Whether `width × height` is within 1080p, either way up.
pub fn within_1080p(width: u32, height: u32) -> bool {
    width > 0
        && height > 0
        && width.max(height) <= MAX_LONG_SIDE
        && width.min(height) <= MAX_SHORT_SIDE
}

fn be16(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u32::from(u16::from_be_bytes([s[0], s[1]])))
}

fn le16(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u32::from(u16::from_le_bytes([s[0], s[1]])))
}

fn le24(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(3)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], 0]))
}

/// Walks the JPEG marker segments up to a start-of-frame (SOF0–SOF15 but DHT, JPG and DAC).
fn jpeg_dimensions(b: &[u8]) -> Option<(u32, u32)> {
    let mut pos = 2; // after SOI
    loop {
        // Markers may be padded with any number of 0xFF bytes.
        if *b.get(pos)? != 0xFF {
            return None;
        }
        while *b.get(pos)? == 0xFF {
            pos += 1;
        }
        let marker = *b.get(pos)?;
        pos += 1;
        match marker {
            // Stand-alone markers carry no length.
            0x01 | 0xD0..=0xD7 => continue,
            // End of image or start of scan before any frame header: not a usable JPEG.
            0xD9 | 0xDA => return None,
            _ => {}
        }
        let len = usize::try_from(be16(b, pos)?).ok()?;
        if len < 2 {
            return None;
        }
        if matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC) {
            // Length, precision, height, width.
            let height = be16(b, pos + 3)?;
            let width = be16(b, pos + 5)?;
            return Some((width, height));
        }
        pos = pos.checked_add(len)?;
    }
}

/// The first chunk after the RIFF header: lossy `VP8 `, lossless `VP8L` or extended `VP8X`.
fn webp_dimensions(b: &[u8]) -> Option<(u32, u32)> {
    let chunk = b.get(12..16)?;
    let data = 20;
    match chunk {
        b"VP8 " => {
            // Frame tag (3 bytes), start code 9D 01 2A, then 14-bit width and height.
            if b.get(data + 3..data + 6)? != [0x9D, 0x01, 0x2A] {
                return None;
            }
            let width = le16(b, data + 6)? & 0x3FFF;
            let height = le16(b, data + 8)? & 0x3FFF;
            Some((width, height))
        }
        b"VP8L" => {
            if *b.get(data)? != 0x2F {
                return None;
            }
            let s = b.get(data + 1..data + 5)?;
            let bits = u32::from_le_bytes([s[0], s[1], s[2], s[3]]);
            Some(((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1))
        }
        b"VP8X" => {
            // Flags (1 byte), reserved (3), canvas width − 1 (24 bits), height − 1 (24 bits).
            let width = le24(b, data + 4)? + 1;
            let height = le24(b, data + 7)? + 1;
            Some((width, height))
        }
        _ => None,
    }
}

/// Refuses a body of `total` bytes so far when it passes the upload limit, or, once it is
/// known to be a photo, TikTok's smaller per-photo limit.
pub(super) fn over_limit(
    container: Option<Container>,
    total: u64,
    max_bytes: u64,
) -> Result<(), super::StagingError> {
    if container.is_some_and(Container::is_image) && total > MAX_IMAGE_BYTES {
        return Err(super::StagingError::ImageTooLarge {
            limit: MAX_IMAGE_BYTES,
        });
    }
    if total > max_bytes {
        return Err(super::StagingError::TooLarge { limit: max_bytes });
    }
    Ok(())
}

/// Test images: the smallest headers each format needs, with the given dimensions. Shared
/// with the e2e tests through `jobs::staging::image::samples` (test-support).
#[cfg(any(test, feature = "test-support"))]
pub mod samples {
    /// A JPEG with an APP0 segment, a baseline frame header of `width × height`, then EOI.
    pub fn jpeg(width: u16, height: u16) -> Vec<u8> {
        let mut b = vec![0xFF, 0xD8];
        b.extend_from_slice(&[0xFF, 0xE0, 0x00, 0x10]);
        b.extend_from_slice(b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
        b.extend_from_slice(&[0xFF, 0xC0, 0x00, 0x0B, 0x08]);
        b.extend_from_slice(&height.to_be_bytes());
        b.extend_from_slice(&width.to_be_bytes());
        b.extend_from_slice(&[0x01, 0x01, 0x11, 0x00]);
        b.extend_from_slice(&[0xFF, 0xD9]);
        b
    }

    /// A lossless WebP (`VP8L`) header of `width × height` (both 1..=16384).
    pub fn webp(width: u32, height: u32) -> Vec<u8> {
        let bits = (width - 1) | ((height - 1) << 14);
        let mut chunk = vec![0x2F];
        chunk.extend_from_slice(&bits.to_le_bytes());
        chunk.extend_from_slice(&[0; 3]);
        let mut b = b"RIFF".to_vec();
        b.extend_from_slice(&(4 + 8 + chunk.len() as u32).to_le_bytes());
        b.extend_from_slice(b"WEBPVP8L");
        b.extend_from_slice(&(chunk.len() as u32).to_le_bytes());
        b.extend_from_slice(&chunk);
        b
    }

    /// The first bytes of a PNG, enough to be recognised (and refused).
    pub fn png() -> Vec<u8> {
        let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
        b.extend_from_slice(&[0, 0, 0, 13]);
        b.extend_from_slice(b"IHDR");
        b.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0]);
        b
    }
}

#[cfg(test)]
mod tests {
    use super::samples::{jpeg, png, webp};
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn jpeg_and_webp_are_recognised_and_measured() {
        let j = jpeg(1080, 1350);
        assert_eq!(sniff(&j), Some(Container::Jpeg));
        assert_eq!(dimensions(Container::Jpeg, &j), Some((1080, 1350)));
        let w = webp(1920, 1080);
        assert_eq!(sniff(&w), Some(Container::Webp));
        assert_eq!(dimensions(Container::Webp, &w), Some((1920, 1080)));
    }

    #[test]
    fn png_is_named_so_it_can_be_refused_clearly() {
        assert_eq!(sniff(&png()), None);
        assert_eq!(refused_format(&png()), Some("PNG"));
        assert_eq!(refused_format(&jpeg(1, 1)), None);
    }

    #[test]
    fn jpeg_frame_header_is_found_after_padding_and_app_segments() {
        let mut j = vec![0xFF, 0xD8, 0xFF, 0xFF, 0xE1, 0x00, 0x04, 0xAA, 0xBB];
        j.extend_from_slice(&jpeg(640, 480)[2..]);
        assert_eq!(dimensions(Container::Jpeg, &j), Some((640, 480)));
        // A progressive frame header (SOF2) counts; DHT (C4) does not.
        let mut p = jpeg(300, 200);
        p[21] = 0xC2;
        assert_eq!(dimensions(Container::Jpeg, &p), Some((300, 200)));
    }

    #[test]
    fn lossy_and_extended_webp_headers_are_measured() {
        let mut lossy = b"RIFF\0\0\0\0WEBPVP8 \0\0\0\0".to_vec();
        lossy.extend_from_slice(&[0, 0, 0, 0x9D, 0x01, 0x2A]);
        lossy.extend_from_slice(&800u16.to_le_bytes());
        lossy.extend_from_slice(&600u16.to_le_bytes());
        assert_eq!(dimensions(Container::Webp, &lossy), Some((800, 600)));
        let mut x = b"RIFF\0\0\0\0WEBPVP8X\x0a\0\0\0".to_vec();
        x.extend_from_slice(&[0, 0, 0, 0]);
        x.extend_from_slice(&[0x37, 0x04, 0x00]); // 1079 + 1
        x.extend_from_slice(&[0x7F, 0x07, 0x00]); // 1919 + 1
        assert_eq!(dimensions(Container::Webp, &x), Some((1080, 1920)));
    }

    #[test]
    fn truncated_headers_have_no_dimensions() {
        let j = jpeg(100, 100);
        for cut in 0..j.len() - 6 {
            assert_eq!(dimensions(Container::Jpeg, &j[..cut]), None, "cut at {cut}");
        }
        let w = webp(100, 100);
        for cut in 0..24 {
            assert_eq!(dimensions(Container::Webp, &w[..cut]), None, "cut at {cut}");
        }
    }

    #[test]
    fn the_1080p_limit_holds_either_way_up() {
        assert!(within_1080p(1080, 1920));
        assert!(within_1080p(1920, 1080));
        assert!(within_1080p(1, 1));
        assert!(!within_1080p(1081, 1920));
        assert!(!within_1080p(1080, 1921));
        assert!(!within_1080p(2000, 100));
        assert!(!within_1080p(0, 10));
    }

    proptest! {
        /// Hostile bytes never panic the parser, whatever format they claim to be.
        #[test]
        fn parsing_arbitrary_bytes_never_panics(
            tail in proptest::collection::vec(any::<u8>(), 0..256),
            prefix in prop_oneof![
                Just(vec![0xFFu8, 0xD8, 0xFF]),
                Just(b"RIFF\0\0\0\0WEBPVP8 ".to_vec()),
                Just(b"RIFF\0\0\0\0WEBPVP8L".to_vec()),
                Just(b"RIFF\0\0\0\0WEBPVP8X".to_vec()),
                Just(Vec::new()),
            ],
        ) {
            let mut bytes = prefix;
            bytes.extend_from_slice(&tail);
            let _ = sniff(&bytes);
            let _ = refused_format(&bytes);
            let _ = dimensions(Container::Jpeg, &bytes);
            let _ = dimensions(Container::Webp, &bytes);
        }

        /// Whatever dimensions a test image is built with are read back.
        #[test]
        fn built_images_read_back_their_dimensions(w in 1u16.., h in 1u16..) {
            prop_assert_eq!(dimensions(Container::Jpeg, &jpeg(w, h)), Some((u32::from(w), u32::from(h))));
            let (w, h) = (u32::from(w).min(16384), u32::from(h).min(16384));
            prop_assert_eq!(dimensions(Container::Webp, &webp(w, h)), Some((w, h)));
        }
    }
}
