-- Who may act as whom (see README "Privacy and security").
--
-- API key scopes: names separated by single spaces ('read publish'). Keys created before scopes
-- existed get every scope: each one names something those keys could already do, so agency
-- scripts keep working; what became session-only (keys, export, erasure, disconnect,
-- operations) is no scope, so old keys lose exactly that.
ALTER TABLE api_keys ADD COLUMN scopes text NOT NULL DEFAULT 'read publish campaigns accounts';

-- "Sign out everywhere": session cookies issued before this instant are refused. NULL until the
-- user first asks.
ALTER TABLE users ADD COLUMN sessions_revoked_at timestamptz;

-- Cookies ended by signing out, by the SHA-256 of the cookie (never the cookie), kept until the
-- cookie would have expired anyway; each new entry sweeps the expired ones. No user id: the
-- hash alone is enough to refuse the cookie, and it says nothing about anyone.
CREATE TABLE revoked_sessions (
    token_hash  text NOT NULL PRIMARY KEY,
    expires_at  timestamptz NOT NULL
);

CREATE INDEX revoked_sessions_expiry_idx ON revoked_sessions (expires_at);
