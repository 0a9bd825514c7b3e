//! The staging store's objects while they are written ([`Pending`]: a cancelled upload leaves
//! nothing) and read for probing ([`ObjectReader`]: one decrypted segment at a time).

use super::*;

/// An object being written. Until [`Pending::keep`], dropping it (a cancelled request) or
/// calling [`Pending::discard`] aborts the multipart upload or deletes the finished object.
pub(super) struct Pending {
    objects: Arc<dyn ObjectStore>,
    location: ObjectPath,
    tuning: WriteTuning,
    writer: Option<WriteMultipart>,
    /// The object exists in full and nothing claims it yet.
    complete: bool,
}

impl Pending {
    pub(super) fn new(
        objects: Arc<dyn ObjectStore>,
        location: ObjectPath,
        tuning: WriteTuning,
    ) -> Self {
        Self {
            objects,
            location,
            tuning,
            writer: None,
            complete: false,
        }
    }

    pub(super) async fn begin(&mut self) -> Result<(), StagingError> {
        let upload = self
            .objects
            .put_multipart(&self.location)
            .await
            .map_err(storage)?;
        self.writer = Some(WriteMultipart::new_with_chunk_size(
            upload,
            self.tuning.part_size,
        ));
        Ok(())
    }

    pub(super) async fn put(&mut self, sealed: Bytes) -> Result<(), StagingError> {
        let writer = self.writer.as_mut().ok_or_else(|| {
            StagingError::Internal("segment written before the upload began".into())
        })?;
        // Back-pressure: wait for a part to land before buffering more, which bounds memory.
        writer
            .wait_for_capacity(self.tuning.parts_in_flight)
            .await
            .map_err(storage)?;
        writer.put(sealed);
        Ok(())
    }

    pub(super) async fn finish(&mut self) -> Result<(), StagingError> {
        let writer = self
            .writer
            .take()
            .ok_or_else(|| StagingError::Internal("upload finished before it began".into()))?;
        // `finish` aborts the upload itself when it fails.
        writer.finish().await.map_err(storage)?;
        self.complete = true;
        Ok(())
    }

    pub(super) async fn discard(&mut self) {
        if let Some(writer) = self.writer.take()
            && let Err(e) = writer.abort().await
        {
            tracing::debug!(error = %e, "aborting a staging upload failed");
        }
        if std::mem::take(&mut self.complete)
            && let Err(e) = self.objects.delete(&self.location).await
        {
            tracing::warn!(error = %e, "could not delete an unclaimed staged object; the orphan sweep will");
        }
    }

    pub(super) fn keep(&mut self) {
        self.complete = false;
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        let writer = self.writer.take();
        let complete = std::mem::take(&mut self.complete);
        if writer.is_none() && !complete {
            return;
        }
        // Cleanup is async; without a runtime (process exit) the orphan sweep catches it.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let objects = self.objects.clone();
            let location = self.location.clone();
            runtime.spawn(async move {
                if let Some(writer) = writer {
                    let _ = writer.abort().await;
                }
                if complete {
                    let _ = objects.delete(&location).await;
                }
            });
        }
    }
}

/// Random access to a stored video's plaintext for probing, keeping one decrypted segment.
pub(super) struct ObjectReader {
    objects: Arc<dyn ObjectStore>,
    location: ObjectPath,
    layout: Layout,
    cipher: Arc<SegmentCipher>,
    cached: Option<(u64, Bytes)>,
}

impl ObjectReader {
    pub(super) fn new(
        objects: Arc<dyn ObjectStore>,
        location: ObjectPath,
        layout: Layout,
        cipher: Arc<SegmentCipher>,
    ) -> Self {
        Self {
            objects,
            location,
            layout,
            cipher,
            cached: None,
        }
    }

    async fn segment(&mut self, index: u64) -> Result<Bytes, StagingError> {
        if let Some((cached, plain)) = &self.cached
            && *cached == index
        {
            return Ok(plain.clone());
        }
        let start = self.layout.cipher_offset(index);
        let len = self.layout.cipher_len(index);
        let raw = self
            .objects
            .get_range(&self.location, start..start + len)
            .await
            .map_err(storage)?;
        if raw.len() as u64 != len {
            return Err(StagingError::Truncated { segment: index });
        }
        let mut segment = BytesMut::from(&raw[..]);
        self.cipher
            .open(index, index == self.layout.last_index(), &mut segment)?;
        let plain = segment.freeze();
        self.cached = Some((index, plain.clone()));
        Ok(plain)
    }
}

impl ReadAt for ObjectReader {
    fn size(&self) -> u64 {
        self.layout.size
    }

    async fn read_at(&mut self, offset: u64, len: u64) -> Result<Vec<u8>, StagingError> {
        let end = offset.saturating_add(len).min(self.layout.size);
        let mut out = Vec::with_capacity(end.saturating_sub(offset) as usize);
        let mut pos = offset;
        while pos < end {
            let index = pos / self.layout.segment_size;
            let start = index * self.layout.segment_size;
            let plain = self.segment(index).await?;
            let to = (end - start).min(plain.len() as u64);
            if to <= pos - start {
                return Err(StagingError::Truncated { segment: index });
            }
            out.extend_from_slice(&plain[(pos - start) as usize..to as usize]);
            pos = start + to;
        }
        Ok(out)
    }
}
