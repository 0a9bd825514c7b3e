//! Encrypted, streamed staging of uploaded videos (design §3 steps 1 and 5): the web tier streams
//! an upload in with [`Staging::stage`], the publish job streams byte ranges out with
//! [`Staging::open_range`] straight into TikTok's chunk PUTs, and [`Staging::delete`] removes the
//! video once TikTok has it (or [`Staging::delete_expired`] once nobody attached it in time).
//!
//! - **Never whole in memory.** Uploads go through `object_store`'s multipart writer with bounded
//!   buffers (a few MiB whatever the size); reads decrypt one segment at a time.
//! - **Encrypted at rest.** Each video has its own random 256-bit data key; the plaintext is cut
//!   into fixed-size segments sealed with AES-256-GCM (see `segments` for the format and why
//!   segments cannot be reordered, dropped, duplicated or truncated unnoticed). The data key is
//!   wrapped by the vault's current key for the record `media:<id>` and kept only in the media
//!   row, so deleting the row destroys the key and any leftover copy or backup of the object is
//!   unreadable.
//! - **Nothing half-done stays.** The object is written under a multipart upload that is aborted
//!   on any failure (limit passed, wrong type, client gone) and also when the future is dropped;
//!   the row is inserted only after the object is complete and checked, and the object is
//!   deleted again if that insert fails.
//! - **Checked.** Size limit while streaming (and up front from a declared length), container by
//!   magic bytes before anything is written, duration read from the container header after
//!   staging through the decrypting reader (see `probe`). Refusing a video that is too long for
//!   the creator happens when the post is created, against `max_video_post_duration_sec`.

pub mod image;
mod objects;
mod probe;
#[cfg(test)]
mod proptests;
mod segments;

pub use probe::sniff;

use objects::{ObjectReader, Pending};

use crate::config::Config;
use crate::model::{Actor, Container, Media, MediaId, WorkspaceId};
use crate::store::{DynStore, StoreError};
use crate::vault::{Vault, VaultError};
use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use futures::stream::{BoxStream, Stream, StreamExt, TryStreamExt};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};
use probe::{ReadAt, SNIFF_LEN};
use rand::RngCore;
use segments::{Layout, SegmentCipher, TAG_LEN};
use std::fmt;
use std::pin::pin;
use std::sync::Arc;
use url::Url;
use zeroize::Zeroizing;

/// Plaintext bytes per sealed segment: large enough that the 16-byte tag is noise (0.0015 %),
/// small enough that a ranged read decrypts at most one extra MiB at each end.
pub const DEFAULT_SEGMENT_SIZE: u32 = 1 << 20;

/// Segments must hold the bytes that identify the container, and tiny segments only waste tags.
const MIN_SEGMENT_SIZE: u32 = 4096;

