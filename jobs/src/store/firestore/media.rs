//! Media: the rows of staged uploads, one document each.

use super::FirestoreStore;
use super::attempt::Plan;
use super::documents::owned;
use super::queries::MEDIA;
use super::value::{self, Fields, Write, fields};
use crate::model::{Media, MediaId, WorkspaceId};
use crate::store::StoreError;
use crate::store::codec::{self, MediaDoc};

impl FirestoreStore {
    /// Applies `change` to the workspace's media and writes it when `change` says it changed
    /// something (an `Err` refuses the change); returns the stored media.
    pub(super) async fn update_media(
        &self,
        ws: WorkspaceId,
        id: MediaId,
        change: impl Fn(&mut Media) -> Result<bool, StoreError>,
    ) -> Result<Media, StoreError> {
        self.update_one(self.doc(MEDIA, id), |doc| {
            let doc = owned(doc, ws)?;
            let mut media = codec::media(&doc.fields)?;
            if !change(&mut media)? {
                return Ok(Plan::answer(media));
            }
            let f = media_fields(&media)?;
            Ok(Plan::write(vec![Write::set(doc.name.clone(), f)], media))
        })
        .await
    }
}

pub(super) fn media_fields(m: &Media) -> Result<Fields, StoreError> {
    Ok(fields([
        ("id", value::id(m.id.0)),
        ("workspace_id", value::id(m.workspace_id.0)),
        ("created_by", value::opt_id(m.created_by.map(|u| u.0))),
        ("post_id", value::opt_id(m.post_id.map(|p| p.0))),
        ("expires_at", value::timestamp(m.expires_at)),
        ("doc", value::json_text(&MediaDoc::of(m))?),
        ("created_at", value::timestamp(m.created_at)),
    ]))
}
