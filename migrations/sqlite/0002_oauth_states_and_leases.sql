-- Single-use OAuth `state` values of the TikTok connect flow (stored hashed), and leases: the
-- named locks of the embedded default, where there may be no Redis.

CREATE TABLE oauth_states (
    state_hash  TEXT NOT NULL PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id),
    expires_at  TEXT NOT NULL
) STRICT;

CREATE INDEX oauth_states_user_idx ON oauth_states (user_id);
CREATE INDEX oauth_states_expiry_idx ON oauth_states (expires_at);

CREATE TABLE leases (
    name           TEXT NOT NULL PRIMARY KEY,
    holder         TEXT NOT NULL,
    expires_at     TEXT NOT NULL,
    -- Grows with every acquisition of the name and is never reset: releasing a lease only
    -- expires it, so the row (and its counter) stays.
    fencing_token  INTEGER NOT NULL
) STRICT;