/// Why staging failed. The first five are the uploader's fault and map to client errors.
#[derive(Debug, thiserror::Error)]
pub enum StagingError {
    /// More bytes than allowed (counted while streaming, or declared up front).
    #[error("the video is larger than the upload limit of {limit} bytes")]
    TooLarge { limit: u64 },
    /// No bytes at all.
    #[error("the upload is empty")]
    Empty,
    /// Not MP4, MOV, WebM, JPEG or WebP by its magic bytes.
    #[error(
        "this file is not a video or photo TikTok accepts: upload an MP4, MOV or WebM video, or a JPEG or WebP photo"
    )]
    UnsupportedType,
    /// An image in a format TikTok refuses for photo posts (PNG, GIF, HEIC).
    #[error("{format} images are not accepted by TikTok: upload the photo as JPEG or WebP")]
    UnsupportedImage { format: &'static str },
    /// A photo over TikTok's per-photo size limit.
    #[error("the photo is larger than TikTok's limit of {limit} bytes")]
    ImageTooLarge { limit: u64 },
    /// A photo over 1080p.
    #[error(
        "the photo is {width}×{height} pixels; TikTok accepts at most 1080p (1080×1920 either way up)"
    )]
    ImageResolution { width: u32, height: u32 },
    /// A JPEG or WebP whose header does not say its size.
    #[error("the photo's header cannot be read (a damaged or unusual JPEG/WebP file)")]
    ImageUnreadable,
    /// The body stream failed (client disconnected) or ended before its declared length.
    #[error("the upload was interrupted: {0}")]
    Interrupted(String),
    /// A read outside the video (a bug in the caller's chunk plan).
    #[error("byte range {first}-{last} is outside the {size}-byte video")]
    BadRange { first: u64, last: u64, size: u64 },
    /// The staged object is gone (deleted after publishing, or swept).
    #[error("the staged video no longer exists")]
    Missing,
    /// A segment failed authentication: altered, moved, or taken from another video.
    #[error("staged segment {segment} failed authentication (altered, reordered or foreign)")]
    Tampered { segment: u64 },
    /// The stored object ended inside segment `segment`.
    #[error("staged object is cut short inside segment {segment}")]
    Truncated { segment: u64 },
    /// The stored object's length does not match the video's (cut short or extended).
    #[error("staged object is {actual} bytes, expected {expected} (cut short or extended)")]
    WrongLength { expected: u64, actual: u64 },
    /// The wrapped data key does not open (another media's key, retired vault key, tampered).
    #[error("the video's data key cannot be opened: {0}")]
    Key(#[from] VaultError),
    /// The object store failed.
    #[error("staging storage failed: {0}")]
    Storage(String),
    /// The media row could not be written or read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// `STAGING_URL` or `MEDIA_TTL_HOURS` cannot be used.
    #[error("staging configuration: {0}")]
    Config(String),
    /// An invariant of this module broke (a bug, or a corrupt media row).
    #[error("staging: {0}")]
    Internal(String),
}

fn storage(e: object_store::Error) -> StagingError {
    match e {
        object_store::Error::NotFound { .. } => StagingError::Missing,
        other => StagingError::Storage(other.to_string()),
    }
}

/// What [`Staging::rewrap_key`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rewrap {
    /// Re-wrapped with the current key.
    Rewrapped,
    /// Already wrapped with the current key.
    Current,
    /// The row changed since it was read (re-read and try again).
    Changed,
    /// The video was deleted meanwhile (published, cancelled or expired).
    Gone,
}

/// How many bytes an upload may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadLimits {
    /// The most bytes accepted (`Config::max_upload_bytes` for the web tier).
    pub max_bytes: u64,
    /// The length the client announced (`Content-Length`), if any: more than `max_bytes` is
    /// refused before reading a byte, and a body that ends early is an interruption.
    pub declared_len: Option<u64>,
}

impl UploadLimits {
    /// A limit with no declared length.
    pub fn new(max_bytes: u64) -> Self {
        Self {
            max_bytes,
            declared_len: None,
        }
    }

    /// The same limit, with the length the client announced.
    pub fn with_declared_len(self, declared_len: Option<u64>) -> Self {
        Self {
            declared_len,
            ..self
        }
    }
}

/// Called with the total bytes received so far after each piece of the body (cheap; the
/// caller decides how often to tell the client).
pub type Progress<'a> = &'a (dyn Fn(u64) + Send + Sync);

/// Part sizes and parallelism of multipart writes: together they bound an upload's memory at
/// about `(parts_in_flight + 1) × part_size + one segment`.
#[derive(Debug, Clone, Copy)]
struct WriteTuning {
    part_size: usize,
    parts_in_flight: usize,
}

impl WriteTuning {
    /// A local disk has no minimum part size and writes faster than a network delivers.
    const LOCAL: Self = Self {
        part_size: 2 << 20,
        parts_in_flight: 1,
    };
    /// S3 refuses parts under 5 MiB (except the last); two in flight keep the link busy.
    const REMOTE: Self = Self {
        part_size: 5 << 20,
        parts_in_flight: 2,
    };
}

/// The staging area: object storage for encrypted videos plus their media rows.
#[derive(Clone)]
pub struct Staging {
    objects: Arc<dyn ObjectStore>,
    /// Prefix of every object inside `objects` (empty for a local directory).
    root: ObjectPath,
    tuning: WriteTuning,
    store: DynStore,
    vault: Vault,
    segment_size: u32,
    media_ttl: chrono::Duration,
}

