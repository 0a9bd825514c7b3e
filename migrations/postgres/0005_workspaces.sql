-- Workspaces (issue #16): the unit that will own accounts, posts, media, campaigns and API keys,
-- and its members, one role each. Every user has a personal workspace whose id is the user's
-- own id, so creating it is an insert-if-absent keyed by a known id (sign-in does the same).

CREATE TABLE workspaces (
    id          uuid PRIMARY KEY,
    -- name, personal, approval_required
    doc         jsonb NOT NULL,
    -- Grows with every change to the workspace or its members: membership changes update this
    -- row first, which locks it and so serializes them (see the store's put_member /
    -- remove_member).
    version     bigint NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

CREATE TABLE workspace_members (
    workspace_id  uuid NOT NULL REFERENCES workspaces (id),
    user_id       uuid NOT NULL REFERENCES users (id),
    -- owner, admin, editor or viewer
    role          text NOT NULL,
    joined_at     timestamptz NOT NULL,
    PRIMARY KEY (workspace_id, user_id)
);

-- A user's workspaces (the switcher; erasure).
CREATE INDEX workspace_members_user_idx ON workspace_members (user_id, workspace_id);

-- Backfill: a personal workspace, and its owner, for every user who signed in before this
-- migration. Harmless when some (or all) of them already exist.
INSERT INTO workspaces (id, doc, version, created_at, updated_at)
SELECT u.id, '{"name":"Personal","personal":true,"approval_required":false}'::jsonb, 1,
       u.created_at, u.created_at
FROM users u
ON CONFLICT (id) DO NOTHING;

INSERT INTO workspace_members (workspace_id, user_id, role, joined_at)
SELECT u.id, u.id, 'owner', u.created_at
FROM users u
WHERE NOT EXISTS (
    SELECT 1 FROM workspace_members m WHERE m.workspace_id = u.id AND m.user_id = u.id
);
