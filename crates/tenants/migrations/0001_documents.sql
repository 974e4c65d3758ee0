-- A tenant's documents and the stored files they name. A file is stored once per tenant,
-- found by the SHA-256 of its bytes; each document is one name for one file.
CREATE TABLE files (
    sha256       TEXT PRIMARY KEY,  -- hex
    md5          TEXT NOT NULL,     -- hex; a checksum for clients, never a key
    size         BIGINT NOT NULL,
    object_key   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    -- Set when the last document naming the file goes; the cleanup removes it after a grace period.
    orphaned_at  BIGINT
);
CREATE INDEX files_orphaned ON files (orphaned_at) WHERE orphaned_at IS NOT NULL;

CREATE TABLE documents (
    id          BIGINT PRIMARY KEY,
    name        TEXT NOT NULL,
    mime_type   TEXT NOT NULL,
    sha256      TEXT NOT NULL REFERENCES files (sha256),
    size        BIGINT NOT NULL,
    owner_id    BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX documents_sha256 ON documents (sha256);
CREATE INDEX documents_created ON documents (created_at, id);
CREATE INDEX documents_name ON documents (name, id);