impl fmt::Debug for Staging {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Staging")
            .field("objects", &self.objects.to_string())
            .field("segment_size", &self.segment_size)
            .finish_non_exhaustive()
    }
}

/// The vault record a media's data key is bound to: a key copied to another row fails to open.
fn media_record(id: MediaId) -> String {
    format!("media:{id}")
}

/// Object key of a media, relative to the staging root. The owning workspace is part of it so
/// that a sweep can find an object's row without a cross-workspace lookup (objects staged
/// before workspaces name their user, whose personal workspace has the same id).
fn object_key(ws: WorkspaceId, id: MediaId) -> String {
    format!("media/{ws}/{id}")
}

/// The one place that knows storage backends. `file://` is a local directory (created if
/// missing). Anything else goes through `object_store::parse_url`: `memory://` works today, and
/// `s3://`, `gs://` or `az://` once the matching `object_store` feature (`aws`, `gcp`, `azure`)
/// is enabled in the workspace and their options are passed from `Config` here.
fn open_objects(
    url: &Url,
) -> Result<(Arc<dyn ObjectStore>, ObjectPath, WriteTuning), StagingError> {
    if url.scheme() == "file" {
        let dir = url.to_file_path().map_err(|()| {
            StagingError::Config("STAGING_URL is not a usable file:// path".into())
        })?;
        std::fs::create_dir_all(&dir).map_err(|e| {
            StagingError::Config(format!("cannot create the staging directory: {e}"))
        })?;
        let local = LocalFileSystem::new_with_prefix(&dir)
            .map_err(|e| StagingError::Config(format!("cannot open the staging directory: {e}")))?
            // Object keys have a directory per workspace; remove it when its last video goes.
            .with_automatic_cleanup(true);
        return Ok((Arc::new(local), ObjectPath::default(), WriteTuning::LOCAL));
    }
    // Never echo the URL: a cloud URL may carry credentials.
    let (objects, root) = object_store::parse_url(url).map_err(|_| {
        StagingError::Config(format!(
            "STAGING_URL scheme {:?} is not supported by this build",
            url.scheme()
        ))
    })?;
    Ok((Arc::from(objects), root, WriteTuning::REMOTE))
}

impl Staging {
    /// Opens the staging area named by `Config::staging_url`; unattached media expire after
    /// `Config::media_ttl`. `vault` wraps the per-media data keys; `store` holds the media rows.
    pub fn new(config: &Config, vault: Vault, store: DynStore) -> Result<Self, StagingError> {
        let (objects, root, tuning) = open_objects(&config.staging.url)?;
        let media_ttl = chrono::Duration::from_std(config.staging.media_ttl)
            .map_err(|_| StagingError::Config("MEDIA_TTL_HOURS is too large".into()))?;
        Ok(Self {
            objects,
            root,
            tuning,
            store,
            vault,
            segment_size: DEFAULT_SEGMENT_SIZE,
            media_ttl,
        })
    }

    /// The same staging area, sealing new videos in segments of `bytes` (at least 4 KiB).
    /// Existing videos keep the segment size recorded on their row. Tests use small segments.
    pub fn with_segment_size(mut self, bytes: u32) -> Self {
        self.segment_size = bytes.max(MIN_SEGMENT_SIZE);
        self
    }

    /// Segment size for new videos.
    pub fn segment_size(&self) -> u32 {
        self.segment_size
    }

    fn location(&self, key: &str) -> Result<ObjectPath, StagingError> {
        let key = ObjectPath::parse(key)
            .map_err(|_| StagingError::Internal("malformed object key".into()))?;
        Ok(self.root.parts().chain(key.parts()).collect())
    }

    fn cipher_for(&self, media: &Media) -> Result<SegmentCipher, StagingError> {
        let key = self
            .vault
            .open(&media.wrapped_key, media_record(media.id).as_bytes())?;
        let key: &[u8; 32] = key
            .expose()
            .try_into()
            .map_err(|_| StagingError::Internal("media data key has the wrong length".into()))?;
        SegmentCipher::new(key, media.id)
    }

