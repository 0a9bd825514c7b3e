//! How entities become rows and rows become entities, shared by the SQL backends.
//!
//! A row is the fields some query filters, sorts or constrains on, as columns, plus a `doc`
//! column holding the rest of the entity as JSON (see `migrations/README.md`). The `*Doc`
//! types below are those documents: one shape for every backend, so a Firestore document can
//! carry the same fields. Each backend only says how to read one typed cell from its row
//! ([`Cells`]); building the entity from the cells is written once, here.

use super::{AccountRef, DuePost, StoreError};
use crate::model::{
    AccountConnect, AccountId, AccountStatus, ApiKey, ApiKeyId, ApiKeyScopes, AuditEvent,
    AuditEventId, Container, EncryptedTokens, Media, MediaId, Post, PostGroup, PostId, PostMode,
    PostSettings, PostSource, PostState, Role, TikTokAccount, TikTokProgress, User, UserId,
    Workspace, WorkspaceId,
};
use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use uuid::Uuid;

/// Reads one typed cell of a row by column name; implemented by each SQL dialect's row type and
/// by a Firestore document's fields. A required cell is an optional one that is there, so a
/// row type only says how to read the optional ones. `pub` only because the public `SqlStore`
/// names it in its dialect's bounds; this module is private, so nothing outside the crate can
/// use it.
pub trait Cells {
    fn opt_uuid(&self, col: &str) -> Result<Option<Uuid>, StoreError>;
    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError>;
    fn int(&self, col: &str) -> Result<i64, StoreError>;
    fn opt_ts(&self, col: &str) -> Result<Option<DateTime<Utc>>, StoreError>;
    fn json(&self, col: &str) -> Result<serde_json::Value, StoreError>;

    fn uuid(&self, col: &str) -> Result<Uuid, StoreError> {
        required(col, self.opt_uuid(col)?)
    }
    fn text(&self, col: &str) -> Result<String, StoreError> {
        required(col, self.opt_text(col)?)
    }
    fn ts(&self, col: &str) -> Result<DateTime<Utc>, StoreError> {
        required(col, self.opt_ts(col)?)
    }
}

/// A required cell that is NULL (or absent): a corrupt row.
fn required<T>(col: &str, v: Option<T>) -> Result<T, StoreError> {
    v.ok_or_else(|| bad_cell(col, "missing"))
}

/// A cell that could not be read: a schema mismatch or a corrupt row, never a user error.
pub(crate) fn bad_cell(col: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("column {col}: {e}"))
}

/// The instant every backend stores: PostgreSQL and Firestore keep microseconds, so SQLite does
/// too, and a value reads back equal to what the store itself wrote.
pub(crate) fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// When a lease taken at `now` for `ttl` ends.
pub(crate) fn lease_end(
    now: DateTime<Utc>,
    ttl: std::time::Duration,
) -> Result<DateTime<Utc>, StoreError> {
    chrono::TimeDelta::from_std(ttl)
        .ok()
        .and_then(|ttl| now.checked_add_signed(ttl))
        .ok_or_else(|| StoreError::Backend(format!("lease ttl {ttl:?} is out of range")))
}

fn doc<T: DeserializeOwned>(r: &impl Cells, col: &str) -> Result<T, StoreError> {
    serde_json::from_value(r.json(col)?).map_err(|e| bad_cell(col, e))
}

/// An account's profile: what TikTok told us about the creator at the last connect.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct AccountDoc {
    pub union_id: Option<String>,
    pub display_name: String,
    pub username: Option<String>,
    pub avatar_url: Option<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
}

impl AccountDoc {
    pub fn of_connect(c: &AccountConnect) -> Self {
        Self {
            union_id: c.union_id.clone(),
            display_name: c.display_name.clone(),
            username: c.username.clone(),
            avatar_url: c.avatar_url.clone(),
            scopes: c.scopes.clone(),
        }
    }
}

