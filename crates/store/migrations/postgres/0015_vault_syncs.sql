-- What the policy engine must still be told: a row per vault changed (or deleted) since the
-- engine last acknowledged its state, retried with backoff until it does. `version` grows
-- with every change, so an acknowledgement of an older state leaves the row for the newer.
CREATE TABLE vault_syncs (
    vault_id        BIGINT PRIMARY KEY,
    org_id          BIGINT NOT NULL,
    version         BIGINT NOT NULL,
    deleted         BOOLEAN NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    last_error      TEXT,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX vault_syncs_due ON vault_syncs (next_attempt_at);