    /// Fails with [`StagingError::Key`] when the video's data key does not open (wrapped by a
    /// key no longer in `TOKEN_KEYS`, or altered). Such a video can never be read again, so the
    /// publish job checks this once, before TikTok hears of the post, instead of retrying.
    pub fn check_key(&self, media: &Media) -> Result<(), StagingError> {
        self.cipher_for(media).map(drop)
    }

    /// Re-wraps the video's data key with the vault's current key (`rotate-keys`), by
    /// compare-and-set on the wrapped key so a concurrent re-wrap or deletion is never
    /// overwritten. The data key itself and the stored object do not change; the plaintext data
    /// key exists only inside this call and is wiped when it returns.
    pub async fn rewrap_key(&self, media: &Media) -> Result<Rewrap, StagingError> {
        if !self.vault.needs_rotation(&media.wrapped_key) {
            return Ok(Rewrap::Current);
        }
        let rewrapped = self
            .vault
            .reseal(&media.wrapped_key, media_record(media.id).as_bytes())?;
        match self
            .store
            .rewrap_media_key(media.workspace_id, media.id, &media.wrapped_key, &rewrapped)
            .await
        {
            Ok(_) => Ok(Rewrap::Rewrapped),
            Err(StoreError::StaleState) => Ok(Rewrap::Changed),
            Err(StoreError::NotFound) => Ok(Rewrap::Gone),
            Err(e) => Err(e.into()),
        }
    }

    /// Streams `body` into staging for `by`'s workspace and records the media row; returns the
    /// row.
    ///
    /// Fails, leaving no object and no row, when the body passes `limits`, is empty, is not a
    /// supported container, or errors or ends early (client gone). `progress` is told the
    /// running byte count after every piece of the body.
    pub async fn stage<S, E>(
        &self,
        by: Actor,
        body: S,
        limits: UploadLimits,
        progress: Option<Progress<'_>>,
    ) -> Result<Media, StagingError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: fmt::Display,
    {
        if limits.declared_len.is_some_and(|n| n > limits.max_bytes) {
            return Err(StagingError::TooLarge {
                limit: limits.max_bytes,
            });
        }
        let id = MediaId::new();
        let object_key = object_key(by.workspace, id);
        let location = self.location(&object_key)?;
        // Wiped as soon as it is wrapped and loaded into the cipher.
        let mut data_key = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(data_key.as_mut());
        let cipher = Arc::new(SegmentCipher::new(&data_key, id)?);
        let wrapped_key = self
            .vault
            .seal(data_key.as_ref(), media_record(id).as_bytes());
        drop(data_key);

        let mut pending = Pending::new(self.objects.clone(), location.clone(), self.tuning);
        let (size, container) = match self
            .write_object(&mut pending, &cipher, body, limits, progress)
            .await
        {
            Ok(written) => written,
            Err(e) => {
                pending.discard().await;
                return Err(e);
            }
        };

        // Read back through the decrypting reader: proves the object opens, and finds the
        // duration wherever the container put it.
        let mut reader = ObjectReader::new(
            self.objects.clone(),
            location,
            Layout::new(size, self.segment_size),
            cipher,
        );
        let duration_ms = match probe::inspect(container, &mut reader).await {
            Ok(d) => d,
            Err(e) => {
                pending.discard().await;
                return Err(e);
            }
        };
        let now = Utc::now();
        let media = Media {
            id,
            workspace_id: by.workspace,
            created_by: Some(by.user),
            size,
            container,
            duration_ms,
            object_key,
            wrapped_key,
            segment_size: self.segment_size,
            post_id: None,
            created_at: now,
            expires_at: now + self.media_ttl,
        };
        if let Err(e) = self.store.create_media(&media).await {
            pending.discard().await;
            return Err(e.into());
        }
        pending.keep();
        tracing::info!(media_id = %id, workspace_id = %by.workspace, size, ?container, duration_ms, "media staged");
        Ok(media)
    }