/// Everything of a post that no query looks at.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct PostDoc {
    #[serde(default)]
    pub source: PostSource,
    #[serde(default)]
    pub mode: PostMode,
    pub settings: PostSettings,
    pub scheduled_tz: Option<String>,
    #[serde(default)]
    pub tiktok: TikTokProgress,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub late_by_ms: Option<i64>,
    pub request_hash: Option<String>,
    pub media_deleted_at: Option<DateTime<Utc>>,
    pub published_at: Option<DateTime<Utc>>,
    /// Posts written before groups existed have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<PostGroup>,
}

impl PostDoc {
    pub fn of(p: &Post) -> Self {
        Self {
            source: p.source.clone(),
            mode: p.mode,
            settings: p.settings.clone(),
            scheduled_tz: p.scheduled_tz.clone(),
            tiktok: p.tiktok.clone(),
            error_code: p.error_code.clone(),
            error_message: p.error_message.clone(),
            late_by_ms: p.late_by_ms,
            request_hash: p.request_hash.clone(),
            media_deleted_at: p.media_deleted_at,
            published_at: p.published_at,
            group: p.group.clone(),
        }
    }
}

/// Everything of a staged video that no query looks at.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct MediaDoc {
    pub size: u64,
    pub container: Container,
    pub duration_ms: Option<u64>,
    pub object_key: String,
    pub wrapped_key: String,
    pub segment_size: u32,
}

impl MediaDoc {
    pub fn of(m: &Media) -> Self {
        Self {
            size: m.size,
            container: m.container,
            duration_ms: m.duration_ms,
            object_key: m.object_key.clone(),
            wrapped_key: m.wrapped_key.clone(),
            segment_size: m.segment_size,
        }
    }
}

/// The workspace that owns a row and who made it (`creator`: the column naming them). A
/// Firestore document written before workspaces existed (issue #16) has only the `user_id` of
/// its one owner, which is both: their personal workspace has their id. SQL rows always have
/// `workspace_id` (migration 0007 backfilled it), so the fallback never reads a missing column.
fn ownership(r: &impl Cells, creator: &str) -> Result<(WorkspaceId, Option<UserId>), StoreError> {
    Ok(match r.opt_uuid("workspace_id")? {
        Some(ws) => (WorkspaceId(ws), r.opt_uuid(creator)?.map(UserId)),
        None => {
            let owner = r.uuid("user_id")?;
            (WorkspaceId(owner), Some(UserId(owner)))
        }
    })
}

/// The workspace that owns a row, as [`ownership`] reads it (a Firestore document's too).
pub(crate) fn owner(r: &impl Cells) -> Result<WorkspaceId, StoreError> {
    Ok(match r.opt_uuid("workspace_id")? {
        Some(ws) => WorkspaceId(ws),
        None => WorkspaceId(r.uuid("user_id")?),
    })
}

pub(crate) fn user(r: &impl Cells) -> Result<User, StoreError> {
    Ok(User {
        id: UserId(r.uuid("id")?),
        google_uid: r.text("google_uid")?,
        email: r.text("email")?,
        name: r.text("name")?,
        picture: r.opt_text("picture")?,
        created_at: r.ts("created_at")?,
        updated_at: r.ts("updated_at")?,
        erasing_since: r.opt_ts("erasing_since")?,
        sessions_revoked_at: r.opt_ts("sessions_revoked_at")?,
    })
}

pub(crate) fn account(r: &impl Cells) -> Result<TikTokAccount, StoreError> {
    let status = r.text("status")?;
    let status = AccountStatus::parse(&status).ok_or_else(|| bad_cell("status", &status))?;
    let tokens = match (
        r.opt_text("access_token")?,
        r.opt_text("refresh_token")?,
        r.opt_ts("access_expires_at")?,
        r.opt_ts("refresh_expires_at")?,
    ) {
        (
            Some(access_token),
            Some(refresh_token),
            Some(access_expires_at),
            Some(refresh_expires_at),
        ) => Some(EncryptedTokens {
            access_token,
            refresh_token,
            access_expires_at,
            refresh_expires_at,
        }),
        (None, None, None, None) => None,
        _ => return Err(bad_cell("access_token", "tokens are only partly present")),
    };
    let profile: AccountDoc = doc(r, "doc")?;
    let (workspace_id, created_by) = ownership(r, "created_by")?;
    Ok(TikTokAccount {
        id: AccountId(r.uuid("id")?),
        workspace_id,
        created_by,
        open_id: r.text("open_id")?,
        union_id: profile.union_id,
        display_name: profile.display_name,
        username: profile.username,
        avatar_url: profile.avatar_url,
        scopes: profile.scopes,
        status,
        status_reason: r.opt_text("status_reason")?,
        tokens,
        version: r.int("version")?,
        created_at: r.ts("created_at")?,
        updated_at: r.ts("updated_at")?,
    })
}

