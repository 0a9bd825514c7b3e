-- MKT POST schema, SQLite dialect (see ../README.md for the shape and the rules).
--
-- Ids are lowercase hyphenated UUIDv7 text: text order is creation order.
-- Timestamps are fixed-width UTC text, 'YYYY-MM-DDTHH:MM:SS.ffffffZ', so comparing the text
-- compares the instants.
-- `doc` columns hold the rest of an entity as a JSON document, the same document the other
-- backends store.

CREATE TABLE users (
    id          TEXT NOT NULL PRIMARY KEY,
    google_uid  TEXT NOT NULL,
    email       TEXT NOT NULL,
    name        TEXT NOT NULL,
    picture     TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
) STRICT;

CREATE UNIQUE INDEX users_google_uid_key ON users (google_uid);

CREATE TABLE accounts (
    id                  TEXT NOT NULL PRIMARY KEY,
    user_id             TEXT NOT NULL REFERENCES users (id),
    open_id             TEXT NOT NULL,
    status              TEXT NOT NULL,
    status_reason       TEXT,
    -- Vault ciphertext; all four are NULL after a key retirement or disconnect cleared them.
    access_token        TEXT,
    refresh_token       TEXT,
    access_expires_at   TEXT,
    refresh_expires_at  TEXT,
    -- union_id, display_name, username, avatar_url, scopes
    doc                 TEXT NOT NULL,
    version             INTEGER NOT NULL,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL
) STRICT;

CREATE UNIQUE INDEX accounts_user_open_id_key ON accounts (user_id, open_id);
-- The token-refresh sweep: active accounts by access-token expiry.
CREATE INDEX accounts_expiring_idx ON accounts (access_expires_at) WHERE status = 'active';

CREATE TABLE posts (
    id               TEXT NOT NULL PRIMARY KEY,
    user_id          TEXT NOT NULL REFERENCES users (id),
    account_id       TEXT NOT NULL,
    media_id         TEXT,
    state            TEXT NOT NULL,
    version          INTEGER NOT NULL,
    scheduled_at     TEXT,
    idempotency_key  TEXT,
    -- settings, scheduled_tz, tiktok progress, error, late_by_ms, request_hash, timestamps
    doc              TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
) STRICT;

-- NULL keys never collide, so posts without a key are unconstrained.
CREATE UNIQUE INDEX posts_user_idempotency_key ON posts (user_id, idempotency_key);
-- History pages: a user's posts by id (newest first).
CREATE INDEX posts_user_idx ON posts (user_id, id);
-- The scheduler's tick: only scheduled posts are in it, so its cost grows with due posts only.
-- `state` leads although the index holds one state: SQLite's planner, without statistics,
-- otherwise prefers the equality match of posts_state_updated_idx and sorts.
CREATE INDEX posts_due_idx ON posts (state, scheduled_at, id) WHERE state = 'scheduled';
-- Stuck-post reconciliation.
CREATE INDEX posts_state_updated_idx ON posts (state, updated_at);

CREATE TABLE media (
    id          TEXT NOT NULL PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id),
    post_id     TEXT,
    expires_at  TEXT NOT NULL,
    -- size, container, duration_ms, object_key, wrapped_key, segment_size
    doc         TEXT NOT NULL,
    created_at  TEXT NOT NULL
) STRICT;

CREATE INDEX media_user_idx ON media (user_id, id);
-- The staging sweeper: unattached media by deadline.
CREATE INDEX media_expiry_idx ON media (expires_at) WHERE post_id IS NULL;

CREATE TABLE api_keys (
    id            TEXT NOT NULL PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id),
    name          TEXT NOT NULL,
    prefix        TEXT NOT NULL,
    hash          TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    last_used_at  TEXT
) STRICT;

CREATE UNIQUE INDEX api_keys_hash_key ON api_keys (hash);
CREATE INDEX api_keys_user_idx ON api_keys (user_id, id);

CREATE TABLE audit_events (
    id          TEXT NOT NULL PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id),
    kind        TEXT NOT NULL,
    detail      TEXT NOT NULL,
    created_at  TEXT NOT NULL
) STRICT;

CREATE INDEX audit_events_user_idx ON audit_events (user_id, created_at, id);
