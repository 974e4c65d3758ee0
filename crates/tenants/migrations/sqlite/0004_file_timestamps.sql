-- RFC 3161 time-stamp replies over a file's SHA-256, checked when received: the whole
-- TimeStampResp, and the time it attests (genTime, milliseconds).
ALTER TABLE files ADD COLUMN timestamp_reply BLOB;
ALTER TABLE files ADD COLUMN timestamped_at BIGINT;
