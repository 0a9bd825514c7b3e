//! What every entity's documents share: names, ids for values we do not control, ownership,
//! marker documents, decoding query results, and paging by document name.

use super::FirestoreStore;
use super::queries::QuerySpec;
use super::value::{self, Document, Fields, fields};
use crate::model::WorkspaceId;
use crate::store::StoreError;
use crate::store::codec::{self, Cells};
use sha2::{Digest, Sha256};

/// Expired entries (OAuth states, revoked sessions) swept per new entry.
const SWEEP: u32 = 50;

impl FirestoreStore {
    pub(super) fn doc(&self, collection: &str, id: impl std::fmt::Display) -> String {
        self.rest.name(collection, &id.to_string())
    }

    /// The document `name` if it exists and belongs to workspace `ws` (see [`owned`]).
    pub(super) async fn get_owned(
        &self,
        name: &str,
        ws: WorkspaceId,
    ) -> Result<Document, StoreError> {
        owned(self.get(name).await?.as_ref(), ws).cloned()
    }

    /// Runs `spec` and decodes every document it returns.
    pub(super) async fn query_all<T>(
        &self,
        spec: &QuerySpec,
        values: &[serde_json::Value],
        limit: Option<u32>,
        decode: impl Fn(&Fields) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        all(&self.query(spec, values, limit).await?, decode)
    }

    /// One page of `collection` in document-name (= id) order: `first` from the start, `after`
    /// past the document with id `start`.
    pub(super) async fn page_by_id<T>(
        &self,
        (first, after): (&QuerySpec, &QuerySpec),
        start: Option<impl std::fmt::Display>,
        limit: u32,
        decode: impl Fn(&Fields) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        match start {
            Some(id) => {
                let start = value::reference(&self.doc(after.collection, id));
                self.query_all(after, &[start], Some(limit), decode).await
            }
            None => self.query_all(first, &[], Some(limit), decode).await,
        }
    }

    /// Deletes a few entries of `spec` (a names-only query of entries expired by an instant)
    /// that expired by now. Entries nobody came back for would otherwise stay until a TTL
    /// policy (if deployed) removes them; each new entry sweeps a few, like the SQL backends.
    pub(super) async fn sweep_expired(&self, spec: &QuerySpec) -> Result<(), StoreError> {
        let now = value::timestamp(codec::now());
        self.delete_matching(spec, &[now], SWEEP).await?;
        Ok(())
    }

    /// Reads the marker `marker_name` and, when it exists, the document of `collection` whose
    /// id it holds in `key`: (the marker, its target).
    pub(super) async fn get_marked(
        &self,
        marker_name: &str,
        key: &str,
        collection: &str,
    ) -> Result<(Option<Document>, Option<Document>), super::attempt::Lost> {
        let marker = self.get(marker_name).await?;
        let target = match &marker {
            Some(m) => self.get(&self.doc(collection, m.fields.uuid(key)?)).await?,
            None => None,
        };
        Ok((marker, target))
    }
}

/// Document ids for values we do not control (Google uids, open ids, idempotency keys, hashes,
/// lease names): fixed length, and never a `/` or a reserved `__…__` id.
pub(super) fn hash(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// The document if it exists and belongs to workspace `ws`; another workspace's document is
/// `NotFound`, exactly like a missing one.
pub(super) fn owned(doc: Option<&Document>, ws: WorkspaceId) -> Result<&Document, StoreError> {
    // Documents written before workspaces (issue #16) name only their user, whose personal
    // workspace has the user's id; `codec::owner` reads them so until `mktpost migrate` has
    // added the field (`backfill`).
    match doc {
        Some(d) if codec::owner(&d.fields)? == ws => Ok(d),
        _ => Err(StoreError::NotFound),
    }
}

/// A marker document: whose it is and what it points at.
pub(super) fn marker(ws: WorkspaceId, key: &str, target: uuid::Uuid) -> Fields {
    fields([("workspace_id", value::id(ws.0)), (key, value::id(target))])
}

pub(super) fn all<T>(
    docs: &[Document],
    decode: impl Fn(&Fields) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    docs.iter().map(|d| decode(&d.fields)).collect()
}
