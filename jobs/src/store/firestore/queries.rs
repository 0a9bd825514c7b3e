//! Every query the Firestore backend runs, as data. The backend builds each `runQuery` body from
//! one of these specs (it has no other way to query), so the list below is exactly what runs in
//! production, and the test `every_composite_query_has_its_index` can hold it against the
//! checked-in `firestore.indexes.json`: the emulator does not enforce indexes, production does.
//!
//! Collection names are the layout of the database (see `docs/firestore.md`): one top-level
//! collection per entity plus the collections of uniqueness markers.

use crate::store::StoreError;
use serde_json::{Value, json};

/// Users, by `UserId`.
pub const USERS: &str = "users";
/// TikTok accounts, by `AccountId`.
pub const ACCOUNTS: &str = "accounts";
/// Posts, by `PostId`.
pub const POSTS: &str = "posts";
/// Staged media, by `MediaId`.
pub const MEDIA: &str = "media";
/// API keys, by `ApiKeyId`.
pub const API_KEYS: &str = "api_keys";
/// Audit events, by `AuditEventId`.
pub const AUDIT: &str = "audit";
/// One-time OAuth states, by the SHA-256 of the state hash.
pub const OAUTH_STATES: &str = "oauth_states";
/// Leases, by the SHA-256 of the lease name.
pub const LEASES: &str = "leases";
/// Idempotency keys: `{user}:{sha256(key)}` → the post created with it.
pub const IDEMPOTENCY: &str = "idempotency";
/// Uniqueness of `users.google_uid`: `sha256(google_uid)` → the user.
pub const GOOGLE_UIDS: &str = "google_uids";
/// Uniqueness of accounts per (user, open_id): `{user}:{sha256(open_id)}` → the account.
pub const ACCOUNT_OPEN_IDS: &str = "account_open_ids";
/// Uniqueness of API key hashes: `sha256(hash)` → the key.
pub const API_KEY_HASHES: &str = "api_key_hashes";
/// Session cookies ended by signing out, by the SHA-256 of the cookie's hash, until the
/// cookie's own expiry.
pub const REVOKED_SESSIONS: &str = "revoked_sessions";
/// Workspaces, by `WorkspaceId` (a personal workspace's is its user's id).
pub const WORKSPACES: &str = "workspaces";
/// Members of workspaces, by `{workspace}:{user}`.
pub const WORKSPACE_MEMBERS: &str = "workspace_members";
/// Invitations to workspaces, by `InvitationId`.
pub const INVITATIONS: &str = "invitations";
/// An invitation's link: `sha256(token_hash)` → the invitation (also keeps the hashes unique).
pub const INVITATION_TOKENS: &str = "invitation_tokens";
/// Holds no documents; `ping` reads a missing one.
pub const HEALTH: &str = "health";

/// Firestore's name for a document's own key, usable in filters and orderings.
pub const DOCUMENT_NAME: &str = "__name__";

/// The order of one field in a query and in its index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Ascending,
    Descending,
}

impl Direction {
    /// The spelling of the REST API and of `firestore.indexes.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Ascending => "ASCENDING",
            Direction::Descending => "DESCENDING",
        }
    }
}

