//! Every statement the SQL store runs. SQLite and PostgreSQL agree on this subset (`$N`
//! parameters, `ON CONFLICT`, `RETURNING`), so one text serves both dialects and they cannot
//! drift apart; each binds its own column types (text vs uuid/timestamptz, see the migrations
//! and `dialect`).
//!
//! Rows are decoded by column name (`codec`), so `SELECT *` is safe when a migration adds a
//! column.

/// The scheduler's tick. `state` is a literal, not a parameter, so the planner can prove that
/// the partial index `posts_due_idx` applies.
macro_rules! due_posts {
    () => {
        "SELECT workspace_id, id, scheduled_at FROM posts \
         WHERE state = 'scheduled' AND scheduled_at <= $1 \
         ORDER BY scheduled_at, id LIMIT $2"
    };
}
pub(crate) use due_posts;

pub(crate) const DUE_POSTS: &str = due_posts!();

pub(crate) const PING: &str = "SELECT 1";

/// A sign-in: creates the user or updates its profile. `erasing_since` is never touched, so
/// signing in again while an erasure runs keeps the mark.
pub(crate) const UPSERT_USER: &str = "\
    INSERT INTO users (id, google_uid, email, name, picture, created_at, updated_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $6) \
    ON CONFLICT (google_uid) DO UPDATE SET \
        email = excluded.email, name = excluded.name, picture = excluded.picture, \
        updated_at = excluded.updated_at \
    RETURNING *";

pub(crate) const USER: &str = "SELECT * FROM users WHERE id = $1";

pub(crate) const USER_BY_GOOGLE_UID: &str = "SELECT * FROM users WHERE google_uid = $1";

/// Marks the user as being erased at `$2`, unless it already is: the first instant stays, and
/// `updated_at` (`$3`) only moves with it. Returns no row for an unknown user.
pub(crate) const MARK_USER_ERASING: &str = "\
    UPDATE users SET \
        updated_at = CASE WHEN erasing_since IS NULL THEN $3 ELSE updated_at END, \
        erasing_since = COALESCE(erasing_since, $2) \
    WHERE id = $1 \
    RETURNING *";

/// Served by the partial index `users_erasing_idx`.
pub(crate) const USERS_ERASING_BEFORE: &str = "\
    SELECT id FROM users WHERE erasing_since IS NOT NULL AND erasing_since <= $1 \
    ORDER BY erasing_since, id LIMIT $2";

/// Run in one transaction, children first (rows reference `workspaces` and `users`). The
/// personal workspace (id = the user's id) goes whole, with everything it owns and everyone in
/// it; in the workspaces the user shares with others their content stays, its `created_by`
/// (`actor_id`) cleared so it shows as a former member's, and their keys and memberships go.
/// The user row goes last, and with it the erasure mark (`erasing_since`).
pub(crate) const ERASE_USER: [&str; 13] = [
    "DELETE FROM workspace_members WHERE user_id = $1 OR workspace_id = $1",
    "DELETE FROM oauth_states WHERE user_id = $1 OR workspace_id = $1",
    "DELETE FROM audit_events WHERE workspace_id = $1",
    "UPDATE audit_events SET actor_id = NULL WHERE actor_id = $1",
    "DELETE FROM api_keys WHERE user_id = $1 OR workspace_id = $1",
    "DELETE FROM media WHERE workspace_id = $1",
    "UPDATE media SET created_by = NULL WHERE created_by = $1",
    "DELETE FROM posts WHERE workspace_id = $1",
    "UPDATE posts SET created_by = NULL WHERE created_by = $1",
    "DELETE FROM accounts WHERE workspace_id = $1",
    "UPDATE accounts SET created_by = NULL WHERE created_by = $1",
    "DELETE FROM workspaces WHERE id = $1",
    "DELETE FROM users WHERE id = $1",
];

/// Deletes a workspace and everything it owns, in one transaction, children first.
pub(crate) const DELETE_WORKSPACE: [&str; 8] = [
    "DELETE FROM oauth_states WHERE workspace_id = $1",
    "DELETE FROM audit_events WHERE workspace_id = $1",
    "DELETE FROM api_keys WHERE workspace_id = $1",
    "DELETE FROM media WHERE workspace_id = $1",
    "DELETE FROM posts WHERE workspace_id = $1",
    "DELETE FROM accounts WHERE workspace_id = $1",
    "DELETE FROM workspace_members WHERE workspace_id = $1",
    "DELETE FROM workspaces WHERE id = $1",
];

