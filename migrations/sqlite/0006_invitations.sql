-- Invitations to a workspace (issue #16): to a Google email, accepted once by signing in with
-- that account, until `expires_at` (7 days). Only the SHA-256 of the link's token is kept.
--
-- Erasure follows the foreign keys, so erase_user needs no statement of its own for them:
-- - a workspace that goes (a personal one, with its user) takes its invitations along;
-- - an erased inviter leaves the invitation in place, with `invited_by` emptied;
-- - an erased invitee who accepted takes the accepted invitation (it holds their email) along.
CREATE TABLE invitations (
    id            TEXT NOT NULL PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    -- lower-cased
    email         TEXT NOT NULL,
    -- owner, admin, editor or viewer
    role          TEXT NOT NULL,
    invited_by    TEXT REFERENCES users (id) ON DELETE SET NULL,
    token_hash    TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    accepted_at   TEXT,
    accepted_by   TEXT REFERENCES users (id) ON DELETE CASCADE,
    revoked_at    TEXT
) STRICT;

-- The link finds its invitation by the token's hash, and no two share one.
CREATE UNIQUE INDEX invitations_token_hash_key ON invitations (token_hash);
-- A workspace's open invitations, newest first (the members page).
CREATE INDEX invitations_open_idx ON invitations (workspace_id, created_at, id)
    WHERE accepted_at IS NULL AND revoked_at IS NULL;
-- The foreign keys' own lookups when a user is erased.
CREATE INDEX invitations_invited_by_idx ON invitations (invited_by);
CREATE INDEX invitations_accepted_by_idx ON invitations (accepted_by);
