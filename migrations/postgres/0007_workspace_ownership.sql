-- Workspaces own accounts, posts, media, API keys and audit events (issue #16). Every row moves
-- into its user's personal workspace, whose id is the user's own id (0005), so the backfill is
-- the old `user_id` value under its new name; who made the row is kept beside it in
-- `created_by` (the API key's `user_id`, the audit event's `actor_id`), which erasure of that
-- person sets to NULL ("former member") when the row stays in a workspace others share.

ALTER TABLE accounts RENAME COLUMN user_id TO workspace_id;
ALTER TABLE accounts DROP CONSTRAINT accounts_user_id_fkey;
ALTER TABLE accounts ADD FOREIGN KEY (workspace_id) REFERENCES workspaces (id);
ALTER TABLE accounts ADD COLUMN created_by uuid REFERENCES users (id);
UPDATE accounts SET created_by = workspace_id WHERE created_by IS NULL;
ALTER INDEX accounts_user_open_id_key RENAME TO accounts_workspace_open_id_key;
CREATE INDEX accounts_created_by_idx ON accounts (created_by) WHERE created_by IS NOT NULL;

ALTER TABLE posts RENAME COLUMN user_id TO workspace_id;
ALTER TABLE posts DROP CONSTRAINT posts_user_id_fkey;
ALTER TABLE posts ADD FOREIGN KEY (workspace_id) REFERENCES workspaces (id);
ALTER TABLE posts ADD COLUMN created_by uuid REFERENCES users (id);
UPDATE posts SET created_by = workspace_id WHERE created_by IS NULL;
ALTER INDEX posts_user_idempotency_key RENAME TO posts_workspace_idempotency_key;
ALTER INDEX posts_user_idx RENAME TO posts_workspace_idx;
CREATE INDEX posts_created_by_idx ON posts (created_by) WHERE created_by IS NOT NULL;

ALTER TABLE media RENAME COLUMN user_id TO workspace_id;
ALTER TABLE media DROP CONSTRAINT media_user_id_fkey;
ALTER TABLE media ADD FOREIGN KEY (workspace_id) REFERENCES workspaces (id);
ALTER TABLE media ADD COLUMN created_by uuid REFERENCES users (id);
UPDATE media SET created_by = workspace_id WHERE created_by IS NULL;
ALTER INDEX media_user_idx RENAME TO media_workspace_idx;
CREATE INDEX media_created_by_idx ON media (created_by) WHERE created_by IS NOT NULL;

-- A key acts as the member who made it (`user_id`), in one workspace.
ALTER TABLE api_keys ADD COLUMN workspace_id uuid REFERENCES workspaces (id);
UPDATE api_keys SET workspace_id = user_id WHERE workspace_id IS NULL;
ALTER TABLE api_keys ALTER COLUMN workspace_id SET NOT NULL;
DROP INDEX api_keys_user_idx;
CREATE INDEX api_keys_workspace_idx ON api_keys (workspace_id, id);
CREATE INDEX api_keys_user_idx ON api_keys (user_id, workspace_id);

ALTER TABLE audit_events RENAME COLUMN user_id TO workspace_id;
ALTER TABLE audit_events DROP CONSTRAINT audit_events_user_id_fkey;
ALTER TABLE audit_events ADD FOREIGN KEY (workspace_id) REFERENCES workspaces (id);
ALTER TABLE audit_events ADD COLUMN actor_id uuid REFERENCES users (id);
UPDATE audit_events SET actor_id = workspace_id WHERE actor_id IS NULL;
ALTER INDEX audit_events_user_idx RENAME TO audit_events_workspace_idx;
CREATE INDEX audit_events_actor_idx ON audit_events (actor_id) WHERE actor_id IS NOT NULL;

-- The workspace a TikTok connect will add the account to (NULL: the user's personal one, for
-- states issued before this migration).
ALTER TABLE oauth_states ADD COLUMN workspace_id uuid REFERENCES workspaces (id);
