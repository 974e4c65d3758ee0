-- Changes to the tenant's documents, written in the change's own transaction: the audit
-- entry and the event (JSON) that the main database is to receive. Moved there right after
-- the commit; what a crash leaves here is moved by the housekeeping (at least once; the
-- main database keeps each id once).
CREATE TABLE outbox (
    id     BIGINT PRIMARY KEY,  -- the audit entry's id
    change TEXT NOT NULL
);
