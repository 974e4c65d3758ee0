-- SQLite flavour: see 0001_init.sql.
-- Tenancy: organizations, members, invitations, teams with limits and delegated
-- permissions, several emails per user, one-time email tokens, browser sessions, and the
-- audit log.

CREATE TABLE organizations (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    is_default  INTEGER NOT NULL DEFAULT 0,
    status      TEXT NOT NULL CHECK (status IN ('active', 'suspended')),
    max_members BIGINT CHECK (max_members > 0),
    max_teams   BIGINT CHECK (max_teams > 0),
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    deleted_at  BIGINT
);
CREATE UNIQUE INDEX organizations_single_default ON organizations (is_default) WHERE is_default = 1;

CREATE TABLE organization_members (
    org_id     BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX organization_members_user ON organization_members (user_id);

CREATE TABLE invitations (
    id          INTEGER PRIMARY KEY,
    org_id      BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    email       TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    token_hash  TEXT NOT NULL,
    invited_by  BIGINT NOT NULL REFERENCES users (id),
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    accepted_at BIGINT,
    accepted_by BIGINT REFERENCES users (id),
    revoked_at  BIGINT
);
CREATE UNIQUE INDEX invitations_token ON invitations (token_hash);
CREATE INDEX invitations_org ON invitations (org_id, id);

CREATE TABLE teams (
    id            INTEGER PRIMARY KEY,
    org_id        BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    description   TEXT,
    is_default    INTEGER NOT NULL DEFAULT 0,
    budget        BIGINT CHECK (budget >= 0),
    budget_period TEXT CHECK (budget_period IN ('daily', 'weekly', 'monthly')),
    tpm_limit     BIGINT CHECK (tpm_limit > 0),
    rpm_limit     BIGINT CHECK (rpm_limit > 0),
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    deleted_at    BIGINT
);
CREATE UNIQUE INDEX teams_live_name ON teams (org_id, name) WHERE deleted_at IS NULL;
CREATE INDEX teams_org ON teams (org_id, id);

CREATE TABLE team_members (
    team_id    BIGINT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    manager    INTEGER NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user ON team_members (user_id);

-- The models a team may use; none listed means all models.
CREATE TABLE team_models (
    team_id  BIGINT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    model_id BIGINT NOT NULL REFERENCES models (id),
    PRIMARY KEY (team_id, model_id)
);

-- Organization permissions an owner delegated to a team's members.
CREATE TABLE team_permissions (
    team_id    BIGINT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    permission TEXT NOT NULL,
    granted_by BIGINT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (team_id, permission)
);

ALTER TABLE api_keys ADD COLUMN team_id BIGINT REFERENCES teams (id);
CREATE INDEX api_keys_team ON api_keys (team_id);
ALTER TABLE usage_records ADD COLUMN team_id BIGINT;
CREATE INDEX usage_records_team_time ON usage_records (team_id, created_at);

CREATE TABLE user_emails (
    id          INTEGER PRIMARY KEY,
    user_id     BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email       TEXT NOT NULL,
    is_primary  INTEGER NOT NULL DEFAULT 0,
    verified_at BIGINT,
    created_at  BIGINT NOT NULL
);
CREATE UNIQUE INDEX user_emails_email ON user_emails (email);
CREATE INDEX user_emails_user ON user_emails (user_id);
-- Every existing user's login email becomes their primary email (its id is the user's).
INSERT INTO user_emails (id, user_id, email, is_primary, verified_at, created_at)
    SELECT id, id, email, 1, NULL, created_at FROM users;

-- One-time tokens sent by email (verification, password reset); only digests are kept.
CREATE TABLE email_tokens (
    token_hash TEXT PRIMARY KEY,
    purpose    TEXT NOT NULL CHECK (purpose IN ('verify_email', 'reset_password')),
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email_id   BIGINT REFERENCES user_emails (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX email_tokens_user ON email_tokens (user_id);

-- Browser sessions hold an opaque cookie secret (its digest here) instead of bearer tokens.
ALTER TABLE sessions ADD COLUMN cookie_hash TEXT;
CREATE UNIQUE INDEX sessions_cookie ON sessions (cookie_hash);

CREATE TABLE audit_log (
    id            INTEGER PRIMARY KEY,
    occurred_at   BIGINT NOT NULL,
    actor_id      BIGINT,
    action        TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id   TEXT,
    org_id        BIGINT,
    before_state  TEXT,
    after_state   TEXT,
    ip            TEXT,
    user_agent    TEXT,
    request_id    TEXT,
    success       INTEGER NOT NULL,
    error_code    TEXT
);
CREATE INDEX audit_log_time ON audit_log (occurred_at, id);
CREATE INDEX audit_log_org_time ON audit_log (org_id, occurred_at);
CREATE INDEX audit_log_actor_time ON audit_log (actor_id, occurred_at);
