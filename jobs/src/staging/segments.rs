//! The stored form of a staged video: the plaintext cut into fixed-size segments, each sealed
//! on its own with AES-256-GCM under the media's own data key (the "STREAM" construction of
//! Hoang, Reyhanitabar, Rogaway and Vizár). Segments are stored back to back:
//!
//! ```text
//! [ciphertext of segment 0 ‖ tag 0][ciphertext of segment 1 ‖ tag 1] … [last segment ‖ tag]
//! ```
//!
//! Every segment but the last holds exactly `segment_size` plaintext bytes, so segment `i` starts
//! at `i * (segment_size + 16)` and a byte range is read without touching other segments.
//!
//! The nonce is the segment index and a "last segment" flag, and the associated data repeats
//! them with the media id, so a segment moved to another position, copied from another media,
//! or presented as the end of a cut-short object fails authentication. Nonces never repeat: the
//! data key is random per media and each (index, last) pair is used once.
//!
//! The cipher is AWS-LC's AES-256-GCM (assembly kernels, GB/s even in debug builds, where the
//! pure-Rust implementation manages about 2 MB/s and would make a test upload take minutes);
//! the format is plain AES-GCM, so any implementation opens it given the key.

use super::StagingError;
use crate::model::MediaId;
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use bytes::BytesMut;

/// Bytes GCM appends to every segment.
pub(crate) const TAG_LEN: usize = 16;

/// Domain separation: these bytes open the associated data of every segment, so a segment
/// can never be taken for another kind of ciphertext sealed under the same key.
const AAD_DOMAIN: &[u8; 16] = b"mktpost/media/v1";

/// Where each segment of an object of `size` plaintext bytes lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    /// Plaintext bytes (never 0: empty uploads are refused).
    pub size: u64,
    pub segment_size: u64,
}

impl Layout {
    pub fn new(size: u64, segment_size: u32) -> Self {
        Self {
            size,
            segment_size: u64::from(segment_size.max(1)),
        }
    }

    /// Number of segments (at least one).
    pub fn segments(&self) -> u64 {
        self.size.div_ceil(self.segment_size).max(1)
    }

    pub fn last_index(&self) -> u64 {
        self.segments() - 1
    }

    /// Plaintext bytes held by segment `index`.
    pub fn plain_len(&self, index: u64) -> u64 {
        if index == self.last_index() {
            self.size - index * self.segment_size
        } else {
            self.segment_size
        }
    }

    /// Offset of segment `index` in the stored object.
    pub fn cipher_offset(&self, index: u64) -> u64 {
        index * (self.segment_size + TAG_LEN as u64)
    }

    /// Stored bytes of segment `index` (plaintext plus tag).
    pub fn cipher_len(&self, index: u64) -> u64 {
        self.plain_len(index) + TAG_LEN as u64
    }

    /// Size of the whole stored object.
    pub fn object_len(&self) -> u64 {
        self.size + self.segments() * TAG_LEN as u64
    }
}

/// Seals and opens the segments of one media.
pub(crate) struct SegmentCipher {
    key: LessSafeKey,
    media: MediaId,
}

impl SegmentCipher {
    pub fn new(key: &[u8; 32], media: MediaId) -> Result<Self, StagingError> {
        let key = UnboundKey::new(&AES_256_GCM, key)
            .map_err(|_| StagingError::Internal("cannot load the media data key".into()))?;
        Ok(Self {
            key: LessSafeKey::new(key),
            media,
        })
    }

    fn nonce(index: u64, last: bool) -> Nonce {
        let mut n = [0u8; 12];
        n[..8].copy_from_slice(&index.to_be_bytes());
        n[8] = u8::from(last);
        Nonce::assume_unique_for_key(n)
    }

    fn aad(&self, index: u64, last: bool) -> [u8; 41] {
        let mut a = [0u8; 41];
        a[..16].copy_from_slice(AAD_DOMAIN);
        a[16..32].copy_from_slice(self.media.0.as_bytes());
        a[32..40].copy_from_slice(&index.to_be_bytes());
        a[40] = u8::from(last);
        a
    }

    /// Encrypts the plaintext in `segment` in place and appends the tag.
    pub fn seal(&self, index: u64, last: bool, segment: &mut BytesMut) -> Result<(), StagingError> {
        let tag = self
            .key
            .seal_in_place_separate_tag(
                Self::nonce(index, last),
                Aad::from(self.aad(index, last)),
                &mut segment[..],
            )
            .map_err(|_| StagingError::Internal("a segment is too large to encrypt".into()))?;
        segment.extend_from_slice(tag.as_ref());
        Ok(())
    }

    /// Checks and decrypts `segment` (ciphertext plus tag) in place, leaving the plaintext.
    pub fn open(&self, index: u64, last: bool, segment: &mut BytesMut) -> Result<(), StagingError> {
        let plain_len = segment
            .len()
            .checked_sub(TAG_LEN)
            .ok_or(StagingError::Tampered { segment: index })?;
        self.key
            .open_in_place(
                Self::nonce(index, last),
                Aad::from(self.aad(index, last)),
                &mut segment[..],
            )
            .map_err(|_| StagingError::Tampered { segment: index })?;
        segment.truncate(plain_len);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher(media: MediaId) -> SegmentCipher {
        SegmentCipher::new(&[7u8; 32], media).unwrap()
    }

    #[test]
    fn layout_places_segments_back_to_back() {
        let l = Layout::new(10, 4);
        assert_eq!(l.segments(), 3);
        assert_eq!((l.plain_len(0), l.plain_len(2)), (4, 2));
        assert_eq!(l.cipher_offset(2), 2 * 20);
        assert_eq!(l.object_len(), 10 + 3 * 16);
        let exact = Layout::new(8, 4);
        assert_eq!((exact.segments(), exact.plain_len(1)), (2, 4));
    }

    #[test]
    fn a_segment_opens_only_at_its_own_place() {
        let media = MediaId::new();
        let c = cipher(media);
        let mut seg = BytesMut::from(&b"hello segment"[..]);
        c.seal(3, false, &mut seg).unwrap();
        assert_ne!(&seg[..13], b"hello segment");

        let mut ok = seg.clone();
        c.open(3, false, &mut ok).unwrap();
        assert_eq!(&ok[..], b"hello segment");

        for (index, last) in [(4, false), (3, true)] {
            let mut moved = seg.clone();
            assert!(matches!(
                c.open(index, last, &mut moved),
                Err(StagingError::Tampered { .. })
            ));
        }
        let mut other_media = seg.clone();
        assert!(
            cipher(MediaId::new())
                .open(3, false, &mut other_media)
                .is_err()
        );
        let mut flipped = seg.clone();
        flipped[0] ^= 1;
        assert!(c.open(3, false, &mut flipped).is_err());
        let mut short = BytesMut::from(&seg[..10]);
        assert!(c.open(3, false, &mut short).is_err());
    }
}
