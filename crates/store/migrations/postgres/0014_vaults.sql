-- Authorization vaults, the grants that give users, teams and service clients a role on
-- one, service clients and their Ed25519 public keys, Purser's own signing keys for vault
-- tokens, the assertion ids (jti) already accepted, and vault refresh tokens.
CREATE TABLE vaults (
    id          BIGINT PRIMARY KEY,
    org_id      BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    description TEXT,
    -- pending, synced or failed: whether the policy engine has the vault's current state
    sync_status TEXT NOT NULL,
    sync_error  TEXT,
    synced_at   BIGINT,
    created_by  BIGINT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX vaults_org ON vaults (org_id, created_at, id);

CREATE TABLE service_clients (
    id          BIGINT PRIMARY KEY,
    org_id      BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    description TEXT,
    disabled    BOOLEAN NOT NULL,
    created_by  BIGINT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX service_clients_org ON service_clients (org_id, created_at, id);

-- user, team or client (grantee_kind) with a role on a vault.
CREATE TABLE vault_grants (
    vault_id     BIGINT NOT NULL REFERENCES vaults (id) ON DELETE CASCADE,
    grantee_kind TEXT NOT NULL,
    grantee_id   BIGINT NOT NULL,
    role         TEXT NOT NULL,
    granted_by   BIGINT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (vault_id, grantee_kind, grantee_id)
);
CREATE INDEX vault_grants_grantee ON vault_grants (grantee_kind, grantee_id);

CREATE TABLE client_certificates (
    id           BIGINT PRIMARY KEY,
    client_id    BIGINT NOT NULL REFERENCES service_clients (id) ON DELETE CASCADE,
    org_id       BIGINT NOT NULL,
    kid          TEXT NOT NULL UNIQUE,
    name         TEXT NOT NULL,
    -- The raw 32-byte Ed25519 public key. Private keys are never kept.
    public_key   BYTEA NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX client_certificates_client ON client_certificates (client_id, created_at, id);
CREATE INDEX client_certificates_org ON client_certificates (org_id);

-- Keys that sign vault tokens. The private key is sealed with the master key. A key signs
-- from activates_at until the next key activates, and is published in the JWKS from its
-- creation until the last token it signed has expired.
CREATE TABLE signing_keys (
    id           BIGINT PRIMARY KEY,
    kid          TEXT NOT NULL UNIQUE,
    public_key   BYTEA NOT NULL,
    private_key  BYTEA NOT NULL,
    created_at   BIGINT NOT NULL,
    activates_at BIGINT NOT NULL
);

-- Client assertion ids spent by a refused request, each until its assertion's expiry (those
-- that got a token are in vault_refresh_tokens): a second use of one before then is a replay.
CREATE TABLE assertion_ids (
    client_id  BIGINT NOT NULL,
    jti        TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, jti)
);
CREATE INDEX assertion_ids_expiry ON assertion_ids (expires_at);

-- Vault refresh tokens (stored as SHA-256 digests): single use, rotated within a family; a
-- used one presented again revokes its whole family. A client's first token of a family
-- names the assertion (jti) it was issued for: a second token for the same assertion
-- cannot be stored.
-- Issued tokens are recorded here (who, which vault, which role, when), not in the audit
-- log: clients fetch them every few minutes, as the gateway's requests are metered.
CREATE TABLE vault_refresh_tokens (
    id           BIGINT PRIMARY KEY,
    digest       BYTEA NOT NULL UNIQUE,
    family_id    BIGINT NOT NULL,
    org_id       BIGINT NOT NULL,
    vault_id     BIGINT NOT NULL,
    subject_kind TEXT NOT NULL,
    subject_id   BIGINT NOT NULL,
    role         TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    used_at      BIGINT,
    revoked_at   BIGINT,
    assertion_jti TEXT
);
-- Also finds a subject's tokens (its first two columns).
CREATE UNIQUE INDEX vault_refresh_tokens_assertion ON vault_refresh_tokens (subject_kind, subject_id, assertion_jti);
CREATE INDEX vault_refresh_tokens_family ON vault_refresh_tokens (family_id);
CREATE INDEX vault_refresh_tokens_vault ON vault_refresh_tokens (vault_id, expires_at);
CREATE INDEX vault_refresh_tokens_expiry ON vault_refresh_tokens (expires_at);