/// An upsert on (workspace, open_id). An empty incoming refresh token keeps the stored one and its
/// expiry: losing the refresh token loses the account.
pub(crate) const CONNECT_ACCOUNT: &str = "\
    INSERT INTO accounts (id, workspace_id, created_by, open_id, status, status_reason, access_token, \
        refresh_token, access_expires_at, refresh_expires_at, doc, version, created_at, updated_at) \
    VALUES ($1, $2, $10, $3, 'active', NULL, $4, $5, $6, $7, $8, 1, $9, $9) \
    ON CONFLICT (workspace_id, open_id) DO UPDATE SET \
        status = 'active', status_reason = NULL, \
        access_token = excluded.access_token, access_expires_at = excluded.access_expires_at, \
        refresh_token = CASE WHEN excluded.refresh_token = '' AND accounts.refresh_token IS NOT NULL \
            THEN accounts.refresh_token ELSE excluded.refresh_token END, \
        refresh_expires_at = CASE WHEN excluded.refresh_token = '' AND accounts.refresh_token IS NOT NULL \
            THEN accounts.refresh_expires_at ELSE excluded.refresh_expires_at END, \
        doc = excluded.doc, version = accounts.version + 1, updated_at = excluded.updated_at \
    RETURNING *";

pub(crate) const ACCOUNT: &str = "SELECT * FROM accounts WHERE id = $1 AND workspace_id = $2";

pub(crate) const ACCOUNT_EXISTS: &str =
    "SELECT 1 FROM accounts WHERE id = $1 AND workspace_id = $2";

pub(crate) const ALL_ACCOUNTS: &str = "\
    SELECT * FROM accounts WHERE workspace_id = $1 ORDER BY created_at, id";

/// Compare-and-set on version; the refresh token is kept as in `CONNECT_ACCOUNT`.
pub(crate) const STORE_TOKENS: &str = "\
    UPDATE accounts SET access_token = $4, access_expires_at = $5, \
        refresh_token = CASE WHEN $6 = '' AND refresh_token IS NOT NULL \
            THEN refresh_token ELSE $6 END, \
        refresh_expires_at = CASE WHEN $6 = '' AND refresh_token IS NOT NULL \
            THEN refresh_expires_at ELSE $7 END, \
        version = version + 1, updated_at = $8 \
    WHERE id = $1 AND workspace_id = $2 AND version = $3 \
    RETURNING *";

/// Compare-and-set on version; `$6` clears all four token columns together.
pub(crate) const SET_ACCOUNT_STATUS: &str = "\
    UPDATE accounts SET status = $4, status_reason = $5, \
        access_token = CASE WHEN $6 THEN NULL ELSE access_token END, \
        refresh_token = CASE WHEN $6 THEN NULL ELSE refresh_token END, \
        access_expires_at = CASE WHEN $6 THEN NULL ELSE access_expires_at END, \
        refresh_expires_at = CASE WHEN $6 THEN NULL ELSE refresh_expires_at END, \
        version = version + 1, updated_at = $7 \
    WHERE id = $1 AND workspace_id = $2 AND version = $3 \
    RETURNING *";

pub(crate) const DELETE_ACCOUNT: &str = "DELETE FROM accounts WHERE id = $1 AND workspace_id = $2";

/// Served by the partial index `accounts_expiring_idx`.
pub(crate) const ACCOUNTS_EXPIRING_BEFORE: &str = "\
    SELECT workspace_id, id FROM accounts \
    WHERE status = 'active' AND access_expires_at < $1 \
    ORDER BY access_expires_at, id LIMIT $2";

pub(crate) const ACCOUNTS_FIRST: &str = "SELECT * FROM accounts ORDER BY id LIMIT $1";

pub(crate) const ACCOUNTS_AFTER: &str = "SELECT * FROM accounts WHERE id > $1 ORDER BY id LIMIT $2";

/// Inserts unless this workspace already used the idempotency key (NULL keys never conflict);
/// returns no row when the key was taken.
pub(crate) const CREATE_POST: &str = "\
    INSERT INTO posts (id, workspace_id, account_id, media_id, state, version, scheduled_at, \
        idempotency_key, doc, created_at, updated_at, created_by) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
    ON CONFLICT (workspace_id, idempotency_key) DO NOTHING \
    RETURNING *";

pub(crate) const POST_BY_IDEMPOTENCY_KEY: &str =
    "SELECT * FROM posts WHERE workspace_id = $1 AND idempotency_key = $2";

pub(crate) const POST: &str = "SELECT * FROM posts WHERE id = $1 AND workspace_id = $2";

