-- Documents uploaded to the organization are time-stamped (RFC 3161) as they are stored.
ALTER TABLE organizations ADD COLUMN timestamp_uploads BOOLEAN NOT NULL DEFAULT FALSE;
