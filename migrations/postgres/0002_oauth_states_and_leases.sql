-- Single-use OAuth `state` values of the TikTok connect flow (stored hashed), and leases: the
-- named locks of the embedded default (PostgreSQL deployments normally lock in Redis).

CREATE TABLE oauth_states (
    state_hash  text PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id),
    expires_at  timestamptz NOT NULL
);

CREATE INDEX oauth_states_user_idx ON oauth_states (user_id);
CREATE INDEX oauth_states_expiry_idx ON oauth_states (expires_at);

CREATE TABLE leases (
    name           text PRIMARY KEY,
    holder         text NOT NULL,
    expires_at     timestamptz NOT NULL,
    -- Grows with every acquisition of the name and is never reset: releasing a lease only
    -- expires it, so the row (and its counter) stays.
    fencing_token  bigint NOT NULL
);
