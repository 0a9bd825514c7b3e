-- Erasure in progress: set when the user asked to erase everything (sessions and API keys are
-- refused from then on), cleared only by deleting the row, which erasure does last. Fixed-width
-- UTC text like every instant ('YYYY-MM-DDTHH:MM:SS.ffffffZ'); NULL for everyone else.

ALTER TABLE users ADD COLUMN erasing_since TEXT;

-- The erasure sweep: users being erased, oldest request first. Almost every user is NULL here,
-- so the partial index stays tiny.
CREATE INDEX users_erasing_idx ON users (erasing_since, id) WHERE erasing_since IS NOT NULL;