pub(crate) const POST_EXISTS: &str = "SELECT 1 FROM posts WHERE id = $1 AND workspace_id = $2";

/// Newest first by id (UUIDv7: creation order). Asks one row more than the page, to learn
/// whether another page exists.
pub(crate) const POSTS_FIRST_PAGE: &str =
    "SELECT * FROM posts WHERE workspace_id = $1 ORDER BY id DESC LIMIT $2";

/// The page after a cursor: ids below it. Posts created meanwhile have higher ids, so they
/// can neither shift nor repeat rows on later pages.
pub(crate) const POSTS_PAGE_AFTER: &str =
    "SELECT * FROM posts WHERE workspace_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3";

/// Compare-and-set on (state, version). Identity, owner, idempotency key and creation time
/// never change.
pub(crate) const SAVE_POST: &str = "\
    UPDATE posts SET account_id = $3, media_id = $4, state = $5, version = version + 1, \
        scheduled_at = $6, doc = $7, updated_at = $8 \
    WHERE id = $1 AND workspace_id = $2 AND state = $9 AND version = $10 \
    RETURNING *";

pub(crate) const DELETE_POST: &str = "DELETE FROM posts WHERE id = $1 AND workspace_id = $2";

/// Served by `posts_state_updated_idx`.
pub(crate) const POSTS_STUCK_IN: &str = "\
    SELECT * FROM posts WHERE state = $1 AND updated_at < $2 \
    ORDER BY updated_at, id LIMIT $3";

/// The page of `POSTS_STUCK_IN` after a cursor `($3, $4)` = (updated_at, id) of the last row
/// seen. Also served by `posts_state_updated_idx`.
pub(crate) const POSTS_STUCK_IN_AFTER: &str = "\
    SELECT * FROM posts WHERE state = $1 AND updated_at < $2 \
        AND (updated_at > $3 OR (updated_at = $3 AND id > $4)) \
    ORDER BY updated_at, id LIMIT $5";

pub(crate) const CREATE_MEDIA: &str = "\
    INSERT INTO media (id, workspace_id, post_id, expires_at, doc, created_at, created_by) \
    VALUES ($1, $2, $3, $4, $5, $6, $7)";

pub(crate) const MEDIA: &str = "SELECT * FROM media WHERE id = $1 AND workspace_id = $2";

pub(crate) const MEDIA_EXISTS: &str = "SELECT 1 FROM media WHERE id = $1 AND workspace_id = $2";

/// Compare-and-set on "not attached yet". Attaching again to the same post succeeds, so a
/// replayed request or job does not fail on its own earlier write.
pub(crate) const ATTACH_MEDIA: &str = "\
    UPDATE media SET post_id = $3 \
    WHERE id = $1 AND workspace_id = $2 AND (post_id IS NULL OR post_id = $3) \
    RETURNING *";

/// Compare-and-set on "attached to this post (or to none)".
pub(crate) const DETACH_MEDIA: &str = "\
    UPDATE media SET post_id = NULL \
    WHERE id = $1 AND workspace_id = $2 AND (post_id IS NULL OR post_id = $3) \
    RETURNING *";

pub(crate) const DELETE_MEDIA: &str = "DELETE FROM media WHERE id = $1 AND workspace_id = $2";

/// Served by the partial index `media_expiry_idx`.
pub(crate) const EXPIRED_MEDIA: &str = "\
    SELECT * FROM media WHERE post_id IS NULL AND expires_at <= $1 \
    ORDER BY expires_at, id LIMIT $2";

pub(crate) const LIST_MEDIA: &str = "SELECT * FROM media WHERE workspace_id = $1 ORDER BY id";

pub(crate) const MEDIA_FIRST: &str = "SELECT * FROM media ORDER BY id LIMIT $1";

pub(crate) const MEDIA_AFTER: &str = "SELECT * FROM media WHERE id > $1 ORDER BY id LIMIT $2";

/// Compare-and-set on the wrapped key (`->>` reads a JSON field as text in both SQLite and
/// PostgreSQL); `$4` is the whole document with the new key (the other fields never change).
pub(crate) const REWRAP_MEDIA_KEY: &str = "\
    UPDATE media SET doc = $4 \
    WHERE id = $1 AND workspace_id = $2 AND doc ->> 'wrapped_key' = $3 \
    RETURNING *";

pub(crate) const CREATE_API_KEY: &str = "\
    INSERT INTO api_keys (id, user_id, name, prefix, hash, created_at, last_used_at, scopes, \
        workspace_id) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

