-- SQLite flavour: see 0001_init.sql.
-- Whether a usage row's tokens were counted by Purser (the model server sent no usage, or
-- the client left before it did) rather than reported by the model server.
ALTER TABLE usage_records ADD COLUMN estimated INTEGER NOT NULL DEFAULT 0;
