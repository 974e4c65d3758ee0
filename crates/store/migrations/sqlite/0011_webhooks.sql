-- An organization's webhooks, and each delivery of an event to one: the delivery log and
-- the queue of retries.
CREATE TABLE webhooks (
    id          BIGINT PRIMARY KEY,
    org_id      BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    url         TEXT NOT NULL,
    -- Comma-separated event types, or '*' for all.
    event_types TEXT NOT NULL,
    active      INTEGER NOT NULL,
    -- The signing secret, sealed with the master key.
    secret      BLOB NOT NULL,
    created_by  BIGINT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX webhooks_org ON webhooks (org_id, created_at, id);

CREATE TABLE webhook_deliveries (
    id               BIGINT PRIMARY KEY,
    webhook_id       BIGINT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id         BIGINT NOT NULL,
    event_type       TEXT NOT NULL,
    payload          TEXT NOT NULL,
    -- pending, delivered or failed (no more attempts)
    status           TEXT NOT NULL,
    attempts         INTEGER NOT NULL,
    next_attempt_at  BIGINT,
    last_status_code INTEGER,
    last_error       TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    UNIQUE (webhook_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_listed ON webhook_deliveries (webhook_id, created_at, id);
