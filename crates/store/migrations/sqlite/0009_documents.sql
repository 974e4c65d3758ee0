-- Documents live in each organization's own database; the main database keeps the
-- organization's rules for them and which organizations have files waiting for cleanup.
ALTER TABLE organizations ADD COLUMN max_storage_bytes BIGINT;
-- Accepted MIME types, comma-separated; NULL: the default list.
ALTER TABLE organizations ADD COLUMN document_types TEXT;

-- An organization with orphaned files (no document names them) to remove after their
-- grace period; the cleanup job visits only these.
CREATE TABLE file_cleanups (
    org_id BIGINT PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
    due_at BIGINT NOT NULL
);
CREATE INDEX file_cleanups_due ON file_cleanups (due_at);
