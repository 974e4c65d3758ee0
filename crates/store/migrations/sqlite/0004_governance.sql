-- SQLite flavour: see 0001_init.sql.
-- Limits on parallel requests for keys and teams; keys' budgets may reset each period;
-- per-user limits; and the change log replicas follow to update their gateway tables.

ALTER TABLE api_keys ADD COLUMN max_parallel BIGINT CHECK (max_parallel > 0);
ALTER TABLE api_keys ADD COLUMN budget_period TEXT CHECK (budget_period IN ('daily', 'weekly', 'monthly'));
ALTER TABLE teams ADD COLUMN max_parallel BIGINT CHECK (max_parallel > 0);

-- Only users with limits have a row.
CREATE TABLE user_limits (
    user_id       BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    rpm_limit     BIGINT CHECK (rpm_limit > 0),
    tpm_limit     BIGINT CHECK (tpm_limit > 0),
    max_parallel  BIGINT CHECK (max_parallel > 0),
    max_budget    BIGINT CHECK (max_budget >= 0),
    budget_period TEXT CHECK (budget_period IN ('daily', 'weekly', 'monthly')),
    updated_at    BIGINT NOT NULL
);

-- What changed (kind and id), in commit order as near as the database gives it; every
-- replica polls it and reloads those entities. Old entries are pruned.
CREATE TABLE change_log (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT NOT NULL,
    entity_id  BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX change_log_time ON change_log (created_at);