pub(crate) fn account_ref(r: &impl Cells) -> Result<AccountRef, StoreError> {
    Ok(AccountRef {
        workspace_id: owner(r)?,
        account_id: AccountId(r.uuid("id")?),
    })
}

pub(crate) fn post(r: &impl Cells) -> Result<Post, StoreError> {
    let state: PostState = r.text("state")?.parse().map_err(|e| bad_cell("state", e))?;
    let d: PostDoc = doc(r, "doc")?;
    let (workspace_id, created_by) = ownership(r, "created_by")?;
    Ok(Post {
        id: PostId(r.uuid("id")?),
        workspace_id,
        created_by,
        account_id: AccountId(r.uuid("account_id")?),
        media_id: r.opt_uuid("media_id")?.map(MediaId),
        source: d.source,
        mode: d.mode,
        settings: d.settings,
        state,
        version: r.int("version")?,
        scheduled_at: r.opt_ts("scheduled_at")?,
        scheduled_tz: d.scheduled_tz,
        tiktok: d.tiktok,
        error_code: d.error_code,
        error_message: d.error_message,
        late_by_ms: d.late_by_ms,
        idempotency_key: r.opt_text("idempotency_key")?,
        request_hash: d.request_hash,
        media_deleted_at: d.media_deleted_at,
        published_at: d.published_at,
        group: d.group,
        created_at: r.ts("created_at")?,
        updated_at: r.ts("updated_at")?,
    })
}

pub(crate) fn due_post(r: &impl Cells) -> Result<DuePost, StoreError> {
    Ok(DuePost {
        workspace_id: owner(r)?,
        post_id: PostId(r.uuid("id")?),
        scheduled_at: r.ts("scheduled_at")?,
    })
}

pub(crate) fn media(r: &impl Cells) -> Result<Media, StoreError> {
    let d: MediaDoc = doc(r, "doc")?;
    let (workspace_id, created_by) = ownership(r, "created_by")?;
    Ok(Media {
        id: MediaId(r.uuid("id")?),
        workspace_id,
        created_by,
        size: d.size,
        container: d.container,
        duration_ms: d.duration_ms,
        object_key: d.object_key,
        wrapped_key: d.wrapped_key,
        segment_size: d.segment_size,
        post_id: r.opt_uuid("post_id")?.map(PostId),
        created_at: r.ts("created_at")?,
        expires_at: r.ts("expires_at")?,
    })
}

pub(crate) fn api_key(r: &impl Cells) -> Result<ApiKey, StoreError> {
    Ok(ApiKey {
        id: ApiKeyId(r.uuid("id")?),
        workspace_id: owner(r)?,
        user_id: UserId(r.uuid("user_id")?),
        name: r.text("name")?,
        prefix: r.text("prefix")?,
        hash: r.text("hash")?,
        created_at: r.ts("created_at")?,
        last_used_at: r.opt_ts("last_used_at")?,
        // SQL rows always have it (the migration's default); a Firestore document written
        // before scopes existed has none and gets what old keys keep (`ApiKeyScopes::legacy`).
        scopes: r
            .opt_text("scopes")?
            .map_or_else(ApiKeyScopes::legacy, |s| ApiKeyScopes::from_stored(&s)),
    })
}

pub(crate) fn audit_event(r: &impl Cells) -> Result<AuditEvent, StoreError> {
    let (workspace_id, actor_id) = ownership(r, "actor_id")?;
    Ok(AuditEvent {
        id: AuditEventId(r.uuid("id")?),
        workspace_id,
        actor_id,
        kind: r.text("kind")?,
        detail: r.json("detail")?,
        created_at: r.ts("created_at")?,
    })
}