    /// Streams, checks and seals the body into `pending`; returns the plaintext size and container.
    async fn write_object<S, E>(
        &self,
        pending: &mut Pending,
        cipher: &SegmentCipher,
        body: S,
        limits: UploadLimits,
        progress: Option<Progress<'_>>,
    ) -> Result<(u64, Container), StagingError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: fmt::Display,
    {
        let segment_size = self.segment_size as usize;
        let mut body = pin!(body);
        let mut head: Vec<u8> = Vec::with_capacity(SNIFF_LEN);
        let mut container = None;
        let mut segment = BytesMut::with_capacity(segment_size + TAG_LEN);
        let mut index = 0u64;
        let mut total = 0u64;
        while let Some(piece) = body.next().await {
            let mut piece = piece.map_err(|e| StagingError::Interrupted(e.to_string()))?;
            total += piece.len() as u64;
            image::over_limit(container, total, limits.max_bytes)?;
            if limits.declared_len.is_some_and(|n| total > n) {
                return Err(StagingError::Interrupted(
                    "the body is longer than its Content-Length".into(),
                ));
            }
            if let Some(report) = progress {
                report(total);
            }
            if container.is_none() {
                let take = (SNIFF_LEN - head.len()).min(piece.len());
                head.extend_from_slice(&piece[..take]);
                if head.len() == SNIFF_LEN {
                    // Nothing is written before the type is known, so a wrong type leaves nothing.
                    container = Some(probe::recognise(&head)?);
                    image::over_limit(container, total, limits.max_bytes)?;
                    pending.begin().await?;
                }
            }
            while !piece.is_empty() {
                if segment.len() == segment_size {
                    // More bytes follow, so this segment is not the last one.
                    cipher.seal(index, false, &mut segment)?;
                    let full = std::mem::replace(
                        &mut segment,
                        BytesMut::with_capacity(segment_size + TAG_LEN),
                    );
                    pending.put(full.freeze()).await?;
                    index += 1;
                }
                let take = (segment_size - segment.len()).min(piece.len());
                segment.extend_from_slice(&piece.split_to(take));
            }
        }
        if total == 0 {
            return Err(StagingError::Empty);
        }
        if let Some(declared) = limits.declared_len.filter(|n| *n != total) {
            return Err(StagingError::Interrupted(format!(
                "the body ended after {total} of {declared} bytes"
            )));
        }
        let container = match container {
            Some(c) => c,
            None => {
                let c = probe::recognise(&head)?;
                image::over_limit(Some(c), total, limits.max_bytes)?;
                pending.begin().await?;
                c
            }
        };
        cipher.seal(index, true, &mut segment)?;
        pending.put(segment.freeze()).await?;
        pending.finish().await?;
        Ok((total, container))
    }

