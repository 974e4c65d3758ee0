-- Name search (a case-insensitive substring) through a trigram index instead of reading
-- every document. pg_trgm ships with PostgreSQL and is a trusted extension.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX documents_name_trgm ON documents USING gin (LOWER(name) gin_trgm_ops);
