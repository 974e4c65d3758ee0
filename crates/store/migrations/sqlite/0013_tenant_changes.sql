-- Organizations whose own database may hold changes (audit entries and events of changes
-- to documents, written in their transactions) not yet moved to this database: noted
-- before each such change; the housekeeping moves what a crash left there and clears the
-- note once no change was noted for a while.
CREATE TABLE tenant_changes (
    org_id   BIGINT PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
    noted_at BIGINT NOT NULL
);
CREATE INDEX tenant_changes_noted ON tenant_changes (noted_at);
