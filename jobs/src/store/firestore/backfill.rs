//! Firestore's counterpart of SQL migration 0007 (issue #16): documents written before
//! workspaces owned anything name only their `user_id`. Each gets `workspace_id` (the user's
//! personal workspace, which has the user's id) and its maker (`created_by`, or the audit
//! event's `actor_id`). `mktpost migrate` runs it; it only adds what is missing, so running it
//! again (or while the services run, whose writes already carry both fields) changes nothing.
//! Until it has run, reads take such a document as its user's (`documents::owner`,
//! `codec::ownership`), but listings by workspace do not find it.

use super::FirestoreStore;
use super::queries::{
    ACCOUNT_OPEN_IDS, ACCOUNTS, API_KEY_HASHES, API_KEYS, AUDIT, DOCUMENT_NAME, Direction, Filter,
    IDEMPOTENCY, MEDIA, POSTS, QuerySpec,
};
use super::value::{self, Write, fields};
use crate::store::StoreError;
use crate::store::codec::Cells;

/// Documents read (and at most patched) per commit.
const BATCH: u32 = 300;

/// Every collection of workspace-owned documents, with the field naming who made each (none
/// for markers, and for API keys, whose `user_id` stays the member they act as).
const OWNED: [(&str, Option<&str>); 8] = [
    (ACCOUNTS, Some("created_by")),
    (POSTS, Some("created_by")),
    (MEDIA, Some("created_by")),
    (AUDIT, Some("actor_id")),
    (API_KEYS, None),
    (IDEMPOTENCY, None),
    (ACCOUNT_OPEN_IDS, None),
    (API_KEY_HASHES, None),
];

const fn scan(collection: &'static str, filters: &'static [Filter]) -> QuerySpec {
    QuerySpec {
        name: "backfill_workspaces",
        collection,
        filters,
        order_by: &[(DOCUMENT_NAME, Direction::Ascending)],
        select: None,
    }
}

impl FirestoreStore {
    /// Adds `workspace_id` (and the maker) to every document that lacks it; how many it
    /// patched.
    pub async fn backfill_workspaces(&self) -> Result<usize, StoreError> {
        let mut patched = 0;
        for (collection, maker) in OWNED {
            let first = scan(collection, &[]);
            let after = scan(collection, &[Filter::GreaterThan(DOCUMENT_NAME)]);
            let mut start: Option<String> = None;
            loop {
                let docs = match &start {
                    None => self.query(&first, &[], Some(BATCH)).await?,
                    Some(name) => {
                        let values = [value::reference(name)];
                        self.query(&after, &values, Some(BATCH)).await?
                    }
                };
                let mut writes = Vec::new();
                for d in &docs {
                    if d.fields.opt_uuid("workspace_id")?.is_some() {
                        continue;
                    }
                    let Some(user) = d.fields.opt_uuid("user_id")? else {
                        continue;
                    };
                    let owner = value::id(user);
                    let write = match maker {
                        Some(field) => Write::patch(
                            d.name.clone(),
                            fields([("workspace_id", owner.clone()), (field, owner)]),
                            vec!["workspace_id", field],
                        ),
                        None => Write::patch(
                            d.name.clone(),
                            fields([("workspace_id", owner)]),
                            vec!["workspace_id"],
                        ),
                    };
                    writes.push(write.if_exists());
                }
                if !writes.is_empty() {
                    self.write(&writes).await?;
                    patched += writes.len();
                }
                match docs.last() {
                    Some(last) if docs.len() == BATCH as usize => start = Some(last.name.clone()),
                    _ => break,
                }
            }
        }
        Ok(patched)
    }
}

#[cfg(feature = "test-support")]
impl FirestoreStore {
    /// Turns every workspace-owned document back into its shape from before workspaces: the
    /// owner as `user_id` (the personal workspace's id is the user's), no `workspace_id` and no
    /// maker. For the backfill's test only.
    pub async fn forget_workspaces_for_tests(&self) -> Result<(), StoreError> {
        for (collection, maker) in OWNED {
            let docs = self.query(&scan(collection, &[]), &[], None).await?;
            let mut writes = Vec::new();
            for d in &docs {
                let Some(ws) = d.fields.opt_uuid("workspace_id")? else {
                    continue;
                };
                let mut mask = vec!["workspace_id"];
                mask.extend(maker);
                let owner = if collection == API_KEYS {
                    d.fields.uuid("user_id")?
                } else {
                    mask.push("user_id");
                    ws
                };
                let f = fields([("user_id", value::id(owner))]);
                writes.push(Write::patch(d.name.clone(), f, mask));
            }
            if !writes.is_empty() {
                self.write(&writes).await?;
            }
        }
        Ok(())
    }
}