/// One filter of a query. The compared value is given when the query runs, in filter order;
/// `IsNull` takes none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    Equal(&'static str),
    IsNull(&'static str),
    LessThan(&'static str),
    AtMost(&'static str),
    GreaterThan(&'static str),
}

impl Filter {
    /// The field the filter reads.
    pub fn field(self) -> &'static str {
        match self {
            Filter::Equal(f)
            | Filter::IsNull(f)
            | Filter::LessThan(f)
            | Filter::AtMost(f)
            | Filter::GreaterThan(f) => f,
        }
    }

    /// Equality filters come first in an index; range filters order the scan.
    pub fn is_equality(self) -> bool {
        matches!(self, Filter::Equal(_) | Filter::IsNull(_))
    }

    fn to_json(self, value: Option<&Value>) -> Result<Value, StoreError> {
        let field = json!({ "fieldPath": self.field() });
        let op = match self {
            Filter::IsNull(_) => {
                return Ok(json!({ "unaryFilter": { "field": field, "op": "IS_NULL" } }));
            }
            Filter::Equal(_) => "EQUAL",
            Filter::LessThan(_) => "LESS_THAN",
            Filter::AtMost(_) => "LESS_THAN_OR_EQUAL",
            Filter::GreaterThan(_) => "GREATER_THAN",
        };
        let value = value.ok_or_else(|| {
            StoreError::Backend(format!("query filter on {} has no value", self.field()))
        })?;
        Ok(json!({ "fieldFilter": { "field": field, "op": op, "value": value } }))
    }
}

/// A structured query over one collection, as the backend sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuerySpec {
    /// What the query is for (the `Store` method that runs it), for messages and the docs.
    pub name: &'static str,
    pub collection: &'static str,
    /// ANDed together.
    pub filters: &'static [Filter],
    /// Ends with `__name__` whenever ties are possible, so results have one order everywhere
    /// (Firestore would append it implicitly; the index file lists it explicitly).
    pub order_by: &'static [(&'static str, Direction)],
    /// Only these fields come back (`None`: whole documents).
    pub select: Option<&'static [&'static str]>,
}

