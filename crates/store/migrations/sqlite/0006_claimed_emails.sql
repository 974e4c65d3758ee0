-- SQLite flavour: see 0001_init.sql.
-- An address belongs to one account once it is someone's login address or verified.
-- Until then several accounts may have asked to add it, so that asking tells nobody
-- whether the address is someone else's: only its owner, who gets the mail, can verify it.
DROP INDEX user_emails_email;
CREATE UNIQUE INDEX user_emails_claimed ON user_emails (email) WHERE is_primary = 1 OR verified_at IS NOT NULL;
CREATE UNIQUE INDEX user_emails_user_email ON user_emails (user_id, email);
CREATE INDEX user_emails_email ON user_emails (email);