    /// The plaintext bytes `first..=last` of a staged video, decrypted segment by segment as
    /// the consumer pulls (at most about two segments in memory). Made for
    /// `reqwest::Body::wrap_stream`: the publish job PUTs TikTok chunks straight from it.
    ///
    /// Yields an error instead of data when the range is outside the video, the key does not
    /// open, or the object was altered, reordered, cut short or extended.
    pub fn open_range(
        &self,
        media: &Media,
        first: u64,
        last: u64,
    ) -> BoxStream<'static, Result<Bytes, StagingError>> {
        let this = self.clone();
        let media = media.clone();
        futures::stream::once(async move { this.range_stream(&media, first, last).await })
            .try_flatten()
            .boxed()
    }

    async fn range_stream(
        &self,
        media: &Media,
        first: u64,
        last: u64,
    ) -> Result<BoxStream<'static, Result<Bytes, StagingError>>, StagingError> {
        if first > last || last >= media.size {
            return Err(StagingError::BadRange {
                first,
                last,
                size: media.size,
            });
        }
        if media.segment_size == 0 {
            return Err(StagingError::Internal(
                "media row has no segment size".into(),
            ));
        }
        let layout = Layout::new(media.size, media.segment_size);
        let cipher = Arc::new(self.cipher_for(media)?);
        let location = self.location(&media.object_key)?;
        let (first_segment, last_segment) =
            (first / layout.segment_size, last / layout.segment_size);
        if last_segment == layout.last_index() {
            // Authentication catches altered or moved segments; only the length shows bytes
            // appended after the last one, so check it whenever the end is read.
            let actual = self.objects.head(&location).await.map_err(storage)?.size;
            if actual != layout.object_len() {
                return Err(StagingError::WrongLength {
                    expected: layout.object_len(),
                    actual,
                });
            }
        }
        // One ranged read per whole segment, two in flight: a local file's streamed `get`
        // hands out 8 KiB pieces with a thread hand-off each, which made reading the slowest
        // part of an upload; whole-segment reads ahead of the socket keep it fed while memory
        // stays at a few segments.
        let objects = self.objects.clone();
        Ok(futures::stream::iter(first_segment..=last_segment)
            .map(move |index| {
                let (objects, location, cipher) =
                    (objects.clone(), location.clone(), cipher.clone());
                async move {
                    let offset = layout.cipher_offset(index);
                    let len = layout.cipher_len(index);
                    let bytes = objects
                        .get_range(&location, offset..offset + len)
                        .await
                        .map_err(storage)?;
                    if bytes.len() as u64 != len {
                        return Err(StagingError::Truncated { segment: index });
                    }
                    let mut segment = BytesMut::from(&bytes[..]);
                    drop(bytes);
                    cipher.open(index, index == layout.last_index(), &mut segment)?;
                    let start = index * layout.segment_size;
                    let from = (first.max(start) - start) as usize;
                    let to = ((last + 1).min(start + segment.len() as u64) - start) as usize;
                    Ok(segment.freeze().slice(from..to))
                }
            })
            .buffered(2)
            .boxed())
    }

    /// Deletes the video's object and its row (with it, the wrapped data key). Idempotent: an
    /// object or row already gone is fine.
    pub async fn delete(&self, media: &Media) -> Result<(), StagingError> {
        match self
            .objects
            .delete(&self.location(&media.object_key)?)
            .await
        {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(storage(e)),
        }
        match self.store.delete_media(media.workspace_id, media.id).await {
            Ok(()) | Err(StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
        tracing::info!(media_id = %media.id, "staged video deleted");
        Ok(())
    }

    /// The scheduler's sweep: deletes up to `limit` unattached videos whose deadline passed
    /// before `now`. Returns how many were deleted; one that fails is logged and left for the
    /// next sweep.
    pub async fn delete_expired(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<usize, StagingError> {
        let mut deleted = 0;
        for media in self.store.expired_media(now, limit).await? {
            match self.delete(&media).await {
                Ok(()) => deleted += 1,
                Err(e) => {
                    tracing::warn!(media_id = %media.id, error = %e, "expired video not deleted; the next sweep retries")
                }
            }
        }
        Ok(deleted)
    }

    /// A backstop for crashes between writing an object and inserting its row: deletes up to
    /// `limit` objects last modified before `before` that have no media row. Pass a cut-off
    /// well before now (an upload in progress has an object and, for a moment, no row yet).
    pub async fn delete_orphans(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<usize, StagingError> {
        let prefix = self.location("media")?;
        let mut listing = self.objects.list(Some(&prefix));
        let mut deleted = 0;
        while let Some(meta) = listing.next().await {
            if deleted >= limit {
                break;
            }
            let meta = meta.map_err(storage)?;
            if meta.last_modified >= before {
                continue;
            }
            let parts: Vec<String> = meta
                .location
                .parts()
                .map(|p| p.as_ref().to_owned())
                .collect();
            let ids = match parts.as_slice() {
                [.., ws, media] => WorkspaceId::parse(ws).ok().zip(MediaId::parse(media).ok()),
                _ => None,
            };
            let Some((ws, media)) = ids else { continue };
            if let Err(StoreError::NotFound) = self.store.media(ws, media).await {
                match self.objects.delete(&meta.location).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {
                        tracing::info!(media_id = %media, "orphaned staged object deleted");
                        deleted += 1;
                    }
                    Err(e) => return Err(storage(e)),
                }
            }
        }
        Ok(deleted)
    }
}