impl QuerySpec {
    /// The fields of the index this query scans, in index order: equality filters, then the
    /// range filter's field unless an ordering already names it, then the orderings.
    pub fn index_fields(&self) -> Vec<(&'static str, Direction)> {
        let mut fields: Vec<(&'static str, Direction)> = self
            .filters
            .iter()
            .filter(|f| f.is_equality())
            .map(|f| (f.field(), Direction::Ascending))
            .collect();
        for f in self.filters.iter().filter(|f| !f.is_equality()) {
            if !self.order_by.iter().any(|(o, _)| *o == f.field()) {
                fields.push((f.field(), Direction::Ascending));
            }
        }
        fields.extend(self.order_by.iter().copied());
        fields
    }

    /// Whether Firestore's automatic single-field indexes cannot serve this query, so it needs
    /// an entry in `firestore.indexes.json`. A trailing `__name__` ascending is part of every
    /// single-field index; anything beyond one other field needs a composite.
    pub fn needs_composite_index(&self) -> bool {
        let mut fields = self.index_fields();
        if fields.last() == Some(&(DOCUMENT_NAME, Direction::Ascending)) {
            fields.pop();
        }
        fields.len() > 1
    }

    /// The `runQuery` body: `values` are the filters' values in filter order.
    pub(crate) fn body(&self, values: &[Value], limit: Option<u32>) -> Result<Value, StoreError> {
        let mut values = values.iter();
        let mut filters = Vec::with_capacity(self.filters.len());
        for f in self.filters {
            let value = match f {
                Filter::IsNull(_) => None,
                _ => values.next(),
            };
            filters.push(f.to_json(value)?);
        }
        if values.next().is_some() {
            return Err(StoreError::Backend(format!(
                "query {} got more values than filters",
                self.name
            )));
        }
        let mut query = json!({ "from": [{ "collectionId": self.collection }] });
        match filters.len() {
            0 => {}
            1 => query["where"] = filters.remove(0),
            _ => query["where"] = json!({ "compositeFilter": { "op": "AND", "filters": filters } }),
        }
        if !self.order_by.is_empty() {
            query["orderBy"] = self
                .order_by
                .iter()
                .map(|(field, dir)| json!({ "field": { "fieldPath": field }, "direction": dir.as_str() }))
                .collect();
        }
        if let Some(fields) = self.select {
            query["select"] = json!({
                "fields": fields.iter().map(|f| json!({ "fieldPath": f })).collect::<Vec<_>>()
            });
        }
        if let Some(limit) = limit {
            query["limit"] = json!(limit);
        }
        Ok(json!({ "structuredQuery": query }))
    }

    /// [`body`](Self::body), starting just after `cursor` when given: one value per ordering,
    /// in `order_by` order (keyset paging; no index beyond the query's own is needed).
    pub(crate) fn body_after(
        &self,
        values: &[Value],
        cursor: Option<&[Value]>,
        limit: Option<u32>,
    ) -> Result<Value, StoreError> {
        let mut body = self.body(values, limit)?;
        if let Some(cursor) = cursor {
            if cursor.len() != self.order_by.len() {
                return Err(StoreError::Backend(format!(
                    "query {} got a cursor of {} values for {} orderings",
                    self.name,
                    cursor.len(),
                    self.order_by.len()
                )));
            }
            body["structuredQuery"]["startAt"] = json!({ "values": cursor, "before": false });
        }
        Ok(body)
    }
}

use Direction::{Ascending, Descending};

/// Documents of `collection` in id order (document ids are the entity ids), for batch jobs.
const fn by_id(
    name: &'static str,
    collection: &'static str,
    filters: &'static [Filter],
) -> QuerySpec {
    QuerySpec {
        name,
        collection,
        filters,
        order_by: &[(DOCUMENT_NAME, Ascending)],
        select: None,
    }
}

/// The names of the entries of `collection` that expired by an instant, for a sweep.
const fn expired(name: &'static str, collection: &'static str) -> QuerySpec {
    QuerySpec {
        name,
        collection,
        filters: &[Filter::AtMost("expires_at")],
        order_by: &[],
        select: Some(&[DOCUMENT_NAME]),
    }
}

/// `user_by_google_uid` (uniqueness itself is the `google_uids` marker).
pub const USER_BY_GOOGLE_UID: QuerySpec = QuerySpec {
    name: "user_by_google_uid",
    collection: USERS,
    filters: &[Filter::Equal("google_uid")],
    order_by: &[],
    select: None,
};

/// `users_erasing_before`: the erasure sweep, oldest mark first. Users not being erased hold
/// `null` there (or, written before the field existed, nothing), which a range filter never
/// matches. One field and `__name__`: the automatic single-field index serves it.
pub const USERS_ERASING_BEFORE: QuerySpec = QuerySpec {
    name: "users_erasing_before",
    collection: USERS,
    filters: &[Filter::AtMost("erasing_since")],
    order_by: &[("erasing_since", Ascending), (DOCUMENT_NAME, Ascending)],
    select: Some(&["id"]),
};

/// `list_accounts`: a workspace's accounts, oldest first (disconnecting ones are dropped after).
pub const LIST_ACCOUNTS: QuerySpec = QuerySpec {
    name: "list_accounts",
    collection: ACCOUNTS,
    filters: &[Filter::Equal("workspace_id")],
    order_by: &[("created_at", Ascending), (DOCUMENT_NAME, Ascending)],
    select: None,
};

/// `accounts_expiring_before`: the refresh sweep, soonest expiry first. Accounts whose tokens
/// were cleared hold `null` there, which a range filter never matches.
pub const ACCOUNTS_EXPIRING: QuerySpec = QuerySpec {
    name: "accounts_expiring_before",
    collection: ACCOUNTS,
    filters: &[
        Filter::Equal("status"),
        Filter::LessThan("access_expires_at"),
    ],
    order_by: &[("access_expires_at", Ascending), (DOCUMENT_NAME, Ascending)],
    select: Some(&["workspace_id", "user_id", "id"]),
};

/// `accounts_after` without a starting point.
pub const ACCOUNTS_FIRST: QuerySpec = by_id("accounts_after (first page)", ACCOUNTS, &[]);

/// `accounts_after`: every account in id order (document ids are the account ids).
pub const ACCOUNTS_AFTER: QuerySpec = by_id(
    "accounts_after",
    ACCOUNTS,
    &[Filter::GreaterThan(DOCUMENT_NAME)],
);

/// `list_posts` first page: newest first by id (UUIDv7, so creation order). Ordered by the
/// `id` field rather than `__name__`: Firestore refuses descending scans of document keys
/// without a composite index, and a plain field keeps the index ordinary.
pub const POSTS_FIRST_PAGE: QuerySpec = QuerySpec {
    name: "list_posts (first page)",
    collection: POSTS,
    filters: &[Filter::Equal("workspace_id")],
    order_by: &[("id", Descending), (DOCUMENT_NAME, Descending)],
    select: None,
};

/// `list_posts` after a cursor: ids below it, so posts created meanwhile cannot shift pages.
pub const POSTS_PAGE_AFTER: QuerySpec = QuerySpec {
    name: "list_posts (after a cursor)",
    collection: POSTS,
    filters: &[Filter::Equal("workspace_id"), Filter::LessThan("id")],
    order_by: &[("id", Descending), (DOCUMENT_NAME, Descending)],
    select: None,
};

/// `due_posts`: the scheduler's tick, earliest first.
pub const DUE_POSTS: QuerySpec = QuerySpec {
    name: "due_posts",
    collection: POSTS,
    filters: &[Filter::Equal("state"), Filter::AtMost("scheduled_at")],
    order_by: &[("scheduled_at", Ascending), (DOCUMENT_NAME, Ascending)],
    select: Some(&["workspace_id", "user_id", "id", "scheduled_at"]),
};

/// `posts_stuck_in`: reconciliation and parked-post deadlines, oldest update first; later
/// pages start after the last document's (updated_at, name) cursor.
pub const POSTS_STUCK_IN: QuerySpec = QuerySpec {
    name: "posts_stuck_in",
    collection: POSTS,
    filters: &[Filter::Equal("state"), Filter::LessThan("updated_at")],
    order_by: &[("updated_at", Ascending), (DOCUMENT_NAME, Ascending)],
    select: None,
};

/// `expired_media`: unattached media past their deadline, earliest first.
pub const EXPIRED_MEDIA: QuerySpec = QuerySpec {
    name: "expired_media",
    collection: MEDIA,
    filters: &[Filter::IsNull("post_id"), Filter::AtMost("expires_at")],
    order_by: &[("expires_at", Ascending), (DOCUMENT_NAME, Ascending)],
    select: None,
};

/// `list_media`: a workspace's media in id order.
pub const LIST_MEDIA: QuerySpec = QuerySpec {
    name: "list_media",
    collection: MEDIA,
    filters: &[Filter::Equal("workspace_id")],
    order_by: &[(DOCUMENT_NAME, Ascending)],
    select: None,
};

/// `media_after` without a starting point.
pub const MEDIA_FIRST: QuerySpec = by_id("media_after (first page)", MEDIA, &[]);

/// `media_after`: every media in id order (document ids are the media ids).
pub const MEDIA_AFTER: QuerySpec =
    by_id("media_after", MEDIA, &[Filter::GreaterThan(DOCUMENT_NAME)]);

/// `list_api_keys`: a workspace's keys in id order.
pub const LIST_API_KEYS: QuerySpec = QuerySpec {
    name: "list_api_keys",
    collection: API_KEYS,
    filters: &[Filter::Equal("workspace_id")],
    order_by: &[(DOCUMENT_NAME, Ascending)],
    select: None,
};

/// `api_key_by_hash` (uniqueness itself is the `api_key_hashes` marker).
pub const API_KEY_BY_HASH: QuerySpec = QuerySpec {
    name: "api_key_by_hash",
    collection: API_KEYS,
    filters: &[Filter::Equal("hash")],
    order_by: &[],
    select: None,
};

/// `list_audit`: a workspace's events, newest first.
pub const LIST_AUDIT: QuerySpec = QuerySpec {
    name: "list_audit",
    collection: AUDIT,
    filters: &[Filter::Equal("workspace_id")],
    order_by: &[("created_at", Descending), (DOCUMENT_NAME, Descending)],
    select: None,
};

/// `put_oauth_state` sweeps states nobody came back for (a TTL policy does the same in
/// production, within a day; see the docs).
pub const EXPIRED_OAUTH_STATES: QuerySpec = expired("put_oauth_state (sweep)", OAUTH_STATES);

/// `revoke_session` sweeps entries whose cookie expired anyway.
pub const EXPIRED_REVOKED_SESSIONS: QuerySpec = expired("revoke_session (sweep)", REVOKED_SESSIONS);

/// `members` (in user id order: the document names are `{workspace}:{user}`), and erasing a
/// personal workspace's members.
pub const MEMBERS_OF: QuerySpec = QuerySpec {
    name: "members",
    collection: WORKSPACE_MEMBERS,
    filters: &[Filter::Equal("workspace_id")],
    order_by: &[(DOCUMENT_NAME, Ascending)],
    select: None,
};

/// `workspaces_of`: the user's memberships (the caller orders them by when they joined).
pub const MEMBERSHIPS_OF: QuerySpec = QuerySpec {
    name: "workspaces_of",
    collection: WORKSPACE_MEMBERS,
    filters: &[Filter::Equal("user_id")],
    order_by: &[],
    select: None,
};

/// `pending_invitations`: a workspace's invitations neither accepted nor revoked (both held as
/// `null` until they happen), newest first.
pub const OPEN_INVITATIONS: QuerySpec = QuerySpec {
    name: "pending_invitations",
    collection: INVITATIONS,
    filters: &[
        Filter::Equal("workspace_id"),
        Filter::IsNull("accepted_at"),
        Filter::IsNull("revoked_at"),
    ],
    order_by: &[("created_at", Descending), (DOCUMENT_NAME, Descending)],
    select: None,
};

/// The names (only) of the documents of `collection` matching `filters`, for deleting them.
const fn names_where(
    name: &'static str,
    collection: &'static str,
    filters: &'static [Filter],
) -> QuerySpec {
    QuerySpec {
        name,
        collection,
        filters,
        order_by: &[],
        select: Some(&[DOCUMENT_NAME]),
    }
}

/// `erase_user`: the names of what is the user's own wherever it is (memberships, OAuth
/// states, API keys that act as them and their hash markers, the Google uid marker) and of
/// what their personal workspace held before workspaces existed (issue #16: such documents
/// carry only `user_id`, until `mktpost migrate` adds `workspace_id`); one query per
/// collection, deleted in batches.
pub const OWNED_BY_USER: [QuerySpec; 11] = {
    const fn owned(collection: &'static str) -> QuerySpec {
        names_where("erase_user", collection, &[Filter::Equal("user_id")])
    }
    [
        owned(WORKSPACE_MEMBERS),
        owned(OAUTH_STATES),
        owned(AUDIT),
        owned(API_KEY_HASHES),
        owned(API_KEYS),
        owned(MEDIA),
        owned(IDEMPOTENCY),
        owned(POSTS),
        owned(ACCOUNT_OPEN_IDS),
        owned(ACCOUNTS),
        owned(GOOGLE_UIDS),
    ]
};

/// `erase_user`: the names of everything the user's personal workspace owns (its id is the
/// user's); every workspace-owned document, markers included, carries `workspace_id`.
pub const OWNED_BY_WORKSPACE: [QuerySpec; 11] = {
    const fn owned(collection: &'static str) -> QuerySpec {
        let by_workspace = &[Filter::Equal("workspace_id")];
        names_where("delete_workspace", collection, by_workspace)
    }
    [
        owned(OAUTH_STATES),
        owned(AUDIT),
        owned(API_KEY_HASHES),
        owned(API_KEYS),
        owned(MEDIA),
        owned(IDEMPOTENCY),
        owned(POSTS),
        owned(ACCOUNT_OPEN_IDS),
        owned(ACCOUNTS),
        owned(INVITATION_TOKENS),
        owned(INVITATIONS),
    ]
};

/// `erase_user`: the invitations the user accepted (they hold the user's email).
pub const ACCEPTED_BY_USER: QuerySpec = names_where(
    "erase_user (accepted invitations)",
    INVITATIONS,
    &[Filter::Equal("accepted_by")],
);

/// `erase_user`: what the user made in workspaces shared with others, which stays there as a
/// former member's: each query finds the documents whose field (the second item) names them,
/// and erasure clears that field.
pub const MADE_BY_USER: [(QuerySpec, &str); 5] = {
    const CREATED_BY: &[Filter] = &[Filter::Equal("created_by")];
    const ACTOR: &[Filter] = &[Filter::Equal("actor_id")];
    const INVITER: &[Filter] = &[Filter::Equal("invited_by")];
    const fn made(collection: &'static str, filters: &'static [Filter]) -> QuerySpec {
        QuerySpec {
            name: "erase_user (former member)",
            collection,
            filters,
            order_by: &[],
            select: None,
        }
    }
    [
        (made(ACCOUNTS, CREATED_BY), "created_by"),
        (made(POSTS, CREATED_BY), "created_by"),
        (made(MEDIA, CREATED_BY), "created_by"),
        (made(AUDIT, ACTOR), "actor_id"),
        (made(INVITATIONS, INVITER), "invited_by"),
    ]
};

/// Every query the backend runs.
pub fn queries() -> Vec<QuerySpec> {
    let mut all = vec![
        USER_BY_GOOGLE_UID,
        USERS_ERASING_BEFORE,
        LIST_ACCOUNTS,
        ACCOUNTS_EXPIRING,
        ACCOUNTS_FIRST,
        ACCOUNTS_AFTER,
        POSTS_FIRST_PAGE,
        POSTS_PAGE_AFTER,
        DUE_POSTS,
        POSTS_STUCK_IN,
        EXPIRED_MEDIA,
        LIST_MEDIA,
        MEDIA_FIRST,
        MEDIA_AFTER,
        LIST_API_KEYS,
        API_KEY_BY_HASH,
        LIST_AUDIT,
        EXPIRED_OAUTH_STATES,
        EXPIRED_REVOKED_SESSIONS,
        MEMBERS_OF,
        MEMBERSHIPS_OF,
        OPEN_INVITATIONS,
    ];
    all.extend(OWNED_BY_USER);
    all.extend(OWNED_BY_WORKSPACE);
    all.push(ACCEPTED_BY_USER);
    all.extend(MADE_BY_USER.map(|(spec, _)| spec));
    all
}

/// The queries that need a composite index in `firestore.indexes.json`.
pub fn composite_queries() -> Vec<QuerySpec> {
    queries()
        .into_iter()
        .filter(QuerySpec::needs_composite_index)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::value;
    use super::*;

    #[test]
    fn a_range_filter_orders_the_scan_first() {
        // Firestore requires the first ordering to be the field of the inequality filter.
        for q in queries() {
            for f in q.filters.iter().filter(|f| !f.is_equality()) {
                if let Some((first, _)) = q.order_by.first() {
                    assert_eq!(*first, f.field(), "{}", q.name);
                }
            }
        }
    }

    #[test]
    fn the_due_post_query_needs_state_then_time() {
        assert_eq!(
            DUE_POSTS.index_fields(),
            vec![
                ("state", Ascending),
                ("scheduled_at", Ascending),
                (DOCUMENT_NAME, Ascending)
            ]
        );
        assert!(DUE_POSTS.needs_composite_index());
        assert!(!LIST_MEDIA.needs_composite_index());
        assert!(!ACCOUNTS_AFTER.needs_composite_index());
        assert!(!EXPIRED_OAUTH_STATES.needs_composite_index());
        assert!(!USERS_ERASING_BEFORE.needs_composite_index());
    }

    #[test]
    fn a_body_takes_one_value_per_valued_filter() {
        let body = EXPIRED_MEDIA
            .body(&[value::string("x")], Some(3))
            .expect("body");
        let filters = &body["structuredQuery"]["where"]["compositeFilter"]["filters"];
        assert_eq!(filters[0]["unaryFilter"]["op"], "IS_NULL");
        assert_eq!(filters[1]["fieldFilter"]["op"], "LESS_THAN_OR_EQUAL");
        assert_eq!(body["structuredQuery"]["limit"], 3);
        assert!(DUE_POSTS.body(&[value::string("x")], None).is_err());
        assert!(
            LIST_MEDIA
                .body(&[value::string("a"), value::string("b")], None)
                .is_err()
        );
    }
}
