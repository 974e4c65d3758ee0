-- PostgreSQL flavour: see 0001_init.sql.
-- A model may be served by several deployments (an upstream server, the model name it
-- expects, its key, a share of the traffic and its own limits). Each model's upstream so
-- far becomes its first deployment; the deployment keeps the model's id, so its sealed key
-- (bound to the model) still opens.

CREATE TABLE model_deployments (
    id               BIGINT PRIMARY KEY,
    model_id         BIGINT NOT NULL REFERENCES models (id),
    upstream_url     TEXT NOT NULL,
    upstream_model   TEXT NOT NULL,
    upstream_api_key BYTEA,
    weight           BIGINT NOT NULL CHECK (weight BETWEEN 1 AND 1000),
    rpm_limit        BIGINT CHECK (rpm_limit > 0),
    tpm_limit        BIGINT CHECK (tpm_limit > 0),
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX model_deployments_model ON model_deployments (model_id);

INSERT INTO model_deployments (id, model_id, upstream_url, upstream_model, upstream_api_key, weight, created_at, updated_at)
    SELECT id, id, upstream_url, upstream_model, upstream_api_key, 1, created_at, updated_at
    FROM models WHERE upstream_url IS NOT NULL;

ALTER TABLE models DROP COLUMN upstream_url;
ALTER TABLE models DROP COLUMN upstream_model;
ALTER TABLE models DROP COLUMN upstream_api_key;
