-- MKT POST schema, PostgreSQL dialect (see ../README.md for the shape and the rules).
--
-- Ids are UUIDv7 (uuid order is creation order); timestamps are timestamptz.
-- `doc` columns hold the rest of an entity as a JSON document, the same document the other
-- backends store.

CREATE TABLE users (
    id          uuid PRIMARY KEY,
    google_uid  text NOT NULL,
    email       text NOT NULL,
    name        text NOT NULL,
    picture     text,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

CREATE UNIQUE INDEX users_google_uid_key ON users (google_uid);

CREATE TABLE accounts (
    id                  uuid PRIMARY KEY,
    user_id             uuid NOT NULL REFERENCES users (id),
    open_id             text NOT NULL,
    status              text NOT NULL,
    status_reason       text,
    -- Vault ciphertext; all four are NULL after a key retirement or disconnect cleared them.
    access_token        text,
    refresh_token       text,
    access_expires_at   timestamptz,
    refresh_expires_at  timestamptz,
    -- union_id, display_name, username, avatar_url, scopes
    doc                 jsonb NOT NULL,
    version             bigint NOT NULL,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL
);

CREATE UNIQUE INDEX accounts_user_open_id_key ON accounts (user_id, open_id);
-- The token-refresh sweep: active accounts by access-token expiry.
CREATE INDEX accounts_expiring_idx ON accounts (access_expires_at) WHERE status = 'active';

CREATE TABLE posts (
    id               uuid PRIMARY KEY,
    user_id          uuid NOT NULL REFERENCES users (id),
    account_id       uuid NOT NULL,
    media_id         uuid,
    state            text NOT NULL,
    version          bigint NOT NULL,
    scheduled_at     timestamptz,
    idempotency_key  text,
    -- settings, scheduled_tz, tiktok progress, error, late_by_ms, request_hash, timestamps
    doc              jsonb NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);

-- NULL keys never collide (NULLS DISTINCT), so posts without a key are unconstrained.
CREATE UNIQUE INDEX posts_user_idempotency_key ON posts (user_id, idempotency_key);
-- History pages: a user's posts by id (newest first).
CREATE INDEX posts_user_idx ON posts (user_id, id);
-- The scheduler's tick: only scheduled posts are in it, so its cost grows with due posts only.
CREATE INDEX posts_due_idx ON posts (scheduled_at, id) WHERE state = 'scheduled';
-- Stuck-post reconciliation.
CREATE INDEX posts_state_updated_idx ON posts (state, updated_at);

CREATE TABLE media (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id),
    post_id     uuid,
    expires_at  timestamptz NOT NULL,
    -- size, container, duration_ms, object_key, wrapped_key, segment_size
    doc         jsonb NOT NULL,
    created_at  timestamptz NOT NULL
);

CREATE INDEX media_user_idx ON media (user_id, id);
-- The staging sweeper: unattached media by deadline.
CREATE INDEX media_expiry_idx ON media (expires_at) WHERE post_id IS NULL;

CREATE TABLE api_keys (
    id            uuid PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES users (id),
    name          text NOT NULL,
    prefix        text NOT NULL,
    hash          text NOT NULL,
    created_at    timestamptz NOT NULL,
    last_used_at  timestamptz
);

CREATE UNIQUE INDEX api_keys_hash_key ON api_keys (hash);
CREATE INDEX api_keys_user_idx ON api_keys (user_id, id);

CREATE TABLE audit_events (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id),
    kind        text NOT NULL,
    detail      jsonb NOT NULL,
    created_at  timestamptz NOT NULL
);

CREATE INDEX audit_events_user_idx ON audit_events (user_id, created_at, id);