pub(crate) const LIST_API_KEYS: &str = "SELECT * FROM api_keys WHERE workspace_id = $1 ORDER BY id";

pub(crate) const DELETE_API_KEY: &str = "DELETE FROM api_keys WHERE id = $1 AND workspace_id = $2";

pub(crate) const API_KEY_BY_HASH: &str = "SELECT * FROM api_keys WHERE hash = $1";

pub(crate) const TOUCH_API_KEY: &str = "UPDATE api_keys SET last_used_at = $2 WHERE id = $1";

pub(crate) const RECORD_AUDIT: &str = "\
    INSERT INTO audit_events (id, workspace_id, kind, detail, created_at, actor_id) \
    VALUES ($1, $2, $3, $4, $5, $6)";

pub(crate) const LIST_AUDIT: &str = "\
    SELECT * FROM audit_events WHERE workspace_id = $1 \
    ORDER BY created_at DESC, id DESC LIMIT $2";

pub(crate) const PUT_OAUTH_STATE: &str = "\
    INSERT INTO oauth_states (state_hash, user_id, expires_at, workspace_id) \
    VALUES ($1, $2, $3, $4)";

/// States nobody came back for would otherwise stay forever; each new state sweeps them.
pub(crate) const SWEEP_OAUTH_STATES: &str = "DELETE FROM oauth_states WHERE expires_at <= $1";

/// Deleting is the taking: of racing takers exactly one gets the row back. An expired state is
/// deleted too, and refused by the caller.
pub(crate) const TAKE_OAUTH_STATE: &str =
    "DELETE FROM oauth_states WHERE state_hash = $1 RETURNING user_id, workspace_id, expires_at";

/// Takes the lease if it is new or expired (`$4` is now), bumping the fencing token; returns no
/// row while someone else holds it.
pub(crate) const ACQUIRE_LEASE: &str = "\
    INSERT INTO leases (name, holder, expires_at, fencing_token) VALUES ($1, $2, $3, 1) \
    ON CONFLICT (name) DO UPDATE SET \
        holder = excluded.holder, expires_at = excluded.expires_at, \
        fencing_token = leases.fencing_token + 1 \
    WHERE leases.expires_at <= $4 \
    RETURNING fencing_token";

/// Only the holder renews, and only before expiry (`$4` is now): an expired lease is lost,
/// as with a Redis key that timed out.
pub(crate) const RENEW_LEASE: &str = "\
    UPDATE leases SET expires_at = $3 \
    WHERE name = $1 AND holder = $2 AND expires_at > $4";

/// Expires the lease at `$3` (the epoch) instead of deleting it, to keep its fencing counter.
pub(crate) const RELEASE_LEASE: &str =
    "UPDATE leases SET expires_at = $3 WHERE name = $1 AND holder = $2";

// ---- sessions: sign-out and "sign out everywhere" ----

/// Keeps the later expiry when a cookie is revoked twice (instants compare in both dialects:
/// fixed-width text in SQLite, timestamptz in PostgreSQL).
pub(crate) const REVOKE_SESSION: &str = "\
    INSERT INTO revoked_sessions (token_hash, expires_at) VALUES ($1, $2) \
    ON CONFLICT (token_hash) DO UPDATE SET expires_at = \
        CASE WHEN excluded.expires_at > revoked_sessions.expires_at \
            THEN excluded.expires_at ELSE revoked_sessions.expires_at END";

/// Entries for cookies that expired anyway; each revocation sweeps them.
pub(crate) const SWEEP_REVOKED_SESSIONS: &str =
    "DELETE FROM revoked_sessions WHERE expires_at <= $1";

pub(crate) const SESSION_REVOKED: &str =
    "SELECT 1 FROM revoked_sessions WHERE token_hash = $1 AND expires_at > $2";

/// Moves the mark forward only; `updated_at` (`$3`) moves with it. No row for an unknown user.
pub(crate) const REVOKE_USER_SESSIONS: &str = "\
    UPDATE users SET \
        updated_at = CASE WHEN sessions_revoked_at IS NULL OR sessions_revoked_at < $2 \
            THEN $3 ELSE updated_at END, \
        sessions_revoked_at = CASE WHEN sessions_revoked_at IS NULL OR sessions_revoked_at < $2 \
            THEN $2 ELSE sessions_revoked_at END \
    WHERE id = $1 \
    RETURNING *";

// ---- workspaces and their members ----

/// Creates the personal workspace `$1` (the user's id) unless it exists; `$2` is its document.
pub(crate) const CREATE_WORKSPACE: &str = "\
    INSERT INTO workspaces (id, doc, version, created_at, updated_at) VALUES ($1, $2, 1, $3, $3) \
    ON CONFLICT (id) DO NOTHING";