/// Everything of a workspace that no query looks at.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct WorkspaceDoc {
    pub name: String,
    pub personal: bool,
    #[serde(default)]
    pub approval_required: bool,
}

impl WorkspaceDoc {
    pub fn of(w: &Workspace) -> Self {
        Self {
            name: w.name.clone(),
            personal: w.personal,
            approval_required: w.approval_required,
        }
    }

    /// A personal workspace as it starts (the migration's backfill writes the same document).
    pub fn personal() -> Self {
        Self {
            name: Workspace::PERSONAL_NAME.to_owned(),
            personal: true,
            approval_required: false,
        }
    }
}

pub(crate) fn workspace(r: &impl Cells) -> Result<Workspace, StoreError> {
    let d: WorkspaceDoc = doc(r, "doc")?;
    Ok(Workspace {
        id: WorkspaceId(r.uuid("id")?),
        name: d.name,
        personal: d.personal,
        approval_required: d.approval_required,
        created_at: r.ts("created_at")?,
        version: r.int("version")?,
    })
}

pub(crate) fn member(r: &impl Cells) -> Result<crate::model::Member, StoreError> {
    let role = r.text("role")?;
    Ok(crate::model::Member {
        workspace_id: WorkspaceId(r.uuid("workspace_id")?),
        user_id: UserId(r.uuid("user_id")?),
        role: Role::parse(&role).map_err(|e| bad_cell("role", e))?,
        joined_at: r.ts("joined_at")?,
    })
}

/// A user's workspaces with the user's role in each, in the order the user joined them (then
/// by workspace id), from the user's memberships and the workspaces they name. A membership
/// whose workspace was not read (deleted between the two reads) is left out.
pub(crate) fn with_roles(
    mut members: Vec<crate::model::Member>,
    workspaces: Vec<Workspace>,
) -> Vec<(Workspace, Role)> {
    members.sort_by_key(|m| (m.joined_at, m.workspace_id));
    let mut by_id: std::collections::HashMap<WorkspaceId, Workspace> =
        workspaces.into_iter().map(|w| (w.id, w)).collect();
    members
        .into_iter()
        .filter_map(|m| by_id.remove(&m.workspace_id).map(|w| (w, m.role)))
        .collect()
}

/// An invitation: every field is a column (or a Firestore field) of its own, so there is no
/// `doc`.
pub(crate) fn invitation(r: &impl Cells) -> Result<crate::model::Invitation, StoreError> {
    let role = r.text("role")?;
    Ok(crate::model::Invitation {
        id: crate::model::InvitationId(r.uuid("id")?),
        workspace_id: WorkspaceId(r.uuid("workspace_id")?),
        email: r.text("email")?,
        role: Role::parse(&role).map_err(|e| bad_cell("role", e))?,
        invited_by: r.opt_uuid("invited_by")?.map(UserId),
        token_hash: r.text("token_hash")?,
        created_at: r.ts("created_at")?,
        expires_at: r.ts("expires_at")?,
        accepted_at: r.opt_ts("accepted_at")?,
        accepted_by: r.opt_uuid("accepted_by")?.map(UserId),
        revoked_at: r.opt_ts("revoked_at")?,
    })
}

/// Parses a history cursor. A cursor the store never issued is a page that does not exist.
pub(crate) fn parse_cursor(cursor: Option<&str>) -> Result<Option<PostId>, StoreError> {
    cursor
        .map(|c| PostId::parse(c).map_err(|_| StoreError::NotFound))
        .transpose()
}

/// Cuts one extra row (fetched to learn whether another page exists) into a page and cursor.
pub(crate) fn page_of(mut posts: Vec<Post>, limit: usize) -> super::Page<Post> {
    let next_cursor = if posts.len() > limit {
        posts.truncate(limit);
        posts.last().map(|p| p.id.to_string())
    } else {
        None
    };
    super::Page {
        items: posts,
        next_cursor,
    }
}

/// Collects decoded rows, stopping at the first bad one.
pub(crate) fn all<R, T>(
    rows: &[R],
    decode: impl Fn(&R) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    rows.iter().map(decode).collect()
}
