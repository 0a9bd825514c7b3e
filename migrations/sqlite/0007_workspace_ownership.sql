-- Workspaces own accounts, posts, media, API keys and audit events (issue #16). Every row moves
-- into its user's personal workspace, whose id is the user's own id (0005), so the backfill is
-- the old `user_id` value under its new name; who made the row is kept beside it in
-- `created_by` (the API key's `user_id`, the audit event's `actor_id`), which erasure of that
-- person sets to NULL ("former member") when the row stays in a workspace others share.
--
-- SQLite cannot change a column's foreign key or NOT NULL in place, so each table is rebuilt:
-- create the new shape, copy, drop, rename, re-create its indexes. The copy is the backfill.

CREATE TABLE accounts_new (
    id                  TEXT NOT NULL PRIMARY KEY,
    workspace_id        TEXT NOT NULL REFERENCES workspaces (id),
    created_by          TEXT REFERENCES users (id),
    open_id             TEXT NOT NULL,
    status              TEXT NOT NULL,
    status_reason       TEXT,
    access_token        TEXT,
    refresh_token       TEXT,
    access_expires_at   TEXT,
    refresh_expires_at  TEXT,
    doc                 TEXT NOT NULL,
    version             INTEGER NOT NULL,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL
) STRICT;
INSERT INTO accounts_new
SELECT id, user_id, user_id, open_id, status, status_reason, access_token, refresh_token,
       access_expires_at, refresh_expires_at, doc, version, created_at, updated_at
FROM accounts;
DROP TABLE accounts;
ALTER TABLE accounts_new RENAME TO accounts;
CREATE UNIQUE INDEX accounts_workspace_open_id_key ON accounts (workspace_id, open_id);
CREATE INDEX accounts_expiring_idx ON accounts (access_expires_at) WHERE status = 'active';
CREATE INDEX accounts_created_by_idx ON accounts (created_by) WHERE created_by IS NOT NULL;

CREATE TABLE posts_new (
    id               TEXT NOT NULL PRIMARY KEY,
    workspace_id     TEXT NOT NULL REFERENCES workspaces (id),
    created_by       TEXT REFERENCES users (id),
    account_id       TEXT NOT NULL,
    media_id         TEXT,
    state            TEXT NOT NULL,
    version          INTEGER NOT NULL,
    scheduled_at     TEXT,
    idempotency_key  TEXT,
    doc              TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
) STRICT;
INSERT INTO posts_new
SELECT id, user_id, user_id, account_id, media_id, state, version, scheduled_at,
       idempotency_key, doc, created_at, updated_at
FROM posts;
DROP TABLE posts;
ALTER TABLE posts_new RENAME TO posts;
CREATE UNIQUE INDEX posts_workspace_idempotency_key ON posts (workspace_id, idempotency_key);
CREATE INDEX posts_workspace_idx ON posts (workspace_id, id);
CREATE INDEX posts_due_idx ON posts (state, scheduled_at, id) WHERE state = 'scheduled';
CREATE INDEX posts_state_updated_idx ON posts (state, updated_at);
CREATE INDEX posts_created_by_idx ON posts (created_by) WHERE created_by IS NOT NULL;

CREATE TABLE media_new (
    id            TEXT NOT NULL PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces (id),
    created_by    TEXT REFERENCES users (id),
    post_id       TEXT,
    expires_at    TEXT NOT NULL,
    doc           TEXT NOT NULL,
    created_at    TEXT NOT NULL
) STRICT;
INSERT INTO media_new
SELECT id, user_id, user_id, post_id, expires_at, doc, created_at FROM media;
DROP TABLE media;
ALTER TABLE media_new RENAME TO media;
CREATE INDEX media_workspace_idx ON media (workspace_id, id);
CREATE INDEX media_expiry_idx ON media (expires_at) WHERE post_id IS NULL;
CREATE INDEX media_created_by_idx ON media (created_by) WHERE created_by IS NOT NULL;

-- A key acts as the member who made it (`user_id`), in one workspace.
CREATE TABLE api_keys_new (
    id            TEXT NOT NULL PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces (id),
    user_id       TEXT NOT NULL REFERENCES users (id),
    name          TEXT NOT NULL,
    prefix        TEXT NOT NULL,
    hash          TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    last_used_at  TEXT,
    scopes        TEXT NOT NULL DEFAULT 'read publish campaigns accounts'
) STRICT;
INSERT INTO api_keys_new
SELECT id, user_id, user_id, name, prefix, hash, created_at, last_used_at, scopes FROM api_keys;
DROP TABLE api_keys;
ALTER TABLE api_keys_new RENAME TO api_keys;
CREATE UNIQUE INDEX api_keys_hash_key ON api_keys (hash);
CREATE INDEX api_keys_workspace_idx ON api_keys (workspace_id, id);
CREATE INDEX api_keys_user_idx ON api_keys (user_id, workspace_id);

CREATE TABLE audit_events_new (
    id            TEXT NOT NULL PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces (id),
    actor_id      TEXT REFERENCES users (id),
    kind          TEXT NOT NULL,
    detail        TEXT NOT NULL,
    created_at    TEXT NOT NULL
) STRICT;
INSERT INTO audit_events_new
SELECT id, user_id, user_id, kind, detail, created_at FROM audit_events;
DROP TABLE audit_events;
ALTER TABLE audit_events_new RENAME TO audit_events;
CREATE INDEX audit_events_workspace_idx ON audit_events (workspace_id, created_at, id);
CREATE INDEX audit_events_actor_idx ON audit_events (actor_id) WHERE actor_id IS NOT NULL;

-- The workspace a TikTok connect will add the account to (NULL: the user's personal one, for
-- states issued before this migration).
ALTER TABLE oauth_states ADD COLUMN workspace_id TEXT REFERENCES workspaces (id);
