-- PostgreSQL flavour: see 0001_init.sql.
-- Usage per key, UTC day and model, added to with every batch of usage records: budgets
-- with a period add up their spend from it instead of scanning usage_records. The indexes
-- on usage_records by key and by team go: each was written for every metered request, and
-- they were there only for those sums. (Summaries by user keep theirs.)

CREATE TABLE usage_daily (
    key_id            BIGINT NOT NULL,
    day               BIGINT NOT NULL, -- Unix milliseconds at 00:00 UTC
    model_id          BIGINT NOT NULL,
    user_id           BIGINT NOT NULL,
    team_id           BIGINT,
    requests          BIGINT NOT NULL,
    prompt_tokens     BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL,
    cost              BIGINT NOT NULL,
    PRIMARY KEY (key_id, day, model_id)
);
CREATE INDEX usage_daily_user ON usage_daily (user_id, day);
CREATE INDEX usage_daily_team ON usage_daily (team_id, day);

INSERT INTO usage_daily (key_id, day, model_id, user_id, team_id, requests, prompt_tokens, completion_tokens, cost)
SELECT key_id, created_at - created_at % 86400000, model_id, MAX(user_id), MAX(team_id), COUNT(*),
       SUM(prompt_tokens), SUM(completion_tokens), SUM(cost)
FROM usage_records
GROUP BY key_id, created_at - created_at % 86400000, model_id;

DROP INDEX usage_records_key;
DROP INDEX usage_records_team_time;
