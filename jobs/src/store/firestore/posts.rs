//! Posts (one document each, plus an `idempotency` marker per workspace and key that points at the
//! post created with it).

use super::FirestoreStore;
use super::attempt::{Lost, Plan, lost_commit};
use super::documents::{hash, marker, owned};
use super::queries::{IDEMPOTENCY, POSTS};
use super::rest::Status;
use super::value::{self, Document, Fields, Write, fields};
use crate::model::{Post, PostState, WorkspaceId};
use crate::store::codec::{self, Cells, PostDoc};
use crate::store::{Created, StoreError, StuckAfter, check_transition};

impl FirestoreStore {
    pub(super) fn idempotency_marker(&self, ws: WorkspaceId, key: &str) -> String {
        self.doc(IDEMPOTENCY, format!("{ws}:{}", hash(key)))
    }

    /// `create_post`. The post and its key's marker are created together; a used key fails
    /// the commit, and the post that holds the key is returned instead.
    pub(super) async fn create(&self, post: &Post) -> Result<Created<Post>, StoreError> {
        let name = self.doc(POSTS, post.id);
        let f = post_fields(post)?;
        let created = Created {
            value: codec::post(&f)?,
            created: true,
        };
        let Some(key) = &post.idempotency_key else {
            self.write(&[Write::set(name, f).if_absent()]).await?;
            return Ok(created);
        };
        let marker_name = self.idempotency_marker(post.workspace_id, key);
        let writes = [
            Write::set(name.clone(), f).if_absent(),
            Write::set(
                marker_name.clone(),
                marker(post.workspace_id, "post_id", post.id.0),
            )
            .if_absent(),
        ];
        self.retrying(|| async {
            let lost = match self.rest.commit(&writes).await {
                Ok(()) => return Ok(created.clone()),
                Err(e) if e.status == Status::AlreadyExists => e,
                Err(e) => return Err(lost_commit(e)),
            };
            let docs = self
                .rest
                .batch_get(&[marker_name.clone(), name.clone()])
                .await?;
            match (&docs[0], &docs[1]) {
                (Some(m), _) => match self.key_holder(m, post.workspace_id).await? {
                    Some(value) => Ok(Created {
                        value,
                        created: false,
                    }),
                    // The first post was deleted (with its marker) between the two reads.
                    None => Err(Lost::Race(lost)),
                },
                (None, Some(_)) => Err(Lost::Fail(StoreError::Conflict(
                    "a post with this id already exists".into(),
                ))),
                // The key's holder was deleted meanwhile: the key is free again.
                (None, None) => Err(Lost::Race(lost)),
            }
        })
        .await
    }

    /// The workspace's post that the idempotency marker `m` points at, if it is still there.
    async fn key_holder(&self, m: &Document, ws: WorkspaceId) -> Result<Option<Post>, Lost> {
        let first = self.doc(POSTS, m.fields.uuid("post_id")?);
        match self.get(&first).await? {
            Some(doc) if owned(Some(&doc), ws).is_ok() => Ok(Some(codec::post(&doc.fields)?)),
            _ => Ok(None),
        }
    }

    /// `save_post`: compare-and-set on state and version.
    pub(super) async fn save(
        &self,
        post: &Post,
        expected_state: PostState,
    ) -> Result<Post, StoreError> {
        check_transition(expected_state, post.state)?;
        self.update_one(self.doc(POSTS, post.id), |doc| {
            let doc = owned(doc, post.workspace_id)?;
            let stored = codec::post(&doc.fields)?;
            if stored.state != expected_state || stored.version != post.version {
                return Err(StoreError::StaleState);
            }
            // Identity, owner, idempotency key and creation time never change.
            let next = Post {
                id: stored.id,
                workspace_id: stored.workspace_id,
                created_by: stored.created_by,
                idempotency_key: stored.idempotency_key,
                created_at: stored.created_at,
                version: stored.version + 1,
                updated_at: codec::now(),
                ..post.clone()
            };
            let f = post_fields(&next)?;
            let value = codec::post(&f)?;
            Ok(Plan::write(vec![Write::set(doc.name.clone(), f)], value))
        })
        .await
    }

    /// Where a page of `posts_stuck_in` starts: the cursor is the query's own order
    /// (updated_at, __name__), and Firestore starts just after it, so ties on updated_at are
    /// neither repeated nor skipped.
    pub(super) fn stuck_cursor(&self, after: Option<StuckAfter>) -> Option<Vec<serde_json::Value>> {
        after.map(|a| {
            vec![
                value::timestamp(a.updated_at),
                value::reference(&self.doc(POSTS, a.id)),
            ]
        })
    }
}

fn post_fields(p: &Post) -> Result<Fields, StoreError> {
    Ok(fields([
        ("id", value::id(p.id.0)),
        ("workspace_id", value::id(p.workspace_id.0)),
        ("created_by", value::opt_id(p.created_by.map(|u| u.0))),
        ("account_id", value::id(p.account_id.0)),
        ("media_id", value::opt_id(p.media_id.map(|m| m.0))),
        ("state", value::string(p.state.as_str())),
        ("version", value::integer(p.version)),
        ("scheduled_at", value::opt_timestamp(p.scheduled_at)),
        (
            "idempotency_key",
            value::opt_string(p.idempotency_key.as_deref()),
        ),
        ("doc", value::json_text(&PostDoc::of(p))?),
        ("created_at", value::timestamp(p.created_at)),
        ("updated_at", value::timestamp(p.updated_at)),
    ]))
}
