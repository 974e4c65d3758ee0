-- Purser's first schema. Times are Unix milliseconds (BIGINT), money is integer minor
-- units (nano-dollars; femto-dollars for per-token prices), ids are 64-bit Snowflakes.

CREATE TABLE users (
    id            BIGINT PRIMARY KEY,
    email         TEXT NOT NULL,
    name          TEXT NOT NULL,
    password_hash TEXT,
    role          TEXT NOT NULL CHECK (role IN ('user', 'adminReadonly', 'admin')),
    active        BOOLEAN NOT NULL DEFAULT TRUE,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE UNIQUE INDEX users_email_key ON users (email);

CREATE TABLE sessions (
    id           BIGINT PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    user_agent   TEXT,
    ip           TEXT,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    revoked_at   BIGINT
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE refresh_tokens (
    token_hash  TEXT PRIMARY KEY,
    session_id  BIGINT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

CREATE TABLE models (
    id                    BIGINT PRIMARY KEY,
    name                  TEXT NOT NULL,
    provider              TEXT NOT NULL,
    description           TEXT,
    upstream_url          TEXT,
    upstream_model        TEXT NOT NULL,
    upstream_api_key      BYTEA,
    input_cost_per_token  BIGINT NOT NULL CHECK (input_cost_per_token >= 0),
    output_cost_per_token BIGINT NOT NULL CHECK (output_cost_per_token >= 0),
    context_length        BIGINT,
    capabilities          TEXT NOT NULL,
    restricted            BOOLEAN NOT NULL,
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL,
    deleted_at            BIGINT
);
CREATE UNIQUE INDEX models_live_name ON models (name) WHERE deleted_at IS NULL;

CREATE TABLE subscriptions (
    id            BIGINT PRIMARY KEY,
    user_id       BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    model_id      BIGINT NOT NULL REFERENCES models (id),
    status        TEXT NOT NULL CHECK (status IN ('active', 'pending', 'denied', 'cancelled')),
    status_reason TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    UNIQUE (user_id, model_id)
);
CREATE INDEX subscriptions_status ON subscriptions (status, created_at);

CREATE TABLE api_keys (
    id           BIGINT PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    secret_hash  TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    last4        TEXT NOT NULL,
    max_budget   BIGINT CHECK (max_budget >= 0),
    spend        BIGINT NOT NULL DEFAULT 0,
    tpm_limit    BIGINT CHECK (tpm_limit > 0),
    rpm_limit    BIGINT CHECK (rpm_limit > 0),
    expires_at   BIGINT,
    revoked_at   BIGINT,
    last_used_at BIGINT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE UNIQUE INDEX api_keys_secret_hash ON api_keys (secret_hash);
CREATE INDEX api_keys_user ON api_keys (user_id, id);

CREATE TABLE api_key_models (
    key_id   BIGINT NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    model_id BIGINT NOT NULL REFERENCES models (id),
    PRIMARY KEY (key_id, model_id)
);
CREATE INDEX api_key_models_model ON api_key_models (model_id);

-- Usage history outlives keys and models, so it holds no foreign keys.
CREATE TABLE usage_records (
    id                BIGINT PRIMARY KEY,
    request_id        TEXT NOT NULL,
    key_id            BIGINT NOT NULL,
    user_id           BIGINT NOT NULL,
    model_id          BIGINT NOT NULL,
    model_name        TEXT NOT NULL,
    endpoint          TEXT NOT NULL,
    prompt_tokens     BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL,
    cost              BIGINT NOT NULL,
    latency_ms        BIGINT NOT NULL,
    status            BIGINT NOT NULL,
    streamed          BOOLEAN NOT NULL,
    created_at        BIGINT NOT NULL
);
CREATE INDEX usage_records_user_time ON usage_records (user_id, created_at);
CREATE INDEX usage_records_key ON usage_records (key_id);

-- Replicas lease a worker id so the ids they generate never collide.
CREATE TABLE worker_leases (
    worker_id  BIGINT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
