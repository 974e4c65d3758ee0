-- The outbox: events written in the transaction of the change they tell of, published
-- from here in order (at least once; consumers de-duplicate on the id).
CREATE TABLE events (
    seq          BIGSERIAL PRIMARY KEY,
    id           BIGINT NOT NULL UNIQUE,
    type         TEXT NOT NULL,
    org_id       BIGINT,
    actor_id     BIGINT,
    occurred_at  BIGINT NOT NULL,
    data         TEXT NOT NULL,
    published_at BIGINT
);
CREATE INDEX events_unpublished ON events (seq) WHERE published_at IS NULL;
CREATE INDEX events_occurred ON events (occurred_at);

-- Work one replica does at a time (the event relay): held until expires_at, renewed by
-- its holder, taken over by another once it has run out.
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