pub(crate) const WORKSPACE: &str = "SELECT * FROM workspaces WHERE id = $1";

/// The first statement of every membership change: it takes the workspace row's write lock
/// (PostgreSQL: the row; SQLite: the database), so changes of one workspace run one at a time
/// and each one's later reads see the one before. No row: the workspace does not exist.
pub(crate) const BUMP_WORKSPACE: &str =
    "UPDATE workspaces SET version = version + 1, updated_at = $2 WHERE id = $1";

pub(crate) const MEMBER: &str =
    "SELECT * FROM workspace_members WHERE workspace_id = $1 AND user_id = $2";

pub(crate) const MEMBERS: &str =
    "SELECT * FROM workspace_members WHERE workspace_id = $1 ORDER BY user_id";

/// An owner of `$1` other than `$2`, if any.
pub(crate) const ANOTHER_OWNER: &str = "\
    SELECT 1 FROM workspace_members \
    WHERE workspace_id = $1 AND role = 'owner' AND user_id <> $2 LIMIT 1";

/// Adds the member, or changes its role (`joined_at` stays).
pub(crate) const PUT_MEMBER: &str = "\
    INSERT INTO workspace_members (workspace_id, user_id, role, joined_at) \
    VALUES ($1, $2, $3, $4) \
    ON CONFLICT (workspace_id, user_id) DO UPDATE SET role = excluded.role \
    RETURNING *";

pub(crate) const REMOVE_MEMBER: &str =
    "DELETE FROM workspace_members WHERE workspace_id = $1 AND user_id = $2";

/// The user's memberships, in the order joined (the workspaces are read by `WORKSPACES_OF`).
pub(crate) const MEMBERSHIPS_OF: &str = "\
    SELECT * FROM workspace_members WHERE user_id = $1 ORDER BY joined_at, workspace_id";

pub(crate) const WORKSPACES_OF: &str = "\
    SELECT * FROM workspaces \
    WHERE id IN (SELECT workspace_id FROM workspace_members WHERE user_id = $1)";

/// A new, non-personal workspace (`create_workspace`): a taken id is a unique violation,
/// not a silent no-op as for the personal one.
pub(crate) const INSERT_WORKSPACE: &str = "\
    INSERT INTO workspaces (id, doc, version, created_at, updated_at) VALUES ($1, $2, 1, $3, $3) \
    RETURNING *";

/// Compare-and-set of a workspace's settings on its version; `$2` is the whole document (its
/// `personal` as stored, see the store).
pub(crate) const UPDATE_WORKSPACE: &str = "\
    UPDATE workspaces SET doc = $2, version = version + 1, updated_at = $3 \
    WHERE id = $1 AND version = $4 \
    RETURNING *";

// ---- invitations ----

pub(crate) const CREATE_INVITATION: &str = "\
    INSERT INTO invitations (id, workspace_id, email, role, invited_by, token_hash, created_at, \
        expires_at, accepted_at, accepted_by, revoked_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";

pub(crate) const INVITATION_BY_TOKEN_HASH: &str = "SELECT * FROM invitations WHERE token_hash = $1";

pub(crate) const INVITATION_EXISTS: &str = "SELECT 1 FROM invitations WHERE id = $1";

/// Served by the partial index `invitations_open_idx`.
pub(crate) const OPEN_INVITATIONS: &str = "\
    SELECT * FROM invitations \
    WHERE workspace_id = $1 AND accepted_at IS NULL AND revoked_at IS NULL \
    ORDER BY created_at DESC, id DESC";

/// Revokes an open invitation of workspace `$2` at `$3`; a revoked one keeps its first
/// instant. No row: unknown, another workspace's, or accepted.
pub(crate) const REVOKE_INVITATION: &str = "\
    UPDATE invitations SET revoked_at = COALESCE(revoked_at, $3) \
    WHERE id = $1 AND workspace_id = $2 AND accepted_at IS NULL \
    RETURNING *";

/// The compare-and-set of an acceptance by `$2` at `$3`: only an open, unexpired invitation.
/// A writer, so it is the first statement of its transaction (SQLite then takes the write
/// lock at once, and PostgreSQL makes a racing acceptance wait on the row and find it taken).
pub(crate) const ACCEPT_INVITATION: &str = "\
    UPDATE invitations SET accepted_at = $3, accepted_by = $2 \
    WHERE id = $1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $3 \
    RETURNING *";
